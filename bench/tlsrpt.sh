#!/usr/bin/env bash
# tlsrpt.sh: TLS report reception under load, next to policy fetches, on
# loopback. It starts mta-sts-host with reception on (state_dir on the
# disk /tmp is on, rate limit off), measures the policy fetch rate with
# bench/tlsload (resumed handshakes, one request per connection) alone,
# then again while four Python senders POST distinct gzip reports of about
# 9 KB each (made beforehand, at most 1,200) as fast as they are answered
# (a new connection per report, as senders do), and prints both rates and
# the reports stored per second. Client and server share the machine's
# cores: on a small machine the senders' own TLS work is part of the load.
#
#   MTA_STS_HOST=build/mta-sts-host bash bench/tlsrpt.sh [SECONDS]
#
# Uses the e2e helpers (tests/e2e/lib.sh) for the CA and the host.
# shellcheck disable=SC2317
set -u
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export SRCDIR=$SRC
: "${MTA_STS_HOST:?set MTA_STS_HOST to the binary}"
SECS=${1:-10}
# shellcheck source=tests/e2e/lib.sh
. "$SRC/tests/e2e/lib.sh"
e2e_init
need_tools certtool:gnutls-bin python3:python3
T=$E2E_TMP
mkdir -p "$T/policy" "$T/certs" "$T/ca"
make_ca "$T/ca" && make_cert "$T/ca" "$T/certs/example.com" ecdsa \
    mta-sts.example.com || exit 1
rm -f "$T/certs"/*.pem
printf 'version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400\n' \
    >"$T/policy/mta-sts.txt"
# shellcheck disable=SC2046 # pkg-config prints several words
cc -std=c11 -O2 -pthread -o "$T/tlsload" "$SRC/bench/tlsload.c" \
    $(pkg-config --cflags --libs gnutls) || exit 1
P=$(free_port)
H=$(free_port)
cat >"$T/config.yaml" <<EOF
domains: [example.com]
policy_dir: $T/policy
cert_dir: $T/certs
state_dir: $T/state
log: {access: false}
listen: {https: "127.0.0.1:$P", http: "127.0.0.1:$H"}
tlsrpt: {rate_limit: 0, instance: bench}
EOF
host_start "$T/host.log" "http://127.0.0.1:$H/healthz" serve \
    -c "$T/config.yaml" || exit 1
wait_log "$T/host.log" "TLS reports: receiving" 10

cat >"$T/send.py" <<'EOF'
import gzip, json, random, socket, ssl, sys, threading, time
port, ca, secs, ready = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
def report(rid):
    rnd = random.Random(rid)
    fails = [{"result-type": "certificate-expired",
              "sending-mta-ip": "198.51.%d.%d" % (rnd.randrange(256), rnd.randrange(256)),
              "receiving-mx-hostname": "mx%d.example.com" % rnd.randrange(10),
              "failure-reason-code": "%016x" % rnd.getrandbits(64),
              "failed-session-count": rnd.randrange(1, 100)} for _ in range(450)]
    r = {"organization-name": "Bench", "contact-info": "b@x", "report-id": rid,
         "date-range": {"start-datetime": "2024-01-01T00:00:00Z",
                        "end-datetime": "2024-01-01T23:59:59Z"},
         "policies": [{"policy": {"policy-type": "sts", "policy-domain": "example.com"},
                       "summary": {"total-successful-session-count": 1000,
                                   "total-failure-session-count": 450},
                       "failure-details": fails}]}
    return gzip.compress(json.dumps(r).encode())
# The bodies are made before the clock starts: the senders' CPU should go
# to sending, not to JSON and gzip.
bodies = [[report("bench-%d-%d" % (n, i)) for i in range(300)] for n in range(4)]
open(ready, "w").close()
ok, sizes, lock = [0], [], threading.Lock()
end = time.time() + secs
def worker(n):
    i = 0
    while time.time() < end and i < len(bodies[n]):
        body = bodies[n][i]; i += 1
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                            server_hostname="mta-sts.example.com")
        s.sendall(b"POST /tlsrpt HTTP/1.1\r\nHost: mta-sts.example.com\r\n"
                  b"Content-Type: application/tlsrpt+gzip\r\nConnection: close\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        resp = b""
        while True:
            c = s.recv(4096)
            if not c:
                break
            resp += c
        s.close()
        with lock:
            sizes.append(len(body))
            ok[0] += resp.startswith(b"HTTP/1.1 200")
ts = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
t0 = time.time()
for t in ts: t.start()
for t in ts: t.join()
dt = time.time() - t0
print("reports=%d secs=%.1f rate=%.0f/s body=%.1fKB" % (ok[0], dt, ok[0] / dt, sum(sizes) / len(sizes) / 1024))
EOF
log "policy fetches alone ($SECS s)"
"$T/tlsload" resume -p "$P" -t 2 -d "$SECS" | tee "$T/alone.txt"
log "policy fetches with report load"
python3 "$T/send.py" "$P" "$T/ca/ca.pem" "$((SECS + 2))" "$T/ready" \
    >"$T/reports.txt" &
SENDER=$!
wait_until 120 test -e "$T/ready"
sleep 1
"$T/tlsload" resume -p "$P" -t 2 -d "$SECS" | tee "$T/loaded.txt"
wait "$SENDER"
cat "$T/reports.txt"
rate() { sed -n 's/.*rate=\([0-9.]*\).*/\1/p' "$1"; }
python3 -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2])
print("policy fetch rate: %.0f/s alone, %.0f/s with report load (%.1f %%)" % (a, b, 100 * (b - a) / a))' \
    "$(rate "$T/alone.txt")" "$(rate "$T/loaded.txt")"
host_stop "$HOST_PID"
