# Finds XNNPACK (Debian: libxnnpack-dev ships a header and a library, no CMake
# package; Android: built from source into a prefix, docs/ANDROID.md).
# Defines XNNPACK::XNNPACK. Where it looks: VkattnDependencies.cmake.
include(${CMAKE_CURRENT_LIST_DIR}/VkattnDependencies.cmake)
vkattn_find_header_and_library(XNNPACK xnnpack.h XNNPACK xnnpack)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(XNNPACK REQUIRED_VARS XNNPACK_LIBRARY XNNPACK_INCLUDE_DIR)
vkattn_import_dependency(XNNPACK)
