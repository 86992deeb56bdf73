#!/usr/bin/env bash
# End-to-end test of the lifecycle commands against a real authoritative
# DNS server (NSD) on a free loopback port and the host itself serving the
# policies over HTTPS (a test CA): `dns --target` refusing what is not a
# host name, `dns --delegate` (RFC 8461 §8.2) printing the customer's and
# the provider's records, `check --target` (mta-sts.<d> a CNAME to the
# host, its own addresses equal to the host's, another address, a CNAME
# elsewhere), `check` following a delegation into the provider zone (and
# failing one whose target has no record; `--delegate ZONE` verifying the
# CNAME into it), and `advise`: enforce when the
# stored TLS reports (`reports import`) show no failure, blocked with
# failures or without reports, an MX change (§8.1) and retiring (§8.3),
# each with the exact edit, the id the edited policy gets (computed by
# `validate` of the edited file), the records and the earliest times
# (now + the TTLs NSD serves + max_age, checked to the second in --json).
# All of it in a network namespace the test makes (only its loopback); no
# recursion (check forwards to NSD with --resolver).
set -uo pipefail
. "$SRCDIR/tests/e2e/lib.sh"
e2e_init
need_tools python3:python3 nsd:nsd
e2e_netns "$@"
bin=$MTA_STS_HOST
t=$E2E_TMP
mkdir -p "$t/pol" "$t/nsd" "$t/state"

# --- the policies, and their ids as served
policy() { # DOMAIN MODE MAX_AGE MX-PATTERN...
    local d=$1 mode=$2 age=$3
    shift 3
    {
        printf 'version: STSv1\nmode: %s\n' "$mode"
        for m in "$@"; do printf 'mx: %s\n' "$m"; done
        printf 'max_age: %s\n' "$age"
    } >"$t/pol/$d.txt"
}
for d in ready failing noreports deleg brokendeleg direct wrongaddr othercname; do
    policy "$d.example.com" testing 604800 "mx.$d.example.com"
done
policy move.example.com enforce 604800 mx1.move.example.com
policy retire.example.com enforce 1209600 mx.retire.example.com
declare -A id=()
while read -r d i; do id[${d%.example.com}]=$i; done < <(
    "$bin" dns --policy-dir "$t/pol" --cert-dir "$t/none" --json 2>/dev/null |
        python3 -c '
import json, sys
for d in json.load(sys.stdin)["domains"]:
    print(d["domain"], d["mta_sts"]["value"].split("id=")[1])')
check_eq "the ids of the 10 policies are known" 10 "${#id[@]}"
# id_of FILE: the id `validate` gives a policy file.
id_of() { "$bin" validate "$1" | sed -n 's/.*: valid (id \([A-Za-z0-9]*\),.*/\1/p'; }

# --- dns --target and --delegate
mkdir -p "$t/dpol"
cp "$t/pol/deleg.example.com.txt" "$t/dpol/"
dnsargs=(--policy-dir "$t/dpol" --cert-dir "$t/none")
check_eq "dns --target 'bad host': exit 2" 2 \
    "$("$bin" dns "${dnsargs[@]}" --target 'bad host' >"$t/o" 2>"$t/e"; echo $?)"
check_file_contains "a bad target: said what was expected and found" \
    "--target 'bad host': expected a host name such as host.example.net: .*found ' '" "$t/e"
check_eq "a bad target: no record printed" "" "$(cat "$t/o")"
check_eq "dns --target 192.0.2.5: exit 2" 2 \
    "$("$bin" dns "${dnsargs[@]}" --target 192.0.2.5 >"$t/o" 2>"$t/e"; echo $?)"
check_file_contains "an IP target: a CNAME needs a host name, use A/AAAA" \
    "--target '192.0.2.5' is an IP address: a CNAME needs a host name \(to put mta-sts.<domain> on an address, publish its A or AAAA record instead\)" "$t/e"
check_eq "dns --target 2001:db8::5: exit 2" 2 \
    "$("$bin" dns "${dnsargs[@]}" --target 2001:db8::5 >/dev/null 2>&1; echo $?)"
check_eq "dns --delegate 'x..y': exit 2" 2 \
    "$("$bin" dns "${dnsargs[@]}" --delegate 'x..y' >/dev/null 2>"$t/e"; echo $?)"
check_file_contains "a bad zone: named" "--delegate 'x..y': expected a host name" "$t/e"
# A valid zone whose provider name for deleg.example.com would pass 253
# characters (a 240-character zone), and a zone inside the customer's own.
long_zone=$(printf 'a%.0s' {1..63}).$(printf 'a%.0s' {1..63}).$(printf 'a%.0s' {1..63}).$(printf 'b%.0s' {1..40}).example
check_eq "dns --delegate with a too long provider name: exit 2" 2 \
    "$("$bin" dns "${dnsargs[@]}" --delegate "$long_zone" >"$t/o" 2>"$t/e"; echo $?)"
check_file_contains "the too long name is named with its length" \
    "_mta-sts.deleg.example.com.$long_zone would be 267 characters, more than the 253" "$t/e"
check_eq "a too long provider name: no record printed" "" "$(cat "$t/o")"
check_eq "dns --delegate into the customer's own domain: exit 0" 0 \
    "$("$bin" dns "${dnsargs[@]}" --delegate sts.deleg.example.com >/dev/null 2>"$t/e"; echo $?)"
check_file_contains "... with a warning that it points at itself" \
    "warning: --delegate sts.deleg.example.com is inside deleg.example.com itself" "$t/e"
check_eq "dns --delegate: exit 0" 0 \
    "$("$bin" dns "${dnsargs[@]}" --target Host.Example.NET. --delegate sts.example.net >"$t/deleg.zone" 2>"$t/e"; echo $?)"
check_eq "dns --delegate: the customer's and the provider's records" \
    "; deleg.example.com
; in the zone of deleg.example.com (the customer):
_mta-sts.deleg.example.com. IN CNAME _mta-sts.deleg.example.com.sts.example.net.
mta-sts.deleg.example.com. IN CNAME host.example.net.
; in the zone of sts.example.net (the provider):
_mta-sts.deleg.example.com.sts.example.net. IN TXT \"v=STSv1; id=${id[deleg]}\"" "$(cat "$t/deleg.zone")"
check "dns --delegate --json: the same records" python3 -c '
import json, subprocess, sys
doc = json.loads(subprocess.run(sys.argv[2:], capture_output=True, text=True).stdout)
d = doc["domains"][0]
assert d["mta_sts"] == {"name": "_mta-sts.deleg.example.com.", "type": "CNAME",
    "value": "_mta-sts.deleg.example.com.sts.example.net."}, d
assert d["provider_mta_sts"] == {"name": "_mta-sts.deleg.example.com.sts.example.net.",
    "type": "TXT", "value": "v=STSv1; id=" + sys.argv[1]}, d
assert d["cname"]["value"] == "host.example.net.", d
' "${id[deleg]}" "$bin" dns "${dnsargs[@]}" --target host.example.net --delegate sts.example.net --json

# --- the zones (TXT TTL 3600, MX TTL 300)
soa='@ IN SOA ns admin 1 3600 600 86400 60
@ IN NS ns
ns IN A 127.0.0.1'
{
    printf '$ORIGIN example.com.\n$TTL 3600\n%s\n' "$soa"
    for d in ready failing noreports deleg brokendeleg direct wrongaddr othercname move retire; do
        case $d in
        move) printf 'move 300 IN MX 10 mx1.move\nmx1.move IN A 127.0.0.1\nmx2.move IN A 127.0.0.1\n' ;;
        *) printf '%s 300 IN MX 10 mx.%s\nmx.%s IN A 127.0.0.1\n' $d $d $d ;;
        esac
        case $d in
        direct) printf 'mta-sts.direct IN A 127.0.0.1\n' ;;
        wrongaddr) printf 'mta-sts.wrongaddr IN A 127.0.0.9\n' ;;
        othercname) printf 'mta-sts.othercname IN CNAME other.example.net.\n' ;;
        *) printf 'mta-sts.%s IN CNAME host.example.net.\n' $d ;;
        esac
        case $d in
        deleg | brokendeleg)
            printf '_mta-sts.%s IN CNAME _mta-sts.%s.example.com.sts.example.net.\n' $d $d ;;
        *) printf '_mta-sts.%s IN TXT "v=STSv1; id=%s"\n' $d "${id[$d]}" ;;
        esac
        printf '_smtp._tls.%s IN TXT "v=TLSRPTv1; rua=mailto:tls@example.com"\n' $d
    done
} >"$t/nsd/example.com.zone"
cat >"$t/nsd/example.net.zone" <<Z
\$ORIGIN example.net.
\$TTL 3600
$soa
host IN A 127.0.0.1
other IN A 127.0.0.2
_mta-sts.deleg.example.com.sts IN TXT "v=STSv1; id=${id[deleg]}"
Z
nsd_start "$t/nsd" example.com=example.com.zone example.net=example.net.zone
port=$NSD_PORT

# --- the host serving the policies over HTTPS with a test CA
hp=$(free_port)
serve_policies "$t/pol" "$t/ca" "$t/host.log" "$hp"
cat >"$t/config.yaml" <<Y
policy_dir: $t/pol
cert_dir: $t/none
state_dir: $t/state
Y
args=(-c "$t/config.yaml" --resolver "127.0.0.1:$port" --trust-anchor none
    --https-port "$hp" --smtp-port 0 --ca-file "$t/ca/ca.pem")

# --- check --target
"$bin" check "${args[@]}" --target host.example.net ready.example.com direct.example.com \
    wrongaddr.example.com othercname.example.com >"$t/target" 2>"$t/target.err"
check_eq "check --target: exit 1 (two domains point elsewhere)" 1 $?
check_contains "a CNAME to the target: ok" \
    "ok policy-host ready.example.com: mta-sts.ready.example.com is a CNAME to host.example.net (127.0.0.1; dnssec: insecure)" "$(cat "$t/target")"
check_contains "its own address, the target's: ok" \
    "ok policy-host direct.example.com: mta-sts.direct.example.com has the addresses of host.example.net (127.0.0.1; dnssec: insecure)" "$(cat "$t/target")"
check_contains "another address: fail, publish the CNAME" \
    "fail policy-host wrongaddr.example.com: mta-sts.wrongaddr.example.com has the addresses 127.0.0.9, not those of host.example.net (127.0.0.1): senders fetch the policy from another host fix: publish \`mta-sts.wrongaddr.example.com. IN CNAME host.example.net.\`" "$(cat "$t/target")"
check_contains "a CNAME elsewhere: fail, publish the CNAME" \
    "fail policy-host othercname.example.com: mta-sts.othercname.example.com is a CNAME to other.example.net, not to host.example.net: senders fetch the policy from another host fix: publish \`mta-sts.othercname.example.com. IN CNAME host.example.net.\`" "$(cat "$t/target")"
check_eq "check --target: per misdirected domain policy-host and the fetch from the other host fail, nothing else" \
    "policy-fetch othercname
policy-fetch wrongaddr
policy-host othercname
policy-host wrongaddr" "$(sed -n 's/^fail \([a-z-]*\) \([a-z]*\)\.example\.com: .*/\1 \2/p' "$t/target" | sort)"
"$bin" check "${args[@]}" ready.example.com wrongaddr.example.com >"$t/notarget" 2>&1
check_contains "without --target: resolves, reported with the CNAME" \
    "ok policy-host ready.example.com: mta-sts.ready.example.com via CNAME host.example.net has 127.0.0.1 (dnssec: insecure)" "$(cat "$t/notarget")"
check_contains "without --target: another address is no failure" \
    "ok policy-host wrongaddr.example.com: mta-sts.wrongaddr.example.com has 127.0.0.9 (dnssec: insecure)" "$(cat "$t/notarget")"
check_eq "check --target 10.0.0.1: exit 2" 2 \
    "$("$bin" check "${args[@]}" --target 10.0.0.1 ready.example.com >/dev/null 2>&1; echo $?)"

# --- delegation followed by check
"$bin" check "${args[@]}" deleg.example.com brokendeleg.example.com >"$t/deleg" 2>&1
check_eq "check of the delegations: exit 1 (the broken one)" 1 $?
check_contains "a delegated record: found at the provider's name" \
    "ok sts-txt deleg.example.com: one v=STSv1 record at _mta-sts.deleg.example.com via CNAME _mta-sts.deleg.example.com.sts.example.net, id=${id[deleg]} (dnssec: insecure)" "$(cat "$t/deleg")"
check_contains "a delegated record: its id is the served one" \
    "ok sts-id deleg.example.com: DNS says id=${id[deleg]}, this host serves ${id[deleg]}" "$(cat "$t/deleg")"
check_eq "a delegated domain: nothing fails" "" "$(grep '^fail [a-z-]* deleg.example.com' "$t/deleg")"
check_contains "a broken delegation: its own failure and the provider's fix" \
    "fail sts-txt brokendeleg.example.com: _mta-sts.brokendeleg.example.com is delegated by CNAME to _mta-sts.brokendeleg.example.com.sts.example.net, which has no v=STSv1 record (the name does not exist): senders find no policy fix: the provider publishes \`_mta-sts.brokendeleg.example.com.sts.example.net. IN TXT \"v=STSv1; id=${id[brokendeleg]}\"\` in its zone (\`mta-sts-host dns --delegate ZONE\` prints it), or the CNAME at _mta-sts.brokendeleg.example.com points at the name it publishes" "$(cat "$t/deleg")"
check_eq "a broken delegation: the one failure" 1 "$(grep -c '^fail ' "$t/deleg")"
check_eq "no sts-delegation line without --delegate" "" "$(grep ' sts-delegation ' "$t/deleg")"
"$bin" check "${args[@]}" --delegate STS.example.net. deleg.example.com ready.example.com >"$t/deleg2" 2>&1
check_eq "check --delegate: exit 1 (a domain with its own record)" 1 $?
check_contains "check --delegate: the CNAME into the provider zone: ok" \
    "ok sts-delegation deleg.example.com: _mta-sts.deleg.example.com is a CNAME to _mta-sts.deleg.example.com.sts.example.net in the provider zone sts.example.net" "$(cat "$t/deleg2")"
check_contains "check --delegate: its own record: fail, publish the CNAME" \
    "fail sts-delegation ready.example.com: _mta-sts.ready.example.com is not delegated: it has records of its own, not a CNAME into the provider zone sts.example.net fix: publish \`_mta-sts.ready.example.com. IN CNAME _mta-sts.ready.example.com.sts.example.net.\` (in place of its records)" "$(cat "$t/deleg2")"
check_eq "check --delegate: that is the one failure" 1 "$(grep -c '^fail ' "$t/deleg2")"
check_eq "check --delegate 192.0.2.1: exit 2" 2 \
    "$("$bin" check "${args[@]}" --delegate 192.0.2.1 ready.example.com >/dev/null 2>&1; echo $?)"

# --- TLS reports: ten days without failure for ready, failures for failing
python3 - "$t/reports" <<'EOF'
import json, os, sys, time
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
day = int(time.time()) // 86400 * 86400
def iso(t): return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
def report(rid, domain, start, failed=0):
    p = {"policy": {"policy-type": "sts", "policy-domain": domain,
                    "policy-string": ["version: STSv1", "mode: testing"]},
         "summary": {"total-successful-session-count": 100,
                     "total-failure-session-count": failed}}
    if failed:
        p["failure-details"] = [{"result-type": "certificate-expired",
            "sending-mta-ip": "192.0.2.1", "receiving-mx-hostname": "mx." + domain,
            "failed-session-count": failed}]
    return {"organization-name": "Sender-A", "report-id": rid,
            "date-range": {"start-datetime": iso(start), "end-datetime": iso(start + 86399)},
            "contact-info": "tls@sender.example", "policies": [p]}
reps = [report("r1", "ready.example.com", day - 10 * 86400),
        report("r2", "ready.example.com", day - 86400),
        report("f1", "failing.example.com", day - 3 * 86400, failed=7)]
for r in reps:
    json.dump(r, open(os.path.join(d, r["report-id"] + ".json"), "w"))
EOF
"$bin" reports import -c "$t/config.yaml" "$t/reports/"*.json >"$t/imp" 2>&1
check_file_contains "three reports imported" "^3 stored, 0 already stored, 0 refused$" "$t/imp"

# advise_run OUT ARG...: advise with the test's resolver; prints the exit
# status. The time before and after goes to OUT.t0 and OUT.t1.
advise_run() {
    local out=$1
    shift
    date +%s >"$out.t0"
    "$bin" advise "${args[@]}" "$@" >"$out" 2>"$out.err"
    local rc=$?
    date +%s >"$out.t1"
    echo $rc
}
# steps_check OUT.json WANT...: each step's after_seconds is WANT, its at
# minus that lies between the times the run started and ended.
steps_check() {
    python3 - "$@" <<'PY'
import calendar, json, sys, time
out = sys.argv[1]
doc = json.load(open(out))
t0, t1 = int(open(out + ".t0").read()), int(open(out + ".t1").read())
want = [int(x) for x in sys.argv[2:]]
got = [s["after_seconds"] for s in doc["steps"]]
assert got == want, (got, want)
for s in doc["steps"]:
    at = calendar.timegm(time.strptime(s["at"], "%Y-%m-%dT%H:%M:%SZ"))
    assert t0 <= at - s["after_seconds"] <= t1, (s, t0, t1)
PY
}

# --- advise enforce
sed 's/^mode: testing$/mode: enforce/' "$t/pol/ready.example.com.txt" >"$t/ready.edited.txt"
ready_new=$(id_of "$t/ready.edited.txt")
check "the edited policy's id is known" test -n "$ready_new" -a "$ready_new" != "${id[ready]}"
check_eq "advise enforce, ready: exit 0" 0 "$(advise_run "$t/en" ready.example.com enforce)"
check_file_contains "ready: how long in testing, and no failures" \
    "^advise enforce ready.example.com: ready: in testing for 10 days as far as reports show \(since [0-9-]+, 2 reports, 200 sessions\): no failures in 10 days of reports: ready$" "$t/en"
check_file_contains "ready: the facts (TXT TTL, mode, max_age, MX)" \
    "^  now: _mta-sts.ready.example.com has id=${id[ready]} \(TTL 3600 s\); $t/pol/ready.example.com.txt serves mode testing, max_age 604800 s; 1 MX \(TTL 300 s\)$" "$t/en"
check_file_contains "ready: step 1 now, the edit and its new id" \
    "^1. now \([0-9T:-]+Z\): edit $t/pol/ready.example.com.txt: set \`mode: enforce\` \(this host serves it as soon as it is saved\), then publish its id $ready_new$" "$t/en"
check_eq "ready: the edit's lines and the record" \
    "     - mode: testing
     + mode: enforce
     _mta-sts.ready.example.com. IN TXT \"v=STSv1; id=$ready_new\"" "$(sed -n '/^1\. /,/^2\. /p' "$t/en" | sed '1d;$d')"
check_file_contains "ready: step 2 after the TXT TTL" \
    "^2. from [0-9T:-]+Z \(in 1 hour\): senders that look up _mta-sts.ready.example.com again \(its TTL is 3600 s\) see id $ready_new and fetch the enforce policy$" "$t/en"
check_file_contains "ready: step 3 after TTL + max_age" \
    "^3. from [0-9T:-]+Z \(in 7 days 1 hour\): every sender applies enforce" "$t/en"
advise_run "$t/en.json" ready.example.com enforce --json >/dev/null
check "ready --json: the steps at now, +TTL, +TTL+max_age" steps_check "$t/en.json" 0 3600 608400
check "ready --json: the new id and the facts" python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["status"] == "ready" and doc["action"] == "enforce", doc
assert doc["steps"][0]["id"] == sys.argv[2], doc["steps"][0]
assert doc["steps"][0]["lines"] == ["- mode: testing", "+ mode: enforce",
    "_mta-sts.ready.example.com. IN TXT \"v=STSv1; id=%s\"" % sys.argv[2]], doc["steps"][0]
f = doc["facts"]
assert f["sts_ttl"] == 3600 and f["mx_ttl"] == 300 and f["max_age"] == 604800, f
assert f["mode"] == "testing" and f["mx"] == [{"pref": 10, "host": "mx.ready.example.com"}], f
assert f["reports"]["reports"] == 2 and f["reports"]["days"] == 10 and f["reports"]["failed"] == 0, f
' "$t/en.json" "$ready_new"
check_eq "advise enforce, failures in the reports: exit 1" 1 "$(advise_run "$t/fail" failing.example.com enforce)"
check_file_contains "failures: blocked with the numbers and the worst failure" \
    "^advise enforce failing.example.com: blocked: 7 of 107 sessions failed in 1 day of reports \(since [0-9-]+\); mx.failing.example.com fails certificate-expired for 1 sender: fix these first \(mta-sts-host reports --domain failing.example.com\)$" "$t/fail"
check_eq "failures: no step" "" "$(grep '^[0-9]\. ' "$t/fail")"
check_eq "advise enforce, no reports: exit 1" 1 "$(advise_run "$t/norep" noreports.example.com enforce)"
check_file_contains "no reports: blocked, said why" \
    "^advise enforce noreports.example.com: blocked: no TLS reports for noreports.example.com: nothing shows that senders deliver" "$t/norep"
check_eq "advise enforce, the domain's policy host elsewhere: exit 1" 1 \
    "$(advise_run "$t/elsewhere" --target host.example.net wrongaddr.example.com enforce)"
check_file_contains "a failing check blocks enforce" \
    "^advise enforce wrongaddr.example.com: blocked: check fails \(2\): policy-host: mta-sts.wrongaddr.example.com has the addresses 127.0.0.9, .*: in enforce mode senders would refuse to deliver; fix this first \(mta-sts-host check\)$" "$t/elsewhere"

# --- advise mx-change
printf 'version: STSv1\nmode: enforce\nmx: mx1.move.example.com\nmx: mx2.move.example.com\nmax_age: 604800\n' >"$t/move.a.txt"
printf 'version: STSv1\nmode: enforce\nmx: mx2.move.example.com\nmax_age: 604800\n' >"$t/move.b.txt"
move_a=$(id_of "$t/move.a.txt")
move_b=$(id_of "$t/move.b.txt")
check_eq "advise mx-change: exit 0" 0 \
    "$(advise_run "$t/mx" move.example.com mx-change --add MX2.move.example.com. --remove mx1.move.example.com)"
check_eq "mx-change: the plan, step by step" \
    "advise mx-change move.example.com: ready: add MX mx2.move.example.com, remove MX mx1.move.example.com (policy enforce, max_age 604800 s; TXT TTL 3600 s, MX TTL 300 s)
1. now: edit $t/pol/move.example.com.txt: add \`mx: mx2.move.example.com\` (keeping the others) (this host serves it as soon as it is saved), then publish its id $move_a
     + mx: mx2.move.example.com
     _mta-sts.move.example.com. IN TXT \"v=STSv1; id=$move_a\"
2. from (in 7 days 1 hour): switch the MX records, once senders that cached the policy without mx2.move.example.com (max_age 604800 s, after the TXT TTL 3600 s) have fetched the new one
     move.example.com. IN MX 10 mx2.move.example.com.
     delete: move.example.com. IN MX 10 mx1.move.example.com.
3. from (in 7 days 1 hour 5 minutes): edit $t/pol/move.example.com.txt: remove \`mx: mx1.move.example.com\`, once resolvers no longer hand out the old MX record (its TTL is 300 s) (this host serves it as soon as it is saved), then publish its id $move_b
     - mx: mx1.move.example.com
     _mta-sts.move.example.com. IN TXT \"v=STSv1; id=$move_b\"" \
    "$(grep -v '^  now: ' "$t/mx" | sed -E 's/ \([0-9T:-]+Z\)//; s/from [0-9T:-]+Z /from /')"
advise_run "$t/mx.json" move.example.com mx-change --add mx2.move.example.com --remove mx1.move.example.com --json >/dev/null
check "mx-change --json: now, +TTL+max_age, +TTL+max_age+MX TTL" steps_check "$t/mx.json" 0 608400 608700
check_eq "mx-change, a host neither MX nor pattern: exit 1" 1 \
    "$(advise_run "$t/mx2" move.example.com mx-change --remove mx9.move.example.com)"
check_file_contains "mx-change, a host neither MX nor pattern: said so" \
    "blocked: mx9.move.example.com is neither an MX of move.example.com nor an mx pattern of" "$t/mx2"
check_eq "mx-change without --add or --remove: exit 2" 2 \
    "$(advise_run "$t/mx3" move.example.com mx-change)"
check_eq "mx-change --add an address: exit 2" 2 \
    "$(advise_run "$t/mx4" move.example.com mx-change --add 192.0.2.1)"
check_file_contains "mx-change --add an address: said so" "--add '192.0.2.1' is an IP address: an MX is a host name" "$t/mx4.err"

# --- advise retire, and retire of a delegated domain
check_eq "advise retire: exit 0" 0 "$(advise_run "$t/ret" retire.example.com retire)"
printf 'version: STSv1\nmode: none\nmx: mx.retire.example.com\nmax_age: 86400\n' >"$t/retire.none.txt"
ret_id=$(id_of "$t/retire.none.txt")
check_eq "retire: mode none and max_age 86400, the new id and record" \
    "     - mode: enforce
     + mode: none
     - max_age: 1209600
     + max_age: 86400
     _mta-sts.retire.example.com. IN TXT \"v=STSv1; id=$ret_id\"" "$(sed -n '/^1\. /,/^2\. /p' "$t/ret" | sed '1d;$d')"
check_file_contains "retire: remove the records after TTL + the old max_age (14 days)" \
    "^3. from [0-9T:-]+Z \(in 14 days 1 hour\): every policy senders cached before \(max_age 1209600 s" "$t/ret"
check_eq "retire: the records to delete" \
    "     delete: _mta-sts.retire.example.com. IN TXT \"v=STSv1; id=$ret_id\"
     delete: mta-sts.retire.example.com. (its CNAME, or A/AAAA)" "$(sed -n '/^3\. /,$p' "$t/ret" | sed '1d')"
advise_run "$t/ret.json" retire.example.com retire --json >/dev/null
check "retire --json: now, now, +TTL+max_age" steps_check "$t/ret.json" 0 0 1213200
check_eq "advise retire of a delegated domain: exit 0" 0 "$(advise_run "$t/retd" deleg.example.com retire)"
check_file_contains "delegated: the new id goes to the provider's name" \
    "^     _mta-sts.deleg.example.com.sts.example.net. IN TXT \"v=STSv1; id=" "$t/retd"
check_file_contains "delegated: the customer's CNAME is deleted too" \
    "^     delete: _mta-sts.deleg.example.com. IN CNAME _mta-sts.deleg.example.com.sts.example.net.$" "$t/retd"

# --- usage
check_eq "advise without an action: exit 2" 2 "$(advise_run "$t/u1" ready.example.com)"
check_eq "advise with an unknown action: exit 2" 2 "$(advise_run "$t/u2" ready.example.com upgrade)"
check_file_contains "an unknown action: the three named" "advise takes DOMAIN and one of enforce, mx-change, retire" "$t/u2.err"
check_eq "advise enforce --add: exit 2" 2 "$(advise_run "$t/u3" ready.example.com enforce --add mx.example.com)"
check_eq "the policy files are untouched by advise" "${id[ready]}" "$(id_of "$t/pol/ready.example.com.txt")"

e2e_finish
