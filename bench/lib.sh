# shellcheck shell=bash
# lib.sh: helpers the benchmarks share (sourced by compare.sh, scale.sh
# and tlsrpt.sh): logging, the processes they start, CPU and memory of a
# set of processes, free loopback ports, installing Debian packages,
# building the host and the benchmark clients, the nginx that serves one
# policy. Each caller sets START, T (its temporary
# directory) and OURS (the pids to stop).

say() { printf '[%4ds] %s\n' $((SECONDS - START)) "$*" >&2; }

die() { say "ERROR: $*"; exit 1; }

# alive PID: PID exists and is not a zombie.
alive() {
    local line
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    line=${line##*) }
    [ "${line%% *}" != Z ]
}

forget() {
    local keep=() p
    for p in "${OURS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    OURS=("${keep[@]}")
}

# cpu_ticks PID...: utime+stime (clock ticks) summed over PIDs.
cpu_ticks() {
    local p line sum=0 f
    for p in "$@"; do
        { read -r line <"/proc/$p/stat"; } 2>/dev/null || continue
        read -r -a f <<<"${line##*) }"
        sum=$((sum + f[11] + f[12]))
    done
    echo "$sum"
}

# mem_kb PID...: "RSS PSS" in KiB summed over PIDs.
mem_kb() {
    local p files=()
    for p in "$@"; do files+=("/proc/$p/smaps_rollup"); done
    awk '$1 == "Rss:" { r += $2 } $1 == "Pss:" { s += $2 }
         END { printf "%d %d\n", r, s }' "${files[@]}" 2>/dev/null
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: an unused loopback port below the ephemeral range, never one
# handed out before in this run.
free_port() {
    local p i lo=20000 hi
    read -r hi _ </proc/sys/net/ipv4/ip_local_port_range || hi=32768
    [ "$hi" -gt $((lo + 1000)) ] || lo=1024
    for ((i = 0; i < 200; i++)); do
        p=$((lo + RANDOM % (hi - lo)))
        grep -qx "$p" "$T/ports" 2>/dev/null && continue
        port_in_use "$p" && continue
        echo "$p" >>"$T/ports"
        echo "$p"
        return 0
    done
    return 1
}

apt_install() {
    local missing=("$@") rcd=/usr/sbin/policy-rc.d own_rcd='' rc=0
    [ ${#missing[@]} -gt 0 ] || return 0
    [ "$(id -u)" = 0 ] || die "need root to install ${missing[*]} (or install them and use --no-install)"
    say "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # nginx and caddy ship services; a benchmark machine must not start
    # them.
    if [ ! -e "$rcd" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$rcd" && chmod 755 "$rcd" && own_rcd=1
    fi
    local opts=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=300)
    if ! timeout 900 apt-get install "${opts[@]}" "${missing[@]}" >"$T/apt.log" 2>&1; then
        timeout 300 apt-get update -q >>"$T/apt.log" 2>&1
        timeout 900 apt-get install "${opts[@]}" "${missing[@]}" >>"$T/apt.log" 2>&1 || rc=1
    fi
    [ -n "$own_rcd" ] && rm -f "$rcd"
    [ "$rc" = 0 ] || { tail -n 20 "$T/apt.log" >&2; die "apt-get install failed"; }
}

# stat_busy: "BUSY TOTAL" clock ticks of the whole machine from /proc/stat.
stat_busy() {
    local us ni sy id io irq sirq st
    read -r _ us ni sy id io irq sirq st _ </proc/stat
    echo "$((us + ni + sy + irq + sirq + st)) $((us + ni + sy + irq + sirq + st + id + io))"
}

# build_host: unless HOST_BIN is set already, builds mta-sts-host (Release)
# in $BUILD_DIR from $SRC and sets HOST_BIN to it; then sets ALLOW_ROOT to
# the flag the host needs to run as root here (empty otherwise).
build_host() {
    if [ -z "$HOST_BIN" ]; then
        say "building mta-sts-host (Release) in $BUILD_DIR"
        { cmake -S "$SRC" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
            -DBUILD_TESTING=OFF && cmake --build "$BUILD_DIR" -j "$(nproc)" \
            --target mta-sts-host; } >"$T/build.log" 2>&1 ||
            { tail -n 30 "$T/build.log" >&2; die "build failed"; }
        HOST_BIN=$BUILD_DIR/mta-sts-host
    fi
    [ -x "$HOST_BIN" ] || die "no mta-sts-host at $HOST_BIN"
    ALLOW_ROOT=()
    # The help read whole first: grep -q stops early, and under pipefail
    # the help's SIGPIPE would fail the test.
    if [ "$(id -u)" = 0 ] && grep -q -- '--allow-root' <<<"$("$HOST_BIN" --help 2>&1)"; then
        ALLOW_ROOT=(--allow-root)
    fi
}

# build_tool NAME OUT: compiles the client bench/NAME.c (GnuTLS, threads)
# into OUT, replacing it only once the build succeeded.
build_tool() {
    # shellcheck disable=SC2046 # pkg-config prints several words
    cc -std=c11 -O2 -Wall -Wextra -pthread -o "$2.new" "$SRC/bench/$1.c" \
        $(pkg-config --cflags --libs gnutls) >"$T/$1.log" 2>&1 ||
        { cat "$T/$1.log" >&2; die "cannot build bench/$1.c"; }
    mv -f "$2.new" "$2" || die "cannot install $2"
}

# nginx_conf_head DIR: the opening of a benchmark nginx.conf, up to and
# into its http block: one worker per core, the pid, the error log and
# the temporary files in DIR, no access log. Run as root, its workers stay
# root, so that they can read a temporary directory only root may enter.
nginx_conf_head() {
    local dir=$1
    mkdir -p "$dir/tmp"
    if [ "$(id -u)" = 0 ]; then echo "user root;"; fi
    cat <<CONF
daemon off;
worker_processes $(nproc);
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
CONF
}

# nginx_policy_conf DIR PORT NAME CRT KEY POLICY: DIR/nginx.conf and DIR/www for
# an nginx (nginx_conf_head, TLS 1.2 and 1.3, session tickets and cache)
# that serves the file POLICY as https://NAME:PORT/.well-known/mta-sts.txt,
# the reference the benchmarks share.
nginx_policy_conf() {
    local dir=$1 port=$2 name=$3 crt=$4 key=$5 policy=$6
    mkdir -p "$dir/www/.well-known"
    cp "$policy" "$dir/www/.well-known/mta-sts.txt"
    {
        nginx_conf_head "$dir"
        cat <<CONF
    # Keep-alive means keep-alive: no reconnect every 1000 requests.
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:$port ssl;
        server_name $name;
        ssl_certificate $crt;
        ssl_certificate_key $key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets on;
        ssl_session_cache shared:SSL:10m;
        root $dir/www;
        location = /.well-known/mta-sts.txt {
            types { }
            default_type text/plain;
        }
    }
}
CONF
    } >"$dir/nginx.conf"
}
