#!/usr/bin/env bash
# compare.sh: side-by-side benchmark of mta-sts-host against nginx and Caddy
# on this machine, loopback only: same certificate (a throw-away test CA's
# ECDSA P-256 or RSA-2048 leaf for mta-sts.example.com), same policy bytes
# at /.well-known/mta-sts.txt with Content-Type text/plain, TLS 1.2 + 1.3,
# session tickets on, no access log. It installs what it needs (apt),
# builds the host in Release from the tree it lives in, builds its own TLS
# client (bench/tlsload.c), and measures, interleaved host nginx caddy,
# host nginx caddy, ... (REPS times, medians reported):
#
#   keep-alive      wrk -t2 -c50 -d10s --latency: req/s and p99 latency
#   full handshake  tlsload full: a new connection and a full handshake per
#                   request (no session offered), ECDSA and RSA: conn/s and
#                   server CPU (utime+stime of all server processes) per
#                   connection
#   resumed         tlsload resume: each connection offers the session of
#                   the previous one; conn/s, the share the server really
#                   resumed, server CPU per connection
#   memory          RSS and PSS summed over all server processes
#                   (smaps_rollup), idle after start and under keep-alive
#   start-up        exec to the first 200 over HTTPS
#   edit-to-served  EDITS in-place rewrites of the policy (max_age changes),
#                   time from the write to the first response carrying the
#                   new body, over one keep-alive connection polled every
#                   0.5 ms (once per server, after the repetitions)
#
# It prints machine facts and one table (figure | host | nginx | caddy |
# host/nginx | host/caddy) and writes them as markdown to OUT. Every load
# run is bounded in time; every process it starts is stopped by PID on
# exit. Takes about 5 minutes at the defaults.
#
# Usage: bash bench/compare.sh [-r REPS] [-d SECONDS] [-H SECONDS]
#            [-e EDITS] [-o OUT] [--bin PATH] [--build-dir DIR]
#            [--host-config YAML] [--host-arg ARG]... [--no-install]
#            [--quick] [--keep]
# e.g. the host's polling watcher with 1 thread:
#   printf 'limits: {threads: 1}\nlog: {access: false}\n' >/tmp/h.yaml
#   bash bench/compare.sh --host-config /tmp/h.yaml --host-arg --poll
# The report is markdown: backquotes in single-quoted strings are literal.
# shellcheck disable=SC2016
set -uo pipefail
export LC_ALL=C
umask 022

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPS=3
KA_SECS=10
HS_SECS=5
HS_THREADS=16
EDITS=100
EDIT_PAUSE=100
OUT=
HOST_BIN=
BUILD_DIR=$SRC/build/bench
INSTALL=1
KEEP=
NAME=mta-sts.example.com
SERVERS=(host nginx caddy)
HOST_CONFIG=
HOST_ARGS=()

usage() {
    cat <<EOF
usage: bash bench/compare.sh [options]
  -r, --reps N          repetitions, interleaved host nginx caddy (default $REPS)
  -d, --duration S      seconds per keep-alive (wrk) run (default $KA_SECS)
  -H, --hs-duration S   seconds per handshake run (default $HS_SECS)
  -t, --hs-threads N    client threads for handshake runs (default $HS_THREADS)
  -e, --edits N         policy edits per server (default $EDITS)
  --edit-pause MS       random pause of 20..20+MS ms after each served edit
                        (default $EDIT_PAUSE; with --host-arg --poll use at
                        least the poll interval)
  -o, --out FILE        markdown results (default bench/results-DATE.md)
  --bin PATH            benchmark this mta-sts-host, do not build
  --build-dir DIR       Release build directory (default $BUILD_DIR)
  --host-config YAML    the host's config file instead of the generated one
                        (access log off, level warn, connection limits 4096)
  --host-arg ARG        one more argument for \`mta-sts-host serve\` (repeatable)
  --no-install          do not apt-get anything
  --quick               smoke test: -r 1 -d 3 -H 2 -e 10
  --keep                keep the temporary directory
EOF
}

posint() { [[ $2 =~ ^[1-9][0-9]{0,5}$ ]] || { echo "$1: not a positive integer: $2" >&2; exit 2; }; }

while [ $# -gt 0 ]; do
    case $1 in
    -r | --reps) posint "$1" "${2:-}"; REPS=$2; shift ;;
    -d | --duration) posint "$1" "${2:-}"; KA_SECS=$2; shift ;;
    -H | --hs-duration) posint "$1" "${2:-}"; HS_SECS=$2; shift ;;
    -t | --hs-threads) posint "$1" "${2:-}"; HS_THREADS=$2; shift ;;
    -e | --edits) posint "$1" "${2:-}"; EDITS=$2; shift ;;
    --edit-pause) posint "$1" "${2:-}"; EDIT_PAUSE=$2; shift ;;
    -o | --out) OUT=${2:?}; shift ;;
    --bin) HOST_BIN=${2:?}; shift ;;
    --build-dir) BUILD_DIR=${2:?}; shift ;;
    --host-config) HOST_CONFIG=$(realpath "${2:?}") || exit 2; shift ;;
    --host-arg) HOST_ARGS+=("${2:?}"); shift ;;
    --no-install) INSTALL= ;;
    --quick) REPS=1 KA_SECS=3 HS_SECS=2 EDITS=10 ;;
    --keep) KEEP=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
    shift
done
[ -n "$OUT" ] || OUT=$SRC/bench/results-$(date -u +%Y-%m-%d).md

START=$SECONDS
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"

# ---- processes and cleanup -------------------------------------------------

T=$(mktemp -d /tmp/mta-sts-bench.XXXXXX) || exit 1
MAIN_PID=$BASHPID
OURS=()      # pids to stop at exit (servers, their workers, load clients)

cleanup() {
    [ "$BASHPID" = "$MAIN_PID" ] || return 0
    local p
    for p in "${OURS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${OURS[@]}"; do
        local i
        for ((i = 0; i < 50; i++)); do alive "$p" || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    wait 2>/dev/null
    if [ -n "$KEEP" ]; then say "kept $T"; else rm -rf -- "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM



# run CMD...: run CMD in the background and wait for it, so that a signal
# to this script is handled at once (bash defers traps while a foreground
# child runs) and the cleanup stops CMD.
run() {
    local p rc
    "$@" &
    p=$!
    OURS+=("$p")
    wait "$p"
    rc=$?
    forget "$p"
    return "$rc"
}

# tree PID: PID and its descendants (nginx master + workers).
tree() {
    local all=("$1") i=0 f line rest
    while [ $i -lt ${#all[@]} ]; do
        for f in /proc/[0-9]*/stat; do
            { read -r line <"$f"; } 2>/dev/null || continue
            rest=${line##*) }
            rest=${rest#* }
            [ "${rest%% *}" = "${all[$i]}" ] || continue
            f=${f#/proc/}
            all+=("${f%/stat}")
        done
        i=$((i + 1))
    done
    printf '%s\n' "${all[@]}"
}





# ---- setup -------------------------------------------------------------------


install_deps() {
    local need=() c
    bash "$SRC/.ci/deps.sh" >"$T/deps.log" 2>&1 ||
        { tail -n 20 "$T/deps.log" >&2; die ".ci/deps.sh failed"; }
    for c in nginx:nginx wrk:wrk caddy:caddy gnutls-cli:gnutls-bin \
        openssl:openssl curl:curl pkg-config:pkg-config; do
        command -v "${c%%:*}" >/dev/null 2>&1 || need+=("${c#*:}")
    done
    apt_install "${need[@]}"
    hash -r
}

if [ -n "$INSTALL" ]; then install_deps; fi
for c in nginx wrk caddy gnutls-cli openssl curl cc pkg-config awk timeout; do
    command -v "$c" >/dev/null 2>&1 || die "$c is missing (run without --no-install)"
done

build_host
TLSLOAD=$T/tlsload
build_tool tlsload "$TLSLOAD"

# A test CA with one ECDSA P-256 and one RSA-2048 leaf for $NAME. Each
# server gets leaf + CA as its chain, like a real leaf + intermediate.
make_certs() {
    local d=$T/pki k
    mkdir -p "$d"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$d/ca.key" &&
        openssl req -x509 -new -key "$d/ca.key" -sha256 -days 30 \
            -subj "/CN=mta-sts-host bench CA" \
            -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign,cRLSign -out "$d/ca.pem" ||
        return 1
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$d/ecdsa.key" || return 1
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
        -out "$d/rsa.key" || return 1
    for k in ecdsa rsa; do
        printf 'subjectAltName=DNS:%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature%s\nextendedKeyUsage=serverAuth\n' \
            "$NAME" "$([ $k = rsa ] && echo ,keyEncipherment)" >"$d/$k.ext"
        openssl req -new -key "$d/$k.key" -subj "/CN=$NAME" -out "$d/$k.csr" &&
            openssl x509 -req -in "$d/$k.csr" -CA "$d/ca.pem" \
                -CAkey "$d/ca.key" -CAcreateserial -days 20 -sha256 \
                -extfile "$d/$k.ext" -out "$d/$k.leaf" || return 1
        cat "$d/$k.leaf" "$d/ca.pem" >"$d/$k.crt"
        mkdir -p "$T/certs-$k"
        cp "$d/$k.crt" "$T/certs-$k/$NAME.crt"
        cp "$d/$k.key" "$T/certs-$k/$NAME.key"
    done
}
make_certs >"$T/pki.log" 2>&1 || { cat "$T/pki.log" >&2; die "cannot make the test certificates"; }
CA=$T/pki/ca.pem

# The policy: the repository's default policy. nginx and Caddy serve the
# bytes the host serves (CRLF line endings).
POLICY=$SRC/policy/mta-sts.txt
[ -f "$POLICY" ] || die "no $POLICY"
sed 's/\r$//; s/$/\r/' "$POLICY" >"$T/policy-crlf.txt"
WANT_SHA=$(sha256sum <"$T/policy-crlf.txt" | cut -d' ' -f1)

# ---- servers -------------------------------------------------------------------

SRV_PID=
SRV_PORT=
SRV_DIR=
SRV_PIDS=()
STARTUP_MS=

# server_files NAME CERT DIR: config and content for one start.
server_files() {
    local name=$1 cert=$2 dir=$3 crt=$T/pki/$2.crt key=$T/pki/$2.key
    case $name in
    host)
        mkdir -p "$dir/policy"
        cp "$POLICY" "$dir/policy/mta-sts.txt"
        if [ -n "$HOST_CONFIG" ]; then
            cp "$HOST_CONFIG" "$dir/host.yaml"
            return
        fi
        cat >"$dir/host.yaml" <<EOF
log:
  access: false
  level: warn
limits:
  max_connections: 4096
  max_connections_per_ip: 4096
EOF
        ;;
    nginx)
        nginx_policy_conf "$dir" "$SRV_PORT" "$NAME" "$crt" "$key" "$T/policy-crlf.txt"
        ;;
    caddy)
        mkdir -p "$dir/www/.well-known" "$dir/home"
        cp "$T/policy-crlf.txt" "$dir/www/.well-known/mta-sts.txt"
        # 127.0.0.1 is a site address too: wrk sends the IP literal as SNI,
        # which Caddy would otherwise refuse. h3 off (wrk and tlsload speak
        # HTTP/1.1 over TCP; an extra UDP listener is not what we compare).
        cat >"$dir/Caddyfile" <<EOF
{
	admin off
	auto_https off
	skip_install_trust
	default_sni $NAME
	servers {
		protocols h1 h2
	}
}
https://$NAME:$SRV_PORT, https://127.0.0.1:$SRV_PORT {
	bind 127.0.0.1
	tls $crt $key {
		protocols tls1.2 tls1.3
	}
	root * $dir/www
	header Content-Type text/plain
	file_server
}
EOF
        ;;
    esac
}

# start_server NAME CERT: start NAME with the CERT pair on a fresh port and
# wait for its first 200 over HTTPS. Sets SRV_PID, SRV_PORT, SRV_DIR,
# SRV_PIDS (all its processes) and STARTUP_MS (exec to first 200).
start_server() {
    local name=$1 cert=$2 t0 t1 http_port
    SRV_PORT=$(free_port) || die "no free port"
    SRV_DIR=$T/run-$name-$cert
    rm -rf "$SRV_DIR"
    mkdir -p "$SRV_DIR"
    server_files "$name" "$cert" "$SRV_DIR"
    case $name in
    host)
        http_port=$(free_port) || die "no free port"
        t0=$EPOCHREALTIME
        "$HOST_BIN" serve -c "$SRV_DIR/host.yaml" --domain "${NAME#mta-sts.}" \
            --policy-dir "$SRV_DIR/policy" --cert-dir "$T/certs-$cert" \
            --https "127.0.0.1:$SRV_PORT" --http "127.0.0.1:$http_port" \
            "${ALLOW_ROOT[@]}" "${HOST_ARGS[@]}" >"$SRV_DIR/log" 2>&1 &
        ;;
    nginx)
        t0=$EPOCHREALTIME
        nginx -c "$SRV_DIR/nginx.conf" -p "$SRV_DIR" -e "$SRV_DIR/error.log" \
            >"$SRV_DIR/log" 2>&1 &
        ;;
    caddy)
        t0=$EPOCHREALTIME
        HOME=$SRV_DIR/home XDG_DATA_HOME=$SRV_DIR/home \
            XDG_CONFIG_HOME=$SRV_DIR/home caddy run \
            --config "$SRV_DIR/Caddyfile" --adapter caddyfile \
            >"$SRV_DIR/log" 2>&1 &
        ;;
    esac
    SRV_PID=$!
    OURS+=("$SRV_PID")
    if ! t1=$(timeout 40 "$TLSLOAD" wait -p "$SRV_PORT" -d 30); then
        tail -n 20 "$SRV_DIR/log" >&2
        die "$name ($cert) did not serve a 200 within 30 s"
    fi
    STARTUP_MS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
    mapfile -t SRV_PIDS < <(tree "$SRV_PID")
    OURS+=("${SRV_PIDS[@]:1}")
}

stop_server() {
    local p i
    kill -TERM "$SRV_PID" 2>/dev/null
    for ((i = 0; i < 100; i++)); do alive "$SRV_PID" || break; sleep 0.1; done
    kill -KILL "$SRV_PID" 2>/dev/null
    wait "$SRV_PID" 2>/dev/null
    # Workers go with their master; make sure.
    for p in "${SRV_PIDS[@]}"; do
        alive "$p" && kill -KILL "$p" 2>/dev/null
        forget "$p"
    done
    SRV_PID=
}

# ---- measurements --------------------------------------------------------------

R=$T/res
mkdir -p "$R" "$T/logs"
record() { echo "$3" >>"$R/$1.$2"; } # FIGURE SERVER VALUE

url() { echo "https://$NAME:$SRV_PORT/.well-known/mta-sts.txt"; }

# sanity NAME CERT: the running server answers 200 with the policy bytes and
# text/plain, verified against the test CA, and also without SNI (as wrk
# connects); resumption checked with gnutls-cli.
sanity() {
    local name=$1 cert=$2 hdr body sha ctype code
    hdr=$SRV_DIR/sanity.hdr body=$SRV_DIR/sanity.body
    code=$(curl -s --noproxy '*' --max-time 10 --http1.1 --cacert "$CA" \
        --resolve "$NAME:$SRV_PORT:127.0.0.1" -D "$hdr" -o "$body" \
        -w '%{http_code}' "$(url)")
    [ "$code" = 200 ] || die "$name ($cert): verified fetch gave '$code'"
    sha=$(sha256sum <"$body" | cut -d' ' -f1)
    [ "$sha" = "$WANT_SHA" ] ||
        say "WARNING: $name ($cert) serves other bytes than the policy: $(od -c "$body" | head -3)"
    ctype=$(tr -d '\r' <"$hdr" | awk -F': ' 'tolower($1) == "content-type" { print $2 }')
    case $ctype in
    text/plain*) ;;
    *) say "WARNING: $name ($cert): Content-Type '$ctype'" ;;
    esac
    code=$(curl -s --noproxy '*' --max-time 10 -k -H "Host: $NAME" -o /dev/null \
        -w '%{http_code}' "https://127.0.0.1:$SRV_PORT/.well-known/mta-sts.txt")
    [ "$code" = 200 ] || die "$name ($cert): fetch without SNI gave '$code'"
    if [ "$cert" = ecdsa ]; then
        if timeout 15 gnutls-cli --resume --insecure --sni-hostname "$NAME" \
            -p "$SRV_PORT" 127.0.0.1 </dev/null 2>&1 |
            grep -q 'This is a resumed session'; then
            echo yes >"$R/gnutls_resume.$name"
        else
            echo no >"$R/gnutls_resume.$name"
        fi
    fi
}

CLK_TCK=$(getconf CLK_TCK)

# wrk_run NAME REP: keep-alive load; memory sampled half-way.
wrk_run() {
    local name=$1 rep=$2 out=$T/logs/wrk-$1-$2.txt wpid rps p99 errs m c0 c1 n
    c0=$(cpu_ticks "${SRV_PIDS[@]}")
    timeout -k 2 $((KA_SECS + 20)) wrk -t2 -c50 -d"${KA_SECS}s" --latency \
        -H "Host: $NAME" "https://127.0.0.1:$SRV_PORT/.well-known/mta-sts.txt" \
        >"$out" 2>&1 &
    wpid=$!
    OURS+=("$wpid")
    sleep "$(awk -v d="$KA_SECS" 'BEGIN { print d / 2 }')"
    m=$(mem_kb "${SRV_PIDS[@]}")
    wait "$wpid"
    forget "$wpid"
    c1=$(cpu_ticks "${SRV_PIDS[@]}")
    n=$(awk '$2 == "requests" && $3 == "in" { print $1 }' "$out")
    rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
    p99=$(awk '$1 == "99%" { v = $2; u = v; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u);
        f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1;
        if (f > 0) printf "%.2f", v * f }' "$out")
    errs=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
        END { print n + 0 }' "$out")
    [ -n "$rps" ] || { say "wrk gave no result for $name: $(head -c 300 "$out")"; return; }
    record ka_rps "$name" "$rps"
    [ -n "$p99" ] && record ka_p99 "$name" "$p99"
    record ka_err "$name" "$errs"
    [ -n "$n" ] && [ "$n" -gt 0 ] && record ka_cpu "$name" "$(awk -v d=$((c1 - c0)) \
        -v hz="$CLK_TCK" -v n="$n" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')"
    [ "$errs" = 0 ] || say "WARNING: $name keep-alive: $errs errors/non-2xx (see $out)"
    record rss_load "$name" "$(awk -v k="${m% *}" 'BEGIN { printf "%.1f", k / 1024 }')"
    record pss_load "$name" "$(awk -v k="${m#* }" 'BEGIN { printf "%.1f", k / 1024 }')"
    say "  $name keep-alive: $rps req/s, p99 ${p99:-?} ms, errors $errs, server CPU $(tail -n 1 "$R/ka_cpu.$name" 2>/dev/null) us/req"
}


# tls_run NAME MODE FIG REP: tlsload full|resume; conn/s and CPU per conn.
tls_run() {
    local name=$1 mode=$2 fig=$3 rep=$4 out=$T/logs/$3-$1-$4.txt c0 c1
    local conns rate resumed errs cpu
    c0=$(cpu_ticks "${SRV_PIDS[@]}")
    run timeout -k 2 $((HS_SECS + 40)) "$TLSLOAD" "$mode" -p "$SRV_PORT" \
        -t "$HS_THREADS" -d "$HS_SECS" >"$out" 2>&1
    c1=$(cpu_ticks "${SRV_PIDS[@]}")
    conns=$(sed -n 's/.*conns=\([0-9]*\).*/\1/p' "$out")
    rate=$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' "$out")
    resumed=$(sed -n 's/.* resumed=\([0-9]*\).*/\1/p' "$out")
    errs=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' "$out")
    if [ -z "$conns" ] || [ "$conns" = 0 ]; then
        say "  $name $fig: no connections ($(head -c 300 "$out"))"
        return
    fi
    cpu=$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$conns" \
        'BEGIN { printf "%.3f", d / hz * 1000 / n }')
    record "${fig}_rate" "$name" "$(printf '%.0f' "$rate")"
    record "${fig}_cpu" "$name" "$cpu"
    record "${fig}_pct" "$name" "$(awk -v r="$resumed" -v n="$conns" 'BEGIN { printf "%.1f", 100 * r / n }')"
    record "${fig}_err" "$name" "$errs"
    grep -q 'proto=' "$out" && sed -n 's/.* \(proto=.*\)/\1/p' "$out" >"$R/tls_${fig}.$name"
    [ "$errs" = 0 ] || say "WARNING: $name $fig: $errs failed connections"
    if [ "$mode" = full ] && [ "$resumed" != 0 ]; then
        say "WARNING: $name $fig: $resumed of $conns handshakes were resumed"
    fi
    say "  $name $fig: $rate conn/s, server CPU $cpu ms/conn, resumed $resumed/$conns"
}


# mem_idle NAME: memory of the idle server; the machine's CPU use during
# that idle second tells how busy other work keeps it.
mem_idle() {
    local name=$1 m b0 b1
    b0=$(stat_busy)
    sleep 1
    b1=$(stat_busy)
    awk -v b0="${b0% *}" -v t0="${b0#* }" -v b1="${b1% *}" -v t1="${b1#* }" \
        'BEGIN { if (t1 > t0) printf "%.0f\n", 100 * (b1 - b0) / (t1 - t0) }' \
        >>"$R/busy.all"
    m=$(mem_kb "${SRV_PIDS[@]}")
    record rss_idle "$name" "$(awk -v k="${m% *}" 'BEGIN { printf "%.1f", k / 1024 }')"
    record pss_idle "$name" "$(awk -v k="${m#* }" 'BEGIN { printf "%.1f", k / 1024 }')"
    say "  $name idle: RSS $((${m% *} / 1024)) MiB, PSS $((${m#* } / 1024)) MiB, ${#SRV_PIDS[@]} process(es)"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
say "temporary directory $T; $REPS repetition(s), wrk ${KA_SECS}s, handshakes ${HS_SECS}s x $HS_THREADS threads, $EDITS edits"
for ((rep = 1; rep <= REPS; rep++)); do
    for cert in ecdsa rsa; do
        for name in "${SERVERS[@]}"; do
            say "rep $rep/$REPS $cert: $name"
            start_server "$name" "$cert"
            record startup "$name" "$STARTUP_MS"
            say "  $name start-up: $STARTUP_MS ms"
            [ "$rep" = 1 ] && sanity "$name" "$cert"
            if [ "$cert" = ecdsa ]; then
                mem_idle "$name"
                wrk_run "$name" "$rep"
                tls_run "$name" full full_ecdsa "$rep"
                tls_run "$name" resume res "$rep"
            else
                tls_run "$name" full full_rsa "$rep"
            fi
            stop_server
        done
    done
done

for name in "${SERVERS[@]}"; do
    say "edits: $name ($EDITS in-place rewrites)"
    start_server "$name" ecdsa
    if [ "$name" = host ]; then
        edit_file=$SRV_DIR/policy/mta-sts.txt
    else
        edit_file=$SRV_DIR/www/.well-known/mta-sts.txt
    fi
    run timeout -k 2 $((EDITS * (6 + EDIT_PAUSE / 1000) + 60)) "$TLSLOAD" edits \
        -p "$SRV_PORT" -f "$edit_file" -n "$EDITS" -d 5 -j "$EDIT_PAUSE" \
        >"$T/logs/edits-$name.txt" 2>&1
    sed -n 's/^probe_us=//p' "$T/logs/edits-$name.txt" >"$R/probe_us.$name"
    grep -E '^[0-9]+$' "$T/logs/edits-$name.txt" |
        awk '{ printf "%.2f\n", $1 / 1000 }' >"$R/edit.$name"
    lost=$(grep -c '^lost' "$T/logs/edits-$name.txt")
    grep -q '^aborted' "$T/logs/edits-$name.txt" &&
        lost="$lost (then stopped: 3 in a row)"
    echo "$lost" >"$R/edit_lost.$name"
    say "  $name: $(wc -l <"$R/edit.$name") served, $(cat "$R/edit_lost.$name") lost, probe $(cat "$R/probe_us.$name") us"
    stop_server
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report -------------------------------------------------------------------

# med FILE: median of the numbers in FILE ("" when none).
med() {
    [ -s "$1" ] || return 0
    sort -g "$1" | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m }'
}
maxof() { [ -s "$1" ] && sort -g "$1" | tail -n 1; }

# val KIND FIGURE SERVER: the figure's value for SERVER, formatted.
val() {
    local kind=$1 fig=$2 name=$3 v fmt
    case $kind in
    med) v=$(med "$R/$fig.$name") ;;
    max) v=$(maxof "$R/$fig.$name") ;;
    esac
    [ -n "$v" ] || { echo ""; return; }
    case $fig in
    ka_rps | *_rate) fmt='%.0f' ;;
    ka_cpu) fmt='%.1f' ;;
    *_pct | rss_* | pss_* | startup) fmt='%.1f' ;;
    *_cpu) fmt='%.3f' ;;
    *) fmt='%.2f' ;;
    esac
    # shellcheck disable=SC2059 # one of the fixed formats above
    printf "$fmt" "$v"
}

ratio() {
    if [ -z "$1" ] || [ -z "$2" ]; then echo "n/a"; return; fi
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'
}

ver_gnutls=$(pkg-config --modversion gnutls 2>/dev/null)
ver_mhd=$(pkg-config --modversion libmicrohttpd 2>/dev/null)
ver_openssl=$(openssl version | cut -d' ' -f2)
ver_nginx=$(nginx -v 2>&1 | sed 's/.*nginx\///')
ver_caddy=$(caddy version 2>/dev/null | cut -d' ' -f1)
ver_wrk=$(wrk -v 2>&1 | head -n 1 | cut -d' ' -f2)
ver_host=$("$HOST_BIN" --version 2>/dev/null | awk '{ print $2 }')
git_rev=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)
[ -n "$(git -C "$SRC" status --porcelain -- server CMakeLists.txt 2>/dev/null)" ] &&
    git_rev="$git_rev + uncommitted changes in server/"
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)

row() { # LABEL KIND FIGURE
    local h n c
    h=$(val "$2" "$3" host) n=$(val "$2" "$3" nginx) c=$(val "$2" "$3" caddy)
    printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "${h:-n/a}" "${n:-n/a}" \
        "${c:-n/a}" "$(ratio "$h" "$n")" "$(ratio "$h" "$c")"
}

raw() { # FIGURE
    local name line=
    for name in "${SERVERS[@]}"; do
        [ -s "$R/$1.$name" ] || continue
        line="$line $name: $(tr '\n' ' ' <"$R/$1.$name" | sed 's/ $//');"
    done
    printf -- '- `%s`:%s\n' "$1" "${line%;}"
}

# each FIGURE SUFFIX [QUOTE]: "host V, nginx V, caddy V" from single-value
# result files.
each() {
    local n out=''
    for n in "${SERVERS[@]}"; do
        out="$out, $n ${3:-}$(cat "$R/$1.$n" 2>/dev/null)${3:-}$2"
    done
    printf '%s' "${out#, }"
}

report() {
    cat <<EOF
## mta-sts-host vs nginx vs Caddy ($(date -u '+%Y-%m-%d %H:%M UTC'))

- machine: $cpu_model, $(nproc) cores, Linux $(uname -r); load average
  $LOAD_BEFORE before, $LOAD_AFTER after the run
- mta-sts-host $ver_host ($git_rev), Release, libmicrohttpd $ver_mhd, GnuTLS $ver_gnutls
- nginx $ver_nginx with OpenSSL $ver_openssl; Caddy $ver_caddy (Go crypto/tls); wrk $ver_wrk
- loopback only, clients and servers share the cores; medians of $REPS
  repetition(s), interleaved host, nginx, caddy, host, ...
EOF
    local busy
    busy=$(med "$R/busy.all")
    printf -- '- other work on the machine: %s%% of all CPU busy while our servers idled\n' \
        "${busy:-?}"
    printf '  (median over the idle seconds: %s)\n' "$(tr '\n' ' ' <"$R/busy.all" | sed 's/ $//')"
    if [ -n "$busy" ] && awk -v b="$busy" 'BEGIN { exit !(b >= 10) }'; then
        printf -- '- **the machine was busy with other work**: rates and latencies are noisy;\n'
        printf '  the CPU-per-request figures hold up better\n'
    fi
    printf '\n| figure | host | nginx | caddy | host/nginx | host/caddy |\n'
    printf '|---|---|---|---|---|---|\n'
    row "keep-alive throughput, req/s ↑" med ka_rps
    row "keep-alive p99 latency, ms ↓" med ka_p99
    row "server CPU per keep-alive request, µs ↓" med ka_cpu
    row "full handshakes ECDSA P-256, conn/s ↑" med full_ecdsa_rate
    row "server CPU per ECDSA full handshake, ms ↓" med full_ecdsa_cpu
    row "full handshakes RSA-2048, conn/s ↑" med full_rsa_rate
    row "server CPU per RSA full handshake, ms ↓" med full_rsa_cpu
    row "resumed handshakes, conn/s ↑" med res_rate
    row "resumed: share actually resumed, % ↑" med res_pct
    row "server CPU per resumed handshake, ms ↓" med res_cpu
    row "RSS idle, MiB ↓" med rss_idle
    row "PSS idle, MiB ↓" med pss_idle
    row "RSS under keep-alive load, MiB ↓" med rss_load
    row "PSS under keep-alive load, MiB ↓" med pss_load
    row "edit-to-served median, ms ↓" med edit
    row "edit-to-served worst, ms ↓" max edit
    row "start-up to first 200, ms ↓" med startup
    local n
    cat <<EOF

↑ higher is better, ↓ lower is better; the ratios are host ÷ other either way.

How: keep-alive = \`wrk -t2 -c50 -d${KA_SECS}s --latency -H 'Host: $NAME'\`
against 127.0.0.1 (no usable SNI: each server's default certificate, ECDSA).
Handshakes = \`bench/tlsload\` (GnuTLS client, $HS_THREADS threads,
${HS_SECS} s, X25519 first like OpenSSL/BoringSSL senders): one TCP
connection, handshake, \`GET\` with \`Connection: close\` per request; "full"
never offers a session (the client checks none was resumed), "resumed"
offers the session (TLS 1.3 ticket) of the thread's previous connection
(so each thread's first connection is a full one).
Server CPU = utime+stime of all server processes (nginx master + workers)
over the run ÷ connections. Memory = sum of Rss/Pss from smaps_rollup over
all server processes, 1 s after the first 200 and half-way through a
keep-alive run. Edit-to-served: $EDITS in-place rewrites (\`open(O_TRUNC)\`,
one \`write\`, \`close\`) changing \`max_age\`, then one keep-alive
connection polled every 0.5 ms until the body has the new line; then a
random pause of 20 to $((20 + EDIT_PAUSE)) ms.
EOF
    printf 'Probe round trip (median, the resolution of that figure): %s.\n' \
        "$(each probe_us ' µs')"
    printf 'Edits not served within 5 s: %s.\n' "$(each edit_lost '')"
    if [ -n "$HOST_CONFIG" ]; then
        printf '\nThe host runs with the config file %s' "$(basename "$HOST_CONFIG")"
    else
        printf '\nThe host runs with its defaults except `log.access: false`, `log.level: warn`,\n'
        printf 'connection limits 4096'
    fi
    [ ${#ALLOW_ROOT[@]} -gt 0 ] && printf ', `--allow-root`'
    [ ${#HOST_ARGS[@]} -gt 0 ] && printf ', `%s`' "${HOST_ARGS[*]}"
    printf '. nginx: %s workers, `ssl_session_cache shared:SSL:10m`,\n' "$(nproc)"
    printf '`keepalive_requests 100000`. Caddy: `admin off`, `auto_https off`, h1+h2.\n'
    printf '\nNegotiated (ECDSA, full handshake): %s.\n' "$(each tls_full_ecdsa '' '`')"
    printf '`gnutls-cli --resume` reports "This is a resumed session": %s.\n' \
        "$(each gnutls_resume '')"
    printf '\nRaw samples, in run order:\n\n'
    for n in ka_rps ka_p99 ka_cpu ka_err full_ecdsa_rate full_ecdsa_cpu full_ecdsa_err \
        full_rsa_rate full_rsa_cpu res_rate res_pct res_cpu rss_idle pss_idle \
        rss_load pss_load startup; do
        raw "$n"
    done
}

mkdir -p "$(dirname "$OUT")"
report >"$T/report.md"
cp "$T/report.md" "$OUT" || die "cannot write $OUT"
cat "$T/report.md"
say "written to $OUT (took $((SECONDS - START)) s)"
