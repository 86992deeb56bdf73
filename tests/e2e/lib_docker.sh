# shellcheck shell=bash
# lib_docker.sh: helpers for tests/e2e/test_docker.sh (sourced, not run):
# PASS/FAIL bookkeeping, bounded waits, free loopback ports, and getting a
# working Docker engine on a fresh Debian 12 machine (install the packages,
# start dockerd in the background when none answers). Nothing here talks
# to anything but loopback, the local Docker engine and apt's mirrors.

N_PASS=0
N_FAIL=0

log() { printf '%s\n' "$*"; }
pass() { N_PASS=$((N_PASS + 1)); printf 'PASS: %s\n' "$*"; }
fail() { N_FAIL=$((N_FAIL + 1)); printf 'FAIL: %s\n' "$*"; }

# check DESCRIPTION COMMAND...: PASS when the command succeeds.
check() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# wait_until SECONDS COMMAND...: run COMMAND every 0.5 s until it succeeds
# or SECONDS have passed (at most 2*SECONDS+1 tries). Returns its status.
wait_until() {
    local limit=$1 tries i
    shift
    tries=$((limit * 2 + 1))
    local deadline=$((SECONDS + limit))
    for ((i = 0; i < tries; i++)); do
        if "$@"; then return 0; fi
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.5
    done
    return 1
}

# port_in_use PORT: something listens on 127.0.0.1:PORT.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port: print a TCP port on loopback that nothing listens on.
free_port() {
    local p i
    for ((i = 0; i < 50; i++)); do
        p=$((20000 + RANDOM % 40000))
        if ! port_in_use "$p"; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    return 1
}

# apt_install PKG...: install the Debian packages not yet installed.
apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || { log "need root to install ${missing[*]}"; return 1; }
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" \
            >/tmp/mta-sts-e2e-apt.log 2>&1; then
        timeout 300 apt-get update -q >>/tmp/mta-sts-e2e-apt.log 2>&1
        apt-get install -y -q --no-install-recommends "${missing[@]}" \
            >>/tmp/mta-sts-e2e-apt.log 2>&1 ||
            { tail -n 20 /tmp/mta-sts-e2e-apt.log; return 1; }
    fi
}

# ensure_dockerd: make `docker info` answer, starting dockerd in the
# background if needed (its pid goes into DOCKERD_PID, its log into
# DOCKERD_LOG). Waits at most 60 s.
DOCKERD_PID=
DOCKERD_LOG=/tmp/mta-sts-e2e-dockerd.log
ensure_dockerd() {
    docker info >/dev/null 2>&1 && return 0
    command -v dockerd >/dev/null || { log "dockerd not found"; return 1; }
    log "starting dockerd (log: $DOCKERD_LOG)"
    # setsid: a ctest timeout killing our process group must not take the
    # engine down with containers still in it; cleanup stops it by pid.
    setsid dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
    DOCKERD_PID=$!
    if ! wait_until 60 docker info >/dev/null 2>&1; then
        tail -n 30 "$DOCKERD_LOG"
        return 1
    fi
}

# stop_dockerd: stop the dockerd this script started, if any (bounded).
stop_dockerd() {
    [ -n "$DOCKERD_PID" ] || return 0
    kill -TERM "$DOCKERD_PID" 2>/dev/null || return 0
    local i
    for ((i = 0; i < 60; i++)); do
        kill -0 "$DOCKERD_PID" 2>/dev/null || return 0
        sleep 0.5
    done
    kill -KILL "$DOCKERD_PID" 2>/dev/null
}

# compose_cmd: print how to call Compose: docker-compose (v1, Debian 12's
# package) or the docker compose v2 plugin. COMPOSE in the environment
# overrides.
compose_cmd() {
    if [ -n "${COMPOSE:-}" ]; then
        printf '%s\n' "$COMPOSE"
    elif command -v docker-compose >/dev/null; then
        printf '%s\n' docker-compose
    elif docker compose version >/dev/null 2>&1; then
        printf '%s\n' "docker compose"
    else
        return 1
    fi
}
