// Builds tests/test_precompiled.h (force-included by CMake) into the
// precompiled header every test target reuses (tests/CMakeLists.txt).
