#!/usr/bin/env bash
# Installs everything sandboxd needs to build, run and test, from Debian's packages only.
# Idempotent; run as root on Debian 12.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (apt-get, namespaces, cgroups)" >&2
  exit 1
fi

PACKAGES=(
  build-essential cmake pkg-config git ca-certificates ccache
  libboost-dev nlohmann-json3-dev libsqlite3-dev sqlite3 libssl-dev zlib1g-dev libarchive-dev
  libseccomp-dev libcap-dev libcli11-dev libcurl4-openssl-dev openssl
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-pytest python3-yaml
  clang libclang-rt-14-dev
  prometheus
  bubblewrap iproute2 procps
  e2fsprogs  # mkfs.ext4 for the sandboxes' disks (--disk-quota on), debugfs for the tests
  mmdebstrap gpg debian-archive-keyring arch-test
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup.sh: all Debian packages present"
fi
# npm installs template npm packages. Debian's nodejs needs Debian's npm; a NodeSource nodejs
# ships its own npm and conflicts with Debian's package, so only install it when it is missing.
if ! command -v npm >/dev/null 2>&1; then
  echo "setup.sh: installing npm"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
fi
