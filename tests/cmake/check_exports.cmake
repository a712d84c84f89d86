# Checks what libmicroroute.so (the microroute_shared target) exports (cmake -P).
#
#   cmake -DTEST_CONFIG=<build>/tests/cmake/consumer-test-<config>.cmake -P check_exports.cmake
#
# - its soname is SONAME (libmicroroute.so.0);
# - every defined dynamic symbol is a function of the C API (mr_*, server_*,
#   req_*, resp_*) with a MICROROUTE_x.y version: nothing of Rust std or of
#   the crate's dependencies leaks;
# - the exported functions are exactly those declared in include/microroute.h
#   (a function whose name the version script does not match would be missing).

cmake_minimum_required(VERSION 3.16)
include("${TEST_CONFIG}")

if(NOT READELF)
  message(FATAL_ERROR "readelf is needed (binutils)")
endif()
if(NOT EXISTS "${SHARED_LIBRARY}")
  message(FATAL_ERROR "not built: ${SHARED_LIBRARY}")
endif()

function(run var)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " pretty "${ARGN}")
    message(FATAL_ERROR "${pretty} failed (${rc}):\n${err}")
  endif()
  set(${var} "${out}" PARENT_SCOPE)
endfunction()

# Soname.
run(dynamic "${READELF}" -d "${SHARED_LIBRARY}")
if(NOT dynamic MATCHES "\\(SONAME\\)[^\n]*\\[${SONAME}\\]")
  message(FATAL_ERROR "${SHARED_LIBRARY} does not have the soname ${SONAME}:\n${dynamic}")
endif()

# Defined dynamic symbols. `readelf --dyn-syms -W` lists name@@VERSION for
# every binutils version (nm prints versions only since 2.35).
run(syms "${READELF}" --dyn-syms -W "${SHARED_LIBRARY}")
string(REPLACE "\n" ";" lines "${syms}")
set(exported "")
set(bad "")
foreach(line IN LISTS lines)
  # Num: Value Size Type Bind Vis Ndx Name
  if(NOT line MATCHES "^ *[0-9]+: +[0-9a-fA-F]+ +[0-9]+ +([A-Z_]+) +([A-Z_]+) +[A-Z_]+ +([A-Z0-9_]+) +(.+)$")
    continue()
  endif()
  set(type "${CMAKE_MATCH_1}")
  set(bind "${CMAKE_MATCH_2}")
  set(ndx "${CMAKE_MATCH_3}")
  set(name "${CMAKE_MATCH_4}")
  if(ndx STREQUAL "UND" OR bind STREQUAL "LOCAL")
    continue()                                    # imported, or the null entry
  endif()
  if(type STREQUAL "OBJECT" AND ndx STREQUAL "ABS" AND name MATCHES "^MICROROUTE_[0-9.]+$")
    continue()                                    # the version node itself
  endif()
  if(name MATCHES "^((mr|server|req|resp)_[A-Za-z0-9_]*)@@?MICROROUTE_[0-9]+\\.[0-9]+$"
     AND type STREQUAL "FUNC")
    list(APPEND exported "${CMAKE_MATCH_1}")
  else()
    list(APPEND bad "${type} ${bind} ${name}")
  endif()
endforeach()
if(bad)
  string(REPLACE ";" "\n  " bad "${bad}")
  message(FATAL_ERROR "${SHARED_LIBRARY} exports symbols outside the C API, "
                      "or without a MICROROUTE_ version:\n  ${bad}")
endif()
if(NOT exported)
  message(FATAL_ERROR "${SHARED_LIBRARY} exports nothing:\n${syms}")
endif()

# Functions declared by the header: cbindgen writes each declaration from
# column 0 ("const char *mr_version(void);", "int server_route(mr_server *srv,").
file(STRINGS "${SOURCE_DIR}/include/microroute.h" decls REGEX "^[A-Za-z_][^(]*[ *][A-Za-z_][A-Za-z0-9_]*\\(")
set(declared "")
foreach(decl IN LISTS decls)
  if(decl MATCHES "^(typedef|#)")
    continue()
  endif()
  if(decl MATCHES "([A-Za-z_][A-Za-z0-9_]*)\\(")
    list(APPEND declared "${CMAKE_MATCH_1}")
  endif()
endforeach()

set(missing ${declared})
list(REMOVE_ITEM missing ${exported})
set(extra ${exported})
list(REMOVE_ITEM extra ${declared})
if(missing OR extra)
  message(FATAL_ERROR "exports and include/microroute.h differ:\n"
                      "  declared, not exported: ${missing}\n"
                      "  exported, not declared: ${extra}")
endif()

list(LENGTH exported count)
message(STATUS "${SHARED_LIBRARY}: soname ${SONAME}, exports the ${count} functions of "
               "include/microroute.h, all versioned, nothing else")
