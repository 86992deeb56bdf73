#!/usr/bin/env bash
# test_acme_state.sh: the certificates the host obtains by ACME are loaded
# from state_dir/acme/certs through the same path as cert_dir's. A
# certificate made by the test CA and renamed into that directory (as
# acme_state writes one: chain then key in one .pem, a dotfile first) is
# served for its name, checked by curl with full verification against the
# test CA; a cert_dir certificate for the same name wins over it, also
# when the ACME one is renewed meanwhile; removing the cert_dir one brings
# the ACME one back; a broken ACME file keeps the last good one on the
# wire with the reason on /status; a temporary file is never loaded; a
# restart loads the ACME certificate at once; the host makes the ACME
# directories at start (watched by inotify from the first certificate on);
# and without an acme: section the directory is not read at all. No CA, no
# network beyond loopback.
#
# Run by ctest as: MTA_STS_HOST=<binary> SRCDIR=<repo> bash test_acme_state.sh
# The probes are called through wait_until (by name).
# shellcheck disable=SC2317
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh disable=SC1091
. "$HERE/lib.sh"
e2e_init
umask 022

need_tools certtool:gnutls-bin curl:curl openssl:openssl

T=$E2E_TMP
CA=$T/ca/ca.pem
LIVE_WAIT=10

make_ca "$T/ca" || { fail "make test CA"; e2e_finish; }
for c in acme1 acme2 file; do
    make_cert "$T/ca" "$T/ca/$c" ecdsa mta-sts.example.com ||
        { fail "make certificate $c"; e2e_finish; }
done
make_cert "$T/ca" "$T/ca/net" ecdsa mta-sts.example.net ||
    { fail "make certificate for example.net"; e2e_finish; }

mkdir -p "$T/policy" "$T/certs"
printf 'version: STSv1\nmode: enforce\nmx: mx1.example.com\nmax_age: 604800\n' \
    >"$T/policy/mta-sts.txt"
ACME_DIR=$T/state/acme/certs

HTTPS_PORT=$(free_port)
HTTP_PORT=$(free_port)
write_config() { # ACME(yes|no)
    {
        printf 'domains: [example.com, example.net]\n'
        printf 'policy_dir: %s\ncert_dir: %s\nstate_dir: %s\n' \
            "$T/policy" "$T/certs" "$T/state"
        printf 'listen: {https: "127.0.0.1:%s", http: "127.0.0.1:%s"}\n' \
            "$HTTPS_PORT" "$HTTP_PORT"
        printf 'tlsrpt: {receive: false}\n'
        printf 'reload: {poll_interval_ms: 3600000}\n'
        [ "$1" = yes ] && printf 'acme: {agree_tos: true}\n'
    } >"$T/config.yaml"
}

# fp_of FILE: the SHA-256 fingerprint of the first certificate in FILE.
fp_of() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }
# served_for HOST: the fingerprint of the leaf served for HOST.
served_for() {
    echo | timeout 10 openssl s_client -connect "127.0.0.1:$HTTPS_PORT" \
        -servername "$1" 2>/dev/null |
        openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2
}
# verified HOST: the policy of HOST fetched with full verification.
verified() {
    hurl --cacert "$CA" --resolve "$1:$HTTPS_PORT:127.0.0.1" \
        -o /dev/null -w '%{http_code}' \
        "https://$1:$HTTPS_PORT/.well-known/mta-sts.txt"
}
# drop SRC NAME: put SRC into the ACME directory as NAME the way
# acme_state does: a dotfile in the same directory, then a rename.
drop() {
    cp "$1" "$ACME_DIR/.$2.tmp.test" && chmod 600 "$ACME_DIR/.$2.tmp.test" &&
        mv -f "$ACME_DIR/.$2.tmp.test" "$ACME_DIR/$2"
}
is_served() { [ "$(served_for "$1")" = "$2" ]; }

FP_ACME1=$(fp_of "$T/ca/acme1.pem")
FP_ACME2=$(fp_of "$T/ca/acme2.pem")
FP_FILE=$(fp_of "$T/ca/file.crt")
FP_NET=$(fp_of "$T/ca/net.pem")

# ---- 1. an ACME certificate renamed in is served ------------------------

write_config yes
if ! host_start "$T/host.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/config.yaml"; then
    fail "host starts with ACME on"
    cat "$T/host.log"
    e2e_finish
fi
check_eq "the host made the ACME certificate directory, mode 0700" 700 \
    "$(stat -c %a "$ACME_DIR" 2>/dev/null)"
check_file_contains "the watcher watches it" \
    "watching .* and $ACME_DIR \(inotify" "$T/host.log"
check "with inotify from the start" \
    bash -c '! grep -q "cannot watch" "$1"' _ "$T/host.log"
check "nothing verifies before a certificate is there (development pair)" \
    test "$(verified mta-sts.example.com)" != 200
# A temporary file that is never renamed is not a certificate.
head -c 100 "$T/ca/acme1.pem" >"$ACME_DIR/.mta-sts.example.com.ecdsa.pem.tmp.abc"
drop "$T/ca/acme1.pem" mta-sts.example.com.ecdsa.pem
check "the ACME certificate is served once renamed in" \
    wait_until "$LIVE_WAIT" is_served mta-sts.example.com "$FP_ACME1"
check_eq "the policy verifies against the test CA" 200 \
    "$(verified mta-sts.example.com)"
check_file_contains "its load is logged with its file" \
    "certificate $ACME_DIR/mta-sts.example.com.ecdsa.pem for mta-sts.example.com loaded" \
    "$T/host.log"
check "the temporary file was never read" \
    bash -c '! grep -q "\.tmp\.abc" "$1"' _ "$T/host.log"
drop "$T/ca/net.pem" mta-sts.example.net.ecdsa.pem
check "a second name's ACME certificate is served" \
    wait_until "$LIVE_WAIT" is_served mta-sts.example.net "$FP_NET"
check_eq "example.net verifies" 200 "$(verified mta-sts.example.net)"
check_eq "example.com is still served" "$FP_ACME1" \
    "$(served_for mta-sts.example.com)"

# ---- 2. cert_dir wins ---------------------------------------------------

cp "$T/ca/file.key" "$T/certs/.mta-sts.key" &&
    mv "$T/certs/.mta-sts.key" "$T/certs/mta-sts.key"
cp "$T/ca/file.crt" "$T/certs/.mta-sts.crt" &&
    mv "$T/certs/.mta-sts.crt" "$T/certs/mta-sts.crt"
check "a cert_dir certificate for the same name wins" \
    wait_until "$LIVE_WAIT" is_served mta-sts.example.com "$FP_FILE"
check_eq "and verifies" 200 "$(verified mta-sts.example.com)"
check_eq "example.net keeps its ACME certificate" "$FP_NET" \
    "$(served_for mta-sts.example.net)"
# A renewal of the ACME certificate does not take the name back: once the
# reload that loaded it has published (its load logged a second time, the
# snapshot generation past the one before), cert_dir's is still served.
loads() { grep -c "certificate $ACME_DIR/mta-sts.example.com.ecdsa.pem for mta-sts.example.com loaded" "$T/host.log"; }
renewed() { [ "$(loads)" = 2 ] && [ "$(metric mta_sts_snapshot_generation)" -gt "$GEN" ]; }
GEN=$(metric mta_sts_snapshot_generation)
check_eq "the first ACME certificate was loaded once" 1 "$(loads)"
drop "$T/ca/acme2.pem" mta-sts.example.com.ecdsa.pem
check "the renewed ACME certificate is loaded and published" \
    wait_until "$LIVE_WAIT" renewed
check_eq "the cert_dir certificate still wins after the renewal" "$FP_FILE" \
    "$(served_for mta-sts.example.com)"
rm -f "$T/certs/mta-sts.crt" "$T/certs/mta-sts.key"
check "removing the cert_dir certificate brings the renewed ACME one" \
    wait_until "$LIVE_WAIT" is_served mta-sts.example.com "$FP_ACME2"
check_eq "which verifies" 200 "$(verified mta-sts.example.com)"

# ---- 3. a broken ACME file keeps the last good certificate --------------

printf 'not a certificate\n' >"$T/bad.pem"
drop "$T/bad.pem" mta-sts.example.com.ecdsa.pem
check "the refusal is on /status with the file" \
    wait_until "$LIVE_WAIT" bash -c \
    'curl -s --max-time 5 "$1" | grep -q "mta-sts.example.com.ecdsa.pem"' _ \
    "http://127.0.0.1:$HTTP_PORT/status"
check_eq "the last good certificate stays on the wire" "$FP_ACME2" \
    "$(served_for mta-sts.example.com)"
drop "$T/ca/acme2.pem" mta-sts.example.com.ecdsa.pem
host_stop "$HOST_PID"
check_eq "the host stops cleanly" 0 "$HOST_RC"

# ---- 4. a restart loads it at once ---------------------------------------

if host_start "$T/host2.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/config.yaml"; then
    check_eq "after a restart the ACME certificate is served at once" \
        "$FP_ACME2" "$(served_for mta-sts.example.com)"
    check_eq "and verifies" 200 "$(verified mta-sts.example.com)"
    host_stop "$HOST_PID"
else
    fail "host restarts"
fi

# ---- 5. without acme: the directory is not read -------------------------

write_config no
if host_start "$T/host3.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/config.yaml"; then
    check "without acme: the ACME certificate is not loaded" \
        bash -c '! grep -q "acme/certs" "$1"' _ "$T/host3.log"
    check "without acme: the name does not verify (development pair)" \
        test "$(verified mta-sts.example.com)" != 200
    host_stop "$HOST_PID"
else
    fail "host starts without acme"
fi

e2e_finish
