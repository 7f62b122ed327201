#!/usr/bin/env bash
# Installs the Debian packages the tests, the demo and the benchmarks need, when missing.
# Idempotent and quiet when everything is there. Needs root (apt-get), as the container tests do.
set -euo pipefail

need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in systemd-container debootstrap perl libconfig-inifiles-perl libfile-slurp-perl libjson-perl \
           hyperfine zstd nix-bin time strace dbus-daemon gcc libc6-dev patch; do
  have "$pkg" || need+=("$pkg")
done
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-host: missing Debian packages ${need[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "setup-host: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
