#!/usr/bin/env bash
# Builds vkattn (installing what it needs) and runs every test with CTest,
# then the reliability tier: the suite again under ASan+UBSan, the fuzzers
# for a bounded time, and the thread tests under TSan
# (scripts/test-sanitizers.sh; skip it with VKATTN_SKIP_SANITIZERS=1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --test-dir build --output-on-failure -j2 "$@"
if [ "${VKATTN_SKIP_SANITIZERS:-0}" != 1 ]; then
  scripts/test-sanitizers.sh
fi
