#!/usr/bin/env bash
# Builds libvkattn as a static archive (BUILD_SHARED_LIBS=OFF; the library
# alone, CPU backend only to keep the build short: the Vulkan backend adds
# sources, not link dependencies), then checks its installed package as
# check_install.sh does:   check_static.sh WORK_DIR
set -euo pipefail
work=$1
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$work"
cmake -S "$source_dir" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
  -DVKATTN_WITH_VULKAN=OFF -DVKATTN_BUILD_TESTS=OFF -DVKATTN_BUILD_SAMPLES=OFF -DVKATTN_BUILD_BENCH=OFF \
  -DVKATTN_BUILD_PYTHON=OFF \
  > "$work/configure.log"
cmake --build "$work/build" > "$work/build.log"
[ -f "$work/build/libvkattn.a" ] || { echo "check_static: no libvkattn.a was built" >&2; exit 1; }
exec "$(dirname "$0")/check_install.sh" "$work/build" "$work/installed" static
