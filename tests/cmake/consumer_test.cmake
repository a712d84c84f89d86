# Builds and runs tests/consumer against microroute one way (cmake -P).
#
#   cmake -DTEST_CONFIG=<build>/tests/cmake/consumer-test-<config>.cmake
#         -DMODE=<mode> -P consumer_test.cmake
#
# MODE:
#   add_subdirectory   consumer does add_subdirectory(<microroute source>),
#                      reusing the cargo target dir of the main build; a second
#                      build must not relink anything
#   install            cmake --install the main build into a staging prefix,
#                      then move it (the other modes use the moved tree, which
#                      proves it relocatable)
#   find_package       consumer does find_package(microroute 0.1 REQUIRED)
#   pkg_config         cc $(pkg-config --cflags --libs microroute), run with
#                      LD_LIBRARY_PATH
#   pkg_config_static  cc $(pkg-config --static --cflags --libs microroute-static)
#
# TEST_CONFIG is written by tests/cmake/CMakeLists.txt (paths, compiler,
# cargo settings of the main build).

cmake_minimum_required(VERSION 3.16)

if(NOT TEST_CONFIG OR NOT MODE)
  message(FATAL_ERROR "usage: cmake -DTEST_CONFIG=<file> -DMODE=<mode> -P ${CMAKE_CURRENT_LIST_FILE}")
endif()
include("${TEST_CONFIG}")

set(PREFIX "${WORK_DIR}/prefix")          # the installed tree, after the move
set(STAGE "${WORK_DIR}/install-stage")    # where cmake --install put it
set(PREFIX_LIBDIR "${PREFIX}/${INSTALL_LIBDIR}")

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

# run(COMMAND <argv>... [WORKING_DIRECTORY <dir>] [OUTPUT_VARIABLE <var>])
# Runs a command, echoes it and its output, fails the test if it fails.
# With OUTPUT_VARIABLE, stdout goes there (stripped) instead of the log.
function(run)
  cmake_parse_arguments(arg "" "WORKING_DIRECTORY;OUTPUT_VARIABLE" "COMMAND" ${ARGN})
  string(REPLACE ";" " " pretty "${arg_COMMAND}")
  message(STATUS "$ ${pretty}")
  set(extra "")
  if(arg_WORKING_DIRECTORY)
    list(APPEND extra WORKING_DIRECTORY "${arg_WORKING_DIRECTORY}")
  endif()
  if(arg_OUTPUT_VARIABLE)
    list(APPEND extra OUTPUT_VARIABLE out ERROR_VARIABLE err)
  else()
    list(APPEND extra OUTPUT_VARIABLE err ERROR_VARIABLE err)   # interleaved
  endif()
  execute_process(COMMAND ${arg_COMMAND} ${extra} RESULT_VARIABLE rc TIMEOUT 1200)
  if(NOT err STREQUAL "")
    message("${err}")
  endif()
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${pretty}")
  endif()
  if(arg_OUTPUT_VARIABLE)
    string(STRIP "${out}" out)
    set(${arg_OUTPUT_VARIABLE} "${out}" PARENT_SCOPE)
  endif()
endfunction()

# Writes an initial-cache file (cmake -C) for a consumer build. Values go
# through a file so that lists survive.
function(write_init_cache file)
  set(content "")
  foreach(pair
      CMAKE_C_COMPILER=C_COMPILER
      CMAKE_BUILD_TYPE=BUILD_TYPE
      CMAKE_MAKE_PROGRAM=MAKE_PROGRAM
      ${ARGN})
    string(REPLACE "=" ";" pair "${pair}")
    list(GET pair 0 name)
    list(GET pair 1 var)
    if(NOT "${${var}}" STREQUAL "")
      string(APPEND content "set(${name} [==[${${var}}]==] CACHE STRING \"\")\n")
    endif()
  endforeach()
  file(WRITE "${file}" "${content}")
endfunction()

# Configures and builds tests/consumer in <dir> (removed first).
function(build_consumer dir)
  file(REMOVE_RECURSE "${dir}")
  file(MAKE_DIRECTORY "${dir}")
  write_init_cache("${dir}-init.cmake" ${ARGN})
  set(gen_args -G "${GENERATOR}")
  if(GENERATOR_PLATFORM)
    list(APPEND gen_args -A "${GENERATOR_PLATFORM}")
  endif()
  if(GENERATOR_TOOLSET)
    list(APPEND gen_args -T "${GENERATOR_TOOLSET}")
  endif()
  run(COMMAND "${CMAKE_COMMAND}" ${gen_args} -C "${dir}-init.cmake"
              -S "${CONSUMER_DIR}" -B "${dir}")
  build_again("${dir}")
endfunction()

function(build_again dir)
  set(config_args "")
  if(CONFIG)
    set(config_args --config "${CONFIG}")
  endif()
  run(COMMAND "${CMAKE_COMMAND}" --build "${dir}" ${config_args})
endfunction()

# Sets <var> to the path of executable <name> built in <dir>, or "".
function(find_executable var dir name)
  set(${var} "" PARENT_SCOPE)
  foreach(candidate "${dir}/${name}" "${dir}/${name}.exe"
                    "${dir}/${CONFIG}/${name}" "${dir}/${CONFIG}/${name}.exe")
    if(EXISTS "${candidate}" AND NOT IS_DIRECTORY "${candidate}")
      set(${var} "${candidate}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
endfunction()

# check_needed(<binary> SHARED|STATIC): with SHARED, the binary must record
# the soname (libmicroroute.so.0, not libmicroroute.so) and the symbol
# version (MICROROUTE_x.y); with STATIC it must not depend on libmicroroute
# at all. Skipped without readelf.
function(check_needed binary kind)
  if(NOT READELF)
    message(STATUS "readelf not available: not checking the NEEDED entries of ${binary}")
    return()
  endif()
  run(COMMAND "${READELF}" -d "${binary}" OUTPUT_VARIABLE dynamic)
  string(REGEX MATCHALL "\\(NEEDED\\)[^\n]*\\[[^]\n]*microroute[^]\n]*\\]" needed "${dynamic}")
  if(kind STREQUAL "SHARED")
    if(NOT needed MATCHES "\\[${SONAME}\\]")
      message(FATAL_ERROR "${binary} does not record ${SONAME} as NEEDED: ${needed}")
    endif()
    run(COMMAND "${READELF}" -V "${binary}" OUTPUT_VARIABLE versions)
    if(NOT versions MATCHES "Name: (MICROROUTE_[0-9]+\\.[0-9]+)")
      message(FATAL_ERROR "${binary} does not record a MICROROUTE_ symbol version")
    endif()
    message(STATUS "${binary}: needs ${SONAME}, symbol version ${CMAKE_MATCH_1}")
  elseif(needed)
    message(FATAL_ERROR "${binary} should be linked statically but needs: ${needed}")
  else()
    message(STATUS "${binary}: no libmicroroute in NEEDED (static)")
  endif()
endfunction()

# Runs a consumer executable, expecting the project version.
# Without extra arguments LD_LIBRARY_PATH is cleared; otherwise ARGN are
# NAME=VALUE environment settings.
function(run_consumer exe)
  if(NOT EXISTS "${exe}")
    message(FATAL_ERROR "not built: ${exe}")
  endif()
  set(env --unset=LD_LIBRARY_PATH)
  if(ARGN)
    set(env ${ARGN})
  endif()
  run(COMMAND "${CMAKE_COMMAND}" -E env ${env} "${exe}" "${EXPECTED_VERSION}")
endfunction()

# Fails unless the relocated install tree exists (consumer.install made it).
function(require_install)
  if(NOT EXISTS "${PREFIX}/${INSTALL_CMAKEDIR}/microrouteConfig.cmake")
    message(FATAL_ERROR "no installed tree in ${PREFIX}: run the consumer.install test first")
  endif()
endfunction()

function(mtime var file)
  file(TIMESTAMP "${file}" stamp "%s" UTC)
  set(${var} "${stamp}" PARENT_SCOPE)
endfunction()

# C flags for the pkg-config builds: the same strictness as the CMake consumer.
set(STRICT_C_FLAGS "")
if(C_COMPILER_ID MATCHES "GNU|Clang")
  set(STRICT_C_FLAGS -std=c99 -Wall -Wextra -pedantic -Werror)
endif()

# ---------------------------------------------------------------------------
# Modes
# ---------------------------------------------------------------------------

set(dir "${WORK_DIR}/${MODE}")

if(MODE STREQUAL "add_subdirectory")
  # Same cargo target dir and arguments as the main build: cargo finds the
  # crate up to date instead of compiling it again.
  set(MICROROUTE_SOURCE_DIR "${SOURCE_DIR}")
  if(EXISTS "${CARGO_STATIC_LIBRARY}")
    mtime(archive_before "${CARGO_STATIC_LIBRARY}")
  endif()
  build_consumer("${dir}"
    MICROROUTE_SOURCE_DIR=MICROROUTE_SOURCE_DIR
    CARGO=CARGO
    MICROROUTE_CARGO_PROFILE=CARGO_PROFILE
    MICROROUTE_CARGO_TARGET=CARGO_TARGET
    MICROROUTE_CARGO_TARGET_DIR=CARGO_TARGET_DIR
    MICROROUTE_CARGO_FLAGS=CARGO_FLAGS
    MICROROUTE_NATIVE_STATIC_LIBS=NATIVE_STATIC_LIBS)
  mtime(archive_after "${CARGO_STATIC_LIBRARY}")
  if(DEFINED archive_before AND NOT archive_before STREQUAL archive_after)
    message(WARNING "the consumer build rebuilt ${CARGO_STATIC_LIBRARY}: the main build "
                    "was out of date, or the consumer passed cargo other arguments")
  endif()

  find_executable(static_exe "${dir}" consumer_static)
  run_consumer("${static_exe}")
  check_needed("${static_exe}" STATIC)
  set(outputs "${static_exe}")
  if(SHARED_LIBRARY)
    find_executable(shared_exe "${dir}" consumer_shared)
    run_consumer("${shared_exe}")               # found through the build RPATH
    check_needed("${shared_exe}" SHARED)
    list(APPEND outputs "${shared_exe}")
    file(GLOB libs LIST_DIRECTORIES false "${dir}/microroute/*microroute*")
    list(APPEND outputs ${libs})
  endif()

  # A no-op rebuild runs cargo (which finds nothing to do) and must not relink
  # anything: the BYPRODUCTS keep their timestamps.
  set(stamps "")
  foreach(output IN LISTS outputs)
    mtime(stamp "${output}")
    list(APPEND stamps "${stamp}")
  endforeach()
  execute_process(COMMAND "${CMAKE_COMMAND}" -E sleep 1)   # a relink would show
  build_again("${dir}")
  foreach(output IN LISTS outputs)
    mtime(stamp "${output}")
    list(GET stamps 0 before)
    list(REMOVE_AT stamps 0)
    if(NOT stamp STREQUAL before)
      message(FATAL_ERROR "a no-op rebuild relinked ${output}")
    endif()
    message(STATUS "not relinked: ${output}")
  endforeach()

elseif(MODE STREQUAL "install")
  file(REMOVE_RECURSE "${STAGE}" "${PREFIX}")
  set(config_args "")
  if(CONFIG)
    set(config_args --config "${CONFIG}")
  endif()
  run(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${STAGE}" ${config_args})
  # Move the tree: every later test uses it where cmake --install did not put it.
  file(RENAME "${STAGE}" "${PREFIX}")

  set(expected
    "${INSTALL_LIBDIR}/${STATIC_LIBRARY_NAME}"
    "${INSTALL_INCLUDEDIR}/microroute.h"
    "${INSTALL_CMAKEDIR}/microrouteConfig.cmake"
    "${INSTALL_CMAKEDIR}/microrouteConfigVersion.cmake"
    "${INSTALL_LIBDIR}/pkgconfig/microroute-static.pc")
  if(EXISTS "${SOURCE_DIR}/include/microroute.hpp")
    list(APPEND expected "${INSTALL_INCLUDEDIR}/microroute.hpp")
  endif()
  if(SHARED_LIBRARY)
    get_filename_component(real_name "${SHARED_LIBRARY}" NAME)   # libmicroroute.so.0.1.0
    list(APPEND expected "${INSTALL_LIBDIR}/${real_name}"
                         "${INSTALL_CMAKEDIR}/microrouteTargets.cmake"
                         "${INSTALL_LIBDIR}/pkgconfig/microroute.pc")
  endif()
  foreach(file IN LISTS expected)
    if(NOT EXISTS "${PREFIX}/${file}")
      message(FATAL_ERROR "not installed: ${file}")
    endif()
    message(STATUS "installed: ${file}")
  endforeach()

  if(SHARED_LIBRARY)
    # libmicroroute.so -> libmicroroute.so.0 -> libmicroroute.so.0.1.0
    string(REGEX REPLACE "\\.so\\..*$" ".so" link_name "${real_name}")
    foreach(link_target IN ITEMS "${link_name}:${SONAME}" "${SONAME}:${real_name}")
      string(REPLACE ":" ";" link_target "${link_target}")
      list(GET link_target 0 link)
      list(GET link_target 1 target)
      set(link "${PREFIX_LIBDIR}/${link}")
      if(NOT IS_SYMLINK "${link}")
        message(FATAL_ERROR "${link} should be a symbolic link to ${target}")
      endif()
      file(READ_SYMLINK "${link}" points_to)
      if(NOT points_to STREQUAL target)
        message(FATAL_ERROR "${link} points to ${points_to}, not ${target}")
      endif()
    endforeach()
    if(READELF)
      run(COMMAND "${READELF}" -d "${PREFIX_LIBDIR}/${real_name}" OUTPUT_VARIABLE dynamic)
      if(NOT dynamic MATCHES "\\(SONAME\\)[^\n]*\\[${SONAME}\\]")
        message(FATAL_ERROR "installed library does not have the soname ${SONAME}")
      endif()
    endif()
  endif()

  # Nothing installed may point back at the build, the sources or the
  # staging prefix: the tree must work wherever it is moved.
  file(GLOB_RECURSE text_files
       "${PREFIX}/${INSTALL_CMAKEDIR}/*.cmake" "${PREFIX_LIBDIR}/pkgconfig/*.pc")
  foreach(file IN LISTS text_files)
    file(READ "${file}" content)
    foreach(path IN ITEMS "${STAGE}" "${BUILD_DIR}" "${SOURCE_DIR}")
      string(FIND "${content}" "${path}" at)
      if(NOT at EQUAL -1)
        message(FATAL_ERROR "${file} contains the absolute path ${path}")
      endif()
    endforeach()
  endforeach()

elseif(MODE STREQUAL "find_package")
  require_install()
  set(prefix_path "${PREFIX}")
  set(no_registry OFF)
  build_consumer("${dir}"
    CMAKE_PREFIX_PATH=prefix_path
    CMAKE_FIND_USE_PACKAGE_REGISTRY=no_registry)
  # It must have found the moved tree, not some other microroute.
  file(STRINGS "${dir}/CMakeCache.txt" found REGEX "^microroute_DIR:")
  string(REGEX REPLACE "^[^=]*=" "" found "${found}")
  get_filename_component(found "${found}" REALPATH)
  get_filename_component(expected_dir "${PREFIX}/${INSTALL_CMAKEDIR}" REALPATH)
  if(NOT found STREQUAL expected_dir)
    message(FATAL_ERROR "find_package found microroute in '${found}', not '${expected_dir}'")
  endif()

  find_executable(static_exe "${dir}" consumer_static)
  run_consumer("${static_exe}")
  check_needed("${static_exe}" STATIC)
  if(SHARED_LIBRARY)
    find_executable(shared_exe "${dir}" consumer_shared)
    run_consumer("${shared_exe}")               # RPATH into the moved prefix
    check_needed("${shared_exe}" SHARED)
  endif()

elseif(MODE MATCHES "^pkg_config(_static)?$")
  require_install()
  if(NOT PKG_CONFIG)
    message(FATAL_ERROR "pkg-config not found")
  endif()
  set(ENV{PKG_CONFIG_PATH} "${PREFIX_LIBDIR}/pkgconfig")
  if(MODE STREQUAL "pkg_config")
    set(query microroute)
  else()
    set(query --static microroute-static)
  endif()
  list(GET query -1 package)

  run(COMMAND "${PKG_CONFIG}" --modversion ${package} OUTPUT_VARIABLE version)
  if(NOT version STREQUAL EXPECTED_VERSION)
    message(FATAL_ERROR "pkg-config says ${package} ${version}, expected ${EXPECTED_VERSION}")
  endif()
  run(COMMAND "${PKG_CONFIG}" --cflags ${query} OUTPUT_VARIABLE cflags)
  run(COMMAND "${PKG_CONFIG}" --libs ${query} OUTPUT_VARIABLE libs)
  separate_arguments(cflags UNIX_COMMAND "${cflags}")
  separate_arguments(libs UNIX_COMMAND "${libs}")

  file(REMOVE_RECURSE "${dir}")
  file(MAKE_DIRECTORY "${dir}")
  set(exe "${dir}/consumer")
  run(COMMAND "${C_COMPILER}" ${STRICT_C_FLAGS} ${cflags}
              "${CONSUMER_DIR}/main.c" -o "${exe}" ${libs})
  if(MODE STREQUAL "pkg_config")
    check_needed("${exe}" SHARED)
    run_consumer("${exe}" "LD_LIBRARY_PATH=${PREFIX_LIBDIR}")
  else()
    check_needed("${exe}" STATIC)
    run_consumer("${exe}")
  endif()

else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()

message(STATUS "${MODE}: OK")
