# Sanitizer and fuzzing builds (clang only; see scripts/sanitize.sh).
#
#   TESSERA_SANITIZE=address,undefined   ASan + UBSan on every project target
#   TESSERA_SANITIZE=thread              TSan; test binaries also link
#                                        tests/sanitizers/tsan_absl_sync.cc
#   TESSERA_FUZZ=ON                      the libFuzzer targets of tests/fuzz/
#                                        (coverage on all code, -fsanitize=
#                                        fuzzer on the fuzzer executables)
#
# Sanitized builds compile at -O1 with line tables only: fast enough to build
# and to run, symbolized stack traces. Third-party libraries (gRPC, protobuf,
# Abseil, ONNX, oneDNN) are Debian's, not instrumented.
set(TESSERA_SANITIZE "" CACHE STRING "Sanitizers for all project targets: address,undefined | thread | empty")
option(TESSERA_FUZZ "Build the libFuzzer targets in tests/fuzz (clang)" OFF)

if(TESSERA_SANITIZE OR TESSERA_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "TESSERA_SANITIZE / TESSERA_FUZZ need clang (-DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14)")
  endif()
  foreach(config RELEASE RELWITHDEBINFO DEBUG)
    set(CMAKE_CXX_FLAGS_${config} "-O1 -gline-tables-only")
    set(CMAKE_C_FLAGS_${config} "-O1 -gline-tables-only")
  endforeach()
  add_compile_options(-fno-omit-frame-pointer)
endif()

if(TESSERA_SANITIZE)
  if(TESSERA_SANITIZE MATCHES "thread" AND TESSERA_SANITIZE MATCHES "address")
    message(FATAL_ERROR "TESSERA_SANITIZE: thread and address cannot be combined")
  endif()
  add_compile_options(-fsanitize=${TESSERA_SANITIZE})
  add_link_options(-fsanitize=${TESSERA_SANITIZE})
  if(TESSERA_SANITIZE MATCHES "undefined")
    # Every UB report is fatal; vptr checks need RTTI of uninstrumented
    # libraries and are left out.
    add_compile_options(-fno-sanitize-recover=undefined -fno-sanitize=vptr)
  endif()
  message(STATUS "Tessera: sanitizers ${TESSERA_SANITIZE}")
endif()

if(TESSERA_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link)
  message(STATUS "Tessera: fuzz targets enabled")
endif()
