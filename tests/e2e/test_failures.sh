#!/usr/bin/env bash
# test_failures.sh: end-to-end test of graceful failure (issue 6 part 6).
# Each failure must keep the last good state on the wire, byte for byte
# with the same ETag, and say why in the log, in /healthz ("degraded"), in
# /status (the reason) and in mta_sts_reload_failures_total; and once the
# cause is gone the next change must be picked up.
#
#  1. Out of memory during a reload: the LD_PRELOAD shim libfaultinject.so
#     (tests/e2e/faultinject.c) fails allocation number K after the reload
#     opens the policy file, and then after it opens the private key, for
#     K = 1..SWEEP (default 40), one SIGHUP reload per K. No crash, no
#     sanitizer report, no leak (LeakSanitizer at exit in the ASan build),
#     always either the old policy or the new one, complete and consistent.
#  2. Unreadable directories after the privilege drop: root starts the host
#     with --user nobody, then the certificate directory (and then the
#     policy directory) is chmod 000 while it runs.
#  3. The inotify watch limit: the shim makes inotify_add_watch fail with
#     ENOSPC, for everything and then for the certificate directory only;
#     the host says so and polls for what it cannot watch.
#
# In the sanitizer build the shim must come before ASan's runtime, which
# ASan accepts with verify_asan_link_order=0; the test checks that the
# faults really fired, so a shim that does not interpose fails the test.
# Needs root for part 2 (skipped with a note otherwise).
# Run by ctest as: MTA_STS_HOST=<binary> FAULTINJECT=<libfaultinject.so>
# SRCDIR=<repo> bash test_failures.sh
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$HERE/lib.sh"
e2e_init
umask 022

need_tools certtool:gnutls-bin curl:curl openssl:openssl python3:python3

BIN=$MTA_STS_HOST
T=$E2E_TMP
chmod 755 "$T"
CA=$T/ca/ca.pem
SWEEP=${FAULT_SWEEP:-40}
FI=${FAULTINJECT:-$(dirname "$BIN")/libfaultinject.so}
if [ ! -f "$FI" ]; then
    fail "the fault-injection shim exists ($FI)"
    e2e_finish
fi
ASAN=
if ldd "$BIN" 2>/dev/null | grep -q libasan; then
    ASAN=1
    log "sanitizer build: the shim goes first (verify_asan_link_order=0)"
fi
asan_opts() {
    local o=${ASAN_OPTIONS:-}
    [ -n "$ASAN" ] && o="${o:+$o:}verify_asan_link_order=0:detect_leaks=1"
    printf '%s' "$o"
}
# GnuTLS 3.7.9 leaks a few bytes when an allocation fails while it imports
# the system trust store (inside gnutls_x509_crt_import); that is its bug,
# not the server's, and the suppression names exactly that path.
printf 'leak:gnutls_x509_trust_list_add_trust_mem\n' >"$T/lsan.supp"
LSAN="suppressions=$T/lsan.supp:print_suppressions=0"
# Allocations on behalf of these libraries are never failed: GnuTLS makes
# GMP abort on a failed allocation (by design), and libtasn1 4.19
# dereferences NULL after one (asn1_create_element). The server cannot
# survive either, whatever it does; see faultinject.c.
SPARE=libtasn1,libgmp,libhogweed,libnettle

make_ca "$T/ca" || { fail "make test CA"; e2e_finish; }
make_cert "$T/ca" "$T/ca/a" ecdsa mta-sts.example.com ||
    { fail "make certificate"; e2e_finish; }
fingerprint() { openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2; }
FP_A=$(fingerprint "$T/ca/a.crt")

S='' POL='' CRT='' HLOG='' HTTPS_PORT='' HTTP_PORT=''
# prepare NAME: fresh directories with the certificate and policy 0.
prepare() {
    S=$T/$1 POL=$T/$1/policy CRT=$T/$1/certs HLOG=$T/$1/host.log
    mkdir -p "$POL" "$CRT" "$S/out"
    chmod 755 "$S" "$POL" "$CRT"
    cp "$T/ca/a.crt" "$CRT/mta-sts.example.com.crt"
    cp "$T/ca/a.key" "$CRT/mta-sts.example.com.key"
    chgrp "$(id -gn nobody 2>/dev/null || echo 0)" "$CRT"/*.key 2>/dev/null
    chmod 0640 "$CRT"/*.key
    write_policy 0
}
# write_policy N: policy N (max_age differs), replaced by rename.
write_policy() {
    printf 'version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: %d\n' \
        $((100000 + $1)) >"$POL/.new" && mv -f "$POL/.new" "$POL/mta-sts.txt"
}
# served_of N / id_of N: the bytes and id the host serves for policy N.
served_of() {
    printf 'version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: %d\r\n' \
        $((100000 + $1))
}
id_of() { served_of "$1" | sha256sum | cut -c1-32; }

# start NAME CONFIG_YAML ENV... -- ARG...: start a host with the shim.
start() {
    local name=$1 cfg=$2 envs=()
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    printf '%s\n' "$cfg" >"$S/config.yaml"
    HTTPS_PORT=$(free_port) && HTTP_PORT=$(free_port) || return 1
    if ! MTA_STS_HOST=$(command -v env) host_start "$HLOG" \
        "http://127.0.0.1:$HTTP_PORT/healthz" \
        LD_PRELOAD="$FI" ASAN_OPTIONS="$(asan_opts)" LSAN_OPTIONS="$LSAN" \
        FAULT_SPARE="$SPARE" "${envs[@]}" \
        "$BIN" serve "${ROOT_ARGS[@]}" -c "$S/config.yaml" --domain example.com \
        --policy-dir "$POL" --cert-dir "$CRT" \
        --https "127.0.0.1:$HTTPS_PORT" --http "127.0.0.1:$HTTP_PORT" "$@"; then
        fail "$name: host starts"
        tail -n 20 "$HLOG" | sed 's/^/#   /'
        return 1
    fi
    # /healthz answers before the watcher has added its watches; an edit
    # made in between would only be seen by polling.
    wait_log "$HLOG" "watching .* \\((inotify|polling only)" 10
}

# fetch OUT: GET the policy (verified) into OUT; prints "CODE ETAG".
fetch() {
    local r
    r=$(hurl --max-time 5 --cacert "$CA" \
        --resolve "mta-sts.example.com:$HTTPS_PORT:127.0.0.1" -o "$1" \
        -w '%{http_code} %header{etag}' \
        "https://mta-sts.example.com:$HTTPS_PORT/.well-known/mta-sts.txt") ||
        r="000 -"
    printf '%s\n' "${r//\"/}"
}
# is_policy N FILE CODE_ETAG: FILE and "CODE ETAG" are policy N, complete.
is_policy() {
    served_of "$1" | cmp -s - "$2" && [ "$3" = "200 $(id_of "$1")" ]
}
no_sanitizer_report() {
    ! grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: ' "$1"
}
stop_clean() {
    host_stop "$HOST_PID" 20
    check_eq "$1: clean exit (status 0; LeakSanitizer found no leak)" 0 "$HOST_RC"
    check "$1: no sanitizer report in the log" no_sanitizer_report "$HLOG"
}

# ---- 1. out of memory during a reload ------------------------------------

# sweep WHAT SUBSTR WHY: for K = 1..SWEEP fail allocation K after the
# reload opens a path containing SUBSTR; one SIGHUP reload per K. When
# something is kept back, /healthz says degraded and /status and an error
# line must match the extended regex WHY.
sweep() {
    local what=$1 sub=$2 why=$3 k cur=0 next mark nf0 nf1 r fired=0 kept=0
    local bad_serve=0 bad_report=0 bad_recover=0 dead=0 timeouts=0
    local ctl=$S/ctl body=$S/out/body
    for ((k = 1; k <= SWEEP; k++)); do
        next=$((cur + 1))
        write_policy "$next"
        printf '%s:1:%d\n' "$sub" $((k - 1)) >"$ctl"
        mark=$(wc -l <"$HLOG")
        nf0=$(grep -c '^faultinject: failed' "$HLOG")
        f0=$(metric mta_sts_reload_failures_total)
        kill -HUP "$HOST_PID"
        # The reload ends with a publish line (the new policy is live), a
        # refusal (of the edit, of the renewed pair, of a directory), or a
        # failed reload.
        if ! wait_until 10 eval "tail -n +$((mark + 1)) '$HLOG' |
                grep -Eq 'publish: |edit refused|reload failed|still serving the last good certificate|the certificates already loaded stay'"; then
            timeouts=$((timeouts + 1))
            log "$what K=$k: no reload outcome logged"
        fi
        if ! kill -0 "$HOST_PID" 2>/dev/null; then
            dead=1
            log "$what K=$k: the host died"
            tail -n 30 "$HLOG" | sed 's/^/#   /'
            break
        fi
        nf1=$(grep -c '^faultinject: failed' "$HLOG")
        [ "$nf1" -gt "$nf0" ] && fired=$((fired + 1))
        r=$(fetch "$body")
        local newok=0 h f1
        if is_policy "$next" "$body" "$r"; then
            newok=1
        elif ! is_policy "$cur" "$body" "$r"; then
            bad_serve=$((bad_serve + 1))
            log "$what K=$k: served neither policy $cur nor $next complete: $r"
        fi
        h=$(health)
        sj=$(status_json)
        f1=$(metric mta_sts_reload_failures_total)
        if grep -q '"status":"degraded"' <<<"$h"; then
            # Something was kept back: the reason must be visible.
            kept=$((kept + 1))
            if ! grep -Eqi "$why" <<<"$sj" || [ "${f1:-0}" -le "${f0:-0}" ] ||
                ! tail -n +$((mark + 1)) "$HLOG" | grep -Eqi "error.*($why)"; then
                bad_report=$((bad_report + 1))
                log "$what K=$k: degraded without saying why:"
                log "  healthz: $h"
                log "  status: $(head -c 600 <<<"$sj")"
                log "  failures: $f0 -> $f1"
                tail -n +$((mark + 1)) "$HLOG" | grep -v faultinject |
                    sed 's/^/#   /' | head -n 6
            fi
        elif [ "$newok" = 0 ]; then
            bad_report=$((bad_report + 1))
            log "$what K=$k: kept the old policy, healthz says: $h"
        fi
        if [ "$newok" = 0 ] || grep -q '"status":"degraded"' <<<"$h"; then
            # The fault is used up: the next reload brings the edit in.
            kill -HUP "$HOST_PID"
            if ! wait_until 10 eval 'is_policy $next "$body" "$(fetch "$body")" &&
                    grep -q "\"status\":\"ok\"" <<<"$(health)"'; then
                bad_recover=$((bad_recover + 1))
                log "$what K=$k: not recovered after the fault: $(health)"
            fi
        fi
        cur=$next
    done
    check_eq "$what: the host survived every injected failure" 0 "$dead"
    check_eq "$what: every reload logged its outcome" 0 "$timeouts"
    check_eq "$what: always the old or the new policy, complete, right ETag" \
        0 "$bad_serve"
    check_eq "$what: every kept policy came with log, healthz, status and metric" \
        0 "$bad_report"
    check_eq "$what: the next reload after the fault picks the edit up" \
        0 "$bad_recover"
    check "$what: faults really fired ($fired of $SWEEP)" \
        test "$fired" -ge $((SWEEP < 8 ? SWEEP : 8))
    check "$what: some failures kept the last good state ($kept)" \
        test "$kept" -gt 0
    log "$what: $fired faults fired, $kept kept the last good state"
}

prepare oom
# Reloads only on SIGHUP: no watcher thread may open the files first.
if start oom 'reload: {force_poll: true, poll_interval_ms: 3600000}' \
    FAULT_CONTROL="$S/ctl" --; then
    r=$(fetch "$S/out/b0")
    check "oom: policy 0 served at start" is_policy 0 "$S/out/b0" "$r"
    sweep "oom after opening the policy" /mta-sts.txt 'memory'
    # GnuTLS reports some failed allocations as parse errors ("Base64
    # decoding error"); the reason must then at least name the file.
    sweep "oom after opening the key" mta-sts.example.com.key \
        'memory|mta-sts\.example\.com\.(key|crt)' 
    check_eq "oom: the certificate is unchanged" "$FP_A" "$(served_fp)"
    stop_clean oom
fi

# ---- 2. unreadable directories after the privilege drop -----------------

if [ "$(id -u)" = 0 ]; then
    prepare perms
    if start perms 'reload: {debounce_ms: 50, poll_interval_ms: 1000}' -- \
        --user nobody; then
        check "perms: running as nobody" grep -Eq \
            "^Uid:[[:space:]]+65534[[:space:]]+65534" "/proc/$HOST_PID/status"
        r0=$(fetch "$S/out/p0")
        f0=$(metric mta_sts_reload_failures_total)
        mark=$(wc -l <"$HLOG")
        chmod 000 "$CRT"
        want="$CRT: reading the directory: Permission denied (running as uid 65534 'nobody')"
        if wait_until 10 eval "tail -n +$((mark + 1)) '$HLOG' | grep -Fq \"\$want\""; then
            pass "cert dir 000: the log names the directory, the error and the user"
        else
            fail "cert dir 000: the log names the directory, the error and the user"
            tail -n +$((mark + 1)) "$HLOG" | sed 's/^/#   /' | head
        fi
        check_file_contains "cert dir 000: keeps the certificates" \
            "the certificates already loaded stay" "$HLOG"
        if grep -q "certificate .* removed" "$HLOG"; then
            fail "cert dir 000: no certificate is taken as removed"
        else
            pass "cert dir 000: no certificate is taken as removed"
        fi
        r1=$(fetch "$S/out/p1")
        check "cert dir 000: same policy, same ETag" \
            eval 'is_policy 0 "$S/out/p1" "$r1" && [ "$r0" = "$r1" ]'
        check_eq "cert dir 000: same certificate" "$FP_A" "$(served_fp)"
        h=$(health)
        check_contains "cert dir 000: healthz degraded" '"status":"degraded"' "$h"
        check_contains "cert dir 000: healthz counts the instance problem" \
            '"problems":1,' "$h"
        sj=$(status_json)
        check_contains "cert dir 000: /status says why" "Permission denied" "$sj"
        check_contains "cert dir 000: /status names the directory" "$CRT: reading the directory" "$sj"
        f1=$(metric mta_sts_reload_failures_total)
        check "cert dir 000: failures counted ($f0 -> $f1)" \
            test "${f1:-0}" -gt "${f0:-0}"
        chmod 755 "$CRT"
        check "cert dir back: healthz ok" \
            wait_until 10 eval 'grep -q "\"status\":\"ok\"" <<<"$(health)"'

        mark=$(wc -l <"$HLOG")
        write_policy 1
        chmod 000 "$POL"
        # Without search permission the host cannot tell whether a
        # per-domain file exists; it names the file it tried.
        want="$POL/[a-z.-]+\\.txt: error: cannot open: Permission denied \\(running as uid 65534 'nobody'\\)"
        if wait_until 10 eval "tail -n +$((mark + 1)) '$HLOG' | grep -Eq \"\$want\""; then
            pass "policy dir 000: the log names the file, the error and the user"
        else
            fail "policy dir 000: the log names the file, the error and the user"
            tail -n +$((mark + 1)) "$HLOG" | sed 's/^/#   /' | head
        fi
        r2=$(fetch "$S/out/p2")
        check "policy dir 000: still policy 0, same ETag" \
            eval 'is_policy 0 "$S/out/p2" "$r2"'
        check_contains "policy dir 000: healthz degraded" '"status":"degraded"' \
            "$(health)"
        chmod 755 "$POL"
        check "policy dir back: policy 1 goes live" wait_until 10 eval \
            'is_policy 1 "$S/out/p3" "$(fetch "$S/out/p3")"'
        stop_clean perms
    fi
else
    log "not root: skipping the unreadable-directory part"
fi

# ---- 3. the inotify watch limit ------------------------------------------

prepare enospc_all
if start "ENOSPC everywhere" 'reload: {debounce_ms: 50, poll_interval_ms: 500}' \
    FAULT_INOTIFY_ENOSPC='*' --; then
    check_file_contains "ENOSPC: the shim failed inotify_add_watch" \
        "^faultinject: inotify_add_watch ENOSPC" "$HLOG"
    check_file_contains "ENOSPC: the host names the limit and the fallback" \
        "cannot watch .*the inotify watch limit is reached; raise fs.inotify.max_user_watches.*polling for changes there every 500 ms" \
        "$HLOG"
    write_policy 1
    check "ENOSPC: an edit still goes live (polling)" wait_until 6 eval \
        'is_policy 1 "$S/out/e1" "$(fetch "$S/out/e1")"'
    stop_clean "ENOSPC everywhere"
fi

prepare enospc_certs
# Polling every 3 s: the policy directory (watched) must be faster than
# that, the certificate directory (not watched) still gets its turn.
if start "ENOSPC for certs" 'reload: {debounce_ms: 50, poll_interval_ms: 3000}' \
    FAULT_INOTIFY_ENOSPC="$CRT" --; then
    check_file_contains "ENOSPC for certs: names only the certificate directory" \
        "cannot watch $CRT with inotify \\(the inotify watch limit is reached" "$HLOG"
    check "ENOSPC for certs: the policy directory is not reported" \
        eval "! grep -q 'cannot watch $POL' '$HLOG'"
    t0=$(date +%s%3N)
    write_policy 1
    if wait_until 6 eval 'is_policy 1 "$S/out/c1" "$(fetch "$S/out/c1")"'; then
        # Timed from the host's own log line, not from the client's view
        # (a slow sanitizer-build client would blur it).
        at=$(grep -m1 'policy changed' "$HLOG" | cut -d' ' -f1)
        ms=$(($(date -d "$at" +%s%3N) - t0))
        check "ENOSPC for certs: a policy edit is live by inotify (${ms} ms < 2500)" \
            test "$ms" -lt 2500
    else
        fail "ENOSPC for certs: a policy edit goes live"
    fi
    make_cert "$T/ca" "$T/ca/b" ecdsa mta-sts.example.com
    FP_B=$(fingerprint "$T/ca/b.crt")
    cp "$T/ca/b.key" "$CRT/.k" && chmod 0644 "$CRT/.k" &&
        cp "$T/ca/b.crt" "$CRT/.c" &&
        mv -f "$CRT/.k" "$CRT/mta-sts.example.com.key" &&
        mv -f "$CRT/.c" "$CRT/mta-sts.example.com.crt"
    check "ENOSPC for certs: a renewed certificate is picked up by polling" \
        wait_until 10 eval '[ "$(served_fp)" = "$FP_B" ]'
    stop_clean "ENOSPC for certs"
fi

e2e_finish
