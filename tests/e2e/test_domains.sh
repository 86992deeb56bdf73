#!/usr/bin/env bash
# test_domains.sh: end-to-end test of per-domain state (issue 11) against
# the real binary over real HTTPS on loopback. One host serves
# $E2E_DOMAINS (default 2,000) domains, each with its own policy file and
# its own ECDSA certificate from a test CA (one shared leaf key, signed by
# a small GnuTLS helper, tests/e2e/gencerts.c, compiled here: certtool
# costs ~20 ms per certificate), and the test checks:
#  a. every domain is served with its own policy and certificate (/healthz
#     counts, /status, a random sample fetched with full verification),
#     and the public HTTPS listener lists no domain;
#  b. one tenant's fault stays with it: an expired certificate for b while
#     a is renewed, a restart with b expired, a host whose only
#     certificate expires (503 "fail"), or that starts with none valid;
#  c. a broken policy file at start-up affects its domain only;
#  d. no half-written policy ever reaches the wire (slow in-place writer,
#     truncate-then-write, while another domain is edited by rename), with
#     inotify and with polling;
#  e. a certificate renewed by rename under a symlinked cert-dir, with a
#     policy save a second later, is served without SIGHUP;
#  f. 250 problems at once are each reported;
#  g. symlinked roots are watched by inotify (an edit is live within ~1 s
#     with a 60 s poll interval);
#  h. a wildcard certificate serves policy/<domain>.txt for a domain no
#     exact name covers, and a policy file no certificate covers is a
#     reported per-domain problem, not a silent 404.
#
# Run by ctest as: MTA_STS_HOST=<binary> SRCDIR=<repo> bash test_domains.sh
# (E2E_DOMAINS=N changes the size of the big host.)
# Probes are often called through check/wait_until (by name), and free_port
# takes no arguments here.
# shellcheck disable=SC2317,SC2119,SC2016
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$HERE/lib.sh"
e2e_init
umask 022

need_tools certtool:gnutls-bin curl:curl python3:python3 openssl:openssl \
    cc:gcc pkg-config:pkg-config

T=$E2E_TMP
CA=$T/ca/ca.pem
N=${E2E_DOMAINS:-2000}
case "$N" in
'' | *[!0-9]*) fail "E2E_DOMAINS is a number (got '$N')"; e2e_finish ;;
esac
[ "$N" -ge 10 ] || N=10
T_START=$SECONDS

now_ms() { date +%s%3N; }

# ---- fixtures ------------------------------------------------------------

GENCERTS=$T/gencerts
# shellcheck disable=SC2046 # pkg-config prints several words on purpose
if ! cc -O1 -o "$GENCERTS" "$HERE/gencerts.c" \
    $(pkg-config --cflags --libs gnutls 2>/dev/null || echo -lgnutls) \
    >"$T/gencerts.log" 2>&1; then
    sed 's/^/#   /' "$T/gencerts.log" | head -n 20
    fail "compile the certificate generator tests/e2e/gencerts.c"
    e2e_finish
fi
make_ca "$T/ca" || { fail "make test CA"; e2e_finish; }
for k in leaf other; do
    certtool --generate-privkey --key-type ecdsa --curve secp256r1 \
        --no-text --outfile "$T/ca/$k.key" >/dev/null 2>&1 ||
        { fail "make the $k key"; e2e_finish; }
done
LEAFKEY=$T/ca/leaf.key
OTHERKEY=$T/ca/other.key
DAY=86400

# gen NOT_BEFORE NOT_AFTER SERIAL < "OUT NAME..." lines: issue certificates
# (OUT.crt, OUT.key) with the shared leaf key; times in seconds from now.
gen() { "$GENCERTS" "$CA" "$T/ca/ca.key" "$LEAFKEY" "$@"; }

# dom I: the name of big-host domain number I.
dom() { printf 'd%05d.example' "$1"; }

# policy_text DOMAIN TAG: a valid policy whose MX names DOMAIN and TAG, as
# the host serves it (CRLF line ends, so a file written with it is served
# byte for byte).
policy_text() {
    printf 'version: STSv1\r\nmode: enforce\r\nmx: mx-%s.%s\r\nmax_age: 604800\r\n' \
        "$2" "$1"
}

# sj FILE PYEXPR: evaluate PYEXPR over the JSON in FILE (as j); dom(NAME)
# is a domain's /status entry, doms the list of them.
sj() {
    python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
doms = j.get("domains") if isinstance(j, dict) else None
doms = doms if isinstance(doms, list) else []
by = {d["domain"]: d for d in doms}
def dom(n):
    return by.get(n)
print(eval(sys.argv[2]))' "$1" "$2" 2>&1
}

# ---- one host at a time ----------------------------------------------------

HLOG='' HTTPS_PORT='' HTTP_PORT=''

# run_host NAME POLICY_DIR CERT_DIR [ARG...]: start a host on fresh loopback
# ports with its log in $T/NAME.log; waits until /healthz answers 200.
run_host() {
    local name=$1 pol=$2 crt=$3
    shift 3
    HLOG=$T/$name.log
    HTTPS_PORT=$(free_port) && HTTP_PORT=$(free_port) || return 1
    local t0
    t0=$(now_ms)
    if ! host_start "$HLOG" "http://127.0.0.1:$HTTP_PORT/healthz" serve \
        --policy-dir "$pol" --cert-dir "$crt" \
        --https "127.0.0.1:$HTTPS_PORT" --http "127.0.0.1:$HTTP_PORT" \
        --log-level info "$@"; then
        fail "$name: host starts"
        [ -f "$HLOG" ] && tail -n 20 "$HLOG" | sed 's/^/#   /'
        return 1
    fi
    STARTED_MS=$(($(now_ms) - t0))
}

stop_host() {
    [ -n "$HOST_PID" ] && host_stop "$HOST_PID" 20 >/dev/null
    HOST_PID=
}

# get_status OUT / get_health OUT: save /status or /healthz (plain HTTP).
get_status() {
    hurl --max-time 30 -o "$1" "http://127.0.0.1:$HTTP_PORT/status"
}
get_health() {
    hurl --max-time 5 -o "$1" -w '%{http_code}' \
        "http://127.0.0.1:$HTTP_PORT/healthz"
}

# fetch DOMAIN OUT: GET DOMAIN's policy with full verification against the
# test CA into OUT; prints the HTTP status (000 when none).
fetch() {
    hurl --max-time 5 --cacert "$CA" \
        --resolve "mta-sts.$1:$HTTPS_PORT:127.0.0.1" -o "$2" \
        -w '%{http_code}' \
        "https://mta-sts.$1:$HTTPS_PORT/.well-known/mta-sts.txt" ||
        true
}

# leaf_info DOMAIN: "subject=... serial=... DNS:..." of the leaf served for
# mta-sts.DOMAIN, verified against the test CA and for that host name
# (empty when the handshake or the verification fails).
leaf_info() {
    echo | timeout 10 openssl s_client -connect "127.0.0.1:$HTTPS_PORT" \
        -servername "mta-sts.$1" -CAfile "$CA" -verify_return_error \
        -verify_hostname "mta-sts.$1" 2>/dev/null |
        openssl x509 -noout -subject -serial -ext subjectAltName \
            2>/dev/null | tr -s '\n ' '  '
}
# serial_of DOMAIN: the serial of that leaf.
serial_of() { leaf_info "$1" | sed -n 's/.*serial=\([0-9A-F]*\).*/\1/p'; }

# serial_is DOMAIN HEX: the served leaf has serial HEX.
serial_is() { [ "$(serial_of "$1")" = "$2" ]; }
# hexserial N: N as openssl prints a serial (upper-case hex, even digits).
hexserial() {
    local h
    printf -v h '%X' "$1"
    [ $((${#h} % 2)) = 1 ] && h=0$h
    printf '%s\n' "$h"
}

# body_is DOMAIN FILE: DOMAIN's policy is served (200) with FILE's bytes.
body_is() {
    local got=$T/body_is.$$
    [ "$(fetch "$1" "$got")" = 200 ] && cmp -s "$got" "$2"
}

log_mark() { wc -l <"$HLOG"; }
log_since() { tail -n +$(($1 + 1)) "$HLOG"; }

# ==== a. thousands of domains, each with its own policy and certificate ====

BIG=$T/big
mkdir -p "$BIG/policy" "$BIG/certs" "$BIG/want" "$BIG/stage"
t0=$(now_ms)
for ((i = 1; i <= N; i++)); do
    printf -v d 'd%05d.example' "$i"
    policy_text "$d" v0 >"$BIG/policy/$d.txt"
done
t1=$(now_ms)
for ((i = 1; i <= N; i++)); do
    printf -v d 'd%05d.example' "$i"
    printf '%s %s\n' "$BIG/certs/mta-sts.$d" "mta-sts.$d"
done | gen -3600 $((30 * DAY)) 100000 ||
    { fail "issue $N certificates"; e2e_finish; }
t2=$(now_ms)
log "a: $N policy files in $((t1 - t0)) ms, $N certificates in $((t2 - t1)) ms"
check "a: $N certificates issued" \
    test "$(find "$BIG/certs" -name '*.crt' | wc -l)" = "$N"

# The default reload settings (inotify, with the 2 s polling safety net):
# what a deployment runs.
E2E_START_WAIT=180 run_host big "$BIG/policy" "$BIG/certs" || e2e_finish
log "a: host with $N domains answered /healthz after $STARTED_MS ms"

code=$(get_health "$BIG/health.json")
check_eq "a: /healthz is 200" 200 "$code"
check_eq "a: /healthz counts every domain as servable" \
    "ok $N $N 0" "$(sj "$BIG/health.json" \
        '"%s %d %d %d" % (j["status"], j["domains"], j["servable"], j["unwell"])')"
get_status "$BIG/status.json"
check_eq "a: /status lists $N domains, all ok and servable, no problem" \
    "$N $N $N 0" "$(sj "$BIG/status.json" \
        '"%d %d %d %d" % (len(doms), sum(d["ok"] for d in doms), sum(d["servable"] for d in doms), len(j["problems"]))')"
check_eq "a: /status names the domains d00001..d$(printf '%05d' "$N") exactly" \
    True "$(sj "$BIG/status.json" \
        "sorted(by) == ['d%05d.example' % i for i in range(1, $N + 1)]")"
check_eq "a: each domain's policy comes from its own file and its certificate names it" \
    0 "$(sj "$BIG/status.json" \
        'sum(1 for d in doms if d["policy"] is None or not d["policy"]["source"].endswith("/" + d["domain"] + ".txt") or d["certificate"] is None or "mta-sts." + d["domain"] not in (d["certificate"]["subject"] or "") or d["certificate"]["dev"])')"

# A random sample, fetched with full verification: its own policy, its own
# certificate (the subject and the SAN are the domain's host name).
SAMPLE=${E2E_SAMPLE:-40}
bad_body=0 bad_cert=0 fetched=0
declare -A picked=()
for ((k = 0; k < SAMPLE * 3 && fetched < SAMPLE; k++)); do
    i=$((((RANDOM << 15) | RANDOM) % N + 1))
    [ -n "${picked[$i]:-}" ] && continue
    picked[$i]=1
    d=$(dom "$i")
    policy_text "$d" v0 >"$BIG/want/$d"
    r=$(fetch "$d" "$BIG/got")
    fetched=$((fetched + 1))
    if [ "$r" != 200 ] || ! cmp -s "$BIG/got" "$BIG/want/$d"; then
        bad_body=$((bad_body + 1))
        log "a: $d: status $r, body $(head -c 120 "$BIG/got" 2>/dev/null | tr '\r\n' '  ')"
    fi
    leaf=$(leaf_info "$d")
    case "$leaf" in
    *"subject=CN = mta-sts.$d serial="*"DNS:mta-sts.$d "*) ;;
    *)
        bad_cert=$((bad_cert + 1))
        log "a: $d: served leaf: '$leaf'"
        ;;
    esac
done
check_eq "a: $fetched sampled domains each serve their own policy (verified HTTPS)" \
    0 "$bad_body"
check_eq "a: $fetched sampled domains each present their own certificate" \
    0 "$bad_cert"
check "a: the sample had at least $((SAMPLE / 2)) domains" \
    test "$fetched" -ge $((SAMPLE / 2))

# The public listener: /healthz is counts only, /status does not exist.
d=$(dom 7)
r=$(hurl --max-time 5 --cacert "$CA" \
    --resolve "mta-sts.$d:$HTTPS_PORT:127.0.0.1" -o "$BIG/https_health" \
    -w '%{http_code}' "https://mta-sts.$d:$HTTPS_PORT/healthz") || true
check_eq "a: /healthz on HTTPS answers 200" 200 "$r"
hb=$(cat "$BIG/https_health" 2>/dev/null)
check "a: /healthz on HTTPS names no domain (no '.example' in '$hb')" \
    eval '! grep -q "\.example" "$BIG/https_health"'
check "a: /healthz on HTTPS is under 200 bytes ($(wc -c <"$BIG/https_health"))" \
    test "$(wc -c <"$BIG/https_health")" -lt 200
check_contains "a: /healthz on HTTPS has the counts" "\"domains\":$N" "$hb"
r=$(hurl --max-time 5 --cacert "$CA" \
    --resolve "mta-sts.$d:$HTTPS_PORT:127.0.0.1" -o "$BIG/https_status" \
    -w '%{http_code}' "https://mta-sts.$d:$HTTPS_PORT/status") || true
check_eq "a: /status on HTTPS is 404" 404 "$r"
check "a: /status on HTTPS names no domain" \
    eval '! grep -q "\.example" "$BIG/https_status"'

# ==== b, c. one tenant's fault stays with it ===============================

A=$(dom 1) B=$(dom 2) C=$(dom 3)
check_eq "b: $A serves its first certificate" "$(hexserial 100000)" \
    "$(serial_of "$A")"
SB0=$(hexserial 100001)
check_eq "b: $B serves its first certificate" "$SB0" "$(serial_of "$B")"

# status_has DOMAIN FIELD TEXT: /status's FIELD of DOMAIN contains TEXT.
status_has() {
    get_status "$T/sh.json" &&
        [ "$(sj "$T/sh.json" "'''$3''' in (dom('$1') or {}).get('$2') or ''")" = True ]
}

# b's certificate is replaced by an expired one (renamed into place; the
# key stays the same file).
echo "$BIG/stage/b-expired mta-sts.$B" | gen $((-20 * DAY)) $((-DAY)) 200000
mv "$BIG/stage/b-expired.crt" "$BIG/certs/mta-sts.$B.crt"
check "b: $B's certificate_problem names the expired file" \
    wait_until 10 status_has "$B" certificate_problem "mta-sts.$B.crt"
check_contains "b: ... and says it expired" "expired" \
    "$(sj "$T/sh.json" "dom('$B')['certificate_problem']")"
check_eq "b: $B keeps serving its last good certificate" "$SB0" \
    "$(serial_of "$B")"
# Then a's certificate is renewed (new serial, key and certificate renamed
# into place as a renewal tool does).
echo "$BIG/stage/a-renewed mta-sts.$A" | gen -3600 $((40 * DAY)) 300000
mv "$BIG/stage/a-renewed.key" "$BIG/certs/mta-sts.$A.key"
mv "$BIG/stage/a-renewed.crt" "$BIG/certs/mta-sts.$A.crt"
SA1=$(hexserial 300000)
check "b: $A serves its renewed certificate while $B's is expired" \
    wait_until 10 serial_is "$A" "$SA1"
check_eq "b: $B still serves its last good certificate" "$SB0" \
    "$(serial_of "$B")"
check "b: $B's policy is still served" body_is "$B" "$BIG/policy/$B.txt"
code=$(get_health "$BIG/health.json")
check_eq "b: /healthz is 200 while $B's certificate file is expired" 200 "$code"
check_eq "b: /healthz says degraded, every domain servable, one unwell" \
    "degraded $N $N 1" "$(sj "$BIG/health.json" \
        '"%s %d %d %d" % (j["status"], j["domains"], j["servable"], j["unwell"])')"
get_status "$BIG/status.json"
check_eq "b: /status: $A ok, $B servable but not ok" "True True False" \
    "$(sj "$BIG/status.json" "'%s %s %s' % (dom('$A')['ok'], dom('$B')['servable'], dom('$B')['ok'])")"
check_file_contains "b: the log names $B's expired certificate file" \
    "mta-sts\.$B\.crt.*expired" "$HLOG"

# c. A broken edit of c's policy while running: refused, the last good one
# stays; then the host restarts with b expired and c broken.
mark=$(log_mark)
printf 'version: STSv1\r\nmode: enforce\r\nmx mx.broken.example\r\nmax_age: 604800\r\n' \
    >"$BIG/stage/c.txt"
cp "$BIG/stage/c.txt" "$BIG/policy/$C.txt"
check "c: the running host refuses $C's broken edit with file:line:col" \
    wait_until 10 status_has "$C" policy_problem "$C.txt:3:"
check "c: ... logged as '$C: edit refused, still serving policy id ...'" \
    wait_until 5 eval "log_since $mark | grep -Eq '$C: edit refused, still serving policy id [A-Za-z0-9]+: .*$C\.txt:3:[0-9]+: '"
policy_text "$C" v0 >"$BIG/want/$C"
check "c: $C's last good policy is still served" body_is "$C" "$BIG/want/$C"

stop_host
check_eq "b: the host stops cleanly" 0 "$HOST_RC"
E2E_START_WAIT=180 run_host big2 "$BIG/policy" "$BIG/certs" || e2e_finish
log "b: host restarted with $B expired and $C broken in $STARTED_MS ms"
code=$(get_health "$BIG/health.json")
check_eq "b: after the restart /healthz is 200" 200 "$code"
check_eq "b: after the restart: degraded, all but $B and $C servable" \
    "degraded $N $((N - 2)) 2" "$(sj "$BIG/health.json" \
        '"%s %d %d %d" % (j["status"], j["domains"], j["servable"], j["unwell"])')"
check_eq "b: after the restart $A serves its renewed certificate" "$SA1" \
    "$(serial_of "$A")"
policy_text "$A" v0 >"$BIG/want/$A"
check "b: after the restart $A serves its policy" body_is "$A" "$BIG/want/$A"
get_status "$BIG/status.json"
check_eq "b: after the restart $B is listed, not servable, with a certificate problem" \
    "False True" "$(sj "$BIG/status.json" "'%s %s' % (dom('$B')['servable'], bool(dom('$B')['certificate_problem']))")"
# The issue asks for every problem to be "shown for that domain": b's own
# entry should say that its certificate file expired, not only the list of
# the instance's problems.
check_contains "b: after the restart $B's own certificate_problem names its expired file" \
    "mta-sts.$B.crt" "$(sj "$BIG/status.json" "dom('$B')['certificate_problem']")"
check_contains "b: after the restart /status's problems name $B's expired file" \
    "mta-sts.$B.crt" "$(sj "$BIG/status.json" "[p for p in j['problems'] if 'expired' in p]")"
r=$(fetch "$B" "$BIG/got")
check "b: after the restart $B is not served with a verified certificate (got $r)" \
    test "$r" != 200
check_eq "c: after the restart $C is listed, not servable, without a policy" \
    "False None" "$(sj "$BIG/status.json" "'%s %s' % (dom('$C')['servable'], dom('$C')['policy'])")"
check_contains "c: $C's policy_problem has file:line:col" "$C.txt:3:" \
    "$(sj "$BIG/status.json" "dom('$C')['policy_problem']")"
check_file_contains "c: the log says why $C is not served, with file:line:col" \
    "error +$C: .*$C\.txt:3:[0-9]+: " "$HLOG"
r=$(fetch "$C" "$BIG/got")
check "c: $C's policy is not served (got $r)" test "$r" != 200
i=$((N / 2))
policy_text "$(dom $i)" v0 >"$BIG/want/mid"
check "b: another domain is served after the restart" body_is "$(dom $i)" \
    "$BIG/want/mid"
# c is repaired: it is served again (a new policy file, no restart).
policy_text "$C" v0 >"$BIG/policy/$C.txt"
check "c: $C is served once its file is fixed" \
    wait_until 10 body_is "$C" "$BIG/want/$C"

# b. A host whose only domain cannot be served. Expired at start: it does
# not start (exit non-zero, and says why).
SOLO=$T/solo
mkdir -p "$SOLO/policy" "$SOLO/certs" "$SOLO/certs2"
policy_text solo.example v0 >"$SOLO/policy/solo.example.txt"
echo "$SOLO/certs/mta-sts.solo.example mta-sts.solo.example" |
    gen $((-20 * DAY)) $((-DAY)) 400000
SOLO_HTTPS=$(free_port) SOLO_HTTP=$(free_port)
"$MTA_STS_HOST" serve "${ROOT_ARGS[@]}" --policy-dir "$SOLO/policy" \
    --cert-dir "$SOLO/certs" --https "127.0.0.1:$SOLO_HTTPS" \
    --http "127.0.0.1:$SOLO_HTTP" >"$SOLO/host.log" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
E2E_HOST_LOGS+=("$SOLO/host.log")
if wait_exit "$pid" 60; then
    check "b: a host whose only certificate expired does not start (exit $WAIT_RC)" \
        test "$WAIT_RC" != 0
else
    fail "b: a host whose only certificate expired does not start (still running)"
    kill -TERM "$pid" 2>/dev/null
fi
check_file_contains "b: ... it says nothing valid can be served" \
    "nothing valid to serve" "$SOLO/host.log"
check_file_contains "b: ... and that the certificate expired" \
    "mta-sts\.solo\.example\.crt.*expired" "$SOLO/host.log"

# One that expires while running: /healthz turns 503 "fail".
echo "$SOLO/certs2/mta-sts.solo.example mta-sts.solo.example" |
    gen -3600 6 400001
SAVED_HTTP=$HTTP_PORT SAVED_HTTPS=$HTTPS_PORT SAVED_LOG=$HLOG SAVED_PID=$HOST_PID
HOST_PID=
if run_host solo "$SOLO/policy" "$SOLO/certs2"; then
    code=$(get_health "$SOLO/health.json")
    check_eq "b: the short-lived host is healthy at first" "200 ok" \
        "$code $(sj "$SOLO/health.json" 'j["status"]')"
    health_fail() {
        [ "$(get_health "$SOLO/health.json")" = 503 ] &&
            [ "$(sj "$SOLO/health.json" 'j["status"]')" = fail ]
    }
    check "b: once its only certificate expires /healthz is 503 \"fail\"" \
        wait_until 20 health_fail
    check_eq "b: ... with nothing servable" "1 0" \
        "$(sj "$SOLO/health.json" '"%d %d" % (j["domains"], j["servable"])')"
    stop_host
fi
HTTP_PORT=$SAVED_HTTP HTTPS_PORT=$SAVED_HTTPS HLOG=$SAVED_LOG HOST_PID=$SAVED_PID

log "a-c took $((SECONDS - T_START)) s so far"

# ==== d. never a half-written policy on the wire ===========================

# The client: fetches each domain's policy over verified HTTPS (keep-alive,
# one connection per domain) until the stop file appears, the time limit
# passes or it has made MAX fetches; every 200 body must be one of the
# complete versions in that domain's directory (files 0, 1, 2, ...: the
# order they are written in). Prints a JSON summary per domain.
cat >"$T/client.py" <<'PY'
import http.client, json, os, socket, ssl, sys, time

port, ca, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
limit, max_n, bad_out = float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
ctx = ssl.create_default_context(cafile=ca)


class Conn(http.client.HTTPSConnection):
    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(s, server_hostname=self.host)


targets = []
for k in range(7, len(sys.argv), 2):
    vdir = sys.argv[k + 1]
    vers = []
    while os.path.exists(os.path.join(vdir, str(len(vers)))):
        with open(os.path.join(vdir, str(len(vers))), "rb") as f:
            vers.append(f.read())
    targets.append({"domain": sys.argv[k], "vers": vers, "conn": None,
                    "n": 0, "ok": 0, "other": 0, "errors": 0, "bad": 0,
                    "regress": 0, "max": 0, "seen": {}})
deadline = time.monotonic() + limit
n = 0
bad = open(bad_out, "wb")
while n < max_n and time.monotonic() < deadline and not os.path.exists(stop):
    for t in targets:
        try:
            if t["conn"] is None:
                t["conn"] = Conn("mta-sts." + t["domain"], port,
                                 context=ctx, timeout=5)
            t["conn"].request("GET", "/.well-known/mta-sts.txt")
            r = t["conn"].getresponse()
            body = r.read()
        except Exception:
            t["errors"] += 1
            if t["conn"] is not None:
                t["conn"].close()
            t["conn"] = None
            time.sleep(0.01)
            continue
        n += 1
        t["n"] += 1
        if r.status != 200:
            t["other"] += 1
            continue
        t["ok"] += 1
        try:
            i = t["vers"].index(body)
        except ValueError:
            t["bad"] += 1
            bad.write(t["domain"].encode() + b": " + repr(body).encode() + b"\n")
            continue
        if i < t["max"]:
            t["regress"] += 1
        t["max"] = max(t["max"], i)
        t["seen"][i] = t["seen"].get(i, 0) + 1
why = "stop" if os.path.exists(stop) else "count" if n >= max_n else "time"
for t in targets:
    del t["vers"], t["conn"]
print(json.dumps({"fetches": n, "targets": targets, "ended_by": why}))
PY

# long_policy DOMAIN TAG: a policy with max_age before three MX lines, so
# that most of its prefixes are valid policies too (a torn read of it
# would be served, not refused).
long_policy() {
    printf 'version: STSv1\r\nmode: enforce\r\nmax_age: 604800\r\nmx: mx1-%s.%s\r\nmx: mx2-%s.%s\r\nmx: *.mx3-%s.%s\r\n' \
        "$2" "$1" "$2" "$1" "$2" "$1"
}

# The writers. slow FILE DATA MS: truncate FILE in place and write DATA
# into it one byte every MS ms, then close it. trunc FILE DATA: truncate
# FILE and close it, then write DATA in two halves, 0.4 s apart. hup FILE
# DATA PID LOG MS: send PID a SIGHUP, and MS ms after LOG says it reloads,
# truncate FILE and write DATA but its last 8 bytes, which follow 0.5 s
# later; prints when (Unix ms) the write began.
cat >"$T/writer.py" <<'PY'
import os, signal, sys, time
mode, path, data = sys.argv[1], sys.argv[2], open(sys.argv[3], "rb").read()
if mode == "hup":
    pid, log, delay = int(sys.argv[4]), sys.argv[5], int(sys.argv[6]) / 1000.0
    start = os.path.getsize(log)
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    with open(log, "rb") as f:
        f.seek(start)
        seen = b""
        while b"SIGHUP: reloading" not in seen and time.monotonic() < deadline:
            seen += f.read()
            time.sleep(0.001)
    time.sleep(delay)
    with open(path, "wb") as f:
        print(int(time.time() * 1000), flush=True)
        f.write(data[:-8])
        f.flush()
        time.sleep(0.5)
        f.write(data[-8:])
elif mode == "slow":
    delay = int(sys.argv[4]) / 1000.0
    with open(path, "wb") as f:
        for i in range(len(data)):
            f.write(data[i:i + 1])
            f.flush()
            time.sleep(delay)
else:
    open(path, "wb").close()
    time.sleep(0.4)
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
        f.flush()
        time.sleep(0.4)
        f.write(data[len(data) // 2:])
PY

# torn_test LABEL POLICY_DIR SLOW REN MIN: on the running host, rewrite SLOW's
# policy slowly in place, then by truncate-then-write, while REN's policy
# is replaced by rename every 300 ms and the client checks every response
# (and sees at least MIN versions of REN).
torn_test() {
    local label=$1 pol=$2 slow=$3 ren=$4 k
    local D=$T/torn-$label
    mkdir -p "$D/slow" "$D/ren"
    cp "$pol/$slow.txt" "$D/slow/0"
    for ((k = 1; k <= 10; k++)); do
        long_policy "$slow" "v$k" >"$D/slow/$k"
    done
    cp "$pol/$ren.txt" "$D/ren/0"
    local nren=60
    for ((k = 1; k <= nren; k++)); do
        policy_text "$ren" "r$k" >"$D/ren/$k"
    done
    rm -f "$D/stop"
    python3 "$T/client.py" "$HTTPS_PORT" "$CA" "$D/stop" 300 1000000 \
        "$D/bad" "$slow" "$D/slow" "$ren" "$D/ren" >"$D/client.json" \
        2>"$D/client.err" &
    local cpid=$!
    E2E_PIDS+=("$cpid")
    (
        for ((k = 1; k <= nren; k++)); do
            [ -e "$D/ren.stop" ] && break
            cp "$D/ren/$k" "$pol/.ren.tmp" && mv "$pol/.ren.tmp" "$pol/$ren.txt"
            echo "$k" >"$D/ren.last"
            sleep 0.3
        done
    ) &
    local rpid=$!
    E2E_PIDS+=("$rpid")
    sleep 0.5
    local t0=$SECONDS wpid hups
    hups=$(grep -c 'SIGHUP: reloading' "$HLOG")
    # A full reload (SIGHUP, as a certificate renewal hook sends) while
    # the file is half written must not read it either: three of them
    # land in the slow write, once its prefixes are valid policies (after
    # the max_age line), one in the pause of the truncate-then-write.
    timeout 60 python3 "$T/writer.py" slow "$pol/$slow.txt" "$D/slow/1" 40 &
    wpid=$!
    E2E_PIDS+=("$wpid")
    for k in 2.5 1 1; do
        sleep "$k"
        kill -HUP "$HOST_PID"
    done
    wait_exit "$wpid" 60 || fail "d/$label: the slow writer finishes"
    log "d/$label: slow in-place write of $(wc -c <"$D/slow/1") bytes took $((SECONDS - t0)) s"
    check "d/$label: the slowly written policy goes live once closed" \
        wait_until 10 body_is "$slow" "$D/slow/1"
    timeout 30 python3 "$T/writer.py" trunc "$pol/$slow.txt" "$D/slow/2" &
    wpid=$!
    E2E_PIDS+=("$wpid")
    sleep 0.6
    kill -HUP "$HOST_PID"
    wait_exit "$wpid" 30 || fail "d/$label: the truncate-then-write writer finishes"
    check "d/$label: the truncated-then-written policy goes live once closed" \
        wait_until 10 body_is "$slow" "$D/slow/2"
    check "d/$label: the host reloaded on 4 SIGHUPs meanwhile" \
        test "$(grep -c 'SIGHUP: reloading' "$HLOG")" -ge $((hups + 4))
    # On the big host (inotify): a save begun while a full reload reads
    # the directory, after the reload began and before it reads that file,
    # must not be read either (SLOW sorts last there: the reload reads it
    # last). The store says when it left a file alone; tried until it did
    # twice.
    local left=0 mark v=3 last=2
    [ "$label" = inotify ] && last=10
    for (( ; v <= last && left < 2; v++)); do
        mark=$(log_mark)
        timeout 30 python3 "$T/writer.py" hup "$pol/$slow.txt" "$D/slow/$v" \
            "$HOST_PID" "$HLOG" $((v % 2 ? 2 : 6)) >/dev/null ||
            fail "d/$label: the writer during a reload finishes"
        wait_until 10 body_is "$slow" "$D/slow/$v" ||
            fail "d/$label: the save begun during a reload goes live once closed"
        log_since "$mark" | grep -qF "($slow.txt) changed while being read" &&
            left=$((left + 1))
    done
    if [ "$label" = inotify ]; then
        log "d/$label: $((v - 3)) saves begun during a full reload, $left of them left alone by the reload"
        check "d/$label: a save begun during a full reload was left alone (twice)" \
            test "$left" -ge 2
        # The same for SLOW's certificate chain rewritten in place (the
        # same bytes, its last 8 half a second later: what is read before
        # is the leaf alone, which GnuTLS takes, the CA cut off): the
        # reload leaves the pair as it was, never refuses what it read of
        # the save, and each save is loaded once, when finished (the
        # close's reload loads the pair even with the same bytes; a pair
        # read half-way was loaded a second time).
        local crt=${pol%/policy}/certs/mta-sts.$slow.crt cleft=0 cbad=0 cload=0
        cp "$crt" "$D/crt"
        for ((k = 0; k < 6 && cleft < 2; k++)); do
            mark=$(log_mark)
            timeout 30 python3 "$T/writer.py" hup "$crt" "$D/crt" \
                "$HOST_PID" "$HLOG" $((k % 2 ? 2 : 6)) >/dev/null ||
                fail "d/$label: the certificate writer during a reload finishes"
            sleep 0.5
            log_since "$mark" | grep -qF "(mta-sts.$slow.crt) changed while being read" &&
                cleft=$((cleft + 1))
            cbad=$((cbad + $(log_since "$mark" | grep -c "error .*mta-sts.$slow.crt")))
            cload=$((cload + $(log_since "$mark" |
                grep -c "certificate .*mta-sts.$slow.crt .*loaded")))
        done
        log "d/$label: $k certificate saves begun during a full reload, $cleft left alone"
        check "d/$label: a certificate save begun during a full reload was left alone (twice)" \
            test "$cleft" -ge 2
        check_eq "d/$label: ... and what was read of it was never refused" 0 "$cbad"
        check "d/$label: ... and each save was loaded once at most ($cload loads for $k saves)" \
            test "$cload" -le "$k"
        check_eq "d/$label: ... and the same certificate is still served" \
            "$(openssl x509 -in "$D/crt" -noout -serial | cut -d= -f2)" \
            "$(serial_of "$slow")"
    fi
    # The renames stop; the last one written goes live (polling hands a
    # file over only once it stayed the same for a second, so there a file
    # renamed every 300 ms is served once the renames stop).
    touch "$D/ren.stop"
    wait_exit "$rpid" 10 || kill -TERM "$rpid" 2>/dev/null
    k=$(cat "$D/ren.last" 2>/dev/null)
    check "d/$label: the last of $k renames of $ren goes live" \
        wait_until 10 body_is "$ren" "$D/ren/${k:-0}"
    sleep 0.5
    touch "$D/stop"
    if ! wait_exit "$cpid" 20; then
        fail "d/$label: the client finishes"
        kill -TERM "$cpid" 2>/dev/null
    fi
    log "d/$label: client: $(sj "$D/client.json" '"%d fetches; " % j["fetches"] + "; ".join("%s: %d (200: %d, other: %d, errors: %d), versions seen %s" % (t["domain"], t["n"], t["ok"], t["other"], t["errors"], sorted(int(k) for k in t["seen"])) for t in j["targets"])')"
    [ -s "$D/bad" ] && head -n 5 "$D/bad" | sed 's/^/#   torn: /'
    check_eq "d/$label: no response was anything but a complete version" "0 0" \
        "$(sj "$D/client.json" '" ".join(str(t["bad"]) for t in j["targets"])')"
    check_eq "d/$label: versions never went backwards" "0 0" \
        "$(sj "$D/client.json" '" ".join(str(t["regress"]) for t in j["targets"])')"
    check_eq "d/$label: every response was a 200" "0 0" \
        "$(sj "$D/client.json" '" ".join(str(t["other"]) for t in j["targets"])')"
    check_eq "d/$label: the client saw the old and both new versions of $slow" \
        True "$(sj "$D/client.json" '{"0", "1", "2"} <= set(j["targets"][0]["seen"])')"
    check "d/$label: the client saw at least $5 renamed versions of $ren" \
        test "$(sj "$D/client.json" 'len(j["targets"][1]["seen"])')" -ge "$5"
    check "d/$label: the client made at least 200 fetches" \
        test "$(sj "$D/client.json" 'j["fetches"]')" -ge 200
    check_eq "d/$label: the client was fetching until the end (its stop file)" \
        stop "$(sj "$D/client.json" 'j["ended_by"]')"
}

# inotify (the default settings) on the big host.
torn_test inotify "$BIG/policy" "$(dom "$N")" "$(dom 11)" 5

# f2. 210 edits refused at once on the running big host: each is reported
# and each domain keeps its last good policy.
NF2=210
[ "$NF2" -gt $((N - 20)) ] && NF2=$((N - 20))
mark=$(log_mark)
for ((i = 21; i < 21 + NF2; i++)); do
    printf -v d 'd%05d.example' "$i"
    printf 'version: STSv1\r\nmode: enforce\r\nmx: mx.%s\r\nmax_age: soon\r\n' \
        "$d" >"$BIG/policy/$d.txt"
done
refused_now() {
    get_status "$T/f2.json" &&
        [ "$(sj "$T/f2.json" "sum(1 for d in doms if (d['policy_problem'] or '').startswith('edit refused'))")" = "$NF2" ]
}
check "f: $NF2 refused edits at once are each on /status" wait_until 20 refused_now
check_eq "f: ... each with its file:line:col, each still serving its last good policy" \
    "$NF2" "$(sj "$T/f2.json" "sum(1 for d in doms if d['servable'] and d['policy'] and (d['domain'] + '.txt:4:') in (d['policy_problem'] or ''))")"
check_eq "f: ... and each is logged once" "$NF2" \
    "$(log_since "$mark" | grep -E 'error +d[0-9]+\.example: edit refused, still serving policy id' |
        sed -E 's/.*error +(d[0-9]+\.example):.*/\1/' | sort -u | wc -l)"
code=$(get_health "$BIG/health.json")
# (b's certificate is still expired, c is repaired.)
check_eq "f: /healthz: 200 degraded, $((N - 1)) servable, $((NF2 + 1)) unwell" \
    "200 degraded $((N - 1)) $((NF2 + 1))" "$code $(sj "$BIG/health.json" \
        '"%s %d %d" % (j["status"], j["servable"], j["unwell"])')"
printf -v d 'd%05d.example' 21
policy_text "$d" v0 >"$BIG/want/$d"
check "f: $d still serves its last good policy" body_is "$d" "$BIG/want/$d"
# And a valid edit of another domain is still served.
printf -v d 'd%05d.example' "$N"
policy_text "$d" v9 >"$BIG/want/$d"
cp "$BIG/want/$d" "$BIG/stage/x.txt" && mv "$BIG/stage/x.txt" "$BIG/policy/$d.txt"
check "f: a valid edit of $d is served while $NF2 others are refused" \
    wait_until 10 body_is "$d" "$BIG/want/$d"
stop_host
log "the big host's part took $((SECONDS - T_START)) s"

# ==== d (poll), e (poll): a polling host with symlinked roots ==============

# small_set DIR PREFIX COUNT SERIAL: COUNT domains PREFIX01.example ... with
# their policies in DIR/real-policy and certificates in DIR/real-certs;
# DIR/policy and DIR/certs are symlinks to them.
small_set() {
    local dir=$1 prefix=$2 count=$3 serial=$4 i d
    mkdir -p "$dir/real-policy" "$dir/real-certs" "$dir/stage" "$dir/want"
    ln -s real-policy "$dir/policy"
    ln -s real-certs "$dir/certs"
    for ((i = 1; i <= count; i++)); do
        printf -v d '%s%02d.example' "$prefix" "$i"
        policy_text "$d" v0 >"$dir/real-policy/$d.txt"
        printf '%s %s\n' "$dir/real-certs/mta-sts.$d" "mta-sts.$d"
    done | gen -3600 $((30 * DAY)) "$serial"
}

# renew_test LABEL DIR CDOM PDOM SERIAL SECONDS: renew CDOM's certificate
# by renaming a new key and certificate into DIR/certs (the symlink), then
# a second later rename a new policy for PDOM into place: both must be
# served within SECONDS, without SIGHUP.
renew_test() {
    local label=$1 dir=$2 cdom=$3 pdom=$4 serial=$5 limit=$6 t0 hups
    hups=$(grep -c SIGHUP "$HLOG")
    echo "$dir/stage/renew mta-sts.$cdom" | gen -3600 $((45 * DAY)) "$serial"
    t0=$(now_ms)
    mv "$dir/stage/renew.key" "$dir/certs/mta-sts.$cdom.key"
    mv "$dir/stage/renew.crt" "$dir/certs/mta-sts.$cdom.crt"
    sleep 1
    policy_text "$pdom" renewed >"$dir/want/$pdom"
    cp "$dir/want/$pdom" "$dir/stage/p.txt" && mv "$dir/stage/p.txt" "$dir/policy/$pdom.txt"
    check "e/$label: the policy renamed a second after the renewal goes live" \
        wait_until "$limit" body_is "$pdom" "$dir/want/$pdom"
    check "e/$label: the renewed certificate (symlinked cert-dir) is served within $limit s" \
        wait_until "$limit" serial_is "$cdom" "$(hexserial "$serial")"
    log "e/$label: renewal served after $(($(now_ms) - t0)) ms"
    # Some seconds later it is still the one served (no reload undid it).
    sleep 2
    check_eq "e/$label: ... and stays served" "$(hexserial "$serial")" \
        "$(serial_of "$cdom")"
    check "e/$label: no SIGHUP was needed" \
        test "$(grep -c SIGHUP "$HLOG")" = "$hups"
}

PL=$T/poll
small_set "$PL" p 12 500000
printf 'reload:\n  force_poll: true\n  poll_interval_ms: 500\n' >"$PL/config.yaml"
if run_host poll "$PL/policy" "$PL/certs" -c "$PL/config.yaml"; then
    check_file_contains "poll: the host polls" "watching .*poll" "$HLOG"
    torn_test poll "$PL/policy" p01.example p02.example 2
    renew_test poll "$PL" p03.example p04.example 510000 8
    stop_host
fi

# ==== e, g: an inotify host with symlinked roots and a 60 s poll ===========

LK=$T/links
small_set "$LK" l 12 600000
printf 'reload:\n  debounce_ms: 50\n  poll_interval_ms: 60000\n' >"$LK/config.yaml"
if run_host links "$LK/policy" "$LK/certs" -c "$LK/config.yaml"; then
    check_file_contains "g: the symlinked roots are watched with inotify" \
        "watching .*\(inotify" "$HLOG"
    check "g: no directory is left to polling" \
        eval "! grep -q 'cannot watch' '$HLOG'"
    # An in-place edit through the real directory, then a rename-save.
    policy_text l01.example g1 >"$LK/want/g1"
    t0=$(now_ms)
    cp "$LK/want/g1" "$LK/real-policy/l01.example.txt"
    check "g: an in-place edit under the symlinked policy-dir is live within 2 s" \
        wait_until 2 body_is l01.example "$LK/want/g1"
    log "g: in-place edit live after $(($(now_ms) - t0)) ms (poll interval 60 s)"
    policy_text l01.example g2 >"$LK/want/g2"
    t0=$(now_ms)
    cp "$LK/want/g2" "$LK/stage/g2.txt" && mv "$LK/stage/g2.txt" "$LK/policy/l01.example.txt"
    check "g: a rename-save under the symlinked policy-dir is live within 2 s" \
        wait_until 2 body_is l01.example "$LK/want/g2"
    log "g: rename-save live after $(($(now_ms) - t0)) ms"
    renew_test inotify "$LK" l03.example l04.example 610000 5
    stop_host
fi

# ==== f. 250 problems at once, each reported ===============================

MANY=$T/many
mkdir -p "$MANY/policy" "$MANY/certs"
NBAD=250
for ((i = 1; i <= NBAD + 5; i++)); do
    printf -v d 'f%03d.example' "$i"
    if [ "$i" -le $((NBAD / 2)) ]; then
        # A broken policy (a good certificate).
        printf 'version: STSv1\r\nmode: enforce\r\nmx: mx.%s\r\nmax_age: -1\r\n' \
            "$d" >"$MANY/policy/$d.txt"
    else
        policy_text "$d" v0 >"$MANY/policy/$d.txt"
    fi
    printf '%s %s\n' "$MANY/certs/mta-sts.$d" "mta-sts.$d"
done | gen -3600 $((30 * DAY)) 700000
# The other half: a key that does not match the certificate.
for ((i = NBAD / 2 + 1; i <= NBAD; i++)); do
    printf -v d 'f%03d.example' "$i"
    cp "$OTHERKEY" "$MANY/certs/mta-sts.$d.key"
done
if run_host many "$MANY/policy" "$MANY/certs"; then
    code=$(get_health "$MANY/health.json")
    check_eq "f: /healthz with $NBAD broken domains: 200 degraded, 5 servable, $NBAD unwell" \
        "200 degraded $((NBAD + 5)) 5 $NBAD" "$code $(sj "$MANY/health.json" \
            '"%s %d %d %d" % (j["status"], j["domains"], j["servable"], j["unwell"])')"
    get_status "$MANY/status.json"
    check_eq "f: /status: $((NBAD / 2)) domains with a policy_problem at file:line:col" \
        $((NBAD / 2)) "$(sj "$MANY/status.json" "sum(1 for d in doms if not d['servable'] and (d['domain'] + '.txt:4:') in (d['policy_problem'] or ''))")"
    check_eq "f: /status: $((NBAD - NBAD / 2)) domains with a certificate_problem" \
        $((NBAD - NBAD / 2)) "$(sj "$MANY/status.json" "sum(1 for d in doms if not d['servable'] and d['policy'] and d['certificate_problem'])")"
    check_eq "f: /status: each mismatched-key domain's own certificate_problem says so" \
        $((NBAD - NBAD / 2)) "$(sj "$MANY/status.json" "sum(1 for d in doms if 'does not match' in (d['certificate_problem'] or ''))")"
    check_eq "f: /status: every mismatched key is among the problems, by file" \
        $((NBAD - NBAD / 2)) "$(sj "$MANY/status.json" "len(set(p.split(':')[0] for p in j['problems'] if 'does not match' in p))")"
    check_eq "f: the log has an error line for each of the $NBAD domains" "$NBAD" \
        "$(grep -E 'error +f[0-9]+\.example: ' "$HLOG" |
            sed -E 's/.*error +(f[0-9]+\.example):.*/\1/' | sort -u | wc -l)"
    check_eq "f: the log names each mismatched key's certificate file" \
        $((NBAD - NBAD / 2)) "$(grep -E 'error .*mta-sts\.f[0-9]+\.example\.crt.*does not match' "$HLOG" |
            sed -E 's/.*mta-sts\.(f[0-9]+)\.example\.crt.*/\1/' | sort -u | wc -l)"
    d=f$((NBAD + 1)).example
    policy_text "$d" v0 >"$MANY/want"
    check "f: a good domain ($d) is served" body_is "$d" "$MANY/want"
    stop_host
fi

# ==== h. wildcard certificates and policies no certificate covers ==========

WD=$T/wild
mkdir -p "$WD/policy" "$WD/certs" "$WD/stage"
policy_text example.org v0 >"$WD/policy/example.org.txt"
policy_text nocert.example.net v0 >"$WD/policy/nocert.example.net.txt"
echo "$WD/certs/wild '*.example.org'" | tr -d "'" | gen -3600 $((30 * DAY)) 800000
if run_host wild "$WD/policy" "$WD/certs"; then
    get_status "$WD/status.json"
    check_eq "h: example.org is served under the wildcard certificate" \
        "True True *.example.org" "$(sj "$WD/status.json" "'%s %s %s' % (dom('example.org')['ok'], dom('example.org')['servable'], dom('example.org')['certificate']['subject'])")"
    check "h: mta-sts.example.org serves policy/example.org.txt (verified HTTPS)" \
        body_is example.org "$WD/policy/example.org.txt"
    check_contains "h: ... with the wildcard certificate" "subject=CN = *.example.org" \
        "$(leaf_info example.org)"
    check_eq "h: nocert.example.net is listed, not servable" "False False" \
        "$(sj "$WD/status.json" "'%s %s' % (dom('nocert.example.net')['ok'], dom('nocert.example.net')['servable'])")"
    check_contains "h: ... its certificate_problem says no certificate covers it" \
        "no certificate covers mta-sts.nocert.example.net" \
        "$(sj "$WD/status.json" "dom('nocert.example.net')['certificate_problem']")"
    check_file_contains "h: ... and the log says so" \
        "nocert\.example\.net: no certificate covers mta-sts\.nocert\.example\.net" "$HLOG"
    code=$(get_health "$WD/health.json")
    check_eq "h: /healthz: 200 degraded, 2 domains, 1 servable" \
        "200 degraded 2 1" "$code $(sj "$WD/health.json" '"%s %d %d" % (j["status"], j["domains"], j["servable"])')"
    # The missing certificate arrives: the domain is served, no restart.
    echo "$WD/stage/nc mta-sts.nocert.example.net" | gen -3600 $((30 * DAY)) 800001
    mv "$WD/stage/nc.key" "$WD/certs/mta-sts.nocert.example.net.key"
    mv "$WD/stage/nc.crt" "$WD/certs/mta-sts.nocert.example.net.crt"
    check "h: once a certificate covers it, nocert.example.net is served" \
        wait_until 10 body_is nocert.example.net "$WD/policy/nocert.example.net.txt"
    stop_host
fi

log "total $((SECONDS - T_START)) s"
e2e_finish
