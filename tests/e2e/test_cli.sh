#!/usr/bin/env bash
# End-to-end tests of the `validate`, `dns` and `health` commands and the
# command line itself: exit codes (0 valid, 1 invalid, 2 usage), compiler-
# style output, JSON output, and that `dns` prints the id of the policy as
# served.
set -uo pipefail
. "$SRCDIR/tests/e2e/lib.sh"
e2e_init
need_tools python3:python3
bin=$MTA_STS_HOST
t=$E2E_TMP

# rc CMD...: print the exit status of CMD (output to $t/out and $t/err).
rc() {
    "$@" >"$t/out" 2>"$t/err"
    echo $?
}

printf 'version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: *.mx.example.net\nmax_age: 604800\n' >"$t/good.txt"
printf 'version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.mx.example.net\r\nmax_age: 604800\r\n' >"$t/good-crlf.txt"
printf 'version: STSv1\nmode: enforced\nmx: mx1.example.com\nmax_age: 604800\n' >"$t/bad-mode.txt"
printf 'version: STSv1\nmode: enforce\nmx: mx1.example.com:25\nmax_age: 99999999999\n' >"$t/bad-two.txt"
printf 'version: STSv1\nmode: testing\nmx: mx1.example.com\nmax_age: 3600\n' >"$t/warn.txt"

# --- validate: exit codes and compiler-style output
check_eq "validate good file exits 0" 0 "$(rc "$bin" validate "$t/good.txt")"
check_contains "validate reports valid with the id" "$t/good.txt: valid (id " "$(cat "$t/out")"
check_eq "validate warnings only exits 0" 0 "$(rc "$bin" validate "$t/warn.txt")"
check_file_contains "warning is file:line:col" "^$t/warn.txt:2:7: warning: " "$t/err"
check_file_contains "max_age warning names the line" "^$t/warn.txt:4:[0-9]+: warning: .*max_age" "$t/err"
check_eq "validate bad mode exits 1" 1 "$(rc "$bin" validate "$t/bad-mode.txt")"
check_file_contains "bad mode error at 2:7 says what was expected and found" \
    "^$t/bad-mode.txt:2:7: error: .*expected.*enforce.*found.*enforced" "$t/err"
check_eq "validate two errors exits 1" 1 "$(rc "$bin" validate "$t/bad-two.txt")"
check_file_contains "port in mx reported on line 3" "^$t/bad-two.txt:3:[0-9]+: error: " "$t/err"
check_file_contains "11-digit max_age reported on line 4" "^$t/bad-two.txt:4:[0-9]+: error: " "$t/err"
check_eq "one bad file among good ones exits 1" 1 \
    "$(rc "$bin" validate "$t/good.txt" "$t/bad-mode.txt" "$t/warn.txt")"
check_contains "every file is reported" "$t/warn.txt: valid" "$(cat "$t/out")"
check_eq "missing file exits 1" 1 "$(rc "$bin" validate "$t/nope.txt")"
check_file_contains "missing file names the file and the reason" \
    "^$t/nope.txt: error: cannot open: No such file" "$t/err"
check_eq "unknown option exits 2" 2 "$(rc "$bin" validate --frobnicate "$t/good.txt")"
check_file_contains "usage error explains" "unknown option" "$t/err"
check_eq "unknown command exits 2" 2 "$(rc "$bin" frobnicate)"
check_eq "no command exits 2" 2 "$(rc "$bin")"
check_eq "--help exits 0" 0 "$(rc "$bin" --help)"
check_contains "--help lists validate" "validate [FILE...]" "$(cat "$t/out")"
check_eq "--version exits 0" 0 "$(rc "$bin" --version)"
check_contains "--version prints the name" "mta-sts-host " "$(cat "$t/out")"

# Without files: every *.txt in the policy directory.
mkdir -p "$t/pol"
cp "$t/good.txt" "$t/pol/mta-sts.txt"
cp "$t/warn.txt" "$t/pol/example.net.txt"
check_eq "validate policy dir exits 0" 0 "$(rc "$bin" validate --policy-dir "$t/pol")"
check_contains "policy dir: default checked" "$t/pol/mta-sts.txt: valid" "$(cat "$t/out")"
check_contains "policy dir: override checked" "$t/pol/example.net.txt: valid" "$(cat "$t/out")"
cp "$t/bad-mode.txt" "$t/pol/example.org.txt"
check_eq "validate policy dir with a bad override exits 1" 1 "$(rc "$bin" validate --policy-dir "$t/pol")"
rm "$t/pol/example.org.txt"

# --- validate --json
check_eq "validate --json bad exits 1" 1 "$(rc "$bin" validate --json "$t/good.txt" "$t/bad-mode.txt")"
check "validate --json is one JSON document with the verdicts" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["valid"] is False
good, bad = d["files"]
assert good["valid"] is True and len(good["id"]) == 32 and good["mode"] == "enforce"
assert bad["valid"] is False
e = [x for x in bad["diagnostics"] if x["severity"] == "error"][0]
assert (e["line"], e["column"]) == (2, 7), e
assert "enforced" in e["message"]
' "$t/out"

# --- served form and id agree between validate, dns and CRLF/LF input
id_lf=$("$bin" validate --json "$t/good.txt" | python3 -c 'import json,sys; print(json.load(sys.stdin)["files"][0]["id"])')
id_crlf=$("$bin" validate --json "$t/good-crlf.txt" | python3 -c 'import json,sys; print(json.load(sys.stdin)["files"][0]["id"])')
check_eq "LF and CRLF versions have the same id" "$id_lf" "$id_crlf"
expect_id=$(printf 'version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.mx.example.net\r\nmax_age: 604800\r\n' | sha256sum | cut -c1-32)
check_eq "id is the SHA-256 of the served CRLF bytes" "$expect_id" "$id_lf"

# --- dns
check_eq "dns exits 0" 0 "$(rc "$bin" dns --policy-dir "$t/pol" --domain Example.COM. --domain example.net --target host.example.org)"
check_contains "dns: _mta-sts line for the default policy" \
    "_mta-sts.example.com. IN TXT \"v=STSv1; id=$id_lf\"" "$(cat "$t/out")"
id_warn=$("$bin" validate --json "$t/warn.txt" | python3 -c 'import json,sys; print(json.load(sys.stdin)["files"][0]["id"])')
check_contains "dns: override policy's id for example.net" \
    "_mta-sts.example.net. IN TXT \"v=STSv1; id=$id_warn\"" "$(cat "$t/out")"
check_contains "dns: CNAME with a trailing dot" \
    "mta-sts.example.com. IN CNAME host.example.org." "$(cat "$t/out")"

cat >"$t/config.yaml" <<YAML
domains: [example.com]
policy_dir: $t/pol
tlsrpt:
  rua: ["mailto:tls-reports@example.com", "https://reports.example.com/tlsrpt"]
YAML
check_eq "dns with config exits 0" 0 "$(rc "$bin" dns -c "$t/config.yaml")"
check_contains "dns: TLS-RPT record" \
    "_smtp._tls.example.com. IN TXT \"v=TLSRPTv1; rua=mailto:tls-reports@example.com,https://reports.example.com/tlsrpt\"" \
    "$(cat "$t/out")"
check_eq "dns --json exits 0" 0 "$(rc "$bin" dns -c "$t/config.yaml" --json)"
check "dns --json parses and carries the id" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["domains"][0]
assert d["domain"] == "example.com"
assert d["mta_sts"]["value"] == "v=STSv1; id=" + sys.argv[2], d
assert d["tlsrpt"]["name"] == "_smtp._tls.example.com."
' "$t/out" "$id_lf"

cp "$t/bad-mode.txt" "$t/pol/example.net.txt"
check_eq "dns with an invalid policy exits 1" 1 "$(rc "$bin" dns --policy-dir "$t/pol" --domain example.net)"
check_file_contains "dns names the policy error" "example.net.txt:2:7: error" "$t/err"
check_eq "dns prints no record for an invalid policy" "" "$(cat "$t/out")"

printf 'domains: [example.com]\nlisten:\n  htps: "[::]:8443"\n' >"$t/bad.yaml"
check_eq "bad config exits 1" 1 "$(rc "$bin" dns -c "$t/bad.yaml")"
check_file_contains "config error is file:line:col" "^$t/bad.yaml:3:3: error: " "$t/err"
# Every policy/<domain>.txt names a served domain, so "no domains" needs a
# policy directory with only the default policy (and no --domain).
mkdir -p "$t/pol-default"
cp "$t/good.txt" "$t/pol-default/mta-sts.txt"
check_eq "dns without domains exits 1" 1 "$(rc "$bin" dns --policy-dir "$t/pol-default" --cert-dir "$t/empty")"
check_file_contains "dns without domains explains" "no domains" "$t/err"
cp "$t/warn.txt" "$t/pol-default/example.org.txt"
check_eq "dns: a policy/<domain>.txt alone names a domain (exits 0)" 0 \
    "$(rc "$bin" dns --policy-dir "$t/pol-default" --cert-dir "$t/empty")"
check_contains "dns: the record for the domain of example.org.txt" \
    "_mta-sts.example.org. IN TXT \"v=STSv1; id=$id_warn\"" "$(cat "$t/out")"
if grep -q '_mta-sts\.example\.com\.' "$t/out"; then
    fail "dns: no record for a domain that is neither configured nor named by a file"
else
    pass "dns: no record for a domain that is neither configured nor named by a file"
fi
check_eq "bad --domain exits 1" 1 "$(rc "$bin" dns --domain 'exa mple.com')"

# --- health against a closed port fails fast and clearly
port=$(free_port)
check_eq "health on a closed port exits 1" 1 "$(rc "$bin" health "http://127.0.0.1:$port/healthz")"
check_file_contains "health says why" "connect" "$t/err"
check_eq "health with a bad URL exits 1" 1 "$(rc "$bin" health "ftp://x")"

e2e_finish
