#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time.
# Usage: scripts/fuzz.sh [seconds-per-target]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-30}"
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DSBX_FUZZ=ON -DSBX_BUILD_TESTS=OFF -DSBX_BUILD_BENCH=OFF >/dev/null
targets=(fuzz_api_request fuzz_templates_config fuzz_connect fuzz_gateway_rules)
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}"
for t in "${targets[@]}"; do
  corpus="build-fuzz/corpus/$t"
  log="build-fuzz/$t.log"
  mkdir -p "$corpus"
  echo "== $t for ${secs}s"
  if ! (cd build-fuzz && "fuzz/$t" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 "corpus/$t") >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $t found a failing input (see build-fuzz/crash-* and $log)" >&2
    exit 1
  fi
  grep -E "^stat::(number_of_executed_units|peak_rss_mb|new_units_added)" "$log" || true
done
echo "fuzzing finished: no crash"
