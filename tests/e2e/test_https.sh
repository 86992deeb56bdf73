#!/usr/bin/env bash
# test_https.sh: drive the real mta-sts-host over real HTTPS on loopback
# (issue 3). A throw-away CA issues an exact ECDSA certificate for
# mta-sts.example.com (.crt + .key) and a wildcard RSA one for
# *.example.net (.pem holding chain and key); the host serves a default
# policy and an override, and curl (full verification against the test CA)
# and gnutls-cli check policies, certificates, HTTP semantics, the plain
# HTTP listener, TLS versions, start-up failures, the dev certificate,
# draining on SIGTERM, /metrics (promtool) and the logs.
#
# Run by ctest as `bash tests/e2e/test_https.sh` with MTA_STS_HOST and
# SRCDIR set; needs root only to install missing tools.
# Helpers below are run through wait_until/eval, which shellcheck cannot see.
# shellcheck disable=SC2317,SC2016
set -u

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init

need_tools certtool:gnutls-bin gnutls-cli:gnutls-bin curl:curl \
    promtool:prometheus python3:python3

T=$E2E_TMP
POL=$T/policy
CERTS=$T/certs
mkdir -p "$POL" "$CERTS" "$T/ca" "$T/out" || exit 1
OUT=$T/out

# ---- test CA and certificates -------------------------------------------

if make_ca "$T/ca" &&
    make_cert "$T/ca" "$CERTS/example.com" ecdsa mta-sts.example.com &&
    make_cert "$T/ca" "$T/net" rsa '*.example.net'; then
    rm -f "$CERTS/example.com.pem"
    cp "$T/net.pem" "$CERTS/example.net.pem"
    pass "test CA and certificates generated with certtool"
else
    fail "test CA and certificates generated with certtool"
    e2e_finish
fi
CA=$T/ca/ca.pem

# ---- policies -------------------------------------------------------------

# Files use LF; the host serves them with CRLF. $POL/mta-sts.txt is the
# default (example.com), example.net.txt the override with a UTF-8
# extension value.
printf 'version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.backup.example.com\nmax_age: 604800\n' \
    >"$POL/mta-sts.txt"
printf 'version: STSv1\nmode: testing\nmx: *.example.net\nmax_age: 1209600\nnote: caf\xc3\xa9 \xe2\x9c\x93\n' \
    >"$POL/example.net.txt"
sed 's/$/\r/' "$POL/mta-sts.txt" >"$T/expect.example.com"
sed 's/$/\r/' "$POL/example.net.txt" >"$T/expect.example.net"

# ---- helpers --------------------------------------------------------------

HTTPS_PORT=$(free_port)
HTTP_PORT=$(free_port)
PP=/.well-known/mta-sts.txt
CODES=$T/https_codes
: >"$CODES"

# hs NAME URLHOST PATH CURLARGS...: HTTPS request to mta-sts.<URLHOST> with
# full verification; headers to $OUT/NAME.h, body to $OUT/NAME.b; prints
# the status code and records it in $CODES.
hs() {
    local name=$1 host=$2 path=$3 code
    shift 3
    code=$(hurl --cacert "$CA" --max-redirs 0 \
        --resolve "$host:$HTTPS_PORT:127.0.0.1" -D "$OUT/$name.h" \
        -o "$OUT/$name.b" -w '%{http_code}' "$@" \
        "https://$host:$HTTPS_PORT$path")
    printf '%s\n' "$code" >>"$CODES"
    grep -qi '^location:' "$OUT/$name.h" 2>/dev/null &&
        printf 'Location:%s\n' "$name" >>"$CODES"
    printf '%s' "$code"
}

# hp NAME HOSTHEADER PATH CURLARGS...: plain HTTP request on the HTTP port.
hp() {
    local name=$1 host=$2 path=$3
    shift 3
    hurl --max-redirs 0 -H "Host: $host" -D "$OUT/$name.h" \
        -o "$OUT/$name.b" -w '%{http_code}' "$@" \
        "http://127.0.0.1:$HTTP_PORT$path"
}

# hdr FILE NAME: the value of header NAME in a curl -D file (last one).
hdr() {
    grep -i "^$2:" "$1" | tail -n 1 | cut -d: -f2- | sed 's/^ *//; s/\r$//'
}

# scrape FILE: save the metrics.
scrape() { hurl "http://127.0.0.1:$HTTP_PORT/metrics" >"$1"; }

# raw_tls SNI REQUEST: send REQUEST (printf format) over TLS to the HTTPS
# port with SNI, verifying against the test CA; print the raw response.
cat >"$T/raw.py" <<'EOF'
import socket, ssl, sys
port, sni, ca, req = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
s = socket.create_connection(("127.0.0.1", port), timeout=5)
t = ctx.wrap_socket(s, server_hostname=sni)
t.sendall(req.encode("latin-1").decode("unicode_escape").encode("latin-1"))
out = b""
while True:
    try:
        chunk = t.recv(65536)
    except (ssl.SSLError, OSError):
        break
    if not chunk:
        break
    out += chunk
sys.stdout.buffer.write(out)
EOF
raw_tls() {
    timeout 10 python3 "$T/raw.py" "$HTTPS_PORT" "$1" "$CA" "$2"
}
# no_body FILE: a raw response with nothing after the header block.
no_body() {
    python3 -c 'import sys
d = open(sys.argv[1], "rb").read()
i = d.find(b"\r\n\r\n")
sys.exit(0 if i > 0 and d[i + 4:] == b"" else 1)' "$1"
}
# raw_no_body WHAT STATUS HOST FILE REQUEST: send REQUEST raw over TLS to
# HOST; pass when the answer has STATUS and nothing after the headers.
raw_no_body() {
    raw_tls "$3" "$5" >"$4"
    if head -c 15 "$4" | grep -q "^HTTP/1.1 $2" && no_body "$4"; then
        pass "$1 -> $2 with nothing after the headers"
    else
        fail "$1 -> $2 with nothing after the headers ($(head -c 300 "$4" | tr '\r\n' '  '))"
    fi
}

# ---- start the host -------------------------------------------------------

LOG=$T/host.log
if host_start "$LOG" "http://127.0.0.1:$HTTP_PORT/healthz" serve \
    --domain example.com --domain example.net --policy-dir "$POL" \
    --cert-dir "$CERTS" --https "127.0.0.1:$HTTPS_PORT" \
    --http "127.0.0.1:$HTTP_PORT"; then
    pass "host starts and /healthz answers on the plain HTTP listener"
else
    fail "host starts and /healthz answers on the plain HTTP listener"
    sed 's/^/  | /' "$LOG"
    e2e_finish
fi
MAIN_PID=$HOST_PID

# Ids as the dns command and the log print them.
"$MTA_STS_HOST" dns --domain example.com --domain example.net \
    --policy-dir "$POL" >"$OUT/dns.txt" 2>&1
dns_id() {
    sed -n "s/^_mta-sts\.$1\. IN TXT \"v=STSv1; id=\([A-Za-z0-9]*\)\"\$/\1/p" \
        "$OUT/dns.txt"
}
ID_COM=$(dns_id example.com)
ID_NET=$(dns_id example.net)
for d in example.com example.net; do
    id=$(dns_id "$d")
    log_id=$(sed -n "s/.*publish: _mta-sts\.$d\. IN TXT \"v=STSv1; id=\([A-Za-z0-9]*\)\".*/\1/p" "$LOG" | tail -n 1)
    if [[ $id =~ ^[A-Za-z0-9]{1,32}$ ]]; then
        pass "$d: dns prints an id of 1-32 [A-Za-z0-9] ($id)"
    else
        fail "$d: dns prints an id of 1-32 [A-Za-z0-9] (got '$id')"
    fi
    check_eq "$d: log publish: id equals the dns id" "$id" "$log_id"
done
if [ -n "$ID_COM" ] && [ "$ID_COM" != "$ID_NET" ]; then
    pass "the two domains have different ids"
else
    fail "the two domains have different ids ($ID_COM vs $ID_NET)"
fi

# ---- per-domain policy, certificate and headers ---------------------------

for d in example.com example.net; do
    h=mta-sts.$d
    if [ "$d" = example.com ]; then
        id=$ID_COM want_ct="text/plain" want_cn="CN=mta-sts.example.com"
        want_key="EC/ECDSA"
    else
        id=$ID_NET want_ct="text/plain; charset=utf-8" want_cn="CN=\*.example.net"
        want_key="RSA"
    fi
    code=$(hs "get.$d" "$h" "$PP" -v 2>"$OUT/get.$d.v")
    check_eq "$d: GET policy with full verification -> 200" 200 "$code"
    check "$d: body is byte-exact the CRLF served form" \
        cmp -s "$T/expect.$d" "$OUT/get.$d.b"
    check_eq "$d: Content-Type" "$want_ct" "$(hdr "$OUT/get.$d.h" content-type)"
    check_eq "$d: ETag is the quoted dns/log id" "\"$id\"" \
        "$(hdr "$OUT/get.$d.h" etag)"
    check_file_contains "$d: curl sees certificate subject $want_cn" \
        "subject: $want_cn\$" "$OUT/get.$d.v"
    check_file_contains "$d: curl matched the SAN" \
        "subjectAltName: host \"$h\" matched" "$OUT/get.$d.v"
    echo | timeout 10 gnutls-cli -p "$HTTPS_PORT" --x509cafile "$CA" \
        --sni-hostname "$h" --verify-hostname "$h" --print-cert 127.0.0.1 \
        >"$OUT/cert.$d" 2>&1
    check_file_contains "$d: gnutls-cli completes the handshake with SNI $h" \
        "Handshake was completed" "$OUT/cert.$d"
    if grep -A1 'Certificate\[0\] info:' "$OUT/cert.$d" |
        grep -q "subject \`$want_cn'.*$want_key key" &&
        grep -q 'The certificate is trusted' "$OUT/cert.$d"; then
        pass "$d: served leaf is $want_cn with a $want_key key, trusted"
    else
        fail "$d: served leaf is $want_cn with a $want_key key, trusted"
    fi

    code=$(hs "inm.$d" "$h" "$PP" -H "If-None-Match: \"$id\"")
    check_eq "$d: If-None-Match with the ETag -> 304" 304 "$code"
    raw_no_body "$d: raw conditional GET" 304 "$h" "$OUT/raw304.$d" \
        "GET $PP HTTP/1.1\\r\\nHost: $h\\r\\nIf-None-Match: \"$id\"\\r\\nConnection: close\\r\\n\\r\\n"
    check_eq "$d: 304 repeats the ETag" "\"$id\"" "$(hdr "$OUT/inm.$d.h" etag)"
    code=$(hs "inm2.$d" "$h" "$PP" -H 'If-None-Match: "other"')
    check_eq "$d: If-None-Match with another tag -> 200" 200 "$code"

    code=$(hs "head.$d" "$h" "$PP" -I)
    check_eq "$d: HEAD -> 200" 200 "$code"
    check_eq "$d: HEAD has the GET Content-Type" "$want_ct" \
        "$(hdr "$OUT/head.$d.h" content-type)"
    check_eq "$d: HEAD has the GET ETag" "\"$id\"" "$(hdr "$OUT/head.$d.h" etag)"
    check_eq "$d: HEAD Content-Length is the body length" \
        "$(wc -c <"$T/expect.$d")" "$(hdr "$OUT/head.$d.h" content-length)"
    # curl never reads a HEAD body, so look at the raw bytes.
    raw_no_body "$d: raw HEAD" 200 "$h" "$OUT/rawhead.$d" \
        "HEAD $PP HTTP/1.1\\r\\nHost: $h\\r\\nConnection: close\\r\\n\\r\\n"
done

# ---- routing errors -------------------------------------------------------

code=$(hurl -k --resolve "mta-sts.unknown.org:$HTTPS_PORT:127.0.0.1" \
    -o /dev/null -w '%{http_code}' "https://mta-sts.unknown.org:$HTTPS_PORT$PP")
echo "$code" >>"$CODES"
check_eq "unknown host (SNI and Host mta-sts.unknown.org) -> 404" 404 "$code"
code=$(hurl -k -H 'Host: mta-sts.unknown.org' -o /dev/null \
    -w '%{http_code}' "https://127.0.0.1:$HTTPS_PORT$PP")
echo "$code" >>"$CODES"
check_eq "unknown Host header without SNI -> 404" 404 "$code"
code=$(hs other mta-sts.example.com /.well-known/other.txt)
check_eq "other path on a served host -> 404" 404 "$code"
code=$(hs root mta-sts.example.com /)
check_eq "/ on a served host -> 404" 404 "$code"
for m in POST PUT DELETE; do
    code=$(hs "m.$m" mta-sts.example.com "$PP" -X "$m" -d x)
    check_eq "$m policy -> 405" 405 "$code"
    check_eq "$m policy -> Allow: GET, HEAD" "GET, HEAD" \
        "$(hdr "$OUT/m.$m.h" allow)"
done
code=$(hs misdirected mta-sts.example.com "$PP" -H "Host: mta-sts.example.net")
check_eq "SNI mta-sts.example.com with Host mta-sts.example.net -> 421" \
    421 "$code"
code=$(hs case mta-sts.example.com "$PP" \
    -H "Host: MTA-STS.EXAMPLE.COM.:$HTTPS_PORT")
check_eq "Host MTA-STS.EXAMPLE.COM.:PORT -> 200" 200 "$code"
check "Host MTA-STS.EXAMPLE.COM.:PORT gets example.com's policy" \
    cmp -s "$T/expect.example.com" "$OUT/case.b"
code=$(hs noport mta-sts.example.net "$PP" -H "Host: mta-sts.example.net")
check_eq "Host without port -> 200" 200 "$code"

code=$(hs hz1 mta-sts.example.com /healthz)
check_eq "HTTPS /healthz with a served Host -> 200" 200 "$code"
code=$(hs hz2 mta-sts.example.com /healthz -H 'Host: anything.invalid')
check_eq "HTTPS /healthz with any Host -> 200" 200 "$code"
if python3 - "$OUT/hz2.b" <<'EOF'; then
import json, sys
raw = open(sys.argv[1]).read()
h = json.loads(raw)
assert list(h) == ["status", "domains", "servable", "unwell", "problems",
                   "generation"], h
assert h["status"] == "ok" and h["domains"] == 2 and h["servable"] == 2, h
assert "example" not in raw and "/" not in raw, raw
EOF
    pass "HTTPS /healthz is the constant-size JSON: ok, 2 domains, no names or paths"
else
    fail "HTTPS /healthz is the constant-size JSON: ok, 2 domains, no names or paths ($(head -c 300 "$OUT/hz2.b"))"
fi
code=$(hs st1 mta-sts.example.com /status)
check_eq "HTTPS /status (per-domain detail) -> 404" 404 "$code"
if grep -q example "$OUT/st1.b"; then
    fail "HTTPS /status answer names no domain"
else
    pass "HTTPS /status answer names no domain"
fi

# No 3xx anywhere on HTTPS, including the policy path on every host form.
hs r1 mta-sts.example.com "$PP" -H 'Host: mta-sts.example.com:443' >/dev/null
hs r2 mta-sts.example.com "$PP/" >/dev/null
hs r3 mta-sts.example.com "/.well-known/mta-sts.txt?x=1" >/dev/null
n3=$(grep -cE '^(30[0-35-9]|Location)' "$CODES")
n_all=$(grep -c '^[0-9]' "$CODES")
if [ "$n3" -eq 0 ] && [ "$n_all" -ge 20 ]; then
    pass "no redirect (3xx other than 304, or Location) in any of the $n_all HTTPS responses"
else
    fail "no redirect in any HTTPS response ($n3 of $n_all: $(sort "$CODES" | uniq -c | tr '\n' ' '))"
fi

# ---- plain HTTP listener --------------------------------------------------

code=$(hp hhz 127.0.0.1 /healthz)
check_eq "HTTP /healthz -> 200" 200 "$code"
if python3 - "$OUT/hhz.b" <<'EOF'; then
import json, sys
h = json.load(open(sys.argv[1]))
assert h["status"] == "ok", h
assert (h["domains"], h["servable"], h["unwell"], h["problems"]) == \
    (2, 2, 0, 0), h
assert isinstance(h["generation"], int) and h["generation"] >= 1, h
EOF
    pass "HTTP /healthz is JSON: status ok, 2 domains, both servable, none unwell"
else
    fail "HTTP /healthz is JSON: status ok, 2 domains, both servable, none unwell ($(head -c 300 "$OUT/hhz.b"))"
fi
check "HTTP /healthz has the same counts as HTTPS /healthz" \
    cmp -s "$OUT/hhz.b" "$OUT/hz2.b"
check_eq "HTTP /healthz Content-Type" application/json \
    "$(hdr "$OUT/hhz.h" content-type)"
code=$(hp hst 127.0.0.1 /status)
check_eq "HTTP /status -> 200" 200 "$code"
check_eq "HTTP /status Content-Type" application/json \
    "$(hdr "$OUT/hst.h" content-type)"
if python3 - "$OUT/hst.b" "$OUT/hhz.b" "$ID_COM" "$ID_NET" <<'EOF'; then
import json, sys
s = json.load(open(sys.argv[1]))
assert s["health"] == json.load(open(sys.argv[2])), s["health"]
assert s["problems"] == [], s["problems"]
doms = {d["domain"]: d for d in s["domains"]}
ids = {k: d["policy"]["id"] for k, d in doms.items()}
assert ids == {"example.com": sys.argv[3], "example.net": sys.argv[4]}, ids
com, net = doms["example.com"], doms["example.net"]
for d in (com, net):
    assert d["ok"] is True and d["servable"] is True, d
    assert d["policy_problem"] is None and d["certificate_problem"] is None, d
    # The test CA is not in the system trust store.
    assert d["certificate"]["trusted"] is False, d
    assert d["certificate"]["dev"] is False, d
    assert "certificate_rsa" not in d, d
assert com["policy"]["mode"] == "enforce" and com["policy"]["max_age"] == 604800, com
assert com["policy"]["source"].endswith("/mta-sts.txt"), com
assert net["policy"]["mode"] == "testing" and net["policy"]["max_age"] == 1209600, net
assert net["policy"]["source"].endswith("/example.net.txt"), net
assert com["certificate"]["subject"] == "mta-sts.example.com", com
assert com["certificate"]["source"].endswith("example.com.crt"), com
assert net["certificate"]["subject"] == "*.example.net", net
assert net["certificate"]["source"].endswith("example.net.pem"), net
EOF
    pass "HTTP /status: both domains ok with their policy ids, modes, sources and certificates"
else
    fail "HTTP /status: both domains ok with their policy ids, modes, sources and certificates ($(head -c 600 "$OUT/hst.b"))"
fi
code=$(hp hm 127.0.0.1 /metrics)
check_eq "HTTP /metrics -> 200" 200 "$code"
for d in example.com example.net; do
    code=$(hp "redir.$d" "mta-sts.$d" "$PP")
    check_eq "HTTP policy path on mta-sts.$d -> 301" 301 "$code"
    check_eq "HTTP policy path on mta-sts.$d -> Location" \
        "https://mta-sts.$d$PP" "$(hdr "$OUT/redir.$d.h" location)"
done
code=$(hp redir.other "mta-sts.example.com:$HTTP_PORT" /some/where)
check_eq "HTTP other path on a served host (Host with port) -> 301" 301 "$code"
check_eq "HTTP other path -> Location https://mta-sts.example.com/some/where" \
    "https://mta-sts.example.com/some/where" \
    "$(hdr "$OUT/redir.other.h" location)"
code=$(hp unk mta-sts.unknown.org "$PP")
check_eq "HTTP unknown host -> 404" 404 "$code"

# ---- TLS versions ---------------------------------------------------------

hs_failures() { file_metric mta_sts_tls_handshake_failures_total "$1"; }
# tls_failures_reach BASE N: the live counter is at least BASE + N.
tls_failures_reach() {
    scrape "$OUT/m.tmp"
    [ "$(hs_failures "$OUT/m.tmp")" -ge $(($1 + $2)) ] 2>/dev/null
}
scrape "$OUT/m.tls0"
for v in TLS1.0 TLS1.1 TLS1.2 TLS1.3; do
    echo | timeout 10 gnutls-cli -d 4 -p "$HTTPS_PORT" --x509cafile "$CA" \
        --sni-hostname mta-sts.example.com \
        --verify-hostname mta-sts.example.com \
        --priority "NORMAL:-VERS-ALL:+VERS-$v" 127.0.0.1 \
        >"$OUT/tls.$v" 2>&1
    rc=$?
    case $v in
    TLS1.0 | TLS1.1)
        adv=$([ $v = TLS1.0 ] && echo 3.1 || echo 3.2)
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] &&
            grep -q "Adv. version: $adv" "$OUT/tls.$v" &&
            ! grep -q 'Handshake was completed' "$OUT/tls.$v"; then
            pass "$v handshake (offered as $adv) is refused"
        else
            fail "$v handshake (offered as $adv) is refused (rc $rc)"
        fi
        ;;
    *)
        if [ "$rc" -eq 0 ] && grep -q 'Handshake was completed' "$OUT/tls.$v" &&
            grep -q "Description: ($v-X.509)" "$OUT/tls.$v"; then
            pass "$v handshake succeeds with full verification"
        else
            fail "$v handshake succeeds with full verification (rc $rc)"
        fi
        ;;
    esac
    if [ $v = TLS1.1 ]; then
        # The counter moves when the server closes the connection.
        wait_until 5 tls_failures_reach "$(hs_failures "$OUT/m.tls0")" 2
        scrape "$OUT/m.tls1"
    fi
done
sleep 1
scrape "$OUT/m.tls2"
f0=$(hs_failures "$OUT/m.tls0")
f1=$(hs_failures "$OUT/m.tls1")
f2=$(hs_failures "$OUT/m.tls2")
check_eq "the 2 refused handshakes count as TLS handshake failures" 2 \
    "$((${f1:-0} - ${f0:-0}))"
check_eq "the 2 completed TLS 1.2/1.3 handshakes (no request) do not count as failures" \
    0 "$((${f2:-0} - ${f1:-0}))"

# ---- session resumption ---------------------------------------------------
# gnutls-cli --resume connects, then reconnects with the session ticket and
# sends stdin on the resumed connection. A resumed session never asks for a
# certificate, so the 421 for a Host that does not match the SNI also shows
# that the server name is known on resumed connections.
for v in TLS1.2 TLS1.3; do
    for host in mta-sts.example.com mta-sts.example.net; do
        printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' \
            "$PP" "$host" |
            timeout 10 gnutls-cli -p "$HTTPS_PORT" --x509cafile "$CA" \
                --sni-hostname mta-sts.example.com \
                --verify-hostname mta-sts.example.com --resume \
                --priority "NORMAL:-VERS-ALL:+VERS-$v" 127.0.0.1 \
                >"$OUT/resume.$v.$host" 2>&1
        want=$([ $host = mta-sts.example.com ] && echo 200 || echo 421)
        if grep -q 'This is a resumed session' "$OUT/resume.$v.$host" &&
            grep -q "^HTTP/1.1 $want " "$OUT/resume.$v.$host"; then
            pass "$v: resumed session, SNI example.com, Host $host -> $want"
        else
            fail "$v: resumed session, SNI example.com, Host $host -> $want"
        fi
    done
done
sleep 1
scrape "$OUT/m.tls3"
check_eq "resumed handshakes do not count as TLS handshake failures" 0 \
    "$(($(hs_failures "$OUT/m.tls3") - ${f2:-0}))"

# ---- metrics and access log: exact deltas for a known batch ---------------

access_count() { grep -c ' access ' "$LOG"; }
# log_settled: the access line count did not change for 0.5 s.
log_settled() {
    local c
    c=$(access_count)
    sleep 0.5
    [ "$c" = "$(access_count)" ]
}
scrape "$OUT/m.before"
wait_until 5 log_settled
a0=$(access_count)
hs b1 mta-sts.example.com "$PP" >/dev/null
hs b2 mta-sts.example.net "$PP" >/dev/null
hs b3 mta-sts.example.com "$PP" -I >/dev/null
hs b4 mta-sts.example.com /nope >/dev/null
hs b5 mta-sts.example.com "$PP" -X DELETE >/dev/null
hs b6 mta-sts.example.net "$PP" -H "If-None-Match: \"$ID_NET\"" >/dev/null
wait_until 5 eval '[ "$(access_count)" -ge $((a0 + 6)) ]'
wait_until 5 log_settled
a1=$(access_count)
check_eq "one access log line per request (6 requests)" 6 "$((a1 - a0))"
tail -n 6 "$LOG" | grep ' access ' >"$OUT/access.tail"
check_file_contains "access line for DELETE shows method, host, path, status" \
    "access 127\.0\.0\.1 https DELETE host=\"?mta-sts\.example\.com:$HTTPS_PORT\"? path=\"?/\.well-known/mta-sts\.txt\"? status=405" \
    "$OUT/access.tail"
check_file_contains "access line for the 304 shows status and bytes=0" \
    "status=304 bytes=0 " "$OUT/access.tail"
scrape "$OUT/m.after"
for c in 200:3 304:1 404:1 405:1; do
    k="mta_sts_http_requests_total{listener=\"https\",code=\"${c%%:*}\"}"
    b=$(file_metric "$k" "$OUT/m.before")
    a=$(file_metric "$k" "$OUT/m.after")
    check_eq "https code ${c%%:*} counter grew by ${c#*:}" "${c#*:}" \
        "$(( ${a:-0} - ${b:-0} ))"
done

# A method is client text like the Host and path: the text log escapes it,
# so a terminal escape sequence in it cannot recolour or forge a line.
a0=$(access_count)
hs esc mta-sts.example.com "$PP" -X $'G\x1b[31mET' >/dev/null
wait_until 5 eval '[ "$(access_count)" -gt $a0 ]'
check_file_contains "access line escapes a control byte in the method" \
    'access 127\.0\.0\.1 https G\\x1b\[31mET host=' "$LOG"
if grep -q $'\x1b' "$LOG"; then
    fail "no raw ESC byte in the text log"
else
    pass "no raw ESC byte in the text log"
fi

promtool check metrics <"$OUT/m.after" >"$OUT/promtool.txt" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
    pass "promtool check metrics passes"
else
    fail "promtool check metrics passes (rc $rc: $(head -c 400 "$OUT/promtool.txt"))"
fi
for d in example.com example.net; do
    id=$([ $d = example.com ] && echo "$ID_COM" || echo "$ID_NET")
    check_file_contains "metrics: policy id for $d" \
        "^mta_sts_policy_info\{.*domain=\"$d\".*id=\"$id\".*\} 1$" \
        "$OUT/m.after"
    cf=$([ $d = example.com ] && echo "$CERTS/example.com.crt" || echo "$CERTS/example.net.pem")
    na=$(certtool -i --infile "$cf" 2>/dev/null |
        sed -n 's/^[[:space:]]*Not After: //p' | head -n 1)
    want=$(date -u -d "$na" +%s 2>/dev/null)
    got=$(file_metric "mta_sts_certificate_expiry_timestamp_seconds{domain=\"$d\"}" "$OUT/m.after")
    check_eq "metrics: certificate expiry for $d equals the certificate's not-after" \
        "${want:-none}" "${got:-missing}"
    check_eq "metrics: mta_sts_domain_ok for $d is 1" 1 \
        "$(file_metric "mta_sts_domain_ok{domain=\"$d\"}" "$OUT/m.after")"
    check_eq "metrics: certificate of $d (test CA, not system-trusted) is untrusted" 0 \
        "$(file_metric "mta_sts_certificate_trusted{domain=\"$d\"}" "$OUT/m.after")"
    check_eq "metrics: mta_sts_policy_degraded for $d is 0" 0 \
        "$(file_metric "mta_sts_policy_degraded{domain=\"$d\"}" "$OUT/m.after")"
done
for st in all:2 servable:2 ok:2; do
    check_eq "metrics: mta_sts_domains{state=\"${st%%:*}\"} is ${st#*:}" "${st#*:}" \
        "$(file_metric "mta_sts_domains{state=\"${st%%:*}\"}" "$OUT/m.after")"
done
check_eq "metrics: mta_sts_problems is 0" 0 \
    "$(file_metric mta_sts_problems "$OUT/m.after")"

# The policy is served for the exact path only: a percent-encoded variant
# is another resource, and the access log shows the path as received.
raw_tls mta-sts.example.com \
    "GET /.well-known/mta%2Dsts.txt HTTP/1.1\\r\\nHost: mta-sts.example.com\\r\\nConnection: close\\r\\n\\r\\n" \
    >"$OUT/pct.raw"
check_eq "percent-encoded policy path (mta%2Dsts.txt) -> 404" "HTTP/1.1 404" \
    "$(head -c 12 "$OUT/pct.raw")"
wait_until 5 grep -q 'mta%2Dsts' "$LOG"
check_file_contains "access log shows the percent-encoded path as received" \
    'access .* path="?/\.well-known/mta%2Dsts\.txt"? status=404' "$LOG"

# A client that leaves in the middle of its request body is no server error.
k500='mta_sts_http_requests_total{listener="http",code="500"}'
kab='mta_sts_http_requests_aborted_total{listener="http"}'
scrape "$OUT/m.ab0"
python3 - "$HTTP_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"POST /x HTTP/1.1\r\nHost: mta-sts.example.com\r\n"
          b"Content-Length: 100\r\n\r\n0123456789")
time.sleep(0.3)  # the server has seen the request start
s.close()
PY
sleep 0.5
scrape "$OUT/m.ab1"
check_eq "an abandoned request counts as aborted" 1 \
    "$(( $(file_metric "$kab" "$OUT/m.ab1") - $(file_metric "$kab" "$OUT/m.ab0") ))"
check_eq "an abandoned request is not counted as a 500" \
    "$(file_metric "$k500" "$OUT/m.ab0")" "$(file_metric "$k500" "$OUT/m.ab1")"

# ---- SIGTERM on the main host ---------------------------------------------

host_stop "$MAIN_PID" 12
check_eq "main host exits 0 on SIGTERM" 0 "$HOST_RC"
check_file_contains "log says SIGTERM drains" "SIGTERM: finishing requests" "$LOG"

# ---- start-up failures ----------------------------------------------------

# startup_fails WHAT PATTERN ARG...: `serve ARG...` exits non-zero (not by
# timeout or kill) with PATTERN (extended regex) in its output.
startup_fails() {
    local what=$1 pattern=$2 out="$OUT/startup.$RANDOM.txt" rc
    shift 2
    run_bounded 15 "$out" "$MTA_STS_HOST" serve "${ROOT_ARGS[@]}" "$@" \
        --https "127.0.0.1:$(free_port)" --http off
    rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ]; then
        pass "start-up with $what exits non-zero (rc $rc)"
    else
        fail "start-up with $what exits non-zero (rc $rc)"
    fi
    check_file_contains "... and says $pattern" "$pattern" "$out"
}

# A domain no certificate covers is that domain's problem only: the host
# starts, serves the covered one, and reports the other.
UNC_HTTPS=$(free_port)
UNC_HTTP=$(free_port)
UNCLOG=$T/uncovered.log
if host_start "$UNCLOG" "http://127.0.0.1:$UNC_HTTP/healthz" serve \
    --domain example.com --domain example.org --policy-dir "$POL" \
    --cert-dir "$CERTS" --https "127.0.0.1:$UNC_HTTPS" \
    --http "127.0.0.1:$UNC_HTTP"; then
    pass "start-up with an uncovered domain serves the covered one"
    UNC_PID=$HOST_PID
    code=$(hurl --cacert "$CA" -o "$OUT/unc.b" -w '%{http_code}' \
        --resolve "mta-sts.example.com:$UNC_HTTPS:127.0.0.1" \
        "https://mta-sts.example.com:$UNC_HTTPS$PP")
    check_eq "uncovered example.org: example.com still gets its policy" 200 "$code"
    check "uncovered example.org: example.com's policy byte-exact" \
        cmp -s "$T/expect.example.com" "$OUT/unc.b"
    code=$(hurl -k -o /dev/null -w '%{http_code}' \
        --resolve "mta-sts.example.org:$UNC_HTTPS:127.0.0.1" \
        "https://mta-sts.example.org:$UNC_HTTPS$PP")
    check_eq "uncovered example.org is not served (404)" 404 "$code"
    code=$(hurl --cacert "$CA" -o /dev/null -w '%{http_code}' \
        --resolve "mta-sts.example.org:$UNC_HTTPS:127.0.0.1" \
        "https://mta-sts.example.org:$UNC_HTTPS$PP")
    check_eq "uncovered example.org: no certificate verifies for its name" \
        000 "$code"
    check_file_contains "log: error level, example.org: no certificate covers" \
        "error.*example\.org: no certificate covers mta-sts\.example\.org" "$UNCLOG"
    code=$(hurl -o "$OUT/unc.hz" -w '%{http_code}' \
        "http://127.0.0.1:$UNC_HTTP/healthz")
    check_eq "uncovered example.org: /healthz -> 200" 200 "$code"
    if python3 - "$OUT/unc.hz" <<'EOF'; then
import json, sys
h = json.load(open(sys.argv[1]))
assert h["status"] == "degraded", h
# example.com, example.org and example.net (from example.net.txt).
assert (h["domains"], h["servable"], h["unwell"]) == (3, 2, 1), h
EOF
        pass "uncovered example.org: /healthz degraded, 3 domains, 2 servable, 1 unwell"
    else
        fail "uncovered example.org: /healthz degraded, 3 domains, 2 servable, 1 unwell ($(cat "$OUT/unc.hz"))"
    fi
    hurl -o "$OUT/unc.st" "http://127.0.0.1:$UNC_HTTP/status"
    if python3 - "$OUT/unc.st" <<'EOF'; then
import json, sys
doms = {d["domain"]: d for d in json.load(open(sys.argv[1]))["domains"]}
org, com = doms["example.org"], doms["example.com"]
assert org["servable"] is False and org["ok"] is False, org
assert org["certificate"] is None, org
assert org["certificate_problem"].startswith(
    "no certificate covers mta-sts.example.org"), org
assert com["ok"] is True and com["certificate_problem"] is None, com
EOF
        pass "uncovered example.org: /status shows its certificate problem, example.com ok"
    else
        fail "uncovered example.org: /status shows its certificate problem, example.com ok ($(head -c 600 "$OUT/unc.st"))"
    fi
    hurl -o "$OUT/unc.m" "http://127.0.0.1:$UNC_HTTP/metrics"
    check_eq "uncovered example.org: mta_sts_domain_ok is 0" 0 \
        "$(file_metric 'mta_sts_domain_ok{domain="example.org"}' "$OUT/unc.m")"
    check_eq "uncovered example.org: example.com's mta_sts_domain_ok is 1" 1 \
        "$(file_metric 'mta_sts_domain_ok{domain="example.com"}' "$OUT/unc.m")"
    host_stop "$UNC_PID" >/dev/null
else
    fail "start-up with an uncovered domain serves the covered one"
    sed 's/^/  | /' "$UNCLOG"
fi

# Not a single domain can be served: start-up fails. (No <domain>.txt
# and no certificate naming an exact mta-sts.<domain>: example.org is the
# only domain.)
mkdir -p "$T/onlydefault" "$T/netcerts"
cp "$POL/mta-sts.txt" "$T/onlydefault/"
cp "$CERTS/example.net.pem" "$T/netcerts/"
startup_fails "only an uncovered domain" \
    "no certificate covers mta-sts\.example\.org" \
    --domain example.org --policy-dir "$T/onlydefault" --cert-dir "$T/netcerts"

mkdir -p "$T/badpol"
printf 'version: STSv1\nmode: bogus\nmx: mail.example.com\nmax_age: 604800\n' \
    >"$T/badpol/mta-sts.txt"
startup_fails "an invalid policy" "mta-sts\.txt:2:7:" \
    --domain example.com --policy-dir "$T/badpol" --cert-dir "$CERTS"

# ---- dual stack: [::] takes IPv4 and IPv6, [::1] is IPv6 only --------------

p6=$(free_port)
h6=$(free_port)
if host_start "$T/v6.log" "http://[::1]:$h6/healthz" serve \
    --domain example.com --policy-dir "$POL" --cert-dir "$CERTS" \
    --https "[::]:$p6" --http "[::1]:$h6"; then
    for ip in 127.0.0.1 "[::1]"; do
        code=$(hurl --cacert "$CA" \
            --resolve "mta-sts.example.com:$p6:$ip" -o "$OUT/v6.b" \
            -w '%{http_code}' "https://mta-sts.example.com:$p6$PP")
        check_eq "[::] listener answers over $ip with full verification" \
            200 "$code"
        check "[::] listener over $ip serves the policy byte-exact" \
            cmp -s "$T/expect.example.com" "$OUT/v6.b"
    done
    check_eq "[::1] plain-HTTP listener answers /healthz over IPv6" 200 \
        "$(hurl -o /dev/null -w '%{http_code}' "http://[::1]:$h6/healthz")"
    if hurl -o /dev/null "http://127.0.0.1:$h6/healthz"; then
        fail "[::1] plain-HTTP listener is not reachable over IPv4"
    else
        pass "[::1] plain-HTTP listener is not reachable over IPv4"
    fi
    host_stop "$HOST_PID" >/dev/null
else
    fail "host on [::] and [::1] starts"
fi

# ---- dev certificate, JSON log, separate metrics listener -----------------

mkdir -p "$T/emptycerts"
HTTPS_PORT=$(free_port)
HTTP_PORT=$(free_port)
MPORT=$(free_port)
DEVLOG=$T/dev.log
if host_start "$DEVLOG" "http://127.0.0.1:$HTTP_PORT/healthz" serve \
    --domain example.com --policy-dir "$POL" --cert-dir "$T/emptycerts" \
    --https "127.0.0.1:$HTTPS_PORT" --http "127.0.0.1:$HTTP_PORT" \
    --metrics "127.0.0.1:$MPORT" --log-format json; then
    pass "dev run (empty cert dir) starts"
    DEV_PID=$HOST_PID
    code=$(hurl -k --resolve "mta-sts.example.com:$HTTPS_PORT:127.0.0.1" \
        -o "$OUT/dev.b" -w '%{http_code}' \
        "https://mta-sts.example.com:$HTTPS_PORT$PP")
    check_eq "dev run: curl -k gets 200" 200 "$code"
    check "dev run: curl -k gets the policy byte-exact" \
        cmp -s "$T/expect.example.com" "$OUT/dev.b"
    code=$(hurl --cacert "$CA" \
        --resolve "mta-sts.example.com:$HTTPS_PORT:127.0.0.1" \
        -o /dev/null -w '%{http_code}' \
        "https://mta-sts.example.com:$HTTPS_PORT$PP")
    check_eq "dev run: curl with verification refuses the dev certificate" \
        000 "$code"
    echo | timeout 10 gnutls-cli --insecure -p "$HTTPS_PORT" \
        --sni-hostname mta-sts.example.com --print-cert 127.0.0.1 \
        >"$OUT/dev.cert" 2>&1
    sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' \
        "$OUT/dev.cert" | awk '/BEGIN/{n++} n==1' >"$OUT/dev.leaf.pem"
    certtool -i --infile "$OUT/dev.leaf.pem" >"$OUT/dev.leaf.txt" 2>&1
    subj=$(sed -n 's/^[[:space:]]*Subject: //p' "$OUT/dev.leaf.txt" | head -n 1)
    iss=$(sed -n 's/^[[:space:]]*Issuer: //p' "$OUT/dev.leaf.txt" | head -n 1)
    if [ -n "$subj" ] && [ "$subj" = "$iss" ]; then
        pass "dev run: served certificate is self-signed ($subj)"
    else
        fail "dev run: served certificate is self-signed (subject '$subj', issuer '$iss')"
    fi
    check_file_contains "dev run: certificate names mta-sts.example.com" \
        "DNSname: mta-sts\.example\.com$" "$OUT/dev.leaf.txt"
    # The dev certificate is rightly CA:FALSE, so GnuTLS will not take it
    # as its own trust anchor; openssl checks just the self-signature.
    if command -v openssl >/dev/null; then
        check "dev run: certificate's signature verifies with its own key (openssl)" \
            openssl verify -CAfile "$OUT/dev.leaf.pem" "$OUT/dev.leaf.pem"
    fi
    code=$(hurl -o "$OUT/devm.b" -w '%{http_code}' \
        "http://127.0.0.1:$MPORT/metrics")
    check_eq "dev run: /metrics on the separate metrics listener -> 200" \
        200 "$code"
    check_file_contains "dev run: metrics list the policy id" \
        "^mta_sts_policy_info\{domain=\"example.com\",id=\"$ID_COM\"" \
        "$OUT/devm.b"
    code=$(hurl -o /dev/null -w '%{http_code}' \
        "http://127.0.0.1:$HTTP_PORT/metrics")
    check_eq "dev run: /metrics is not on the HTTP listener when --metrics is set" \
        404 "$code"
    check_eq "dev run: the dev certificate counts as untrusted in the metrics" 0 \
        "$(file_metric 'mta_sts_certificate_trusted{domain="example.com"}' "$OUT/devm.b")"
    code=$(hurl -o "$OUT/devst.b" -w '%{http_code}' \
        "http://127.0.0.1:$MPORT/status")
    check_eq "dev run: /status on the separate metrics listener -> 200" \
        200 "$code"
    if python3 - "$OUT/devst.b" <<'EOF'; then
import json, sys
doms = {d["domain"]: d for d in json.load(open(sys.argv[1]))["domains"]}
c = doms["example.com"]["certificate"]
assert c["dev"] is True and c["trusted"] is False, c
assert c["subject"] == "mta-sts.example.com", c
EOF
        pass "dev run: /status says example.com has the untrusted dev certificate"
    else
        fail "dev run: /status says example.com has the untrusted dev certificate ($(head -c 600 "$OUT/devst.b"))"
    fi
    code=$(hurl -o /dev/null -w '%{http_code}' \
        "http://127.0.0.1:$HTTP_PORT/status")
    check_eq "dev run: /status is not on the HTTP listener when --metrics is set" \
        404 "$code"
    wait_until 5 grep -q '"access"' "$DEVLOG"
    sleep 0.5
    if python3 - "$DEVLOG" "$ID_COM" <<'EOF'; then
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
assert lines, "empty log"
objs = [json.loads(l) for l in lines]
warn = [o for o in objs if "SELF-SIGNED" in json.dumps(o)]
assert warn, "no SELF-SIGNED line"
assert any(o.get("level") == "warn" for o in warn), warn
acc = [o for o in objs if o.get("msg") == "access"]
assert any(o.get("path") == "/.well-known/mta-sts.txt" and o.get("status") == 200
           and o.get("listener") == "https" and o.get("method") == "GET"
           for o in acc), acc
assert any(sys.argv[2] in json.dumps(o) and "publish" in json.dumps(o)
           for o in objs), "no publish line with the id"
EOF
        pass "dev run: every log line is JSON; SELF-SIGNED warning, access and publish lines present"
    else
        fail "dev run: every log line is JSON; SELF-SIGNED warning, access and publish lines present"
        sed 's/^/  | /' "$DEVLOG" | head -n 30
    fi
    host_stop "$DEV_PID" 12
    check_eq "dev run exits 0 on SIGTERM" 0 "$HOST_RC"
else
    fail "dev run (empty cert dir) starts"
    sed 's/^/  | /' "$DEVLOG"
fi

# ---- SIGTERM during a slow request ----------------------------------------

mkdir -p "$T/bigpol"
{
    printf 'version: STSv1\nmode: enforce\n'
    for ((i = 1; i <= 2140; i++)); do
        printf 'mx: mx%04d.mail.example.com\n' "$i"
    done
    printf 'max_age: 604800\n'
} >"$T/bigpol/mta-sts.txt"
sed 's/$/\r/' "$T/bigpol/mta-sts.txt" >"$T/expect.big"
HTTPS_PORT=$(free_port)
BIGLOG=$T/big.log
cat >"$T/slow.py" <<'EOF'
# A request that is still in flight when SIGTERM arrives: a GET for the
# large policy whose (ignored) 10-byte body trickles in over ~3 s, so the
# server has the request but cannot answer it before the body is
# complete. Exit 0 when a complete 200 with the expected body (argv[4])
# arrives; prints the seconds from start to the end of the response.
# Creates argv[5] once the request header is sent.
import socket, ssl, sys, time
port, sni, ca, expect_path, sent_path = (int(sys.argv[1]), sys.argv[2],
                                         sys.argv[3], sys.argv[4], sys.argv[5])
expect = open(expect_path, "rb").read()
start = time.time()
s = socket.create_connection(("127.0.0.1", port), timeout=15)
t = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname=sni)
t.sendall(("GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: %s\r\n"
           "Content-Length: 10\r\nConnection: close\r\n\r\n" % sni).encode())
open(sent_path, "w").close()
for _ in range(10):
    time.sleep(0.3)
    t.sendall(b"x")
data = b""
while True:
    try:
        chunk = t.recv(65536)
    except (ssl.SSLError, OSError) as e:
        print("recv:", e, file=sys.stderr)
        break
    if not chunk:
        break
    data += chunk
head, _, body = data.partition(b"\r\n\r\n")
status = head.split(b"\r\n", 1)[0].decode("latin-1")
print("%.1f" % (time.time() - start))
print(status, "received", len(body), "of", len(expect), file=sys.stderr)
sys.exit(0 if status.startswith("HTTP/1.1 200") and body == expect else 1)
EOF
if host_start "$BIGLOG" "https://127.0.0.1:$HTTPS_PORT/healthz" serve \
    --domain example.com --policy-dir "$T/bigpol" --cert-dir "$CERTS" \
    --https "127.0.0.1:$HTTPS_PORT" --http off; then
    BIG_PID=$HOST_PID
    size=$(wc -c <"$T/expect.big")
    log "large policy: $size bytes served"
    big_url="https://mta-sts.example.com:$HTTPS_PORT$PP"
    big_resolve="mta-sts.example.com:$HTTPS_PORT:127.0.0.1"
    # curl's --limit-rate is erratic on small transfers (Debian 12's 7.88
    # sometimes ignores it), so curl's output also goes through a reader
    # that takes ~3 s: curl is then surely mid-transfer at SIGTERM.
    cat >"$T/slowcat.py" <<'EOF'
import sys, time
out = open(sys.argv[1], "wb")
while True:
    b = sys.stdin.buffer.read(2048)
    if not b:
        break
    out.write(b)
    time.sleep(0.1)
EOF
    (
        curl -s --max-time 30 --noproxy '*' --cacert "$CA" --limit-rate 20k \
            --resolve "$big_resolve" -D "$OUT/big.h" "$big_url" |
            python3 "$T/slowcat.py" "$OUT/big.b"
        exit "${PIPESTATUS[0]}"
    ) &
    CURL_PID=$!
    E2E_PIDS+=("$CURL_PID")
    timeout 40 python3 "$T/slow.py" "$HTTPS_PORT" mta-sts.example.com "$CA" \
        "$T/expect.big" "$OUT/slow.sent" >"$OUT/slow.out" 2>"$OUT/slow.err" &
    SLOW_PID=$!
    E2E_PIDS+=("$SLOW_PID")
    # Both requests must have reached the server before the SIGTERM: curl
    # has the response header, the slow client has sent its request header
    # and, a second later (its body takes 3 s), the server has surely read
    # it.
    wait_until 10 eval '[ -s "$OUT/big.h" ] && [ -e "$OUT/slow.sent" ]'
    sleep 1
    if kill -0 "$CURL_PID" 2>/dev/null; then
        pass "slow curl fetch is still in flight"
    else
        fail "slow curl fetch is still in flight"
    fi
    if kill -0 "$SLOW_PID" 2>/dev/null; then
        pass "slow-upload request is still in flight"
    else
        fail "slow-upload request is still in flight ($(cat "$OUT/slow.err"))"
    fi
    t0=${EPOCHREALTIME/./}
    kill -TERM "$BIG_PID"
    if wait_until 3 eval '! port_in_use $HTTPS_PORT'; then
        pass "new connections are refused after SIGTERM"
    else
        fail "new connections are refused after SIGTERM"
    fi
    wait_exit "$BIG_PID" 12
    check_eq "host exits 0 within 12 s of SIGTERM (took $(((${EPOCHREALTIME/./} - t0) / 1000)) ms)" \
        0 "$WAIT_RC"
    wait_exit "$CURL_PID" 30
    check_eq "slow curl fetch: curl exits 0" 0 "$WAIT_RC"
    check_eq "slow curl fetch: status 200" "HTTP/1.1 200 OK" \
        "$(head -n 1 "$OUT/big.h" | tr -d '\r')"
    check "slow curl fetch: body byte-exact ($size bytes)" \
        cmp -s "$T/expect.big" "$OUT/big.b"
    wait_exit "$SLOW_PID" 40
    if [ "$WAIT_RC" = 0 ]; then
        pass "request in flight at SIGTERM (slow upload) gets the whole policy byte-exact ($(cat "$OUT/slow.out") s)"
    else
        fail "request in flight at SIGTERM (slow upload) gets the whole policy byte-exact (rc $WAIT_RC: $(cat "$OUT/slow.out" "$OUT/slow.err" | tr '\n' ' '))"
    fi
    # The request the server was sending at SIGTERM completes after it.
    if sed -n '/SIGTERM: finishing requests/,$p' "$BIGLOG" |
        grep -q " access .*status=200 bytes=$size "; then
        pass "a request in flight at SIGTERM completed after the signal (access log)"
    else
        fail "a request in flight at SIGTERM completed after the signal (access log)"
    fi
else
    fail "large-policy host starts"
    sed 's/^/  | /' "$BIGLOG"
fi

e2e_finish
