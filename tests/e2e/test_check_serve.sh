#!/usr/bin/env bash
# End-to-end test of the periodic check of `serve` (check.interval) and of
# `check` against a real Postfix (Debian's postfix, started by the test
# with its own config, queue and data directories in the test's temp dir,
# smtpd only, on loopback addresses: one smtpd with a
# certificate of the test CA for its MX names, one given a certificate for
# another name). The zones come from NSD on a free loopback port; the host
# under test serves the policies over HTTPS (test CA) and checks them
# itself. It asserts: `check` reports mx-tls ok for Postfix and a name
# mismatch for the other smtpd; `serve` with a 1m interval publishes
# mta_sts_check_ok 0 for sts-id of a domain whose DNS id is stale and 1 for
# a correct one, and /status the fix; an edit of a policy (its id changes)
# turns its sts-id to 0 within seconds, logged once, and the edit undone
# turns it back to 1; a domain whose MX accepts and never answers (the
# scripted peer.py) runs out of its check.timeout, its remaining steps
# skipped with a "time" result; a domain no longer served leaves /metrics and
# /status; the metrics pass promtool; /healthz says nothing of the checks;
# bad check.* keys are refused with file:line:col. All of it in a network
# namespace the test makes (only its loopback).
set -uo pipefail
. "$SRCDIR/tests/e2e/lib.sh"
e2e_init
need_tools python3:python3 nsd:nsd postfix:postfix promtool:prometheus \
    certtool:gnutls-bin curl:curl
e2e_netns "$@"
bin=$MTA_STS_HOST
t=$E2E_TMP
mkdir -p "$t/pol" "$t/nsd" "$t/certs" "$t/ca"

policy() { # DOMAIN [MAX_AGE]
    printf 'version: STSv1\nmode: enforce\nmx: mx.%s\nmax_age: %s\n' \
        "$1" "${2:-604800}" >"$t/pol/$1.txt"
}
for d in good stale wrongcert gone; do policy "$d.example.net"; done
# slow.example.net: two MX hosts on an address where nothing answers
printf 'version: STSv1\nmode: enforce\nmx: *.slow.example.net\nmax_age: 604800\n' \
    >"$t/pol/slow.example.net.txt"
declare -A id=()
while read -r d i; do id[$d]=$i; done < <(policy_ids "$t/pol")
check_eq "the ids of the 5 policies are known" 5 "${#id[@]}"

# --- DNS: good and wrongcert publish their ids, stale an old one; the MX
# of good and stale is the Postfix with the right certificate
# (127.0.0.16), that of wrongcert the one with another name's (.17).
{
    printf '$ORIGIN example.net.\n$TTL 60\n'
    printf '@ IN SOA ns admin 1 3600 600 86400 60\n@ IN NS ns\nns IN A 127.0.0.1\n'
    for n in good stale wrongcert gone; do
        addr=127.0.0.16
        [ $n = wrongcert ] && addr=127.0.0.17
        sts=${id[$n.example.net]}
        [ $n = stale ] && sts=old1
        printf '%s IN MX 10 mx.%s\nmx.%s IN A %s\n' $n $n $n $addr
        printf 'mta-sts.%s IN A 127.0.0.1\n' $n
        printf '_mta-sts.%s IN TXT "v=STSv1; id=%s"\n' $n "$sts"
        printf '_smtp._tls.%s IN TXT "v=TLSRPTv1; rua=mailto:tls@example.net"\n' $n
    done
    printf 'slow IN MX 10 mx1.slow\nslow IN MX 20 mx2.slow\n'
    printf 'mx1.slow IN A 127.0.0.18\nmx2.slow IN A 127.0.0.18\n'
    printf 'mta-sts.slow IN A 127.0.0.1\n'
    printf '_mta-sts.slow IN TXT "v=STSv1; id=%s"\n' "${id[slow.example.net]}"
    printf '_smtp._tls.slow IN TXT "v=TLSRPTv1; rua=mailto:tls@example.net"\n'
} >"$t/nsd/example.net.zone"
nsd_start "$t/nsd" example.net=example.net.zone
port=$NSD_PORT

# --- certificates: the policy host's (not for gone.example.net, which is
# served only while its policy file is there), the MX ones
make_ca "$t/ca" &&
    make_cert "$t/ca" "$t/certs/host" ecdsa mta-sts.good.example.net \
        mta-sts.stale.example.net mta-sts.wrongcert.example.net \
        mta-sts.slow.example.net &&
    rm -f "$t/certs/host.pem" &&
    make_cert "$t/ca" "$t/mx" ecdsa mx.good.example.net mx.stale.example.net &&
    make_cert "$t/ca" "$t/other" ecdsa other.example.com ||
    fail "the test certificates are made"

# --- Postfix: a private instance (config_directory, queue_directory and
# data_directory in the temp dir), only smtpd in master.cf (and the
# services smtpd asks for), on the test's addresses and port
sp=$(free_port)
pf=$t/postfix
mkdir -p "$pf/etc" "$pf/spool" "$pf/data"
# Postfix's daemons run as the postfix user, chdir'ed into their
# directories: the temp dir must let that user through (not list it).
chmod 711 "$t" "$pf"
chown postfix "$pf/data"
cat >"$pf/etc/main.cf" <<C
compatibility_level = 3.6
queue_directory = $pf/spool
data_directory = $pf/data
mail_owner = postfix
setgid_group = postdrop
inet_protocols = ipv4
myhostname = mx.good.example.net
mydestination =
local_recipient_maps =
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_cert_file = $t/mx.crt
smtpd_tls_key_file = $t/mx.key
maillog_file_prefixes = $pf
maillog_file = $pf/maillog
C
cat >"$pf/etc/master.cf" <<C
127.0.0.16:$sp inet n - n - - smtpd
127.0.0.17:$sp inet n - n - - smtpd -o smtpd_tls_cert_file=$t/other.crt -o smtpd_tls_key_file=$t/other.key
postlog unix-dgram n - n - 1 postlogd
anvil unix - - n - 1 anvil
proxymap unix - - n - - proxymap
tlsmgr unix - - n 1000? 1 tlsmgr
C
e2e_on_exit "postfix -c '$pf/etc' stop >/dev/null 2>&1"
if postfix -c "$pf/etc" start >"$pf/start.log" 2>&1 &&
    wait_until 10 grep -q 'daemon started' "$pf/maillog"; then
    pass "Postfix $(postconf -d -h mail_version) runs smtpd on 127.0.0.16:$sp and 127.0.0.17:$sp"
else
    fail "Postfix starts"
    cat "$pf/start.log" "$pf/maillog" 2>/dev/null
    e2e_finish
fi

# An MX that accepts connections and never answers (the scripted server).
python3 "$SRCDIR/tests/e2e/peer.py" "$sp" 127.0.0.18=silent >"$t/smtpd.log" 2>&1 &
E2E_PIDS+=("$!")
check "the silent MX listens on 127.0.0.18:$sp" wait_until 10 grep -q '^ready' "$t/smtpd.log"

# --- the host: serves the policies and checks them every minute
hp=$(free_port)
hh=$(free_port)
HTTP_PORT=$hh
cat >"$t/config.yaml" <<C
policy_dir: $t/pol
cert_dir: $t/certs
listen:
  https: 127.0.0.1:$hp
  http: 127.0.0.1:$hh
reload:
  debounce_ms: 50
check:
  interval: 1m
  timeout: 10s
  concurrency: 2
  resolver: 127.0.0.1:$port
  trust_anchor: none
  ca_file: $t/ca/ca.pem
  https_port: $hp
  smtp_port: $sp
C

if host_start "$t/host.log" "http://127.0.0.1:$hh/healthz" serve \
    -c "$t/config.yaml"; then
    pass "the host serves and checks (1m interval)"
else
    fail "the host starts"
    cat "$t/host.log"
    e2e_finish
fi
# /healthz answers before the check threads start (they start after the
# listeners), so the line is waited for.
check "the start says the check runs" wait_log "$t/host.log" \
    "check: every served domain every 60s, 2 at a time, 10s each at most" 10

# --- `check` against Postfix (its options from the config's check:)
"$bin" check -c "$t/config.yaml" good.example.net wrongcert.example.net \
    >"$t/cli" 2>"$t/cli.err"
check_eq "check: exit 1 (wrongcert fails)" 1 "$?"
check_file_contains "check: mx-tls ok for Postfix with the test CA's certificate" \
    "^ok mx-tls good.example.net: MX mx.good.example.net \(127.0.0.16\): STARTTLS, TLS1.3, certificate valid for mx.good.example.net until 20[0-9-]+$" "$t/cli"
check_file_contains "check: Postfix with another name's certificate fails mx-tls" \
    "^fail mx-tls wrongcert.example.net: MX mx.wrongcert.example.net \(127.0.0.17\): TLS1.3, but the certificate is refused for mx.wrongcert.example.net: .*(hostname|name).* fix: install a certificate valid for mx.wrongcert.example.net " "$t/cli"
check_eq "check: nothing else fails" 1 "$(grep -c '^fail ' "$t/cli")"
check "Postfix saw the STARTTLS handshakes (its log, written by postlogd)" \
    wait_log "$pf/maillog" 'postfix/smtpd\[[0-9]+\]: .*TLS connection established from .*TLSv1\.3' 10

scrape() { hurl "http://127.0.0.1:$hh/metrics" >"$t/m"; }
# A result is stored before its change is logged: log lines are waited for.
# ok_of DOMAIN CHECK: the value of mta_sts_check_ok in the last scrape.
ok_of() { file_metric "mta_sts_check_ok{domain=\"$1\",check=\"$2\"}" "$t/m"; }
# wait_ok DOMAIN CHECK VALUE: until a scrape shows VALUE (<= 30 s).
wait_ok() { wait_until 30 eval "scrape && [ \"\$(ok_of $1 $2)\" = $3 ]"; }

check "sts-id of the stale domain: 0" wait_ok stale.example.net sts-id 0
check "sts-id of the correct domain: 1" wait_ok good.example.net sts-id 1
check "mx-tls of wrongcert (Postfix, another name): 0" \
    wait_ok wrongcert.example.net mx-tls 0
check "every domain checked: a timestamp each" wait_until 30 eval \
    'scrape && [ "$(grep -c "^mta_sts_check_timestamp_seconds{" "$t/m")" = 5 ]'
# The first probe of slow.example.net waits out its 10 s; then its budget
# (check.timeout: 10s) is spent, the second MX is skipped, and a time
# result says so. The other domains were checked meanwhile (concurrency 2).
check_eq "slow.example.net: mx-tls 0 (the MX does not answer)" 0 \
    "$(ok_of slow.example.net mx-tls)"
check_eq "slow.example.net: time 0 (its budget ran out)" 0 \
    "$(ok_of slow.example.net time)"
check_eq "slow.example.net: sts-id 1 (checked before the budget ran out)" 1 \
    "$(ok_of slow.example.net sts-id)"
check "slow.example.net: logged, with the skipped steps said" wait_log "$t/host.log" \
    "check slow.example.net: .*mx-tls none -> fail: MX mx1.slow.example.net \(127.0.0.18\) port $sp: .*; time none -> fail: the checks of slow.example.net ran past their time budget; those not listed were skipped" 10
check_eq "slow.example.net: the second MX was not probed" "" \
    "$(grep -o 'mx2.slow.example.net (127.0.0.18)' "$t/host.log")"
for c in sts-txt policy-fetch policy-match tlsrpt mx mx-addr mx-tls; do
    check_eq "good.example.net: $c 1" 1 "$(ok_of good.example.net $c)"
done
ts=$(file_metric 'mta_sts_check_timestamp_seconds{domain="good.example.net"}' "$t/m")
now=$(date +%s)
check "the timestamp is the time of the run" test "${ts:-0}" -gt $((now - 120)) -a "${ts:-0}" -le "$now"
check "the metrics pass promtool" promtool check metrics <"$t/m"
cp "$t/m" "$t/m.first"

hurl "http://127.0.0.1:$hh/status" >"$t/status"
check "/status: the stale domain's sts-id fail with the record to publish" \
    python3 - "$t/status" "${id[stale.example.net]}" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
d = [d for d in doc["domains"] if d["domain"] == "stale.example.net"][0]
c = d["check"]
assert c["id"] == sys.argv[2], c
assert c["last_run"].endswith("Z"), c
r = [r for r in c["results"] if r["check"] == "sts-id"]
assert len(r) == 1 and r[0]["status"] == "fail", r
assert r[0]["message"] == "DNS says id=old1, this host serves %s (senders keep the policy they cached)" % sys.argv[2], r
assert r[0]["fix"] == 'publish `_mta-sts.stale.example.net. IN TXT "v=STSv1; id=%s"`' % sys.argv[2], r
assert c["fail"] == 1 and c["warn"] == 0, c
g = [d for d in doc["domains"] if d["domain"] == "good.example.net"][0]["check"]
assert g["fail"] == 0 and all(r["fix"] is None for r in g["results"]), g
PY
check "a domain's results are logged when they change" wait_log "$t/host.log" \
    "check stale.example.net: sts-id none -> fail: DNS says id=old1" 10
check_eq "/healthz: 200, the checks do not fail the instance" 200 \
    "$(hurl -o "$t/h" -w '%{http_code}' "http://127.0.0.1:$hh/healthz")"
check_eq "/healthz says nothing of the checks" "" "$(grep -i check "$t/h")"

# --- an edit changes good's id: re-checked at once, sts-id 0, logged
policy good.example.net 86400
check "after the edit: sts-id of good.example.net 0" wait_ok good.example.net sts-id 0
check "the change is logged" wait_log "$t/host.log" \
    "check good.example.net: sts-id ok -> fail: DNS says id=${id[good.example.net]}, this host serves " 10
# ... and undone: the id is the published one again, sts-id back to 1
policy good.example.net
check "the edit undone: sts-id of good.example.net 1" wait_ok good.example.net sts-id 1
check "that change is logged too" wait_log "$t/host.log" \
    "check good.example.net: sts-id fail -> ok: DNS says id=${id[good.example.net]}, this host serves ${id[good.example.net]}" 10
check_eq "one log line per change, not per run" 2 \
    "$(grep -c 'check good.example.net: ' "$t/host.log")"

# --- a domain no longer served leaves the results
check_contains "gone.example.net is checked while served" \
    'mta_sts_check_timestamp_seconds{domain="gone.example.net"}' "$(cat "$t/m.first")"
rm "$t/pol/gone.example.net.txt"
check "gone.example.net leaves /metrics" wait_until 10 eval \
    'scrape && ! grep -q "domain=\"gone.example.net\"" "$t/m"'
check_eq "... and /status" "" \
    "$(hurl "http://127.0.0.1:$hh/status" | grep -o gone.example.net)"
check "the metrics still pass promtool" promtool check metrics <"$t/m"

if host_stop "$HOST_PID"; then
    check_eq "SIGTERM: exit 0 with the check threads running" 0 "$HOST_RC"
else
    fail "the host stops on SIGTERM"
fi

# --- a trust anchor that cannot be read stops the start, saying why
sed "s|trust_anchor: none|trust_anchor: $t/nope.key|" "$t/config.yaml" >"$t/ta.yaml"
run_bounded 30 "$t/ta.log" "$bin" serve "${ROOT_ARGS[@]}" -c "$t/ta.yaml"
check_eq "an unreadable check.trust_anchor: serve exits 1" 1 "$?"
check_file_contains "... naming the file and the way out" \
    "check: trust anchor $t/nope.key: No such file or directory; not starting \(set check.interval: off" "$t/ta.log"

# --- bad check keys: the whole file refused, file:line:col
bad() { # NAME YAML WANT
    printf '%s\n' "$2" >"$t/bad.yaml"
    "$bin" validate -c "$t/bad.yaml" --no-certs >"$t/bad.out" 2>&1
    check_eq "$1: exit 1" 1 "$?"
    check_file_contains "$1: the message" "$3" "$t/bad.out"
}
bad "an interval under 1m" $'check:\n  interval: 30s' \
    "bad.yaml:2:13: .*check.interval: 30s is shorter than the minimum of 60s"
bad "an interval that is no duration" $'check:\n  interval: 6 hours' \
    'bad.yaml:2:13: .*check.interval: expected a duration such as 90s, 30m, 6h, 1d or 1h30m, found "6 hours" \(or off\)'
bad "a resolver that is no address" $'check:\n  resolver: ns.example.net' \
    "bad.yaml:2:13: .*check.resolver: .*expected a numeric IP address, found 'ns.example.net'"
bad "a misspelt key" $'check:\n  intervall: 6h' \
    'bad.yaml:2:3: .*unknown key "intervall" under "check"; did you mean "interval"\?'

e2e_finish
