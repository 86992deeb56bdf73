#!/usr/bin/env bash
# End-to-end test of `mta-sts-host check` in a network namespace the test
# makes (only its loopback), where the SMTP servers listen on port 25 and
# the policy hosts on 443, the ports a sender uses (`check` runs with its
# defaults), against a real authoritative DNS server (NSD from Debian)
# serving real zone files:
# one correct domain and one domain per mistake (the _mta-sts id behind the
# served one, two v=STSv1 records, no record, a record behind a CNAME with
# the right and with a stale id, an MX not covered by the policy, a policy
# pattern naming no MX, a bad _smtp._tls record, an MX without an address,
# mta-sts.<domain> without an address, another policy served there than
# the one this host serves, and a certificate the fetch does not trust:
# the host itself serves the policies over HTTPS with a test CA; policy
# hosts that redirect, answer text/html, send over 64 KiB or never answer:
# a scripted HTTPS server; an MX without STARTTLS, with a certificate for
# another name, with an expired one, with one expiring in 5 days (a
# warning), speaking only TLS 1.1, and one with a wildcard certificate that
# is fine: a scripted SMTP server, tests/e2e/peer.py),
# and two DNSSEC-signed zones (ldns-signzone) checked with their keys as
# trust anchors: one that validates (every answer secure) and one whose
# _mta-sts record was altered after signing (bogus: a fail line).
# Each broken domain must give its own fail line with its fix and nothing
# else failing; the correct one passes with exit 0; --json is checked
# field by field; usage errors exit 2. No recursion (check
# forwards to NSD with --resolver; without the test's own anchors it
# validates nothing, --trust-anchor none, as an authoritative server
# cannot give the root's keys).
set -uo pipefail
. "$SRCDIR/tests/e2e/lib.sh"
e2e_init
need_tools python3:python3 nsd:nsd ldns-signzone:ldnsutils
e2e_netns "$@"
bin=$MTA_STS_HOST
t=$E2E_TMP
mkdir -p "$t/pol" "$t/nsd"

# --- the policies this host serves, and their ids as served
policy() { # DOMAIN MX-PATTERN...
    local d=$1
    shift
    {
        printf 'version: STSv1\nmode: enforce\n'
        for m in "$@"; do printf 'mx: %s\n' "$m"; done
        printf 'max_age: 604800\n'
    } >"$t/pol/$d.txt"
}
policy example.com mx1.example.com '*.mx.example.com'
for d in idmismatch twotxt notxt cname cnamestale badrpt; do
    policy "$d.example.net" "mx.$d.example.net"
done
policy uncovered.example.net mx.uncovered.example.net
policy stale.example.net mx.stale.example.net old.stale.example.net
policy noaddr.example.net mx.noaddr.example.net
policy nohost.example.net mx.nohost.example.net
policy otherpol.example.net mx.otherpol.example.net
for d in nostls wrongcert expired tls11 soon redirect html big silent; do
    policy "$d.example.net" "mx.$d.example.net"
done
policy wild.example.net '*.wild.example.net'

declare -A id=()
while read -r d i; do id[$d]=$i; done < <(policy_ids "$t/pol")
check_eq "the ids of the 22 policies are known" 22 "${#id[@]}"

# --- the zones
soa='@ IN SOA ns admin 1 3600 600 86400 60
@ IN NS ns
ns IN A 127.0.0.1'
cat >"$t/nsd/example.com.zone" <<Z
\$ORIGIN example.com.
\$TTL 60
$soa
@ IN MX 10 mx1
@ IN MX 20 a.mx
mx1 IN A 127.0.0.1
a.mx IN AAAA ::1
mta-sts IN A 127.0.0.1
_mta-sts IN TXT "v=STSv1; " "id=${id[example.com]}"
_mta-sts IN TXT "v=spf1 -all"
_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:tls@example.com,https://r.example.com/v1"
Z
# The MX of these domains is on an address of the scripted SMTP server
# that misbehaves in their way; every other MX is on a well-behaved one.
declare -A mxaddr=([nostls]=127.0.0.11 [wrongcert]=127.0.0.12
    [expired]=127.0.0.13 [wild]=127.0.0.14 [tls11]=127.0.0.15 [soon]=127.0.0.16)
# Likewise mta-sts.<domain> of these is on the scripted HTTPS server.
declare -A stsaddr=([redirect]=127.0.0.21 [html]=127.0.0.22 [big]=127.0.0.23
    [silent]=127.0.0.24)
net() { # NAME [TXT lines...]: MX mx.NAME with an address, TLSRPT ok,
    # mta-sts.NAME on this host
    local n=$1
    shift
    printf '%s IN MX 10 mx.%s\nmx.%s IN A %s\n' "$n" "$n" "$n" "${mxaddr[$n]:-127.0.0.1}"
    [ "$n" = nohost ] || printf 'mta-sts.%s IN A %s\n' "$n" "${stsaddr[$n]:-127.0.0.1}"
    [ "$n" = badrpt ] ||
        printf '_smtp._tls.%s IN TXT "v=TLSRPTv1; rua=mailto:tls@example.net"\n' "$n"
    for l in "$@"; do printf '%s\n' "$l"; done
}
{
    printf '$ORIGIN example.net.\n$TTL 60\n%s\n' "$soa"
    net idmismatch '_mta-sts.idmismatch IN TXT "v=STSv1; id=old1"'
    net twotxt "_mta-sts.twotxt IN TXT \"v=STSv1; id=${id[twotxt.example.net]}\"" \
        '_mta-sts.twotxt IN TXT "v=STSv1; id=other2"'
    net notxt '_mta-sts.notxt IN TXT "v=spf1 -all"'
    net cname '_mta-sts.cname IN CNAME _mta-sts.cname.example.net.sts.example.org.'
    net cnamestale '_mta-sts.cnamestale IN CNAME _mta-sts.cnamestale.example.net.sts.example.org.'
    net badrpt "_mta-sts.badrpt IN TXT \"v=STSv1; id=${id[badrpt.example.net]}\"" \
        '_smtp._tls.badrpt IN TXT "v=TLSRPTv1; rua=http://r.example.net"'
    net uncovered "_mta-sts.uncovered IN TXT \"v=STSv1; id=${id[uncovered.example.net]}\"" \
        'uncovered IN MX 20 mx9.example.org.'
    net stale "_mta-sts.stale IN TXT \"v=STSv1; id=${id[stale.example.net]}\""
    net nohost "_mta-sts.nohost IN TXT \"v=STSv1; id=${id[nohost.example.net]}\""
    net otherpol "_mta-sts.otherpol IN TXT \"v=STSv1; id=${id[otherpol.example.net]}\""
    for n in nostls wrongcert expired wild tls11 soon redirect html big silent; do
        net $n "_mta-sts.$n IN TXT \"v=STSv1; id=${id[$n.example.net]}\""
    done
    printf 'mta-sts.noaddr IN A 127.0.0.1\n'
    printf 'noaddr IN MX 10 mx.noaddr\n'
    printf '_smtp._tls.noaddr IN TXT "v=TLSRPTv1; rua=mailto:tls@example.net"\n'
    printf '_mta-sts.noaddr IN TXT "v=STSv1; id=%s"\n' "${id[noaddr.example.net]}"
} >"$t/nsd/example.net.zone"
# The provider's zone (RFC 8461 §8.2 delegation) and a host outside both.
cat >"$t/nsd/example.org.zone" <<Z
\$ORIGIN example.org.
\$TTL 60
$soa
_mta-sts.cname.example.net.sts IN TXT "v=STSv1; id=${id[cname.example.net]}"
_mta-sts.cnamestale.example.net.sts IN TXT "v=STSv1; id=stale7"
mx9 IN A 127.0.0.2
Z

# Signed: example.com as it is, example.info with its _mta-sts record
# altered after signing (its signature no longer matches).
mkdir -p "$t/pol2"
cp "$t/pol/example.com.txt" "$t/pol2/"
policy example.info mx.example.info
mv "$t/pol/example.info.txt" "$t/pol2/"
info_id=$("$bin" dns --policy-dir "$t/pol2" --cert-dir "$t/none" 2>/dev/null |
    sed -n 's/^_mta-sts\.example\.info\. IN TXT "v=STSv1; id=\(.*\)"$/\1/p')
check "the id of example.info is known" test -n "$info_id"
cat >"$t/nsd/example.info.zone" <<Z
\$ORIGIN example.info.
\$TTL 60
$soa
@ IN MX 10 mx
mx IN A 127.0.0.1
mta-sts IN A 127.0.0.1
_mta-sts IN TXT "v=STSv1; id=$info_id"
_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:tls@example.info"
Z
: >"$t/anchors"
for z in example.com example.info; do
    k=$(cd "$t/nsd" && ldns-keygen -a ECDSAP256SHA256 -k "$z") &&
        (cd "$t/nsd" && ldns-signzone -n -f "$z.zone.signed" "$z.zone" "$k") &&
        cat "$t/nsd/$k.key" >>"$t/anchors" ||
        fail "$z is signed"
done
sed -i "s/id=$info_id/id=altered1/" "$t/nsd/example.info.zone.signed"
check "the example.info record is altered after signing" \
    grep -q 'id=altered1' "$t/nsd/example.info.zone.signed"

nsd_start "$t/nsd" example.com=example.com.zone.signed example.info=example.info.zone.signed \
    example.net=example.net.zone example.org=example.org.zone
port=$NSD_PORT

# --- the host serving the policies over HTTPS (a test CA), except that its
# policy for otherpol.example.net is not the one `check` is told about
# (another server, or an older file)
mkdir -p "$t/served"
cp "$t/pol/"*.txt "$t/pol2/example.info.txt" "$t/served/"
sed -i 's/^max_age: .*/max_age: 86400/' "$t/served/otherpol.example.net.txt"
hp=443
serve_policies "$t/served" "$t/ca" "$t/host.log" "$hp"
# The MX certificates: one for every MX name, one for another name, and
# one for the right name that has expired.
mxnames=(mx1.example.com a.mx.example.com mx9.example.org mx.example.info)
for f in "$t/pol/"*.example.net.txt; do
    f=${f##*/}
    [ "$f" = wild.example.net.txt ] || mxnames+=("mx.${f%.txt}")
done
make_cert "$t/ca" "$t/mx" ecdsa "${mxnames[@]}" &&
    make_cert "$t/ca" "$t/wrong" ecdsa other.example.com &&
    CERT_VALIDITY=$'activation_date = "2020-01-01 00:00:00 UTC"\nexpiration_date = "2020-02-01 00:00:00 UTC"' \
        make_cert "$t/ca" "$t/expired" ecdsa mx.expired.example.net &&
    make_cert "$t/ca" "$t/wild" ecdsa '*.wild.example.net' &&
    CERT_VALIDITY='expiration_days = 5' \
        make_cert "$t/ca" "$t/soon" ecdsa mx.soon.example.net ||
    fail "the MX certificates are made"
sp=25
python3 "$SRCDIR/tests/e2e/peer.py" "$sp" \
    "127.0.0.1=tls:$t/mx.crt:$t/mx.key" "127.0.0.2=tls:$t/mx.crt:$t/mx.key" \
    "::1=tls:$t/mx.crt:$t/mx.key" 127.0.0.11=nostarttls \
    "127.0.0.12=tls:$t/wrong.crt:$t/wrong.key" \
    "127.0.0.13=tls:$t/expired.crt:$t/expired.key" \
    "127.0.0.14=tls:$t/wild.crt:$t/wild.key" \
    "127.0.0.15=tls11:$t/mx.crt:$t/mx.key" \
    "127.0.0.16=tls:$t/soon.crt:$t/soon.key" >"$t/smtpd.log" 2>&1 &
E2E_PIDS+=("$!")
if wait_until 10 grep -q '^ready' "$t/smtpd.log"; then
    pass "the scripted SMTP server listens on port $sp"
else
    fail "the scripted SMTP server starts"
    cat "$t/smtpd.log"
fi
odd=()
for n in "${!stsaddr[@]}"; do
    odd+=("${stsaddr[$n]}=https-$n:$t/odd.crt:$t/odd.key")
done
make_cert "$t/ca" "$t/odd" ecdsa mta-sts.{redirect,html,big,silent}.example.net ||
    fail "the odd policy hosts' certificate is made"
python3 "$SRCDIR/tests/e2e/peer.py" "$hp" "${odd[@]}" >"$t/httpsd.log" 2>&1 &
E2E_PIDS+=("$!")
if wait_until 10 grep -q '^ready' "$t/httpsd.log"; then
    pass "the scripted HTTPS server listens on port $hp"
else
    fail "the scripted HTTPS server starts"
    cat "$t/httpsd.log"
fi

# No --https-port or --smtp-port: the defaults, 443 and 25.
untrusted=(--policy-dir "$t/pol" --cert-dir "$t/none" --resolver "127.0.0.1:$port"
    --trust-anchor none)
args=("${untrusted[@]}" --ca-file "$t/ca/ca.pem")
# run_check OUT [ARG...]: check with the test's resolver; prints the status.
run_check() {
    local out=$1
    shift
    "$bin" check "${args[@]}" "$@" >"$out" 2>"$out.err"
    echo $?
}

# --- the correct domain passes
check_eq "the correct domain: exit 0" 0 "$(run_check "$t/good" example.com)"
check_eq "the correct domain: no fail or warn line" "" "$(grep -v '^ok ' "$t/good")"
check_contains "sts-txt ok, the other TXT record ignored" \
    "ok sts-txt example.com: one v=STSv1 record at _mta-sts.example.com, id=${id[example.com]} (dnssec: insecure)" "$(cat "$t/good")"
check_contains "sts-id ok" \
    "ok sts-id example.com: DNS says id=${id[example.com]}, this host serves ${id[example.com]}" "$(cat "$t/good")"
check_contains "mta-sts.<d> resolves" \
    "ok policy-host example.com: mta-sts.example.com has 127.0.0.1 (dnssec: insecure)" "$(cat "$t/good")"
check_contains "policy fetched as a sender does" \
    "ok policy-fetch example.com: https://mta-sts.example.com/.well-known/mta-sts.txt (from 127.0.0.1): 200 text/plain, " "$(cat "$t/good")"
check_contains "the fetched policy is the served one" \
    "ok policy-match example.com: the policy at https://mta-sts.example.com/.well-known/mta-sts.txt has id ${id[example.com]}, this host serves ${id[example.com]}" "$(cat "$t/good")"
check_contains "tlsrpt ok" \
    "ok tlsrpt example.com: one v=TLSRPTv1 record at _smtp._tls.example.com, 2 rua URIs (dnssec: insecure)" "$(cat "$t/good")"
check_contains "mx ok: exact and wildcard pattern" \
    "ok mx example.com: 2 MX hosts, each covered by the policy's mx patterns (dnssec: insecure)" "$(cat "$t/good")"
check_contains "mx-addr: IPv4" "ok mx-addr example.com: mx1.example.com has 127.0.0.1" "$(cat "$t/good")"
check_contains "mx-addr: IPv6" "ok mx-addr example.com: a.mx.example.com has ::1" "$(cat "$t/good")"
check_file_contains "mx-tls: STARTTLS, TLS 1.3, a valid certificate (IPv4)" \
    "^ok mx-tls example.com: MX mx1.example.com \(127.0.0.1\): STARTTLS, TLS1.3, certificate valid for mx1.example.com until 20[0-9-]+$" "$t/good"
check_file_contains "mx-tls: the same over IPv6" \
    "^ok mx-tls example.com: MX a.mx.example.com \(::1\): STARTTLS, TLS1.3, certificate valid for a.mx.example.com until " "$t/good"

# --- every served domain, each broken one with its own failure
check_eq "all domains: exit 1" 1 "$(run_check "$t/all")"
# expect NAME LINE: the report has exactly LINE (a whole line).
expect() {
    if grep -qxF -- "$2" "$t/all"; then
        pass "$1"
    else
        fail "$1"
        printf '  want: %s\n  got:\n' "$2"
        grep -F " ${3:-}" "$t/all" | sed 's/^/    /'
    fi
}
# fails DOMAIN N: DOMAIN has exactly N fail lines (its own mistake only).
fails() {
    check_eq "$1: $2 fail line(s)" "$2" "$(grep -c "^fail [a-z-]* $1: " "$t/all")"
}
d=idmismatch.example.net
expect "id behind the served one: fail and the record to publish" \
    "fail sts-id $d: DNS says id=old1, this host serves ${id[$d]} (senders keep the policy they cached) fix: publish \`_mta-sts.$d. IN TXT \"v=STSv1; id=${id[$d]}\"\`" $d
fails $d 1
d=twotxt.example.net
expect "two v=STSv1 records: fail, keep one" \
    "fail sts-txt $d: _mta-sts.$d: expected exactly one record starting \"v=STSv1\", found 2 (senders then ignore them all) fix: delete all but one, keeping \`_mta-sts.$d. IN TXT \"v=STSv1; id=${id[$d]}\"\`" $d
fails $d 1
d=notxt.example.net
expect "no v=STSv1 record: fail, publish it" \
    "fail sts-txt $d: _mta-sts.$d: expected a record starting \"v=STSv1\", found only other TXT records fix: publish \`_mta-sts.$d. IN TXT \"v=STSv1; id=${id[$d]}\"\`" $d
fails $d 1
d=cname.example.net
expect "CNAMEd record followed" \
    "ok sts-txt $d: one v=STSv1 record at _mta-sts.$d via CNAME _mta-sts.$d.sts.example.org, id=${id[$d]} (dnssec: insecure)" $d
expect "CNAMEd record: its id is the served one" \
    "ok sts-id $d: DNS says id=${id[$d]}, this host serves ${id[$d]}" $d
fails $d 0
d=cnamestale.example.net
expect "CNAMEd record with a stale id: the fix is at the CNAME target" \
    "fail sts-id $d: DNS says id=stale7, this host serves ${id[$d]} (senders keep the policy they cached) fix: publish \`_mta-sts.$d.sts.example.org. IN TXT \"v=STSv1; id=${id[$d]}\"\`" $d
fails $d 1
d=badrpt.example.net
expect "bad _smtp._tls record: fail with the URI and the record" \
    "fail tlsrpt $d: _smtp._tls.$d: rua URI 'http://r.example.net': plain http: is not allowed; TLS-RPT takes mailto: or https: URIs (RFC 8460 §3) fix: publish \`_smtp._tls.$d. IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@$d\"\`" $d
fails $d 1
d=uncovered.example.net
expect "MX not covered: fail, add the pattern" \
    "fail mx $d: MX mx9.example.org is not covered by any mx pattern of the policy (senders in enforce mode refuse to deliver to it) fix: add \`mx: mx9.example.org\` to $t/pol/$d.txt (its id changes: publish the new one)" $d
fails $d 1
d=stale.example.net
expect "pattern naming no MX: fail, remove it or publish the MX" \
    "fail mx $d: policy pattern \`mx: old.stale.example.net\` names no MX of $d fix: remove \`mx: old.stale.example.net\` from $t/pol/$d.txt, or publish \`$d. IN MX 10 old.stale.example.net.\`" $d
fails $d 1
d=noaddr.example.net
expect "MX without an address: fail" \
    "fail mx-addr $d: MX mx.noaddr.example.net has no A or AAAA record fix: publish \`mx.noaddr.example.net. IN A <address>\` (or AAAA)" $d
fails $d 1
d=nohost.example.net
expect "mta-sts.<d> without an address: fail, publish the CNAME" \
    "fail policy-host $d: mta-sts.$d has no A or AAAA record: senders cannot fetch the policy fix: publish \`mta-sts.$d. IN CNAME <this host>.\` (\`mta-sts-host dns --target HOST\` prints it)" $d
fails $d 1
d=otherpol.example.net
served_other=$("$bin" validate "$t/served/$d.txt" | sed -n 's/.*valid (id \([A-Za-z0-9]*\),.*/\1/p')
expect "another policy at mta-sts.<d>: fail, with both ids" \
    "fail policy-match $d: the policy at https://mta-sts.$d/.well-known/mta-sts.txt has id $served_other, this host serves ${id[$d]} (another server answers for mta-sts, or it serves an older file) fix: point mta-sts.$d at this host, or deploy $t/pol/$d.txt there" $d
fails $d 1
d=nostls.example.net
expect "an MX without STARTTLS: fail, enable it" \
    "fail mx-tls $d: MX mx.$d (127.0.0.11) does not offer STARTTLS fix: enable STARTTLS on mx.$d with a certificate for mx.$d (Postfix: smtpd_tls_security_level = may)" $d
fails $d 1
d=wrongcert.example.net
check_file_contains "an MX certificate for another name: fail, with GnuTLS's reason" \
    "^fail mx-tls $d: MX mx.$d \(127.0.0.12\): TLS1.3, but the certificate is refused for mx.$d: .*(hostname|name).* \(senders in enforce mode do not deliver\) fix: install a certificate valid for mx.$d from a CA senders trust \(RFC 8461 §4.2\)$" "$t/all"
fails $d 1
d=expired.example.net
check_file_contains "an expired MX certificate: fail, said expired" \
    "^fail mx-tls $d: MX mx.$d \(127.0.0.13\): TLS1.3, but the certificate is refused for mx.$d: .*expired.* fix: install a certificate valid for mx.$d " "$t/all"
fails $d 1
d=tls11.example.net
check_file_contains "an MX speaking only TLS 1.1: fail, the handshake refused" \
    "^fail mx-tls $d: MX mx.$d \(127.0.0.15\) port $sp: TLS handshake \(TLS 1.2 or later\): .* fix: make mx.$d accept SMTP with STARTTLS and TLS 1.2 or later$" "$t/all"
fails $d 1
d=wild.example.net
check_file_contains "an MX with a wildcard certificate: ok" \
    "^ok mx-tls $d: MX mx.$d \(127.0.0.14\): STARTTLS, TLS1.3, certificate valid for mx.$d until " "$t/all"
check_file_contains "a wildcard policy pattern covers the MX" "^ok mx $d: 1 MX host, each covered" "$t/all"
fails $d 0
d=soon.example.net
check_file_contains "an MX certificate expiring in 5 days: a warning, renew it" \
    "^warn mx-tls $d: MX mx.$d \(127.0.0.16\): TLS1.3, certificate valid for mx.$d but expires in [45] days \(20[0-9-]+\) fix: renew the certificate of mx.$d$" "$t/all"
fails $d 0
check_eq "all: the one warn line is that one" "warn mx-tls $d" \
    "$(grep '^warn ' "$t/all" | cut -d: -f1)"
# A policy host that does not answer as senders require.
fetch_fails() { # NAME WHAT-REGEX FIX-REGEX: the one fail line of NAME
    local d=$1.example.net
    check_file_contains "policy host $1: fail policy-fetch, said why, with a fix" \
        "^fail policy-fetch $d: https://mta-sts.$d/.well-known/mta-sts.txt \(from ${stsaddr[$1]}\): $2 fix: $3$" "$t/all"
    fails $d 1
}
fetch_fails redirect "HTTP 301; senders take only 200 and follow no redirect" \
    "point mta-sts.redirect.example.net at this host \(it serves .*redirect.example.net.txt with 200 and text/plain\)"
fetch_fails html "Content-Type 'text/html', senders expect text/plain" \
    "point mta-sts.html.example.net at this host \(it serves .*html.example.net.txt with 200 and text/plain\)"
fetch_fails big "https://mta-sts.big.example.net/.well-known/mta-sts.txt: the answer is over 65536 bytes" \
    "serve https://mta-sts.big.example.net/.well-known/mta-sts.txt with .*"
fetch_fails silent "https://mta-sts.silent.example.net/.well-known/mta-sts.txt: timed out \(no complete answer in time\)" \
    "serve https://mta-sts.silent.example.net/.well-known/mta-sts.txt with a certificate valid for mta-sts.silent.example.net from a CA senders trust, answering within 10 s"
check_eq "all: 18 fail lines in all, one per broken domain" 18 "$(grep -c '^fail ' "$t/all")"
check_eq "all: one line per check per domain, nothing else" "" \
    "$(grep -vE '^(ok|warn|fail) (sts-txt|sts-id|policy-host|policy-fetch|policy-match|tlsrpt|mx|mx-addr|mx-tls) [a-z0-9.]+: ' "$t/all")"

# --- DNSSEC: with the zones' keys as trust anchors
args2=(--policy-dir "$t/pol2" --cert-dir "$t/none" --resolver "127.0.0.1:$port"
    --trust-anchor "$t/anchors" --ca-file "$t/ca/ca.pem")
check_eq "signed zone: exit 0" 0 \
    "$("$bin" check "${args2[@]}" example.com >"$t/sec" 2>"$t/sec.err"; echo $?)"
check_eq "signed zone: every answer secure" "" "$(grep -v '(dnssec: secure)$' "$t/sec" | grep -vE '^ok (sts-id|policy-fetch|policy-match|mx-tls) ')"
check_eq "signed zone: all 11 checks ok" 11 "$(grep -c '^ok ' "$t/sec")"
check_eq "altered zone: exit 1" 1 \
    "$("$bin" check "${args2[@]}" example.info >"$t/bogus" 2>"$t/bogus.err"; echo $?)"
check_file_contains "altered zone: bogus, with the validator's reason and a fix" \
    "^fail sts-txt example.info: DNSSEC validation failed: validation failure <_mta-sts.example.info. TXT IN>: .* fix: re-sign the zone, or correct the DS record at the parent, so that the answer validates$" "$t/bogus"
check_eq "altered zone: only that answer fails" 1 "$(grep -c '^fail ' "$t/bogus")"
check_file_contains "altered zone: the others are secure" "^ok tlsrpt example.info: .*\(dnssec: secure\)$" "$t/bogus"
check "altered zone, --json: dnssec bogus" python3 -c '
import json, subprocess, sys
out = subprocess.run(sys.argv[1:], capture_output=True, text=True).stdout
r = [r for r in json.loads(out)["results"] if r["check"] == "sts-txt"][0]
assert r["status"] == "fail" and r["dnssec"] == "bogus", r
assert r["message"].startswith("DNSSEC validation failed: "), r
' "$bin" check "${args2[@]}" --json example.info

# --- --json, field by field
check_eq "json: exit 1 as the text" 1 "$(run_check "$t/json" --json)"
check "json: the same findings as the text, field by field" python3 - "$t/json" "$t/all" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
lines = open(sys.argv[2]).read().splitlines()
res = doc["results"]
assert len(res) == len(lines), (len(res), len(lines))
for r, line in zip(res, lines):
    assert set(r) == {"domain", "check", "status", "message", "fix", "dnssec"}, r
    want = "%s %s %s: %s" % (r["status"], r["check"], r["domain"], r["message"])
    if r["fix"] is not None:
        want += " fix: " + r["fix"]
    assert want == line, (want, line)
    assert r["dnssec"] == "insecure", r
    assert (r["fix"] is None) == (r["status"] == "ok"), r
counts = {s: sum(1 for r in res if r["status"] == s) for s in ("ok", "warn", "fail")}
assert counts == {k: doc[k] for k in counts}, (counts, doc)
assert doc["fail"] == 18 and doc["warn"] == 1, doc
PY
check "json: the id mismatch, field by field" python3 - "$t/json" "${id[idmismatch.example.net]}" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
r = [r for r in res if r["domain"] == "idmismatch.example.net" and r["check"] == "sts-id"]
assert len(r) == 1, r
r = r[0]
assert r["status"] == "fail", r
assert r["message"] == "DNS says id=old1, this host serves %s (senders keep the policy they cached)" % sys.argv[2], r
assert r["fix"] == 'publish `_mta-sts.idmismatch.example.net. IN TXT "v=STSv1; id=%s"`' % sys.argv[2], r
assert r["dnssec"] == "insecure", r
PY

# --- the fetch verifies the certificate: without the test CA it fails
check_eq "untrusted certificate: exit 1" 1 \
    "$("$bin" check "${untrusted[@]}" example.com >"$t/untrusted" 2>/dev/null; echo $?)"
check_file_contains "untrusted certificate: fail policy-fetch with the reason and a fix" \
    "^fail policy-fetch example.com: https://mta-sts.example.com/.well-known/mta-sts.txt \(from 127.0.0.1\): .*certificate.* fix: serve https://mta-sts.example.com/.well-known/mta-sts.txt with a certificate valid for mta-sts.example.com from a CA senders trust, answering within 10 s$" "$t/untrusted"
check_file_contains "untrusted certificate: the MX certificate is refused too" \
    "^fail mx-tls example.com: MX mx1.example.com \(127.0.0.1\): TLS1.3, but the certificate is refused for mx1.example.com: The certificate is NOT trusted. The certificate issuer is unknown. \(senders" "$t/untrusted"

# --- a domain this host does not serve, and usage errors
check_eq "an unserved domain: exit 1" 1 "$(run_check "$t/unserved" example.org)"
check_contains "an unserved domain: said so" \
    "fail served example.org: this host serves no valid policy for example.org" "$(cat "$t/unserved")"
check_eq "not a domain name: exit 2" 2 "$(run_check "$t/usage" 'bad name')"
check_eq "a resolver that is not an address: exit 2" 2 \
    "$("$bin" check --policy-dir "$t/pol" --resolver ns.example.com >/dev/null 2>"$t/res.err"; echo $?)"
check_file_contains "the resolver error says what was found" "expected a numeric IP address, found 'ns.example.com'" "$t/res.err"
check_eq "a bad --smtp-port: exit 2" 2 \
    "$("$bin" check --policy-dir "$t/pol" --smtp-port 65536 >/dev/null 2>&1; echo $?)"
check_eq "a bad --https-port: exit 2" 2 \
    "$("$bin" check --policy-dir "$t/pol" --https-port 0 >/dev/null 2>&1; echo $?)"
check_eq "a missing trust anchor file: exit 1" 1 \
    "$("$bin" check --policy-dir "$t/pol" --resolver "127.0.0.1:$port" --trust-anchor "$t/nope.key" >/dev/null 2>"$t/ta.err"; echo $?)"
check_file_contains "the trust anchor error names the file" "trust anchor $t/nope.key: No such file" "$t/ta.err"

e2e_finish
