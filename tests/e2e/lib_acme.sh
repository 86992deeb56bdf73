# shellcheck shell=bash
# lib_acme.sh: the ACME test harness for the end-to-end tests (sourced after
# lib.sh, not run): Debian's Pebble (the ACME test CA) and
# pebble-challtestsrv (only as Pebble's DNS server) on loopback, talking to
# nothing else. It installs nothing (`.ci/deps.sh --test` installs pebble);
# when a program is missing the test fails with that reason.
#
# Pebble's own HTTPS listener gets a certificate for "localhost" made by the
# test's CA, so clients verify it fully (curl --cacert, the host's
# acme.ca_file). Pebble validates HTTP-01 on 127.0.0.1:HTTP_PORT and
# TLS-ALPN-01 on 127.0.0.1:TLS_PORT (the host's listeners) after resolving
# the name through pebble-challtestsrv, which answers only the names a test
# adds (no default address), so that a name that "does not resolve" can be
# tested too. Pebble's validation sleeps are off (PEBBLE_VA_NOSLEEP=1) and
# it rejects no good nonces unless PEBBLE_WFE_NONCEREJECT says otherwise;
# its answers ask for a second of Retry-After, so polls stay short. Other
# PEBBLE_* variables of the environment (PEBBLE_VA_ALWAYS_VALID, for a test
# of the client alone) reach it.
#
# Functions:
#
#   acme_start CADIR HTTP_PORT TLS_PORT
#                     start both programs (killed at exit); wait (bounded)
#                     until the directory answers with verification and the
#                     DNS server answers. With ACME_EAB="KID:HMAC" (HMAC
#                     base64url) Pebble requires External Account Binding
#                     with that key. ACME_VALIDITY=SECONDS sets the
#                     lifetime of the certificates Pebble issues (default
#                     Pebble's, five years). Returns 1 (with the logs printed) when
#                     either does not come up.
#   acme_stop         stop both (SIGTERM, bounded).
#   acme_dns_add NAME [ADDR]
#                     answer A queries for NAME with ADDR (default
#                     127.0.0.1).
#   acme_dns_del NAME stop answering A queries for NAME.
#   acme_resolve NAME print the A addresses the DNS server gives for NAME,
#                     one a line (nothing when it does not resolve).
#   acme_host_config FILE STATE HTTPS_PORT HTTP_PORT CHALLENGES KEY_TYPE DOMAIN...
#                     write FILE, the config of a host that obtains its
#                     certificates from this Pebble (CHALLENGES e.g.
#                     "tls-alpn-01" or "http-01, tls-alpn-01"), with
#                     $E2E_TMP/policy (one default policy, made when
#                     missing) and an empty $E2E_TMP/certs.
#   acme_config_section CHALLENGES KEY_TYPE
#                     print the acme: section of such a config (the end of
#                     acme_host_config's file; for a config of one's own).
#   acme_verified HOST PORT
#                     the HTTP status of HOST's policy fetched from
#                     127.0.0.1:PORT with verification against ACME_ROOT;
#                     acme_is_verified HOST PORT: whether it is 200.
#   acme_orders RESULT PORT
#                     the host's mta_sts_acme_orders_total{result=RESULT}
#                     from its plain-HTTP listener at PORT.
#   acme_cert_id FILE the RFC 9773 identifier of the (first) certificate in
#                     FILE, computed with openssl, independently of the host:
#                     base64url(AKI keyIdentifier) "." base64url(serial as
#                     DER content octets).
#   acme_stub_start MODE LOG
#                     start tests/e2e/acme_stub.py (MODE: ratelimit, ari,
#                     replaced) in front of this Pebble, logging what it is
#                     asked to LOG; set ACME_STUB (its directory URL).
#                     Returns 1 when it does not answer.
#
# Variables set by acme_start: ACME_DIRECTORY (the directory URL),
# ACME_CA_FILE (the CA that signed Pebble's listener: acme.ca_file),
# ACME_ROOT (a file: Pebble's issuing root, fetched from its management
# port /roots/0, what a client of the issued certificates trusts),
# ACME_DNS (ADDR:PORT of the DNS server), ACME_MGMT (Pebble's management
# URL), ACME_LOG_PEBBLE,
# ACME_LOG_DNS (their logs), ACME_PEBBLE_PID, ACME_DNS_PID.

ACME_DIRECTORY=
ACME_STUB=
ACME_CA_FILE=
ACME_ROOT=
ACME_DNS=
ACME_MGMT=
ACME_LOG_PEBBLE=
ACME_LOG_DNS=
ACME_PEBBLE_PID=
ACME_DNS_PID=
_ACME_DNS_MGMT=

_acme_dns_answers() {
    drill -p "${ACME_DNS##*:}" "@${ACME_DNS%:*}" acme-harness.invalid A \
        >/dev/null 2>&1
}

_acme_directory_ok() {
    hurl --cacert "$ACME_CA_FILE" "$ACME_DIRECTORY" 2>/dev/null |
        grep -q '"newOrder"'
}

acme_start() {
    local cadir=$1 http_port=$2 tls_port=$3 dir=$E2E_TMP/acme tool
    for tool in pebble pebble-challtestsrv drill; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            fail "$tool is installed (run .ci/deps.sh --test)"
            return 1
        fi
    done
    mkdir -p "$dir" || return 1
    make_cert "$cadir" "$dir/listener" ecdsa localhost || {
        fail "make the certificate of Pebble's listener"
        return 1
    }
    local port mgmt dns dns_mgmt eab=""
    port=$(free_port) && mgmt=$(free_port) && dns=$(free_port) &&
        dns_mgmt=$(free_port) || return 1
    if [ -n "${ACME_EAB:-}" ]; then
        eab=$(printf ', "externalAccountMACKeys": {"%s": "%s"}' \
            "${ACME_EAB%%:*}" "${ACME_EAB#*:}")
    fi
    cat >"$dir/pebble.json" <<JSON
{"pebble": {
  "listenAddress": "127.0.0.1:$port",
  "managementListenAddress": "127.0.0.1:$mgmt",
  "certificate": "$dir/listener.crt",
  "privateKey": "$dir/listener.key",
  "httpPort": $http_port,
  "tlsPort": $tls_port,
  "ocspResponderURL": "",
  "certificateValidityPeriod": ${ACME_VALIDITY:-157766400},
  "retryAfter": {"authz": 1, "order": 1},
  "externalAccountBindingRequired": $([ -n "$eab" ] && echo true || echo false)$eab
}}
JSON
    ACME_CA_FILE=$cadir/ca.pem
    ACME_DIRECTORY=https://localhost:$port/dir
    ACME_DNS=127.0.0.1:$dns
    # shellcheck disable=SC2034 # for the tests that source this
    ACME_MGMT=https://localhost:$mgmt
    _ACME_DNS_MGMT=http://127.0.0.1:$dns_mgmt
    ACME_LOG_DNS=$dir/challtestsrv.log
    ACME_LOG_PEBBLE=$dir/pebble.log
    ACME_ROOT=$dir/root.pem
    # Only the DNS server of pebble-challtestsrv: the host under test
    # answers the challenges itself.
    pebble-challtestsrv -defaultIPv4 "" -defaultIPv6 "" \
        -dns01 "$ACME_DNS" -http01 "" -https01 "" -tlsalpn01 "" \
        -management "127.0.0.1:$dns_mgmt" >"$ACME_LOG_DNS" 2>&1 &
    ACME_DNS_PID=$!
    E2E_PIDS+=("$ACME_DNS_PID")
    PEBBLE_VA_NOSLEEP=1 \
        PEBBLE_WFE_NONCEREJECT=${PEBBLE_WFE_NONCEREJECT:-0} \
        pebble -config "$dir/pebble.json" -dnsserver "$ACME_DNS" \
        >"$ACME_LOG_PEBBLE" 2>&1 &
    ACME_PEBBLE_PID=$!
    E2E_PIDS+=("$ACME_PEBBLE_PID")
    if ! wait_until 15 _acme_dns_answers || ! wait_until 15 _acme_directory_ok ||
        ! hurl --cacert "$ACME_CA_FILE" -o "$ACME_ROOT" \
            "https://localhost:$mgmt/roots/0" ||
        ! grep -q 'BEGIN CERTIFICATE' "$ACME_ROOT"; then
        log "Pebble or its DNS server did not come up:"
        sed 's/^/#   /' "$ACME_LOG_DNS" "$ACME_LOG_PEBBLE"
        return 1
    fi
    return 0
}

acme_stop() {
    local p
    for p in "$ACME_PEBBLE_PID" "$ACME_DNS_PID"; do
        [ -n "$p" ] || continue
        kill -TERM "$p" 2>/dev/null
        wait_exit "$p" 10 || { kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; }
    done
    ACME_PEBBLE_PID=
    ACME_DNS_PID=
}

acme_dns_add() {
    hurl -f -X POST -d "{\"host\": \"$1.\", \"addresses\": [\"${2:-127.0.0.1}\"]}" \
        "$_ACME_DNS_MGMT/add-a" >/dev/null
}

acme_dns_del() {
    hurl -f -X POST -d "{\"host\": \"$1.\"}" "$_ACME_DNS_MGMT/clear-a" \
        >/dev/null
}

acme_resolve() {
    drill -p "${ACME_DNS##*:}" "@${ACME_DNS%:*}" "$1" A 2>/dev/null |
        awk '/^;; ANSWER SECTION/ { on = 1; next } /^;;/ { on = 0 }
             on && $4 == "A" { print $5 }'
}

acme_host_config() {
    local f=$1 state=$2 https=$3 http=$4 chal=$5 kt=$6
    shift 6
    mkdir -p "$E2E_TMP/policy" "$E2E_TMP/certs" || return 1
    [ -e "$E2E_TMP/policy/mta-sts.txt" ] ||
        printf 'version: STSv1\nmode: enforce\nmx: mx1.example.com\nmax_age: 604800\n' \
            >"$E2E_TMP/policy/mta-sts.txt"
    {
        printf 'domains: [%s]\n' "$(IFS=,; echo "$*")"
        printf 'policy_dir: %s\ncert_dir: %s\nstate_dir: %s\n' \
            "$E2E_TMP/policy" "$E2E_TMP/certs" "$state"
        printf 'listen: {https: "127.0.0.1:%s", http: "127.0.0.1:%s"}\n' \
            "$https" "$http"
        printf 'tlsrpt: {receive: false}\n'
        acme_config_section "$chal" "$kt"
    } >"$f"
}

acme_config_section() {
    printf 'acme:\n  directory: %s\n  ca_file: %s\n' \
        "$ACME_DIRECTORY" "$ACME_CA_FILE"
    printf '  agree_tos: true\n  email: postmaster@example.com\n'
    printf '  challenges: [%s]\n  key_type: %s\n  resolver: "%s"\n' \
        "$1" "$2" "$ACME_DNS"
}

acme_verified() {
    hurl --cacert "$ACME_ROOT" --resolve "$1:$2:127.0.0.1" \
        -o /dev/null -w '%{http_code}' --max-time 5 \
        "https://$1:$2/.well-known/mta-sts.txt"
}

acme_is_verified() { [ "$(acme_verified "$1" "$2")" = 200 ]; }

acme_orders() {
    hurl --max-time 5 "http://127.0.0.1:$2/metrics" |
        awk -v m="mta_sts_acme_orders_total{result=\"$1\"}" '$1 == m { print $2 }'
}

_acme_b64url() { xxd -r -p | base64 -w0 | tr '+/' '-_' | tr -d '='; }

acme_cert_id() {
    local aki serial
    aki=$(openssl x509 -in "$1" -noout -ext authorityKeyIdentifier |
        sed -n 's/^ *\([0-9A-F:]*\)$/\1/p' | tr -d ':\n')
    serial=$(openssl x509 -in "$1" -noout -serial | sed 's/serial=//')
    [ $((${#serial} % 2)) -eq 1 ] && serial=0$serial
    case $serial in [89A-F]*) serial=00$serial ;; esac
    printf '%s.%s\n' "$(printf '%s' "$aki" | _acme_b64url)" \
        "$(printf '%s' "$serial" | _acme_b64url)"
}

acme_stub_start() {
    local dir=$E2E_TMP/acme port
    hurl -f --cacert "$ACME_CA_FILE" -o "$dir/pebble-dir.json" \
        "$ACME_DIRECTORY" || return 1
    port=$(free_port) || return 1
    python3 "$(dirname "${BASH_SOURCE[0]}")/acme_stub.py" "$port" \
        "$dir/listener.crt" "$dir/listener.key" "$dir/pebble-dir.json" \
        "$2" "$1" >>"$dir/stub.out" 2>&1 &
    E2E_PIDS+=($!)
    ACME_STUB=https://localhost:$port/dir
    wait_until 15 hurl -f --cacert "$ACME_CA_FILE" -o /dev/null "$ACME_STUB"
}
