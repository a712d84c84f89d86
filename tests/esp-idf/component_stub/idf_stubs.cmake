# Stand-ins for the ESP-IDF build functions the component's CMakeLists.txt
# calls, for a plain CMake project on the host. They follow ESP-IDF's
# tools/cmake/component.cmake and build.cmake (v5): idf_component_register
# makes the static library __idf_<name> with the sources and public include
# folders (relative to the component, absolute allowed, each must exist) and
# sets COMPONENT_LIB; add_prebuilt_library makes an imported archive that
# links the COMPONENT_LIB of each requirement. ESP-IDF's own components are
# empty INTERFACE libraries here (idf_stub_component).
#
# Build properties come from variables of the same name set before use
# (IDF_TARGET...). What the component asked for is recorded in global
# properties MR_STUB_<COMPONENT>_<ARG> for the checks.

function(idf_build_get_property var property)
  if(property STREQUAL "IDF_TARGET")
    set(${var} "${IDF_TARGET}" PARENT_SCOPE)
  elseif(property STREQUAL "IDF_PATH")
    set(${var} "${IDF_PATH}" PARENT_SCOPE)
  else()
    get_property(_v GLOBAL PROPERTY "MR_STUB_BUILD_${property}")
    set(${var} "${_v}" PARENT_SCOPE)
  endif()
endfunction()

function(idf_build_set_property property value)
  cmake_parse_arguments(_ "APPEND" "" "" ${ARGN})
  if(__APPEND)
    set_property(GLOBAL APPEND PROPERTY "MR_STUB_BUILD_${property}" "${value}")
  else()
    set_property(GLOBAL PROPERTY "MR_STUB_BUILD_${property}" "${value}")
  endif()
endfunction()

# An ESP-IDF component the stub build does not compile: an empty target.
function(idf_stub_component name)
  add_library(__idf_${name} INTERFACE)
endfunction()

function(idf_component_get_property var component property)
  if(property STREQUAL "COMPONENT_LIB")
    if(NOT TARGET __idf_${component})
      message(FATAL_ERROR "idf stub: unknown component '${component}'")
    endif()
    set(${var} "__idf_${component}" PARENT_SCOPE)
  else()
    message(FATAL_ERROR "idf stub: idf_component_get_property ${property} is not stubbed")
  endif()
endfunction()

macro(idf_component_register)
  cmake_parse_arguments(_mr_reg "" "KCONFIG;KCONFIG_PROJBUILD"
    "SRCS;SRC_DIRS;EXCLUDE_SRCS;INCLUDE_DIRS;PRIV_INCLUDE_DIRS;LDFRAGMENTS;REQUIRES;PRIV_REQUIRES;REQUIRED_IDF_TARGETS;EMBED_FILES;EMBED_TXTFILES"
    ${ARGN})
  if(_mr_reg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "idf stub: idf_component_register: unknown arguments ${_mr_reg_UNPARSED_ARGUMENTS}")
  endif()
  set(COMPONENT_LIB "__idf_${COMPONENT_NAME}")
  set(_mr_reg_sources "")
  foreach(_mr_src IN LISTS _mr_reg_SRCS)
    get_filename_component(_mr_src "${_mr_src}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_LIST_DIR}")
    list(APPEND _mr_reg_sources "${_mr_src}")
  endforeach()
  add_library(${COMPONENT_LIB} STATIC ${_mr_reg_sources})
  foreach(_mr_kind PUBLIC PRIVATE)
    if(_mr_kind STREQUAL "PUBLIC")
      set(_mr_dirs ${_mr_reg_INCLUDE_DIRS})
    else()
      set(_mr_dirs ${_mr_reg_PRIV_INCLUDE_DIRS})
    endif()
    foreach(_mr_dir IN LISTS _mr_dirs)
      get_filename_component(_mr_dir "${_mr_dir}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_LIST_DIR}")
      if(NOT IS_DIRECTORY "${_mr_dir}")
        message(FATAL_ERROR "Include directory '${_mr_dir}' is not a directory.")
      endif()
      target_include_directories(${COMPONENT_LIB} ${_mr_kind} "${_mr_dir}")
      set_property(GLOBAL APPEND PROPERTY "MR_STUB_${COMPONENT_NAME}_${_mr_kind}_INCLUDE_DIRS" "${_mr_dir}")
    endforeach()
  endforeach()
  # ESP-IDF: the config folder (sdkconfig.h) is public, ESP_PLATFORM is
  # defined for every component, and the requirements are linked.
  target_include_directories(${COMPONENT_LIB} PUBLIC "${MR_STUB_HEADERS}")
  target_compile_definitions(${COMPONENT_LIB} PUBLIC ESP_PLATFORM)
  foreach(_mr_req IN LISTS _mr_reg_REQUIRES)
    target_link_libraries(${COMPONENT_LIB} PUBLIC __idf_${_mr_req})
  endforeach()
  foreach(_mr_req IN LISTS _mr_reg_PRIV_REQUIRES)
    target_link_libraries(${COMPONENT_LIB} PRIVATE __idf_${_mr_req})
  endforeach()
  set_property(GLOBAL PROPERTY "MR_STUB_${COMPONENT_NAME}_REQUIRES" "${_mr_reg_REQUIRES}")
  set_property(GLOBAL PROPERTY "MR_STUB_${COMPONENT_NAME}_PRIV_REQUIRES" "${_mr_reg_PRIV_REQUIRES}")
  set_property(GLOBAL PROPERTY "MR_STUB_${COMPONENT_NAME}_SRCS" "${_mr_reg_sources}")
endmacro()

function(add_prebuilt_library target_name lib_path)
  cmake_parse_arguments(_ "" "" "REQUIRES;PRIV_REQUIRES" ${ARGN})
  get_filename_component(lib_path "${lib_path}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_LIST_DIR}")
  add_library(${target_name} STATIC IMPORTED GLOBAL)
  set_property(TARGET ${target_name} PROPERTY IMPORTED_LOCATION "${lib_path}")
  foreach(req IN LISTS __REQUIRES __PRIV_REQUIRES)
    idf_component_get_property(req_lib "${req}" COMPONENT_LIB)
    set_property(TARGET ${target_name} APPEND PROPERTY INTERFACE_LINK_LIBRARIES "${req_lib}")
  endforeach()
endfunction()
