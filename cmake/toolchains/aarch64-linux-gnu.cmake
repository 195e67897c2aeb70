# Cross-compiling for arm64 Linux with Debian's cross toolchain
# (crossbuild-essential-arm64), as scripts/test-arm64.sh does:
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
#         -DVKATTN_DEPS_PREFIX=<prefix of arm64 XNNPACK, pthreadpool, cpuinfo>
# Target libraries and headers are searched under the cross toolchain's root
# (and VKATTN_DEPS_PREFIX, cmake/VkattnDependencies.cmake); programs run at
# build time (glslangValidator, spirv-val) are the build machine's.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
list(APPEND CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
