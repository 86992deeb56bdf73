#!/usr/bin/env bash
# test_acme_replicas.sh: two host instances, A and B, on one state
# directory with the same domains, behind what stands in for one load
# balancer: Pebble (validating for real, no PEBBLE_VA_ALWAYS_VALID)
# reaches only B's listeners. A orders every name; B answers every
# validation from the answers A shares in state_dir/acme/challenges, and
# serves the certificates once they appear (its watcher). Each name is
# ordered once (A's issued orders = the names, B's = 0, nothing failed);
# every policy verifies against Pebble's root from both instances. Once
# with TLS-ALPN-01 only, once with HTTP-01 only (each on a fresh state
# directory); after each run no answer is left in the directory.
#
# B is given a resolver with nothing behind it, so that none of its names
# resolves and B never competes for a lock: which instance orders is then
# certain (A), and B's part is only the answering and the picking up.
# Then a free-running race: A and B both resolve and both want the same
# six names at once; each name is ordered exactly once between them (the
# lock, and the replica's certificate found under it), nothing fails, and
# every policy verifies from both. (The lock's holder named, and a crash
# under it, are test_acme_faults.sh's part.) Loopback only.
#
# Run by ctest as: MTA_STS_HOST=<binary> SRCDIR=<repo> bash test_acme_replicas.sh
# The probes are called through wait_until (by name).
# shellcheck disable=SC2317
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/lib_acme.sh disable=SC1091
. "$HERE/lib_acme.sh"
e2e_init
umask 022

need_tools certtool:gnutls-bin curl:curl openssl:openssl

T=$E2E_TMP
ISSUE_WAIT=90
make_ca "$T/ca" || { fail "make test CA"; e2e_finish; }
A_HTTPS=$(free_port) A_HTTP=$(free_port) B_HTTPS=$(free_port) B_HTTP=$(free_port)
NOWHERE=127.0.0.1:$(free_port)
# Pebble validates on B's ports only.
if ! acme_start "$T/ca" "$B_HTTP" "$B_HTTPS"; then
    fail "Pebble and its DNS server start"
    e2e_finish
fi

# run LABEL CHALLENGE DOMAIN...: A and B on one fresh state directory;
# with RACE=1 B resolves the names too (and so competes with A for them).
run() {
    local label=$1 chal=$2 state=$T/state-$1 d
    shift 2
    for d in "$@"; do acme_dns_add "mta-sts.$d"; done
    acme_host_config "$T/a-$label.yaml" "$state" "$A_HTTPS" "$A_HTTP" \
        "$chal" ecdsa-p256 "$@"
    acme_host_config "$T/b-$label.yaml" "$state" "$B_HTTPS" "$B_HTTP" \
        "$chal" ecdsa-p256 "$@"
    [ "${RACE:-0}" = 1 ] ||
        sed -i "s/resolver: \".*\"/resolver: \"$NOWHERE\"/" "$T/b-$label.yaml"
    # B first: the validator reaches only B, so B must be listening when
    # A's first order asks Pebble to validate.
    host_start "$T/b-$label.log" "http://127.0.0.1:$B_HTTP/healthz" \
        serve -c "$T/b-$label.yaml" || { fail "$label: host B starts"; return 1; }
    local b_pid=$HOST_PID
    host_start "$T/a-$label.log" "http://127.0.0.1:$A_HTTP/healthz" \
        serve -c "$T/a-$label.yaml" || { fail "$label: host A starts"; return 1; }
    local a_pid=$HOST_PID
    for d in "$@"; do
        check "$label: mta-sts.$d verifies from A" \
            wait_until "$ISSUE_WAIT" acme_is_verified "mta-sts.$d" "$A_HTTPS"
        check "$label: and from B, which picked the certificate up" \
            wait_until 20 acme_is_verified "mta-sts.$d" "$B_HTTPS"
    done
    local a_n b_n
    a_n=$(acme_orders issued "$A_HTTP") b_n=$(acme_orders issued "$B_HTTP")
    if [ "${RACE:-0}" = 1 ]; then
        log "$label: A ordered $a_n names, B $b_n; $(cat "$T/a-$label.log" "$T/b-$label.log" |
            grep -c 'another instance is ordering it\|a current certificate is there already') times one found the other at it"
        check_eq "$label: every name ordered exactly once between A and B" \
            $# $((a_n + b_n))
    else
        check_eq "$label: A ordered every name once" $# "$a_n"
        check_eq "$label: B ordered none" 0 "$b_n"
    fi
    check_eq "$label: no order failed on A" 0 "$(acme_orders failed "$A_HTTP")"

    check_eq "$label: nor on B" 0 "$(acme_orders failed "$B_HTTP")"
    if [ "$chal" = tls-alpn-01 ]; then
        for d in "$@"; do
            check_file_contains "$label: B answered TLS-ALPN-01 for mta-sts.$d" \
                "acme: tls-alpn-01 answered for mta-sts.$d" "$T/b-$label.log"
        done
        [ "${RACE:-0}" = 1 ] || check "$label: A was never asked" bash -c \
            '! grep -q "tls-alpn-01 answered" "$1"' _ "$T/a-$label.log"
    else
        for d in "$@"; do
            check_file_contains "$label: Pebble validated mta-sts.$d by HTTP-01 on B" \
                "validate w/ HTTP: http://mta-sts.$d:$B_HTTP/" "$ACME_LOG_PEBBLE"
        done
    fi
    [ "$(acme_orders failed "$A_HTTP")" = 0 ] ||
        grep -h 'acme: .*failure' "$T/a-$label.log" | sed 's/^/#   /'
    check_eq "$label: the decided answers are gone from the directory" "" \
        "$(ls -A "$state/acme/challenges")"
    host_stop "$b_pid"
    host_stop "$a_pid"
}

run tls tls-alpn-01 example.com example.net
run http http-01 example.org example.edu
RACE=1 run race tls-alpn-01 example.de example.fr example.it example.nl \
    example.se example.pl

acme_stop
e2e_finish
