# shellcheck shell=bash
# lib_docker.sh: Docker helpers for tests/e2e/test_docker.sh (sourced, not
# run): getting a working Docker engine on a fresh Debian 12 machine (start
# dockerd in the background when none answers, stop it again) and finding
# Compose. The general bookkeeping (PASS/FAIL, e2e_init/e2e_finish, bounded
# waits, free ports, apt_install, the test CA) comes from lib.sh, sourced
# here. Nothing here talks to anything but loopback, the local Docker engine
# and apt's mirrors.

# shellcheck source=tests/e2e/lib.sh
. "$SRCDIR/tests/e2e/lib.sh"

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

# stop_dockerd: stop the dockerd this script started, if any: SIGTERM, up
# to 30 s to exit, then SIGKILL (lib.sh's host_stop).
stop_dockerd() {
    [ -n "$DOCKERD_PID" ] || return 0
    host_stop "$DOCKERD_PID" 30
    DOCKERD_PID=
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
