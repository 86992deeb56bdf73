#!/usr/bin/env bash
# test_docker.sh: the shipped deployment artefacts, end to end. Builds the
# image from SRCDIR's Dockerfile (building the debian:bookworm-slim base
# with debootstrap first when no registry is reachable), runs it with
# SRCDIR/deploy/docker-compose.yml on free loopback ports with a temporary
# policy, test CA and certificate, and checks what a mail admin relies on:
# healthy, the policy fetched with full TLS verification byte for byte with
# its ETag, in-place edits going live with the new TXT id in the logs, bad
# edits refused with file:line:col while the old policy stays up, non-root
# with a read-only root file system, and a clean SIGTERM stop with exit 0.
# Also: `systemd-analyze verify` of the systemd unit, and the syntax of the
# Kubernetes manifests and the compose file.
#
# Runs as root on a Debian 12 machine; installs docker.io, docker-compose,
# debootstrap, curl and gnutls-bin (certtool, for lib.sh's test CA) when
# missing and starts dockerd when none answers (and stops it again). Env:
# SRCDIR (repo), MTA_STS_HOST (built binary, needed by lib.sh's e2e_init and
# for the systemd check), KEEP=1 keeps the temp dir and images,
# MTA_STS_SKIP_DOCKER=1 skips everything (for machines without root).
# Helpers below are run through check/wait_until and lib.sh's exit hooks,
# which shellcheck cannot see.
# shellcheck disable=SC2317
set -u -o pipefail

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MTA_STS_HOST=${MTA_STS_HOST:-$SRCDIR/build/mta-sts-host}
# shellcheck source-path=SCRIPTDIR source=lib_docker.sh
. "$SRCDIR/tests/e2e/lib_docker.sh"

if [ "${MTA_STS_SKIP_DOCKER:-0}" = 1 ]; then
    log "SKIP: MTA_STS_SKIP_DOCKER=1"
    exit 77 # ctest reports this as skipped, never as passed
fi

T0=$SECONDS
# e2e_init clears the proxy variables (the other tests talk only to
# loopback); this one also reaches apt's mirrors and registries through
# apt, debootstrap and the dockerd it starts, so it keeps the caller's. Its
# own requests to loopback go through lib.sh's hurl (--noproxy '*').
proxy_env=$(export -p | grep -E '^declare -x (https?_proxy|HTTPS?_PROXY|ALL_PROXY|all_proxy|NO_PROXY|no_proxy)=')
e2e_init
unset NO_PROXY no_proxy
eval "$proxy_env"
[ "${KEEP:-0}" = 1 ] && E2E_KEEP_TMP=1

ID="e2e$$$RANDOM"
TMP=$E2E_TMP
IMAGE="mta-sts-host-test:$ID"
BUILD_IMAGE="mta-sts-host-test-build:$ID"
PROJECT="mtasts$ID"
COMPOSE_FILE="$SRCDIR/deploy/docker-compose.yml"
ENV_FILE=/dev/null # the test's .env, written below
DOMAIN=example.com
HOST="mta-sts.$DOMAIN"
SYSTEMD_IMAGE="mta-sts-host-test-systemd:$ID"
SYSTEMD_CID=
COMPOSE=
CID=

# docker_cleanup: run at exit by lib.sh's cleanup (which then removes the
# temp dir unless KEEP=1): the containers, the images and the dockerd this
# script started.
docker_cleanup() {
    if [ -n "$COMPOSE" ]; then
        $COMPOSE --env-file "$ENV_FILE" -f "$COMPOSE_FILE" -p "$PROJECT" \
            down -t 5 --remove-orphans
    fi
    [ -n "$SYSTEMD_CID" ] && docker rm -f "$SYSTEMD_CID"
    [ "${KEEP:-0}" = 1 ] ||
        docker rmi -f "$IMAGE" "$BUILD_IMAGE" "$SYSTEMD_IMAGE"
    stop_dockerd
}
e2e_on_exit docker_cleanup
# finish: the run time, then lib.sh's "N passed, M failed" line and exit
# status (1 when anything failed).
finish() {
    [ "${KEEP:-0}" = 1 ] &&
        log "kept the images $IMAGE $BUILD_IMAGE $SYSTEMD_IMAGE (KEEP=1)"
    log "docker e2e took $((SECONDS - T0)) s"
    e2e_finish
}

# ---------------------------------------------------------------- tools --
if ! apt_install docker.io docker-compose debootstrap curl gnutls-bin \
        ca-certificates systemd; then
    fail "install docker.io docker-compose debootstrap curl gnutls-bin"
    finish
fi

# ------------------------------------------------------- static checks --
# systemd unit: verify a copy whose ExecStart points at the built binary
# (verify insists that the command exists and is executable).
if command -v systemd-analyze >/dev/null && [ -x "$MTA_STS_HOST" ]; then
    mkdir -p "$TMP/unit"
    sed "s#/usr/local/bin/mta-sts-host#$MTA_STS_HOST#g" \
        "$SRCDIR/deploy/systemd/mta-sts-host.service" \
        >"$TMP/unit/mta-sts-host.service"
    if (cd "$TMP/unit" && systemd-analyze verify mta-sts-host.service) \
            >"$TMP/verify.log" 2>&1 && ! [ -s "$TMP/verify.log" ]; then
        pass "systemd-analyze verify deploy/systemd/mta-sts-host.service"
    else
        cat "$TMP/verify.log"
        fail "systemd-analyze verify deploy/systemd/mta-sts-host.service"
    fi
    systemd-analyze security --offline=true "$TMP/unit/mta-sts-host.service" \
        2>/dev/null | grep 'Overall exposure' | sed 's/^/#   systemd /'
else
    fail "systemd-analyze or $MTA_STS_HOST missing"
fi

# Kubernetes manifests: parse every document, check kinds and the pieces
# the README promises (PyYAML is optional on a fresh machine).
if python3 -c 'import yaml' 2>/dev/null; then
    check "deploy/kubernetes/*.yaml parse and hold the promised settings" \
        python3 - "$SRCDIR/deploy/kubernetes" <<'EOF'
import glob, sys, yaml
docs = {}
for f in sorted(glob.glob(sys.argv[1] + "/*.yaml")):
    for d in yaml.safe_load_all(open(f)):
        if d:
            docs[d["kind"]] = d
for k in ("Deployment", "Service", "ConfigMap"):
    assert k in docs, k
dep = docs["Deployment"]["spec"]
assert dep["replicas"] == 2
pod = dep["template"]["spec"]
c = pod["containers"][0]
assert c["readinessProbe"]["httpGet"]["path"] == "/healthz"
assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
assert c["securityContext"]["readOnlyRootFilesystem"] is True
assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
assert pod["securityContext"]["runAsNonRoot"] is True
mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
vols = {v["name"]: v for v in pod["volumes"]}
assert "configMap" in vols[mounts["/policy"]]
items = {i["key"]: i["path"] for i in vols[mounts["/certs"]]["secret"]["items"]}
assert items == {"tls.crt": "mta-sts.crt", "tls.key": "mta-sts.key"}, items
assert "mta-sts.txt" in docs["ConfigMap"]["data"]
# /metrics and /status (every domain) on a port of their own, not published.
assert c["args"][c["args"].index("--metrics") + 1] == "[::]:9100"
assert {"name": "metrics", "containerPort": 9100, "protocol": "TCP"} in c["ports"]
published = {p["targetPort"] for p in docs["Service"]["spec"]["ports"]}
assert published == {"https", "http"}, published
EOF
else
    log "  (PyYAML not available: Kubernetes manifests not parsed)"
fi

# ---------------------------------------------------------------- engine --
if ! ensure_dockerd; then
    fail "a Docker engine answers"
    finish
fi
pass "a Docker engine answers ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
if ! COMPOSE=$(compose_cmd); then
    fail "docker-compose or docker compose available"
    finish
fi
log "  compose: $COMPOSE ($($COMPOSE version --short 2>/dev/null || true))"
# shellcheck disable=SC2086 # "docker compose" is two words
check "docker-compose.yml is valid for $COMPOSE" \
    $COMPOSE -f "$COMPOSE_FILE" config -q

# ----------------------------------------------------------------- image --
t=$SECONDS
if ! bash "$SRCDIR/deploy/build-base-image.sh" debian:bookworm-slim \
        2>"$TMP/base.log"; then
    cat "$TMP/base.log"
    fail "base image debian:bookworm-slim available"
    finish
fi
sed 's/^/#   /' "$TMP/base.log"
check "build-base-image.sh says which image it used and what it is" \
    grep -Eq '^build-base-image: using debian:bookworm-slim \((already present|pulled|built now)[^)]*\): .*[0-9]+ MB' "$TMP/base.log"
log "  base image ready in $((SECONDS - t)) s"

# Build from a snapshot of SRCDIR so that both builds below see the same
# sources even while someone edits the tree (and no cache image of a
# half-edited tree is left behind untagged).
mkdir -p "$TMP/ctx"
tar -C "$SRCDIR" --exclude=./.git --exclude='./build*' -c . |
    tar -C "$TMP/ctx" -x
# docker_build ARGS...: build the snapshot; if the build's apt cannot reach
# the mirror over the bridge network, retry on the host's network.
docker_build() {
    if docker build -q --force-rm "$@" "$TMP/ctx" >"$TMP/build.log" 2>&1; then
        return 0
    fi
    grep -Eq 'Temporary failure resolving|Could not resolve|Failed to fetch|Unable to connect|unreachable' \
        "$TMP/build.log" || return 1
    log "  apt failed on the bridge network; retrying with --network host"
    tail -n 5 "$TMP/build.log"
    docker build -q --force-rm --network host "$@" "$TMP/ctx" \
        >"$TMP/build.log" 2>&1
}
t=$SECONDS
# The build stage gets its own tag so that cleanup removes it too.
if docker_build --target build -t "$BUILD_IMAGE" &&
        docker_build -t "$IMAGE"; then
    pass "docker build ($((SECONDS - t)) s)"
else
    tail -n 40 "$TMP/build.log"
    fail "docker build"
    finish
fi
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
log "  image $IMAGE: $((size / 1000000)) MB ($size bytes)"

# ------------------------------------------------- test CA, cert, policy --
mkdir -p "$TMP/policy" "$TMP/certs"
# lib.sh's test CA; the leaf is $TMP/ca/leaf.crt (leaf then CA) + .key.
if ! make_ca "$TMP/ca" || ! make_cert "$TMP/ca" "$TMP/ca/leaf" ecdsa "$HOST"; then
    fail "test CA and certificate for $HOST (certtool)"
    finish
fi
cp "$TMP/ca/leaf.crt" "$TMP/certs/mta-sts.crt"
# A config file of its own, chosen through the .env file: it adds a
# domain (without a certificate), which /status then lists.
mkdir -p "$TMP/config"
printf 'domains: [%s, example.org]\n' "$DOMAIN" >"$TMP/config/config.yaml"
chmod 0755 "$TMP/config"
chmod 0644 "$TMP/config/config.yaml"
cp "$TMP/ca/leaf.key" "$TMP/certs/mta-sts.key"
# The container's uid 10001 reads the bind mounts.
chmod 0755 "$TMP/policy" "$TMP/certs"
chmod 0644 "$TMP/certs/"*

POLICY1='version: STSv1
mode: testing
mx: mail.example.com
max_age: 86400'
POLICY2='version: STSv1
mode: enforce
mx: mail.example.com
mx: *.backup.example.net
max_age: 604800'
BAD='version: STSv1
mode: enforced
mx: mail.example.com
max_age: 604800'
printf '%s\n' "$POLICY1" >"$TMP/policy/mta-sts.txt"
chmod 0644 "$TMP/policy/mta-sts.txt"
# What must be served: the same lines, each ended by CRLF.
crlf() { printf '%s\n' "$1" | sed 's/$/\r/'; }
crlf "$POLICY1" >"$TMP/expect1"
crlf "$POLICY2" >"$TMP/expect2"

# ------------------------------------------------------------------- up --
HTTPS_PORT=$(free_port)
HTTP_PORT=$(free_port)
METRICS_PORT=$(free_port)
# Nothing from the environment: every variable of deploy/.env.example is
# set here, to a value that differs from its default (the project name
# too, so no -p below).
unset COMPOSE_PROJECT_NAME MTA_STS_IMAGE MTA_STS_HTTPS_PUBLISH \
    MTA_STS_HTTP_PUBLISH MTA_STS_METRICS_PUBLISH MTA_STS_PUBLIC_HTTPS_PORT \
    MTA_STS_POLICY_DIR MTA_STS_CERT_DIR MTA_STS_CONFIG MTA_STS_ACME_EMAIL \
    MTA_STS_ACME_AGREE_TOS MTA_STS_ACME_DIRECTORY MTA_STS_ACME_CHALLENGES \
    MTA_STS_ACME_KEY_TYPE
ENV_FILE=$TMP/test.env
cat >"$ENV_FILE" <<ENV
COMPOSE_PROJECT_NAME=$PROJECT
MTA_STS_IMAGE=$IMAGE
MTA_STS_HTTPS_PUBLISH=127.0.0.1:$HTTPS_PORT
MTA_STS_HTTP_PUBLISH=127.0.0.1:$HTTP_PORT
MTA_STS_METRICS_PUBLISH=127.0.0.1:$METRICS_PORT
MTA_STS_PUBLIC_HTTPS_PORT=$HTTPS_PORT
MTA_STS_POLICY_DIR=$TMP/policy
MTA_STS_CERT_DIR=$TMP/certs
MTA_STS_CONFIG=$TMP/config/config.yaml
# ACME off: no CA is reachable from here (tests/e2e/test_acme*.sh prove
# it against Pebble); empty values must count as not set.
MTA_STS_ACME_EMAIL=
MTA_STS_ACME_AGREE_TOS=
MTA_STS_ACME_DIRECTORY=
MTA_STS_ACME_CHALLENGES=
MTA_STS_ACME_KEY_TYPE=
BASE_IMAGE=debian:bookworm-slim
ENV
# .env.example and the README's table name every variable the compose file
# uses, and the test's file sets each of them.
compose_vars=$(grep -oE '[$][{][A-Z_]+' "$COMPOSE_FILE" | cut -c3- | sort -u)
for v in $compose_vars COMPOSE_PROJECT_NAME; do
    check "deploy/.env.example sets $v" grep -q "^$v=" "$SRCDIR/deploy/.env.example"
    check "README's table lists $v" grep -q "^| \`$v\`" "$SRCDIR/README.md"
    check "the test's .env sets $v" grep -q "^$v=" "$ENV_FILE"
done
dc() { $COMPOSE --env-file "$ENV_FILE" -f "$COMPOSE_FILE" "$@"; }
dclogs() { dc logs --no-color mta-sts 2>&1; }

if ! dc up -d --no-build >"$TMP/up.log" 2>&1; then
    cat "$TMP/up.log"
    fail "$COMPOSE up -d"
    finish
fi
pass "$COMPOSE up -d (https 127.0.0.1:$HTTPS_PORT, http 127.0.0.1:$HTTP_PORT)"
CID=$(dc ps -q mta-sts)
state() { docker inspect -f "$1" "$CID" 2>/dev/null; }
check "the project is named by the .env file ($PROJECT)" \
    [ "$(state '{{index .Config.Labels "com.docker.compose.project"}}')" = "$PROJECT" ]
check "the image is the .env file's ($IMAGE)" [ "$(state '{{.Config.Image}}')" = "$IMAGE" ]

is_healthy() {
    local s
    s=$(state '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}')
    case $s in
    "running healthy") return 0 ;;
    running*) return 1 ;;
    *) return 2 ;;
    esac
}
# Stop waiting early if the container exited or restarts.
healthy_or_dead() {
    is_healthy
    local rc=$?
    [ "$rc" -ne 1 ]
}
t=$SECONDS
wait_until 60 healthy_or_dead
if is_healthy; then
    pass "container healthy after $((SECONDS - t)) s"
else
    dclogs | tail -n 30
    fail "container healthy within 60 s ($(state '{{.State.Status}} {{.State.Health.Status}}'))"
    finish
fi

# fetch N: GET the policy with full verification against the test CA into
# $TMP/body.N and the response headers into $TMP/hdr.N.
fetch() {
    hurl -S --max-time 5 --proto =https --cacert "$TMP/ca/ca.pem" \
        --resolve "$HOST:$HTTPS_PORT:127.0.0.1" \
        -D "$TMP/hdr.$1" -o "$TMP/body.$1" \
        "https://$HOST:$HTTPS_PORT/.well-known/mta-sts.txt"
}
# etag N: the ETag of response N without quotes.
etag() {
    tr -d '\r' <"$TMP/hdr.$1" |
        sed -n 's/^[Ee][Tt][Aa][Gg]:[[:space:]]*\(W\/\)\{0,1\}"\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$/\2/p'
}
status() { head -n1 "$TMP/hdr.$1" | awk '{print $2}'; }
# txt_logged ID: the logs show the TXT record with that id.
txt_logged() {
    dclogs | grep -Eq "_mta-sts\.$DOMAIN\.[[:space:]]+([0-9]+[[:space:]]+)?(IN[[:space:]]+)?TXT[[:space:]]+\"v=STSv1; id=$1\""
}

# ---------------------------------------------------------- first fetch --
if fetch 1 && [ "$(status 1)" = 200 ]; then
    pass "GET https://$HOST/.well-known/mta-sts.txt verified against the test CA: 200"
else
    fail "GET policy over verified HTTPS (status $(status 1 2>/dev/null))"
fi
check "body is the policy, byte for byte with CRLF line ends" \
    cmp -s "$TMP/expect1" "$TMP/body.1"
ID1=$(etag 1)
check "ETag is a policy id ($ID1)" \
    grep -Eq '^[A-Za-z0-9]{1,32}$' <<<"$ID1"
if wait_until 10 txt_logged "$ID1"; then
    pass "logs show _mta-sts.$DOMAIN. IN TXT \"v=STSv1; id=$ID1\""
else
    fail "logs show _mta-sts.$DOMAIN. IN TXT \"v=STSv1; id=$ID1\""
    dclogs | tail -n 30
fi
check "Content-Type: text/plain" \
    grep -iq '^content-type: text/plain' "$TMP/hdr.1"
hc=$(hurl -S --max-time 5 -o "$TMP/hz.1" -w '%{http_code}' \
    "http://127.0.0.1:$HTTP_PORT/healthz" 2>/dev/null)
check "GET http://127.0.0.1:$HTTP_PORT/healthz (published port 80 mapping): 200" \
    [ "$hc" = 200 ]
hurl -S --max-time 5 -o "$TMP/status.json" "http://127.0.0.1:$METRICS_PORT/status"
check "the config file chosen in .env is the one served (/status lists example.org)" \
    grep -q '"example.org"' "$TMP/status.json"
hc=$(hurl -S --max-time 5 -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$HTTP_PORT/status" 2>/dev/null)
check "/status is not on the published HTTP port ($hc), only on the metrics one" \
    [ "$hc" = 404 ]
hc=$(hurl -S --max-time 5 -o "$TMP/metrics.txt" -w '%{http_code}' \
    "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null)
check "/metrics on MTA_STS_METRICS_PUBLISH: 200" [ "$hc" = 200 ]
# The named volume is the state directory: reports are received into it.
state_db() { docker exec "$CID" sh -c 'ls /var/lib/mta-sts-host/tlsrpt-*.sqlite3' >/dev/null 2>&1; }
check "the state volume holds the report database" wait_until 10 state_db
check "the host says it receives TLS reports" \
    bash -c 'grep -q "TLS reports: receiving" <<<"$1"' _ "$(dclogs)"
try_hint_ok() {
    dclogs | grep -q "try: curl.* https://$HOST:$HTTPS_PORT/" &&
        ! dclogs | grep -q "try: curl.*:8443"
}
check "the try: hint names the published port $HTTPS_PORT, not 8443" try_hint_ok
# example.org (from the config, no certificate) is listed and unwell.
check_contains "/healthz: degraded by the uncovered example.org, counts only" \
    '{"status":"degraded","domains":2,"servable":1,"unwell":1,"problems":0,' \
    "$(cat "$TMP/hz.1" 2>/dev/null)"

# --------------------------------------------------------- in-place edit --
# `cat >` truncates and rewrites the same inode, as `echo >` does.
serves() { fetch "$1" && cmp -s "$2" "$TMP/body.$1"; }
t=$SECONDS
printf '%s\n' "$POLICY2" | cat >"$TMP/policy/mta-sts.txt"
if wait_until 20 serves 2 "$TMP/expect2"; then
    pass "edited policy served after $((SECONDS - t)) s"
else
    fail "edited policy served within 20 s"
    dclogs | tail -n 20
fi
ID2=$(etag 2)
differs() { [ -n "$1" ] && [ -n "$2" ] && [ "$1" != "$2" ]; }
check "new ETag differs ($ID1 -> $ID2)" differs "$ID1" "$ID2"
check "logs show the new TXT record id=$ID2" \
    wait_until 5 txt_logged "$ID2"

# -------------------------------------------------------------- bad edit --
printf '%s\n' "$BAD" >"$TMP/policy/mta-sts.txt"
bad_logged() { dclogs | grep -Eq 'mta-sts\.txt:2:[0-9]+'; }
if wait_until 20 bad_logged; then
    pass "bad edit logged with mta-sts.txt:LINE:COL: $(dclogs | grep -Eo 'mta-sts\.txt:2:[0-9]+[^"]*' | tail -n1)"
else
    fail "bad edit logged with mta-sts.txt:2:COL within 20 s"
    dclogs | tail -n 20
fi
sleep 1
ok=1
for i in 3 4 5; do
    serves "$i" "$TMP/expect2" && [ "$(etag "$i")" = "$ID2" ] || ok=0
    sleep 0.3
done
check "after the bad edit the last good policy is still served byte for byte" \
    [ $ok = 1 ]
# Every TXT record logged so far carries one of the two good ids.
only_good_ids() {
    local ids
    ids=$(dclogs | grep -o '"v=STSv1; id=[A-Za-z0-9]*"' | sort -u |
        grep -v -e "id=$ID1\"" -e "id=$ID2\"")
    [ -z "$ids" ] || { log "  unexpected: $ids"; return 1; }
}
check "no TXT record is logged for the bad policy" only_good_ids
check "container still running and healthy after the bad edit" is_healthy
# The refused edit degrades the instance (still 200, so no probe restarts
# it); the reason is on /status, on the metrics listener.
hc=$(hurl -S --max-time 5 -o "$TMP/hz.2" -w '%{http_code}' \
    "http://127.0.0.1:$HTTP_PORT/healthz" 2>/dev/null)
check "/healthz after the bad edit: 200" [ "$hc" = 200 ]
check_contains "/healthz after the bad edit: degraded, $DOMAIN now unwell too" \
    '"status":"degraded","domains":2,"servable":1,"unwell":2,' \
    "$(cat "$TMP/hz.2" 2>/dev/null)"
check_contains "/status after the bad edit: $DOMAIN keeps $ID2 and says why" \
    "\"policy_problem\":\"edit refused, still serving policy id $ID2: " \
    "$(hurl -S --max-time 5 "http://127.0.0.1:$METRICS_PORT/status" 2>/dev/null)"

no_trust_error() { ! dclogs | grep -q "no trusted certificates found"; }
check "the image's CA bundle loads as the system trust store" no_trust_error

# -------------------------------------------------------------- hardening --
pid=$(state '{{.State.Pid}}')
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status" 2>/dev/null)
check "image user is 10001:10001 ($(state '{{.Config.User}}'))" \
    [ "$(state '{{.Config.User}}')" = "10001:10001" ]
nonroot() { [ -n "$1" ] && ! grep -qw 0 <<<"$1"; }
check "server process runs as non-root uid (Uid: $uids)" nonroot "$uids"
check "server process has no capabilities" \
    grep -q '^CapEff:[[:space:]]*0*$' "/proc/$pid/status"
check "server process has no_new_privs" \
    grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$pid/status"
check "read-only root file system" \
    [ "$(state '{{.HostConfig.ReadonlyRootfs}}')" = true ]
check "restart policy unless-stopped" \
    [ "$(state '{{.HostConfig.RestartPolicy.Name}}')" = unless-stopped ]
check "published only on loopback" \
    [ -z "$(docker port "$CID" | grep -v ' 127\.0\.0\.1:')" ]

# ------------------------------------------------------------------ stop --
t=$SECONDS
dc stop >"$TMP/stop.log" 2>&1
took=$((SECONDS - t))
code=$(state '{{.State.ExitCode}}')
check "$COMPOSE stop: exit code $code (0 = graceful SIGTERM, 137 = killed)" \
    [ "$code" = 0 ]
check "stopped within the 15 s grace period ($took s)" [ "$took" -lt 15 ]
check "not OOM-killed" [ "$(state '{{.State.OOMKilled}}')" = false ]
if dc down -v -t 5 >"$TMP/down.log" 2>&1 &&
        [ -z "$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")" ]; then
    pass "$COMPOSE down removed the container"
else
    cat "$TMP/down.log"
    fail "$COMPOSE down"
fi

# --------------------------------------------------------- systemd unit --
# Run the unit for real under systemd 252 (Debian 12) as PID 1 of a
# container built on the same base: DynamicUser, the key read through the
# mta-sts group, CAP_NET_BIND_SERVICE on 443, the seccomp filter and
# MemoryDenyWriteExecute all have to let the server work. Booting systemd
# in a container needs CAP_SYS_ADMIN and the host's cgroups; where the
# engine refuses that, this part is skipped rather than failed.
mkdir -p "$TMP/sd/etc/policy" "$TMP/sd/etc/certs"
cp "$SRCDIR/deploy/systemd/mta-sts-host.service" "$TMP/sd/"
cp "$TMP/ca/leaf.crt" "$TMP/sd/etc/certs/mta-sts.crt"
cp "$TMP/ca/leaf.key" "$TMP/sd/etc/certs/mta-sts.key"
cp "$TMP/ca/ca.pem" "$TMP/sd/ca.pem"
printf '%s\n' "$POLICY1" >"$TMP/sd/etc/policy/mta-sts.txt"
printf '%s\n' "policy_dir: /etc/mta-sts-host/policy" \
    "cert_dir: /etc/mta-sts-host/certs" "domains: [$DOMAIN]" \
    'listen: { https: "[::]:443", http: "[::]:80" }' >"$TMP/sd/etc/config.yaml"
# The runtime libraries are the Dockerfile's runtime stage's, one list.
RUNTIME_PKGS=$(awk '/^FROM \$\{BASE_IMAGE\}$/ { rt = 1 }
    rt && /apt-get install/ { on = 1; next }
    on && /rm -rf/ { exit }
    on { gsub(/\\/, ""); print }' "$SRCDIR/Dockerfile" | xargs)
check "the runtime package list is read from the Dockerfile" \
    grep -q libmicrohttpd12 <<<"$RUNTIME_PKGS"
printf '%s\n' \
    "FROM $IMAGE AS app" \
    "FROM debian:bookworm-slim" \
    "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \\" \
    "      --no-install-recommends systemd systemd-sysv procps curl \\" \
    "      $RUNTIME_PKGS && rm -rf /var/lib/apt/lists/*" \
    "COPY --from=app /usr/local/bin/mta-sts-host /usr/local/bin/mta-sts-host" \
    "COPY mta-sts-host.service /etc/systemd/system/" \
    "COPY etc /etc/mta-sts-host" \
    "COPY ca.pem /ca.pem" \
    "# The install steps from the head of the unit file." \
    "RUN groupadd --system mta-sts \\" \
    " && chgrp mta-sts /etc/mta-sts-host/certs/mta-sts.key \\" \
    " && chmod 0640 /etc/mta-sts-host/certs/mta-sts.key \\" \
    " && systemctl enable mta-sts-host" \
    'CMD ["/sbin/init"]' >"$TMP/sd/Dockerfile"

sdx() { docker exec "$SYSTEMD_CID" "$@"; }
sd_active() { [ "$(sdx systemctl is-active mta-sts-host 2>/dev/null)" = active ]; }
sd_booted() {
    case $(sdx systemctl is-system-running 2>/dev/null) in
    running | degraded) return 0 ;;
    *) return 1 ;;
    esac
}
sd_fetch() {
    sdx curl -sS --max-time 5 --cacert /ca.pem \
        --resolve "$HOST:443:127.0.0.1" \
        "https://$HOST/.well-known/mta-sts.txt" >"$TMP/sd.body"
}
sd_serves() { wait_until 10 sd_fetch && cmp -s "$TMP/expect1" "$TMP/sd.body"; }
sd_sandboxed() {
    grep -q '^Seccomp:[[:space:]]*2' "$TMP/sd.status" &&
        grep -q '^NoNewPrivs:[[:space:]]*1' "$TMP/sd.status"
}
sd_reload() { sdx systemctl reload mta-sts-host && sd_active; }

t=$SECONDS
if ! docker build -q --force-rm -t "$SYSTEMD_IMAGE" "$TMP/sd" >"$TMP/sd.log" 2>&1; then
    tail -n 20 "$TMP/sd.log"
    fail "build a systemd test image"
elif ! SYSTEMD_CID=$(docker run -d --cap-add SYS_ADMIN \
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
        -v /sys/fs/cgroup:/sys/fs/cgroup:ro --tmpfs /run --tmpfs /run/lock \
        --tmpfs /tmp "$SYSTEMD_IMAGE" 2>"$TMP/sd.log") ||
        ! wait_until 30 sd_booted; then
    log "SKIP: systemd does not boot in a container on this engine: $(tail -n1 "$TMP/sd.log")"
else
    if wait_until 20 sd_active; then
        pass "systemd runs deploy/systemd/mta-sts-host.service ($((SECONDS - t)) s with image build)"
    else
        sdx journalctl -u mta-sts-host --no-pager -n 20 -o cat
        fail "systemd runs deploy/systemd/mta-sts-host.service"
    fi
    check "unit: policy on port 443 verified against the test CA, byte for byte" \
        sd_serves
    mpid=$(sdx systemctl show -p MainPID --value mta-sts-host)
    sdx cat "/proc/$mpid/status" >"$TMP/sd.status" 2>/dev/null
    sd_uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "$TMP/sd.status")
    check "unit: runs as a dynamic non-root user (Uid: $sd_uids)" \
        nonroot "$sd_uids"
    check "unit: only CAP_NET_BIND_SERVICE is effective" \
        grep -q '^CapEff:[[:space:]]*0*400$' "$TMP/sd.status"
    check "unit: seccomp filter and no_new_privs" sd_sandboxed
    check "unit: systemctl reload (ExecReload sends SIGHUP)" sd_reload
    sd_state() { sdx sh -c 'ls /var/lib/mta-sts-host/tlsrpt-*.sqlite3' >/dev/null 2>&1; }
    check "unit: its StateDirectory holds the report database" sd_state
    sdx systemctl stop mta-sts-host
    check "unit: systemctl stop, main process exit status 0" \
        [ "$(sdx systemctl show -p ExecMainStatus --value mta-sts-host)" = 0 ]
    docker rm -f "$SYSTEMD_CID" >/dev/null 2>&1
    SYSTEMD_CID=
fi

finish
