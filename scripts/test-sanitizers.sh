#!/usr/bin/env bash
# The reliability tier of the test suite (docs/RELIABILITY.md):
#   1. an ASan+UBSan build (clang) of the library, every test and the fuzz
#      targets; runs the whole ctest suite (CPU backend and lavapipe) except
#      the Vulkan conformance matrix (with its repetition) and the Vulkan fault
#      injection;
#   2. the fuzz targets for a bounded time each (scripts/fuzz.sh);
#   3. a TSan build of the threading tests on the CPU backend.
# Any sanitizer report fails the run. Builds go to build-asan/ and build-tsan/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
root=$(pwd)

# The Vulkan tests run on lavapipe alone here: this tier checks vkattn's host
# code, which is the same on every driver, and the plain run (scripts/test.sh)
# has already run every test on lavapipe and SwiftShader and left lavapipe's
# compiled shaders in Mesa's disk cache, where SwiftShader would compile every
# pipeline anew in each process (most of this tier's time when it ran here).
# The Vulkan loader loads and unloads the driver with every instance, and
# lavapipe leaks its one-time initialisation at each unload (memory held by a
# module that is gone, which LeakSanitizer can neither name nor suppress).
# Preloading it keeps one copy for the whole process (it exports only the
# loader-ICD entry points, so nothing is interposed); vkattn's own
# allocations are still checked. The Vulkan tests pin the validation layer
# themselves (tests/vulkan/vulkan_test_main.cpp).
lavapipe_manifest=""
lavapipe_library=""
for manifest in /usr/share/vulkan/icd.d/lvp_icd.*.json; do
  [ -f "$manifest" ] || continue
  library=$(sed -n 's/.*"library_path": *"\([^"]*\)".*/\1/p' "$manifest" | head -1)
  if [ -f "$library" ]; then
    lavapipe_manifest="$manifest"
    lavapipe_library="$library"
    break
  fi
done
if [ -z "$lavapipe_manifest" ]; then
  echo "test-sanitizers.sh: lavapipe (mesa-vulkan-drivers) not found; scripts/install-deps.sh installs it" >&2
  exit 1
fi

export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:strict_string_checks=1:detect_stack_use_after_return=1"
export LSAN_OPTIONS="suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/sanitizers/tsan.supp"

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DVKATTN_SANITIZE=address,undefined -DVKATTN_BUILD_FUZZERS=ON -DVKATTN_BUILD_BENCH=OFF
cmake --build build-asan
# Three Vulkan suites take well over 10 minutes each under ASan (every case
# or round compiles pipelines or creates an instance in the driver), which
# CI cannot afford: the conformance matrix runs (with their repetition), the
# matrix under GPU-assisted validation and the Vulkan fault injection. The plain build
# runs them (the fault tests there count vkattn's live heap blocks and
# Vulkan objects after every round); every other Vulkan test, and the CPU
# fault injection, run here. (The check that the matrix runs executed every
# kernel variant goes with them.) The GPU-assisted validation tests check the
# validation layer, not vkattn's host code, and under ASan the layer prints
# its GPU-assisted reports instead of passing them to the application's
# messenger (seen with the planted out-of-bounds read): the plain build runs
# them.
VK_ICD_FILENAMES="$lavapipe_manifest" LD_PRELOAD="$lavapipe_library" ctest --test-dir build-asan --output-on-failure -j2 \
  -E "conformance matrix on every Vulkan device|every kernel variant the planner can choose|faults: ?Vulkan:|GPU-assisted validation"

scripts/fuzz.sh build-asan "${VKATTN_FUZZ_SECONDS:-60}"

cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DVKATTN_SANITIZE=thread -DVKATTN_WITH_VULKAN=OFF -DVKATTN_BUILD_SAMPLES=OFF -DVKATTN_BUILD_BENCH=OFF
cmake --build build-tsan --target vkattn_thread_tests
build-tsan/tests/vkattn_thread_tests
