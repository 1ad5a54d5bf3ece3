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

# mailrelay_unit_test(NAME SOURCES x_test.cc DEPS mr_x): a GoogleTest binary, run whole as
# one CTest test labelled "unit" (`ctest -L unit`). One process per binary rather than per
# case: under the sanitizers each process start costs a third of a second, which for 600
# cases was most of the unit time. A failure still names its case (--output-on-failure);
# run one case with `build-test/tests/NAME --gtest_filter=Suite.Case`.
function(mailrelay_unit_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  # Test files each keep their helpers in an anonymous namespace under the same names
  # (TempDir, R(), Envelope()): never compile them as one unity source.
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests UNITY_BUILD OFF)
  target_compile_definitions(${name} PRIVATE
    MAILRELAY_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
    MAILRELAY_TESTDATA_DIR="${CMAKE_SOURCE_DIR}/tests/data")
  add_test(NAME unit.${name} COMMAND ${name} --gtest_brief=1)
  set_tests_properties(unit.${name} PROPERTIES LABELS unit TIMEOUT 300)
endfunction()
