#!/usr/bin/env bash
# End-to-end test of the deadlines of `check`, `advise` and the periodic
# check of `serve` against peers that never finish: a DNS server that
# reads every query and never answers (tests/e2e/blackhole_dns.py, UDP and
# TCP), and an MX whose greeting drips one byte every 2 s (peer.py drip:
# every read gets a byte, so only a deadline for the whole probe ends it),
# its name served by NSD. It asserts: `check` with the blackhole resolver
# returns on its own (its exit status 1, not timeout's 124) with a "timed
# out" failure for the first lookup and a "time" result for the skipped
# steps; the dripping MX fails mx-tls with "timed out"; `advise` for a
# domain this host does not serve is refused (exit 1) before asking the
# resolver anything; `serve` checking through the blackhole stops on
# SIGTERM with exit 0, "stopped" logged after "check threads stopped".
# No timing assertions: timeout(1) and host_stop are generous guards only.
# All of it in a network namespace the test makes (only its loopback).
set -uo pipefail
. "$SRCDIR/tests/e2e/lib.sh"
e2e_init
need_tools python3:python3 nsd:nsd
e2e_netns "$@"
bin=$MTA_STS_HOST
t=$E2E_TMP
mkdir -p "$t/pol" "$t/nsd" "$t/certs"
printf 'version: STSv1\nmode: enforce\nmx: mx.example.net\nmax_age: 604800\n' \
    >"$t/pol/example.net.txt"

# --- the DNS server that never answers
bp=$(free_port)
python3 "$SRCDIR/tests/e2e/blackhole_dns.py" "$bp" >"$t/bh.log" 2>&1 &
E2E_PIDS+=("$!")
check "the blackhole resolver listens on 127.0.0.1:$bp" \
    wait_until 10 grep -q '^ready' "$t/bh.log"

# --- check: one domain through the blackhole, a budget of 10 s
timeout 60 "$bin" check --policy-dir "$t/pol" --cert-dir "$t/certs" \
    --resolver "127.0.0.1:$bp" --trust-anchor none --timeout 10s \
    example.net >"$t/check.out" 2>"$t/check.err"
check_eq "check: returns by itself with its own exit status (1, not 124)" \
    1 "$?"
check_file_contains "check: the first lookup fails with timed out" \
    '^fail sts-txt example.net: cannot look up: _mta-sts.example.net TXT: timed out \(no answer within [0-9.]+ s\)$' \
    "$t/check.out"
check_file_contains "check: the skipped steps said by a time result" \
    '^fail time example.net: the checks of example.net ran past their time budget' \
    "$t/check.out"
check "the blackhole was asked (the lookups went out)" \
    grep -q '^query' "$t/bh.log"

# --- check's usage: --timeout outside 10s..1h
"$bin" check --policy-dir "$t/pol" --timeout 5s example.net >/dev/null \
    2>"$t/usage.err"
check_eq "check --timeout 5s: exit 2" 2 "$?"
check_file_contains "check --timeout 5s: says the range" \
    'timeout 5s: expected 10s to 1h' "$t/usage.err"
"$bin" check --policy-dir "$t/pol" --timeout soon example.net >/dev/null \
    2>"$t/usage.err"
check_eq "check --timeout soon: exit 2" 2 "$?"
check_file_contains "check --timeout soon: says what a duration is" \
    'timeout soon: expected a duration such as 90s' "$t/usage.err"

# --- advise: a domain this host does not serve, refused before any lookup
before=$(grep -c '^query' "$t/bh.log")
timeout 60 "$bin" advise --policy-dir "$t/pol" --cert-dir "$t/certs" \
    --resolver "127.0.0.1:$bp" --trust-anchor none other.example.org \
    enforce >"$t/advise.out" 2>"$t/advise.err"
check_eq "advise for an unserved domain: exit 1 (refused), not 124" 1 "$?"
check_file_contains "advise: says the host serves no policy for it" \
    '^mta-sts-host: advise: this host serves no policy for other.example.org ' \
    "$t/advise.err"
check_eq "advise: no lookup was asked" "$before" \
    "$(grep -c '^query' "$t/bh.log")"

# --- the dripping MX, its name from NSD
{
    printf '$ORIGIN example.net.\n$TTL 60\n'
    printf '@ IN SOA ns admin 1 3600 600 86400 60\n@ IN NS ns\nns IN A 127.0.0.1\n'
    printf '@ IN MX 10 mx\nmx IN A 127.0.0.19\nmta-sts IN A 127.0.0.1\n'
    printf '_mta-sts IN TXT "v=STSv1; id=1"\n'
} >"$t/nsd/example.net.zone"
nsd_start "$t/nsd" example.net=example.net.zone
sp=$(free_port)
python3 "$SRCDIR/tests/e2e/peer.py" "$sp" 127.0.0.19=drip >"$t/smtpd.log" 2>&1 &
E2E_PIDS+=("$!")
check "the dripping MX listens on 127.0.0.19:$sp" \
    wait_until 10 grep -q '^ready' "$t/smtpd.log"
timeout 60 "$bin" check --policy-dir "$t/pol" --cert-dir "$t/certs" \
    --resolver "127.0.0.1:$NSD_PORT" --trust-anchor none \
    --https-port "$(free_port)" --smtp-port "$sp" example.net \
    >"$t/drip.out" 2>"$t/drip.err"
check_eq "check against the dripping MX: exit 1, not 124" 1 "$?"
check_file_contains "the dripping MX: mx-tls fails with timed out" \
    "^fail mx-tls example.net: MX mx.example.net \(127.0.0.19\) port $sp: connecting: timed out \(the probe's [0-9.]+ s were spent\)" \
    "$t/drip.out"
check_file_contains "the lookups before it were answered (mx-addr ok)" \
    '^ok mx-addr example.net: mx.example.net has 127.0.0.19' "$t/drip.out"

# --- serve: the periodic check through the blackhole, then SIGTERM
hh=$(free_port)
HTTP_PORT=$hh
cat >"$t/config.yaml" <<C
policy_dir: $t/pol
cert_dir: $t/certs
listen:
  https: 127.0.0.1:$(free_port)
  http: 127.0.0.1:$hh
check:
  interval: 1m
  timeout: 1h
  concurrency: 1
  resolver: 127.0.0.1:$bp
  trust_anchor: none
C
before=$(grep -c '^query' "$t/bh.log")
if host_start "$t/host.log" "http://127.0.0.1:$hh/healthz" serve \
    -c "$t/config.yaml"; then
    pass "serve runs, checking through the blackhole resolver"
else
    fail "the host starts"
    cat "$t/host.log"
    e2e_finish
fi
# SIGTERM once a lookup is waiting for its answer (a query has arrived).
check "the periodic check asks the blackhole" wait_until 30 eval \
    '[ "$(grep -c "^query" "$t/bh.log")" -gt "$before" ]'
if host_stop "$HOST_PID" 30; then
    check_eq "SIGTERM during a lookup: exit 0" 0 "$HOST_RC"
else
    fail "the host stops on SIGTERM (a lookup in progress)"
fi
check_file_contains "the check threads are joined" 'check threads stopped \(1\)' \
    "$t/host.log"
joined=$(grep -n 'check threads stopped' "$t/host.log" | head -1 | cut -d: -f1)
stopped=$(grep -nE '^[^ ]+ info +stopped$' "$t/host.log" | tail -1 | cut -d: -f1)
check "\"stopped\" is logged after the check threads stopped" \
    test "${stopped:-0}" -gt "${joined:-999999}"
check_eq "no check result was logged for the interrupted run" "" \
    "$(grep -o 'check example.net: .*' "$t/host.log")"

e2e_finish
