#!/usr/bin/env bash
# Builds vkattn (installing what it needs) and runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
exec build/samples/vkattn-demo "$@"
