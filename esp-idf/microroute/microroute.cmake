# microroute.cmake: how the ESP-IDF component turns a chip into a cargo build.
#
# Functions only, no side effects: CMakeLists.txt beside this file calls them,
# and tests/esp-idf/ checks them in script mode (cmake -P) without ESP-IDF.
#
#   microroute_esp_rust_target(<out> <idf_target>)
#       The Rust target triple for an IDF_TARGET ("esp32c3" ->
#       "riscv32imc-esp-espidf"); FATAL_ERROR for a chip it does not know.
#   microroute_esp_toolchain(<out> <triple> [<override>])
#       The rustup toolchain: "esp" (espup) for Xtensa, "nightly" for RISC-V;
#       a non-empty <override> wins.
#   microroute_esp_cargo_args(<out> MANIFEST <Cargo.toml> TRIPLE <triple>
#                             PROFILE <profile> [TEMPLATES <bool>] [EXTRA <arg>...])
#       The arguments after "cargo": build --lib ... -Zbuild-std=std,panic_abort.
#   microroute_esp_cargo_env(<out> TOOLCHAIN <tc> TARGET_DIR <dir> PROFILE <profile>
#                            [IDF_VERSION_MAJOR <n>] [RUSTFLAGS <flags>])
#       NAME=value items for `cmake -E env`.
#   microroute_esp_library_path(<out> TARGET_DIR <dir> TRIPLE <triple> PROFILE <profile>)
#       Where cargo writes libmicroroute.a.

include_guard(GLOBAL)

# IDF_TARGET -> Rust target triple. The RISC-V triples differ by ISA
# extensions (C2/C3: IMC; C6/H2: IMAC; P4: IMAFC); each Xtensa chip has its
# own triple. Chips not listed here (newer ones) fail with a clear message;
# MICROROUTE_RUST_TARGET (a CMake variable) forces a triple for them.
set(MICROROUTE_ESP_TARGETS
  esp32   xtensa-esp32-espidf
  esp32s2 xtensa-esp32s2-espidf
  esp32s3 xtensa-esp32s3-espidf
  esp32c2 riscv32imc-esp-espidf
  esp32c3 riscv32imc-esp-espidf
  esp32c6 riscv32imac-esp-espidf
  esp32h2 riscv32imac-esp-espidf
  esp32p4 riscv32imafc-esp-espidf)

function(microroute_esp_rust_target out idf_target)
  set(_known "")
  set(_map ${MICROROUTE_ESP_TARGETS})
  list(LENGTH _map _n)
  math(EXPR _last "${_n} - 1")
  foreach(_i RANGE 0 ${_last} 2)
    math(EXPR _j "${_i} + 1")
    list(GET _map ${_i} _chip)
    list(GET _map ${_j} _triple)
    list(APPEND _known "${_chip}")
    if(idf_target STREQUAL _chip)
      set(${out} "${_triple}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  string(REPLACE ";" ", " _known "${_known}")
  message(FATAL_ERROR
    "microroute: no Rust target known for IDF_TARGET '${idf_target}'. "
    "Supported: ${_known}. For another chip, pass its Rust target triple "
    "with -DMICROROUTE_RUST_TARGET=<triple> (see `rustc --print target-list | grep espidf`).")
endfunction()

function(microroute_esp_toolchain out triple)
  set(_override "")
  if(ARGC GREATER 2)
    set(_override "${ARGV2}")
  endif()
  if(NOT _override STREQUAL "")
    set(${out} "${_override}" PARENT_SCOPE)
  elseif(triple MATCHES "^xtensa-")
    # Xtensa needs the Espressif fork of rustc (installed by espup as "esp").
    set(${out} "esp" PARENT_SCOPE)
  elseif(triple MATCHES "^riscv32")
    # Upstream rustc has the RISC-V ESP-IDF targets (tier 3): nightly for -Zbuild-std.
    set(${out} "nightly" PARENT_SCOPE)
  else()
    message(FATAL_ERROR "microroute: no toolchain known for Rust target '${triple}'; "
                        "set MICROROUTE_CARGO_TOOLCHAIN")
  endif()
endfunction()

function(microroute_esp_cargo_args out)
  cmake_parse_arguments(A "" "MANIFEST;TRIPLE;PROFILE;TEMPLATES" "EXTRA" ${ARGN})
  foreach(_req MANIFEST TRIPLE PROFILE)
    if(NOT A_${_req})
      message(FATAL_ERROR "microroute_esp_cargo_args: ${_req} is required")
    endif()
  endforeach()
  set(_args build --lib
    --manifest-path "${A_MANIFEST}"
    --target "${A_TRIPLE}"
    --profile "${A_PROFILE}"
    # Firmware leaves out what it does not ask for: templates need a
    # filesystem and cost ~1 MB of code.
    --no-default-features)
  if(A_TEMPLATES)
    list(APPEND _args --features templates)
  endif()
  # The ESP-IDF targets are tier 3: no prebuilt std, so cargo builds it.
  # panic_abort: these targets only abort on panic (their panic strategy
  # is "abort"; std's unwinder is a stub there).
  list(APPEND _args -Zbuild-std=std,panic_abort)
  list(APPEND _args ${A_EXTRA})
  set(${out} "${_args}" PARENT_SCOPE)
endfunction()

function(microroute_esp_cargo_env out)
  cmake_parse_arguments(A "" "TOOLCHAIN;TARGET_DIR;PROFILE;IDF_VERSION_MAJOR;RUSTFLAGS" "" ${ARGN})
  foreach(_req TOOLCHAIN TARGET_DIR PROFILE)
    if(NOT A_${_req})
      message(FATAL_ERROR "microroute_esp_cargo_env: ${_req} is required")
    endif()
  endforeach()
  # ESP-IDF 5 made time_t 64-bit. libc >= 0.2.162 assumes that by default
  # for target_os = "espidf"; older libc (and the std of older toolchains)
  # needs --cfg espidf_time64. Newer libc ignores the flag, so pass it for
  # IDF 5 and later (the component requires IDF >= 5.0).
  set(_rustflags "")
  if(NOT DEFINED A_IDF_VERSION_MAJOR OR A_IDF_VERSION_MAJOR STREQUAL ""
     OR A_IDF_VERSION_MAJOR GREATER_EQUAL 5)
    set(_rustflags "--cfg espidf_time64")
  endif()
  if(A_RUSTFLAGS)
    string(STRIP "${_rustflags} ${A_RUSTFLAGS}" _rustflags)
  endif()
  # Cargo.toml's profile keeps panic = "unwind" (the C boundary catches
  # panics on hosts); the ESP-IDF targets cannot unwind, so the profile is
  # switched to abort for this build only (cargo reads
  # CARGO_PROFILE_<NAME>_PANIC, '-' in the name becoming '_').
  string(TOUPPER "${A_PROFILE}" _p)
  string(REPLACE "-" "_" _p "${_p}")
  set(_env
    "RUSTUP_TOOLCHAIN=${A_TOOLCHAIN}"
    "CARGO_TARGET_DIR=${A_TARGET_DIR}"
    "CARGO_PROFILE_${_p}_PANIC=abort")
  if(NOT _rustflags STREQUAL "")
    list(APPEND _env "RUSTFLAGS=${_rustflags}")
  endif()
  set(${out} "${_env}" PARENT_SCOPE)
endfunction()

function(microroute_esp_library_path out)
  cmake_parse_arguments(A "" "TARGET_DIR;TRIPLE;PROFILE" "" ${ARGN})
  # Cargo names a profile's folder after the profile, except dev -> debug.
  set(_dir "${A_PROFILE}")
  if(_dir STREQUAL "dev" OR _dir STREQUAL "test")
    set(_dir debug)
  elseif(_dir STREQUAL "bench")
    set(_dir release)
  endif()
  set(${out} "${A_TARGET_DIR}/${A_TRIPLE}/${_dir}/libmicroroute.a" PARENT_SCOPE)
endfunction()
