# Finds pthreadpool (Debian: libpthreadpool-dev, no CMake package).
# Defines pthreadpool::pthreadpool. Where it looks: VkattnDependencies.cmake.
include(${CMAKE_CURRENT_LIST_DIR}/VkattnDependencies.cmake)
vkattn_find_header_and_library(pthreadpool pthreadpool.h pthreadpool)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(pthreadpool REQUIRED_VARS pthreadpool_LIBRARY pthreadpool_INCLUDE_DIR)
vkattn_import_dependency(pthreadpool)
