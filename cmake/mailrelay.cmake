# Helpers so each directory's CMakeLists.txt states only what it builds and what it needs.

# mailrelay_library(NAME SOURCES a.cc b.cc DEPS mr_util PkgConfig::X)
# One static library per common/ library: target mr_<name>.
function(mailrelay_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(mr_${name} STATIC ${ARG_SOURCES})
  target_link_libraries(mr_${name} PUBLIC ${ARG_DEPS})
endfunction()

# mailrelay_program(NAME SOURCES main.cc DEPS mr_x [DESTINATION dir])
# Helpers install into lib/mailrelay (mailrelayd looks there after its own directory).
function(mailrelay_program name)
  cmake_parse_arguments(ARG "" "DESTINATION" "SOURCES;DEPS" ${ARGN})
  if(NOT ARG_DESTINATION)
    set(ARG_DESTINATION lib/mailrelay)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  install(TARGETS ${name} RUNTIME DESTINATION ${ARG_DESTINATION})
endfunction()

# mailrelay_unit_test(NAME SOURCES x_test.cc DEPS mr_x): a GoogleTest binary, each case a
# CTest test labelled "unit" so `ctest -L unit` stays fast.
function(mailrelay_unit_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_compile_definitions(${name} PRIVATE
    MAILRELAY_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
    MAILRELAY_TESTDATA_DIR="${CMAKE_SOURCE_DIR}/tests/data")
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST PROPERTIES LABELS unit DISCOVERY_TIMEOUT 30)
endfunction()
