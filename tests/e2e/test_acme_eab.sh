#!/usr/bin/env bash
# test_acme_eab.sh: External Account Binding through the host, against
# Debian's Pebble with externalAccountBindingRequired (lib_acme.sh's
# ACME_EAB) and real validation. Without acme.eab the host says on /status
# and in its log that the CA requires a binding and which keys to set, and
# backs off (one attempt in the first seconds, the next a minute later:
# no tight loop), placing no order. With a kid the CA does not know, the
# CA's refusal reaches /status. With the right acme.eab the account is
# created with the binding and the certificate is issued and verifies
# against Pebble's root. Loopback only.
#
# Run by ctest as: MTA_STS_HOST=<binary> SRCDIR=<repo> bash test_acme_eab.sh
# The probes are called through wait_until (by name).
# shellcheck disable=SC2317
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/lib_acme.sh disable=SC1091
. "$HERE/lib_acme.sh"
e2e_init
umask 022

need_tools curl:curl python3:python3

T=$E2E_TMP
ISSUE_WAIT=90
KID=kid-1
HMAC=zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W
make_ca "$T/ca" || { fail "make test CA"; e2e_finish; }
HTTPS_PORT=$(free_port)
HTTP_PORT=$(free_port)
if ! ACME_EAB="$KID:$HMAC" acme_start "$T/ca" "$HTTP_PORT" "$HTTPS_PORT"; then
    fail "Pebble (external account binding required) starts"
    e2e_finish
fi
acme_dns_add mta-sts.example.com

# config FILE [EAB_LINE]: the host's config, with an acme.eab line.
config() {
    acme_host_config "$1" "$T/state" "$HTTPS_PORT" "$HTTP_PORT" \
        tls-alpn-01 ecdsa-p256 example.com
    [ -z "${2:-}" ] || printf '  %s\n' "$2" >>"$1"
}
# last_error_has TEXT: /status shows TEXT as the domain's last error.
last_error_has() {
    status_json | python3 -c '
import json, sys
s = json.load(sys.stdin)
a = s["domains"][0]["acme"][0]
assert sys.argv[1] in a["last_error"], a
assert a["not_after"] is None, a
' "$1"
}
orders() { acme_orders "$1" "$HTTP_PORT"; }

# ---- 1. no acme.eab: a clear error, backed off ------------------------

config "$T/none.yaml"
host_start "$T/none.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/none.yaml" || { fail "the host starts"; e2e_finish; }
WANT="requires an external account binding: set acme.eab.kid and acme.eab.hmac_key"
check "/status says the CA requires a binding and what to set" \
    wait_until 20 last_error_has "$WANT"
check_file_contains "the log says so, with the back-off" \
    "acme: not ready to order: newAccount: the CA at $ACME_DIRECTORY $WANT; trying again in 60 s" \
    "$T/none.log"
sleep 5
check_eq "no tight loop: one attempt in the first seconds" 1 \
    "$(grep -c 'not ready to order' "$T/none.log")"
check_eq "no order placed" 0 "$(($(orders issued) + $(orders failed)))"
host_stop "$HOST_PID"

# ---- 2. a kid the CA does not know: the CA's answer on /status ---------

config "$T/bad.yaml" "eab: {kid: kid-unknown, hmac_key: $HMAC}"
host_start "$T/bad.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/bad.yaml" || { fail "the host (unknown kid) starts"; e2e_finish; }
check "/status shows the CA's refusal of the account" \
    wait_until 20 last_error_has "newAccount"
check_file_contains "the log names the CA's problem" \
    "acme: not ready to order: newAccount.*HTTP [0-9]+ urn:ietf:params:acme:error:" \
    "$T/bad.log"
host_stop "$HOST_PID"

# ---- 3. the right acme.eab: account created, certificate issued --------

config "$T/eab.yaml" "eab: {kid: $KID, hmac_key: $HMAC}"
host_start "$T/eab.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/eab.yaml" || { fail "the host (EAB) starts"; e2e_finish; }
check "the account is created with the binding" \
    wait_log "$T/eab.log" "acme: account https://[^ ]+ created at $ACME_DIRECTORY" 20
check "the certificate is issued and verifies against Pebble's root" \
    wait_until "$ISSUE_WAIT" acme_is_verified mta-sts.example.com "$HTTPS_PORT"
check_eq "one order, issued" 1 "$(orders issued)"
ok_status() {
    status_json | python3 -c '
import json, sys
a = json.load(sys.stdin)["domains"][0]["acme"][0]
assert a["last_error"] in ("", None) and a["not_after"], a
'
}
check "/status: no error left, the certificate's expiry shown" ok_status
host_stop "$HOST_PID"
check_eq "SIGTERM stops it cleanly" 0 "$HOST_RC"

e2e_finish
