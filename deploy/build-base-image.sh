#!/usr/bin/env bash
# build-base-image.sh: make the Dockerfile's base image available on a
# machine that cannot pull from a container registry (air-gapped builds, CI
# behind a firewall). If IMAGE (default debian:bookworm-slim) is already in
# the local Docker engine it is checked, not trusted: it must be Debian 12
# (bookworm) inside, and the script says what it found (built by this
# script, per its label, or some other image: its size, its creation date)
# and warns when it is far larger than a slim image. Otherwise, if `docker
# pull` can fetch it, that is used. Else a minimal Debian 12 root file
# system is made with debootstrap from the Debian mirror this machine's apt
# already uses, trimmed the way the official "-slim" images are, and
# imported under IMAGE with `docker import`, labelled
# io.mta-sts-host.base-image.
#
# Usage: deploy/build-base-image.sh [IMAGE]
#   env MIRROR=URL          Debian mirror (default: the one in /etc/apt)
#   env SECURITY_MIRROR=URL security mirror written into the image's apt
#   env FORCE=1             rebuild even if IMAGE exists or can be pulled
# Needs root, debootstrap (apt-get install debootstrap) and a Docker engine.
set -euo pipefail

IMAGE=${1:-debian:bookworm-slim}
SUITE=bookworm

log() { printf 'build-base-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

LABEL_KEY=io.mta-sts-host.base-image
# A slim Debian 12 image is about 75 MB; one far larger is likely something
# else that happens to carry the name.
SLIM_MAX_MB=${SLIM_MAX_MB:-150}

# describe IMAGE HOW: check what IMAGE is and say so; fails when it is not
# Debian $SUITE inside.
describe() {
    local image=$1 how=$2 id size created label codename mb
    id=$(docker image inspect -f '{{.Id}}' "$image") || return 1
    size=$(docker image inspect -f '{{.Size}}' "$image")
    created=$(docker image inspect -f '{{.Created}}' "$image")
    label=$(docker image inspect -f "{{index .Config.Labels \"$LABEL_KEY\"}}" \
        "$image" 2>/dev/null || true)
    [ "$label" = "<no value>" ] && label=
    codename=$(docker run --rm --network none --entrypoint /bin/sh "$image" \
        -c '. /etc/os-release && echo "$VERSION_CODENAME"' 2>/dev/null || true)
    mb=$((size / 1000000))
    if [ "$codename" != "$SUITE" ]; then
        log "error: $image ($how, ${id:7:12}, $mb MB) is not Debian $SUITE inside (found: ${codename:-no /etc/os-release}); remove it (docker rmi $image) or run with FORCE=1 to replace it"
        return 1
    fi
    if [ -n "$label" ]; then
        log "using $image ($how): built by this script ($label), ${id:7:12}, $mb MB, created $created"
    else
        log "using $image ($how): Debian $SUITE, not built by this script (no $LABEL_KEY label), ${id:7:12}, $mb MB, created $created"
    fi
    if [ "$mb" -gt "$SLIM_MAX_MB" ]; then
        log "warning: $image is $mb MB, far more than a slim image (~75 MB): it may be another import under the same name; FORCE=1 rebuilds it"
    fi
}

if [ "${FORCE:-0}" != 1 ]; then
    if docker image inspect "$IMAGE" >/dev/null 2>&1; then
        describe "$IMAGE" "already present"
        exit $?
    fi
    # A registry that is unreachable usually fails at once (DNS); bound it
    # anyway so a black-holed network cannot hang the build.
    if timeout 120 docker pull "$IMAGE" >/dev/null 2>&1; then
        describe "$IMAGE" "pulled"
        exit $?
    fi
    log "$IMAGE is not present and cannot be pulled: building it with debootstrap"
fi

[ "$(id -u)" = 0 ] || die "debootstrap needs root"
command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap)"

# Print the first apt source URI (deb822 .sources or one-line sources.list)
# whose suites include $1.
apt_mirror_for() {
    local suite=$1 f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        # deb822 stanzas are separated by blank lines; keep URIs of
        # stanzas whose Suites field names the suite.
        awk -v s="$suite" '
            BEGIN { RS = ""; FS = "\n" }
            {
                uri = ""; ok = 0; deb = 0
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); uri = a[2] }
                    if ($i ~ /^Types:.*(^|[ \t])deb([ \t]|$)/) deb = 1
                    if ($i ~ /^Suites:/) {
                        n = split($i, b, /[ \t]+/)
                        for (j = 2; j <= n; j++) if (b[j] == s) ok = 1
                    }
                }
                if (ok && deb && uri != "") { print uri; exit }
            }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk -v s="$suite" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == s) { print $i; exit }
            }' "$f"
    done
}

MIRROR=${MIRROR:-$(apt_mirror_for "$SUITE" | head -n1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-$(apt_mirror_for "$SUITE-security" | head -n1)}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
log "mirror $MIRROR, security mirror $SECURITY_MIRROR"

# Not /tmp: it may be mounted nodev/noexec, which debootstrap cannot use.
ROOT=$(mktemp -d /var/tmp/mta-sts-base.XXXXXX)
cleanup() { rm -rf --one-file-system "$ROOT"; }
trap cleanup EXIT

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
keyopt=()
[ -r "$keyring" ] && keyopt=(--keyring="$keyring")

log "debootstrap --variant=minbase $SUITE into $ROOT (a few minutes)"
if ! debootstrap --variant=minbase "${keyopt[@]}" "$SUITE" "$ROOT" "$MIRROR" \
        >"$ROOT.log" 2>&1; then
    tail -n 30 "$ROOT.log" >&2
    rm -f "$ROOT.log"
    die "debootstrap failed"
fi
rm -f "$ROOT.log"

# apt sources inside the image, as in the official image.
rm -f "$ROOT/etc/apt/sources.list"
cat >"$ROOT/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

# The "-slim" trimming: dpkg skips documentation, man pages and
# translations from now on, and those already installed are removed.
cat >"$ROOT/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
find "$ROOT/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$ROOT/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$ROOT/usr/share/man/"* "$ROOT/usr/share/groff/"* "$ROOT/usr/share/info/"* \
    "$ROOT/usr/share/lintian/"* "$ROOT/usr/share/linda/"* "$ROOT/usr/share/locale/"*

# Keep apt from caching .debs and package lists in image layers.
cat >"$ROOT/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
cat >"$ROOT/etc/apt/apt.conf.d/docker-no-languages" <<'EOF'
Acquire::Languages "none";
EOF
rm -rf "$ROOT/var/lib/apt/lists/"* "$ROOT/var/cache/apt/"*.bin \
    "$ROOT/var/cache/apt/archives/"*.deb "$ROOT/var/log/"*.log \
    "$ROOT/var/log/apt/"* "$ROOT/tmp/"* "$ROOT/root/.bash_history"
# Host identity must not leak into the image: the engine provides these.
: >"$ROOT/etc/hostname"
: >"$ROOT/etc/resolv.conf"
rm -f "$ROOT/etc/machine-id" && : >"$ROOT/etc/machine-id"

log "importing as $IMAGE"
tar --numeric-owner --xattrs -C "$ROOT" -c . |
    docker import --change 'CMD ["bash"]' \
        --change "LABEL $LABEL_KEY=\"debootstrap --variant=minbase $SUITE $(date -u +%Y-%m-%d)\"" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --message "debootstrap --variant=minbase $SUITE $MIRROR" \
        - "$IMAGE" >/dev/null
describe "$IMAGE" "built now from $MIRROR"
