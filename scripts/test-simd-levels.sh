#!/usr/bin/env bash
# Runs the Rust test suites (`cargo test --workspace --profile test-opt`: unit, golden, property and every other
# test) once per SIMD level this CPU has, each under LSTM_NATIVE_SIMD=<level>, which caps the kernels' dispatch.
# Levels named after --skip were run already (npm test runs the default one); their golden line is still printed.
# Prints which levels ran. Used by .ci/run and the release workflow.
set -euo pipefail
cd "$(dirname "$0")/.."
skip=" "
if [ "${1:-}" = "--skip" ]; then skip=" ${*:2} "; fi
levels=$(env -u LSTM_NATIVE_SIMD cargo run -q --profile test-opt -p lstm-core --example simd_levels)
echo "== SIMD levels this CPU runs: $levels"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Runs a command at a level; on failure prints its output and stops.
at() {
  local level=$1
  shift
  if ! LSTM_NATIVE_SIMD=$level "$@" >"$log" 2>&1; then
    cat "$log"
    echo "FAILED at LSTM_NATIVE_SIMD=$level: $*"
    exit 1
  fi
}
ran=()
for level in $levels; do
  if [[ "$skip" != *" $level "* ]]; then
    at "$level" cargo test --workspace --profile test-opt
    passed=$(grep -E "^test result: ok" "$log" | awk '{ s += $4 } END { print s + 0 }')
    echo "$level: cargo test --workspace passed ($passed tests in $(grep -c '^test result: ok' "$log") suites)"
  fi
  at "$level" cargo test --profile test-opt -p lstm-core --test golden -- --nocapture
  grep -E "golden: [0-9]+ cases passed" "$log" | sed "s/^/$level: /"
  ran+=("$level")
done
echo "== SIMD levels tested: ${ran[*]}"
