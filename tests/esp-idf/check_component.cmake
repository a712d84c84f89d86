# esp_idf.component_cmake: the ESP-IDF component's CMake logic, without
# ESP-IDF and without a Rust target for the chip.
#
#   cmake -DTEST_CONFIG=<file written by CMakeLists.txt> -P check_component.cmake
#
# 1. microroute.cmake's functions, in script mode: the Rust triple of every
#    chip (and an error for an unknown one), the toolchain, the cargo
#    arguments, environment and library path.
# 2. ESP-IDF's first, script-mode pass over the component's CMakeLists.txt
#    (component_stub/early_expansion.cmake): it runs, and its requirements
#    do not depend on the configuration.
# 3. A stub ESP-IDF project (component_stub/) configured and built for
#    several chips and settings with a stand-in cargo (fake_cargo.sh): the
#    ExternalProject command, the environment cargo gets, the imported
#    archive and its link into the "firmware", which then runs. Unknown
#    chips and a wrong crate folder must fail at configure time.

cmake_minimum_required(VERSION 3.16)
include("${TEST_CONFIG}")
set(_here "${CMAKE_CURRENT_LIST_DIR}")
set(_component "${SOURCE_DIR}/esp-idf/microroute")
set(_failures 0)

macro(fail msg)
  message(SEND_ERROR "FAIL: ${msg}")
  math(EXPR _failures "${_failures} + 1")
endmacro()

macro(expect_eq what got want)
  if(NOT "${got}" STREQUAL "${want}")
    fail("${what}:\n    got  '${got}'\n    want '${want}'")
  endif()
endmacro()

macro(expect_in what item list)
  set(_l "${list}")
  if(NOT "${item}" IN_LIST _l)
    fail("${what}: '${item}' not in '${list}'")
  endif()
endmacro()

macro(expect_not_in what item list)
  set(_l "${list}")
  if("${item}" IN_LIST _l)
    fail("${what}: '${item}' must not be in '${list}'")
  endif()
endmacro()

# ---------------------------------------------------------------------------
# 1. microroute.cmake, in script mode
# ---------------------------------------------------------------------------

include("${_component}/microroute.cmake")

# The table, written out independently of the one in microroute.cmake.
set(_expected
  esp32   xtensa-esp32-espidf     esp
  esp32s2 xtensa-esp32s2-espidf   esp
  esp32s3 xtensa-esp32s3-espidf   esp
  esp32c2 riscv32imc-esp-espidf   nightly
  esp32c3 riscv32imc-esp-espidf   nightly
  esp32c6 riscv32imac-esp-espidf  nightly
  esp32h2 riscv32imac-esp-espidf  nightly
  esp32p4 riscv32imafc-esp-espidf nightly)
list(LENGTH _expected _n)
math(EXPR _last "${_n} - 1")
foreach(_i RANGE 0 ${_last} 3)
  math(EXPR _j "${_i} + 1")
  math(EXPR _k "${_i} + 2")
  list(GET _expected ${_i} _chip)
  list(GET _expected ${_j} _want_triple)
  list(GET _expected ${_k} _want_tc)
  microroute_esp_rust_target(_triple "${_chip}")
  expect_eq("triple of ${_chip}" "${_triple}" "${_want_triple}")
  microroute_esp_toolchain(_tc "${_triple}")
  expect_eq("toolchain of ${_chip}" "${_tc}" "${_want_tc}")
  microroute_esp_toolchain(_tc "${_triple}" "")
  expect_eq("toolchain of ${_chip} (empty override)" "${_tc}" "${_want_tc}")
endforeach()
microroute_esp_toolchain(_tc riscv32imc-esp-espidf "nightly-2026-01-01")
expect_eq("toolchain override" "${_tc}" "nightly-2026-01-01")

# Unknown chips stop the configuration with a message naming them.
foreach(_chip esp8266 linux "")
  file(WRITE "${WORK_DIR}/unknown.cmake"
    "include([==[${_component}/microroute.cmake]==])\n"
    "microroute_esp_rust_target(t [==[${_chip}]==])\n"
    "message(\"no error: \${t}\")\n")
  execute_process(COMMAND "${CMAKE_COMMAND}" -P "${WORK_DIR}/unknown.cmake"
                  RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
  string(REGEX REPLACE "[ \t\r\n]+" " " _err "${_err}") # message() wraps lines
  if(_rc EQUAL 0)
    fail("IDF_TARGET '${_chip}' was accepted: ${_err}")
  elseif(NOT _err MATCHES "no Rust target known for IDF_TARGET '${_chip}'\\. +Supported: esp32, esp32s2,"
         OR NOT _err MATCHES "-DMICROROUTE_RUST_TARGET=")
    fail("IDF_TARGET '${_chip}': unexpected message: ${_err}")
  endif()
endforeach()

# cargo's arguments.
microroute_esp_cargo_args(_args MANIFEST /crate/Cargo.toml TRIPLE riscv32imc-esp-espidf
                          PROFILE release-small)
expect_eq("cargo arguments"
  "${_args}"
  "build;--lib;--manifest-path;/crate/Cargo.toml;--target;riscv32imc-esp-espidf;--profile;release-small;--no-default-features;-Zbuild-std=std,panic_abort")
microroute_esp_cargo_args(_args MANIFEST /crate/Cargo.toml TRIPLE xtensa-esp32-espidf
                          PROFILE release-small TEMPLATES ON EXTRA --locked --offline)
expect_eq("cargo arguments (templates, extra)"
  "${_args}"
  "build;--lib;--manifest-path;/crate/Cargo.toml;--target;xtensa-esp32-espidf;--profile;release-small;--no-default-features;--features;templates;-Zbuild-std=std,panic_abort;--locked;--offline")
microroute_esp_cargo_args(_args MANIFEST /c/Cargo.toml TRIPLE t PROFILE p TEMPLATES OFF)
expect_not_in("templates off" "templates" "${_args}")

# cargo's environment.
foreach(_major 5 6 "")
  microroute_esp_cargo_env(_env TOOLCHAIN nightly TARGET_DIR /b/cargo PROFILE release-small
                           IDF_VERSION_MAJOR "${_major}")
  expect_eq("cargo environment (IDF '${_major}')"
    "${_env}"
    "RUSTUP_TOOLCHAIN=nightly;CARGO_TARGET_DIR=/b/cargo;CARGO_PROFILE_RELEASE_SMALL_PANIC=abort;RUSTFLAGS=--cfg espidf_time64")
endforeach()
microroute_esp_cargo_env(_env TOOLCHAIN esp TARGET_DIR /b PROFILE release-small IDF_VERSION_MAJOR 4)
expect_not_in("no espidf_time64 for IDF 4" "RUSTFLAGS=--cfg espidf_time64" "${_env}")
microroute_esp_cargo_env(_env TOOLCHAIN esp TARGET_DIR /b PROFILE my-profile IDF_VERSION_MAJOR 5
                         RUSTFLAGS "-Copt-level=s")
expect_in("profile panic variable" "CARGO_PROFILE_MY_PROFILE_PANIC=abort" "${_env}")
expect_in("extra RUSTFLAGS" "RUSTFLAGS=--cfg espidf_time64 -Copt-level=s" "${_env}")

# Where cargo writes the archive.
microroute_esp_library_path(_lib TARGET_DIR /b/cargo TRIPLE riscv32imc-esp-espidf PROFILE release-small)
expect_eq("library path" "${_lib}" "/b/cargo/riscv32imc-esp-espidf/release-small/libmicroroute.a")
microroute_esp_library_path(_lib TARGET_DIR /b TRIPLE t PROFILE dev)
expect_eq("library path (dev)" "${_lib}" "/b/t/debug/libmicroroute.a")

# ---------------------------------------------------------------------------
# 2. ESP-IDF's requirements pass
# ---------------------------------------------------------------------------

execute_process(
  COMMAND "${CMAKE_COMMAND}" "-DCOMPONENT_DIR=${_component}"
          -P "${_here}/component_stub/early_expansion.cmake"
  RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
if(NOT _rc EQUAL 0)
  fail("early expansion (script mode) failed:\n${_err}")
else()
  expect_eq("early expansion: PRIV_REQUIRES" "${_err}" "REQUIRES=\nPRIV_REQUIRES=pthread;vfs;lwip\n")
endif()

# ---------------------------------------------------------------------------
# 3. The stub ESP-IDF project
# ---------------------------------------------------------------------------

set(_fake_cargo "${WORK_DIR}/bin/fake_cargo")
file(COPY "${_here}/fake_cargo.sh" DESTINATION "${WORK_DIR}/bin"
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                      WORLD_READ WORLD_EXECUTE)
file(RENAME "${WORK_DIR}/bin/fake_cargo.sh" "${_fake_cargo}")
set(ENV{FAKE_CARGO_LIB} "${STATIC_LIBRARY}")

# Configures (and builds and runs, if BUILD) the stub project in
# WORK_DIR/<name>; leaves the result in _rc and the output in _log.
function(stub_project name idf_target)
  cmake_parse_arguments(A "BUILD" "" "ARGS" ${ARGN})
  set(_dir "${WORK_DIR}/${name}")
  file(REMOVE_RECURSE "${_dir}")
  set(_gen -G "${GENERATOR}")
  if(MAKE_PROGRAM)
    list(APPEND _gen "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
  endif()
  execute_process(
    COMMAND "${CMAKE_COMMAND}" -S "${_here}/component_stub" -B "${_dir}" ${_gen}
            "-DCMAKE_C_COMPILER=${C_COMPILER}"
            "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}"
            "-DMR_COMPONENT_DIR=${_component}"
            "-DMR_STUB_HEADERS=${_here}/stubs"
            "-DMR_STUB_IDF_C=${_here}/stub_idf.c"
            "-DMR_NATIVE_LIBS=${NATIVE_LIBS}"
            "-DCARGO=${_fake_cargo}"
            "-DIDF_TARGET=${idf_target}"
            ${A_ARGS}
    RESULT_VARIABLE _r OUTPUT_VARIABLE _o ERROR_VARIABLE _e)
  set(_log "${_o}${_e}")
  string(REGEX REPLACE "[ \t\r\n]+" " " _flat "${_log}") # message() wraps lines
  set(_flat "${_flat}" PARENT_SCOPE)
  if(_r EQUAL 0 AND A_BUILD)
    set(ENV{FAKE_CARGO_LOG} "${_dir}/cargo.log")
    execute_process(COMMAND "${CMAKE_COMMAND}" --build "${_dir}"
                    RESULT_VARIABLE _r OUTPUT_VARIABLE _o ERROR_VARIABLE _e)
    string(APPEND _log "${_o}${_e}")
    if(_r EQUAL 0)
      execute_process(COMMAND "${_dir}/app" RESULT_VARIABLE _r OUTPUT_VARIABLE _o ERROR_VARIABLE _e)
      string(APPEND _log "${_o}${_e}")
    endif()
  endif()
  set(_rc "${_r}" PARENT_SCOPE)
  set(_log "${_log}" PARENT_SCOPE)
endfunction()

# Reads the fake cargo's log into CARGO_ARGS (list) and CARGO_ENV_<NAME>.
macro(read_cargo_log dir)
  set(CARGO_ARGS "")
  file(STRINGS "${dir}/cargo.log" _lines)
  foreach(_line IN LISTS _lines)
    if(_line MATCHES "^ARG (.*)$")
      list(APPEND CARGO_ARGS "${CMAKE_MATCH_1}")
    elseif(_line MATCHES "^ENV ([A-Z_]+)=(.*)$")
      set(CARGO_ENV_${CMAKE_MATCH_1} "${CMAKE_MATCH_2}")
    elseif(_line MATCHES "^CWD (.*)$")
      set(CARGO_CWD "${CMAKE_MATCH_1}")
    endif()
  endforeach()
endmacro()

get_filename_component(_crate "${SOURCE_DIR}" ABSOLUTE)

# a) esp32c3 (RISC-V), IDF 5, the Kconfig defaults.
stub_project(c3 esp32c3 BUILD ARGS -DIDF_VERSION_MAJOR=5)
if(NOT _rc EQUAL 0)
  fail("stub project for esp32c3 failed:\n${_log}")
else()
  include("${WORK_DIR}/c3/facts.cmake")
  set(_lib "${WORK_DIR}/c3/microroute/cargo/riscv32imc-esp-espidf/release-small/libmicroroute.a")
  expect_eq("esp32c3: imported archive" "${FACT_rust_location}" "${_lib}")
  expect_eq("esp32c3: ExternalProject byproduct" "${FACTBUILD_BYPRODUCTS}" "${_lib}")
  expect_eq("esp32c3: archive's links" "${FACT_rust_links}" "__idf_pthread;__idf_vfs;__idf_lwip")
  expect_in("esp32c3: component links the archive" "microroute_rust" "${FACT_lib_links}")
  expect_eq("esp32c3: PRIV_REQUIRES" "${FACT_priv_requires}" "pthread;vfs;lwip")
  expect_eq("esp32c3: REQUIRES" "${FACT_requires}" "")
  expect_eq("esp32c3: public include folders" "${FACT_includes}"
            "${_component}/include;${_crate}/include")
  expect_eq("esp32c3: sources" "${FACT_srcs}" "${_component}/microroute_esp.c")
  read_cargo_log("${WORK_DIR}/c3")
  expect_eq("esp32c3: cargo arguments" "${CARGO_ARGS}"
    "build;--lib;--manifest-path;${_crate}/Cargo.toml;--target;riscv32imc-esp-espidf;--profile;release-small;--no-default-features;-Zbuild-std=std,panic_abort")
  expect_eq("esp32c3: RUSTUP_TOOLCHAIN" "${CARGO_ENV_RUSTUP_TOOLCHAIN}" "nightly")
  expect_eq("esp32c3: CARGO_TARGET_DIR" "${CARGO_ENV_CARGO_TARGET_DIR}" "${WORK_DIR}/c3/microroute/cargo")
  expect_eq("esp32c3: RUSTFLAGS" "${CARGO_ENV_RUSTFLAGS}" "--cfg espidf_time64")
  expect_eq("esp32c3: panic" "${CARGO_ENV_CARGO_PROFILE_RELEASE_SMALL_PANIC}" "abort")
  if(NOT _log MATCHES "app: microroute [0-9]+\\.[0-9]+\\.[0-9]+, component linked")
    fail("esp32c3: the app did not run:\n${_log}")
  endif()
endif()

# b) esp32s3 (Xtensa), IDF 6, templates on, a pinned toolchain and extra
#    cargo arguments from menuconfig, extra RUSTFLAGS from CMake.
stub_project(s3 esp32s3 BUILD ARGS -DIDF_VERSION_MAJOR=6
  -DCONFIG_MICROROUTE_TEMPLATES=y
  "-DCONFIG_MICROROUTE_CARGO_TOOLCHAIN=esp-1.90"
  "-DCONFIG_MICROROUTE_CARGO_EXTRA_ARGS=--locked --offline"
  "-DMICROROUTE_RUSTFLAGS=-Copt-level=s")
if(NOT _rc EQUAL 0)
  fail("stub project for esp32s3 failed:\n${_log}")
else()
  read_cargo_log("${WORK_DIR}/s3")
  expect_eq("esp32s3: cargo arguments" "${CARGO_ARGS}"
    "build;--lib;--manifest-path;${_crate}/Cargo.toml;--target;xtensa-esp32s3-espidf;--profile;release-small;--no-default-features;--features;templates;-Zbuild-std=std,panic_abort;--locked;--offline")
  expect_eq("esp32s3: RUSTUP_TOOLCHAIN" "${CARGO_ENV_RUSTUP_TOOLCHAIN}" "esp-1.90")
  expect_eq("esp32s3: RUSTFLAGS" "${CARGO_ENV_RUSTFLAGS}" "--cfg espidf_time64 -Copt-level=s")
endif()

# c) esp32c6 (configure only): CMake variables win over menuconfig; the
#    crate folder can be given explicitly; a forced triple needs no mapping.
stub_project(c6 esp32c6 ARGS -DIDF_VERSION_MAJOR=5
  "-DCONFIG_MICROROUTE_CARGO_TOOLCHAIN=from-kconfig"
  "-DMICROROUTE_CARGO_TOOLCHAIN=from-cmake"
  "-DCONFIG_MICROROUTE_CRATE_DIR=${SOURCE_DIR}")
if(NOT _rc EQUAL 0)
  fail("stub project for esp32c6 failed:\n${_log}")
else()
  include("${WORK_DIR}/c6/facts.cmake")
  expect_in("esp32c6: triple" "riscv32imac-esp-espidf" "${FACTBUILD_COMMAND}")
  expect_in("esp32c6: CMake toolchain wins" "RUSTUP_TOOLCHAIN=from-cmake" "${FACTBUILD_COMMAND}")
endif()
stub_project(forced esp32c61 ARGS -DIDF_VERSION_MAJOR=5 -DMICROROUTE_RUST_TARGET=riscv32imac-esp-espidf)
if(NOT _rc EQUAL 0)
  fail("forced triple for an unmapped chip failed:\n${_log}")
endif()

# d) What must fail, with a message that says what to do.
stub_project(unknown esp8266 ARGS -DIDF_VERSION_MAJOR=5)
if(_rc EQUAL 0)
  fail("IDF_TARGET esp8266 configured")
elseif(NOT _flat MATCHES "no Rust target known for IDF_TARGET 'esp8266'")
  fail("IDF_TARGET esp8266: unexpected output:\n${_log}")
endif()
stub_project(nocrate esp32c3 ARGS -DIDF_VERSION_MAJOR=5 "-DCONFIG_MICROROUTE_CRATE_DIR=${WORK_DIR}")
if(_rc EQUAL 0)
  fail("a crate folder without Cargo.toml configured")
elseif(NOT _flat MATCHES "no Cargo.toml in '${WORK_DIR}'")
  fail("crate folder without Cargo.toml: unexpected output:\n${_log}")
endif()

if(_failures GREATER 0)
  message(FATAL_ERROR "esp_idf.component_cmake: ${_failures} check(s) failed")
endif()
message(STATUS "esp_idf.component_cmake: all checks passed")
