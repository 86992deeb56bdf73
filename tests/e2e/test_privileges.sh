#!/usr/bin/env bash
# test_privileges.sh: end-to-end test of the privilege drop (issue 6 part
# 4). Started as root with --user nobody on a privileged loopback port, the
# real binary must end up with every uid and gid 65534 in every thread, no
# supplementary groups, no_new_privs, and serve fully verified HTTPS on that
# port. Started as root with no user it must refuse (exit 2) and name both
# fixes. After the drop, a renewed key that only root can read must be
# refused with the running user named and a fix suggested, while the old
# certificate stays on the wire; fixing the mode brings the new one in. No
# log line may ever carry key material.
#
# Needs root (it tests what root does); elsewhere it exits 77 (skipped).
# Run by ctest as: MTA_STS_HOST=<binary> SRCDIR=<repo> bash test_privileges.sh
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$HERE/lib.sh"
e2e_init
umask 022

if [ "$(id -u)" != 0 ]; then
    printf 'SKIP: test_privileges.sh needs root\n'
    exit 77
fi
need_tools certtool:gnutls-bin gnutls-cli:gnutls-bin curl:curl \
    openssl:openssl setpriv:util-linux python3:python3

BIN=$MTA_STS_HOST
T=$E2E_TMP
chmod 755 "$T"
CA=$T/ca/ca.pem
NOBODY_GROUP=$(id -gn nobody)

make_ca "$T/ca" || { fail "make test CA"; e2e_finish; }
make_cert "$T/ca" "$T/ca/a" ecdsa mta-sts.example.com ||
    { fail "make certificate A"; e2e_finish; }
make_cert "$T/ca" "$T/ca/b" ecdsa mta-sts.example.com ||
    { fail "make certificate B"; e2e_finish; }

POL=$T/policy CRT=$T/certs OUT=$T/out
mkdir -p "$POL" "$CRT" "$OUT"
printf 'version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 604800\n' \
    >"$POL/mta-sts.txt"
sed 's/$/\r/' "$POL/mta-sts.txt" >"$OUT/served"
# install_pair NAME MODE: put pair NAME in place the way a renewal does
# (write next to it, rename over), the key with MODE and group nogroup.
install_pair() {
    cp "$T/ca/$1.crt" "$CRT/.new.crt" && cp "$T/ca/$1.key" "$CRT/.new.key" &&
        chgrp "$NOBODY_GROUP" "$CRT/.new.key" && chmod "$2" "$CRT/.new.key" &&
        mv -f "$CRT/.new.key" "$CRT/mta-sts.example.com.key" &&
        mv -f "$CRT/.new.crt" "$CRT/mta-sts.example.com.crt"
}
install_pair a 0640
chmod 755 "$POL" "$CRT"
fingerprint() { openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2; }
FP_A=$(fingerprint "$T/ca/a.crt")
FP_B=$(fingerprint "$T/ca/b.crt")

# Only root may bind a port below 1024.
HTTPS_PORT=$(free_port 600 1000) || { fail "no free port below 1024"; e2e_finish; }
HTTP_PORT=$(free_port) || { fail "no free port"; e2e_finish; }
HLOG=$T/host.log
printf 'reload:\n  debounce_ms: 50\n  poll_interval_ms: 3600000\n' >"$T/config.yaml"
ARGS=(-c "$T/config.yaml" --domain example.com --policy-dir "$POL"
    --cert-dir "$CRT" --https "127.0.0.1:$HTTPS_PORT"
    --http "127.0.0.1:$HTTP_PORT")


# ---- 1. refused as root without a user -----------------------------------

run_bounded 15 "$OUT/refuse.txt" "$BIN" serve "${ARGS[@]}"
rc=$?
check_eq "as root without user: exit code 2" 2 "$rc"
msg=$(cat "$OUT/refuse.txt")
check_contains "refusal names user:" '`user: NAME`' "$msg"
check_contains "refusal names --user" "--user NAME" "$msg"
check_contains "refusal names allow_root: true" '`allow_root: true`' "$msg"
check_contains "refusal names --allow-root" "--allow-root" "$msg"
check "refusal: nothing listens on the port" eval "! port_in_use $HTTPS_PORT"

run_bounded 15 "$OUT/nouser.txt" "$BIN" serve "${ARGS[@]}" --user no-such-user-x
check_eq "unknown user: exit code 2" 2 "$?"
check_file_contains "unknown user: says so" 'no such user "no-such-user-x"' \
    "$OUT/nouser.txt"
run_bounded 15 "$OUT/root.txt" "$BIN" serve "${ARGS[@]}" --user root
check_eq "--user root: exit code 2" 2 "$?"
check_file_contains "--user root: asks for an unprivileged user" \
    "user root is root; name an unprivileged user" "$OUT/root.txt"
run_bounded 15 "$OUT/baduser.txt" "$BIN" serve "${ARGS[@]}" --user 'a b'
check_eq "--user with a space: usage error" 2 "$?"

# ---- 2. as nobody, not root: same user is a notice, another an error ----

run_bounded 15 "$OUT/other.txt" setpriv --reuid=nobody --regid="$NOBODY_GROUP" \
    --clear-groups "$BIN" serve "${ARGS[@]}" --user daemon
check_eq "as nobody with --user daemon: exit code 2" 2 "$?"
check_file_contains "as nobody with --user daemon: explains" \
    "started as uid 65534 'nobody', which cannot switch to user daemon" \
    "$OUT/other.txt"
if MTA_STS_HOST=$(command -v setpriv) host_start "$T/same.log" \
    "http://127.0.0.1:$HTTP_PORT/healthz" --reuid=nobody \
    --regid="$NOBODY_GROUP" --clear-groups "$BIN" serve -c "$T/config.yaml" \
    --domain example.com --policy-dir "$POL" --cert-dir "$CRT" \
    --https "127.0.0.1:$(free_port)" --http "127.0.0.1:$HTTP_PORT" \
    --user nobody; then
    pass "as nobody with --user nobody: starts"
    check_file_contains "as nobody with --user nobody: notice" \
        "already running as uid 65534 'nobody'; the configured user changes" \
        "$T/same.log"
    host_stop "$HOST_PID" 12
    check_eq "as nobody: clean stop" 0 "$HOST_RC"
else
    fail "as nobody with --user nobody: starts"
    tail -n 20 "$T/same.log" | sed 's/^/#   /'
fi

# ---- 3. allow_root in the config keeps root, with a warning --------------

printf 'allow_root: true\n' >"$T/root.yaml"
if host_start "$T/allow.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    --domain example.com --policy-dir "$POL" --cert-dir "$CRT" \
    --https "127.0.0.1:$(free_port)" --http "127.0.0.1:$HTTP_PORT" \
    serve -c "$T/root.yaml"; then
    pass "allow_root: true: starts as root"
    check "allow_root: true: still uid 0" \
        grep -Eq "^Uid:[[:space:]]+0[[:space:]]+0[[:space:]]+0[[:space:]]+0$" \
        "/proc/$HOST_PID/status"
    check_file_contains "allow_root: true: warns" \
        "running as root \\(allow_root\\)" "$T/allow.log"
    host_stop "$HOST_PID" 12
else
    fail "allow_root: true: starts as root"
    tail -n 20 "$T/allow.log" | sed 's/^/#   /'
fi

# ---- 4. root with --user nobody on a port below 1024 ---------------------

# --user comes before `serve`, so host_start adds no --allow-root: the
# drop must happen because of --user alone.
if host_start "$HLOG" "http://127.0.0.1:$HTTP_PORT/healthz" --user nobody \
    serve "${ARGS[@]}"; then
    pass "root with --user nobody on 127.0.0.1:$HTTPS_PORT: starts"
else
    fail "root with --user nobody on 127.0.0.1:$HTTPS_PORT: starts"
    tail -n 30 "$HLOG" | sed 's/^/#   /'
    e2e_finish
fi
# /healthz answers once the listeners are up, which is before the drop:
# the process is looked at once the drop is logged.
wait_log "$HLOG" "dropped root: now running as" 10 ||
    fail "the drop is logged within 10 s"
st=/proc/$HOST_PID/status
check "Uid line is 65534 x4" grep -Eq \
    "^Uid:[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534$" "$st"
check "Gid line is 65534 x4" grep -Eq \
    "^Gid:[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534$" "$st"
check "Groups line is empty" grep -Eq "^Groups:[[:space:]]*$" "$st"
check "NoNewPrivs is 1" grep -Eq "^NoNewPrivs:[[:space:]]+1$" "$st"
bad_threads=0 n_threads=0
for ts in /proc/"$HOST_PID"/task/*/status; do
    n_threads=$((n_threads + 1))
    grep -Eq "^Uid:[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534$" "$ts" &&
        grep -Eq "^Gid:[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534$" "$ts" &&
        grep -Eq "^NoNewPrivs:[[:space:]]+1$" "$ts" || bad_threads=$((bad_threads + 1))
done
check_eq "all $n_threads threads run as 65534 with NoNewPrivs" 0 "$bad_threads"
check "more than one thread was checked" test "$n_threads" -gt 1
check_file_contains "log says root was dropped" \
    "dropped root: now running as uid 65534 'nobody', gid 65534; root cannot be regained" "$HLOG"
check "the drop is logged after the listeners bind" python3 -c '
import sys
lines = open(sys.argv[1]).read().splitlines()
li = [i for i, l in enumerate(lines) if "listening for HTTPS" in l]
dr = [i for i, l in enumerate(lines) if "dropped root" in l]
sys.exit(0 if li and dr and li[0] < dr[0] else 1)' "$HLOG"

code=$(hurl --cacert "$CA" --resolve "mta-sts.example.com:$HTTPS_PORT:127.0.0.1" \
    -o "$OUT/body" -w '%{http_code}' \
    "https://mta-sts.example.com:$HTTPS_PORT/.well-known/mta-sts.txt")
check_eq "verified HTTPS GET on port $HTTPS_PORT" 200 "$code"
check "body is the served policy" cmp -s "$OUT/served" "$OUT/body"
echo | timeout 10 gnutls-cli -p "$HTTPS_PORT" --x509cafile "$CA" \
    --sni-hostname mta-sts.example.com --verify-hostname mta-sts.example.com \
    127.0.0.1 >"$OUT/gnutls.txt" 2>&1
check_file_contains "gnutls-cli verifies the certificate on port $HTTPS_PORT" \
    "Handshake was completed" "$OUT/gnutls.txt"
check_eq "the served certificate is A" "$FP_A" "$(served_fp)"
check_contains "healthz ok after the drop" '"status":"ok"' "$(health)"

# ---- 5. a renewed key only root can read ---------------------------------

f0=$(metric mta_sts_reload_failures_total)
mark=$(wc -l <"$HLOG")
install_pair b 0600
chown root:root "$CRT/mta-sts.example.com.key"
want="mta-sts.example.com.key: cannot open: Permission denied (running as uid 65534 'nobody') (reading the private key); make the key group-readable"
if wait_until 10 eval "tail -n +$((mark + 1)) '$HLOG' | grep -Fq \"\$want\""; then
    pass "root-only key after the drop: the error names the user and the fix"
else
    fail "root-only key after the drop: the error names the user and the fix"
    tail -n +$((mark + 1)) "$HLOG" | sed 's/^/#   /' | head -20
fi
check_file_contains "root-only key: example.com keeps its last good certificate" \
    "error example\.com: .*mta-sts\.example\.com\.key: cannot open: Permission denied.*; still serving the last good certificate" \
    "$HLOG"
check_eq "root-only key: certificate A still served" "$FP_A" "$(served_fp)"
code=$(hurl --cacert "$CA" --resolve "mta-sts.example.com:$HTTPS_PORT:127.0.0.1" \
    -o "$OUT/body2" -w '%{http_code}' \
    "https://mta-sts.example.com:$HTTPS_PORT/.well-known/mta-sts.txt")
check_eq "root-only key: policy still served (verified)" 200 "$code"
check "root-only key: same bytes" cmp -s "$OUT/served" "$OUT/body2"
h=$(health)
check_contains "root-only key: healthz degraded" '"status":"degraded"' "$h"
check_contains "root-only key: healthz counts example.com as unwell" \
    '"unwell":1,' "$h"
cp_=$(status_json | python3 -c '
import json, sys
d = [x for x in json.load(sys.stdin)["domains"] if x["domain"] == "example.com"][0]
print(d["certificate_problem"] or "")' 2>/dev/null)
check_contains "root-only key: /status says why for example.com" \
    "Permission denied (running as uid 65534 'nobody')" "$cp_"
check_contains "root-only key: /status says the last good certificate stays" \
    "still serving the last good certificate" "$cp_"
f1=$(metric mta_sts_reload_failures_total)
check "root-only key: reload failure counted ($f0 -> $f1)" \
    test "${f1:-0}" -gt "${f0:-0}"

# The fix: group-readable. chmod alone is an event (IN_ATTRIB).
chgrp "$NOBODY_GROUP" "$CRT/mta-sts.example.com.key"
chmod 0640 "$CRT/mta-sts.example.com.key"
if wait_until 10 eval '[ "$(served_fp)" = "$FP_B" ]'; then
    pass "group-readable key: certificate B goes live"
else
    fail "group-readable key: certificate B goes live (served $(served_fp))"
fi
check_contains "group-readable key: healthz ok again" '"status":"ok"' "$(health)"

# A key whose PEM is damaged: refused by name, contents never echoed.
{ head -n 2 "$T/ca/b.key"; echo 'not-base64-!!!'; tail -n 1 "$T/ca/b.key"; } \
    >"$CRT/broken.key"
cp "$T/ca/b.crt" "$CRT/broken.crt"
cp "$T/ca/a.key" "$CRT/keyonly.crt"
cp "$T/ca/a.key" "$CRT/keyonly.key"
chmod 0644 "$CRT"/broken.* "$CRT"/keyonly.*
wait_log "$HLOG" "broken.key: reading the private key" 10
check_file_contains "a damaged key is refused by file name" \
    "broken.key: reading the private key" "$HLOG"
wait_log "$HLOG" "keyonly.crt: reading the certificate chain" 10
check_file_contains "a key in a .crt file is refused by file name" \
    "keyonly.crt: reading the certificate chain" "$HLOG"

# ---- 6. no key material in the log ---------------------------------------

host_stop "$HOST_PID" 12
check_eq "clean stop after the drop" 0 "$HOST_RC"
check "the log never says PRIVATE KEY" eval "! grep -q 'PRIVATE KEY' '$HLOG'"
leaks=0 chunks=0
for k in "$T/ca/a.key" "$T/ca/b.key" "$CRT/broken.key"; do
    while read -r line; do
        case "$line" in -----*) continue ;; esac
        # Every 16-character piece of every base64 line of the key.
        for ((i = 0; i + 16 <= ${#line}; i += 16)); do
            chunks=$((chunks + 1))
            grep -qF -- "${line:i:16}" "$HLOG" && leaks=$((leaks + 1))
        done
    done <"$k"
done
check_eq "no base64 piece of any key is in the log ($chunks checked)" 0 "$leaks"
check "more than 10 key pieces were checked" test "$chunks" -gt 10
check "no sanitizer report" eval "! grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$HLOG'"

e2e_finish
