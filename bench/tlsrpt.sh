#!/usr/bin/env bash
# tlsrpt.sh: does TLS report reception slow the policy path? On loopback,
# it starts mta-sts-host with reception on (state_dir on the disk /tmp is
# on, rate limit off) and, REPS times, measures the policy fetch rate and
# its p50/p99 latency with bench/tlsload (2 threads, resumed handshakes,
# one request per connection) first alone, then again while four Python
# senders POST distinct gzip reports of about 10 KB each (made beforehand,
# at most 1,200 a repetition) as fast as they are answered (a new
# connection per report, as senders do), and, as the reference, nginx
# serving the same policy file under the same report-free load (one
# worker per core, bench/lib.sh's configuration, started once and idle
# while the host is measured). It prints one line per phase and
# a table of the medians with the spread (min-max) over the repetitions,
# side by side, and writes it as markdown to OUT when given. Client and
# server share the machine's cores: on a small machine the senders' own
# TLS work is part of the load, so the figure is an upper bound of what
# reception costs the policy path.
#
#   MTA_STS_HOST=build/mta-sts-host bash bench/tlsrpt.sh [SECONDS [REPS [OUT]]]
#
# Uses the e2e helpers (tests/e2e/lib.sh) for the CA and the host.
# shellcheck disable=SC2317
set -u
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export SRCDIR=$SRC
: "${MTA_STS_HOST:?set MTA_STS_HOST to the binary}"
START=$SECONDS
SECS=${1:-10}
REPS=${2:-3}
OUT=${3:-}
# cpu_ticks, build_tool and nginx_policy_conf from the benchmarks'
# helpers; the e2e helpers (sourced last) own ports and packages.
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"
# shellcheck source=tests/e2e/lib.sh
. "$SRC/tests/e2e/lib.sh"
e2e_init
need_tools certtool:gnutls-bin python3:python3 nginx:nginx
T=$E2E_TMP
mkdir -p "$T/policy" "$T/certs" "$T/ca"
make_ca "$T/ca" && make_cert "$T/ca" "$T/certs/example.com" ecdsa \
    mta-sts.example.com || exit 1
rm -f "$T/certs"/*.pem
printf 'version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400\n' \
    >"$T/policy/mta-sts.txt"
build_tool tlsload "$T/tlsload"
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
# The reference: nginx with the same certificate and the bytes the host
# serves (CRLF line endings).
N=$(free_port)
sed 's/\r$//; s/$/\r/' "$T/policy/mta-sts.txt" >"$T/policy-crlf.txt"
nginx_policy_conf "$T/nginx" "$N" mta-sts.example.com \
    "$T/certs/example.com.crt" "$T/certs/example.com.key" "$T/policy-crlf.txt"
nginx -c "$T/nginx/nginx.conf" -p "$T/nginx" -e "$T/nginx/error.log" \
    >"$T/nginx/log" 2>&1 &
E2E_PIDS+=("$!")
"$T/tlsload" wait -p "$N" -d 10 >/dev/null ||
    { cat "$T/nginx/error.log" >&2; exit 1; }

cat >"$T/send.py" <<'EOF'
import gzip, json, random, socket, ssl, sys, threading, time
port, ca, secs, ready, rep = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5]
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
bodies = [[report("bench-%s-%d-%d" % (rep, n, i)) for i in range(300)] for n in range(4)]
open(ready, "w").close()
ok, refused, sizes, lock = [0], [0], [], threading.Lock()
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
            refused[0] += resp.startswith(b"HTTP/1.1 503")
ts = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
t0 = time.time()
for t in ts: t.start()
for t in ts: t.join()
dt = time.time() - t0
print("reports=%d refused=%d secs=%.1f rate=%.0f/s body=%.1fKB" % (ok[0], refused[0], dt, ok[0] / dt, sum(sizes) / len(sizes) / 1024))
EOF
field() { sed -n "s/.*\<$2=\([0-9.]*\).*/\1/p" "$1"; }
for ((r = 1; r <= REPS; r++)); do
    log "repetition $r/$REPS: policy fetches alone ($SECS s)"
    c0=$(cpu_ticks "$HOST_PID")
    "$T/tlsload" resume -p "$P" -t 2 -d "$SECS" | tee "$T/alone-$r.txt"
    c1=$(cpu_ticks "$HOST_PID")
    log "repetition $r/$REPS: nginx, policy fetches alone"
    "$T/tlsload" resume -p "$N" -t 2 -d "$SECS" | tee "$T/nginx-$r.txt"
    log "repetition $r/$REPS: policy fetches with report load"
    rm -f "$T/ready"
    python3 "$T/send.py" "$P" "$T/ca/ca.pem" "$((SECS + 2))" "$T/ready" "$r" \
        >"$T/reports-$r.txt" &
    SENDER=$!
    wait_until 120 test -e "$T/ready"
    sleep 1
    c2=$(cpu_ticks "$HOST_PID")
    s2=$(cpu_ticks "$SENDER")
    "$T/tlsload" resume -p "$P" -t 2 -d "$SECS" | tee "$T/loaded-$r.txt"
    c3=$(cpu_ticks "$HOST_PID")
    s3=$(cpu_ticks "$SENDER")
    wait "$SENDER"
    cat "$T/reports-$r.txt"
    printf '%s %s %s %s %s %s %s %s %s\n' \
        "$(field "$T/alone-$r.txt" rate)" "$(field "$T/alone-$r.txt" p99_ms)" \
        "$(field "$T/loaded-$r.txt" rate)" "$(field "$T/loaded-$r.txt" p99_ms)" \
        "$(field "$T/reports-$r.txt" rate)" \
        "$((c1 - c0)) $((c3 - c2)) $((s3 - s2))" \
        "$(field "$T/nginx-$r.txt" rate)" "$(field "$T/nginx-$r.txt" p99_ms)" \
        "$(field "$T/reports-$r.txt" refused)" >>"$T/runs.txt"
done
host_stop "$HOST_PID"
# One row per figure: the median over the repetitions, then min-max.
python3 - "$T/runs.txt" "$SECS" "$(nproc)" "$OUT" "$(getconf CLK_TCK)" <<'EOF'
import statistics, sys
runs = [[float(x) for x in l.split()] for l in open(sys.argv[1]) if l.strip()]
secs, cores, out, hz = sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
secs_f = float(secs)
def col(i): return [r[i] for r in runs]
def cell(v, fmt):
    return "%s (%s to %s)" % (fmt % statistics.median(v), fmt % min(v), fmt % max(v))
rows = [
    ("policy fetches/s", cell(col(0), "%.0f"), cell(col(2), "%.0f"), cell(col(8), "%.0f")),
    ("policy fetch p99 (ms)", cell(col(1), "%.2f"), cell(col(3), "%.2f"), cell(col(9), "%.2f")),
    ("reports stored/s (200)", "-", cell(col(4), "%.0f"), "-"),
    ("reports refused (503) a repetition", "-", cell(col(10), "%.0f"), "-"),
    ("fetch rate change", "-", cell([100 * (r[2] - r[0]) / r[0] for r in runs], "%+.1f %%"), "-"),
    ("p99 change", "-", cell([100 * (r[3] - r[1]) / r[1] for r in runs], "%+.1f %%"), "-"),
    ("host CPU (% of one core)", cell([100 * r[5] / hz / secs_f for r in runs], "%.0f"),
     cell([100 * r[6] / hz / secs_f for r in runs], "%.0f"), "-"),
    ("senders' CPU (% of one core)", "-", cell([100 * r[7] / hz / secs_f for r in runs], "%.0f"), "-"),
]
text = ["%d repetition(s) of %s s per phase, %s cores; median (min to max)" % (len(runs), secs, cores), "",
        "| figure | host, policy alone | host, with report load | nginx, policy alone |",
        "|---|---|---|---|"]
text += ["| %s | %s | %s | %s |" % r for r in rows]
print("\n".join(text))
if out:
    open(out, "w").write("\n".join(text) + "\n")
EOF
