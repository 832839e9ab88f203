// Unit tests of the data-movement kernels of the tensor group: Concat,
// Split, Slice, Gather, GatherElements, Transpose, DepthToSpace,
// SpaceToDepth, Expand, Tile, Pad, Trilu. Large cases are checked against
// naive index-by-index references so the parallel and fast paths run too.
#include <algorithm>
#include <numeric>

// KernelTestCase is filled with designated initializers; the omitted members
// keep their defaults on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "worker/engine/kernels/broadcast.h"

namespace tessera::engine {
namespace {

using testing::Attr;
using ::testing::HasSubstr;
using testing::KernelTestCase;
using testing::RunKernel;
using testing::TensorsNear;

template <typename T = float>
Tensor Iota(Shape shape, int64_t start = 0) {
  std::vector<T> v(static_cast<size_t>(NumElements(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<T>(static_cast<int64_t>(i) + start);
  return Tensor::FromVector<T>(std::move(shape), v);
}

template <typename T = float>
Tensor Vals(Shape shape, std::vector<T> v) {
  return Tensor::FromVector<T>(std::move(shape), v);
}

Tensor Ints(std::vector<int64_t> v) { return Tensor::FromVector<int64_t>({static_cast<int64_t>(v.size())}, v); }

Tensor Run1(const KernelTestCase& tc) {
  auto out = RunKernel(tc);
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return Tensor();
  return (*out)[0];
}

void ExpectError(const KernelTestCase& tc, absl::StatusCode code, const std::string& text) {
  auto out = RunKernel(tc);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), code) << out.status();
  EXPECT_THAT(std::string(out.status().message()), HasSubstr(text));
}

// Coordinates of flat index i in `shape`.
std::vector<int64_t> Coords(int64_t i, const Shape& shape) {
  std::vector<int64_t> c(shape.size());
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    c[d] = i % shape[d];
    i /= shape[d];
  }
  return c;
}

int64_t Flat(const std::vector<int64_t>& c, const Shape& shape) {
  int64_t f = 0;
  for (size_t d = 0; d < shape.size(); ++d) f = f * shape[d] + c[d];
  return f;
}

template <typename T>
Tensor RefTranspose(const Tensor& x, const std::vector<int64_t>& perm) {
  Shape out_shape(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) out_shape[i] = x.dim(static_cast<int>(perm[i]));
  Tensor y = Tensor::Allocate(x.dtype(), out_shape);
  for (int64_t i = 0; i < y.num_elements(); ++i) {
    std::vector<int64_t> oc = Coords(i, out_shape), ic(perm.size());
    for (size_t d = 0; d < perm.size(); ++d) ic[perm[d]] = oc[d];
    y.data<T>()[i] = x.data<T>()[Flat(ic, x.shape())];
  }
  return y;
}

// ---- Concat ----------------------------------------------------------------

TEST(Concat, JoinsAlongAxis) {
  Tensor a = Iota({2, 1, 2}), b = Iota({2, 2, 2}, 10), c = Iota({2, 0, 2});
  Tensor y = Run1({.op_type = "Concat", .attrs = {Attr("axis", int64_t{-2})}, .inputs = {a, c, b}});
  EXPECT_TRUE(TensorsNear(y, Vals({2, 3, 2}, {0, 1, 10, 11, 12, 13, 2, 3, 14, 15, 16, 17})));
  Tensor z = Run1({.op_type = "Concat",
                   .attrs = {Attr("axis", int64_t{0})},
                   .inputs = {Vals<bool>({1}, {true}), Vals<bool>({2}, {false, true})}});
  EXPECT_TRUE(TensorsNear(z, Vals<bool>({3}, {true, false, true})));
}

TEST(Concat, LargeInputsOnEveryAxis) {
  Tensor a = Iota({64, 100, 40}), b = Iota({64, 100, 40}, 1000000);
  for (int axis = 0; axis < 3; ++axis) {
    Tensor y = Run1({.op_type = "Concat", .attrs = {Attr("axis", int64_t{axis})}, .inputs = {a, b}, .threads = 2});
    Shape s = a.shape();
    s[axis] *= 2;
    ASSERT_EQ(y.shape(), s);
    for (int64_t i = 0; i < y.num_elements(); i += 7) {
      std::vector<int64_t> c = Coords(i, s);
      const Tensor& src = c[axis] < a.dim(axis) ? a : b;
      if (c[axis] >= a.dim(axis)) c[axis] -= a.dim(axis);
      ASSERT_EQ(y.data<float>()[i], src.data<float>()[Flat(c, a.shape())]) << "axis " << axis << " i " << i;
    }
  }
}

TEST(Concat, RejectsMismatches) {
  ExpectError({.op_type = "Concat", .attrs = {Attr("axis", int64_t{0})}, .inputs = {Iota({2, 3}), Iota({2, 4})}},
              absl::StatusCode::kInvalidArgument, "input 1 has shape [2,4]");
  ExpectError({.op_type = "Concat", .attrs = {Attr("axis", int64_t{0})}, .inputs = {Iota({2}), Iota<int32_t>({2})}},
              absl::StatusCode::kInvalidArgument, "int32");
  ExpectError({.op_type = "Concat", .attrs = {Attr("axis", int64_t{2})}, .inputs = {Iota({2, 3})}},
              absl::StatusCode::kInvalidArgument, "axis 2 is out of range");
  ExpectError({.op_type = "Concat", .inputs = {Iota({2, 3})}}, absl::StatusCode::kInvalidArgument, "'axis'");
}

// ---- Split -----------------------------------------------------------------

TEST(Split, AttributeInputEqualAndUneven) {
  Tensor x = Iota<int64_t>({2, 6});
  auto a = RunKernel({.op_type = "Split",
                      .opset = 11,
                      .attrs = {Attr("axis", int64_t{1}), Attr("split", std::vector<int64_t>{1, 5})},
                      .inputs = {x},
                      .num_outputs = 2});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(TensorsNear((*a)[0], Vals<int64_t>({2, 1}, {0, 6})));
  EXPECT_TRUE(TensorsNear((*a)[1], Vals<int64_t>({2, 5}, {1, 2, 3, 4, 5, 7, 8, 9, 10, 11})));
  auto b = RunKernel({.op_type = "Split",
                      .opset = 13,
                      .attrs = {Attr("axis", int64_t{-1})},
                      .inputs = {x, Ints({4, 0, 2})},
                      .num_outputs = 3});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)[1].shape(), Shape({2, 0}));
  EXPECT_TRUE(TensorsNear((*b)[2], Vals<int64_t>({2, 2}, {4, 5, 10, 11})));
  auto c = RunKernel({.op_type = "Split", .opset = 13, .inputs = {x}, .num_outputs = 2});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(TensorsNear((*c)[1], Vals<int64_t>({1, 6}, {6, 7, 8, 9, 10, 11})));
  auto d = RunKernel({.op_type = "Split",
                      .opset = 18,
                      .attrs = {Attr("axis", int64_t{1}), Attr("num_outputs", int64_t{4})},
                      .inputs = {x},
                      .num_outputs = 4});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*d)[0].shape(), Shape({2, 2}));
  EXPECT_EQ((*d)[2].shape(), Shape({2, 2}));
  EXPECT_EQ((*d)[3].shape(), Shape({2, 0}));
}

TEST(Split, RejectsBadSplits) {
  Tensor x = Iota({7});
  ExpectError({.op_type = "Split", .opset = 13, .inputs = {x, Ints({3, 3})}, .num_outputs = 2},
              absl::StatusCode::kInvalidArgument, "sum to 6");
  ExpectError({.op_type = "Split", .opset = 13, .inputs = {x}, .num_outputs = 2}, absl::StatusCode::kInvalidArgument,
              "equal parts");
  ExpectError({.op_type = "Split", .opset = 13, .inputs = {x, Ints({7})}, .num_outputs = 2},
              absl::StatusCode::kInvalidArgument, "2 outputs");
  ExpectError({.op_type = "Split", .opset = 13, .inputs = {x, Ints({8, -1})}, .num_outputs = 2},
              absl::StatusCode::kInvalidArgument, "negative split");
}

// ---- Slice -----------------------------------------------------------------

TEST(Slice, AttributesBeforeOpset10) {
  Tensor x = Iota({3, 4});
  Tensor y = Run1({.op_type = "Slice",
                   .opset = 9,
                   .attrs = {Attr("starts", std::vector<int64_t>{1, -3}), Attr("ends", std::vector<int64_t>{1000, -1}),
                             Attr("axes", std::vector<int64_t>{0, 1})},
                   .inputs = {x}});
  EXPECT_TRUE(TensorsNear(y, Vals({2, 2}, {5, 6, 9, 10})));
  Tensor z = Run1({.op_type = "Slice",
                   .opset = 1,
                   .attrs = {Attr("starts", std::vector<int64_t>{1}), Attr("ends", std::vector<int64_t>{2})},
                   .inputs = {x}});
  EXPECT_TRUE(TensorsNear(z, Vals({1, 4}, {4, 5, 6, 7})));
}

TEST(Slice, NegativeStepsClampingAndInt32) {
  Tensor x = Iota({3, 5});
  // x[::-1, 4:0:-2]
  Tensor y =
      Run1({.op_type = "Slice", .inputs = {x, Ints({-1, 4}), Ints({INT64_MIN, 0}), Ints({0, 1}), Ints({-1, -2})}});
  EXPECT_TRUE(TensorsNear(y, Vals({3, 2}, {14, 12, 9, 7, 4, 2})));
  Tensor z = Run1({.op_type = "Slice",
                   .inputs = {x, Tensor::FromVector<int32_t>({1}, {1}), Tensor::FromVector<int32_t>({1}, {100}),
                              Tensor::FromVector<int32_t>({1}, {-1}), std::nullopt}});
  EXPECT_TRUE(TensorsNear(z, Vals({3, 4}, {1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14})));
  EXPECT_EQ(Run1({.op_type = "Slice", .inputs = {x, Ints({10}), Ints({20})}}).shape(), Shape({0, 5}));
  EXPECT_EQ(Run1({.op_type = "Slice", .inputs = {x, Ints({2}), Ints({1}), Ints({1})}}).shape(), Shape({3, 0}));
}

TEST(Slice, LargeStridedMatchesReference) {
  Tensor x = Iota({40, 50, 60});
  Tensor y = Run1({.op_type = "Slice",
                   .inputs = {x, Ints({38, 3, 1}), Ints({0, 50, 59}), Ints({0, 1, 2}), Ints({-3, 1, 1})},
                   .threads = 2});
  ASSERT_EQ(y.shape(), Shape({13, 47, 58}));
  for (int64_t i = 0; i < y.num_elements(); ++i) {
    std::vector<int64_t> c = Coords(i, y.shape());
    ASSERT_EQ(y.data<float>()[i], x.data<float>()[Flat({38 - 3 * c[0], 3 + c[1], 1 + c[2]}, x.shape())]);
  }
}

TEST(Slice, RejectsBadArguments) {
  Tensor x = Iota({3, 5});
  ExpectError({.op_type = "Slice", .inputs = {x, Ints({0}), Ints({1}), Ints({0}), Ints({0})}},
              absl::StatusCode::kInvalidArgument, "step for axis 0 is 0");
  ExpectError({.op_type = "Slice", .inputs = {x, Ints({0, 0}), Ints({1, 1}), Ints({1, -1})}},
              absl::StatusCode::kInvalidArgument, "repeated");
  ExpectError({.op_type = "Slice", .inputs = {x, Ints({0, 0}), Ints({1})}}, absl::StatusCode::kInvalidArgument,
              "equal lengths");
  ExpectError({.op_type = "Slice", .inputs = {x, Ints({0}), Ints({1}), Ints({2})}}, absl::StatusCode::kInvalidArgument,
              "axis 2 is out of range");
}

// ---- Gather / GatherElements ---------------------------------------------------

TEST(Gather, AxesIndexTypesAndNegativeIndices) {
  Tensor x = Iota({3, 4});
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Gather", .inputs = {x, Vals<int64_t>({2, 2}, {2, 0, -1, 1})}}),
                          Vals({2, 2, 4}, {8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7})));
  EXPECT_TRUE(TensorsNear(
      Run1({.op_type = "Gather", .attrs = {Attr("axis", int64_t{-1})}, .inputs = {x, Vals<int32_t>({2}, {3, -4})}}),
      Vals({3, 2}, {3, 0, 7, 4, 11, 8})));
  EXPECT_TRUE(TensorsNear(
      Run1({.op_type = "Gather", .attrs = {Attr("axis", int64_t{1})}, .inputs = {x, Tensor::Scalar<int64_t>(2)}}),
      Vals({3}, {2, 6, 10})));
}

TEST(Gather, LargeEmbeddingLookup) {
  Tensor table = Iota<double>({1000, 64});
  std::vector<int64_t> ids(8 * 128);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>((i * 37) % 1000);
  Tensor y = Run1({.op_type = "Gather", .inputs = {table, Vals<int64_t>({8, 128}, ids)}, .threads = 2});
  ASSERT_EQ(y.shape(), Shape({8, 128, 64}));
  for (int64_t i = 0; i < y.num_elements(); ++i) {
    ASSERT_EQ(y.data<double>()[i], static_cast<double>(ids[i / 64] * 64 + i % 64));
  }
}

TEST(Gather, RejectsOutOfRangeIndex) {
  ExpectError({.op_type = "Gather", .inputs = {Iota({3, 4}), Vals<int64_t>({3}, {0, 3, 1})}},
              absl::StatusCode::kInvalidArgument, "index 3 (at position 1) is out of range [-3, 2]");
  ExpectError({.op_type = "Gather", .inputs = {Iota({3, 4}), Vals<int32_t>({1}, {-4})}},
              absl::StatusCode::kInvalidArgument, "index -4");
  ExpectError({.op_type = "Gather", .inputs = {Iota({3, 4}), Vals<float>({1}, {0})}},
              absl::StatusCode::kInvalidArgument, "indices must be int32 or int64");
}

TEST(GatherElements, BothAxesAndNegativeIndices) {
  Tensor x = Vals({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_TRUE(
      TensorsNear(Run1({.op_type = "GatherElements", .inputs = {x, Vals<int64_t>({2, 3}, {1, 2, 0, 2, 0, -3})}}),
                  Vals({2, 3}, {4, 8, 3, 7, 2, 3})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "GatherElements",
                                .attrs = {Attr("axis", int64_t{1})},
                                .inputs = {x, Vals<int32_t>({3, 2}, {0, 0, 1, -1, 2, 1})}}),
                          Vals({3, 2}, {1, 1, 5, 6, 9, 8})));
  ExpectError({.op_type = "GatherElements", .inputs = {x, Vals<int64_t>({1, 1}, {3})}},
              absl::StatusCode::kInvalidArgument, "index 3");
  ExpectError({.op_type = "GatherElements", .inputs = {x, Vals<int64_t>({3}, {0, 0, 0})}},
              absl::StatusCode::kInvalidArgument, "rank");
}

// ---- Transpose / DepthToSpace / SpaceToDepth -----------------------------------

TEST(Transpose, DefaultReversesAxes) {
  Tensor y = Run1({.op_type = "Transpose", .inputs = {Iota<int32_t>({2, 3})}});
  EXPECT_TRUE(TensorsNear(y, Vals<int32_t>({3, 2}, {0, 3, 1, 4, 2, 5})));
}

TEST(Transpose, AllPermutationsOf4DMatchReference) {
  Tensor x = Iota({3, 1, 4, 5}).Reshaped({3, 1, 4, 5});
  Tensor x2 = Iota({2, 3, 4, 5});
  std::vector<int64_t> perm = {0, 1, 2, 3};
  do {
    for (const Tensor* in : {&x, &x2}) {
      Tensor y = Run1({.op_type = "Transpose", .attrs = {Attr("perm", perm)}, .inputs = {*in}});
      EXPECT_TRUE(TensorsNear(y, RefTranspose<float>(*in, perm)));
    }
  } while (std::next_permutation(perm.begin(), perm.end()));
}

TEST(Transpose, LargeFastPathsAndElementSizes) {
  // BERT head split [B,S,H,D] -> [B,H,S,D] (moves D-blocks).
  Tensor bert = Iota({2, 33, 12, 64});
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Transpose",
                                .attrs = {Attr("perm", std::vector<int64_t>{0, 2, 1, 3})},
                                .inputs = {bert},
                                .threads = 2}),
                          RefTranspose<float>(bert, {0, 2, 1, 3})));
  // [B,H,S,D] -> [B,H,D,S] (key transpose: tiled plane).
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Transpose",
                                .attrs = {Attr("perm", std::vector<int64_t>{0, 2, 3, 1})},
                                .inputs = {bert},
                                .threads = 2}),
                          RefTranspose<float>(bert, {0, 2, 3, 1})));
  // Plane sides that are not multiples of the 8x8 / 4x4 register blocks.
  Tensor f = Iota({37, 45});
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Transpose", .inputs = {f}}), RefTranspose<float>(f, {1, 0})));
  Tensor i32 = Iota<int32_t>({5, 19, 23});
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Transpose", .inputs = {i32}, .threads = 2}),
                          RefTranspose<int32_t>(i32, {2, 1, 0})));
  Tensor m8 = Iota<int8_t>({301, 257});
  EXPECT_TRUE(
      TensorsNear(Run1({.op_type = "Transpose", .inputs = {m8}, .threads = 2}), RefTranspose<int8_t>(m8, {1, 0})));
  Tensor m64 = Iota<double>({3, 129, 70});
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Transpose",
                                .attrs = {Attr("perm", std::vector<int64_t>{2, 0, 1})},
                                .inputs = {m64},
                                .threads = 2}),
                          RefTranspose<double>(m64, {2, 0, 1})));
}

TEST(Transpose, RejectsBadPerm) {
  ExpectError({.op_type = "Transpose", .attrs = {Attr("perm", std::vector<int64_t>{0, 0})}, .inputs = {Iota({2, 3})}},
              absl::StatusCode::kInvalidArgument, "not a permutation");
  ExpectError(
      {.op_type = "Transpose", .attrs = {Attr("perm", std::vector<int64_t>{1, 0, 2})}, .inputs = {Iota({2, 3})}},
      absl::StatusCode::kInvalidArgument, "3 entries for rank 2");
}

TEST(DepthToSpace, DcrAndCrdModes) {
  Tensor x = Iota({1, 8, 1, 2});
  // DCR: out[0, c, h*2+i, w*2+j] = x[0, (i*2+j)*2 + c, h, w]
  Tensor dcr = Run1({.op_type = "DepthToSpace", .attrs = {Attr("blocksize", int64_t{2})}, .inputs = {x}});
  EXPECT_TRUE(TensorsNear(dcr, Vals({1, 2, 2, 4}, {0, 4, 1, 5, 8, 12, 9, 13, 2, 6, 3, 7, 10, 14, 11, 15})));
  // CRD: out[0, c, h*2+i, w*2+j] = x[0, c*4 + i*2 + j, h, w]
  Tensor crd = Run1({.op_type = "DepthToSpace",
                     .opset = 11,
                     .attrs = {Attr("blocksize", int64_t{2}), Attr("mode", std::string("CRD"))},
                     .inputs = {x}});
  EXPECT_TRUE(TensorsNear(crd, Vals({1, 2, 2, 4}, {0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15})));
  ExpectError({.op_type = "DepthToSpace", .attrs = {Attr("blocksize", int64_t{3})}, .inputs = {x}},
              absl::StatusCode::kInvalidArgument, "not divisible");
  ExpectError({.op_type = "DepthToSpace", .attrs = {Attr("blocksize", int64_t{2})}, .inputs = {Iota({8, 2})}},
              absl::StatusCode::kInvalidArgument, "4-D");
}

TEST(SpaceToDepth, InvertsDepthToSpaceDcr) {
  Tensor x = Iota<uint8_t>({2, 3, 4, 6});
  Tensor s = Run1({.op_type = "SpaceToDepth", .attrs = {Attr("blocksize", int64_t{2})}, .inputs = {x}});
  EXPECT_EQ(s.shape(), Shape({2, 12, 2, 3}));
  Tensor back = Run1({.op_type = "DepthToSpace", .attrs = {Attr("blocksize", int64_t{2})}, .inputs = {s}});
  EXPECT_TRUE(TensorsNear(back, x));
  ExpectError({.op_type = "SpaceToDepth", .attrs = {Attr("blocksize", int64_t{4})}, .inputs = {x}},
              absl::StatusCode::kInvalidArgument, "not divisible");
}

// ---- Expand / Tile -----------------------------------------------------------

TEST(Expand, BidirectionalBroadcast) {
  Tensor x = Vals({3, 1}, {1, 2, 3});
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Expand", .inputs = {x, Ints({2, 1, 2})}}),
                          Vals({2, 3, 2}, {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Expand", .inputs = {x, Ints({1})}}), x));
  Tensor big =
      Run1({.op_type = "Expand", .inputs = {Iota<int64_t>({1, 300, 1, 64}), Ints({4, 300, 3, 64})}, .threads = 2});
  for (int64_t i = 0; i < big.num_elements(); ++i) {
    std::vector<int64_t> c = Coords(i, big.shape());
    ASSERT_EQ(big.data<int64_t>()[i], c[1] * 64 + c[3]);
  }
  ExpectError({.op_type = "Expand", .inputs = {x, Ints({2, 2})}}, absl::StatusCode::kInvalidArgument,
              "cannot be broadcast");
  ExpectError({.op_type = "Expand", .inputs = {x, Ints({-1, 1})}}, absl::StatusCode::kInvalidArgument,
              "negative dimension");
}

TEST(Tile, RepeatsEachAxis) {
  Tensor x = Vals<int32_t>({2, 2}, {1, 2, 3, 4});
  EXPECT_TRUE(
      TensorsNear(Run1({.op_type = "Tile", .inputs = {x, Ints({2, 3})}}),
                  Vals<int32_t>({4, 6}, {1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4})));
  EXPECT_EQ(Run1({.op_type = "Tile", .inputs = {x, Ints({0, 1})}}).shape(), Shape({0, 2}));
  ExpectError({.op_type = "Tile", .inputs = {x, Ints({2})}}, absl::StatusCode::kInvalidArgument, "rank 2");
  ExpectError({.op_type = "Tile", .inputs = {x, Ints({1, -1})}}, absl::StatusCode::kInvalidArgument, "negative");
}

// ---- Pad -------------------------------------------------------------------

TEST(Pad, ConstantWithValueInputAndAttribute) {
  Tensor x = Vals({2, 2}, {1, 2, 3, 4});
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Pad", .inputs = {x, Ints({0, 1, 1, 0}), Tensor::Scalar<float>(9)}}),
                          Vals({3, 3}, {9, 1, 2, 9, 3, 4, 9, 9, 9})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Pad",
                                .opset = 2,
                                .attrs = {Attr("pads", std::vector<int64_t>{1, 0, 0, 0}), Attr("value", 5.0f)},
                                .inputs = {x}}),
                          Vals({3, 2}, {5, 5, 1, 2, 3, 4})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Pad", .inputs = {Vals<int64_t>({3}, {1, 2, 3}), Ints({2, 0})}}),
                          Vals<int64_t>({5}, {0, 0, 1, 2, 3})));
}

TEST(Pad, ReflectAndEdge) {
  Tensor x = Vals({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_TRUE(TensorsNear(
      Run1({.op_type = "Pad", .attrs = {Attr("mode", std::string("reflect"))}, .inputs = {x, Ints({1, 2, 0, 1})}}),
      Vals({3, 6}, {6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5})));
  EXPECT_TRUE(TensorsNear(
      Run1({.op_type = "Pad", .attrs = {Attr("mode", std::string("edge"))}, .inputs = {x, Ints({0, 1, 1, 2})}}),
      Vals({3, 6}, {1, 1, 2, 3, 3, 3, 4, 4, 5, 6, 6, 6, 4, 4, 5, 6, 6, 6})));
}

TEST(Pad, NegativePadsCrop) {
  Tensor x = Iota({3, 4});
  EXPECT_TRUE(
      TensorsNear(Run1({.op_type = "Pad", .inputs = {x, Ints({-1, 1, 0, -2})}}), Vals({2, 3}, {0, 4, 5, 0, 8, 9})));
  EXPECT_TRUE(TensorsNear(
      Run1({.op_type = "Pad", .attrs = {Attr("mode", std::string("edge"))}, .inputs = {x, Ints({0, -3, 0, 1})}}),
      Vals({3, 2}, {3, 3, 7, 7, 11, 11})));
}

TEST(Pad, EmptyInput) {
  Tensor x = Iota({0, 2});
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Pad", .inputs = {x, Ints({1, 0, 0, 1}), Tensor::Scalar<float>(3)}}),
                          Vals({1, 3}, {3, 3, 3})));
  ExpectError({.op_type = "Pad", .attrs = {Attr("mode", std::string("reflect"))}, .inputs = {x, Ints({1, 0, 0, 0})}},
              absl::StatusCode::kInvalidArgument, "empty axis");
}

TEST(Pad, LargeConstantMatchesReference) {
  Tensor x = Iota({8, 64, 64});
  Tensor y = Run1({.op_type = "Pad", .inputs = {x, Ints({0, 3, -2, 1, 0, 5})}, .threads = 2});
  ASSERT_EQ(y.shape(), Shape({9, 67, 67}));
  for (int64_t i = 0; i < y.num_elements(); ++i) {
    std::vector<int64_t> c = Coords(i, y.shape());
    const int64_t h = c[1] - 3, w = c[2] + 2;
    const float expected =
        (c[0] < 8 && h >= 0 && h < 64 && w < 64) ? x.data<float>()[Flat({c[0], h, w}, x.shape())] : 0;
    ASSERT_EQ(y.data<float>()[i], expected) << i;
  }
}

TEST(Pad, RejectsBadArguments) {
  Tensor x = Iota({2, 2});
  ExpectError({.op_type = "Pad", .inputs = {x, Ints({1, 1})}}, absl::StatusCode::kInvalidArgument, "expected 4");
  ExpectError({.op_type = "Pad", .inputs = {x, Ints({-3, 0, 0, 0})}}, absl::StatusCode::kInvalidArgument, "crop");
  ExpectError({.op_type = "Pad", .inputs = {x, Ints({0, 0, 0, 0}), Tensor::Scalar<double>(1)}},
              absl::StatusCode::kInvalidArgument, "constant_value");
  ExpectError({.op_type = "Pad", .attrs = {Attr("mode", std::string("wrap"))}, .inputs = {x, Ints({0, 0, 0, 0})}},
              absl::StatusCode::kUnimplemented, "wrap");
  ExpectError({.op_type = "Pad", .attrs = {Attr("mode", std::string("mirror"))}, .inputs = {x, Ints({0, 0, 0, 0})}},
              absl::StatusCode::kInvalidArgument, "mirror");
}

// ---- Trilu -------------------------------------------------------------------

TEST(Trilu, UpperAndLowerWithK) {
  Tensor x = Iota({2, 3, 3}, 1);
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Trilu", .opset = 14, .inputs = {x}}),
                          Vals({2, 3, 3}, {1, 2, 3, 0, 5, 6, 0, 0, 9, 10, 11, 12, 0, 14, 15, 0, 0, 18})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Trilu",
                                .opset = 14,
                                .attrs = {Attr("upper", int64_t{0})},
                                .inputs = {Iota({3, 4}, 1), Tensor::Scalar<int64_t>(-1)}}),
                          Vals({3, 4}, {0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Trilu",
                                .opset = 14,
                                .inputs = {Vals<bool>({2, 2}, {true, true, true, true}), Tensor::Scalar<int64_t>(1)}}),
                          Vals<bool>({2, 2}, {false, true, false, false})));
  ExpectError({.op_type = "Trilu", .opset = 14, .inputs = {Iota({3})}}, absl::StatusCode::kInvalidArgument,
              "rank >= 2");
}

}  // namespace
}  // namespace tessera::engine
