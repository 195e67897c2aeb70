# Finds cpuinfo's header and library. Defines cpuinfo::cpuinfo, and
# cpuinfo_LIBRARIES (what a link needs). Where it looks: VkattnDependencies.cmake.
# (Debian 12's own cpuinfo CMake package is unusable: its import prefix
# resolves to /usr/lib/lib/..., so it is deliberately not consulted.)
include(${CMAKE_CURRENT_LIST_DIR}/VkattnDependencies.cmake)
vkattn_find_header_and_library(cpuinfo cpuinfo.h cpuinfo)
set(cpuinfo_link_after "")
# A static libcpuinfo of 2022 (what XNNPACK's CMake builds for Android,
# docs/ANDROID.md) logs through clog, a static library installed beside it;
# a shared one carries clog inside, and newer versions have none.
if(cpuinfo_LIBRARY MATCHES "\\${CMAKE_STATIC_LIBRARY_SUFFIX}$")
  vkattn_find_header_and_library(cpuinfo_clog clog.h clog)
  if(cpuinfo_clog_LIBRARY)
    set(cpuinfo_link_after ${cpuinfo_clog_LIBRARY})
  endif()
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(cpuinfo REQUIRED_VARS cpuinfo_LIBRARY cpuinfo_INCLUDE_DIR)
vkattn_import_dependency(cpuinfo ${cpuinfo_link_after})
set(cpuinfo_LIBRARIES ${cpuinfo_LIBRARY} ${cpuinfo_link_after})
