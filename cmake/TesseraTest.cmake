# tessera_add_test(NAME SOURCES... [LIBS libs...] [LABELS labels...])
# Builds one GoogleTest binary and registers it with ctest.
#
# Test code compiles at TESSERA_TEST_OPTIMIZATION (default -Og with GCC, -O0
# with clang, the fastest of each to compile: most of a test's compile time
# is code generation for GoogleTest/GoogleMock templates, which -O3 makes two
# to three times slower, and clang's -Og (its -O1) with the sanitizers about
# twice; the code under test is in the libraries, built with the build
# type's flags) and shares one precompiled header,
# tests/test_precompiled.h, built by the tessera_test_pch target that
# tests/CMakeLists.txt defines. To share it, every test target gets the same
# flags through tessera_test_base.
# In a TSan build (TESSERA_SANITIZE=thread) every test binary also links
# tests/sanitizers/tsan_absl_sync.cc, which makes Debian's uninstrumented
# absl::Mutex & co. visible to TSan.
find_package(GTest REQUIRED)
set(TESSERA_TEST_OPTIMIZATION "" CACHE STRING
    "Optimization flags of test code (the libraries use the build type's); empty: -Og with GCC, -O0 with clang")
if(TESSERA_TEST_OPTIMIZATION)
  set(TESSERA_TEST_OPTIMIZE "${TESSERA_TEST_OPTIMIZATION}")
elseif(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  set(TESSERA_TEST_OPTIMIZE "-O0")
else()
  set(TESSERA_TEST_OPTIMIZE "-Og")
endif()
if(TESSERA_SANITIZE MATCHES "thread")
  add_library(tessera_tsan_absl_sync OBJECT ${PROJECT_SOURCE_DIR}/tests/sanitizers/tsan_absl_sync.cc)
  target_link_libraries(tessera_tsan_absl_sync PUBLIC absl::synchronization absl::time ${CMAKE_DL_LIBS})
endif()
function(tessera_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES} ${ARG_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} tessera_test_base GTest::gtest_main)
  target_precompile_headers(${name} REUSE_FROM tessera_test_pch)
  if(TARGET tessera_tsan_absl_sync)
    target_link_libraries(${name} PRIVATE tessera_tsan_absl_sync)
    # Export the interposing definitions to the shared libraries (gRPC).
    set_target_properties(${name} PROPERTIES ENABLE_EXPORTS ON)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT 600)
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()
