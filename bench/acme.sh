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
