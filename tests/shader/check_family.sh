#!/bin/sh
# The shader report for one compile-only device (RADV_FORCE_FAMILY set by the
# caller): compile the bench suite's pipelines, write their representations,
# and fail on any spill or scratch use (scripts/shader-report.py --check).
# usage: check_family.sh VKATTN_BENCH OUT_DIR PYTHON3 SHADER_REPORT_PY
set -eu
bench=$1
out=$2
python=$3
report=$4
rm -rf "$out"
status=0
"$bench" --shader-stats --ir "$out" --json "$out.json" || status=$?
[ "$status" -eq 0 ] || exit "$status"  # 77: no device reports statistics (skipped)
exec "$python" "$report" "$out" --check
