#!/usr/bin/env bash
# test_reload.sh: end-to-end test of live reloading (issue 4). Drives the
# real mta-sts-host binary over real HTTPS on loopback with real files and
# real inotify: every way operators and tools edit a policy goes live
# within a bounded wait with the right ETag and `publish:` line, every kind
# of bad edit keeps the last good policy served byte for byte (and says
# why, in the log, /healthz, /status and /metrics), certificate renewals by
# file replacement reach new handshakes and mismatched ones are refused, 200+
# reloads under concurrent clients never serve a torn or mixed response,
# and the polling fallback works when forced on.
#
# Each scenario gets a fresh host (own policy and certificate directory,
# own ports), so one failure does not hide the results of the others. The
# inotify hosts run with reload.poll_interval_ms: 3600000 so that the
# polling safety net cannot mask an edit that inotify missed.
#
# Run by ctest as: MTA_STS_HOST=<binary> SRCDIR=<repo> bash test_reload.sh
# As root the host runs as nobody (setpriv), so that chmod 000 truly makes
# a file unreadable to it.
# The brk_*/fix_* and probe functions are called indirectly (by name).
# shellcheck disable=SC2317
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$HERE/lib.sh"
e2e_init
umask 022

need_tools certtool:gnutls-bin gnutls-cli:gnutls-bin curl:curl python3:python3

BIN=$MTA_STS_HOST
T=$E2E_TMP
chmod 755 "$T"
CA=$T/ca/ca.pem
RUNAS=()
if [ "$(id -u)" = 0 ]; then
    need_tools setpriv:util-linux
    RUNAS=(--reuid=nobody --regid=nogroup --clear-groups)
fi
# Bounded waits (seconds) for an edit to go live / a refusal to show.
LIVE_WAIT=5

now_ms() { date +%s%3N; }

# ---- fixtures ------------------------------------------------------------

make_ca "$T/ca" || { fail "make test CA"; e2e_finish; }
for d in example.com example.net; do
    make_cert "$T/ca" "$T/ca/$d" ecdsa "mta-sts.$d" ||
        { fail "make certificate for mta-sts.$d"; e2e_finish; }
done
chmod 644 "$T"/ca/*.key

# policy FILE MODE MX... : write a valid-looking policy (LF line ends).
policy() {
    local f=$1 mode=$2 mx
    shift 2
    {
        printf 'version: STSv1\nmode: %s\n' "$mode"
        for mx in "$@"; do printf 'mx: %s\n' "$mx"; done
        printf 'max_age: 604800\n'
    } >"$f"
}
mkdir -p "$T/p"
policy "$T/p/P0" testing mx1.example.com mx2.example.com
policy "$T/p/P1" enforce mx1.example.com mx2.example.com
policy "$T/p/P2" enforce mx.example.org
policy "$T/p/NET" enforce mx1.example.net '*.backup.example.net'
policy "$T/p/A" enforce mxa.example.com
policy "$T/p/B" enforce mxb1.example.com mxb2.example.com mxb3.example.com \
    '*.mxb.example.com'

# served FILE: the bytes the host serves for policy FILE (CRLF line ends;
# the fixtures have no trailing blanks to trim).
served() { sed 's/$/\r/' "$1"; }

# ---- one host per scenario -----------------------------------------------

S='' POL='' CRT='' HLOG='' HTTPS_PORT='' HTTP_PORT=''

# srv_prepare NAME: fresh directories for a host serving example.com and
# example.net, with the P0 default policy and one certificate per name.
srv_prepare() {
    S=$T/$1
    POL=$S/policy CRT=$S/certs HLOG=$S/host.log
    mkdir -p "$POL" "$CRT" "$S/stage" "$S/out"
    cp "$T/p/P0" "$POL/mta-sts.txt"
    local d
    for d in example.com example.net; do
        cp "$T/ca/$d.crt" "$CRT/mta-sts.$d.crt"
        cp "$T/ca/$d.key" "$CRT/mta-sts.$d.key"
    done
}

# srv_run CONFIG_YAML [ARG...]: start the host on fresh loopback ports.
srv_run() {
    printf '%s\n' "$1" >"$S/config.yaml"
    shift
    HTTPS_PORT=$(free_port) && HTTP_PORT=$(free_port) || return 1
    local args=(serve -c "$S/config.yaml" --domain example.com
        --domain example.net --policy-dir "$POL" --cert-dir "$CRT"
        --https "127.0.0.1:$HTTPS_PORT" --http "127.0.0.1:$HTTP_PORT" "$@")
    local url=http://127.0.0.1:$HTTP_PORT/healthz
    if [ ${#RUNAS[@]} -gt 0 ]; then
        MTA_STS_HOST=$(command -v setpriv) host_start "$HLOG" "$url" \
            "${RUNAS[@]}" "$BIN" "${args[@]}"
    else
        host_start "$HLOG" "$url" "${args[@]}"
    fi
}

INOTIFY_CFG='reload:
  debounce_ms: 50
  poll_interval_ms: 3600000'

# srv_start NAME: prepare (unless already prepared) and run an inotify host.
srv_start() {
    [ "$S" = "$T/$1" ] || srv_prepare "$1"
    if ! srv_run "$INOTIFY_CFG"; then
        fail "$1: host starts"
        [ -f "$HLOG" ] && tail -n 20 "$HLOG" | sed 's/^/#   /'
        return 1
    fi
}

srv_stop() {
    [ -n "$HOST_PID" ] && host_stop "$HOST_PID" 12 >/dev/null
    HOST_PID=
}

# ---- probes ----------------------------------------------------------------

# fetch DOMAIN OUT: GET the policy into OUT; prints "CODE ETAG" (unquoted).
fetch() {
    local d=$1 r
    r=$(hurl --max-time 5 --cacert "$CA" \
        --resolve "mta-sts.$d:$HTTPS_PORT:127.0.0.1" -o "$2" \
        -w '%{http_code} %header{etag}' \
        "https://mta-sts.$d:$HTTPS_PORT/.well-known/mta-sts.txt") || r="000 -"
    r=${r//\"/}
    printf '%s\n' "$r"
}

# wait_body DOMAIN WANT_FILE [SECONDS]: poll until the served body equals
# WANT_FILE (at most SECONDS, default LIVE_WAIT, and 400 tries). Sets
# WAITED_MS.
WAITED_MS=0
wait_body() {
    local d=$1 want=$2 limit=${3:-$LIVE_WAIT} i t0 got=$S/out/wait.body
    t0=$(now_ms)
    for ((i = 0; i < 400; i++)); do
        fetch "$d" "$got" >/dev/null
        if cmp -s "$got" "$want"; then
            WAITED_MS=$(($(now_ms) - t0))
            return 0
        fi
        [ $(($(now_ms) - t0)) -ge $((limit * 1000)) ] && break
        sleep 0.02
    done
    WAITED_MS=$(($(now_ms) - t0))
    return 1
}

# dns_line DOMAIN: the `_mta-sts` TXT line `mta-sts-host dns` prints for
# the policy now in $POL.
dns_line() {
    "$BIN" dns --domain "$1" --policy-dir "$POL" 2>/dev/null |
        grep -E "^_mta-sts\.$1\. " | head -n 1
}
id_of_line() { sed -n 's/.*id=\([A-Za-z0-9]*\).*/\1/p' <<<"$1"; }

health_code() {
    hurl --max-time 5 -o /dev/null -w '%{http_code}' \
        "http://127.0.0.1:$HTTP_PORT/healthz"
}
# hz PYEXPR: evaluate PYEXPR over the /healthz JSON (as j).
hz() {
    health | python3 -c '
import json, sys
j = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1" 2>/dev/null
}
# st PYEXPR: evaluate PYEXPR over the /status JSON (as j); dom(NAME) gives
# one domain's entry.
st() {
    status_json | python3 -c '
import json, sys
j = json.load(sys.stdin)
def dom(n):
    return [d for d in j["domains"] if d["domain"] == n][0]
print(eval(sys.argv[1]))' "$1" 2>/dev/null
}
status_is() { [ "$(hz 'j["status"]')" = "$1" ]; }
log_mark() { wc -l <"$HLOG"; }
log_since() { tail -n +$(($1 + 1)) "$HLOG"; }
# log_has MARK ERE / log_has_fixed MARK STRING: a log line after MARK
# matches (waits up to 2 s).
LH_MARK='' LH_PAT='' LH_MODE=''
log_has_now() { log_since "$LH_MARK" | grep -q "$LH_MODE" -- "$LH_PAT"; }
log_has() { LH_MARK=$1 LH_PAT=$2 LH_MODE=-E; wait_until 2 log_has_now; }
log_has_fixed() { LH_MARK=$1 LH_PAT=$2 LH_MODE=-F; wait_until 2 log_has_now; }

# served_leaf DOMAIN: the PEM of the leaf certificate served for DOMAIN's
# mta-sts host name, verified against the test CA.
served_leaf() {
    timeout 10 gnutls-cli --print-cert --x509cafile="$CA" \
        --verify-hostname="mta-sts.$1" --sni-hostname="mta-sts.$1" \
        -p "$HTTPS_PORT" 127.0.0.1 </dev/null 2>/dev/null |
        awk '/BEGIN CERTIFICATE/ { on = 1 } on { print }
             /END CERTIFICATE/ { exit }'
}
# leaf_is DOMAIN PEM_FILE: the served leaf is the one in PEM_FILE.
leaf_is() { served_leaf "$1" | cmp -s - "$2"; }
leaf_of() {
    awk '/BEGIN CERTIFICATE/ { on = 1 } on { print }
         /END CERTIFICATE/ { exit }' "$1"
}

# check_live LABEL MARK WANT_POLICY DOMAIN...: after an edit, each DOMAIN
# serves WANT_POLICY within LIVE_WAIT s, with ETag = the id `dns` computes,
# and the log (after MARK) carries the very `publish:` line `dns` prints.
check_live() {
    local label=$1 mark=$2 want=$S/out/want d line id got code etag
    served "$3" >"$want"
    shift 3
    for d in "$@"; do
        if wait_body "$d" "$want"; then
            pass "$label: $d serves the new policy (after ${WAITED_MS} ms)"
        else
            fail "$label: $d serves the new policy within ${LIVE_WAIT} s"
        fi
        line=$(dns_line "$d")
        id=$(id_of_line "$line")
        read -r code etag < <(fetch "$d" "$S/out/live.body")
        if [ -n "$id" ] && [ "$etag" = "$id" ] && [ "$code" = 200 ]; then
            pass "$label: $d ETag equals the id from dns ($id)"
        else
            fail "$label: $d ETag equals the id from dns (want '$id', got" \
                "'$etag', HTTP $code)"
        fi
        if [ -n "$line" ] && log_has_fixed "$mark" "publish: $line"; then
            pass "$label: $d publish line matches dns"
        else
            fail "$label: $d publish line matches dns (want 'publish:" \
                "$line'; log has: $(log_since "$mark" | grep -F "publish: _mta-sts.$d." | tail -n 1))"
        fi
    done
}

# ---- 1. edits that must go live --------------------------------------------

log "live edits (inotify, debounce 50 ms)"

srv_start inplace && {
    m=$(log_mark)
    cat "$T/p/P1" >"$POL/mta-sts.txt"
    check_live "in-place write (cat >)" "$m" "$T/p/P1" example.com example.net
    srv_stop
}

srv_start truncate && {
    m=$(log_mark)
    truncate -s0 "$POL/mta-sts.txt"
    cat "$T/p/P1" >>"$POL/mta-sts.txt"
    check_live "truncate -s0 then write" "$m" "$T/p/P1" example.com \
        example.net
    srv_stop
}

srv_start rename && {
    m=$(log_mark)
    cp "$T/p/P1" "$POL/.mta-sts.txt.swp"
    mv -f "$POL/.mta-sts.txt.swp" "$POL/mta-sts.txt"
    check_live "editor-style temp file + mv" "$m" "$T/p/P1" example.com \
        example.net
    srv_stop
}

srv_start sed && {
    m=$(log_mark)
    sed -i 's/^mode: testing$/mode: enforce/' "$POL/mta-sts.txt"
    check_live "sed -i" "$m" "$T/p/P1" example.com example.net
    srv_stop
}

# Kubernetes ConfigMap volume layout: the real file lives in a timestamped
# directory, reached through the `..data` symlink that an update swaps.
srv_prepare k8s
rm -f "$POL/mta-sts.txt"
mkdir "$POL/..2026_01_01"
cp "$T/p/P0" "$POL/..2026_01_01/mta-sts.txt"
ln -s ..2026_01_01 "$POL/..data"
ln -s ..data/mta-sts.txt "$POL/mta-sts.txt"
srv_start k8s && {
    m=$(log_mark)
    mkdir "$POL/..2026_01_02"
    cp "$T/p/P1" "$POL/..2026_01_02/mta-sts.txt"
    ln -s ..2026_01_02 "$POL/..data_tmp"
    mv -T "$POL/..data_tmp" "$POL/..data"
    rm -rf "$POL/..2026_01_01"
    check_live "Kubernetes ..data symlink swap" "$m" "$T/p/P1" example.com \
        example.net
    srv_stop
}

srv_start override-new && {
    m=$(log_mark)
    before=$(fetch example.com "$S/out/com.before")
    cat "$T/p/NET" >"$POL/example.net.txt"
    check_live "new override example.net.txt" "$m" "$T/p/NET" example.net
    served "$T/p/P0" >"$S/out/p0"
    after=$(fetch example.com "$S/out/com.after")
    if cmp -s "$S/out/com.after" "$S/out/p0" && [ "$before" = "$after" ]; then
        pass "new override: example.com still serves the default policy"
    else
        fail "new override: example.com still serves the default policy" \
            "($before -> $after)"
    fi
    srv_stop
}

srv_prepare override-del
cp "$T/p/NET" "$POL/example.net.txt"
srv_start override-del && {
    m=$(log_mark)
    rm -f "$POL/example.net.txt"
    check_live "deleted override example.net.txt" "$m" "$T/p/P0" example.net
    srv_stop
}

# ---- 1b. a finished policy save does not wait for the debounce ------------
# With a 4 s debounce, a policy file that was written and closed (or
# renamed into place) goes live after a short settle, far below 4 s; a
# certificate change still waits the whole debounce, because a renewal
# writes a certificate and a key that only make sense together. The bounds
# are a factor of 2 to 100 away from what is being told apart. Each reload
# re-reads only what changed: the one policy file, or the one pair.

log "settle: policy saves skip the debounce, certificates keep it"
srv_prepare settle
if srv_run 'reload:
  debounce_ms: 4000
  poll_interval_ms: 3600000' --log-level debug; then
    for edit in inplace vim; do
        m=$(log_mark)
        if [ $edit = inplace ]; then
            want=P1
            cat "$T/p/P1" >"$POL/mta-sts.txt"
        else
            # vim's default save: rename the original to a backup, write a
            # new file, delete the backup.
            want=P0
            mv "$POL/mta-sts.txt" "$POL/mta-sts.txt~"
            cat "$T/p/P0" >"$POL/mta-sts.txt"
            rm -f "$POL/mta-sts.txt~"
        fi
        served "$T/p/$want" >"$S/out/settle.want"
        if wait_body example.com "$S/out/settle.want" 2; then
            pass "settle: $edit save served after ${WAITED_MS} ms (< 2000," \
                "debounce 4000)"
        else
            fail "settle: $edit save served within 2 s (debounce 4000)"
        fi
        check "settle: $edit save re-reads only the changed policy file" \
            log_has_fixed "$m" "reloading 1 changed path: "
        if log_since "$m" | grep -Eq 'reloading everything|certificate .* loaded'; then
            fail "settle: $edit save reloads no certificate"
        else
            pass "settle: $edit save reloads no certificate"
        fi
    done
    m=$(log_mark)
    leaf_of "$CRT/mta-sts.example.com.crt" >"$S/out/settle.leaf0"
    make_cert "$T/ca" "$S/stage/settle" ecdsa mta-sts.example.com
    chmod 644 "$S/stage/settle.key"
    leaf_of "$S/stage/settle.crt" >"$S/out/settle.leaf1"
    mv -f "$S/stage/settle.crt" "$CRT/mta-sts.example.com.crt"
    mv -f "$S/stage/settle.key" "$CRT/mta-sts.example.com.key"
    sleep 1
    check "settle: a certificate change is not loaded after 1 s (debounce 4 s)" \
        leaf_is example.com "$S/out/settle.leaf0"
    check "settle: the certificate change is loaded after the debounce" \
        wait_until 10 leaf_is example.com "$S/out/settle.leaf1"
    check "settle: the certificate change reloads that pair" \
        log_has "$m" "certificate $CRT/mta-sts\.example\.com\.crt for mta-sts\.example\.com loaded"
    if log_since "$m" | grep -Eq 'reloading everything|mta-sts\.example\.net\.crt .*loaded'; then
        fail "settle: the certificate change reloads only that pair"
    else
        pass "settle: the certificate change reloads only that pair"
    fi
    check_eq "settle: the pair (new .crt and .key) is loaded once" 1 \
        "$(log_since "$m" | grep -c 'certificate .*/mta-sts\.example\.com\.crt for .* loaded')"
    srv_stop
else
    fail "settle: host starts"
fi

# ---- 2. bad edits keep the last good policy --------------------------------

log "bad edits (inotify, debounce 50 ms)"

# bad_edit NAME LABEL LOG_ERE BREAK_FN [FIX_FN]: break the default policy
# with BREAK_FN, check the refusal, then fix it with FIX_FN (default:
# write P1 in place) and check the recovery.
fix_write() { cat "$T/p/P1" >"$POL/mta-sts.txt"; }
bad_edit() {
    local name=$1 label=$2 ere=$3 brk=$4 fix=${5:-fix_write}
    local d ok m f0 f1 code etag
    srv_start "$name" || return
    local -A old_etag
    for d in example.com example.net; do
        read -r code etag < <(fetch "$d" "$S/out/$d.old")
        old_etag[$d]=$etag
    done
    f0=$(metric mta_sts_reload_failures_total)
    m=$(log_mark)
    "$brk"
    if wait_until "$LIVE_WAIT" status_is degraded; then
        pass "$label: /healthz says degraded"
    else
        fail "$label: /healthz says degraded (got: $(health | head -c 300))"
    fi
    check_eq "$label: /healthz still answers 200" 200 "$(health_code)"
    check_eq "$label: /healthz counts both domains unwell, both servable" \
        "2 2" "$(hz '"%d %d" % (j["unwell"], j["servable"])')"
    for d in example.com example.net; do
        ok=$(st "(dom('$d')['policy_problem'] or '').startswith('edit refused, still serving policy id ${old_etag[$d]}: ') and 'mta-sts.txt' in dom('$d')['policy_problem'] and dom('$d')['servable']")
        check_eq "$label: /status names the problem for $d (edit refused, old id kept)" True "$ok"
        read -r code etag < <(fetch "$d" "$S/out/$d.now")
        if [ "$code" = 200 ] && [ "$etag" = "${old_etag[$d]}" ] &&
            cmp -s "$S/out/$d.now" "$S/out/$d.old"; then
            pass "$label: $d keeps serving the old policy byte for byte"
        else
            fail "$label: $d keeps serving the old policy byte for byte" \
                "(HTTP $code, ETag '$etag' vs '${old_etag[$d]}')"
        fi
    done
    if log_has "$m" "$ere"; then
        pass "$label: the log says where and why"
    else
        fail "$label: the log says where and why (no line matching" \
            "'$ere'; log: $(log_since "$m" | grep -v ' access ' | head -n 3))"
    fi
    f1=$(metric mta_sts_reload_failures_total)
    if [ -n "$f0" ] && [ -n "$f1" ] && [ "$f1" -gt "$f0" ]; then
        pass "$label: mta_sts_reload_failures_total grew ($f0 -> $f1)"
    else
        fail "$label: mta_sts_reload_failures_total grew ('$f0' -> '$f1')"
    fi
    m=$(log_mark)
    "$fix"
    if wait_until "$LIVE_WAIT" status_is ok; then
        pass "$label: fixing the file brings /healthz back to ok"
    else
        fail "$label: fixing the file brings /healthz back to ok (got:" \
            "$(health | head -c 300))"
    fi
    check_live "$label, fixed" "$m" "$T/p/P1" example.com example.net
    srv_stop
}

brk_syntax() {
    printf 'version: STSv1\nmode: enforce\nthis line is junk\nmx: mx1.example.com\nmax_age: 604800\n' \
        >"$POL/mta-sts.txt"
}
brk_mode() { sed -i 's/^mode: testing$/mode: enforced/' "$POL/mta-sts.txt"; }
brk_oversize() {
    { cat "$T/p/P1"; head -c 70000 /dev/zero | tr '\0' x; echo; } \
        >"$POL/mta-sts.txt"
}
brk_binary() {
    printf 'version: STSv1\001\377\376\000\nmode: \033[0m\200\n\377\377\n' \
        >"$POL/mta-sts.txt"
}
brk_unreadable() { chmod 000 "$POL/mta-sts.txt"; }
fix_unreadable() { fix_write; chmod 644 "$POL/mta-sts.txt"; }
brk_directory() { rm -f "$POL/mta-sts.txt"; mkdir "$POL/mta-sts.txt"; }
fix_directory() { rmdir "$POL/mta-sts.txt"; fix_write; }
brk_dangling() {
    ln -s nowhere/mta-sts.txt "$POL/.dangling"
    mv -fT "$POL/.dangling" "$POL/mta-sts.txt"
}
fix_dangling() { rm -f "$POL/mta-sts.txt"; fix_write; }
brk_delete() { rm -f "$POL/mta-sts.txt"; }

bad_edit bad-syntax "syntax error" 'mta-sts\.txt:3:[0-9]+: error' brk_syntax
bad_edit bad-mode "mode: enforced" 'mta-sts\.txt:2:[0-9]+: error.*enforced' \
    brk_mode
bad_edit bad-oversize "oversized file (70000 bytes)" \
    'mta-sts\.txt.*(65536|too (big|large|long))' brk_oversize
bad_edit bad-binary "binary garbage" 'mta-sts\.txt:[0-9]+:[0-9]+: error' \
    brk_binary
bad_edit bad-unreadable "unreadable file (chmod 000)" \
    'mta-sts\.txt.*(Permission denied|cannot (open|read))' brk_unreadable \
    fix_unreadable
bad_edit bad-directory "a directory instead of the file" \
    'mta-sts\.txt.*(not a regular file|Is a directory)' brk_directory \
    fix_directory
bad_edit bad-dangling "a dangling symlink instead of the file" \
    'mta-sts\.txt.*(No such file|cannot open)' brk_dangling fix_dangling
bad_edit bad-deleted "deleted default policy" \
    'mta-sts\.txt.*(No such file|cannot open|missing)' brk_delete

# ---- 3. certificate renewal -------------------------------------------------

log "certificate renewal by file replacement"
srv_start certs && {
    leaf_of "$CRT/mta-sts.example.com.crt" >"$S/out/leaf0"
    served_leaf example.com >"$S/out/served0"
    check "certs: the original certificate is served" \
        cmp -s "$S/out/served0" "$S/out/leaf0"

    # A renewal: new key and certificate, written aside, then mv'd over.
    make_cert "$T/ca" "$S/stage/renew1" ecdsa mta-sts.example.com
    chmod 644 "$S/stage/renew1.key"
    leaf_of "$S/stage/renew1.crt" >"$S/out/leaf1"
    m=$(log_mark)
    mv -f "$S/stage/renew1.crt" "$CRT/mta-sts.example.com.crt"
    mv -f "$S/stage/renew1.key" "$CRT/mta-sts.example.com.key"
    if wait_until "$LIVE_WAIT" leaf_is example.com "$S/out/leaf1"; then
        pass "certs: the renewed certificate reaches new handshakes"
    else
        fail "certs: the renewed certificate reaches new handshakes within" \
            "${LIVE_WAIT} s"
    fi
    read -r code etag < <(fetch example.com "$S/out/body1")
    check_eq "certs: HTTPS with full verification still works" 200 "$code"
    check "certs: the log reports the renewed certificate" log_has "$m" \
        "certificate .*mta-sts\.example\.com\.crt .*loaded"
    wait_until "$LIVE_WAIT" status_is ok
    check_eq "certs: /healthz ok after the renewal" ok "$(hz 'j["status"]')"

    # A renewal with a mismatched key: new certificate, old key kept.
    f0=$(metric mta_sts_reload_failures_total)
    make_cert "$T/ca" "$S/stage/renew2" ecdsa mta-sts.example.com
    chmod 644 "$S/stage/renew2.key"
    leaf_of "$S/stage/renew2.crt" >"$S/out/leaf2"
    m=$(log_mark)
    mv -f "$S/stage/renew2.crt" "$CRT/mta-sts.example.com.crt"
    if wait_until "$LIVE_WAIT" status_is degraded; then
        pass "certs: mismatched key: /healthz says degraded"
    else
        fail "certs: mismatched key: /healthz says degraded (got:" \
            "$(health | head -c 300))"
    fi
    check_eq "certs: mismatched key: /status names example.com's certificate problem" \
        True "$(st '"mta-sts.example.com" in (dom("example.com")["certificate_problem"] or "") and "still serving the last good certificate" in dom("example.com")["certificate_problem"]')"
    check_eq "certs: mismatched key: example.net has no certificate problem" \
        None "$(st 'dom("example.net")["certificate_problem"]')"
    served_leaf example.com >"$S/out/served2"
    check "certs: mismatched key: the previous certificate stays served" \
        cmp -s "$S/out/served2" "$S/out/leaf1"
    read -r code etag < <(fetch example.com "$S/out/body2")
    check_eq "certs: mismatched key: HTTPS still works" 200 "$code"
    check "certs: mismatched key: the log says the key does not match" \
        log_has "$m" "mta-sts\.example\.com\.(crt|key).*(does not match|mismatch)"
    f1=$(metric mta_sts_reload_failures_total)
    if [ -n "$f0" ] && [ -n "$f1" ] && [ "$f1" -gt "$f0" ]; then
        pass "certs: mismatched key: reload failures grew ($f0 -> $f1)"
    else
        fail "certs: mismatched key: reload failures grew ('$f0' -> '$f1')"
    fi
    # Supplying the matching key completes the renewal.
    mv -f "$S/stage/renew2.key" "$CRT/mta-sts.example.com.key"
    if wait_until "$LIVE_WAIT" leaf_is example.com "$S/out/leaf2"; then
        pass "certs: the matching key completes the renewal"
    else
        fail "certs: the matching key completes the renewal within" \
            "${LIVE_WAIT} s"
    fi
    wait_until "$LIVE_WAIT" status_is ok
    check_eq "certs: /healthz back to ok" ok "$(hz 'j["status"]')"
    srv_stop
}

log "a refused certificate file does not hold back the valid ones"
srv_start certs-stray && {
    # An expired leftover for another name, next to the served pairs.
    CERT_VALIDITY=$'activation_date = "2020-01-01 00:00:00 UTC"\nexpiration_date = "2020-02-01 00:00:00 UTC"' \
        make_cert "$T/ca" "$S/stage/stray" ecdsa mta-sts.example.org
    chmod 644 "$S/stage/stray.key"
    m=$(log_mark)
    cp "$S/stage/stray.key" "$CRT/stray.key"
    cp "$S/stage/stray.crt" "$CRT/stray.crt"
    if wait_until "$LIVE_WAIT" status_is degraded; then
        pass "stray: the refused file makes /healthz say degraded"
    else
        fail "stray: the refused file makes /healthz say degraded"
    fi
    check_eq "stray: /status lists the refused file as an instance problem" True \
        "$(st 'any("stray.crt" in p for p in j["problems"])')"
    check_eq "stray: /healthz counts it, no domain unwell" "1 0" \
        "$(hz '"%d %d" % (j["problems"], j["unwell"])')"
    check "stray: the log names the refused file" log_has "$m" "stray\.crt"
    # A renewal next to the refused file still goes live.
    make_cert "$T/ca" "$S/stage/renew" ecdsa mta-sts.example.net
    chmod 644 "$S/stage/renew.key"
    leaf_of "$S/stage/renew.crt" >"$S/out/leaf-renew"
    mv -f "$S/stage/renew.key" "$CRT/mta-sts.example.net.key"
    mv -f "$S/stage/renew.crt" "$CRT/mta-sts.example.net.crt"
    if wait_until "$LIVE_WAIT" leaf_is example.net "$S/out/leaf-renew"; then
        pass "stray: a renewal beside the refused file reaches new handshakes"
    else
        fail "stray: a renewal beside the refused file reaches new handshakes"
    fi
    srv_stop
    # A restart with the refused file present serves the valid pairs.
    if srv_run "$INOTIFY_CFG"; then
        pass "stray: the host starts beside a refused certificate file"
        read -r code etag < <(fetch example.com "$S/out/body-stray")
        check_eq "stray: HTTPS with full verification after the restart" \
            200 "$code"
        check_eq "stray: /healthz degraded after the restart" degraded \
            "$(hz 'j["status"]')"
        srv_stop
    else
        fail "stray: the host starts beside a refused certificate file"
        tail -n 20 "$HLOG" | sed 's/^/#   /'
    fi
}

log "emptying the certificate directory keeps the real certificates"
srv_start certs-gone && {
    served_leaf example.com >"$S/out/served-before"
    m=$(log_mark)
    mkdir -p "$S/certs.bak"
    mv "$CRT"/* "$S/certs.bak/"
    if wait_until "$LIVE_WAIT" status_is degraded; then
        pass "certs-gone: /healthz says degraded"
    else
        fail "certs-gone: /healthz says degraded (got: $(health | head -c 300))"
    fi
    served_leaf example.com >"$S/out/served-after"
    check "certs-gone: the real certificate stays served (no dev certificate)" \
        cmp -s "$S/out/served-before" "$S/out/served-after"
    check "certs-gone: the log says the certificate was removed" \
        log_has "$m" "certificate $CRT/mta-sts\.example\.com\.crt removed"
    check "certs-gone: the log says example.com keeps its last good certificate" \
        log_has "$m" "example\.com: no certificate covers mta-sts\.example\.com any more.*still serving the last good one"
    check_eq "certs-gone: /status says example.net keeps its last good certificate" True \
        "$(st '"still serving the last good one" in (dom("example.net")["certificate_problem"] or "")')"
    if log_since "$m" | grep -q "SELF-SIGNED"; then
        fail "certs-gone: no development certificate is generated"
    else
        pass "certs-gone: no development certificate is generated"
    fi
    mv "$S/certs.bak"/* "$CRT/"
    wait_until "$LIVE_WAIT" status_is ok
    check_eq "certs-gone: restoring the files brings /healthz back to ok" ok \
        "$(hz 'j["status"]')"
    srv_stop
}

# ---- 4. reloads under concurrent clients ------------------------------------

RELOADS=${RELOAD_TEST_RELOADS:-220}
log "concurrency: $RELOADS reloads A <-> B under 4 client loops"
srv_prepare concurrency
for x in A B; do
    mkdir -p "$S/$x"
    cp "$T/p/$x" "$S/$x/mta-sts.txt"
    served "$T/p/$x" >"$S/$x/served"
    id=$("$BIN" dns --domain example.com --policy-dir "$S/$x" 2>/dev/null |
        sed -n 's/^_mta-sts\.example\.com\. .*id=\([A-Za-z0-9]*\).*/\1/p')
    printf '%s\n' "$id" >"$S/$x/id"
done
ID_A=$(cat "$S/A/id") ID_B=$(cat "$S/B/id")
if [ -z "$ID_A" ] || [ -z "$ID_B" ] || [ "$ID_A" = "$ID_B" ]; then
    fail "concurrency: dns gives two distinct ids for A and B"
fi
cp "$T/p/A" "$POL/mta-sts.txt"
srv_start concurrency && {
    R=$S/responses
    mkdir -p "$R"
    STOP=$S/stop
    DEADLINE=$((SECONDS + 240))
    W='%{filename_effective} %{http_code} %{exitcode} %{size_download} %{num_connects} %header{etag}\n'

    # client_keepalive ID DOMAIN: 8 requests per curl (one connection).
    client_keepalive() {
        local id=$1 d=$2 i k args url
        url=https://mta-sts.$d:$HTTPS_PORT/.well-known/mta-sts.txt
        for ((i = 0; i < 1500; i++)); do
            [ -e "$STOP" ] || [ "$SECONDS" -ge "$DEADLINE" ] && break
            args=()
            for ((k = 0; k < 8; k++)); do args+=(-o "$R/$id.$i.$k" "$url"); done
            curl -s --noproxy '*' --max-time 10 --cacert "$CA" \
                --resolve "mta-sts.$d:$HTTPS_PORT:127.0.0.1" -w "$W" \
                "${args[@]}" >>"$R/$id.rec" ||
                printf 'CURL-EXIT %s\n' "$?" >>"$R/$id.rec"
        done
    }
    # client_fresh ID DOMAIN: one request per connection.
    client_fresh() {
        local id=$1 d=$2 i
        for ((i = 0; i < 6000; i++)); do
            [ -e "$STOP" ] || [ "$SECONDS" -ge "$DEADLINE" ] && break
            curl -s --noproxy '*' --max-time 10 --cacert "$CA" \
                --resolve "mta-sts.$d:$HTTPS_PORT:127.0.0.1" -w "$W" \
                -o "$R/$id.$i" \
                "https://mta-sts.$d:$HTTPS_PORT/.well-known/mta-sts.txt" \
                >>"$R/$id.rec" ||
                printf 'CURL-EXIT %s\n' "$?" >>"$R/$id.rec"
        done
    }
    client_keepalive ka1 example.com &
    c1=$!
    client_keepalive ka2 example.net &
    c2=$!
    client_fresh new1 example.com &
    c3=$!
    client_fresh new2 example.net &
    c4=$!
    e2e_on_exit "touch '$STOP'; kill $c1 $c2 $c3 $c4"

    f0=$(metric mta_sts_reload_failures_total)
    r0=$(metric mta_sts_reloads_total)
    m=$(log_mark)
    confirmed=0 missed=0 sighups=0
    t0=$(now_ms)
    for ((r = 1; r <= RELOADS; r++)); do
        [ "$SECONDS" -ge "$DEADLINE" ] && break
        if ((r % 2)); then x=B; else x=A; fi
        want=$(cat "$S/$x/id")
        cp "$T/p/$x" "$POL/.mta-sts.txt.new"
        mv -f "$POL/.mta-sts.txt.new" "$POL/mta-sts.txt"
        if ((r % 4 == 0)); then
            kill -HUP "$HOST_PID" && sighups=$((sighups + 1))
        fi
        # Bounded wait until this reload is live (<= 3 s, <= 300 tries).
        got=0
        tw=$(now_ms)
        for ((k = 0; k < 300; k++)); do
            if hurl --max-time 2 "http://127.0.0.1:$HTTP_PORT/status" |
                grep -q "\"id\":\"$want\""; then
                got=1
                break
            fi
            [ $(($(now_ms) - tw)) -ge 3000 ] && break
            sleep 0.01
        done
        if [ "$got" = 1 ]; then
            confirmed=$((confirmed + 1))
            missed=0
        else
            missed=$((missed + 1))
            if [ "$missed" -ge 3 ]; then
                log "3 reloads in a row did not go live; giving up the loop"
                break
            fi
        fi
        sleep 0.03
    done
    elapsed=$(($(now_ms) - t0))
    touch "$STOP"
    for c in $c1 $c2 $c3 $c4; do wait "$c"; done
    log "reload loop: $confirmed reloads live in $elapsed ms ($sighups via SIGHUP)"
    if [ "$confirmed" -ge 200 ]; then
        pass "concurrency: $confirmed reloads went live (>= 200)"
    else
        fail "concurrency: $confirmed reloads went live (want >= 200)"
    fi
    r1=$(metric mta_sts_reloads_total)
    f1=$(metric mta_sts_reload_failures_total)
    log "mta_sts_reloads_total $r0 -> $r1"
    check_eq "concurrency: no reload refused during atomic renames" "$f0" "$f1"
    pub=$(log_since "$m" | grep -c 'publish: _mta-sts\.example\.com\. ')
    if [ "$pub" -ge "$confirmed" ]; then
        pass "concurrency: a publish line per id change ($pub)"
    else
        fail "concurrency: a publish line per id change ($pub < $confirmed)"
        # Evidence for whoever looks next: changes announced, and any line
        # that is not a whole log line.
        log "changed lines: $(log_since "$m" | grep -c 'example\.com: policy changed')"
        log "malformed lines: $(log_since "$m" | grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T')"
        log_since "$m" | grep -vE ' access ' | tail -n 12 | sed 's/^/#   /'
    fi

    if python3 - "$R" "$S/A/served" "$ID_A" "$S/B/served" "$ID_B" \
        >"$S/verify.out" 2>&1 <<'EOF'
import glob, os, sys
rdir, a_file, a_id, b_file, b_id = sys.argv[1:6]
want = {a_id: open(a_file, "rb").read(), b_id: open(b_file, "rb").read()}
n = reused = 0
seen = {a_id: 0, b_id: 0}
errors = []
for rec in sorted(glob.glob(os.path.join(rdir, "*.rec"))):
    for line in open(rec, encoding="utf-8", errors="replace"):
        f = line.split()
        if not f:
            continue
        if f[0] == "CURL-EXIT":
            if f[1] != "0":
                errors.append("%s: curl exited %s" % (os.path.basename(rec), f[1]))
            continue
        n += 1
        if len(f) < 6:
            errors.append("%s: no ETag: %s" % (f[0], line.strip()))
            continue
        path, code, rc, size, conns, etag = f[:6]
        etag = etag.strip('"')
        if code != "200" or rc != "0":
            errors.append("%s: HTTP %s, curl %s" % (path, code, rc))
            continue
        if conns == "0":
            reused += 1
        body = open(path, "rb").read() if os.path.exists(path) else b""
        if etag not in want:
            errors.append("%s: unknown ETag %s" % (path, etag))
        elif body != want[etag] or int(size) != len(want[etag]):
            errors.append("%s: ETag %s but a %d-byte body that is not its "
                          "policy" % (path, etag, len(body)))
        else:
            seen[etag] += 1
print("responses %d reused %d A %d B %d errors %d"
      % (n, reused, seen[a_id], seen[b_id], len(errors)))
for e in errors[:10]:
    print("  " + e)
sys.exit(1 if errors or n == 0 else 0)
EOF
    then
        pass "concurrency: every response whole and consistent: $(head -n 1 "$S/verify.out")"
    else
        fail "concurrency: every response whole and consistent: $(cat "$S/verify.out")"
    fi
    read -r _ _ reused _ <<<"$(sed -n 's/^responses \([0-9]*\) reused \([0-9]*\).*/\1 x \2 x/p' "$S/verify.out")"
    read -r n_a n_b <<<"$(sed -n 's/.* A \([0-9]*\) B \([0-9]*\).*/\1 \2/p' "$S/verify.out")"
    if [ "${reused:-0}" -gt 0 ]; then
        pass "concurrency: keep-alive connections were reused ($reused)"
    else
        fail "concurrency: keep-alive connections were reused"
    fi
    if [ "${n_a:-0}" -gt 0 ] && [ "${n_b:-0}" -gt 0 ]; then
        pass "concurrency: clients saw both policies (A $n_a, B $n_b)"
    else
        fail "concurrency: clients saw both policies (A ${n_a:-0}, B ${n_b:-0})"
    fi
    if log_since "$m" | grep -v ' access ' | grep -q ' error '; then
        fail "concurrency: no error in the log ($(log_since "$m" | grep ' error ' | head -n 2))"
    else
        pass "concurrency: no error in the log"
    fi
    srv_stop
}

# ---- 5. polling fallback ------------------------------------------------------

log "polling fallback"
# poll_edit NAME LABEL CONFIG [ARG...]: start a host that only polls, make
# a same-size edit in place, expect it live within LIVE_WAIT s.
poll_edit() {
    local name=$1 label=$2 cfg=$3 m
    shift 3
    srv_prepare "$name"
    if ! srv_run "$cfg" "$@"; then
        fail "$label: host starts"
        return
    fi
    check "$label: the host says it is polling only" \
        wait_log "$HLOG" 'watching .*polling only.*every 200 ms' 2
    m=$(log_mark)
    # Same size, same mtime granularity: only the content tells.
    sed 's/mx2\.example\.com/mx3.example.com/' "$POL/mta-sts.txt" \
        >"$S/stage/new"
    cat "$S/stage/new" >"$POL/mta-sts.txt"
    check_live "$label" "$m" "$S/stage/new" example.com example.net
    srv_stop
}
poll_edit poll-flag "--poll, poll_interval_ms 200" 'reload:
  debounce_ms: 50
  poll_interval_ms: 200' --poll
poll_edit poll-config "reload.force_poll: true, poll_interval_ms 200" 'reload:
  debounce_ms: 50
  poll_interval_ms: 200
  force_poll: true'

e2e_finish
