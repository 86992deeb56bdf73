#!/usr/bin/env bash
# reload_latency.sh: measures edit-to-served latency of mta-sts-host. For
# each watch mode it starts the real binary on loopback (test CA and
# certificates, HTTPS), then repeatedly rewrites the default policy in
# place (alternating two valid policies) and times, from just before the
# write, how long it takes until a tight curl loop over HTTPS sees the new
# ETag. Prints the median and worst latency (ms) per mode:
#
#   inotify, reload.debounce_ms 200 (the default)
#   inotify, reload.debounce_ms 50
#   polling (--poll), reload.poll_interval_ms 200
#   polling (--poll), reload.poll_interval_ms 2000 (the default; fewer edits)
#
# Resolution: one curl is a new process and a new TLS handshake; the
# "curl" line printed first gives its median cost, which bounds how
# precisely a latency is seen. Every wait is bounded in tries and time.
# Not part of ctest. Usage:
#
#   MTA_STS_HOST=build/mta-sts-host bash bench/reload_latency.sh
#   EDITS=100 SLOW_EDITS=20 bash bench/reload_latency.sh
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCDIR=${SRCDIR:-$(cd "$HERE/.." && pwd)}
export SRCDIR
MTA_STS_HOST=${MTA_STS_HOST:-$SRCDIR/build/mta-sts-host}
export MTA_STS_HOST
# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$SRCDIR/tests/e2e/lib.sh"
e2e_init
umask 022

EDITS=${EDITS:-100}
SLOW_EDITS=${SLOW_EDITS:-20}
# Longest a single edit may take to show before it counts as lost.
EDIT_LIMIT_MS=${EDIT_LIMIT_MS:-10000}

need_cmd certtool gnutls-bin || exit 1
need_cmd curl curl || exit 1

T=$E2E_TMP
CA=$T/ca/ca.pem
make_ca "$T/ca" || { echo "cannot make the test CA" >&2; exit 1; }
make_cert "$T/ca" "$T/ca/example.com" ecdsa mta-sts.example.com ||
    { echo "cannot make a certificate" >&2; exit 1; }

printf 'version: STSv1\nmode: enforce\nmx: mxa.example.com\nmax_age: 604800\n' \
    >"$T/A"
printf 'version: STSv1\nmode: enforce\nmx: mxb.example.com\nmx: *.mxb.example.com\nmax_age: 604800\n' \
    >"$T/B"
for x in A B; do
    mkdir -p "$T/id$x"
    cp "$T/$x" "$T/id$x/mta-sts.txt"
    "$MTA_STS_HOST" dns --domain example.com --policy-dir "$T/id$x" \
        2>/dev/null | sed -n 's/^_mta-sts\..*id=\([A-Za-z0-9]*\).*/\1/p' \
        >"$T/id$x/id"
done
ID_A=$(cat "$T/idA/id") ID_B=$(cat "$T/idB/id")
if [ -z "$ID_A" ] || [ -z "$ID_B" ]; then
    echo "dns gave no id" >&2
    exit 1
fi

now_ms() { date +%s%3N; }

HTTPS_PORT=
etag() {
    curl -s --noproxy '*' --max-time 2 --cacert "$CA" \
        --resolve "mta-sts.example.com:$HTTPS_PORT:127.0.0.1" -o /dev/null \
        -w '%header{etag}' \
        "https://mta-sts.example.com:$HTTPS_PORT/.well-known/mta-sts.txt" |
        tr -d '"'
}

# stats FILE: "n=.. median=.. p90=.. worst=.. min=.." of the numbers in FILE.
stats() {
    sort -n "$1" | awk '{ v[NR] = $1 }
        END {
            if (NR == 0) { print "n=0"; exit }
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            p = v[int((NR * 9 + 9) / 10)]
            printf "n=%d median=%d ms p90=%d ms worst=%d ms min=%d ms\n",
                NR, m, p, v[NR], v[1]
        }'
}

# run_mode LABEL N JITTER_MS CONFIG [ARG...]
run_mode() {
    local label=$1 n=$2 jitter=$3 cfg=$4 dir i x want t0 got tries lost=0
    shift 4
    dir=$T/run.$RANDOM
    mkdir -p "$dir/policy" "$dir/certs"
    cp "$T/ca/example.com.crt" "$dir/certs/mta-sts.example.com.crt"
    cp "$T/ca/example.com.key" "$dir/certs/mta-sts.example.com.key"
    cp "$T/A" "$dir/policy/mta-sts.txt"
    printf '%s\n' "$cfg" >"$dir/config.yaml"
    HTTPS_PORT=$(free_port)
    local http_port
    http_port=$(free_port)
    if ! host_start "$dir/log" "http://127.0.0.1:$http_port/healthz" serve \
        -c "$dir/config.yaml" --domain example.com --policy-dir "$dir/policy" \
        --cert-dir "$dir/certs" --https "127.0.0.1:$HTTPS_PORT" \
        --http "127.0.0.1:$http_port" --log-level warn "$@"; then
        echo "$label: host did not start" >&2
        tail -n 5 "$dir/log" >&2
        return 1
    fi
    : >"$dir/lat"
    x=A
    for ((i = 1; i <= n; i++)); do
        if [ "$x" = A ]; then x=B want=$ID_B; else x=A want=$ID_A; fi
        t0=$(now_ms)
        cat "$T/$x" >"$dir/policy/mta-sts.txt"
        got=
        for ((tries = 0; tries < 5000; tries++)); do
            if [ "$(etag)" = "$want" ]; then
                got=$(($(now_ms) - t0))
                break
            fi
            [ $(($(now_ms) - t0)) -ge "$EDIT_LIMIT_MS" ] && break
        done
        if [ -n "$got" ]; then
            printf '%s\n' "$got" >>"$dir/lat"
        else
            lost=$((lost + 1))
        fi
        # A random pause so that edits do not lock onto the poll phase.
        sleep "$(awk -v r="$RANDOM" -v j="$jitter" \
            'BEGIN { printf "%.3f", 0.05 + (r % (j + 1)) / 1000 }')"
    done
    printf '%-44s %s%s\n' "$label" "$(stats "$dir/lat")" \
        "$([ "$lost" -gt 0 ] && printf ' LOST=%d' "$lost")"
    host_stop "$HOST_PID" >/dev/null
}

# The cost of one probe (new curl process, new TLS handshake).
probe_cost() {
    local dir=$T/probe i t0
    mkdir -p "$dir/policy" "$dir/certs"
    cp "$T/ca/example.com.crt" "$dir/certs/mta-sts.example.com.crt"
    cp "$T/ca/example.com.key" "$dir/certs/mta-sts.example.com.key"
    cp "$T/A" "$dir/policy/mta-sts.txt"
    HTTPS_PORT=$(free_port)
    local http_port
    http_port=$(free_port)
    host_start "$dir/log" "http://127.0.0.1:$http_port/healthz" serve \
        --domain example.com --policy-dir "$dir/policy" \
        --cert-dir "$dir/certs" --https "127.0.0.1:$HTTPS_PORT" \
        --http "127.0.0.1:$http_port" --log-level warn || return 1
    : >"$dir/lat"
    for ((i = 0; i < 50; i++)); do
        t0=$(now_ms)
        etag >/dev/null
        printf '%s\n' $(($(now_ms) - t0)) >>"$dir/lat"
    done
    printf '%-44s %s\n' "curl probe (resolution)" "$(stats "$dir/lat")"
    host_stop "$HOST_PID" >/dev/null
}

printf '# mta-sts-host %s, %s, %d CPUs\n' \
    "$("$MTA_STS_HOST" --version | awk '{ print $2 }')" "$(uname -sr)" \
    "$(nproc)"
printf '# edit = in-place rewrite of mta-sts.txt (cat >), A <-> B\n'
probe_cost
run_mode "inotify, debounce_ms 200 (default)" "$EDITS" 200 'reload: {}'
run_mode "inotify, debounce_ms 50" "$EDITS" 200 'reload:
  debounce_ms: 50'
run_mode "poll, poll_interval_ms 200" "$EDITS" 200 'reload:
  poll_interval_ms: 200' --poll
run_mode "poll, poll_interval_ms 2000 (default)" "$SLOW_EDITS" 2000 \
    'reload: {}' --poll
