// ai.tessera.ReorderLayout: NCHW <-> NCHW8c <-> NHWC conversions against
// hand-computed values and index-arithmetic references, several dtypes,
// multi-threaded large tensors, round trips; bad ranks, channel counts and
// attributes.
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "common/status_macros.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"

namespace tessera::engine::testing {
namespace {

Tensor Iota(const Shape& shape) {
  Tensor t = Tensor::Allocate(DataType::kFloat32, shape);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}

absl::StatusOr<Tensor> Reorder(const Tensor& x, const std::string& from, const std::string& to, int threads = 1) {
  TESSERA_ASSIGN_OR_RETURN(std::vector<Tensor> out,
                           RunKernel({.op_type = "ReorderLayout",
                                      .domain = "ai.tessera",
                                      .attrs = {Attr("from", from), Attr("to", to)},
                                      .inputs = {x},
                                      .threads = threads}));
  return out[0];
}

// Logical (n, c, h, w) -> offset in each layout.
int64_t Offset(const std::string& layout, int64_t n, int64_t c, int64_t h, int64_t w, int64_t C, int64_t H,
               int64_t W) {
  if (layout == "NCHW") return ((n * C + c) * H + h) * W + w;
  if (layout == "NHWC") return ((n * H + h) * W + w) * C + c;
  return (((n * (C / 8) + c / 8) * H + h) * W + w) * 8 + c % 8;
}

Shape LayoutShape(const std::string& layout, int64_t N, int64_t C, int64_t H, int64_t W) {
  if (layout == "NCHW") return {N, C, H, W};
  if (layout == "NHWC") return {N, H, W, C};
  return {N, C / 8, H, W, 8};
}

TEST(ReorderLayoutTest, HandComputedNchwToBlocked) {
  // [1, 8, 1, 2]: channel c holds (10c, 10c + 1). Blocked [1, 1, 1, 2, 8]:
  // pixel 0 = (0, 10, ..., 70), pixel 1 = (1, 11, ..., 71).
  std::vector<float> v;
  for (int c = 0; c < 8; ++c) v.insert(v.end(), {10.0f * c, 10.0f * c + 1});
  auto out = Reorder(Tensor::FromVector<float>({1, 8, 1, 2}, v), "NCHW", "NCHW8c");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({1, 1, 1, 2, 8}, {0, 10, 20, 30, 40, 50, 60, 70, 1, 11,
                                                                             21, 31, 41, 51, 61, 71})));
}

TEST(ReorderLayoutTest, AllPairsMatchIndexArithmetic) {
  const std::vector<std::string> layouts = {"NCHW", "NHWC", "NCHW8c"};
  struct Dims { int64_t n, c, h, w; };
  for (Dims d : {Dims{1, 8, 3, 5}, Dims{2, 24, 7, 6}, Dims{3, 64, 28, 28}}) {
    for (const std::string& from : layouts) {
      for (const std::string& to : layouts) {
        const Tensor x = Iota(LayoutShape(from, d.n, d.c, d.h, d.w));
        for (int threads : {1, 2}) {
          auto out = Reorder(x, from, to, threads);
          ASSERT_TRUE(out.ok()) << out.status();
          ASSERT_EQ(out->shape(), LayoutShape(to, d.n, d.c, d.h, d.w)) << from << "->" << to;
          bool same = true;
          for (int64_t n = 0; n < d.n && same; ++n)
            for (int64_t c = 0; c < d.c && same; ++c)
              for (int64_t h = 0; h < d.h && same; ++h)
                for (int64_t w = 0; w < d.w && same; ++w)
                  same = out->data<float>()[Offset(to, n, c, h, w, d.c, d.h, d.w)] ==
                         x.data<float>()[Offset(from, n, c, h, w, d.c, d.h, d.w)];
          EXPECT_TRUE(same) << from << "->" << to << " C=" << d.c << " threads=" << threads;
        }
      }
    }
  }
}

TEST(ReorderLayoutTest, RoundTripKeepsOtherDtypes) {
  Tensor x64 = Tensor::Allocate(DataType::kInt64, {2, 16, 3, 3});
  for (int64_t i = 0; i < x64.num_elements(); ++i) x64.data<int64_t>()[i] = i * 1000003;
  auto blocked = Reorder(x64, "NCHW", "NCHW8c");
  ASSERT_TRUE(blocked.ok()) << blocked.status();
  EXPECT_EQ(blocked->dtype(), DataType::kInt64);
  EXPECT_EQ(blocked->data<int64_t>()[1], 9 * 1000003);  // (n0, c1, h0, w0)
  auto back = Reorder(*blocked, "NCHW8c", "NCHW");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(TensorsNear(*back, x64));

  Tensor x8 = Tensor::Allocate(DataType::kUint8, {1, 8, 2, 2});
  for (int64_t i = 0; i < x8.num_elements(); ++i) x8.data<uint8_t>()[i] = static_cast<uint8_t>(i);
  auto b8 = Reorder(x8, "NCHW", "NCHW8c");
  ASSERT_TRUE(b8.ok()) << b8.status();
  EXPECT_EQ(b8->data<uint8_t>()[1], 4);  // (c1, pixel 0)
  EXPECT_EQ(b8->data<uint8_t>()[8], 1);  // (c0, pixel 1)
}

TEST(ReorderLayoutTest, EmptyBatchGivesEmptyOutput) {
  auto out = Reorder(Tensor::Allocate(DataType::kFloat32, {0, 8, 4, 4}), "NCHW", "NCHW8c");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->shape(), (Shape{0, 1, 4, 4, 8}));
}

TEST(ReorderLayoutTest, ChannelsNotMultipleOfEightIsInvalidArgument) {
  auto out = Reorder(Iota({1, 12, 2, 2}), "NCHW", "NCHW8c");
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("12 channels"), std::string::npos) << out.status();
}

TEST(ReorderLayoutTest, WrongRankIsInvalidArgument) {
  auto out = Reorder(Iota({1, 8, 4}), "NCHW", "NCHW8c");
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("[N, C, H, W]"), std::string::npos) << out.status();
  auto blocked = Reorder(Iota({1, 1, 4, 4}), "NCHW8c", "NCHW");
  ASSERT_EQ(blocked.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(blocked.status().message().find("[N, C/8, H, W, 8]"), std::string::npos) << blocked.status();
  auto bad_block = Reorder(Iota({1, 1, 4, 4, 4}), "NCHW8c", "NCHW");
  ASSERT_EQ(bad_block.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ReorderLayoutTest, BadAttributesAreInvalidArgument) {
  auto unknown = Reorder(Iota({1, 8, 2, 2}), "NCHW16c", "NCHW");
  ASSERT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("NCHW16c"), std::string::npos) << unknown.status();
  auto missing = RunKernel({.op_type = "ReorderLayout",
                            .domain = "ai.tessera",
                            .attrs = {Attr("from", std::string("NCHW"))},
                            .inputs = {Iota({1, 8, 2, 2})}});
  ASSERT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("to"), std::string::npos) << missing.status();
}

}  // namespace
}  // namespace tessera::engine::testing
