#!/usr/bin/env bash
# Builds vkattn (installing what it needs) and runs the benchmark suite on the
# CPU and every Vulkan device; extra arguments go to vkattn-bench
# (e.g. --json bench.json, --backend cpu, --filter decode).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
exec build/bench/vkattn-bench "$@"
