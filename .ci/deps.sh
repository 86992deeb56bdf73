#!/usr/bin/env bash
# Install what mta-sts-host needs on Debian 12: `deps.sh` for building and
# running, `deps.sh --test` adds what the test suite uses. Idempotent: only
# missing packages are installed.
set -euo pipefail

pkgs=(build-essential cmake pkg-config libmicrohttpd-dev libgnutls28-dev
      libyaml-dev libunbound-dev dns-root-data libcurl4-gnutls-dev
      libjansson-dev zlib1g-dev libsqlite3-dev libgmime-3.0-dev
      ca-certificates curl)
if [ "${1:-}" = "--test" ]; then
    pkgs+=(libcmocka-dev clang libclang-rt-14-dev clang-format gnutls-bin
           python3 prometheus openssl testssl.sh
           nsd ldnsutils pebble)
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
