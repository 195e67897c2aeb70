#!/usr/bin/env bash
# Runs each libFuzzer target of a fuzzer build for a bounded time over its
# checked-in seed corpus (tests/fuzz/corpus/<target>), failing on any crash,
# leak or sanitizer report. New inputs go to a scratch copy, not the repo.
#   scripts/fuzz.sh BUILD_DIR [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/fuzz.sh BUILD_DIR [SECONDS_PER_TARGET]}
seconds=${2:-60}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in plan npy; do
  binary="$build/tests/fuzz/vkattn_fuzz_$target"
  mkdir -p "$scratch/$target"
  cp tests/fuzz/corpus/$target/* "$scratch/$target/"
  echo "fuzz: vkattn_fuzz_$target for ${seconds}s"
  # -rss_limit_mb bounds any allocation a hostile input could trigger.
  "$binary" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
    -artifact_prefix="$scratch/crash-$target-" "$scratch/$target" 2>&1 | tee "$scratch/$target.log" | \
    grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)" || true
  if ! grep -q "Done [0-9]* runs" "$scratch/$target.log"; then
    echo "fuzz: vkattn_fuzz_$target failed; log tail:" >&2
    tail -40 "$scratch/$target.log" >&2
    ls "$scratch"/crash-* 2>/dev/null >&2 || true
    exit 1
  fi
done
