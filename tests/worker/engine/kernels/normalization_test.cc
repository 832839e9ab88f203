// Unit tests for BatchNormalization, InstanceNormalization,
// LayerNormalization and LRN (hand-computed values; the ONNX backend cases
// run in pool_norm_resize_onnx_data_test.cc).
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"

// KernelTestCase is filled with designated initializers; its members without
// default member initializers would trip -Wmissing-field-initializers.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace tessera::engine::testing {
namespace {

Tensor F(Shape shape, std::vector<float> v) { return Tensor::FromVector<float>(std::move(shape), v); }
Tensor D(Shape shape, std::vector<double> v) { return Tensor::FromVector<double>(std::move(shape), v); }

std::vector<Tensor> RunOk(const KernelTestCase& tc) {
  auto out = RunKernel(tc);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : std::vector<Tensor>(tc.num_outputs);
}

void ExpectError(const KernelTestCase& tc, absl::StatusCode code, const std::string& needle) {
  absl::Status s = RunKernel(tc).status();
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_NE(s.message().find(needle), std::string::npos) << s;
}

TEST(BatchNormalizationTest, InferencePerChannel) {
  // Channel 0: (x - 1) / 1 * 1 + 0; channel 1: (x - 3) / 2 * 2 + 1.
  for (int opset : {7, 9, 15}) {
    auto y = RunOk({.op_type = "BatchNormalization",
                  .opset = opset,
                  .attrs = {Attr("epsilon", 0.0f)},
                  .inputs = {F({1, 2, 1, 2}, {1, 2, 3, 4}), F({2}, {1, 2}), F({2}, {0, 1}), F({2}, {1, 3}),
                             F({2}, {1, 4})}});
    EXPECT_TRUE(TensorsNear(y[0], F({1, 2, 1, 2}, {0, 1, 1, 2}))) << "opset " << opset;
  }
}

TEST(BatchNormalizationTest, EpsilonAndFloat64) {
  auto y = RunOk({.op_type = "BatchNormalization",
                .attrs = {Attr("epsilon", 0.5f)},
                .inputs = {D({2, 1}, {1, 3}), D({1}, {1}), D({1}, {0}), D({1}, {1}), D({1}, {1.5})}});
  EXPECT_TRUE(TensorsNear(y[0], D({2, 1}, {0, std::sqrt(2.0)})));  // (x - 1) / sqrt(1.5 + 0.5)
}

TEST(BatchNormalizationTest, Opset7NonSpatialUsesPerActivationStatistics) {
  // X [N=1, C=1, 2]: parameters hold one value per (c, d).
  auto y = RunOk({.op_type = "BatchNormalization",
                .opset = 7,
                .attrs = {Attr("spatial", int64_t{0}), Attr("epsilon", 0.0f)},
                .inputs = {F({1, 1, 2}, {5, 5}), F({1, 2}, {1, 2}), F({1, 2}, {0, 0}), F({1, 2}, {1, 3}),
                           F({1, 2}, {4, 1})}});
  EXPECT_TRUE(TensorsNear(y[0], F({1, 1, 2}, {2, 4})));
}

TEST(BatchNormalizationTest, TrainingModeComputesBatchStatisticsAndRunningValues) {
  // Batch values 1 and 3: mean 2, variance 1.
  auto out = RunOk({.op_type = "BatchNormalization",
                  .opset = 15,
                  .attrs = {Attr("epsilon", 0.0f), Attr("training_mode", int64_t{1}), Attr("momentum", 0.9f)},
                  .inputs = {F({2, 1}, {1, 3}), F({1}, {1}), F({1}, {0}), F({1}, {0}), F({1}, {1})},
                  .num_outputs = 3});
  EXPECT_TRUE(TensorsNear(out[0], F({2, 1}, {-1, 1})));
  EXPECT_TRUE(TensorsNear(out[1], F({1}, {0.2f})));  // 0 * 0.9 + 2 * 0.1
  EXPECT_TRUE(TensorsNear(out[2], F({1}, {1.0f})));  // 1 * 0.9 + 1 * 0.1
}

TEST(BatchNormalizationTest, BadInputs) {
  ExpectError({.op_type = "BatchNormalization",
               .inputs = {F({1, 2, 2}, {1, 2, 3, 4}), F({3}, {1, 1, 1}), F({2}, {0, 0}), F({2}, {0, 0}), F({2}, {1, 1})}},
              absl::StatusCode::kInvalidArgument, "scale");
  ExpectError({.op_type = "BatchNormalization",
               .inputs = {F({2}, {1, 2}), F({2}, {1, 1}), F({2}, {0, 0}), F({2}, {0, 0}), F({2}, {1, 1})}},
              absl::StatusCode::kInvalidArgument, "rank");
  ExpectError({.op_type = "BatchNormalization",
               .opset = 9,
               .inputs = {F({1, 1}, {1}), F({1}, {1}), F({1}, {0}), F({1}, {0}), F({1}, {1})},
               .num_outputs = 3},
              absl::StatusCode::kUnimplemented, "training outputs");
  ExpectError({.op_type = "BatchNormalization",
               .inputs = {Tensor::FromVector<int32_t>({1, 1}, {1}), F({1}, {1}), F({1}, {0}), F({1}, {0}), F({1}, {1})}},
              absl::StatusCode::kUnimplemented, "int32");
}

TEST(InstanceNormalizationTest, NormalizesEachPlane) {
  // Plane [1, 2, 3, 4]: mean 2.5, variance 1.25.
  const double inv = 1 / std::sqrt(1.25);
  auto y = RunOk({.op_type = "InstanceNormalization",
                .attrs = {Attr("epsilon", 0.0f)},
                .inputs = {F({1, 2, 4}, {1, 2, 3, 4, 6, 8, 6, 8}), F({2}, {2, 1}), F({2}, {1, -1})}});
  EXPECT_TRUE(TensorsNear(y[0], F({1, 2, 4}, {static_cast<float>(-1.5 * inv * 2 + 1), static_cast<float>(-0.5 * inv * 2 + 1),
                                              static_cast<float>(0.5 * inv * 2 + 1), static_cast<float>(1.5 * inv * 2 + 1),
                                              -2, 0, -2, 0})));
  auto d = RunOk({.op_type = "InstanceNormalization",
                .attrs = {Attr("epsilon", 0.0f)},
                .inputs = {D({1, 1, 2}, {0, 2}), D({1}, {3}), D({1}, {1})}});
  EXPECT_TRUE(TensorsNear(d[0], D({1, 1, 2}, {-2, 4})));
  ExpectError({.op_type = "InstanceNormalization", .inputs = {F({1, 2, 2}, {1, 2, 3, 4}), F({1}, {1}), F({2}, {0, 0})}},
              absl::StatusCode::kInvalidArgument, "scale");
}

TEST(LayerNormalizationTest, LastAxisWithMeanAndInvStdDevOutputs) {
  const float inv1 = static_cast<float>(1 / std::sqrt(2.0 / 3)), inv2 = static_cast<float>(1 / std::sqrt(8.0 / 3));
  auto out = RunOk({.op_type = "LayerNormalization",
                  .attrs = {Attr("epsilon", 0.0f)},
                  .inputs = {F({2, 3}, {1, 2, 3, 2, 4, 6}), F({3}, {1, 1, 2}), F({3}, {0, 0, 1})},
                  .num_outputs = 3});
  const float a = inv1, b = 2 * inv1 + 1;
  EXPECT_TRUE(TensorsNear(out[0], F({2, 3}, {-a, 0, b, -a, 0, b})));
  EXPECT_TRUE(TensorsNear(out[1], F({2, 1}, {2, 4})));
  EXPECT_TRUE(TensorsNear(out[2], F({2, 1}, {inv1, inv2})));
}

TEST(LayerNormalizationTest, AxisZeroBroadcastScaleNoBias) {
  // Normalize all 4 values [0, 2, 4, 6]: mean 3, variance 5; scale [1, 2] broadcasts over the rows.
  const float i = static_cast<float>(1 / std::sqrt(5.0));
  auto out = RunOk({.op_type = "LayerNormalization",
                  .attrs = {Attr("epsilon", 0.0f), Attr("axis", int64_t{0})},
                  .inputs = {F({2, 2}, {0, 2, 4, 6}), F({2}, {1, 2})}});
  EXPECT_TRUE(TensorsNear(out[0], F({2, 2}, {-3 * i, -2 * i, 1 * i, 6 * i})));
}

TEST(LayerNormalizationTest, BertRowsMatchDoubleReference) {
  const int64_t rows = 64, cols = 256;
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.5f, 2.0f);
  std::vector<float> x(rows * cols), scale(cols), bias(cols), expected(rows * cols);
  for (auto& v : x) v = dist(rng);
  for (auto& v : scale) v = dist(rng);
  for (auto& v : bias) v = dist(rng);
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t c = 0; c < cols; ++c) mean += x[r * cols + c];
    mean /= cols;
    for (int64_t c = 0; c < cols; ++c) var += (x[r * cols + c] - mean) * (x[r * cols + c] - mean);
    var /= cols;
    for (int64_t c = 0; c < cols; ++c) {
      expected[r * cols + c] = static_cast<float>((x[r * cols + c] - mean) / std::sqrt(var + 1e-5) * scale[c] + bias[c]);
    }
  }
  for (int threads : {1, 2}) {
    auto out = RunOk({.op_type = "LayerNormalization",
                    .inputs = {F({2, 32, cols}, x), F({cols}, scale), F({cols}, bias)},
                    .threads = threads});
    EXPECT_TRUE(TensorsNear(out[0], F({2, 32, cols}, expected), 1e-4, 1e-4));
  }
}

TEST(LayerNormalizationTest, Float64StashDouble) {
  auto out = RunOk({.op_type = "LayerNormalization",
                  .attrs = {Attr("epsilon", 0.0f), Attr("stash_type", int64_t{11})},
                  .inputs = {D({1, 2}, {1, 3}), D({2}, {1, 1}), D({2}, {0, 0})},
                  .num_outputs = 2});
  EXPECT_TRUE(TensorsNear(out[0], D({1, 2}, {-1, 1})));
  EXPECT_TRUE(TensorsNear(out[1], D({1, 1}, {2})));
}

TEST(LayerNormalizationTest, BadInputs) {
  ExpectError({.op_type = "LayerNormalization", .attrs = {Attr("axis", int64_t{3})}, .inputs = {F({1, 2}, {1, 2}), F({2}, {1, 1})}},
              absl::StatusCode::kInvalidArgument, "axis");
  ExpectError({.op_type = "LayerNormalization", .inputs = {F({1, 2}, {1, 2}), F({3}, {1, 1, 1})}},
              absl::StatusCode::kInvalidArgument, "Scale");
  ExpectError({.op_type = "LayerNormalization", .inputs = {F({1, 2}, {1, 2}), D({2}, {1, 1})}},
              absl::StatusCode::kInvalidArgument, "element type");
  ExpectError({.op_type = "LayerNormalization", .inputs = {F({1, 2}, {1, 2})}}, absl::StatusCode::kInvalidArgument,
              "Scale");
}

TEST(LrnTest, CrossChannelWindow) {
  // size 3, alpha / size = 1, bias 1: sums of squares 5, 14, 13.
  auto y = RunOk({.op_type = "LRN",
                .attrs = {Attr("size", int64_t{3}), Attr("alpha", 3.0f), Attr("beta", 1.0f), Attr("bias", 1.0f)},
                .inputs = {F({1, 3, 1, 1}, {1, 2, 3})}});
  EXPECT_TRUE(TensorsNear(y[0], F({1, 3, 1, 1}, {1.0f / 6, 2.0f / 15, 3.0f / 14})));
  auto b = RunOk({.op_type = "LRN",
                .attrs = {Attr("size", int64_t{2}), Attr("alpha", 2.0f), Attr("beta", 0.75f), Attr("bias", 1.0f)},
                .inputs = {D({1, 2, 1}, {1, 2})}});
  // size 2: window of c is [c, c + 1]; sums 5 and 4.
  EXPECT_TRUE(TensorsNear(b[0], D({1, 2, 1}, {1 / std::pow(6.0, 0.75), 2 / std::pow(5.0, 0.75)})));
  ExpectError({.op_type = "LRN", .inputs = {F({1, 1}, {1})}}, absl::StatusCode::kInvalidArgument, "size");
  ExpectError({.op_type = "LRN", .attrs = {Attr("size", int64_t{3})}, .inputs = {F({1}, {1})}},
              absl::StatusCode::kInvalidArgument, "rank");
}

}  // namespace
}  // namespace tessera::engine::testing
