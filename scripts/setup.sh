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

# Subordinate ids for the sandboxes (docs/security.md, "Host id ranges"): one entry of user
# `sandboxd` in /etc/subuid and /etc/subgid, as `useradd --add-subids-for-system` would add,
# from which each daemon takes a free block (default 1024 sandboxes x 65536 ids). The same
# numbers in both files (a sandbox's uids and gids are equal): 2^31 ids from 0x10000000 unless
# another entry is there, else the ids past every entry of both files.
add_subids() {
  touch /etc/subuid /etc/subgid
  local have entry start=268435456 count=2147483648
  have=$(grep -h '^sandboxd:' /etc/subuid /etc/subgid | head -n1 || true)
  if grep -q '^sandboxd:' /etc/subuid && grep -q '^sandboxd:' /etc/subgid; then
    return
  fi
  if [ -n "$have" ]; then
    start=$(echo "$have" | cut -d: -f2)
    count=$(echo "$have" | cut -d: -f3)
  elif ! awk -F: -v s="$start" -v c="$count" \
      '$0 !~ /^#/ && NF == 3 && $2 < s + c && s < $2 + $3 { bad = 1 } END { exit bad }' \
      /etc/subuid /etc/subgid; then
    start=$(awk -F: '$0 !~ /^#/ && NF == 3 && $2 + $3 > m { m = $2 + $3 }
                     END { printf "%d", int((m + 65535) / 65536) * 65536 }' /etc/subuid /etc/subgid)
    if [ "$start" -lt 268435456 ]; then start=268435456; fi
    if [ $(( start + count )) -gt 4294901760 ]; then
      count=$(( (4294901760 - start) / 65536 * 65536 ))
    fi
    if [ "$count" -lt 67108864 ]; then
      echo "setup.sh: no room for a sandboxd entry in /etc/subuid and /etc/subgid" \
           "(67108864 ids above every entry); add one by hand" >&2
      exit 1
    fi
  fi
  entry="sandboxd:$start:$count"
  for f in /etc/subuid /etc/subgid; do
    grep -q '^sandboxd:' "$f" && continue
    echo "$entry" >> "$f"
    echo "setup.sh: added $entry to $f"
  done
}
add_subids

# E2B's npm SDK for tests/e2b and bench/e2b_sdk.mjs, pinned by tests/e2b/package-lock.json.
# The SDK needs Node >= 20.18.1 (its `engines`); Debian 12's nodejs is 18, so a machine
# without a newer Node cannot run that suite: say so plainly rather than fail inside npm.
node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b,c]=process.versions.node.split(".").map(Number);
             process.exit(a>20||(a===20&&(b>18||(b===18&&c>=1)))?0:1)'
}
if ! node_ok; then
  echo "setup.sh: E2B's SDK needs Node.js >= 20.18.1; found $(node --version 2>/dev/null || echo none)." \
       "Install a newer Node.js (e.g. NodeSource's nodejs 20 or 22) and run setup.sh again." >&2
  exit 1
fi
e2b_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/e2b"
# npm ci again only when the lock changed since the last install (its copy is the stamp).
if ! cmp -s "$e2b_dir/package-lock.json" "$e2b_dir/node_modules/.sbx-installed-lock"; then
  echo "setup.sh: npm ci in tests/e2b (E2B's SDK, pinned)"
  (cd "$e2b_dir" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$e2b_dir/package-lock.json" "$e2b_dir/node_modules/.sbx-installed-lock"
fi
