#!/usr/bin/env bash
# Installs what rewind needs to build and test on Debian 12, skipping what is already there.
# Run as root (or with sudo available).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pkgs=(
  build-essential cmake ninja-build pkg-config
  libarchive-dev libzstd-dev libxxhash-dev default-libmysqlclient-dev libboost-filesystem-dev
  libtbb-dev libgtest-dev libssl-dev libcli11-dev nlohmann-json3-dev libfmt-dev
  libmimalloc-dev
  zstd libarchive-tools attr acl python3 util-linux
)
if [ -f "$here/../tests/PACKAGES" ]; then
  while read -r p; do
    [ -n "$p" ] && [ "${p#\#}" = "$p" ] && pkgs+=("$p")
  done < "$here/../tests/PACKAGES"
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
