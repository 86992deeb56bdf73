#!/usr/bin/env bash
# scale.sh: how mta-sts-host and nginx behave with many domains, side by
# side on this machine, loopback only. For each N (default 1, 100, 1000,
# 10000; 100000 with --100k when memory allows) it serves the domains
# d1.example .. dN.example, each with its own ECDSA P-256 certificate for
# mta-sts.d<i>.example (signed by a throw-away test CA; all leaves share one
# key) and its own policy policy/d<i>.example.txt (CRLF, "mx: mx.d<i>.example",
# so a wrong domain's policy is never mistaken for the right one). The host
# gets the certificate and policy directories; nginx gets one server block
# per domain with the same files (ssl_certificate per block, the policy by
# `alias`). It installs what it needs (apt), builds the host in Release into
# build/bench of the tree it lives in and its probe bench/scaletool.c, and
# caches the generated sets in build/bench/scale-N/ (regenerated when the
# generator changes or the certificates are older than 20 days). Every
# run works on a hard-linked copy of the set (all changes are renames into
# place, so the cache is never modified).
#
# Figures (one row per N per server; "verified" = a new TCP connection and
# a full TLS handshake checked against the test CA and the host name, as a
# sender does, by bench/scaletool; probes every 1-2 ms):
#
#   first 200       exec of the server to the first verified 200 for
#                   mta-sts.dN.example carrying exactly dN's policy bytes
#   all served      exec to the moment every domain of a random sample
#                   (SAMPLE domains, always d1 and dN) has been served its
#                   own policy, verified; for the host also until /healthz
#                   counts N domains (the later of the two). The sample is
#                   then fetched again with curl --cacert --resolve (full
#                   verification, body compared), not timed
#   RSS, PSS        summed over all server processes (nginx master +
#                   workers) from /proc/PID/smaps_rollup, 1 s after "all
#                   served"
#   idle CPU        utime+stime of all server processes over IDLE seconds
#                   right after that, in % of one core
#   edit            rename a new policy for d(N/2+1) into place (written
#                   in a temporary directory on the same file system) and
#                   poll until that exact body is served; nginx serves
#                   files from disk but is timed as edit + `nginx -s
#                   reload` (what applying a change means for it: the
#                   README's nginx figure without reload is in
#                   bench/compare.sh); median of REPS
#   cert swap       a new key and certificate (new serial) for the same
#                   domain renamed into place (key first, then the
#                   certificate); poll until the verified handshake
#                   presents the new certificate (DER equal); nginx:
#                   + `nginx -s reload`; median of REPS
#   full reload     host: SIGHUP until the reload has been published:
#                   the snapshot generation in /healthz (or
#                   mta_sts_snapshot_generation in /metrics) is higher
#                   than before, polled every 2 ms on the plain-HTTP
#                   listener; nginx: `nginx -s reload` until the master
#                   has forked a complete new set of workers (they start
#                   only after the master has parsed the configuration and
#                   loaded every certificate), then one verified 200;
#                   median of REPS. `nginx -s reload` itself parses the
#                   whole configuration and loads every certificate before
#                   it signals the master: its own duration is in the raw
#                   numbers (reload_cmd)
#
# Probes back off while they wait (a pause of 1-2 ms, or a fiftieth of the
# time waited so far, at most 50 ms): the resolution stays within 2 % and
# a server busy reloading is not starved by handshakes. nginx keeps its old
# workers accepting for 100 ms after the new ones start (ngx_msleep(100) in
# its master), which is part of its swap and reload figures. The host's
# /healthz count: the number after "served", "domains_served",
# "domains_ok", "ok_domains", "serving" or "domains" if /healthz has one
# (a constant-size /healthz), else its number of "domain" entries; see
# health_count. The machine's CPU use by other work during the idle
# windows is reported (`busy`); above 10 % the report says the times are
# noisy.
#
# A server that does not start, exits, or does not serve what it should
# within the time limit (which grows with N) is reported in the table with
# the reason; the run goes on with the next server or N. Every wait is
# bounded; every process it starts is stopped by PID on exit.
#
# It prints the table and the raw numbers as markdown and writes them to
# OUT. Takes about 1 minute with --quick; about 7 minutes for N <= 1000 on
# a machine busy with other work (nginx at N = 1000: 5 s per start, 7 to
# 16 s per edit/swap/reload); the default set about 10 minutes on an idle
# 2-core machine and up to 25 under load (nginx at N = 10000: about 20 s
# of CPU per configuration load, three repetitions). --100k adds about an
# hour and some 15 GiB for nginx.
#
# Usage: bash bench/scale.sh [--quick] [--100k] [-n "N1 N2 ..."] [-r REPS]
#            [--idle SECONDS] [--sample K] [--servers "host nginx"]
#            [-o OUT] [--bin PATH] [--build-dir DIR] [--host-arg ARG]...
#            [--no-install] [--keep]
# e.g. the host alone at 1,000 and 2,000 domains with its polling watcher:
#   bash bench/scale.sh -n "1000 2000" --servers host --host-arg --poll
# The report is markdown: backquotes in single-quoted strings are literal.
# shellcheck disable=SC2016
set -uo pipefail
export LC_ALL=C
umask 022

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NS="1 100 1000 10000"
REPS=5
IDLE=20
SAMPLE=50
SERVERS="host nginx"
OUT=
HOST_BIN=
BUILD_DIR=$SRC/build/bench
INSTALL=1
KEEP=
HOST_ARGS=()
BIG=

usage() {
    cat <<EOF
usage: bash bench/scale.sh [options]
  --quick               smoke run: N = 1 and 100, 1 repetition, 5 s idle
  --100k                add N = 100000 (each server only if memory allows)
  -n, --domains "N..."  the domain counts (default "$NS")
  -r, --reps N          repetitions of edit, swap and reload (default $REPS;
                        at most 3 from N = 10000 on, 1 at N = 100000)
  --idle S              seconds of idle-CPU measurement (default $IDLE)
  --sample K            domains verified for "all served" (default $SAMPLE)
  --servers "S..."      host and/or nginx (default "$SERVERS")
  -o, --out FILE        markdown results (default bench/results-scale-DATE.md)
  --bin PATH            benchmark this mta-sts-host, do not build
  --build-dir DIR       Release build directory and cache (default $BUILD_DIR)
  --host-arg ARG        one more argument for \`mta-sts-host serve\` (repeatable)
  --no-install          do not apt-get anything
  --keep                keep the temporary directory
EOF
}

posint() { [[ $2 =~ ^[1-9][0-9]{0,6}$ ]] || { echo "$1: not a positive integer: $2" >&2; exit 2; }; }

while [ $# -gt 0 ]; do
    case $1 in
    --quick) NS="1 100" REPS=1 IDLE=5 ;;
    --100k) BIG=1 ;;
    -n | --domains)
        NS=${2:?}
        for n in $NS; do posint "$1" "$n"; done
        shift
        ;;
    -r | --reps) posint "$1" "${2:-}"; REPS=$2; shift ;;
    --idle) posint "$1" "${2:-}"; IDLE=$2; shift ;;
    --sample) posint "$1" "${2:-}"; SAMPLE=$2; shift ;;
    --servers)
        SERVERS=${2:?}
        for s in $SERVERS; do
            case $s in host | nginx) ;; *) echo "unknown server: $s" >&2; exit 2 ;; esac
        done
        shift
        ;;
    -o | --out) OUT=${2:?}; shift ;;
    --bin) HOST_BIN=${2:?}; shift ;;
    --build-dir) BUILD_DIR=${2:?}; shift ;;
    --host-arg) HOST_ARGS+=("${2:?}"); shift ;;
    --no-install) INSTALL= ;;
    --keep) KEEP=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
    shift
done
[ -n "$BIG" ] && NS="$NS 100000"
[ -n "$OUT" ] || OUT=$SRC/bench/results-scale-$(date -u +%Y-%m-%d).md
BUILD_DIR=$(mkdir -p "$BUILD_DIR" && cd "$BUILD_DIR" && pwd) || exit 2

START=$SECONDS
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"

# ---- processes and cleanup -------------------------------------------------

T=$(mktemp -d /tmp/mta-sts-scale.XXXXXX) || exit 1
MAIN_PID=$BASHPID
OURS=() # pids to stop at exit (servers, their workers, probes)

cleanup() {
    [ "$BASHPID" = "$MAIN_PID" ] || return 0
    local p i
    for p in "${OURS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${OURS[@]}"; do
        for ((i = 0; i < 50; i++)); do alive "$p" || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    wait 2>/dev/null
    if [ -n "$KEEP" ]; then say "kept $T"; else rm -rf -- "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM



# children PID: the direct child processes of PID.
children() {
    local c=()
    # The file has no final newline: read returns 1 with the list read.
    { read -r -a c <"/proc/$1/task/$1/children"; } 2>/dev/null
    [ ${#c[@]} -eq 0 ] || printf '%s\n' "${c[@]}"
}

# tree PID: PID and its descendants (nginx master + workers).
tree() {
    local all=("$1") i=0 c
    while [ $i -lt ${#all[@]} ]; do
        for c in $(children "${all[$i]}"); do all+=("$c"); done
        i=$((i + 1))
    done
    printf '%s\n' "${all[@]}"
}





# ms T0 T1: milliseconds between two epoch times, one decimal.
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }

# ---- setup -------------------------------------------------------------------


if [ -n "$INSTALL" ]; then
    bash "$SRC/.ci/deps.sh" >"$T/deps.log" 2>&1 ||
        { tail -n 20 "$T/deps.log" >&2; die ".ci/deps.sh failed"; }
    need=()
    for c in nginx:nginx curl:curl pkg-config:pkg-config; do
        command -v "${c%%:*}" >/dev/null 2>&1 || need+=("${c#*:}")
    done
    apt_install "${need[@]}"
    hash -r
fi
for c in curl cc pkg-config awk timeout shuf; do
    command -v "$c" >/dev/null 2>&1 || die "$c is missing (run without --no-install)"
done
case " $SERVERS " in
*" nginx "*) command -v nginx >/dev/null 2>&1 || die "nginx is missing (run without --no-install)" ;;
esac

build_host
TOOL=$BUILD_DIR/scaletool
build_tool scaletool "$TOOL"
WORKERS=$(nproc)
CLK_TCK=$(getconf CLK_TCK)

# ---- the domain sets ----------------------------------------------------------

GEN_VERSION="scale-v1 $(cat "$SRC/bench/scaletool.c" "$SRC/bench/benchutil.h" | sha256sum | cut -c1-16)"

# policy_body I [MAX_AGE]: d<I>'s policy, CRLF (the host serves CRLF; the
# same bytes on disk make nginx serve what the host serves).
policy_body() {
    printf 'version: STSv1\r\nmode: enforce\r\nmx: mx.d%s.example\r\nmax_age: %s\r\n' \
        "$1" "${2:-86400}"
}

# make_set N: build/bench/scale-N/ with ca.pem, ca.key, leaf.key,
# certs/mta-sts.d<i>.example.{crt,key} and policy/d<i>.example.txt (plus a
# default policy/mta-sts.txt that no domain should ever be served). Reused
# while its stamp matches.
make_set() {
    local n=$1 dir=$BUILD_DIR/scale-$1 stamp t0
    stamp="$GEN_VERSION n=$n"
    if [ -f "$dir/stamp" ] && [ "$(head -n 1 "$dir/stamp")" = "$stamp" ] &&
        [ -n "$(find "$dir/stamp" -mtime -20 2>/dev/null)" ]; then
        say "N=$n: using the cached set in $dir"
        return 0
    fi
    t0=$EPOCHREALTIME
    rm -rf "$dir"
    mkdir -p "$dir/certs" "$dir/policy" || return 1
    "$TOOL" ca "$dir" && "$TOOL" leaves "$dir" "$dir/certs" "$n" || return 1
    awk -v n="$n" -v d="$dir/policy" 'BEGIN {
        for (i = 1; i <= n; i++) {
            f = d "/d" i ".example.txt"
            printf "version: STSv1\r\nmode: enforce\r\nmx: mx.d%d.example\r\nmax_age: 86400\r\n", i > f
            close(f)
        }
        f = d "/mta-sts.txt"
        printf "version: STSv1\r\nmode: testing\r\nmx: default.invalid\r\nmax_age: 86400\r\n" > f
    }' || return 1
    echo "$stamp" >"$dir/stamp"
    say "N=$n: generated $n certificates and policies in $(ms "$t0" "$EPOCHREALTIME") ms"
}

# ---- results -----------------------------------------------------------------

R=$T/res
mkdir -p "$R" "$T/logs"
record() { echo "$4" >>"$R/$1.$2.$3"; } # FIGURE SERVER N VALUE
note() { echo "$3" >>"$R/note.$1.$2"; } # SERVER N TEXT
fail() { # SERVER N TEXT: the server could not be measured further
    echo "$3" >"$R/fail.$1.$2"
    say "  $1 N=$2: FAILED: $3"
}

# ---- servers -------------------------------------------------------------------

SRV_PID=
SRV_PIDS=()
PORT=
HTTP_PORT=
RUN=
NGINX_CMD=()

# nginx_conf DIR N: one server block per domain, the same files as the host.
nginx_conf() {
    local dir=$1 n=$2
    {
        nginx_conf_head "$dir"
        cat <<EOF
    # Big buckets: nginx then finds a hash size at once (a search over
    # sizes with small buckets costs seconds at 10,000 names).
    server_names_hash_bucket_size 256;
    server_names_hash_max_size $((n * 2 > 1024 ? n * 2 : 1024));
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets on;
    ssl_session_cache shared:SSL:10m;
    types { }
    default_type text/plain;
EOF
        awk -v n="$n" -v port="$PORT" -v d="$dir" 'BEGIN {
            for (i = 1; i <= n; i++) {
                h = "mta-sts.d" i ".example"
                printf "    server {\n        listen 127.0.0.1:%s ssl;\n", port
                printf "        server_name %s;\n", h
                printf "        ssl_certificate %s/certs/%s.crt;\n", d, h
                printf "        ssl_certificate_key %s/certs/%s.key;\n", d, h
                printf "        location = /.well-known/mta-sts.txt { alias %s/policy/d%d.example.txt; }\n", d, i
                printf "        location / { return 404; }\n    }\n"
            }
        }'
        echo "}"
    } >"$dir/nginx.conf"
}

# start_server NAME N: a fresh copy of the set, config, exec. Sets SRV_PID,
# PORT, HTTP_PORT, RUN and T_EXEC.
start_server() {
    local name=$1 n=$2 set=$BUILD_DIR/scale-$2
    PORT=$(free_port) || die "no free port"
    HTTP_PORT=$(free_port) || die "no free port"
    RUN=$T/run-$name-$n
    rm -rf "$RUN"
    mkdir -p "$RUN/tmp" || die "cannot create $RUN"
    # Hard links when possible: nothing ever writes into these files.
    cp -al "$set/certs" "$set/policy" "$RUN/" 2>/dev/null ||
        cp -a "$set/certs" "$set/policy" "$RUN/" || die "cannot copy $set"
    case $name in
    host)
        T_EXEC=$EPOCHREALTIME
        "$HOST_BIN" serve --policy-dir "$RUN/policy" --cert-dir "$RUN/certs" \
            --https "127.0.0.1:$PORT" --http "127.0.0.1:$HTTP_PORT" \
            --log-level warn "${ALLOW_ROOT[@]}" "${HOST_ARGS[@]}" \
            >"$RUN/log" 2>&1 &
        ;;
    nginx)
        nginx_conf "$RUN" "$n"
        NGINX_CMD=(nginx -c "$RUN/nginx.conf" -p "$RUN" -e "$RUN/error.log")
        T_EXEC=$EPOCHREALTIME
        "${NGINX_CMD[@]}" >"$RUN/log" 2>&1 &
        ;;
    esac
    SRV_PID=$!
    SRV_PIDS=("$SRV_PID")
    OURS+=("$SRV_PID")
}

# refresh_pids: SRV_PIDS = the server and all its processes now.
refresh_pids() {
    local p
    mapfile -t SRV_PIDS < <(tree "$SRV_PID")
    for p in "${SRV_PIDS[@]:1}"; do
        case " ${OURS[*]} " in *" $p "*) ;; *) OURS+=("$p") ;; esac
    done
}

stop_server() {
    local p i
    [ -n "$SRV_PID" ] || return 0
    refresh_pids
    kill -TERM "$SRV_PID" 2>/dev/null
    for ((i = 0; i < 100; i++)); do alive "$SRV_PID" || break; sleep 0.1; done
    kill -KILL "$SRV_PID" 2>/dev/null
    wait "$SRV_PID" 2>/dev/null
    for p in "${SRV_PIDS[@]}"; do
        alive "$p" && kill -KILL "$p" 2>/dev/null
        forget "$p"
    done
    SRV_PID=
    SRV_PIDS=()
}

# last_log: the server's last log lines, on one line.
last_log() {
    cat "$RUN/log" "$RUN/error.log" 2>/dev/null | grep -v '^$' | tail -n 3 |
        cut -c1-300 | tr '\n' ' ' | sed 's/ *$//; s/|/\\|/g'
}

# probe OUTFILE CMD...: run a scaletool probe in the background while the
# server lives; returns its status, or 99 if the server died first.
probe() {
    local out=$1 p rc
    shift
    "$@" >"$out" 2>"$out.err" &
    p=$!
    OURS+=("$p")
    while alive "$p"; do
        if ! alive "$SRV_PID"; then
            kill -TERM "$p" 2>/dev/null
            wait "$p" 2>/dev/null
            forget "$p"
            return 99
        fi
        sleep 0.02
    done
    wait "$p"
    rc=$?
    forget "$p"
    return "$rc"
}

# probe_ms OUTFILE: the t1 - t0 of a probe's output.
probe_ms() { read -r a b _ <"$1" && ms "$a" "$b"; }

# why NAME N OUTFILE RC WHAT: describe a failed probe.
why() {
    if [ "$4" = 99 ]; then
        echo "$5: the server exited: $(last_log)"
    else
        echo "$5: $(head -c 300 "$3.err" | tr '\n' ' ') log: $(last_log)"
    fi
}

# limit BASE PER_1000: a time limit in seconds that grows with N: nginx
# needs 2 to 6 s per 1,000 certificates to start or reload on this
# machine (2 ms of CPU each), twice that for `nginx -s reload` + reload.
limit() { echo $(($1 + $2 * N / 1000)); }

healthz() { curl -s --noproxy '*' --max-time 10 "http://127.0.0.1:$HTTP_PORT/healthz"; }

# health_count: how many domains /healthz says are served: the number
# after one of the count keys a constant-size /healthz may carry, else the
# number of per-domain entries.
health_count() {
    local body
    body=$(healthz) || return 1
    # The servable count: domains with a valid policy and a valid
    # certificate (/healthz names no domain).
    printf '%s' "$body" | grep -o '"servable":[0-9]*' | head -n 1 | cut -d: -f2
}

# generation: "PATH KEY VALUE" of the host's reload generation.
generation() {
    local v
    v=$("$TOOL" gen -p "$HTTP_PORT" -u /healthz -k '"generation":' -g -1 -d 10 2>/dev/null) &&
        { echo "/healthz \"generation\": $v"; return 0; }
    v=$("$TOOL" gen -p "$HTTP_PORT" -u /metrics -k 'mta_sts_snapshot_generation ' -g -1 -d 10 2>/dev/null) &&
        { echo "/metrics mta_sts_snapshot_generation $v"; return 0; }
    return 1
}

# nginx_workers: the pids of the master's current workers that are not
# shutting down.
nginx_workers() {
    local c line
    for c in $(children "$SRV_PID"); do
        # Up to the first NUL: the title nginx gave the process.
        line=
        { read -r -d '' line <"/proc/$c/cmdline"; } 2>/dev/null
        [ "$line" = "nginx: worker process" ] && echo "$c"
    done
}

# nginx_reload_done OLD_PIDS... : wait until the master runs WORKERS
# workers of which none is in OLD_PIDS; bounded.
nginx_reload_done() {
    local deadline=$((SECONDS + $(limit 60 20))) cur w ok t0 wait_us
    t0=${EPOCHREALTIME/./}
    while [ $SECONDS -lt $deadline ]; do
        alive "$SRV_PID" || return 1
        mapfile -t cur < <(nginx_workers)
        if [ ${#cur[@]} -ge "$WORKERS" ]; then
            ok=1
            for w in "${cur[@]}"; do
                case " $* " in *" $w "*) ok= ;; esac
            done
            [ -n "$ok" ] && return 0
        fi
        # Like scaletool: 2 ms, or a fiftieth of the time waited so far.
        wait_us=$(((${EPOCHREALTIME/./} - t0) / 50))
        [ "$wait_us" -gt 2000 ] || wait_us=2000
        [ "$wait_us" -lt 50000 ] || wait_us=50000
        sleep "0.$(printf '%06d' "$wait_us")"
    done
    return 1
}

# nginx_settle: wait until the old workers of earlier reloads are gone.
nginx_settle() {
    local deadline=$((SECONDS + 30)) c n
    while [ $SECONDS -lt $deadline ]; do
        n=0
        for c in $(children "$SRV_PID"); do n=$((n + 1)); done
        [ "$n" -le "$WORKERS" ] && return 0
        sleep 0.05
    done
}


median() {
    [ -s "$1" ] || return 0
    sort -g "$1" | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m }'
}

# ---- one server at one N ----------------------------------------------------

measure() {
    local name=$1 n=$2 c=$2 e=$(($2 / 2 + 1)) out=$T/logs/$1-$2 rc t1 k i
    local t_first t_all m c0 c1 reload=() failed b0 b1 reps=$REPS
    N=$n
    # nginx takes seconds per reload from 10,000 domains on.
    [ "$n" -ge 10000 ] && [ "$reps" -gt 3 ] && reps=3
    [ "$n" -ge 100000 ] && reps=1
    say "$name N=$n"
    start_server "$name" "$n"
    local set=$RUN
    # First 200 for dN, then all of a random sample (d1 and dN included).
    { echo "$n"; echo 1; shuf -i "1-$n" -n "$SAMPLE"; } | awk '!seen[$1]++' |
        head -n "$SAMPLE" |
        awk -v d="$set/policy" '{ printf "mta-sts.d%d.example %s/d%d.example.txt\n", $1, d, $1 }' \
            >"$RUN/sample"
    probe "$out.sample" "$TOOL" sample -p "$PORT" -a "$BUILD_DIR/scale-$n/ca.pem" \
        -l "$RUN/sample" -d "$(limit 60 15)" -i 2000
    rc=$?
    if [ "$rc" != 0 ]; then
        if grep -q "not served" "$out.sample.err" && ! grep -q "mta-sts.d$c.example" "$out.sample.err"; then
            fail "$name" "$n" "$(why "$name" "$n" "$out.sample" "$rc" "not all of the sample served")"
        else
            fail "$name" "$n" "$(why "$name" "$n" "$out.sample" "$rc" "no verified 200 for mta-sts.d$c.example")"
        fi
        stop_server
        return
    fi
    read -r _ t1 _ t_first <"$out.sample"
    t_first=$(ms "$T_EXEC" "$t_first")
    t_all=$(ms "$T_EXEC" "$t1")
    record first "$name" "$n" "$t_first"
    say "  first 200: $t_first ms"
    # For the host, /healthz must count all N too; if it does so only
    # later than the sample was served, "all served" is that later time.
    if [ "$name" = host ]; then
        local hc=-1 late='' deadline=$((SECONDS + $(limit 10 5)))
        while [ $SECONDS -lt $deadline ] && alive "$SRV_PID"; do
            hc=$(health_count) || hc=-1
            [ "$hc" -ge "$n" ] 2>/dev/null && break
            late=1
            sleep 0.01
        done
        t1=$EPOCHREALTIME
        echo "$hc" >"$R/healthz.$name.$n"
        if ! [ "$hc" -ge "$n" ] 2>/dev/null; then
            fail "$name" "$n" "/healthz counts $hc of $n domains: $(healthz | head -c 200)"
            stop_server
            return
        fi
        [ -n "$late" ] && t_all=$(ms "$T_EXEC" "$t1")
    fi
    record all "$name" "$n" "$t_all"
    say "  all served: $t_all ms"
    # The same sample with curl, full verification, body compared.
    failed=0
    while read -r k i; do
        if ! curl -s --noproxy '*' --max-time 10 --cacert "$BUILD_DIR/scale-$n/ca.pem" \
            --resolve "$k:$PORT:127.0.0.1" -o "$RUN/curl.body" \
            "https://$k:$PORT/.well-known/mta-sts.txt" ||
            ! cmp -s "$RUN/curl.body" "$i"; then
            failed=$((failed + 1))
            [ "$failed" = 1 ] && note "$name" "$n" "curl: $k not served its policy: $(head -c 100 "$RUN/curl.body" 2>/dev/null | tr '\r\n' '  ')"
        fi
    done <"$RUN/sample"
    echo "$(($(wc -l <"$RUN/sample") - failed))/$(wc -l <"$RUN/sample")" >"$R/curl.$name.$n"
    # Memory and idle CPU.
    sleep 1
    refresh_pids
    m=$(mem_kb "${SRV_PIDS[@]}")
    record rss "$name" "$n" "$(awk -v k="${m% *}" 'BEGIN { printf "%.1f", k / 1024 }')"
    record pss "$name" "$n" "$(awk -v k="${m#* }" 'BEGIN { printf "%.1f", k / 1024 }')"
    c0=$(cpu_ticks "${SRV_PIDS[@]}")
    b0=$(stat_busy)
    sleep "$IDLE"
    b1=$(stat_busy)
    refresh_pids
    c1=$(cpu_ticks "${SRV_PIDS[@]}")
    # How busy the machine was meanwhile, without the server: other work
    # makes every time figure noisy.
    record busy "$name" "$n" "$(awk -v b0="${b0% *}" -v t0="${b0#* }" -v b1="${b1% *}" \
        -v t1="${b1#* }" -v d=$((c1 - c0)) 'BEGIN {
            if (t1 > t0) printf "%.0f", 100 * (b1 - b0 - d) / (t1 - t0) }')"
    record idle "$name" "$n" "$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v s="$IDLE" \
        'BEGIN { printf "%.2f", 100 * d / hz / s }')"
    say "  RSS $((${m% *} / 1024)) MiB, PSS $((${m#* } / 1024)) MiB, idle CPU $(cat "$R/idle.$name.$n") %"
    alive "$SRV_PID" || { fail "$name" "$n" "exited while idle: $(last_log)"; stop_server; return; }

    local ca=$BUILD_DIR/scale-$n/ca.pem host=mta-sts.d$e.example
    [ "$name" = nginx ] && reload=(-x "$(printf '%q ' "${NGINX_CMD[@]}") -s reload")
    # Edit to served.
    for ((i = 1; i <= reps; i++)); do
        policy_body "$e" $((86400 + i)) >"$RUN/tmp/edit.txt"
        probe "$out.edit$i" "$TOOL" get -p "$PORT" -s "$host" -f "$RUN/tmp/edit.txt" \
            -a "$ca" -r "$RUN/tmp/edit.txt" "$RUN/policy/d$e.example.txt" "${reload[@]}" \
            -d "$(limit 30 10)" -i 1000
        rc=$?
        if [ "$rc" != 0 ]; then
            fail "$name" "$n" "$(why "$name" "$n" "$out.edit$i" "$rc" "edit $i of d$e not served")"
            stop_server
            return
        fi
        record edit "$name" "$n" "$(probe_ms "$out.edit$i")"
        [ "$name" = nginx ] && nginx_settle
        sleep 0.3
    done
    say "  edit-to-served: $(median "$R/edit.$name.$n") ms (median of $reps)"
    # Certificate swap to served.
    for ((i = 1; i <= reps; i++)); do
        "$TOOL" one "$BUILD_DIR/scale-$n" "$host" "$RUN/tmp/new.crt" "$RUN/tmp/new.key" ||
            die "cannot make a certificate"
        probe "$out.swap$i" "$TOOL" cert -p "$PORT" -s "$host" -c "$RUN/tmp/new.crt" \
            -a "$ca" -r "$RUN/tmp/new.key" "$RUN/certs/$host.key" \
            -r "$RUN/tmp/new.crt" "$RUN/certs/$host.crt" "${reload[@]}" \
            -d "$(limit 60 20)" -i 1000
        rc=$?
        if [ "$rc" != 0 ]; then
            fail "$name" "$n" "$(why "$name" "$n" "$out.swap$i" "$rc" "certificate swap $i of $host not served")"
            stop_server
            return
        fi
        record swap "$name" "$n" "$(probe_ms "$out.swap$i")"
        [ "$name" = nginx ] && nginx_settle
        sleep 0.3
    done
    say "  certificate swap to served: $(median "$R/swap.$name.$n") ms (median of $reps)"
    # Full reload.
    for ((i = 1; i <= reps; i++)); do
        if [ "$name" = host ]; then
            local g path key
            if ! g=$(generation); then
                note "$name" "$n" "full reload not measured: no generation in /healthz or /metrics"
                break
            fi
            path=${g%% *} g=${g#* } key=${g% *} g=${g##* }
            [ "$i" = 1 ] && note "$name" "$n" "reload done = $path $key moves on"
            probe "$out.reload$i" "$TOOL" gen -p "$HTTP_PORT" -u "$path" -k "$key" \
                -g "$g" -K "$SRV_PID" -d "$(limit 60 20)" -i 2000
            rc=$?
        else
            local old t0
            mapfile -t old < <(nginx_workers)
            t0=$EPOCHREALTIME
            "${NGINX_CMD[@]}" -s reload >>"$RUN/log" 2>&1
            record reload_cmd "$name" "$n" "$(ms "$t0" "$EPOCHREALTIME")"
            if nginx_reload_done "${old[@]}" &&
                probe "$out.reload$i.get" "$TOOL" get -p "$PORT" -s "mta-sts.d$c.example" \
                    -f "$set/policy/d$c.example.txt" -a "$ca" -d 10; then
                echo "$t0 $EPOCHREALTIME" >"$out.reload$i"
                rc=0
            else
                echo "no complete new set of workers" >"$out.reload$i.err"
                rc=1
            fi
        fi
        if [ "$rc" != 0 ]; then
            fail "$name" "$n" "$(why "$name" "$n" "$out.reload$i" "$rc" "full reload $i not done")"
            stop_server
            return
        fi
        record reload "$name" "$n" "$(probe_ms "$out.reload$i")"
        [ "$name" = nginx ] && nginx_settle
        sleep 0.3
    done
    [ -s "$R/reload.$name.$n" ] &&
        say "  full reload: $(median "$R/reload.$name.$n") ms (median of $reps)"
    # Still serving everything after all that?
    if ! probe "$out.after" "$TOOL" sample -p "$PORT" -a "$ca" -l "$RUN/sample" -d 30; then
        fail "$name" "$n" "$(why "$name" "$n" "$out.after" 1 "after the reloads, not all of the sample served")"
    fi
    stop_server
}

# fits NAME N: whether NAME at N is worth trying: it has not failed at a
# smaller N and fits in memory, estimated from the largest N measured so
# far (nginx's reload holds two configurations).
fits() {
    local name=$1 n=$2 best=0 kb f avail need
    for f in "$R"/fail."$name".*; do
        [ -s "$f" ] || continue
        fail "$name" "$n" "skipped: failed at N=${f##*.}"
        return 1
    done
    for f in "$R"/rss."$name".*; do
        [ -s "$f" ] || continue
        f=${f##*.}
        [ "$f" -gt "$best" ] && best=$f
    done
    read -r _ avail _ < <(grep '^MemAvailable:' /proc/meminfo)
    if [ "$best" -gt 0 ]; then
        kb=$(awk -v m="$(median "$R/rss.$name.$best")" 'BEGIN { printf "%d", m * 1024 }')
        need=$((kb * 2 * n / best))
    else
        need=$((n * 200 * 2))
    fi
    if [ "$need" -gt $((avail * 8 / 10)) ]; then
        fail "$name" "$n" "skipped: estimated to need $((need / 1048576)) GiB, $((avail / 1048576)) GiB available"
        return 1
    fi
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
say "temporary directory $T; N = $NS; servers $SERVERS; $REPS repetition(s), idle $IDLE s, sample $SAMPLE"
for N in $NS; do
    make_set "$N" >"$T/logs/gen-$N.log" 2>&1 ||
        { cat "$T/logs/gen-$N.log" >&2; die "cannot generate the set for N=$N"; }
    cat "$T/logs/gen-$N.log" >&2
    for name in $SERVERS; do
        if [ "$N" -ge 100000 ] && ! fits "$name" "$N"; then continue; fi
        measure "$name" "$N"
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report -------------------------------------------------------------------

# cell FIG NAME N: the median, or "" when not measured.
cell() { median "$R/$1.$2.$3"; }

report() {
    local n name status
    cat <<EOF
## mta-sts-host and nginx with many domains ($(date -u '+%Y-%m-%d %H:%M UTC'))

- machine: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores,
  $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r); load average $LOAD_BEFORE before, $LOAD_AFTER after
- mta-sts-host $("$HOST_BIN" --version 2>/dev/null | awk '{ print $2 }') ($(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)$([ -n "$(git -C "$SRC" status --porcelain -- server CMakeLists.txt 2>/dev/null)" ] && echo " + uncommitted changes in server/")), Release, libmicrohttpd $(pkg-config --modversion libmicrohttpd 2>/dev/null), GnuTLS $(pkg-config --modversion gnutls 2>/dev/null)$([ ${#HOST_ARGS[@]} -gt 0 ] && printf ', `%s`' "${HOST_ARGS[*]}")
- nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') (OpenSSL $(openssl version 2>/dev/null | cut -d' ' -f2)), $WORKERS workers, one server block per domain
- one ECDSA P-256 certificate per domain (shared key), one policy file per
  domain; medians of $REPS repetition(s) (at most 3 from N = 10000 on, 1 at
  100000); idle CPU over $IDLE s; "all served" from a sample of $SAMPLE domains

| N | server | first 200, ms | all served, ms | RSS, MiB | PSS, MiB | idle CPU, % | edit-to-served, ms | cert swap, ms | full reload, ms | status |
|---|---|---|---|---|---|---|---|---|---|---|
EOF
    for n in $NS; do
        for name in $SERVERS; do
            status=ok
            if [ -s "$R/fail.$name.$n" ]; then
                status="**failed**: $(cat "$R/fail.$name.$n")"
            else
                [ -s "$R/curl.$name.$n" ] && status="ok (curl $(cat "$R/curl.$name.$n")$([ -s "$R/healthz.$name.$n" ] && echo ", /healthz $(cat "$R/healthz.$name.$n")"))"
            fi
            printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$name" \
                "$(cell first "$name" "$n")" "$(cell all "$name" "$n")" \
                "$(cell rss "$name" "$n")" "$(cell pss "$name" "$n")" \
                "$(cell idle "$name" "$n")" "$(cell edit "$name" "$n")" \
                "$(cell swap "$name" "$n")" "$(cell reload "$name" "$n")" "$status"
        done
    done
    cat <<EOF

How (see the header of bench/scale.sh): "verified" = new TCP connection,
full TLS handshake checked against the test CA and the name, by
bench/scaletool. First 200 = exec to the first verified 200 with
dN's exact policy. All served = exec until a random sample of the domains
(d1 and dN included) was served each its own policy (host: and /healthz
counted N). Memory = Rss/Pss from smaps_rollup summed over all server
processes, 1 s after that; idle CPU = their utime+stime over $IDLE s, % of
one core. Edit = rename a new policy of d(N/2+1) into place, until that
body is served; cert swap = rename a new key and certificate (new serial)
into place, until the handshake presents it; nginx: both + \`nginx -s reload\`.
Full reload = host: SIGHUP until the published generation moves on; nginx:
\`nginx -s reload\` until a complete new set of workers runs, then one
verified 200.
EOF
    printf '\nNotes:\n\n'
    local busy
    busy=$(cat "$R"/busy.* 2>/dev/null | sort -g | tail -n 1)
    if [ -n "$busy" ] && [ "$busy" -ge 10 ]; then
        printf -- '- **the machine was busy with other work** (up to %s %% of all CPU during\n' "$busy"
        printf '  the idle windows, `busy` below): the times are noisy and too high\n'
    fi
    for n in $NS; do
        for name in $SERVERS; do
            [ -s "$R/note.$name.$n" ] || continue
            sed "s/^/- $name N=$n: /" "$R/note.$name.$n"
        done
    done
    printf '\nRaw samples (ms unless noted), in run order:\n\n'
    local f line
    for f in first all rss pss idle edit swap reload reload_cmd busy; do
        line=
        for n in $NS; do
            for name in $SERVERS; do
                [ -s "$R/$f.$name.$n" ] || continue
                line="$line $name@$n: $(tr '\n' ' ' <"$R/$f.$name.$n" | sed 's/ $//');"
            done
        done
        [ -n "$line" ] && printf -- '- `%s`:%s\n' "$f" "${line%;}"
    done
    printf '\nTook %d s.\n' $((SECONDS - START))
}

mkdir -p "$(dirname "$OUT")"
report >"$T/report.md"
cp "$T/report.md" "$OUT" || die "cannot write $OUT"
cat "$T/report.md"
say "written to $OUT (took $((SECONDS - START)) s)"
