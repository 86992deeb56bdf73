#!/usr/bin/env bash
# test_acme_ari.sh: renewal by ACME Renewal Information (RFC 9773) end to
# end, with the real host and real Pebble validation (no
# PEBBLE_VA_ALWAYS_VALID). Pebble 2.4 has no renewalInfo, so
# tests/e2e/acme_stub.py in "ari" mode serves a directory whose renewalInfo
# is its own (a window 20 s after the first question, 20 s wide; a day
# later for any other certificate) and everything else Pebble's. The
# first certificate is issued, its window fetched; the renewal is ordered
# inside the window, not before, with replaces naming the first
# certificate (the id the host logs, compared with one computed with
# openssl); the new certificate is served and verifies against Pebble's
# root, and a bounded curl loop sees no failed request during the swap.
# Then the stub in "replaced" mode answers a renewal with alreadyReplaced
# (RFC 9773 §5): the host orders again without replaces, and the working
# certificate stays. Loopback only.
#
# Run by ctest as: MTA_STS_HOST=<binary> SRCDIR=<repo> bash test_acme_ari.sh
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

need_tools curl:curl openssl:openssl python3:python3 xxd:xxd

T=$E2E_TMP
ISSUE_WAIT=90
make_ca "$T/ca" || { fail "make test CA"; e2e_finish; }
HTTPS_PORT=$(free_port)
HTTP_PORT=$(free_port)
if ! acme_start "$T/ca" "$HTTP_PORT" "$HTTPS_PORT"; then
    fail "Pebble and its DNS server start"
    e2e_finish
fi
acme_dns_add mta-sts.example.com
acme_stub_start ari "$T/stub.log" || { fail "the stub (ari) starts"; e2e_finish; }

S=$T/state
F=$S/acme/certs/mta-sts.example.com.ecdsa.pem
SCHED=$S/acme/schedule/mta-sts.example.com.ecdsa.json
acme_host_config "$T/config.yaml" "$S" "$HTTPS_PORT" "$HTTP_PORT" \
    tls-alpn-01 ecdsa-p256 example.com
sed -i "s|directory: .*|directory: $ACME_STUB|" "$T/config.yaml"

verified() { acme_verified mta-sts.example.com "$HTTPS_PORT"; }
is_verified() { acme_is_verified mta-sts.example.com "$HTTPS_PORT"; }
serial_of() { openssl x509 -in "$1" -noout -serial; }
# served_serial: the serial of the leaf the host serves, verified against
# Pebble's root (empty when it does not verify).
served_serial() {
    echo | timeout 10 openssl s_client -connect "127.0.0.1:$HTTPS_PORT" \
        -servername mta-sts.example.com -CAfile "$ACME_ROOT" \
        -verify_return_error 2>/dev/null | openssl x509 -noout -serial
}
# log_time PATTERN: the time (Unix seconds) of the first host log line
# matching PATTERN.
log_time() {
    local ts
    ts=$(grep -m1 -E "$1" "$T/host.log" | cut -d' ' -f1)
    [ -n "$ts" ] && date -u -d "$ts" +%s
}
# stub_entry LOG N KEY: field KEY of the Nth renewalInfo line of a stub log.
stub_entry() {
    grep '"renewalInfo"' "$1" | sed -n "$2p" | python3 -c '
import json, sys
print(json.loads(sys.stdin.read())[sys.argv[1]])' "$3"
}
orders() { acme_orders "$1" "$HTTP_PORT"; }

# ---- 1. first certificate, its window, the renewal inside it -----------

host_start "$T/host.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/config.yaml" || { fail "the host starts"; e2e_finish; }
check "the directory's renewalInfo is used" \
    wait_log "$T/host.log" "renewal information: yes" 20
check "the first certificate is issued and verifies" \
    wait_until "$ISSUE_WAIT" is_verified
cp "$F" "$T/first.pem"
FIRST=$(serial_of "$T/first.pem")
FIRST_ID=$(acme_cert_id "$T/first.pem")
check "its window is fetched" wait_log "$T/host.log" \
    "mta-sts.example.com \(ecdsa\): renewal window [0-9]+\.\.[0-9]+, renewing at" 20
check_eq "the stub was asked about the first certificate (id from openssl)" \
    "$FIRST_ID" "$(stub_entry "$T/stub.log" 1 renewalInfo)"
line=$(grep -m1 -oE 'renewal window [0-9]+\.\.[0-9]+, renewing at [0-9]+' \
    "$T/host.log")
read -r W_START W_END R_AT < <(echo "$line" |
    sed -E 's/renewal window ([0-9]+)\.\.([0-9]+), renewing at ([0-9]+)/\1 \2 \3/')
check_eq "the window the host read is the stub's" \
    "$(date -u -d "$(stub_entry "$T/stub.log" 1 start)" +%s) $(date -u -d "$(stub_entry "$T/stub.log" 1 end)" +%s)" \
    "$W_START $W_END"
check "the renewal time is picked inside it" \
    test "$W_START" -le "$R_AT" -a "$R_AT" -lt "$W_END"
check "the window has not begun yet when it is read" \
    test "$(log_time 'renewal window')" -lt "$W_START"

# Every response verified while the renewal happens; the loop is bounded
# (the window ends 40 s after the first question) and ends once the new
# serial is served.
bad=0 n=0 now_serial=
for ((i = 0; i < 240; i++)); do
    [ "$(verified)" = 200 ] || bad=$((bad + 1))
    n=$((n + 1))
    now_serial=$(served_serial)
    [ -n "$now_serial" ] && [ "$now_serial" != "$FIRST" ] && break
    sleep 0.25
done
check "the renewed certificate is served, verified against Pebble's root" \
    test -n "$now_serial" -a "$now_serial" != "$FIRST"
check_eq "... and it is the one in the state directory" \
    "$(serial_of "$F")" "$now_serial"
check_eq "no request failed during the swap ($n made)" 0 "$bad"
check_file_contains "the renewal is ordered with replaces naming the first certificate" \
    "mta-sts.example.com \(ecdsa\): ordering, replacing $FIRST_ID\$" "$T/host.log"
ORDER_AT=$(log_time "ordering, replacing $FIRST_ID")
check "... not before the window starts ($ORDER_AT >= $W_START)" \
    test -n "$ORDER_AT" -a "$ORDER_AT" -ge "$W_START"
check "... and inside it ($ORDER_AT < $W_END)" test "$ORDER_AT" -lt "$W_END"
NEW_ID=$(acme_cert_id "$F")
second_asked() { [ "$(grep -c '"renewalInfo"' "$T/stub.log")" -ge 2 ]; }
check "the new certificate's window is asked for" wait_until 20 second_asked
check_eq "... by its own id" "$NEW_ID" "$(stub_entry "$T/stub.log" 2 renewalInfo)"
check_eq "two orders, both issued" 2 "$(orders issued)"
check_eq "none failed" 0 "$(orders failed)"
host_stop "$HOST_PID"

# ---- 2. alreadyReplaced: the renewal ordered again without replaces ----

# A window that has begun, from a stub that says the certificate was
# replaced already. The schedule is removed, so that the host asks about
# the window at once (it would otherwise wait for the Retry-After).
acme_stub_start replaced "$T/stub2.log" ||
    { fail "the stub (replaced) starts"; e2e_finish; }
rm -f "$SCHED"
sed -i "s|directory: .*|directory: $ACME_STUB|" "$T/config.yaml"
host_start "$T/host2.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/config.yaml" || { fail "the host restarts"; e2e_finish; }
check "the renewal is ordered with replaces" wait_log "$T/host2.log" \
    "mta-sts.example.com \(ecdsa\): ordering, replacing $NEW_ID\$" 20
check "alreadyReplaced: ordered again without replaces" wait_log "$T/host2.log" \
    "the CA says $NEW_ID was replaced already; ordering without replaces" 20
check "the second order fails as the stub says (rateLimited)" wait_log \
    "$T/host2.log" "rateLimited: too many new orders \(stub\)" 20
check "the stub got replaces, then an order without it" python3 -c '
import json, sys
o = [json.loads(l)["newOrder"] for l in open(sys.argv[1]) if "newOrder" in l]
assert len(o) == 2, o
assert o[0]["replaces"] == sys.argv[2], o
assert "replaces" not in o[1], o
assert o[1]["identifiers"] == o[0]["identifiers"], o
' "$T/stub2.log" "$NEW_ID"
check_eq "the working certificate is still served" "$now_serial" "$(served_serial)"
check "and verifies" is_verified
host_stop "$HOST_PID"
check_eq "SIGTERM stops it cleanly" 0 "$HOST_RC"

e2e_finish
