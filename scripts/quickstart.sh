#!/usr/bin/env bash
# The guide's quick start on the embedded default templates, end to end:
# install dependencies, build, start sandboxd, create a python sandbox, run code in it,
# check status, stop, clean up, stop the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/build.sh build

BIN="$PWD/build/bin"
STATE="${SANDBOXD_STATE_DIR:-/var/lib/sandboxd}"
SOCK="${SANDBOXD_SOCKET:-/run/sandboxd/sandboxd.sock}"
LOG="$(mktemp /tmp/sandboxd-quickstart.XXXXXX.log)"
SBX=("$BIN/sbx" --socket "$SOCK")

started=0
if ! "${SBX[@]}" status >/dev/null 2>&1; then
  echo "== starting sandboxd (state $STATE, socket $SOCK, log $LOG)"
  "$BIN/sandboxd" --state-dir "$STATE" --socket "$SOCK" >"$LOG.out" 2>"$LOG" &
  DAEMON=$!
  started=1
  for _ in $(seq 1 100); do
    grep -q "sandboxd ready" "$LOG.out" 2>/dev/null && break
    kill -0 "$DAEMON" 2>/dev/null || { cat "$LOG"; exit 1; }
    sleep 0.1
  done
fi
stop_daemon() {
  if [ "$started" = 1 ]; then
    kill -TERM "$DAEMON" 2>/dev/null || true
    wait "$DAEMON" || true
  fi
}
trap stop_daemon EXIT

step() { echo; echo "== $*"; }
step "1. build the python template (Debian bookworm + numpy, pandas, scikit-learn, matplotlib; cached after the first run)"
"${SBX[@]}" template build python
step "2. create a python sandbox"
"${SBX[@]}" create --template python --sandbox-id my_first_sandbox
step "3. execute code"
"${SBX[@]}" exec --sandbox-id my_first_sandbox --language python \
  --code "import numpy; print('NumPy version:', numpy.__version__)"
step "4. check status"
"${SBX[@]}" status
step "5. stop and clean up"
"${SBX[@]}" stop --sandbox-id my_first_sandbox
"${SBX[@]}" cleanup --sandbox-id my_first_sandbox
echo
echo "quick start finished"
