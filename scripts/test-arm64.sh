#!/usr/bin/env bash
# Cross-builds vkattn for arm64 with Debian's cross toolchain and arm64
# packages, then runs its CPU backend under qemu-aarch64 (user-mode
# emulation): the row-kernel and internal unit tests, the API tests, a slice
# of the CPU conformance matrix, and a check that arm64 decodes give bitwise
# the x86-64 build's results. The Vulkan backend is compiled for arm64 too
# (there is no arm64 Vulkan driver to run it here). Run by scripts/test.sh
# on x86-64 hosts; about 2 minutes here, most of it compiling. It changes
# the system: Debian's arm64 architecture is added to dpkg (for
# `apt-get download` of the arm64 packages below).
#
#   scripts/test-arm64.sh [BUILD_DIR]     (default build-arm64)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-arm64}
if [ "$(uname -m)" != x86_64 ]; then
  echo "test-arm64: cross-builds from x86-64 only (this machine is $(uname -m); scripts/test.sh tests it natively)" >&2
  exit 1
fi
scripts/install-deps.sh
root=$(pwd)

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi

# The cross compiler and the emulator.
cross_packages=(crossbuild-essential-arm64 qemu-user)
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "test-arm64: adding Debian's arm64 architecture"
  $sudo dpkg --add-architecture arm64
  $sudo apt-get update -qq
fi
missing=()
for package in "${cross_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]} > 0)); then
  echo "test-arm64: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# XNNPACK, pthreadpool and cpuinfo for arm64. Debian's packages of the first
# two are not Multi-Arch (installing the :arm64 ones would remove the amd64
# ones the native build needs), and libcpuinfo-dev:arm64 conflicts with the
# amd64 one over a shared CMake file: their arm64 packages are unpacked into
# a prefix of their own instead, which VKATTN_DEPS_PREFIX points at.
sysroot="$root/$build-deps"
deps=(libxnnpack-dev libxnnpack0 libpthreadpool-dev libpthreadpool0 libcpuinfo-dev libcpuinfo0)
if [ ! -f "$sysroot/.complete" ]; then
  rm -rf "$sysroot"
  mkdir -p "$sysroot/debs"
  (cd "$sysroot/debs" && apt-get download "${deps[@]/%/:arm64}" >/dev/null)
  for deb in "$sysroot"/debs/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
  touch "$sysroot/.complete"
fi
multiarch=aarch64-linux-gnu
# qemu-aarch64 runs arm64 programs with the cross toolchain's C library and
# the prefix's libraries. -L alone would let the host's /etc/ld.so.cache mix
# the two glibc builds, and thread pools then hang in pthread_create.
emulator="qemu-aarch64;-L;/usr/$multiarch;-E;LD_LIBRARY_PATH=$sysroot/usr/lib/$multiarch:/usr/$multiarch/lib"

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
  -DCMAKE_CROSSCOMPILING_EMULATOR="$emulator" \
  -DVKATTN_DEPS_PREFIX="$sysroot/usr" \
  -DVKATTN_VULKAN_INCLUDE_DIR=/usr/include -Ddoctest_DIR=/usr/lib/cmake/doctest \
  -DVKATTN_BUILD_TESTS=ON -DVKATTN_BUILD_SAMPLES=ON -DVKATTN_BUILD_BENCH=OFF -DVKATTN_BUILD_PYTHON=OFF
cmake --build "$build" --target vkattn_internal_tests vkattn_api_tests vkattn-conformance vkattn-run

IFS=';' read -r -a run <<< "$emulator"
echo "test-arm64: row kernels and internal tests"
"${run[@]}" "$build/tests/vkattn_internal_tests"
echo "test-arm64: API tests"
"${run[@]}" "$build/tests/vkattn_api_tests"

# The CPU conformance matrix's sections that exercise the row kernels and
# the CPU backend's own code (decode, GQA, masks, quantized and paged K/V,
# long rows split across tasks, linear attention, Linformer, block-sparse
# and top-k attention); the XNNPACK tiles are Debian's arm64 build
# of XNNPACK, tested by its own suite.
slice=decode,quantized,paged,split_kv,heads,mask_combo,rope,odd_sizes,linear,linformer,block_sparse,topk
echo "test-arm64: CPU conformance, sections $slice"
"${run[@]}" "$build/samples/vkattn-conformance" --backend cpu --filter "$slice" --quiet

# The row kernels promise the same bits on every instruction-set level:
# decodes (the direct path: row kernels only, no XNNPACK) computed by the
# native x86-64 build and by the arm64 build must be identical files.
native=build/samples/vkattn-run
if [ -x "$native" ]; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  /usr/bin/python3 - "$scratch" <<'EOF'
import sys
import numpy as np
rng = np.random.default_rng(2026)
d = sys.argv[1]
np.save(f"{d}/q.npy", rng.standard_normal((2, 16, 1, 128)).astype(np.float32))
np.save(f"{d}/k.npy", rng.standard_normal((2, 4, 3000, 128)).astype(np.float32))
np.save(f"{d}/v.npy", rng.standard_normal((2, 4, 3000, 128)).astype(np.float32))
EOF
  for kv_dtype in f32 f16 q8_0 q4_0; do
    args=(--q "$scratch/q.npy" --k "$scratch/k.npy" --v "$scratch/v.npy" --causal --kv-dtype "$kv_dtype" --backend cpu)
    "$native" "${args[@]}" --out "$scratch/x86.npy" > /dev/null
    "${run[@]}" "$build/samples/vkattn-run" "${args[@]}" --out "$scratch/arm64.npy" > /dev/null
    if ! cmp -s "$scratch/x86.npy" "$scratch/arm64.npy"; then
      echo "test-arm64: a decode with $kv_dtype K/V differs between x86-64 and arm64" >&2
      exit 1
    fi
    echo "test-arm64: decode with $kv_dtype K/V: arm64 output bitwise equal to x86-64's"
  done
else
  echo "test-arm64: $native not built; the bitwise comparison needs the native build (scripts/build.sh)" >&2
  exit 1
fi
echo "test-arm64: passed"
