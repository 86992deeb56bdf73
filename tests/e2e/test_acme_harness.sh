#!/usr/bin/env bash
# test_acme_harness.sh: the Pebble harness (lib_acme.sh) that the ACME
# end-to-end tests stand on, proven on its own: Pebble's directory is
# fetched with full verification against the test CA (and refused without
# it), a nonce comes from newNonce, Pebble's issuing root is a CA
# certificate, pebble-challtestsrv resolves exactly the mta-sts test names
# it was given to the host's address (and no others), External Account
# Binding is announced when asked for, and the host accepts a config that
# points at Pebble with these values (validate -c, then a start with ACME
# on: tls-alpn-01 offered on its HTTPS listener, HTTP-01 routed on its
# plain one). Everything stays on loopback.
#
# Run by ctest as: MTA_STS_HOST=<binary> SRCDIR=<repo> bash test_acme_harness.sh
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/lib_acme.sh disable=SC1091
. "$HERE/lib_acme.sh"
e2e_init
umask 022

need_tools certtool:gnutls-bin curl:curl openssl:openssl python3:python3 \
    gnutls-cli:gnutls-bin

T=$E2E_TMP
make_ca "$T/ca" || { fail "make test CA"; e2e_finish; }
HTTPS_PORT=$(free_port)
HTTP_PORT=$(free_port)

if ! acme_start "$T/ca" "$HTTP_PORT" "$HTTPS_PORT"; then
    fail "Pebble and its DNS server start"
    e2e_finish
fi
pass "Pebble and its DNS server start"

# ---- Pebble's directory, with verification -------------------------------

hurl --cacert "$ACME_CA_FILE" "$ACME_DIRECTORY" >"$T/dir.json"
check "the directory names newNonce, newAccount and newOrder" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert all(d[k].startswith("https://localhost:") for k in ("newNonce", "newAccount", "newOrder")), d
assert d["meta"]["externalAccountRequired"] is False, d
' "$T/dir.json"
check "without the test CA the directory is refused (verification is real)" \
    bash -c '! curl -s --max-time 10 --noproxy "*" -o /dev/null "$1"' _ \
    "$ACME_DIRECTORY"
NEW_NONCE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["newNonce"])' "$T/dir.json")
check "newNonce gives a Replay-Nonce" bash -c \
    'curl -s --max-time 10 --noproxy "*" --cacert "$1" -I "$2" | grep -qi "^replay-nonce: [A-Za-z0-9_-]\{16,\}"' \
    _ "$ACME_CA_FILE" "$NEW_NONCE"
check "Pebble's issuing root is a CA certificate" bash -c \
    'openssl x509 -in "$1" -noout -subject -ext basicConstraints | grep -q "CA:TRUE"' \
    _ "$ACME_ROOT"
check_contains "and it is Pebble's" "Pebble Root CA" \
    "$(openssl x509 -in "$ACME_ROOT" -noout -subject)"

# ---- DNS: only the names given ------------------------------------------

check_eq "an mta-sts name given to no one does not resolve" "" \
    "$(acme_resolve mta-sts.example.com)"
acme_dns_add mta-sts.example.com
acme_dns_add mta-sts.example.net 127.0.0.1
check_eq "mta-sts.example.com resolves to the host's address" 127.0.0.1 \
    "$(acme_resolve mta-sts.example.com)"
check_eq "mta-sts.example.net too" 127.0.0.1 "$(acme_resolve mta-sts.example.net)"
check_eq "other names still do not" "" "$(acme_resolve mta-sts.example.org)"
acme_dns_del mta-sts.example.net
check_eq "a name taken away no longer resolves" "" \
    "$(acme_resolve mta-sts.example.net)"
check_eq "the other stays" 127.0.0.1 "$(acme_resolve mta-sts.example.com)"

# ---- the host with a config pointing at Pebble ---------------------------

mkdir -p "$T/policy" "$T/certs" "$T/state"
printf 'version: STSv1\nmode: enforce\nmx: mx1.example.com\nmax_age: 604800\n' \
    >"$T/policy/mta-sts.txt"
cat >"$T/config.yaml" <<YAML
domains: [example.com]
policy_dir: $T/policy
cert_dir: $T/certs
state_dir: $T/state
listen: {https: "127.0.0.1:$HTTPS_PORT", http: "127.0.0.1:$HTTP_PORT"}
tlsrpt: {receive: false}
acme:
  directory: $ACME_DIRECTORY
  email: postmaster@example.com
  agree_tos: true
  challenges: [tls-alpn-01, http-01]
  ca_file: $ACME_CA_FILE
YAML
check "validate -c (policies only) accepts the harness's ACME settings" \
    "$MTA_STS_HOST" validate --no-certs -c "$T/config.yaml"
if host_start "$T/host.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/config.yaml"; then
    # With nothing pending, acme-tls/1 is negotiated and then refused:
    # a connection for it never gets the policy certificate.
    timeout 10 gnutls-cli --insecure --alpn=acme-tls/1 \
        --sni-hostname=mta-sts.example.com -p "$HTTPS_PORT" 127.0.0.1 \
        </dev/null >"$T/alpn.out" 2>&1
    check "acme-tls/1 with no pending challenge is refused" \
        bash -c '! grep -q "Handshake was completed" "$1"' _ "$T/alpn.out"
    check_file_contains "and said so" \
        "acme: tls-alpn-01 from 127.0.0.1 for mta-sts.example.com: no challenge is pending" \
        "$T/host.log"
    timeout 10 gnutls-cli --insecure --alpn=http/1.1 \
        --sni-hostname=mta-sts.example.com -p "$HTTPS_PORT" 127.0.0.1 \
        </dev/null >"$T/h11.out" 2>&1
    check_file_contains "http/1.1 still completes" "Handshake was completed" \
        "$T/h11.out"
    check_eq "an unknown HTTP-01 token is 404, not a redirect" 404 \
        "$(hurl -o /dev/null -w '%{http_code}' -H 'Host: mta-sts.example.com' \
            "http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/abc")"
    check_eq "other plain-HTTP paths still redirect" 301 \
        "$(hurl -o /dev/null -w '%{http_code}' -H 'Host: mta-sts.example.com' \
            "http://127.0.0.1:$HTTP_PORT/x")"
    host_stop "$HOST_PID"
    check_eq "the host stops cleanly" 0 "$HOST_RC"
else
    fail "the host starts with ACME settings pointing at Pebble"
    cat "$T/host.log"
fi

# ---- External Account Binding --------------------------------------------

acme_stop
ACME_EAB="kid-1:zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W" \
    acme_start "$T/ca" "$HTTP_PORT" "$HTTPS_PORT" ||
    fail "Pebble starts with External Account Binding"
check "with ACME_EAB the directory requires External Account Binding" \
    bash -c 'curl -s --max-time 10 --noproxy "*" --cacert "$1" "$2" |
        python3 -c "import json,sys; assert json.load(sys.stdin)[\"meta\"][\"externalAccountRequired\"] is True"' \
    _ "$ACME_CA_FILE" "$ACME_DIRECTORY"
acme_stop

e2e_finish
