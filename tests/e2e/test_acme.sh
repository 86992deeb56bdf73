#!/usr/bin/env bash
# test_acme.sh: the host obtains its certificates itself, from a real ACME
# server (Debian's Pebble, validating for real: no PEBBLE_VA_ALWAYS_VALID),
# with pebble-challtestsrv as the DNS that Pebble and the host ask. Three
# domains get certificates once with TLS-ALPN-01 only and once with
# HTTP-01 only; each policy is fetched with curl verifying against
# Pebble's root; each certificate names its host and has the configured
# key type. A restart reuses the account and the certificates (no order,
# the same serial). A name that does not resolve places no order, says
# why on /status, and is ordered once it resolves. A directory with renewalInfo (tests/e2e/acme_stub.py in
# front of Pebble) has the window fetched, a time picked in it and kept in
# the state directory, and the renewal ordered with replaces; its
# rateLimited answer is waited out as its Retry-After says while the old
# certificate stays. With the CA unreachable the thread backs off, the
# certificates obtained before are served and /status says why. /metrics
# passes promtool. SIGTERM during the thread's
# work stops the host promptly with no temporary file left, also during a
# request the CA never answers (the stub's hang mode), and such an order
# cut short counts as no failure of the name. Loopback only.
#
# Run by ctest as: MTA_STS_HOST=<binary> SRCDIR=<repo> bash test_acme.sh
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

need_tools certtool:gnutls-bin curl:curl openssl:openssl python3:python3 \
    promtool:prometheus

T=$E2E_TMP
ISSUE_WAIT=90
make_ca "$T/ca" || { fail "make test CA"; e2e_finish; }
HTTPS_PORT=$(free_port)
HTTP_PORT=$(free_port)
if ! acme_start "$T/ca" "$HTTP_PORT" "$HTTPS_PORT"; then
    fail "Pebble and its DNS server start"
    e2e_finish
fi


# write_config STATE CHALLENGE KEY_TYPE DOMAIN...: $T/config.yaml.
write_config() {
    acme_host_config "$T/config.yaml" "$1" "$HTTPS_PORT" "$HTTP_PORT" "$2" "$3" \
        "${@:4}"
}
verified() { acme_verified "$1" "$HTTPS_PORT"; }
is_verified() { acme_is_verified "$1" "$HTTPS_PORT"; }
# serial_of FILE, names_of FILE, key_of FILE: the leaf's serial, SANs,
# public key algorithm.
serial_of() { openssl x509 -in "$1" -noout -serial; }
names_of() { openssl x509 -in "$1" -noout -ext subjectAltName | tail -n +2 | tr -d ' '; }
key_of() { openssl x509 -in "$1" -noout -text | awk -F': ' '/Public Key Algorithm/ { print $2; exit }'; }
orders() { acme_orders "$1" "$HTTP_PORT"; }

# run_issue LABEL STATE CHALLENGE KEY_TYPE KEYNAME DOMAIN...: three
# certificates ordered and served.
run_issue() {
    local label=$1 state=$2 chal=$3 kt=$4 keyname=$5
    shift 5
    local d
    for d in "$@"; do acme_dns_add "mta-sts.$d"; done
    write_config "$state" "$chal" "$kt" "$@"
    if ! host_start "$T/host-$label.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
        serve -c "$T/config.yaml"; then
        fail "$label: host starts"
        cat "$T/host-$label.log"
        return 1
    fi
    for d in "$@"; do
        check "$label: mta-sts.$d verifies against Pebble's root" \
            wait_until "$ISSUE_WAIT" is_verified "mta-sts.$d"
        local f=$state/acme/certs/mta-sts.$d.$keyname.pem
        check_eq "$label: its certificate names only mta-sts.$d" \
            "DNS:mta-sts.$d" "$(names_of "$f")"
        check_contains "$label: with the configured key type" \
            "$([ "$keyname" = rsa ] && echo rsaEncryption || echo id-ecPublicKey)" \
            "$(key_of "$f")"
        check_eq "$label: the file is mode 0600" 600 "$(stat -c %a "$f")"
    done
    check_eq "$label: three orders, all issued" 3 "$(orders issued)"
    check_eq "$label: none failed" 0 "$(orders failed)"
    check_file_contains "$label: the account was created" \
        "acme: account .* created at $ACME_DIRECTORY" "$T/host-$label.log"
    check_file_contains "$label: each issuance is logged with its name" \
        "acme: mta-sts.$1 \((ecdsa|rsa)\): certificate issued" \
        "$T/host-$label.log"
    if [ "$chal" = tls-alpn-01 ]; then
        check_file_contains "$label: the host answered TLS-ALPN-01" \
            "acme: tls-alpn-01 answered for mta-sts.$1" "$T/host-$label.log"
    else
        check_file_contains "$label: Pebble validated by HTTP-01" \
            "validate w/ HTTP: http://mta-sts.$1:$HTTP_PORT/" "$ACME_LOG_PEBBLE"
        check "$label: and never by TLS-ALPN-01" bash -c \
            '! grep -q "tls-alpn-01 answered" "$1"' _ "$T/host-$label.log"
    fi
    status_json >"$T/status-$label.json"
    check "$label: /status says the certificates come from ACME, with a next renewal" \
        python3 -c '
import json, sys, time
s = json.load(open(sys.argv[1]))
for d in s["domains"]:
    assert d["certificate_from"] == "acme", d
    a = d["acme"][0]
    # Pebble has no renewalInfo: renewal at a third of the lifetime left.
    assert time.time() < a["next_renewal"] < a["not_after"], a
    assert a["last_error"] is None and a["failures"] == 0, a
' "$T/status-$label.json"
}

# ---- 1. TLS-ALPN-01 only, ECDSA -----------------------------------------

S1=$T/state1
run_issue alpn "$S1" tls-alpn-01 ecdsa-p256 ecdsa \
    example.com example.net example.org
hurl "http://127.0.0.1:$HTTP_PORT/metrics" >"$T/metrics.txt"
if promtool check metrics <"$T/metrics.txt" >"$T/promtool.txt" 2>&1; then
    pass "promtool check metrics passes with the ACME metrics"
else
    fail "promtool check metrics passes ($(head -c 400 "$T/promtool.txt"))"
fi
check_contains "the next renewal is a metric per domain" \
    'mta_sts_acme_next_renewal_timestamp_seconds{domain="example.com"}' \
    "$(cat "$T/metrics.txt")"
check_eq "no challenge failed" 0 \
    "$(file_metric 'mta_sts_acme_challenge_failures_total{type="tls-alpn-01"}' "$T/metrics.txt")"
check_eq "the account key is mode 0600" 600 "$(stat -c %a "$S1/acme/account.key")"
SERIAL=$(serial_of "$S1/acme/certs/mta-sts.example.com.ecdsa.pem")
host_stop "$HOST_PID"
check_eq "SIGTERM stops the host cleanly" 0 "$HOST_RC"

# ---- 2. restart: account and certificates reused ------------------------

if host_start "$T/host-restart.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/config.yaml"; then
    check "after the restart the account is found, not made again" \
        wait_log "$T/host-restart.log" "acme: account .* found at" 20
    check "the policy verifies at once" is_verified mta-sts.example.net
    # The schedule has been looked at once the next renewal is a metric.
    has_next() { metric 'mta_sts_acme_next_renewal_timestamp_seconds{domain="example.org"}' | grep -q .; }
    check "the restarted host has its schedule" wait_until 20 has_next
    check_eq "no new order is placed" 0 "$(orders issued)"
    check_eq "nor failed" 0 "$(orders failed)"
    check_eq "the certificate is unchanged (same serial)" "$SERIAL" \
        "$(serial_of "$S1/acme/certs/mta-sts.example.com.ecdsa.pem")"
    check "no new account key" bash -c '! grep -q "new account key" "$1"' _ \
        "$T/host-restart.log"
    host_stop "$HOST_PID"
else
    fail "host restarts"
    cat "$T/host-restart.log"
fi

# ---- 2b. renewal information (a stub with renewalInfo before Pebble) ---

# The stub's directory sends accounts and nonces to Pebble, and answers
# renewalInfo with a window that has begun, and newOrder with rateLimited
# and Retry-After: 120.
acme_stub_start ratelimit "$T/stub.log" || fail "the stub starts"
sed -i "s|directory: .*|directory: $ACME_STUB|" "$T/config.yaml"
if host_start "$T/host-ari.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/config.yaml"; then
    check "the directory's renewalInfo is used" \
        wait_log "$T/host-ari.log" "renewal information: yes" 20
    check "the window is fetched and a renewal time picked in it" \
        wait_log "$T/host-ari.log" \
        "mta-sts.example.com \(ecdsa\): renewal window 1767326400..1767412800, renewing at" 20
    check "the renewal is ordered with replaces" \
        wait_log "$T/host-ari.log" "mta-sts.example.com \(ecdsa\): ordering, replacing " 20
    check "the stub got replaces in newOrder" \
        wait_until 10 grep -q '"replaces"' "$T/stub.log"
    rate_limited() { [ "$(orders failed)" = 3 ]; }
    check "rateLimited: each of the three orders failed" wait_until 20 rate_limited
    check "the next try waits for the CA's Retry-After" \
        grep -q "rateLimited: too many new orders (stub) (retry after 120 s); failure 1 in a row, next try in 120 s" \
        "$T/host-ari.log"
    status_json >"$T/status-ari.json"
    check "/status shows rateLimited, the window, and the next try after Retry-After" \
        python3 -c '
import json, sys, time
s = json.load(open(sys.argv[1]))
for d in s["domains"]:
    a = d["acme"][0]
    assert "rateLimited" in a["last_error"], a
    assert a["renewal_window"] == [1767326400, 1767412800], a
    assert a["next_renewal"] >= time.time() + 60, a
    assert d["certificate_from"] == "acme", d
' "$T/status-ari.json"
    check_eq "the old certificate is still served (same serial)" "$SERIAL" \
        "$(serial_of "$S1/acme/certs/mta-sts.example.com.ecdsa.pem")"
    check "and verifies" is_verified mta-sts.example.com
    host_stop "$HOST_PID"
    check "the window is kept in the state directory, the renewal time inside it" \
        python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["window_start"] == 1767326400 and r["window_end"] == 1767412800, r
assert 1767326400 <= r["renew_at"] < 1767412800, r
' "$S1/acme/schedule/mta-sts.example.com.ecdsa.json"
else
    fail "host starts against the stub"
    cat "$T/host-ari.log"
fi

# ---- 2c. SIGTERM while the CA does not answer an order -----------------

# The stub records newOrder and never answers it. SIGTERM must cut the
# request in flight (not wait out its 30 s timeout), and an order cut
# short by the shutdown is no failure of the name: none counted, none
# kept in the state directory (no back-off at the next start).
acme_stub_start hang "$T/stub-hang.log" || fail "the hanging stub starts"
sed -i "s|directory: .*|directory: $ACME_STUB|" "$T/config.yaml"
rm -f "$S1/acme/schedule/"*.json
if host_start "$T/host-hang.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/config.yaml"; then
    check "the order is sent, and not answered" \
        wait_until 30 grep -qs newOrder "$T/stub-hang.log"
    host_stop "$HOST_PID"
    check_eq "SIGTERM during the unanswered order stops the host cleanly" 0 \
        "$HOST_RC"
    check "the request in flight was cut by the shutdown" grep -Eq \
        "mta-sts.example.com \(ecdsa\): order stopped by the shutdown: .*stopped \(shutting down\)" \
        "$T/host-hang.log"
    check "no failure was logged for it" bash -c \
        '! grep -q "failure 1 in a row" "$1"' _ "$T/host-hang.log"
    check "no failure is kept in the state directory" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r.get("failures", 0) == 0 and not r.get("failed_at"), r
' "$S1/acme/schedule/mta-sts.example.com.ecdsa.json"
else
    fail "host starts against the hanging stub"
    cat "$T/host-hang.log"
fi
sed -i "s|directory: .*|directory: $ACME_DIRECTORY|" "$T/config.yaml"

# ---- 3. HTTP-01 only, RSA; a name that does not resolve ----------------

S2=$T/state2
run_issue http "$S2" http-01 rsa-2048 rsa example.de example.fr example.it
# Another domain, not in DNS: it is served on the development pair's
# terms but gets no order. Added to the config by a restart.
write_config "$S2" http-01 rsa-2048 example.de example.fr example.it example.nl
host_stop "$HOST_PID"
if host_start "$T/host-nodns.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/config.yaml"; then
    check "a name that does not resolve is said to" \
        wait_log "$T/host-nodns.log" \
        "mta-sts.example.nl does not resolve; point it at this host" 20
    check_eq "and no order is placed for it" 0 "$(orders issued)"
    check_eq "nor counted failed" 0 "$(orders failed)"
    check "Pebble never heard of it" bash -c \
        '! grep -q "example.nl" "$1"' _ "$ACME_LOG_PEBBLE"
    status_json >"$T/status-nodns.json"
    check "/status shows the reason for that domain" python3 -c '
import json, sys, time
s = json.load(open(sys.argv[1]))
d = [d for d in s["domains"] if d["domain"] == "example.nl"][0]
a = d["acme"][0]
assert "does not resolve" in a["last_error"], a
assert a["failures"] == 0, a  # the CA was not asked: no back-off there
assert a["next_renewal"] <= time.time() + 60, a
' "$T/status-nodns.json"
    check "the reason is kept in the state directory" \
        grep -q '"last_error": "mta-sts.example.nl does not resolve' \
        "$S2/acme/schedule/mta-sts.example.nl.rsa.json"
    # The operator points the name at the host: the next look (a minute
    # after the first) orders it.
    acme_dns_add mta-sts.example.nl
    check "once it resolves, it is ordered and verifies" \
        wait_until 100 is_verified mta-sts.example.nl
    check_eq "with one order" 1 "$(orders issued)"
    host_stop "$HOST_PID"
    check_eq "SIGTERM stops it cleanly" 0 "$HOST_RC"
else
    fail "host restarts with a name that does not resolve"
    cat "$T/host-nodns.log"
fi
# ---- 4. the CA unreachable ----------------------------------------------

acme_stop
write_config "$S1" tls-alpn-01 ecdsa-p256 example.com example.net example.org
if host_start "$T/host-down.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/config.yaml"; then
    check "with the CA down the thread backs off, saying why" \
        wait_log "$T/host-down.log" "acme: not ready to order: directory: GET .*Couldn't connect to server; trying again in 60 s" 20
    check "the certificate obtained before is served and verifies" \
        is_verified mta-sts.example.org
    has_reason() { status_json | grep -q '"last_error":"directory: GET'; }
    check "/status shows the reason per domain" wait_until 10 has_reason
    host_stop "$HOST_PID"
    check_eq "SIGTERM during the back-off stops it cleanly" 0 "$HOST_RC"
else
    fail "host starts with the CA down"
    cat "$T/host-down.log"
fi

check "no temporary file is left in the state directory" bash -c \
    '[ -z "$(find "$1" -name ".*" -type f)" ]' _ "$S2/acme"

e2e_finish
