#!/usr/bin/env bash
# Builds vkattn (installing what it needs) and runs every test with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --test-dir build --output-on-failure -j2 "$@"
