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


# ==== issue 15, "the operator's first hour" (kept as one block at the end)
# validate -c / FILE.yaml runs the load serve runs; serve checks and binds
# before it announces; help per command and the man page; one message per
# root cause in a policy.
need_tools certtool:gnutls-bin
fh=$t/first-hour
mkdir -p "$fh/pol" "$fh/certs" "$fh/empty"
cp "$t/good.txt" "$fh/pol/mta-sts.txt"
if make_ca "$fh/ca" && make_cert "$fh/ca" "$fh/certs/example.com" ecdsa mta-sts.example.com; then
    pass "first hour: test certificate for mta-sts.example.com"
else
    fail "first hour: cannot make the test certificate"
fi
cat >"$fh/two.yaml" <<YAML
domains: [example.com, example.net]
policy_dir: $fh/pol
cert_dir: $fh/certs
YAML
# 1. validate FILE.yaml is the config, not a policy; it says what it checked.
check_eq "validate FILE.yaml with an uncovered domain exits 1" 1 "$(rc "$bin" validate "$fh/two.yaml")"
check_contains "validate FILE.yaml reports the covered domain ok" "example.com: ok (policy id $id_lf" "$(cat "$t/out")"
check_contains "validate FILE.yaml names the uncovered domain's problem" \
    "example.net: PROBLEM: certificate: no certificate covers mta-sts.example.net" "$(cat "$t/out")"
check_contains "validate FILE.yaml says what it checked" \
    "config $fh/two.yaml: valid; 2 domains: 1 ok, 1 with problems" "$(cat "$t/out")"
check "validate FILE.yaml does not parse the YAML as a policy" \
    bash -c '! grep -q "INVALID" "$1"' _ "$t/out"
# 2. the same verdict as serve: serve starts (one domain can be served)
# and lists the same problem.
check_eq "validate -c gives the same verdict as FILE.yaml" 1 "$(rc "$bin" validate -c "$fh/two.yaml")"
check_contains "validate -c: same summary" "2 domains: 1 ok, 1 with problems" "$(cat "$t/out")"
check_eq "validate -c --no-certs checks the policies only" 0 "$(rc "$bin" validate --no-certs -c "$fh/two.yaml")"
check_contains "validate --no-certs says so" "certificates not checked" "$(cat "$t/out")"
check_eq "validate -c --json exits 1" 1 "$(rc "$bin" validate --json -c "$fh/two.yaml")"
check "validate -c --json carries the per-domain verdicts" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["valid"] is False and d["config"]["valid"] is True, d
by = {x["domain"]: x for x in d["domains"]}
assert by["example.com"]["ok"] is True and by["example.com"]["problem"] is None
p = by["example.net"]["problem"]
assert by["example.net"]["ok"] is False and p["of"] == "certificate", p
assert "mta-sts.example.net" in p["message"]
' "$t/out"
printf 'domains: [example.com]\npolicy_dir: %s\ncert_dir: %s\n' "$fh/pol" "$fh/certs" >"$fh/one.yaml"
check_eq "validate -c of a config that is all good exits 0" 0 "$(rc "$bin" validate -c "$fh/one.yaml")"
check_contains "all good: the summary" "config $fh/one.yaml: valid; 1 domain: 1 ok, 0 with problems" "$(cat "$t/out")"
cp "$fh/one.yaml" "$fh/one.conf"
check_eq "a config recognised by its content" 0 "$(rc "$bin" validate "$fh/one.conf")"
check_contains "by content: the summary" "config $fh/one.conf: valid" "$(cat "$t/out")"
check_eq "an invalid config exits 1, not 2" 1 "$(rc "$bin" validate -c "$t/bad.yaml")"
check_file_contains "invalid config: file:line:col" "^$t/bad.yaml:3:3: error: " "$t/err"
check_contains "invalid config: says so" "config $t/bad.yaml: INVALID" "$(cat "$t/out")"
check_eq "validate -c with policy files too is a usage error" 2 "$(rc "$bin" validate -c "$fh/one.yaml" "$t/good.txt")"
check_eq "the development certificate is a problem for validate -c" 1 \
    "$(rc "$bin" validate -c "$fh/one.yaml" --cert-dir "$fh/empty")"
check_contains "development certificate: named" "development certificate" "$(cat "$t/out")"
check_contains "the usage line names -c" "usage: mta-sts-host <command> [-c FILE]" "$("$bin" --help)"

# 3. serve: nothing is announced before everything is bound.
check_eq "serve --https with port 443000 exits non-zero" 1 \
    "$(rc "$bin" serve "${ROOT_ARGS[@]}" --policy-dir "$fh/pol" --cert-dir "$fh/certs" --https 127.0.0.1:443000)"
check_file_contains "port 443000: a clear message" "listen.https \(--https\): .*443000" "$t/err"
check "port 443000: nothing to publish printed" bash -c '! grep -q "publish:" "$1" "$2"' _ "$t/out" "$t/err"
p1=$(free_port)
check_eq "serve --https and --http on one address exits non-zero" 1 \
    "$(rc "$bin" serve "${ROOT_ARGS[@]}" --policy-dir "$fh/pol" --cert-dir "$fh/certs" --https "127.0.0.1:$p1" --http "127.0.0.1:$p1")"
check_file_contains "one address twice: named" "127.0.0.1:$p1 .*share one socket" "$t/err"
check "one address twice: nothing to publish printed" bash -c '! grep -q "publish:" "$1" "$2"' _ "$t/out" "$t/err"
p2=$(free_port)
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(30)' "$p2" &
squat=$!
E2E_PIDS+=("$squat")
wait_until 5 port_in_use "$p2"
check_eq "serve on a port in use exits 1" 1 \
    "$(rc "$bin" serve "${ROOT_ARGS[@]}" --policy-dir "$fh/pol" --cert-dir "$fh/certs" --https "127.0.0.1:$p2" --http "127.0.0.1:$(free_port)")"
check "port in use: the address and the system's reason" \
    grep -q "cannot listen for HTTPS on 127.0.0.1:$p2: bind: Address already in use" "$t/out" "$t/err"
check "port in use: nothing to publish printed" bash -c '! grep -q "publish:" "$1" "$2"' _ "$t/out" "$t/err"
kill "$squat" 2>/dev/null
wait "$squat" 2>/dev/null
hp=$(free_port)
if host_start "$fh/serve.log" "http://127.0.0.1:$hp/healthz" serve -c "$fh/two.yaml" \
    --https "127.0.0.1:$(free_port)" --http "127.0.0.1:$hp"; then
    pass "serve starts with the config validate found one problem in"
    check_file_contains "serve names the same problem" "no certificate covers mta-sts.example.net" "$fh/serve.log"
    host_stop "$HOST_PID"
else
    fail "serve did not start with one servable domain"
fi
hp=$(free_port)
if MTA_STS_PUBLIC_HTTPS_PORT=443 host_start "$fh/serve2.log" "http://127.0.0.1:$hp/healthz" serve -c "$fh/one.yaml" \
    --https "127.0.0.1:$(free_port)" --http "127.0.0.1:$hp"; then
    check_file_contains "the try: hint names MTA_STS_PUBLIC_HTTPS_PORT" \
        "try: curl --resolve mta-sts.example.com:443:127.0.0.1 https://mta-sts.example.com:443/" "$fh/serve2.log"
    host_stop "$HOST_PID"
else
    fail "serve with MTA_STS_PUBLIC_HTTPS_PORT did not start"
fi

# --state-dir counts as state_dir: in the config (reports received, so
# dns names the host's report endpoint), and the ACME options come from
# MTA_STS_ACME_* when the command line does not give them.
sd=$fh/statedir
mkdir -p "$sd/policy"
cp "$t/good.txt" "$sd/policy/mta-sts.txt"
check_eq "dns --state-dir exits 0" 0 \
    "$(rc "$bin" dns --domain example.com --policy-dir "$sd/policy" --state-dir "$sd/state")"
check_contains "dns --state-dir: the rua names the host's report endpoint" \
    '_smtp._tls.example.com. IN TXT "v=TLSRPTv1; rua=https://mta-sts.example.com/tlsrpt"' "$(cat "$t/out")"
check "dns --state-dir writes nothing" test ! -e "$sd/state"
check_eq "dns without it exits 0" 0 "$(rc "$bin" dns --domain example.com --policy-dir "$sd/policy")"
check "dns without it: no report endpoint" bash -c '! grep -q "rua=https" "$1"' _ "$t/out"
check_eq "MTA_STS_ACME_EMAIL alone turns ACME on: agree_tos is missing" 1 \
    "$(MTA_STS_ACME_EMAIL=postmaster@example.com rc "$bin" validate --no-certs \
        --domain example.com --policy-dir "$sd/policy")"
check_file_contains "the message names --acme-agree-tos" "agree_tos: true is required \\(--acme-agree-tos\\)" "$t/err"
check_eq "MTA_STS_ACME_EMAIL and MTA_STS_ACME_AGREE_TOS=true: valid" 0 \
    "$(MTA_STS_ACME_EMAIL=postmaster@example.com MTA_STS_ACME_AGREE_TOS=true \
        rc "$bin" validate --no-certs --domain example.com --policy-dir "$sd/policy")"
check_eq "an empty MTA_STS_ACME_EMAIL is no setting" 0 \
    "$(MTA_STS_ACME_EMAIL= MTA_STS_ACME_AGREE_TOS=false \
        rc "$bin" validate --no-certs --domain example.com --policy-dir "$sd/policy")"
check_eq "MTA_STS_ACME_AGREE_TOS=yes is a usage error" 2 \
    "$(MTA_STS_ACME_AGREE_TOS=yes rc "$bin" validate --no-certs --domain example.com --policy-dir "$sd/policy")"
check_file_contains "it says what was expected" "MTA_STS_ACME_AGREE_TOS: expected true or false, found 'yes'" "$t/err"
check_eq "the command line wins over the environment" 2 \
    "$(MTA_STS_ACME_DIRECTORY=https://acme.example/dir rc "$bin" validate --no-certs \
        --acme-directory http://insecure.example/dir --domain example.com --policy-dir "$sd/policy")"
check_file_contains "the --acme-directory value is the one refused" "^mta-sts-host: --acme-directory http://insecure.example/dir" "$t/err"

# 4. help per command, and the man page says the same.
check_eq "help exits 0" 0 "$(rc "$bin" help)"
check_contains "help is the overview" "commands:" "$(cat "$t/out")"
# "reports import" is one command of two words: $cmd is split on purpose.
for cmd in serve validate dns check advise health reports "reports import" help; do
    f=$fh/help-${cmd// /-}
    # shellcheck disable=SC2086
    check_eq "help $cmd exits 0" 0 "$(rc "$bin" help $cmd)"
    cp "$t/out" "$f"
    check_contains "help $cmd: its usage" "usage: mta-sts-host $cmd" "$(cat "$t/out")"
    check_contains "help $cmd: an example" "example:" "$(cat "$t/out")"
    # shellcheck disable=SC2086
    check_eq "$cmd --help is help $cmd" "$(cat "$f")" "$("$bin" $cmd --help)"
done
check_contains "help serve lists --user" "--user NAME" "$(cat "$fh/help-serve")"
check_contains "help validate lists --no-certs" "--no-certs" "$(cat "$fh/help-validate")"
check "help serve does not list validate's --no-certs" bash -c '! grep -q -- --no-certs "$1"' _ "$fh/help-serve"
check_contains "help reports lists --since" "--since DATE" "$(cat "$fh/help-reports")"
check "help reports import does not list --since" bash -c '! grep -q -- --since "$1"' _ "$fh/help-reports-import"
check_contains "--help lists reports import" "reports import" "$("$bin" --help)"
check_contains "help advise lists --add and --remove" "--add MX" "$(cat "$fh/help-advise")"
check_contains "help advise lists --since" "--since DATE" "$(cat "$fh/help-advise")"
check "help dns does not list advise's --add" bash -c '! grep -q -- --add "$1"' _ "$fh/help-dns"
check_eq "help of an unknown command exits 2" 2 "$(rc "$bin" help frobnicate)"
man=$SRCDIR/docs/mta-sts-host.1
check "the man page renders without warnings" bash -c \
    'out=$(groff -man -Tutf8 -ww "$1" 2>&1 >/dev/null); [ -z "$out" ] || { echo "$out"; exit 1; }' _ "$man"
check "the man page has its sections" bash -c \
    'groff -man -Tutf8 "$1" 2>/dev/null | sed "s/.\x08//g" | grep -q "^EXIT STATUS"' _ "$man"
for cmd in serve validate dns check advise health reports "reports import" help; do
    # The options a command's help lists, as long names, and the ones its
    # man page section lists on its "Options:" line.
    from_help=$(sed -n '/^options:/,/^$/p' "$fh/help-${cmd// /-}" | grep -oE -- '--[a-z-]+' | sort -u | tr '\n' ' ')
    from_man=$(sed -n "/^\.SS $cmd\$/,/^\.SS\|^\.SH/p" "$man" | sed -n '/^Options:/,/\.$/p' |
        sed 's/\\-/-/g' | grep -oE -- '--[a-z-]+' | sort -u | tr '\n' ' ')
    check_eq "man page lists the options of help $cmd" "$from_help" "$from_man"
done
all_help=$("$bin" --help | grep -oE -- '--[a-z-]+' | sort -u | tr '\n' ' ')
all_man=$(sed -n '/^\.SH OPTIONS/,/^\.SH ENVIRONMENT/p' "$man" | grep -E '^\.(TP|B|BI|BR) ' |
    sed 's/\\-/-/g' | grep -oE -- '--[a-z-]+' | sort -u | tr '\n' ' ')
check_eq "man page OPTIONS are the options of --help" "$all_help" "$all_man"

# 5. one root cause, one message.
printf '\xef\xbb\xbfversion: STSv1\nmode: enforce\nmx: mx1.example.com\nmax_age: 604800\n' >"$fh/bom.txt"
printf 'version: STSv1\n\tmode: enforce\nmx: mx1.example.com\nmax_age: 604800\n' >"$fh/tab.txt"
printf '# our policy\nversion: STSv1\nmode: enforce\nmx: mx1.example.com\nmax_age: 604800\n' >"$fh/comment.txt"
for f in bom tab comment; do
    check_eq "$f: invalid" 1 "$(rc "$bin" validate "$fh/$f.txt")"
    check_eq "$f: exactly one message" 1 "$(grep -c ': \(error\|warning\): ' "$t/err")"
done
"$bin" validate "$fh/bom.txt" 2>"$fh/bom.err" >/dev/null
check_file_contains "bom: the one message is about the BOM" "^$fh/bom.txt:1:1: error: .*byte order mark" "$fh/bom.err"
"$bin" validate "$fh/comment.txt" 2>"$fh/comment.err" >/dev/null
check "comment: no warning about where version is" bash -c '! grep -q "is on line" "$1"' _ "$fh/comment.err"

e2e_finish
