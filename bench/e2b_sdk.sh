#!/usr/bin/env bash
# Runs bench/e2b_sdk.mjs (E2B's SDK vs the v1 API, docs/benchmarks.md) against a sandboxd of
# its own: build/bin/sandboxd on a temporary state dir, the host-base templates, a TCP listener
# on 127.0.0.1, an API key of a benchmark tenant. Root; after scripts/setup.sh and a build.
#   bash bench/e2b_sdk.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-100}"
bin="$PWD/build/bin"
dir=$(mktemp -d /tmp/sbx-e2b-bench.XXXXXX)
cleanup() {
  if [ -n "${pid:-}" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
# The host-base templates with the API rate limit off: a benchmark is the one client.
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.setdefault("security", {})["rateLimit"]={"enabled": False}; json.dump(d, open(sys.argv[2], "w"))' \
  tests/integration/host_templates.json "$dir/templates.json"
"$bin/sandboxd" --state-dir "$dir/state" --socket "$dir/api.sock" \
  --templates "$dir/templates.json" --listen 127.0.0.1:0 --id-slots 256 \
  >"$dir/ready" 2>"$dir/sandboxd.log" &
pid=$!
for _ in $(seq 1 100); do grep -q '^sandboxd ready' "$dir/ready" && break; sleep 0.1; done
port=$(grep -o 'port=[0-9]*' "$dir/ready" | cut -d= -f2)
[ -n "$port" ] || { echo "sandboxd did not start; log: $dir/sandboxd.log" >&2; cat "$dir/sandboxd.log" >&2; exit 1; }
key=$("$bin/sbx" --socket "$dir/api.sock" keys create --tenant bench --format e2b |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
E2B_API_KEY="$key" E2B_API_URL="http://127.0.0.1:$port" E2B_SANDBOX_URL="http://127.0.0.1:$port" \
  node bench/e2b_sdk.mjs "$runs"
