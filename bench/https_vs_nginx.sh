#!/usr/bin/env bash
# Side-by-side HTTPS benchmark: mta-sts-host against nginx on the same
# machine, same certificate (a test CA's ECDSA P-256), same policy bytes,
# same client (wrk), same run. Three loads, each bounded in time:
#   keep-alive     wrk over persistent connections (requests/s, latency)
#   new-conn       every request on a new TLS connection (handshakes/s)
#   thread models  mta-sts-host with 1 thread vs one per core (keep-alive)
# Loopback only. Usage: bash bench/https_vs_nginx.sh [SECONDS] (default 10)
# Not part of the test suite: timings are for the closing notes.
set -euo pipefail
secs=${1:-10}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${MTA_STS_HOST:-$here/build/mta-sts-host}
export SRCDIR=$here MTA_STS_HOST=$bin
. "$here/tests/e2e/lib.sh"
e2e_init
apt_install wrk nginx-light gnutls-bin curl
t=$E2E_TMP

make_ca "$t/ca" >/dev/null
mkdir -p "$t/certs" "$t/policy" "$t/www/.well-known"
make_cert "$t/ca" "$t/certs/example.com" ecdsa mta-sts.example.com >/dev/null
rm -f "$t/certs/example.com.pem"
cp "$SRCDIR/policy/mta-sts.txt" "$t/policy/mta-sts.txt"
"$bin" validate "$t/policy/mta-sts.txt" >/dev/null 2>&1
# nginx serves the same bytes mta-sts-host serves (CRLF form).
sed 's/$/\r/' "$t/policy/mta-sts.txt" >"$t/www/.well-known/mta-sts.txt"

p_host=$(free_port)
p_http=$(free_port)
p_nginx=$(free_port)
cat >"$t/nginx.conf" <<NGINX
user root;
worker_processes auto;
pid $t/nginx.pid;
error_log $t/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    server {
        listen 127.0.0.1:$p_nginx ssl;
        server_name mta-sts.example.com;
        ssl_certificate $t/certs/example.com.crt;
        ssl_certificate_key $t/certs/example.com.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache off;
        ssl_session_tickets off;
        root $t/www;
        location = /.well-known/mta-sts.txt { default_type text/plain; }
    }
}
NGINX
nginx -c "$t/nginx.conf"
e2e_on_exit "kill \$(cat $t/nginx.pid) 2>/dev/null"

start_host() { # THREADS
    printf 'limits:\n  threads: %s\n  max_connections: 4096\n  max_connections_per_ip: 4096\nlog:\n  access: false\n' \
        "$1" >"$t/config.yaml"
    host_start "$t/host.log" "http://127.0.0.1:$p_http/healthz" serve \
        -c "$t/config.yaml" --domain example.com --policy-dir "$t/policy" \
        --cert-dir "$t/certs" --https "127.0.0.1:$p_host" \
        --http "127.0.0.1:$p_http"
}

url() { echo "https://mta-sts.example.com:$1/.well-known/mta-sts.txt"; }
# wrk cannot --resolve; the Host header carries the name and SNI falls back
# to the default certificate, which is the same one.
run_wrk() { # LABEL PORT EXTRA...
    local label=$1 port=$2
    shift 2
    local out
    out=$(wrk -t2 -c32 -d"${secs}s" --latency -H "Host: mta-sts.example.com" \
        "$@" "https://127.0.0.1:$port/.well-known/mta-sts.txt")
    local rps p50 p99 errs
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    errs=$(grep -E "Non-2xx|Socket errors" <<<"$out" | tr '\n' ' ' || true)
    printf '%-34s %12s req/s   p50 %8s   p99 %8s  %s\n' "$label" "$rps" \
        "$p50" "$p99" "$errs"
}

# Sanity: both serve identical bytes with full verification.
start_host 0
a=$(hurl --cacert "$t/ca/ca.pem" --resolve "mta-sts.example.com:$p_host:127.0.0.1" "$(url "$p_host")" | sha256sum)
b=$(hurl --cacert "$t/ca/ca.pem" --resolve "mta-sts.example.com:$p_nginx:127.0.0.1" "$(url "$p_nginx")" | sha256sum)
[ "$a" = "$b" ] || { echo "bodies differ: $a vs $b" >&2; cat "$t/host.log" >&2; exit 1; }

echo "# $(nproc) cores, wrk -t2 -c32 -d${secs}s, ECDSA P-256, TLS 1.3"
run_wrk "mta-sts-host keep-alive" "$p_host"
run_wrk "nginx keep-alive" "$p_nginx"
run_wrk "mta-sts-host new connection each" "$p_host" -H "Connection: close"
run_wrk "nginx new connection each" "$p_nginx" -H "Connection: close"
host_stop "$HOST_PID" >/dev/null
echo "# threading model (keep-alive)"
for threads in 1 2 4; do
    start_host "$threads"
    run_wrk "mta-sts-host threads=$threads" "$p_host"
    run_wrk "mta-sts-host threads=$threads new-conn" "$p_host" -H "Connection: close"
    host_stop "$HOST_PID" >/dev/null
done
echo "# RSS of mta-sts-host after the runs: see /proc; nginx workers: $(pgrep -c nginx)"
