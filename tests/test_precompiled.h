// The headers nearly every test translation unit parses: compiled once per
// build into the precompiled header that all test targets share
// (cmake/TesseraTest.cmake, REUSE_FROM tessera_test_pch). Only third-party
// and generated headers belong here: a project header in this list would
// rebuild every test whenever it changes.
//
// Every test target is compiled with the same flags and definitions as the
// tessera_test_pch target (tessera_test_base), which is what lets them share
// it; a test's own -D definitions must not be used by these headers.
#ifndef TESSERA_TESTS_TEST_PRECOMPILED_H_
#define TESSERA_TESTS_TEST_PRECOMPILED_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"
#include "proto/cluster_status.grpc.pb.h"
#include "proto/inference.grpc.pb.h"
#include "proto/model_config.pb.h"
#include "proto/worker.grpc.pb.h"

#endif  // TESSERA_TESTS_TEST_PRECOMPILED_H_
