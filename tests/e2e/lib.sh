# shellcheck shell=bash
# lib.sh: shared helpers for the end-to-end tests in tests/e2e/ (sourced,
# not run). It does the bookkeeping every test needs and nothing more:
# PASS/FAIL counting, bounded waits, free loopback ports, installing missing
# Debian tools, a throw-away test CA with server certificates (certtool),
# and starting/stopping mta-sts-host with a bounded wait until /healthz
# answers. Everything here talks only to loopback (and apt's mirrors when a
# tool is missing). Processes and the temp dir are cleaned up by an EXIT
# trap that e2e_init installs.
#
# Functions (stable API; add new ones, do not change these):
#
#   e2e_init                 set up: check $MTA_STS_HOST (the binary) and
#                            $SRCDIR, make the temp dir $E2E_TMP, install
#                            the EXIT/INT/TERM trap. Call first. With
#                            E2E_KEEP_TMP=1 in the environment the temp
#                            dir is kept for debugging.
#   e2e_netns [ARG...]       run this test again, from the top, in a
#                            network namespace of its own with only its
#                            loopback, up (after e2e_init and need_tools,
#                            which may need apt's mirrors; the outer run
#                            exits with the inner one's status).
#   e2e_finish               print "N passed, M failed" and exit 0 when
#                            nothing failed (and something passed), else 1.
#   e2e_on_exit CMD...       run CMD (one string, eval'd) during cleanup.
#   log MSG...               print an informational line ("# MSG").
#   pass MSG / fail MSG      count and print "PASS: MSG" / "FAIL: MSG".
#   check MSG CMD...         pass when CMD succeeds, fail otherwise.
#   check_eq MSG WANT GOT    pass when the two strings are equal; on failure
#                            prints both.
#   check_contains MSG NEEDLE HAYSTACK
#                            pass when HAYSTACK contains NEEDLE (fixed
#                            string).
#   check_file_contains MSG PATTERN FILE
#                            pass when FILE has a line matching the extended
#                            regex PATTERN.
#   wait_until SECONDS CMD...
#                            retry CMD every 0.2 s until it succeeds or
#                            SECONDS pass (bounded by count and time).
#   wait_log FILE PATTERN SECONDS
#                            wait until FILE has a line matching the
#                            extended regex PATTERN.
#   wait_exit PID SECONDS    wait until process PID (a child of this
#                            shell) exits; sets WAIT_RC to its exit status
#                            and returns 0, or sets WAIT_RC=timeout and
#                            returns 1. Do not call it inside $(...): only
#                            the shell that started PID can reap it.
#   port_in_use PORT         something accepts TCP on 127.0.0.1:PORT.
#   free_port                print an unused loopback TCP port (never one
#                            handed out before in this test).
#   apt_install PKG...       apt-get install -y the packages not installed.
#   need_cmd CMD PKG         make CMD available, installing PKG if missing.
#   make_ca DIR              create DIR/ca.pem + DIR/ca.key (test CA).
#   make_cert CADIR OUT KEYTYPE NAME...
#                            issue a server certificate signed by the CA
#                            in CADIR for the DNS names NAME... (the first
#                            is also the CN); KEYTYPE is ecdsa or rsa.
#                            Writes OUT.crt (leaf then CA), OUT.key, and
#                            OUT.pem (leaf, CA, key in one file).
#                            Valid 20 days unless CERT_VALIDITY holds other
#                            certtool template lines (e.g. past dates).
#   host_start LOG URL ARG...
#                            start "$MTA_STS_HOST ARG..." in the background
#                            with stdout+stderr to LOG; sets HOST_PID; waits
#                            (<= $E2E_START_WAIT s, default 15) until URL
#                            (a /healthz URL, http or https, checked with
#                            curl -k) answers 200. Returns 1 (and leaves
#                            HOST_PID set, or empty when the process died)
#                            on failure. Started hosts are killed at exit.
#                            When the test runs as root and ARG... starts
#                            with `serve`, --allow-root is added (the host
#                            refuses to run as root without it or --user).
#   serve_policies DIR CADIR LOG PORT
#                            make the test CA in CADIR and one certificate
#                            for mta-sts.<d> of every DIR/<d>.txt, and
#                            start the host serving DIR with it on
#                            127.0.0.1:PORT (plain HTTP on a free port),
#                            its log in LOG; the test ends when it does not
#                            start.
#   host_stop PID [SECONDS]  SIGTERM PID, wait up to SECONDS (default 12);
#                            SIGKILL if still alive. Sets HOST_RC to the
#                            exit status (or "timeout") and returns 0 only
#                            when the process exited by itself. Not inside
#                            $(...) (see wait_exit). A sanitizer report in
#                            the host's log counts as a failed check.
#   (at exit)                the log of every host_start host is searched
#                            for AddressSanitizer, LeakSanitizer and UBSan
#                            reports (LeakSanitizer reports when a host
#                            exits); any report not counted yet fails the
#                            test even after e2e_finish said it passed.
#   run_bounded SECONDS OUT CMD...
#                            run CMD with stdout+stderr to file OUT, killed
#                            after SECONDS; returns CMD's status (124 on
#                            timeout).
#   hurl ARG...              curl with the test defaults (silent, bounded
#                            by --max-time 10, no proxy from the env).
#   policy_ids DIR           print "DOMAIN ID" for every policy in DIR, the
#                            id as served (from `dns --json`, so the very
#                            id the host computes); needs python3.
#   nsd_start DIR ZONE=FILE...
#                            start NSD (authoritative only, in the
#                            foreground of a background job, killed at
#                            exit) on a free 127.0.0.1 port serving each
#                            ZONE from DIR/FILE; sets NSD_PORT and passes,
#                            or fails and ends the test with NSD's log.
#
# Variables: E2E_TMP (temp dir), MTA_STS_HOST, SRCDIR, N_PASS, N_FAIL,
# HOST_PID, HOST_RC, WAIT_RC, E2E_PIDS (killed at exit; append your own
# background pids), ROOT_ARGS (an array: (--allow-root) when running as
# root, else empty; add it to direct `serve` runs that are not host_start).

N_PASS=0
N_FAIL=0
E2E_TMP=
HOST_PID=
HOST_RC=
WAIT_RC=
E2E_PIDS=()
E2E_MAIN_PID=
E2E_CHILD_OF=
E2E_EXIT_HOOKS=()
E2E_HOST_LOGS=()                 # the log of every host_start host
declare -gA E2E_LOG_OF=()        # host pid -> its log
declare -gA E2E_SAN_SEEN=()      # logs whose report was counted
E2E_SANITIZER_RE='ERROR: (AddressSanitizer|LeakSanitizer)|^SUMMARY: [A-Za-z]+Sanitizer|: runtime error: '
ROOT_ARGS=()
[ "$(id -u)" = 0 ] && ROOT_ARGS=(--allow-root)

log() { printf '# %s\n' "$*"; }
pass() { N_PASS=$((N_PASS + 1)); printf 'PASS: %s\n' "$*"; }
fail() { N_FAIL=$((N_FAIL + 1)); printf 'FAIL: %s\n' "$*"; }

check() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

check_eq() {
    if [ "$2" = "$3" ]; then
        pass "$1"
    else
        fail "$1 (want '$2', got '$3')"
    fi
}

check_contains() {
    case "$3" in
    *"$2"*) pass "$1" ;;
    *) fail "$1 (no '$2' in: $(printf '%s' "$3" | head -c 400))" ;;
    esac
}

check_file_contains() {
    if grep -Eq -- "$2" "$3" 2>/dev/null; then
        pass "$1"
    else
        fail "$1 (no line matching '$2' in $3)"
    fi
}

e2e_on_exit() { E2E_EXIT_HOOKS+=("$1"); }

# _forget_pid PID: drop a reaped pid from E2E_PIDS, so that cleanup never
# signals a recycled pid that belongs to someone else.
_forget_pid() {
    local keep=() p
    for p in "${E2E_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    E2E_PIDS=("${keep[@]}")
}

# _children PID: print the pids whose parent is PID (from /proc, so that
# no procps is needed).
_children() {
    local f line rest
    for f in /proc/[0-9]*/stat; do
        { read -r line <"$f"; } 2>/dev/null || continue
        rest=${line##*) }
        # shellcheck disable=SC2086
        set -- $rest
        f=${f#/proc/}
        f=${f%/stat}
        [ "${2:-}" = "$E2E_CHILD_OF" ] && [ "$f" != "$BASHPID" ] &&
            printf '%s\n' "$f"
    done
}

# _sanitizer_check LOG: when LOG holds a sanitizer report not counted yet,
# print its first lines, remember it and return 0.
_sanitizer_check() {
    local logf=$1
    [ -n "$logf" ] && [ -z "${E2E_SAN_SEEN[$logf]:-}" ] || return 1
    grep -Eq -- "$E2E_SANITIZER_RE" "$logf" 2>/dev/null || return 1
    E2E_SAN_SEEN[$logf]=1
    grep -E -m 3 -A 12 -- "$E2E_SANITIZER_RE" "$logf" | head -n 40 |
        sed 's/^/#   /' >&2
    return 0
}

# _alive PID: PID runs and is not a zombie waiting to be reaped.
_alive() {
    local line
    kill -0 "$1" 2>/dev/null || return 1
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    line=${line##*) }
    [ "${line%% *}" != Z ]
}

e2e_cleanup() {
    local p h san=0
    # Only the main shell cleans up; a subshell exiting must not.
    [ "$BASHPID" = "$E2E_MAIN_PID" ] || return 0
    for h in "${E2E_EXIT_HOOKS[@]}"; do
        eval "$h" >/dev/null 2>&1 || true
    done
    for p in "${E2E_PIDS[@]}"; do
        kill -0 "$p" 2>/dev/null || continue
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${E2E_PIDS[@]}"; do
        local i
        for ((i = 0; i < 25; i++)); do
            _alive "$p" || break
            sleep 0.2
        done
        kill -KILL "$p" 2>/dev/null || true
    done
    # Hosts report leaks as they exit, so their logs are complete now.
    for h in "${E2E_HOST_LOGS[@]}"; do
        if _sanitizer_check "$h"; then
            printf 'FAIL: sanitizer report in host log %s\n' "$h" >&2
            san=1
        fi
    done
    # Whatever else this shell still runs (a helper in the background, a
    # command substitution interrupted by a signal) ends too.
    E2E_CHILD_OF=$E2E_MAIN_PID
    for p in $(_children); do kill -TERM "$p" 2>/dev/null; done
    if [ -n "$E2E_TMP" ] && [ -d "$E2E_TMP" ]; then
        if [ -n "${E2E_KEEP_TMP:-}" ]; then
            log "kept $E2E_TMP (E2E_KEEP_TMP is set)"
        else
            rm -rf -- "$E2E_TMP"
        fi
    fi
    if [ "$san" = 1 ]; then
        printf 'sanitizer reports found: the test fails\n' >&2
        exit 1
    fi
}

e2e_init() {
    SRCDIR=${SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
    if [ -z "${MTA_STS_HOST:-}" ] || [ ! -x "$MTA_STS_HOST" ]; then
        printf 'FAIL: MTA_STS_HOST (%s) is not an executable binary\n' \
            "${MTA_STS_HOST:-unset}"
        printf '0 passed, 1 failed\n'
        exit 1
    fi
    MTA_STS_HOST=$(cd "$(dirname "$MTA_STS_HOST")" && pwd)/$(basename "$MTA_STS_HOST")
    E2E_MAIN_PID=$BASHPID
    E2E_TMP=$(mktemp -d /tmp/mta-sts-e2e.XXXXXX) || exit 1
    trap e2e_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    export NO_PROXY='*' no_proxy='*'
    unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
}

e2e_netns() {
    if [ -n "${E2E_IN_NETNS:-}" ]; then
        ip link set lo up || {
            fail "the loopback of the test's network namespace is up"
            e2e_finish
        }
        return 0
    fi
    need_tools ip:iproute2 unshare:util-linux
    local as=()
    [ "$(id -u)" = 0 ] || as=(--user --map-root-user)
    if ! unshare "${as[@]}" --net -- true 2>"$E2E_TMP/unshare.err"; then
        fail "a network namespace can be made (unshare ${as[*]} --net: $(cat "$E2E_TMP/unshare.err"))"
        e2e_finish
    fi
    E2E_IN_NETNS=1 unshare "${as[@]}" --net -- bash "$0" "$@"
    exit
}

e2e_finish() {
    printf '%d passed, %d failed\n' "$N_PASS" "$N_FAIL"
    if [ "$N_FAIL" -eq 0 ] && [ "$N_PASS" -gt 0 ]; then exit 0; fi
    exit 1
}

wait_until() {
    local limit=$1 i tries
    shift
    tries=$((limit * 5 + 1))
    local deadline=$((SECONDS + limit + 1))
    for ((i = 0; i < tries; i++)); do
        if "$@"; then return 0; fi
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.2
    done
    return 1
}

wait_log() {
    wait_until "$3" grep -Eq -- "$2" "$1"
}

wait_exit() {
    local pid=$1 limit=$2
    WAIT_RC=timeout
    if wait_until "$limit" eval "! kill -0 $pid 2>/dev/null"; then
        WAIT_RC=0
        wait "$pid" 2>/dev/null || WAIT_RC=$?
        _forget_pid "$pid"
        return 0
    fi
    return 1
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port [LO HI]: an unused loopback port in [LO, HI), by default
# between 20000 and the start of the kernel's ephemeral range.
free_port() {
    local p i lo=${1:-20000} hi=${2:-} given=${E2E_TMP:?call e2e_init first}/.ports
    if [ -z "$hi" ]; then
        # Stay below the kernel's ephemeral range: a port picked from it can
        # be taken by some client's outgoing connection before the server
        # binds.
        read -r hi _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null ||
            hi=32768
        [ "$hi" -gt $((lo + 1000)) ] || lo=1024
    fi
    for ((i = 0; i < 100; i++)); do
        p=$((lo + RANDOM % (hi - lo)))
        # Ports handed out are remembered in a file: free_port usually
        # runs in a $(...) subshell, where a variable would be forgotten.
        grep -qx "$p" "$given" 2>/dev/null && continue
        if ! port_in_use "$p"; then
            printf '%s\n' "$p" >>"$given"
            printf '%s\n' "$p"
            return 0
        fi
    done
    return 1
}

apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || { log "need root to install ${missing[*]}"; return 1; }
    log "apt-get install ${missing[*]}"
    local aptlog=/tmp/mta-sts-e2e-apt.log rc=0 rcd=/usr/sbin/policy-rc.d
    local own_rcd=
    export DEBIAN_FRONTEND=noninteractive
    # Packages such as prometheus ship a service; a test machine must not
    # start one, so forbid service starts while installing.
    if [ ! -e "$rcd" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$rcd" && chmod 755 "$rcd" &&
            own_rcd=1
    fi
    if ! timeout 600 apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >"$aptlog" 2>&1; then
        timeout 300 apt-get update -q >>"$aptlog" 2>&1
        timeout 600 apt-get install -y -q --no-install-recommends \
            "${missing[@]}" >>"$aptlog" 2>&1 ||
            { tail -n 20 "$aptlog"; rc=1; }
    fi
    [ -n "$own_rcd" ] && rm -f "$rcd"
    return "$rc"
}

need_cmd() {
    command -v "$1" >/dev/null 2>&1 && return 0
    apt_install "$2" || return 1
    hash -r
    command -v "$1" >/dev/null 2>&1
}

# Probes of the host under test, at $HTTP_PORT (plain HTTP) and $HTTPS_PORT
# with the test CA $CA, as the tests name them.
health() { hurl --max-time 5 "http://127.0.0.1:$HTTP_PORT/healthz"; }
# status_json: the per-domain /status document (plain-HTTP listener; it is
# never on the HTTPS one).
status_json() { hurl --max-time 5 "http://127.0.0.1:$HTTP_PORT/status"; }
# metric NAME: the value of the unlabelled metric NAME.
metric() {
    hurl --max-time 5 "http://127.0.0.1:$HTTP_PORT/metrics" |
        awk -v m="$1" '$1 == m { print $2 }'
}
# file_metric NAME FILE: the value of metric NAME (labels included) in a
# saved scrape.
file_metric() { awk -v k="$1" '$1 == k { print $2; exit }' "$2"; }
# served_fp: SHA-256 fingerprint of the leaf served for mta-sts.example.com.
served_fp() {
    echo | timeout 10 openssl s_client -connect "127.0.0.1:$HTTPS_PORT" \
        -servername mta-sts.example.com -CAfile "$CA" 2>/dev/null |
        openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2
}

# need_tools CMD:PACKAGE...: every command, installed from its package if
# missing; a command that cannot be had fails the test and ends it.
need_tools() {
    local tool
    for tool in "$@"; do
        if ! need_cmd "${tool%%:*}" "${tool#*:}"; then
            fail "tool ${tool%%:*} (package ${tool#*:}) is available"
            e2e_finish
        fi
    done
}

make_ca() {
    local dir=$1
    mkdir -p "$dir" || return 1
    cat >"$dir/ca.tmpl" <<'EOF'
cn = "mta-sts-host e2e test CA"
organization = "mta-sts-host tests"
ca
cert_signing_key
crl_signing_key
expiration_days = 30
EOF
    certtool --generate-privkey --key-type ecdsa --curve secp256r1 \
        --no-text --outfile "$dir/ca.key" >/dev/null 2>&1 &&
        certtool --generate-self-signed --load-privkey "$dir/ca.key" \
            --template "$dir/ca.tmpl" --outfile "$dir/ca.pem" \
            >/dev/null 2>&1
}

make_cert() {
    local cadir=$1 out=$2 type=$3
    shift 3
    local tmpl=$out.tmpl n
    {
        printf 'cn = "%s"\n' "$1"
        for n in "$@"; do printf 'dns_name = "%s"\n' "$n"; done
        printf 'tls_www_server\nsigning_key\n'
        [ "$type" = rsa ] && printf 'encryption_key\n'
        printf '%s\n' "${CERT_VALIDITY:-expiration_days = 20}"
    } >"$tmpl"
    case "$type" in
    ecdsa)
        certtool --generate-privkey --key-type ecdsa --curve secp256r1 \
            --no-text --outfile "$out.key" >/dev/null 2>&1 || return 1 ;;
    rsa)
        certtool --generate-privkey --key-type rsa --bits 2048 \
            --no-text --outfile "$out.key" >/dev/null 2>&1 || return 1 ;;
    *) return 1 ;;
    esac
    certtool --generate-certificate --load-privkey "$out.key" \
        --load-ca-certificate "$cadir/ca.pem" \
        --load-ca-privkey "$cadir/ca.key" --template "$tmpl" \
        --no-text --outfile "$out.leaf" >/dev/null 2>&1 || return 1
    cat "$out.leaf" "$cadir/ca.pem" >"$out.crt" &&
        cat "$out.leaf" "$cadir/ca.pem" "$out.key" >"$out.pem" &&
        rm -f "$out.leaf" "$tmpl"
}

hurl() {
    curl -s --max-time 10 --noproxy '*' "$@"
}

host_start() {
    local logf=$1 url=$2
    shift 2
    if [ "${1:-}" = serve ]; then
        shift
        set -- serve "${ROOT_ARGS[@]}" "$@"
    fi
    # A log about to be overwritten may hold a report of an earlier host.
    _sanitizer_check "$logf" &&
        fail "sanitizer report in host log $logf" >&2
    "$MTA_STS_HOST" "$@" >"$logf" 2>&1 &
    HOST_PID=$!
    E2E_PIDS+=("$HOST_PID")
    E2E_HOST_LOGS+=("$logf")
    E2E_LOG_OF[$HOST_PID]=$logf
    local limit=${E2E_START_WAIT:-15} i
    local deadline=$((SECONDS + limit + 1))
    for ((i = 0; i < limit * 5 + 1; i++)); do
        if ! kill -0 "$HOST_PID" 2>/dev/null; then
            wait "$HOST_PID" 2>/dev/null
            _forget_pid "$HOST_PID"
            HOST_PID=
            return 1
        fi
        [ "$(hurl -k -o /dev/null -w '%{http_code}' --max-time 2 "$url")" \
            = 200 ] && return 0
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.2
    done
    return 1
}

serve_policies() {
    local dir=$1 ca=$2 logf=$3 port=$4 certs=$E2E_TMP/served-certs f http
    local names=()
    for f in "$dir/"*.txt; do
        f=${f##*/}
        names+=("mta-sts.${f%.txt}")
    done
    mkdir -p "$certs" && make_ca "$ca" &&
        make_cert "$ca" "$certs/all" ecdsa "${names[@]}" &&
        rm -f "$certs/all.pem" || fail "the test certificate is made"
    http=$(free_port)
    if host_start "$logf" "http://127.0.0.1:$http/healthz" serve \
        --policy-dir "$dir" --cert-dir "$certs" --https "127.0.0.1:$port" \
        --http "127.0.0.1:$http"; then
        pass "the host serves the policies on 127.0.0.1:$port"
    else
        fail "the host starts"
        cat "$logf"
        e2e_finish
    fi
}

# shellcheck disable=SC2034 # HOST_RC is for the caller
host_stop() {
    local pid=$1 limit=${2:-12}
    HOST_RC=timeout
    [ -n "$pid" ] || return 1
    kill -TERM "$pid" 2>/dev/null
    if wait_exit "$pid" "$limit"; then
        HOST_RC=$WAIT_RC
        _sanitizer_check "${E2E_LOG_OF[$pid]:-}" &&
            fail "sanitizer report in host log ${E2E_LOG_OF[$pid]}" >&2
        return 0
    fi
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    _forget_pid "$pid"
    HOST_RC=timeout
    return 1
}

run_bounded() {
    local limit=$1 out=$2
    shift 2
    timeout -k 2 "$limit" "$@" >"$out" 2>&1
}

nsd_start() {
    local dir=$1 z
    shift
    NSD_PORT=$(free_port)
    {
        printf 'server:\n    ip-address: 127.0.0.1@%s\n    port: %s\n' "$NSD_PORT" "$NSD_PORT"
        printf '    username: ""\n    chroot: ""\n    zonesdir: "%s"\n' "$dir"
        printf '    database: ""\n    pidfile: "%s/nsd.pid"\n' "$dir"
        printf '    xfrdfile: "%s/xfrd.state"\n    zonelistfile: "%s/zone.list"\n' "$dir" "$dir"
        printf '    server-count: 1\n    verbosity: 1\nremote-control:\n    control-enable: no\n'
        for z in "$@"; do
            printf 'zone:\n    name: %s\n    zonefile: %s\n' "${z%%=*}" "${z#*=}"
        done
    } >"$dir/nsd.conf"
    nsd -d -c "$dir/nsd.conf" >"$dir/log" 2>&1 &
    E2E_PIDS+=("$!")
    e2e_on_exit "kill \$(cat '$dir/nsd.pid' 2>/dev/null) 2>/dev/null"
    if ! wait_until 10 grep -q "nsd started" "$dir/log" ||
        ! wait_until 10 port_in_use "$NSD_PORT"; then
        fail "nsd starts"
        cat "$dir/log"
        e2e_finish
    fi
    pass "nsd serves the test zones on 127.0.0.1:$NSD_PORT"
}

policy_ids() {
    "$MTA_STS_HOST" dns --policy-dir "$1" --cert-dir "$1/.none" --json \
        2>/dev/null | python3 -c '
import json, sys
for d in json.load(sys.stdin)["domains"]:
    print(d["domain"], d["mta_sts"]["value"].split("id=")[1])'
}
