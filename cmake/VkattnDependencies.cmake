# Shared by FindXNNPACK, Findpthreadpool and Findcpuinfo: each of vkattn's
# CPU-backend dependencies is a header and a library without a usable CMake
# package (Debian ships none for XNNPACK and pthreadpool; a source build for
# Android installs none either).
#
# Where they are looked for:
# 1. in each prefix of VKATTN_DEPS_PREFIX (include/ and lib/), exactly as
#    given, also when cross-compiling. Cross toolchain files, the Android
#    NDK's among them, set CMAKE_FIND_ROOT_PATH_MODE_INCLUDE/LIBRARY to ONLY,
#    which re-roots every search path (CMAKE_PREFIX_PATH, <Package>_ROOT,
#    HINTS) under CMAKE_FIND_ROOT_PATH (the NDK puts itself there), so a
#    prefix built for the target outside that root is otherwise never found;
# 2. then CMake's usual places (CMAKE_PREFIX_PATH, <Package>_ROOT, the system;
#    re-rooted when cross-compiling, so -DCMAKE_FIND_ROOT_PATH=<prefix> works too).

# Sets <name>_INCLUDE_DIR (the directory holding `header`) and <name>_LIBRARY
# (a library called one of the remaining arguments).
macro(vkattn_find_header_and_library name header)
  if(VKATTN_DEPS_PREFIX)
    find_path(${name}_INCLUDE_DIR ${header} PATHS ${VKATTN_DEPS_PREFIX} PATH_SUFFIXES include
              NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
    find_library(${name}_LIBRARY NAMES ${ARGN} PATHS ${VKATTN_DEPS_PREFIX}
                 PATH_SUFFIXES lib lib64 lib/${CMAKE_LIBRARY_ARCHITECTURE} NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
    # Half a package from the prefix and half from the system would link
    # a header against another version's library: both or neither.
    if((${name}_INCLUDE_DIR AND NOT ${name}_LIBRARY) OR (${name}_LIBRARY AND NOT ${name}_INCLUDE_DIR))
      message(FATAL_ERROR "VKATTN_DEPS_PREFIX (${VKATTN_DEPS_PREFIX}) holds only part of ${name}: header "
                          "'${${name}_INCLUDE_DIR}', library '${${name}_LIBRARY}'")
    endif()
  endif()
  find_path(${name}_INCLUDE_DIR ${header})
  find_library(${name}_LIBRARY NAMES ${ARGN})
  mark_as_advanced(${name}_INCLUDE_DIR ${name}_LIBRARY)
endmacro()

# Defines the imported target <name>::<name> once find_package_handle_standard_args
# found it; the remaining arguments are libraries it needs linked after it.
macro(vkattn_import_dependency name)
  if(${name}_FOUND AND NOT TARGET ${name}::${name})
    add_library(${name}::${name} UNKNOWN IMPORTED)
    set_target_properties(${name}::${name} PROPERTIES
      IMPORTED_LOCATION "${${name}_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${${name}_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${ARGN}")
  endif()
endmacro()
