#!/usr/bin/env bash
# Installs dependencies, builds (Release, with unit tests), runs the unit tests (ctest), the
# sanitizer build of the unit tests, and the integration and end-to-end tests (pytest) that
# start the real daemon and real sandboxes. Run as root. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/build.sh build

echo "== unit tests"
(cd build && ctest --output-on-failure -j2 --timeout 300)

echo "== integration and end-to-end tests"
SBX_BIN_DIR="$PWD/build/bin" /usr/bin/python3 -m pytest -p no:cacheprovider -q tests/integration
