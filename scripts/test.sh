#!/usr/bin/env bash
# Builds vkattn (installing what it needs) and runs every test with CTest,
# then, on x86-64, the arm64 tier: a cross-build run under qemu-aarch64
# (scripts/test-arm64.sh; skip it with VKATTN_SKIP_ARM64=1; on an arm64
# machine the CTest suite above already ran natively), then the
# reliability tier: the suite again under ASan+UBSan, the fuzzers for a
# bounded time, and the thread tests under TSan (scripts/test-sanitizers.sh;
# skip it with VKATTN_SKIP_SANITIZERS=1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --test-dir build --output-on-failure -j2 "$@"
if [ "${VKATTN_SKIP_ARM64:-0}" != 1 ] && [ "$(uname -m)" = x86_64 ]; then
  scripts/test-arm64.sh
fi
if [ "${VKATTN_SKIP_SANITIZERS:-0}" != 1 ]; then
  scripts/test-sanitizers.sh
fi
