#!/usr/bin/env bash
# test_tlsrpt.sh: TLS report reception (RFC 8460 §3) end to end over real
# HTTPS on loopback. A throw-away CA issues the certificate for
# mta-sts.example.com; curl (full verification) POSTs reports to /tlsrpt:
# JSON and gzip samples following RFC 8460's example and each quirk real
# senders have, mislabelled Content-Types, a duplicate (stored once), a
# report for a domain this host does not serve (403, nothing stored),
# garbage, a gzip bomb, an oversized body announced (refused before it is
# sent) and chunked (cut at the cap), other methods, a flood from one
# address (429, another address and policy fetches still served), the
# metrics (promtool), `reports import` of a message and an mbox built by
# Python's email package, the report metrics after a restart and imports
# (promtool; the counts of the samples, a report in both databases once),
# start-up with an unusable state directory, and a host killed with
# SIGKILL during a burst: every report that got a 200 is in the database
# afterwards and none is half-stored; a full writer queue (503 with
# Retry-After) and SIGTERM during a burst; hostile reports: counts that
# would overflow the sums (400), strings forging a verdict line or
# carrying a terminal escape (shown escaped by `reports` and `reports
# import`), a row of 2^62 from an older version (left out with a warning).
# The database is read with Python's sqlite3.
#
# Run by ctest as `bash tests/e2e/test_tlsrpt.sh` with MTA_STS_HOST and
# SRCDIR set; needs root only to install missing tools.
# shellcheck disable=SC2317,SC2016
set -u

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init

need_tools certtool:gnutls-bin curl:curl promtool:prometheus \
    python3:python3

T=$E2E_TMP
POL=$T/policy
CERTS=$T/certs
OUT=$T/out
STATE=$T/state
mkdir -p "$POL" "$CERTS" "$T/ca" "$OUT" "$T/samples" || exit 1

if make_ca "$T/ca" &&
    make_cert "$T/ca" "$CERTS/example.com" ecdsa mta-sts.example.com &&
    make_cert "$T/ca" "$CERTS/example.net" ecdsa mta-sts.example.net; then
    rm -f "$CERTS"/*.pem
    pass "test CA and certificates generated with certtool"
else
    fail "test CA and certificates generated with certtool"
    e2e_finish
fi
CA=$T/ca/ca.pem
printf 'version: STSv1\nmode: testing\nmx: mx1.example.com\nmax_age: 86400\n' \
    >"$POL/mta-sts.txt"

# ---- samples --------------------------------------------------------------

# Our own reports, following RFC 8460's example, one per quirk.
python3 - "$T/samples" <<'EOF'
import gzip, json, os, sys
d = sys.argv[1]
def report(rid, org="Company-X", domain="example.com", start="2016-04-01T00:00:00Z",
           end="2016-04-01T23:59:59Z", policy_extra=None, failures=None, extra=None):
    pol = {"policy-type": "sts",
           "policy-string": ["version: STSv1", "mode: testing",
                             "mx: mx1.example.com", "max_age: 86400"],
           "policy-domain": domain}
    pol.update(policy_extra or {})
    p = {"policy": pol,
         "summary": {"total-successful-session-count": 5326,
                     "total-failure-session-count": sum(f["failed-session-count"] for f in failures or [])}}
    if failures:
        p["failure-details"] = failures
    r = {"organization-name": org,
         "date-range": {"start-datetime": start, "end-datetime": end},
         "contact-info": "sts-reporting@company-x.example",
         "report-id": rid, "policies": [p]}
    r.update(extra or {})
    return json.dumps(r, indent=2).encode()
fails = [{"result-type": "certificate-expired", "sending-mta-ip": "2001:db8:abcd:12::1",
          "receiving-mx-hostname": "mx1.example.com", "failed-session-count": 100},
         {"result-type": "starttls-not-supported", "sending-mta-ip": "198.51.100.62",
          "receiving-mx-hostname": "mx2.example.com", "receiving-ip": "203.0.113.56",
          "failed-session-count": 200,
          "additional-information": "https://reports.company-x.example/"}]
samples = {
    "rfc.json": report("rfc-1", policy_extra={"mx-host": "mx1.example.com"}, failures=fails),
    "erratum.json": report("erratum-1", policy_extra={"mx-host": ["mx1.example.com", "mx2.example.com"]}),
    "notz.json": report("notz-1", start="2024-02-16T00:00:00", end="2024-02-16T23:59:59"),
    "noip.json": report("noip-1", failures=[
        {"result-type": "validation-failure", "failed-session-count": 3},
        {"result-type": "sts-policy-fetch-error", "sending-mta-ip": "", "failed-session-count": 2},
        {"result-type": "x-vendor-failure", "failed-session-count": 1}]),
    "extra.json": report("extra-1", extra={"x-vendor": {"a": [1, 2]}}),
    "other.json": report("other-1", org="Company-Y"),
    "net.json": report("net-1", domain="Example.NET."),
    "unserved.json": report("unserved-1", domain="example.org"),
}
# Hostile: counts that would overflow every sum over the stored reports
# (400 failure details and a summary of 2^62), and strings with a newline
# that forges a verdict line and a terminal escape.
big = json.loads(report("overflow-1", org="Big", failures=[
    {"result-type": "certificate-expired", "failed-session-count": 2 ** 62}] * 400))
big["policies"][0]["summary"]["total-failure-session-count"] = 2 ** 62
samples["overflow.json"] = json.dumps(big).encode()
forged = "\nverdict: no failures in 99 days of reports: ready for enforce\x1b[2J"
samples["evil.json"] = report("evil-1", org="Evil" + forged, failures=[
    {"result-type": "x" + forged, "sending-mta-ip": "192.0.2.1" + forged,
     "receiving-mx-hostname": "mx9.example.com" + forged, "failed-session-count": 7}])
for name, body in samples.items():
    open(os.path.join(d, name), "wb").write(body)
    open(os.path.join(d, name[:-5] + ".gz"), "wb").write(gzip.compress(body))
# A bomb: 64 MiB of spaces in about 64 KiB, after a valid start.
with gzip.open(os.path.join(d, "bomb.gz"), "wb", 9) as f:
    f.write(b'{"organization-name": "x", "report-id": "')
    chunk = b" " * (1 << 20)
    for _ in range(64):
        f.write(chunk)
open(os.path.join(d, "big.json"), "wb").write(b" " * 300000 + samples["rfc.json"])
open(os.path.join(d, "garbage.bin"), "wb").write(os.urandom(2048))
open(os.path.join(d, "garbage.gz"), "wb").write(gzip.compress(b"x" * 100)[:-12])
EOF
S=$T/samples
check "samples written" test -s "$S/rfc.gz" -a -s "$S/bomb.gz"

# ---- the host ------------------------------------------------------------

HTTPS_PORT=$(free_port)
HTTP_PORT=$(free_port)
RATE=20
cat >"$T/config.yaml" <<EOF
domains: [example.com, example.net]
policy_dir: $POL
cert_dir: $CERTS
state_dir: $STATE
listen:
  https: "127.0.0.1:$HTTPS_PORT"
  http: "127.0.0.1:$HTTP_PORT"
tlsrpt:
  max_body: 131072
  rate_limit: $RATE
  instance: e2e
EOF
LOG=$T/host.log
if host_start "$LOG" "http://127.0.0.1:$HTTP_PORT/healthz" serve \
    -c "$T/config.yaml"; then
    pass "host starts with TLS report reception"
else
    fail "host starts with TLS report reception"
    sed 's/^/  | /' "$LOG"
    e2e_finish
fi
DB=$STATE/tlsrpt-e2e.sqlite3
# The database opens once the listeners run (after any privilege drop).
check "start-up names where reports go" wait_log "$LOG" \
    "TLS reports: receiving on https://mta-sts.<domain>/tlsrpt, stored in $STATE" 10
check "the database is in the state directory" test -f "$DB"
"$MTA_STS_HOST" dns -c "$T/config.yaml" >"$OUT/dns.txt" 2>&1
check_file_contains "dns prints this host as a report address" \
    '^_smtp._tls.example.net. IN TXT "v=TLSRPTv1; rua=https://mta-sts.example.net/tlsrpt"$' \
    "$OUT/dns.txt"

# post NAME FILE CURLARGS...: POST FILE to https://mta-sts.example.com/tlsrpt
# (full verification); body to $OUT/NAME.b, headers to $OUT/NAME.h; prints
# the status code.
post() {
    local name=$1 file=$2
    shift 2
    hurl --cacert "$CA" --resolve "mta-sts.example.com:$HTTPS_PORT:127.0.0.1" \
        --resolve "mta-sts.example.net:$HTTPS_PORT:127.0.0.1" \
        -D "$OUT/$name.h" -o "$OUT/$name.b" -w '%{http_code}' \
        --data-binary "@$file" "$@"
}
URL=https://mta-sts.example.com:$HTTPS_PORT/tlsrpt
JSON=(-H 'Content-Type: application/tlsrpt+json')
GZ=(-H 'Content-Type: application/tlsrpt+gzip')

# sql QUERY: one value from the database (read-only, while the host runs).
sql() {
    python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(db.execute(sys.argv[2]).fetchone()[0])' "${DB}" "$1"
}
reports() { sql 'SELECT count(*) FROM report'; }

# ---- reports that are stored ---------------------------------------------

check_eq "RFC example as JSON: 200" 200 "$(post rfc "$S/rfc.json" "${JSON[@]}" "$URL")"
check_eq "answer says stored" stored "$(tr -d '\r\n' <"$OUT/rfc.b")"
check_eq "stored: one report" 1 "$(reports)"
check_eq "stored: its two failure details" 2 "$(sql 'SELECT count(*) FROM failure')"
check_eq "stored: the raw report is gzip" 1f8b \
    "$(sql "SELECT hex(substr(gzip, 1, 2)) FROM raw" | tr 'A-F' 'a-f')"
for q in erratum notz noip extra; do
    check_eq "$q as gzip: 200" 200 "$(post "$q" "$S/$q.gz" "${GZ[@]}" "$URL")"
done
check_eq "mx-host array stored as two" '["mx1.example.com","mx2.example.com"]' \
    "$(sql "SELECT mx_host FROM policy JOIN report ON report.id = policy.report WHERE report_id = 'erratum-1'")"
check_eq "timestamp without a time zone taken as UTC" 1708041600 \
    "$(sql "SELECT start_time FROM report WHERE report_id = 'notz-1'")"
check_eq "no or an empty sending-mta-ip stored as absent" 3 \
    "$(sql "SELECT count(*) FROM failure WHERE sending_mta_ip IS NULL")"
check_eq "report for example.net on example.com's host: 200" 200 \
    "$(post net "$S/net.json" "$URL")"
check_eq "its policy-domain normalised" example.net \
    "$(sql "SELECT policy_domain FROM policy JOIN report ON report.id = policy.report WHERE report_id = 'net-1'")"
check_eq "stored: six reports" 6 "$(reports)"

# Mislabelled: gzip called JSON, JSON called gzip, and no type at all.
check_eq "gzip labelled JSON: 200 (already stored)" 200 \
    "$(post mis1 "$S/rfc.gz" "${JSON[@]}" "$URL")"
check_eq "answer says already stored" "already stored" "$(tr -d '\r\n' <"$OUT/mis1.b")"
check_eq "JSON labelled gzip: 200" 200 "$(post mis2 "$S/erratum.json" "${GZ[@]}" "$URL")"
check_eq "octet-stream: 200" 200 \
    "$(post mis3 "$S/notz.gz" -H 'Content-Type: application/octet-stream' "$URL")"
check_eq "duplicates stored once: still six" 6 "$(reports)"
check_eq "no duplicate rows" 6 "$(sql 'SELECT count(*) FROM policy')"

# ---- reports that are refused ---------------------------------------------

check_eq "policy-domain not served: 403" 403 "$(post uns "$S/unserved.gz" "$URL")"
check_contains "403 names the domain" "policy-domain example.org is not served here" \
    "$(cat "$OUT/uns.b")"
check_eq "garbage: 400" 400 "$(post garb "$S/garbage.bin" "$URL")"
check_contains "400 says what was expected" "not a TLS report: expected a JSON TLS report" \
    "$(cat "$OUT/garb.b")"
check_eq "truncated gzip: 400" 400 "$(post garbgz "$S/garbage.gz" "$URL")"
check_contains "400 says truncated" "truncated" "$(cat "$OUT/garbgz.b")"
check_eq "gzip bomb: 413" 413 "$(post bomb "$S/bomb.gz" "$URL")"
check_contains "413 names the cap" "report too large: gzip: expected at most" \
    "$(cat "$OUT/bomb.b")"
check_eq "body over max_body (Expect: 100-continue): 413, body not sent" 413 \
    "$(post big "$S/big.json" -H 'Expect: 100-continue' "$URL")"
check_eq "nothing refused was stored" 6 "$(reports)"
check_eq "GET on the report path: 405" 405 \
    "$(hurl --cacert "$CA" --resolve "mta-sts.example.com:$HTTPS_PORT:127.0.0.1" \
        -D "$OUT/get.h" -o /dev/null -w '%{http_code}' "$URL")"
check_file_contains "405 allows POST" '^Allow: POST' "$OUT/get.h"
check_eq "report to an unserved host name: 404 (no certificate: refused)" 000 \
    "$(hurl --cacert "$CA" --resolve "mta-sts.example.org:$HTTPS_PORT:127.0.0.1" \
        -o /dev/null -w '%{http_code}' --data-binary "@$S/rfc.json" \
        "https://mta-sts.example.org:$HTTPS_PORT/tlsrpt")"

# An announced size over the cap is refused before the body is sent: the
# answer comes while the client still holds every byte of it.
cat >"$T/announce.py" <<'EOF'
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
s = socket.create_connection(("127.0.0.1", port), timeout=5)
t = ctx.wrap_socket(s, server_hostname="mta-sts.example.com")
t.sendall(b"POST /tlsrpt HTTP/1.1\r\nHost: mta-sts.example.com\r\n"
          b"Content-Type: application/tlsrpt+gzip\r\n"
          b"Content-Length: 104857600\r\n\r\n")
out = b""
while b"\r\n\r\n" not in out:
    chunk = t.recv(4096)
    if not chunk:
        break
    out += chunk
print(out.split(b"\r\n")[0].decode())
EOF
check_eq "100 MB announced: 413 before any body byte" "HTTP/1.1 413 Request Entity Too Large" \
    "$(timeout 10 python3 "$T/announce.py" "$HTTPS_PORT" "$CA" 2>&1 | sed 's/Content Too Large/Request Entity Too Large/')"

# A chunked body (no size announced) is cut at the cap: the client sends
# 16 KiB chunks and looks for an answer after each; it must come long
# before the 4 MiB it would send.
cat >"$T/chunked.py" <<'EOF'
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
s = socket.create_connection(("127.0.0.1", port), timeout=5)
t = ctx.wrap_socket(s, server_hostname="mta-sts.example.com")
t.sendall(b"POST /tlsrpt HTTP/1.1\r\nHost: mta-sts.example.com\r\n"
          b"Transfer-Encoding: chunked\r\n\r\n")
sent, out = 0, b""
chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"
# Between chunks, a short read: TLS 1.3 session tickets make the socket
# readable without an answer, so readable alone proves nothing.
while sent < 4 << 20:
    t.settimeout(0.02)
    try:
        out = t.recv(4096)
        break
    except (TimeoutError, socket.timeout, ssl.SSLWantReadError):
        pass
    except OSError:
        break
    t.settimeout(5)
    try:
        t.sendall(chunk)
    except OSError:
        break
    sent += 0x4000
if not out:
    t.settimeout(5)
    try:
        out = t.recv(4096)
    except OSError:
        pass
print(out.split(b"\r\n")[0].decode(), "after", sent // 1024, "KiB")
EOF
n413() { grep -c 'path=/tlsrpt status=413' "$LOG"; }
more_413() { test "$(n413)" -gt "$before"; }
before=$(n413)
timeout 20 python3 "$T/chunked.py" "$HTTPS_PORT" "$CA" >"$OUT/chunked.txt" 2>&1
# The host answers 413 and closes while the client is still sending; TCP
# may then reset the connection before the client reads the answer, so
# the access log is the witness.
check "chunked body over max_body: 413 ($(cat "$OUT/chunked.txt"))" \
    wait_until 5 more_413
check "chunked: answered before 512 KiB were sent ($(cat "$OUT/chunked.txt"))" \
    test "$(sed -n 's/.* after \([0-9]*\) KiB$/\1/p' "$OUT/chunked.txt")" -lt 512

# ---- rate limit ------------------------------------------------------------

# A flood from 127.0.0.1 (the limit's burst was partly used above): it is
# cut off with 429, while another address and the policy keep being served.
: >"$OUT/flood.codes"
for i in $(seq 1 $((RATE + 5))); do
    post flood "$S/rfc.gz" "$URL" >>"$OUT/flood.codes"
    echo >>"$OUT/flood.codes"
done
check "flood from one address is rate-limited (429)" grep -q '^429$' "$OUT/flood.codes"
check_file_contains "429 carries Retry-After" '^Retry-After: [0-9]+' "$OUT/flood.h"
check_eq "policy fetch during the flood: 200" 200 \
    "$(hurl --cacert "$CA" --resolve "mta-sts.example.com:$HTTPS_PORT:127.0.0.1" \
        -o /dev/null -w '%{http_code}' "https://mta-sts.example.com:$HTTPS_PORT/.well-known/mta-sts.txt")"
check_eq "another address still submits: 200" 200 \
    "$(post other "$S/other.gz" --interface 127.0.0.2 "$URL")"

# ---- metrics ----------------------------------------------------------------

hurl "http://127.0.0.1:$HTTP_PORT/metrics" >"$OUT/metrics"
check "metrics pass promtool" promtool check metrics <"$OUT/metrics"
check_file_contains "metrics count stored reports" \
    '^mta_sts_tlsrpt_submissions_total\{outcome="stored"\} 7$' "$OUT/metrics"
check_file_contains "metrics count refusals" \
    '^mta_sts_tlsrpt_submissions_total\{outcome="not_served"\} 1$' "$OUT/metrics"
check_file_contains "metrics count reports per domain" \
    '^mta_sts_tlsrpt_reports_total\{domain="example.com"\} 6$' "$OUT/metrics"
check_file_contains "metrics count example.net's report" \
    '^mta_sts_tlsrpt_reports_total\{domain="example.net"\} 1$' "$OUT/metrics"
check_file_contains "metrics count failed sessions per domain" \
    '^mta_sts_tlsrpt_sessions_total\{domain="example.com",result="failed"\} 306$' "$OUT/metrics"
check_file_contains "metrics count failures by type" \
    '^mta_sts_tlsrpt_failures_total\{domain="example.com",type="starttls-not-supported"\} 200$' "$OUT/metrics"
check_file_contains "metrics count another failure type" \
    '^mta_sts_tlsrpt_failures_total\{domain="example.com",type="sts-policy-fetch-error"\} 2$' "$OUT/metrics"
check_file_contains "metrics: a type outside RFC 8460 is other" \
    '^mta_sts_tlsrpt_failures_total\{domain="example.com",type="other"\} 1$' "$OUT/metrics"
check_file_contains "metrics count rate limiting" \
    '^mta_sts_tlsrpt_submissions_total\{outcome="rate_limited"\} [1-9]' "$OUT/metrics"

host_stop "$HOST_PID"
check_eq "host stops cleanly" 0 "$HOST_RC"

# ---- reports import: mail -------------------------------------------------------

# A real message built by Python's email package (RFC 8460 §5.3: a
# multipart/report with the gzip report as a base64 attachment) and an mbox
# of three such messages (one a duplicate of the first).
python3 - "$T" "$S" <<'EOF'
import gzip, json, mailbox, sys
from email.message import EmailMessage
t, s = sys.argv[1], sys.argv[2]
def msg(rid, body_file=None, gz=True):
    m = EmailMessage()
    m["From"] = "tlsrpt@sender.example"
    m["To"] = "tls@example.com"
    m["Subject"] = "Report Domain: example.com Submitter: sender.example Report-ID: <%s>" % rid
    m["TLS-Report-Domain"] = "example.com"
    m["TLS-Report-Submitter"] = "sender.example"
    m.set_content("This is an aggregate TLS report from sender.example.")
    r = json.loads(open(s + "/rfc.json").read())
    r["report-id"] = rid
    data = json.dumps(r).encode()
    if gz:
        m.add_attachment(gzip.compress(data), maintype="application", subtype="tlsrpt+gzip",
                         filename="sender.example!example.com!1459468800!1459555199!%s.json.gz" % rid)
    else:
        m.add_attachment(data, maintype="application", subtype="tlsrpt+json",
                         filename="%s.json" % rid)
    m.replace_header("Content-Type", m["Content-Type"].replace("multipart/mixed", "multipart/report"))
    return m
open(t + "/one.eml", "wb").write(bytes(msg("mail-1")))
open(t + "/live.eml", "wb").write(bytes(msg("mail-4")))
r2 = json.loads(open(s + "/rfc.json").read())
r2["report-id"] = "mail-2"
open(t + "/mail2.json", "w").write(json.dumps(r2))
box = mailbox.mbox(t + "/reports.mbox")
for m in (msg("mail-2"), msg("mail-3", gz=False), msg("mail-1")):
    box.add(m)
box.flush()
plain = EmailMessage()
plain["Subject"] = "hello"
plain.set_content("no report here")
open(t + "/plain.eml", "wb").write(bytes(plain))
EOF
MAILDB=$STATE/tlsrpt-e2e-mail.sqlite3
"$MTA_STS_HOST" reports import -c "$T/config.yaml" "$T/one.eml" >"$OUT/imp1.txt" 2>&1
check "import of a message exits 0" test $? -eq 0
check_file_contains "import names what it stored" \
    "one.eml: message 1, part 2: stored \(Company-X, mail-1\)" "$OUT/imp1.txt"
"$MTA_STS_HOST" reports import -c "$T/config.yaml" - <"$T/reports.mbox" >"$OUT/imp2.txt" 2>&1
check "import of an mbox from standard input exits 0" test $? -eq 0
check_file_contains "mbox: two stored, one already stored" \
    "^2 stored, 1 already stored, 0 refused$" "$OUT/imp2.txt"
check_eq "the import database holds three reports" 3 \
    "$(DB=$MAILDB sql 'SELECT count(*) FROM report')"
check_eq "the server's database was not written by the import" 0 \
    "$(DB=$STATE/tlsrpt-e2e.sqlite3 sql "SELECT count(*) FROM report WHERE report_id LIKE 'mail-%'")"
"$MTA_STS_HOST" reports import -c "$T/config.yaml" "$T/plain.eml" "$S/unserved.gz" \
    >"$OUT/imp3.txt" 2>&1
check "a message without a report and an unserved domain: exit 1" test $? -eq 1
check_file_contains "without a report: says so" "without a TLS report" "$OUT/imp3.txt"
check_file_contains "unserved domain: refused" \
    "unserved.gz: the input: refused: policy-domain example.org is not configured" "$OUT/imp3.txt"

# ---- reports: the summary ---------------------------------------------------------

"$MTA_STS_HOST" reports -c "$T/config.yaml" >"$OUT/summary.txt" 2>&1
check "reports exits 0" test $? -eq 0
check_file_contains "summary per domain, with both databases" \
    '^example.com: [0-9]+ reports over [0-9]+ days?, [0-9]+ sessions succeeded, [0-9]+ failed$' \
    "$OUT/summary.txt"
check_file_contains "summary names the MX that fails, with its senders" \
    'mx2.example.com fails starttls-not-supported for 1 sender' "$OUT/summary.txt"
check_file_contains "summary: example.net has no failures" \
    'verdict: no failures in 1 day of reports: ready for enforce' "$OUT/summary.txt"
"$MTA_STS_HOST" reports -c "$T/config.yaml" --json --domain example.com \
    --since 2016-04-01 >"$OUT/summary.json" 2>&1
check "reports --json --domain --since: one domain, as stored" python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert [d["domain"] for d in j["domains"]] == ["example.com"], j
d = j["domains"][0]
# rfc-1 (over HTTPS) and mail-1..3 (imported) fail 300 sessions each,
# noip-1 six; the other reports none.
assert d["failed"] == 300 * 4 + 6, d
assert d["reports"] == 9, d
assert {"result_type": "starttls-not-supported", "sessions": 800} in d["failure_types"], d
' "$OUT/summary.json"

# ---- metrics: what the databases hold, across a restart and imports ------------

# A restart counts what both databases hold: the 7 reports received above
# (6 for example.com, 1 for example.net) and the 3 imported (mail-1..3,
# each the RFC sample: 5326 sessions succeeded, 100 certificate-expired
# and 200 starttls-not-supported failures).
# metric NAME LABELS: the value of one sample in $OUT/metrics.
metric() {
    awk -v k="$1{$2}" '$1 == k { print $2 }' "$OUT/metrics"
}
if host_start "$LOG.2" "http://127.0.0.1:$HTTP_PORT/healthz" serve \
    -c "$T/config.yaml"; then
    wait_log "$LOG.2" "TLS reports: receiving" 10
    hurl "http://127.0.0.1:$HTTP_PORT/metrics" >"$OUT/metrics"
    check "after the restart and imports, metrics pass promtool" \
        promtool check metrics <"$OUT/metrics"
    check_eq "reports of example.com: 6 received + 3 imported" 9 \
        "$(metric mta_sts_tlsrpt_reports_total 'domain="example.com"')"
    check_eq "reports of example.net: 1, counted again after the restart" 1 \
        "$(metric mta_sts_tlsrpt_reports_total 'domain="example.net"')"
    check_eq "sessions succeeded: 9 reports of 5326" $((9 * 5326)) \
        "$(metric mta_sts_tlsrpt_sessions_total 'domain="example.com",result="successful"')"
    check_eq "sessions failed: 306 received + 3 x 300 imported" 1206 \
        "$(metric mta_sts_tlsrpt_sessions_total 'domain="example.com",result="failed"')"
    check_eq "starttls-not-supported: 200 received + 3 x 200 imported" 800 \
        "$(metric mta_sts_tlsrpt_failures_total 'domain="example.com",type="starttls-not-supported"')"
    check_eq "certificate-expired: 100 received + 3 x 100 imported" 400 \
        "$(metric mta_sts_tlsrpt_failures_total 'domain="example.com",type="certificate-expired"')"
    check_eq "a type outside RFC 8460 is still other" 1 \
        "$(metric mta_sts_tlsrpt_failures_total 'domain="example.com",type="other"')"
    check_eq "the outcome counters are this process's: none yet" 0 \
        "$(metric mta_sts_tlsrpt_submissions_total 'outcome="stored"')"
    # Imports while the host runs: a new report is counted at the next
    # scrape; one the host received over HTTPS (rfc-1) is counted once.
    "$MTA_STS_HOST" reports import -c "$T/config.yaml" "$T/live.eml" "$S/rfc.gz" \
        >"$OUT/imp4.txt" 2>&1
    check "import while the host runs exits 0" test $? -eq 0
    hurl "http://127.0.0.1:$HTTP_PORT/metrics" >"$OUT/metrics"
    check "after a live import, metrics pass promtool" \
        promtool check metrics <"$OUT/metrics"
    check_eq "the live import is counted, the report in both files once" 10 \
        "$(metric mta_sts_tlsrpt_reports_total 'domain="example.com"')"
    check_eq "its failed sessions too" 1506 \
        "$(metric mta_sts_tlsrpt_sessions_total 'domain="example.com",result="failed"')"
    # And one received over HTTPS that was imported before: counted once.
    check_eq "mail-2 over HTTPS too: 200" 200 \
        "$(post again "$T/mail2.json" "${JSON[@]}" "$URL")"
    hurl "http://127.0.0.1:$HTTP_PORT/metrics" >"$OUT/metrics"
    check_eq "a report imported, then received: still counted once" 10 \
        "$(metric mta_sts_tlsrpt_reports_total 'domain="example.com"')"
    check_eq "while the outcome counter saw it stored" 1 \
        "$(metric mta_sts_tlsrpt_submissions_total 'outcome="stored"')"
    host_stop "$HOST_PID"
else
    fail "host starts again on the same databases"
fi

# ---- start-up with an unusable state directory --------------------------------

: >"$T/not-a-dir"
sed "s|^state_dir: .*|state_dir: $T/not-a-dir|" "$T/config.yaml" >"$T/bad.yaml"
run_bounded 20 "$T/bad.log" "$MTA_STS_HOST" serve -c "$T/bad.yaml" "${ROOT_ARGS[@]}"
check "unusable state directory: exits non-zero" test $? -ne 0
check_file_contains "and names it" "state directory $T/not-a-dir: not a directory" "$T/bad.log"

# Reception off: the report path is nothing special.
sed 's/^  instance: e2e$/  instance: e2e\n  receive: false/' "$T/config.yaml" >"$T/off.yaml"
if host_start "$T/off.log" "http://127.0.0.1:$HTTP_PORT/healthz" serve -c "$T/off.yaml"; then
    check_eq "reception off: 404" 404 "$(post off "$S/rfc.json" "$URL")"
    host_stop "$HOST_PID"
else
    fail "host starts with reception off"
fi

# ---- durability: SIGKILL during a burst ---------------------------------------

STATE2=$T/state2
sed -e "s|^state_dir: .*|state_dir: $STATE2|" -e 's/rate_limit: .*/rate_limit: 0/' \
    "$T/config.yaml" >"$T/burst.yaml"
cat >"$T/burst.py" <<'EOF'
# Four threads POST distinct reports as fast as they can and record the
# report ids that were answered 200, until the host goes away.
import gzip, http.client, json, socket, ssl, sys, threading
port, ca, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
ok, lock = [], threading.Lock()
def body(rid):
    r = {"organization-name": "Burst", "contact-info": "b@x", "report-id": rid,
         "date-range": {"start-datetime": "2016-04-01T00:00:00Z",
                        "end-datetime": "2016-04-01T23:59:59Z"},
         "policies": [{"policy": {"policy-type": "sts", "policy-domain": "example.com"},
                       "summary": {"total-successful-session-count": 1,
                                   "total-failure-session-count": 10},
                       "failure-details": [{"result-type": "certificate-expired",
                                            "failed-session-count": 1}] * 10}]}
    return gzip.compress(json.dumps(r).encode())
def worker(n):
    i = 0
    while True:
        rid = "burst-%d-%d" % (n, i)
        i += 1
        try:
            # Connect to loopback by hand; the Host header and SNI name the
            # served domain.
            c = http.client.HTTPSConnection("mta-sts.example.com", port,
                                            context=ctx, timeout=5)
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            c.sock = ctx.wrap_socket(s, server_hostname="mta-sts.example.com")
            c.request("POST", "/tlsrpt", body(rid), {"Content-Type": "application/tlsrpt+gzip"})
            if c.getresponse().status == 200:
                with lock:
                    ok.append(rid)
                    open(out, "a").write(rid + "\n")
            c.close()
        except Exception:
            return
ts = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
EOF
# acked N: at least N reports were acknowledged (a function, so that
# wait_until counts anew at each try).
acked() { test "$(wc -l <"$OUT/acked")" -ge "$1"; }
# durable OUT: whether every report id in $OUT/acked is in $DB with all
# its rows (burst.py's reports: one policy, ten failures, the raw copy);
# the verdict line goes to OUT.
durable() {
    python3 - "$DB" "$OUT/acked" >"$1" 2>&1 <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
acked = [l.strip() for l in open(sys.argv[2]) if l.strip()]
have = {r[0] for r in db.execute("SELECT report_id FROM report")}
missing = [a for a in acked if a not in have]
half = db.execute("""SELECT count(*) FROM report r WHERE
    (SELECT count(*) FROM policy p WHERE p.report = r.id) != 1 OR
    (SELECT count(*) FROM failure f JOIN policy p ON f.policy = p.id
     WHERE p.report = r.id) != 10 OR
    NOT EXISTS (SELECT 1 FROM raw WHERE raw.report = r.id)""").fetchone()[0]
print("acked=%d stored=%d missing=%d half=%d" % (len(acked), len(have), len(missing), half))
sys.exit(0 if not missing and half == 0 and len(have) >= len(acked) else 1)
EOF
}
if host_start "$T/burst.log" "http://127.0.0.1:$HTTP_PORT/healthz" serve -c "$T/burst.yaml"; then
    BURST_PID=$HOST_PID
    : >"$OUT/acked"
    python3 "$T/burst.py" "$HTTPS_PORT" "$CA" "$OUT/acked" &
    DRIVER=$!
    E2E_PIDS+=("$DRIVER")
    wait_until 30 acked 40
    kill -9 "$BURST_PID"
    wait_exit "$BURST_PID" 10
    wait_exit "$DRIVER" 20
    ACKED=$(wc -l <"$OUT/acked")
    check "the burst got at least 40 reports acknowledged before the kill" test "$ACKED" -ge 40
    DB=$STATE2/tlsrpt-e2e.sqlite3
    check_eq "database intact after SIGKILL" ok "$(sql 'PRAGMA integrity_check')"
    durable "$OUT/durable.txt"
    check "every acknowledged report is stored whole, none half-stored ($(cat "$OUT/durable.txt"))" \
        test "$(tail -n 1 "$OUT/durable.txt" | grep -c 'missing=0 half=0')" = 1
else
    fail "host starts for the burst"
fi

# ---- a full queue: 503 with Retry-After, nothing lost -------------------------

# Another process holds the database's write lock, so the writer waits
# for it (should that pass SQLite's busy timeout, its batch gets 503
# too); meanwhile 150 senders (three source addresses: the per-address
# connection limit is 64) fill the queue of 64, and the next get 503
# with Retry-After at once. The lock is let go once such a 503 came;
# what follows is stored, and no report answered 503 is.
sed "s|^state_dir: .*|state_dir: $T/state4|" "$T/burst.yaml" >"$T/full.yaml"
cat >"$T/full.py" <<'EOF'
import gzip, json, socket, sqlite3, ssl, sys, threading
port, ca, db, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
lock = sqlite3.connect(db, timeout=10, isolation_level=None)
lock.execute("BEGIN IMMEDIATE")
full = threading.Event()
answers, mu = [], threading.Lock()
def post(n):
    rid = "full-%d" % n
    r = {"organization-name": "Full", "contact-info": "f@x", "report-id": rid,
         "date-range": {"start-datetime": "2016-04-01T00:00:00Z",
                        "end-datetime": "2016-04-01T23:59:59Z"},
         "policies": [{"policy": {"policy-type": "sts", "policy-domain": "example.com"},
                       "summary": {"total-successful-session-count": 1,
                                   "total-failure-session-count": 0}}]}
    body = gzip.compress(json.dumps(r).encode())
    s = socket.create_connection(("127.0.0.1", port), timeout=30,
                                 source_address=("127.0.0.%d" % (2 + n % 3), 0))
    t = ctx.wrap_socket(s, server_hostname="mta-sts.example.com")
    t.sendall(b"POST /tlsrpt HTTP/1.1\r\nHost: mta-sts.example.com\r\n"
              b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    resp = b""
    while True:
        c = t.recv(4096)
        if not c:
            break
        resp += c
    head, _, text = resp.partition(b"\r\n\r\n")
    status = head.split(b" ")[1].decode() if head else "none"
    retry = b"\r\nretry-after:" in head.lower()
    with mu:
        answers.append((rid, status, retry, text.decode().strip()))
    if status == "503" and b"waiting" in text:
        full.set()
ts = [threading.Thread(target=post, args=(n,)) for n in range(150)]
for t in ts:
    t.start()
saw_full = full.wait(25)
lock.execute("ROLLBACK")
for t in ts:
    t.join()
with open(out, "w") as f:
    for a in answers:
        f.write("%s %s %s %s\n" % (a[0], a[1], "retry" if a[2] else "-", a[3]))
print("full=%s answers=%d" % (saw_full, len(answers)))
EOF
if host_start "$T/full.log" "http://127.0.0.1:$HTTP_PORT/healthz" serve -c "$T/full.yaml"; then
    FULL_PID=$HOST_PID
    DB=$T/state4/tlsrpt-e2e.sqlite3
    timeout 120 python3 "$T/full.py" "$HTTPS_PORT" "$CA" "$DB" "$OUT/full.txt" \
        >"$OUT/full.out" 2>&1
    check_eq "a full queue: every sender got an answer" "full=True answers=150" \
        "$(cat "$OUT/full.out")"
    check_file_contains "the queue full: 503 with Retry-After, saying why" \
        '^full-[0-9]+ 503 retry too many reports waiting to be stored; try again later$' \
        "$OUT/full.txt"
    check "nothing else was answered but 200 and those 503s" bash -c \
        '! grep -vE "^full-[0-9]+ (200 - stored|503 retry .*try again later)$" "$1"' _ "$OUT/full.txt"
    grep ' 200 ' "$OUT/full.txt" | cut -d' ' -f1 >"$OUT/acked"
    check "once the lock was let go, reports were stored again" test -s "$OUT/acked"
    durable_full() {
        python3 - "$DB" "$OUT/acked" "$OUT/full.txt" <<'EOF'
import sqlite3, sys
have = {r[0] for r in sqlite3.connect(sys.argv[1]).execute("SELECT report_id FROM report")}
acked = {l.strip() for l in open(sys.argv[2]) if l.strip()}
refused = {l.split()[0] for l in open(sys.argv[3]) if " 503 " in l}
print("acked=%d stored=%d refused_but_stored=%d" % (len(acked), len(have), len(refused & have)))
sys.exit(0 if acked <= have and not (refused & have) else 1)
EOF
    }
    check "every 200 is stored, no 503 is" durable_full
    check_eq "the host still serves" 200 \
        "$(hurl -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/healthz")"
    host_stop "$FULL_PID"
    check_eq "and stops cleanly" 0 "$HOST_RC"
else
    fail "host starts for the full queue"
fi

# ---- SIGTERM during a burst: the reports with the writer are answered ------

# The stop must wait for every request suspended while the writer stores
# its report (libmicrohttpd must not stop a daemon with one suspended),
# then exit 0; what was acknowledged is stored.
sed "s|^state_dir: .*|state_dir: $T/state3|" "$T/burst.yaml" >"$T/term.yaml"
if host_start "$T/term.log" "http://127.0.0.1:$HTTP_PORT/healthz" serve -c "$T/term.yaml"; then
    TERM_PID=$HOST_PID
    : >"$OUT/acked"
    python3 "$T/burst.py" "$HTTPS_PORT" "$CA" "$OUT/acked" &
    DRIVER=$!
    E2E_PIDS+=("$DRIVER")
    wait_until 30 acked 20
    host_stop "$TERM_PID" 30
    check_eq "SIGTERM during a burst: the host exits 0" 0 "$HOST_RC"
    wait_exit "$DRIVER" 20
    check "the burst got reports acknowledged before the stop" \
        test "$(wc -l <"$OUT/acked")" -ge 20
    DB=$T/state3/tlsrpt-e2e.sqlite3
    durable "$OUT/durable-term.txt"
    check "after SIGTERM every acknowledged report is stored ($(cat "$OUT/durable-term.txt"))" \
        test "$(tail -n 1 "$OUT/durable-term.txt" | grep -c 'missing=0 half=0')" = 1
else
    fail "host starts for the SIGTERM burst"
fi

# ---- hostile reports: counts past the cap, forged lines and escapes -------

# The overflow sample: refused with the JSON path, nothing stored. The one
# with forged lines: stored, with the address and host name left out and
# the result type kept as "other"; `reports`, `reports import` and
# /metrics show no raw control byte and no forged line.
STATE4=$T/state4
sed -e "s|^state_dir: .*|state_dir: $STATE4|" -e 's/rate_limit: .*/rate_limit: 0/' \
    "$T/config.yaml" >"$T/hostile.yaml"
if host_start "$T/hostile.log" "http://127.0.0.1:$HTTP_PORT/healthz" serve -c "$T/hostile.yaml"; then
    wait_log "$T/hostile.log" "TLS reports: receiving" 10
    DB=$STATE4/tlsrpt-e2e.sqlite3
    check_eq "counts of 2^62: 400" 400 \
        "$(post overflow "$S/overflow.json" "${JSON[@]}" "$URL")"
    check_contains "400 names the JSON path and the cap" \
        "policies[0].summary.total-failure-session-count: expected at most 1099511627776 sessions, found 4611686018427387904" \
        "$(cat "$OUT/overflow.b")"
    check_eq "the refused report is not stored" 0 "$(reports)"
    check_eq "forged lines and escapes: 200" 200 \
        "$(post evil "$S/evil.json" "${JSON[@]}" "$URL")"
    check_eq "stored with the address and host name left out" "None None other" \
        "$(sql "SELECT coalesce(sending_mta_ip, 'None') || ' ' || coalesce(receiving_mx_hostname, 'None') || ' ' || result_type FROM failure")"
    hurl "http://127.0.0.1:$HTTP_PORT/metrics" >"$OUT/metrics-hostile"
    check "hostile reports: metrics pass promtool" promtool check metrics <"$OUT/metrics-hostile"
    check_eq "metrics: the stored report's failures, as other" 7 \
        "$(file_metric 'mta_sts_tlsrpt_failures_total{domain="example.com",type="other"}' "$OUT/metrics-hostile")"
    check_eq "metrics: the refused one's count nowhere" 7 \
        "$(file_metric 'mta_sts_tlsrpt_sessions_total{domain="example.com",result="failed"}' "$OUT/metrics-hostile")"
    check "the log has no counting error" test "$(grep -c 'report counters' "$T/hostile.log")" = 0
    host_stop "$HOST_PID"
    "$MTA_STS_HOST" reports -c "$T/hostile.yaml" >"$OUT/hostile.txt" 2>&1
    check "reports over the hostile report exits 0" test $? -eq 0
    check_file_contains "the organization-name shown escaped" \
        '^    Evil\\x0averdict: no failures in 99 days of reports: ready for enforce\\x1b\[2J  successful=5326  failed=7$' \
        "$OUT/hostile.txt"
    check_eq "one verdict line, the summary's own" \
        "  verdict: 7 of 5333 sessions failed: fix these before enforce; (not given) fails other for 1 sender" \
        "$(grep 'verdict' "$OUT/hostile.txt" | grep -v '^    Evil')"
    check_eq "no raw escape byte in the summary" 0 "$(grep -c $'\x1b' "$OUT/hostile.txt")"
    "$MTA_STS_HOST" reports import -c "$T/hostile.yaml" "$S/evil.json" \
        >"$OUT/hostile-imp.txt" 2>"$OUT/hostile-imp.err"
    check "import of the hostile report exits 0" test $? -eq 0
    check_eq "import prints its line and the totals, no forged line" \
        "2 1 stored, 0 already stored, 0 refused" \
        "$(wc -l <"$OUT/hostile-imp.txt") $(tail -n 1 "$OUT/hostile-imp.txt")"
    check_eq "no raw escape byte in the import's errors" 0 "$(grep -c $'\x1b' "$OUT/hostile-imp.err")"
    check_file_contains "import shows the organization-name escaped" \
        'stored \(Evil\\x0averdict: .*\\x1b\[2J, evil-1\)$' "$OUT/hostile-imp.txt"
    check_eq "no raw escape byte in the import output" 0 "$(grep -c $'\x1b' "$OUT/hostile-imp.txt")"
    # A row stored before the cap (2^62, as an older version let through)
    # is left out of the summary with a warning, not an overflow.
    python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE failure SET failed_session_count = 4611686018427387904")
db.commit()' "$STATE4/tlsrpt-e2e-mail.sqlite3"
    "$MTA_STS_HOST" reports -c "$T/hostile.yaml" >"$OUT/hostile2.txt" 2>"$OUT/hostile2.err"
    check "reports over a row of 2^62 exits 0" test $? -eq 0
    check_file_contains "the row is left out with a warning" \
        'report summary: 1 stored row with a session count that is not an integer from 0 to 1099511627776 left out' \
        "$OUT/hostile2.err"
    check_file_contains "the summary still counts the report" \
        '^example.com: 1 report over 1 day, 5326 sessions succeeded, 7 failed$' "$OUT/hostile2.txt"
    check_eq "without the failure of 2^62" "    (none)" \
        "$(sed -n '/failure_types:/{n;p}' "$OUT/hostile2.txt")"
else
    fail "host starts for the hostile reports"
fi

e2e_finish
