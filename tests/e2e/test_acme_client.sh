#!/usr/bin/env bash
# End-to-end test of the ACME client (server/acme_client.c and the acme_
# modules under it) against the real Pebble (Debian's pebble), driven by
# the test program acme_tool (tests/e2e/acme_tool.c, built by CMake).
# Pebble is the harness's (lib_acme.sh): its own listener has a
# certificate from the test CA, which the client trusts as its ca_file;
# it runs with PEBBLE_VA_ALWAYS_VALID=1,
# so no challenge is really validated at this layer (the challenge table
# and listeners are tested with the host itself). Checked: the account is
# created once (key file mode 0600) and found again on a second run;
# certificates for three names with ECDSA P-256 (tls-alpn-01 only) and
# RSA-2048 (http-01 only) keys: each chain verifies against Pebble's root
# (its management port's /roots/0) with certtool, names exactly the three,
# has the key type asked for and the key written next to it; every answer
# published to the challenge table is withdrawn; a challenge type the CA
# does not offer fails by name, publishing nothing; with half of all
# nonces rejected (PEBBLE_WFE_NONCEREJECT=50) account and issuance still
# succeed through badNonce retries; with externalAccountBindingRequired
# the client refuses before sending without EAB, Pebble refuses a wrong
# MAC key, and the right one makes the account; and against a small stub
# (tests/e2e/acme_stub.py, for what Pebble 2.4 lacks) the RFC 9773
# renewal window and Retry-After are read, the certificate identifier is
# the one computed here with openssl, and a newOrder sends it as
# `replaces` and gets rateLimited with its Retry-After surfaced; an
# unreachable CA and a URL that answers no ACME directory fail with the
# step, the URL and what was wrong.
# Only loopback.
set -uo pipefail
. "$SRCDIR/tests/e2e/lib.sh"
# shellcheck source=tests/e2e/lib_acme.sh disable=SC1091
. "$SRCDIR/tests/e2e/lib_acme.sh"
e2e_init
need_tools pebble:pebble certtool:gnutls-bin openssl:openssl python3:python3
tool=${ACME_TOOL:-}
if [ -z "$tool" ] || [ ! -x "$tool" ]; then
    fail "ACME_TOOL ($tool) is the acme_tool test program"
    e2e_finish
fi
t=$E2E_TMP
make_ca "$t/ca" || { fail "test CA"; e2e_finish; }

# start_pebble VAR=VALUE...: (re)start the harness's Pebble (lib_acme.sh)
# with those variables (PEBBLE_*, ACME_EAB) and PEBBLE_VA_ALWAYS_VALID=1;
# sets DIR (its directory URL) and MGMT (its management URL).
start_pebble() {
    local v rc
    acme_stop
    for v in PEBBLE_VA_ALWAYS_VALID=1 "$@"; do export "${v?}"; done
    acme_start "$t/ca" "$(free_port)" "$(free_port)"
    rc=$?
    for v in PEBBLE_VA_ALWAYS_VALID=1 "$@"; do unset "${v%%=*}"; done
    DIR=$ACME_DIRECTORY
    MGMT=$ACME_MGMT
    return $rc
}

# acme ARG...: run acme_tool against $DIR with the test CA, bounded.
acme() {
    timeout -k 2 120 "$tool" --directory "$DIR" --ca-file "$t/ca/ca.pem" "$@"
}

# cert_ok NAME PREFIX KEYTYPE DOMAIN...: the chain PREFIX.crt verifies
# against Pebble's root, names exactly DOMAIN..., has a KEYTYPE key
# (ecdsa: P-256; rsa: 2048 bits) and PREFIX.key is its key.
cert_ok() {
    local what=$1 p=$2 type=$3 info want got
    shift 3
    check "$what: the chain verifies against Pebble's root" \
        grep -q "Chain verification output: Verified" \
        <(certtool --verify --load-ca-certificate "$t/root.pem" \
            --infile "$p.crt" 2>&1)
    # The leaf alone (the first certificate of the chain).
    awk '/-----BEGIN/{n++} n==1' "$p.crt" >"$p.leaf"
    info=$(certtool -i --infile "$p.leaf" 2>/dev/null)
    want=$(printf '%s\n' "$@" | sort)
    got=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*DNSname: //p' | sort)
    check_eq "$what: the certificate names exactly the ordered names" \
        "$want" "$got"
    if [ "$type" = ecdsa ]; then
        check_contains "$what: an ECDSA P-256 key" "SECP256R1" \
            "$(certtool -k --infile "$p.key" 2>/dev/null)"
    else
        check_contains "$what: an RSA-2048 key" "(2048 bits)" \
            "$(printf '%s\n' "$info" | grep 'Security Level' | head -n 1)"
    fi
    check_eq "$what: the key written is the certificate's key" \
        "$(certtool --pubkey-info --load-certificate "$p.leaf" --outder \
            2>/dev/null | sha256sum)" \
        "$(certtool --pubkey-info --load-privkey "$p.key" --outder \
            2>/dev/null | sha256sum)"
}

names=(mta-sts.example.com mta-sts.example.net mta-sts.example.org)
acct=(--account-key "$t/acct.key" --email postmaster@example.com --agree-tos)

log "account, certificates and challenge types against Pebble"
start_pebble || fail "Pebble starts"
cp "$ACME_ROOT" "$t/root.pem" || fail "Pebble's root from its management port"
out=$(acme "${acct[@]}" account 2>"$t/err")
check_contains "first run creates the account" "account created https://" \
    "$out"
url=${out##* }
check_eq "the account key is written with mode 0600" 600 \
    "$(stat -c %a "$t/acct.key")"
out=$(acme "${acct[@]}" account 2>"$t/err")
check_eq "second run finds the same account, creates none" \
    "account found $url" "$out"

out=$(acme "${acct[@]}" issue --challenges tls-alpn-01 --out "$t/ec" \
    "${names[@]}" 2>"$t/ec.err")
check_eq "ECDSA certificate for three names (tls-alpn-01 only), every answer withdrawn" \
    "issued 3 names: answers left 0" "$out"
cert_ok "ECDSA" "$t/ec" ecdsa "${names[@]}"

out=$(acme "${acct[@]}" issue --key-type rsa-2048 --challenges http-01 \
    --out "$t/rsa" "${names[@]}" 2>"$t/rsa.err")
check_eq "RSA-2048 certificate for three names (http-01 only), every answer withdrawn" \
    "issued 3 names: answers left 0" "$out"
cert_ok "RSA" "$t/rsa" rsa "${names[@]}"

out=$(acme "${acct[@]}" issue --challenges dns-99 --out "$t/none" \
    mta-sts.other.example 2>&1)
check_contains "a challenge type the CA does not offer is named" \
    "mta-sts.other.example: the CA offers none of the configured challenge types (it offers" \
    "$out"
check_contains "... and nothing is left in the challenge table" \
    "answers left 0" "$out"
check "... and no certificate was written" test ! -e "$t/none.crt"

log "a CA that does not answer, and one that answers no ACME"
closed=$(free_port)
out=$(DIR=https://localhost:$closed/dir acme "${acct[@]}" account 2>&1)
check_contains "an unreachable CA: the step and the URL" \
    "directory: GET https://localhost:$closed/dir: " "$out"
out=$(DIR=$MGMT/roots/0 acme "${acct[@]}" account 2>&1)
check_contains "a certificate where the directory should be: what was wrong" \
    "directory: the answer of $MGMT/roots/0 is not what ACME sends: $MGMT/roots/0:1:1: error: expected an ACME directory (JSON), found invalid JSON" \
    "$out"

log "half of all nonces rejected (PEBBLE_WFE_NONCEREJECT=50)"
start_pebble PEBBLE_WFE_NONCEREJECT=50 ||
    fail "Pebble (nonce rejection) starts"
cp "$ACME_ROOT" "$t/root.pem"
out=$(acme --account-key "$t/acct2.key" --agree-tos account 2>"$t/err")
check_contains "account through badNonce retries" "account created" "$out"
retries=$(sed -n 's/^acme_tool: badNonce retries //p' "$t/err")
out=$(acme --account-key "$t/acct2.key" --agree-tos issue --out "$t/nonce" \
    "${names[@]}" 2>"$t/err")
check_contains "issuance through badNonce retries" "issued 3 names" "$out"
cert_ok "badNonce" "$t/nonce" ecdsa "${names[@]}"
retries=$((retries + $(sed -n 's/^acme_tool: badNonce retries //p' "$t/err")))
log "badNonce answers retried: $retries"
check "Pebble did reject nonces, and they were retried" test "$retries" -gt 0

log "external account binding (externalAccountBindingRequired)"
start_pebble ACME_EAB=kid-1:zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W ||
    fail "Pebble (EAB) starts"
out=$(acme --account-key "$t/acct3.key" --agree-tos account 2>&1)
check_contains "without EAB the client refuses, naming the settings" \
    "requires an external account binding: set acme.eab.kid and acme.eab.hmac_key" \
    "$out"
out=$(acme --account-key "$t/acct3.key" --agree-tos --eab-kid kid-1 \
    --eab-hmac-key b10lLJs8l1GPIzsLP0s6pMt8O0XVGnfTaCeROxQM0BIt2XrJMDHJZBM5NuQmQJQH \
    account 2>&1)
check_contains "a wrong MAC key is refused by Pebble, with its answer" \
    "newAccount (create): POST $DIR" "${out/\/sign-me-up/\/dir}"
check_contains "... whose detail is shown whole" \
    "urn:ietf:params:acme:error:unauthorized: external account binding JWS verification error" \
    "$out"
out=$(acme --account-key "$t/acct3.key" --agree-tos --eab-kid kid-1 \
    --eab-hmac-key zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W \
    account 2>&1)
check_contains "the right EAB creates the account" "account created" "$out"
out=$(acme --account-key "$t/acct3.key" --agree-tos issue --out "$t/eab" \
    mta-sts.example.com 2>&1)
check_contains "... which can order" "issued 1 names" "$out"

log "renewal information and rateLimited (stub next to Pebble)"
start_pebble || fail "Pebble (for the stub) starts"
acme_stub_start ratelimit "$t/stub.log" || fail "the stub starts"
DIR=$ACME_STUB
# The RFC 9773 identifier of the ECDSA certificate, computed with openssl.
want_id=$(acme_cert_id "$t/ec.leaf")
out=$(acme "${acct[@]}" renewal-info "$t/ec.crt" 2>"$t/err")
check_eq "the renewal window and its Retry-After are read" \
    "window 1767326400 1767412800 retry-after 21600" "$out"
check_contains "the renewalInfo URL names the certificate as RFC 9773 does" \
    "\"renewalInfo\": \"$want_id\"" "$(cat "$t/stub.log")"
out=$(acme "${acct[@]}" issue --replaces "$t/ec.crt" --out "$t/ri" \
    "${names[@]}" 2>&1)
check_contains "newOrder answered rateLimited: the error type" \
    "error type rateLimited" "$out"
check_contains "... with the CA's detail and the URL" \
    "newOrder: POST ${ACME_STUB%/dir}/new-order: HTTP 429 urn:ietf:params:acme:error:rateLimited: too many new orders (stub)" \
    "$out"
check_contains "... and its Retry-After" "retry after 120" "$out"
check_contains "the new order sends replaces with the identifier" \
    "\"replaces\": \"$want_id\"" "$(grep newOrder "$t/stub.log")"
check_contains "... next to the identifiers" \
    '{"type": "dns", "value": "mta-sts.example.com"}' \
    "$(grep newOrder "$t/stub.log")"

e2e_finish
