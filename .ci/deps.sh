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
           nsd ldnsutils pebble postfix xxd)
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
# Postfix (the tests start their own, with a private config directory) must
# neither ask questions nor start a system-wide instance on port 25: its
# debconf answer is "No configuration", and while it is installed
# policy-rc.d forbids every service start (unless one is already there).
rc_d=
if [[ " ${missing[*]} " == *" postfix "* ]]; then
    echo "postfix postfix/main_mailer_type select No configuration" |
        $sudo debconf-set-selections
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        rc_d=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$rc_d" >/dev/null
        $sudo chmod 755 "$rc_d"
        trap '$sudo rm -f "$rc_d"' EXIT
    fi
fi
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
# On a systemd host the unit would still start at boot.
if [ -n "$rc_d" ] && command -v systemctl >/dev/null &&
    [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now postfix.service >/dev/null 2>&1 || true
fi
