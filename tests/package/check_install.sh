#!/usr/bin/env bash
# Installs a vkattn build into a fresh prefix and uses it as an app would:
#   check_install.sh BUILD_DIR WORK_DIR [shared|static]
# - the README's C example (samples/hello/hello.c) built against the prefix
#   with find_package(vkattn) and with pkg-config, then run;
# - shared: libvkattn exports exactly the functions vkattn.h declares, and
#   the installed tools run from the prefix (RUNPATH, no LD_LIBRARY_PATH).
set -euo pipefail
build=$(cd "$1" && pwd)
work=$2
kind=${3:-shared}
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
prefix=$work/prefix
unset LD_LIBRARY_PATH

fail() { echo "check_install: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" > "$work/install.log"
libdir=$(dirname "$(find "$prefix" -name 'vkattn.pc' -path '*/pkgconfig/*' | head -1)")
libdir=$(dirname "$libdir")
[ -f "$prefix/include/vkattn.h" ] || fail "no include/vkattn.h in the prefix"
[ -f "$libdir/cmake/vkattn/vkattnConfig.cmake" ] || fail "no CMake package in $libdir/cmake/vkattn"

# The README's C example: all logits equal, so out[c] is the mean value c.
expected="out[0][5] = 5.000, out[31][127] = 127.000"
check_output() {
  local what=$1 program=$2 got
  got=$("$program")
  [ "$got" = "$expected" ] || fail "$what printed '$got', expected '$expected'"
  echo "$what: $got"
}

# CMake: find_package(vkattn CONFIG) from the prefix.
cmake -S "$source_dir/tests/package/consumer" -B "$work/cmake-consumer" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DCONSUMER_SOURCE="$source_dir/samples/hello/hello.c" > "$work/cmake-consumer.log"
cmake --build "$work/cmake-consumer" > "$work/cmake-consumer-build.log"
check_output "find_package consumer ($kind)" "$work/cmake-consumer/consumer"

# pkg-config, as a Makefile would use it.
export PKG_CONFIG_PATH="$libdir/pkgconfig"
[ "$(pkg-config --modversion vkattn)" = "$(sed -n 's/^project(vkattn VERSION \([0-9.]*\).*/\1/p' "$source_dir/CMakeLists.txt")" ] ||
  fail "pkg-config --modversion vkattn does not give the project's version"
if [ "$kind" = static ]; then
  # shellcheck disable=SC2046
  cc -std=c99 "$source_dir/samples/hello/hello.c" $(pkg-config --cflags --libs --static vkattn) -o "$work/pc-consumer"
else
  # shellcheck disable=SC2046
  cc -std=c99 "$source_dir/samples/hello/hello.c" $(pkg-config --cflags --libs vkattn) -Wl,-rpath,"$libdir" \
    -o "$work/pc-consumer"
fi
check_output "pkg-config consumer ($kind)" "$work/pc-consumer"

if [ "$kind" = shared ]; then
  # Exported symbols: the headers' functions, no more, no fewer.
  library=$(readlink -f "$libdir/libvkattn.so")
  nm -D --defined-only "$library" | awk '{print $NF}' | sort > "$work/exported.txt"
  sed -n 's/^VKATTN_API[^(]*[ *]\(vkattn_[a-z0-9_]*\)(.*/\1/p' "$prefix/include/vkattn.h" \
    "$prefix/include/vkattn_vulkan.h" | sort -u > "$work/declared.txt"
  [ -s "$work/declared.txt" ] || fail "found no VKATTN_API declarations in vkattn.h and vkattn_vulkan.h"
  if ! diff "$work/declared.txt" "$work/exported.txt" > "$work/symbols.diff"; then
    cat "$work/symbols.diff" >&2
    fail "libvkattn's dynamic symbols differ from the headers' functions (< declared only, > exported only)"
  fi
  echo "exported symbols: $(wc -l < "$work/exported.txt"), all declared in vkattn.h and vkattn_vulkan.h"
  soname=$(readelf -d "$library" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  [ "$soname" = "libvkattn.so.$(sed -n 's/^project(vkattn VERSION \([0-9]*\).*/\1/p' "$source_dir/CMakeLists.txt")" ] ||
    fail "SONAME is '$soname'"
  echo "SONAME: $soname"

  # Installed tools: RUNPATH relative to themselves, and they run.
  # vkattn-heatmap is built (and installed) where libpng is found.
  tools="vkattn-run vkattn-demo vkattn-conformance"
  if [ -e "$prefix/bin/vkattn-heatmap" ]; then tools="$tools vkattn-heatmap"; fi
  for tool in $tools; do
    runpath=$(readelf -d "$prefix/bin/$tool" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
    case "$runpath" in
      '$ORIGIN/'*) ;;
      *) fail "$tool has RUNPATH '$runpath', not relative to \$ORIGIN" ;;
    esac
  done
  "$prefix/bin/vkattn-conformance" --backend cpu --filter odd_sizes > "$work/conformance.log" ||
    fail "the installed vkattn-conformance failed: $(tail -3 "$work/conformance.log")"
  echo "installed vkattn-conformance: $(grep -E "^cpu " "$work/conformance.log" | head -1)"
  if [ -e "$prefix/bin/vkattn-heatmap" ]; then
    "$prefix/bin/vkattn-heatmap" --backend cpu --q-len 16 --kv-len 16 --causal bottom_right \
      --out "$work/heatmap.png" > "$work/heatmap.log" 2>&1 ||
      fail "the installed vkattn-heatmap failed: $(tail -3 "$work/heatmap.log")"
    echo "installed vkattn-heatmap: $(grep -E "^check" "$work/heatmap.log")"
  fi
fi
echo "check_install ($kind): OK"
