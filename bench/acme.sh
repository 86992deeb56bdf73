#!/usr/bin/env bash
# acme.sh: how long the host takes from its start to a verified certificate
# per name, obtained by ACME from Debian's Pebble validating for real
# (TLS-ALPN-01, pebble-challtestsrv as the DNS, one entry per name), for
# each count of names given (default 1 and 100), and the host's memory
# (RSS, PSS) at the start and once every name verifies. The order pace is
# opened up (orders_burst = the count) so the figure is the host's and
# Pebble's speed, not the pace's. Names are verified with curl against
# Pebble's root, one after the other, each polled until it answers.
#
#   MTA_STS_HOST=build/mta-sts-host bash bench/acme.sh [COUNT...]
#
# With --compare [ROUNDS [COMPARE_ARG...]] it measures instead whether the
# request path's speed changes with ACME on: bench/compare.sh (with
# COMPARE_ARGs, e.g. --quick) runs ROUNDS times (default 2) alternately
# with the host's config without and with an acme: section pointing at
# this Pebble (the same config otherwise; the served certificate is
# compare.sh's own in cert_dir, which wins, so the ACME thread creates its
# account and then watches, as it does for a name with a certificate by
# hand), and prints the host's figures per round and their median and
# range. MTA_STS_HOST should be a Release build (build/bench).
#
# Uses the e2e helpers (tests/e2e/lib.sh, lib_acme.sh) for the CA, Pebble
# and the host; bench/lib.sh for the memory figures.
# shellcheck disable=SC2317
set -u
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export SRCDIR=$SRC
: "${MTA_STS_HOST:?set MTA_STS_HOST to the binary}"
[ $# -gt 0 ] || set -- 1 100
START=$SECONDS
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$SRC/tests/e2e/lib.sh"
# shellcheck source=tests/e2e/lib_acme.sh
. "$SRC/tests/e2e/lib_acme.sh"
e2e_init
need_tools certtool:gnutls-bin curl:curl python3:python3
T=$E2E_TMP
make_ca "$T/ca" || exit 1
P=$(free_port)
H=$(free_port)
acme_start "$T/ca" "$H" "$P" || exit 1

# host_figures FILE: the host's column of compare.sh's markdown table for
# the figures of the request path, one "figure<TAB>value" a line.
host_figures() {
    awk -F' [|] ' '/^[|] (keep-alive throughput|keep-alive p99|full handshakes|resumed handshakes,)/ {
        sub(/^[|] /, "", $1); print $1 "\t" $2 }' "$1"
}

if [ "${1:-}" = --compare ]; then
    shift
    rounds=${1:-2}
    shift $(($# > 0 ? 1 : 0))
    # As compare.sh's own config, and allowed to run as root like its
    # host (the bench runs as root here).
    base='allow_root: true
log: {access: false, level: warn}
limits: {max_connections: 4096, max_connections_per_ip: 4096}'
    printf '%s\n' "$base" >"$T/off.yaml"
    { printf '%s\nstate_dir: %s\n' "$base" "$T/state-compare"
        acme_config_section tls-alpn-01 ecdsa-p256; } >"$T/on.yaml"
    for ((r = 1; r <= rounds; r++)); do
        for mode in off on; do
            bash "$SRC/bench/compare.sh" --bin "$MTA_STS_HOST" --no-install \
                --host-config "$T/$mode.yaml" -o "$T/$mode-$r.md" "$@" \
                >"$T/$mode-$r.out" 2>&1 ||
                { cat "$T/$mode-$r.out"; exit 1; }
            host_figures "$T/$mode-$r.md" | sed "s/^/$mode\t$r\t/" >>"$T/figures.tsv"
        done
    done
    check "the ACME thread ran (its account is in the state directory)" \
        test -s "$T/state-compare/acme/account.json"
    printf 'ACME\tround\tfigure\thost\n'
    cat "$T/figures.tsv"
    printf '\nfigure\tACME off: median (min..max)\tACME on: median (min..max)\n'
    python3 - "$T/figures.tsv" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
figs = list(dict.fromkeys(r[2] for r in rows))
for f in figs:
    out = [f]
    for mode in ("off", "on"):
        v = [float(r[3]) for r in rows if r[0] == mode and r[2] == f]
        out.append("%g (%g..%g)" % (statistics.median(v), min(v), max(v)))
    print("\t".join(out))
PY
    e2e_finish
fi

now_ms() { date +%s%3N; }
for n in "$@"; do
    names=()
    for ((i = 1; i <= n; i++)); do
        names+=("d$i-$n.example")
        acme_dns_add "mta-sts.d$i-$n.example" || exit 1
    done
    acme_host_config "$T/config-$n.yaml" "$T/state-$n" "$P" "$H" \
        tls-alpn-01 ecdsa-p256 "${names[@]}"
    printf '  orders_burst: %d\n  orders_per_hour: 10000\n' "$n" \
        >>"$T/config-$n.yaml"
    t0=$(now_ms)
    host_start "$T/host-$n.log" "http://127.0.0.1:$H/healthz" \
        serve -c "$T/config-$n.yaml" || { cat "$T/host-$n.log"; exit 1; }
    read -r rss0 pss0 <<<"$(mem_kb "$HOST_PID")"
    for d in "${names[@]}"; do
        wait_until 600 acme_is_verified "mta-sts.$d" "$P" ||
            { say "mta-sts.$d never verified"; exit 1; }
    done
    t1=$(now_ms)
    read -r rss1 pss1 <<<"$(mem_kb "$HOST_PID")"
    issued=$(acme_orders issued "$H")
    printf '%d names: %d issued, %d ms from start to the last verified, %d ms a name; RSS %d -> %d KiB, PSS %d -> %d KiB\n' \
        "$n" "$issued" $((t1 - t0)) $(((t1 - t0) / n)) "$rss0" "$rss1" \
        "$pss0" "$pss1"
    check_eq "$n names: every one ordered once" "$n" "$issued"
    host_stop "$HOST_PID"
done
e2e_finish
