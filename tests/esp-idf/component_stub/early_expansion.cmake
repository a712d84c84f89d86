# ESP-IDF's first pass over a component (tools/cmake/scripts/
# component_get_requirements.cmake, run with cmake -P): the component's
# CMakeLists.txt is included in script mode, inside a function, with an
# idf_component_register macro that only records the requirements and
# return()s. No CONFIG_* values exist yet. Anything before the
# idf_component_register call that is not scriptable (targets...) fails here.
#
#   cmake -DCOMPONENT_DIR=<esp-idf/microroute> -P early_expansion.cmake
# prints "REQUIRES=<list>" and "PRIV_REQUIRES=<list>".

cmake_policy(SET CMP0057 NEW) # as ESP-IDF's script does

if(NOT COMPONENT_DIR)
  message(FATAL_ERROR "pass -DCOMPONENT_DIR=...")
endif()

macro(idf_component_register)
  cmake_parse_arguments(_ "" "KCONFIG;KCONFIG_PROJBUILD"
    "SRCS;SRC_DIRS;EXCLUDE_SRCS;INCLUDE_DIRS;PRIV_INCLUDE_DIRS;LDFRAGMENTS;REQUIRES;PRIV_REQUIRES;REQUIRED_IDF_TARGETS;EMBED_FILES;EMBED_TXTFILES"
    ${ARGN})
  set(__component_requires "${__REQUIRES}")
  set(__component_priv_requires "${__PRIV_REQUIRES}")
  set(__component_registered 1)
  return()
endmacro()

function(idf_build_get_property var property)
  message(FATAL_ERROR "idf_build_get_property(${property}) called before idf_component_register "
                      "(ESP-IDF allows only a few build properties there)")
endfunction()

function(__component_get_requirements)
  set(COMPONENT_NAME microroute)
  set(COMPONENT_DIR "${COMPONENT_DIR}")
  include("${COMPONENT_DIR}/CMakeLists.txt")
  set(__component_requires "${__component_requires}" PARENT_SCOPE)
  set(__component_priv_requires "${__component_priv_requires}" PARENT_SCOPE)
  set(__component_registered ${__component_registered} PARENT_SCOPE)
endfunction()

set(CMAKE_BUILD_EARLY_EXPANSION 1)
set(__component_registered 0)
__component_get_requirements()
if(NOT __component_registered)
  message(FATAL_ERROR "the component did not call idf_component_register")
endif()
message("REQUIRES=${__component_requires}")
message("PRIV_REQUIRES=${__component_priv_requires}")
