#!/usr/bin/env bash
# test_acme_faults.sh: the ACME thread of the host under faults, against
# Debian's Pebble validating for real (pebble-challtestsrv as the DNS):
#  - another instance holds a name's lock (the test holds it, as a replica
#    ordering it would): the host places no order, says who holds it, and
#    looks again later; meanwhile "the other instance" writes the
#    certificate; once the lock is free the host finds it current and
#    orders nothing; a second host on the same state directory orders
#    nothing either;
#  - the host SIGKILLed in the middle of an issuance: no partial file is
#    ever loaded, and the next start finishes the job; SIGTERM in the
#    middle of one stops it cleanly within the drain time, leaving no
#    temporary file;
#  - a pace of one order (orders_burst 1, orders_per_hour 1): one name is
#    ordered, the other waits an hour, as /status says;
#  - half of all nonces rejected (PEBBLE_WFE_NONCEREJECT=50): certificates
#    are still issued (badNonce retried);
#  - renewal at a third of the lifetime left (Pebble's certificates live
#    60 s here): the new certificate replaces the old one while a bounded
#    curl loop, verifying against Pebble's root, sees no failed request.
# Loopback only.
#
# Run by ctest as: MTA_STS_HOST=<binary> SRCDIR=<repo> bash test_acme_faults.sh
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

need_tools certtool:gnutls-bin curl:curl openssl:openssl python3:python3

T=$E2E_TMP
ISSUE_WAIT=90
make_ca "$T/ca" || { fail "make test CA"; e2e_finish; }
HTTPS_PORT=$(free_port)
HTTP_PORT=$(free_port)
if ! acme_start "$T/ca" "$HTTP_PORT" "$HTTPS_PORT"; then
    fail "Pebble and its DNS server start"
    e2e_finish
fi
for d in example.com example.net example.org; do acme_dns_add "mta-sts.$d"; done

# write_config FILE STATE HTTPS HTTP DOMAIN...: TLS-ALPN-01, ECDSA.
write_config() {
    acme_host_config "$1" "$2" "$3" "$4" tls-alpn-01 ecdsa-p256 "${@:5}"
}
verified() { acme_verified "$1" "$HTTPS_PORT"; }
is_verified() { acme_is_verified "$1" "$HTTPS_PORT"; }
orders() { acme_orders "$1" "$HTTP_PORT"; }
serial_of() { openssl x509 -in "$1" -noout -serial; }

# ---- 1. a name locked by another instance -------------------------------

S=$T/state
# A first host obtains the certificate the "other instance" will write.
write_config "$T/a.yaml" "$T/donor" "$HTTPS_PORT" "$HTTP_PORT" example.org
host_start "$T/donor.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/a.yaml" || fail "the donor host starts"
check "the donor host gets a certificate" \
    wait_until "$ISSUE_WAIT" is_verified mta-sts.example.org
host_stop "$HOST_PID"

mkdir -p "$S/acme/locks"
# POSIX record locks conflict with the host's open-file-description locks.
python3 -c '
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.lockf(fd, fcntl.LOCK_EX)
os.write(fd, b"pid 1 on host other since 2026-12-01T00:00:00Z\n")
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.1)
' "$S/acme/locks/mta-sts.example.org.lock" "$T/locked" "$T/unlock" &
LOCKER=$!
E2E_PIDS+=("$LOCKER")
wait_until 10 test -e "$T/locked" || fail "the test holds the lock"
write_config "$T/a.yaml" "$S" "$HTTPS_PORT" "$HTTP_PORT" example.org
host_start "$T/a.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/a.yaml" || fail "host A starts"
check "a name locked elsewhere is skipped, naming the holder" \
    wait_log "$T/a.log" \
    "acme: mta-sts.example.org: another instance is ordering it: .*pid .*; looking again in 15 s" 20
check_eq "and no order is placed" 0 "$(orders issued)"
# The other instance finishes: its certificate appears, its lock goes.
cp "$T/donor/acme/certs/mta-sts.example.org.ecdsa.pem" \
    "$S/acme/certs/.tmp.other" &&
    mv "$S/acme/certs/.tmp.other" "$S/acme/certs/mta-sts.example.org.ecdsa.pem"
touch "$T/unlock"
wait "$LOCKER" 2>/dev/null
check "its certificate is picked up by the watcher and served" \
    wait_until 20 is_verified mta-sts.example.org
check "looked at again under the lock, the name has nothing to do" \
    wait_log "$T/a.log" \
    "mta-sts.example.org \(ecdsa\): a current certificate is there already" 30
check_eq "still no order" 0 "$(orders issued)"
check_eq "nor a failed one" 0 "$(orders failed)"
# A second instance on the same state directory orders nothing either.
write_config "$T/b.yaml" "$S" "$(free_port)" "$(free_port)" example.org
B_HTTP=$(sed -n 's/.*http: "127.0.0.1:\([0-9]*\)".*/\1/p' "$T/b.yaml")
A_PID=$HOST_PID
host_start "$T/b.log" "http://127.0.0.1:$B_HTTP/healthz" \
    serve -c "$T/b.yaml" || fail "host B starts"
B_PID=$HOST_PID
b_sched() { hurl "http://127.0.0.1:$B_HTTP/metrics" | grep -q 'mta_sts_acme_next_renewal_timestamp_seconds{domain="example.org"}'; }
check "host B has looked at the name" wait_until 20 b_sched
check_eq "host B placed no order" 0 "$(hurl "http://127.0.0.1:$B_HTTP/metrics" |
    awk '$1 == "mta_sts_acme_orders_total{result=\"issued\"}" { print $2 }')"
host_stop "$B_PID"
host_stop "$A_PID"

# ---- 2. SIGKILL in the middle of an issuance ----------------------------

K=$T/killed
write_config "$T/k.yaml" "$K" "$HTTPS_PORT" "$HTTP_PORT" example.com example.net
host_start "$T/k1.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/k.yaml" || fail "the host to be killed starts"
K_PID=$HOST_PID
check "an issuance begins" wait_log "$T/k1.log" "acme: mta-sts.example.com \(ecdsa\): ordering" 30
kill -KILL "$K_PID"
wait "$K_PID" 2>/dev/null
host_start "$T/k2.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/k.yaml" || fail "the host restarts after SIGKILL"
check "the next start finishes the job: example.com verifies" \
    wait_until "$ISSUE_WAIT" is_verified mta-sts.example.com
check "and example.net" wait_until "$ISSUE_WAIT" is_verified mta-sts.example.net
check "no temporary file was ever loaded" bash -c \
    '! grep -h "certificate .*/\.[^/]* for" "$1" "$2"' _ "$T/k1.log" "$T/k2.log"
check "nothing was refused as broken" bash -c \
    '! grep -h "acme/certs/.*: error" "$1" "$2"' _ "$T/k1.log" "$T/k2.log"
host_stop "$HOST_PID"

# ---- 2b. SIGTERM in the middle of an issuance ---------------------------

write_config "$T/t.yaml" "$T/term" "$HTTPS_PORT" "$HTTP_PORT" example.org
host_start "$T/t.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/t.yaml" || fail "the host to be stopped starts"
check "an issuance begins" wait_log "$T/t.log" "acme: mta-sts.example.org \(ecdsa\): ordering" 30
host_stop "$HOST_PID" 12
check_eq "SIGTERM during an order stops the host cleanly and promptly" 0 "$HOST_RC"
check "no temporary file is left" bash -c \
    '[ -z "$(find "$1" -name ".*" -type f)" ]' _ "$T/term/acme"

# ---- 2c. the order pace --------------------------------------------------

write_config "$T/p.yaml" "$T/paced" "$HTTPS_PORT" "$HTTP_PORT" example.com example.net
printf '  orders_burst: 1\n  orders_per_hour: 1\n' >>"$T/p.yaml"
host_start "$T/p.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/p.yaml" || fail "the paced host starts"
check "with a pace of one order, the first name is issued" \
    wait_until "$ISSUE_WAIT" is_verified mta-sts.example.com
paced() { status_json | python3 -c '
import json, sys, time
s = json.load(sys.stdin)
d = [d for d in s["domains"] if d["domain"] == "example.net"][0]
a = d["acme"][0]
assert a["not_after"] is None and a["failures"] == 0, a
assert a["next_renewal"] > time.time() + 3000, a
'; }
check "the second waits an hour for the pace (on /status)" wait_until 10 paced
check_eq "one order only" 1 "$(orders issued)"
host_stop "$HOST_PID"

# ---- 3. badNonce and renewal --------------------------------------------

acme_stop
ACME_VALIDITY=60 PEBBLE_WFE_NONCEREJECT=50 \
    acme_start "$T/ca" "$HTTP_PORT" "$HTTPS_PORT" ||
    { fail "Pebble (60 s certificates, nonces rejected) starts"; e2e_finish; }
acme_dns_add mta-sts.example.com
R=$T/renew
write_config "$T/r.yaml" "$R" "$HTTPS_PORT" "$HTTP_PORT" example.com
host_start "$T/r.log" "http://127.0.0.1:$HTTP_PORT/healthz" \
    serve -c "$T/r.yaml" || fail "the host (renewal) starts"
check "with half of the nonces rejected a certificate is issued" \
    wait_until "$ISSUE_WAIT" is_verified mta-sts.example.com
F=$R/acme/certs/mta-sts.example.com.ecdsa.pem
FIRST=$(serial_of "$F")
# Every response verified while the renewal (40 s after issuance) happens;
# the loop is bounded and ends at the first new serial.
bad=0 n=0
for ((i = 0; i < 200; i++)); do
    code=$(verified mta-sts.example.com)
    n=$((n + 1))
    [ "$code" = 200 ] || bad=$((bad + 1))
    [ "$(serial_of "$F")" != "$FIRST" ] && is_verified mta-sts.example.com && break
    sleep 0.5
done
check "the certificate was renewed (a new serial)" \
    test "$(serial_of "$F")" != "$FIRST"
check_eq "no request failed meanwhile ($n made)" 0 "$bad"
check_file_contains "the renewal is logged" \
    "acme: mta-sts.example.com \(ecdsa\): certificate issued" "$T/r.log"
check_eq "two orders, both issued" 2 "$(orders issued)"
host_stop "$HOST_PID"
check_eq "SIGTERM stops it cleanly" 0 "$HOST_RC"

e2e_finish
