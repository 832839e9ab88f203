// ProportionalSplit / FixedSplit sizes, SliceRows views and ConcatRows.
#include "coordinator/scheduler/batch_split.h"

#include <numeric>
#include <vector>

#include "gtest/gtest.h"

namespace tessera::coordinator {
namespace {

template <typename T>
std::vector<T> Values(const Tensor& t) {
  const auto span = t.values<T>();
  return std::vector<T>(span.begin(), span.end());
}

TEST(ProportionalSplitTest, FollowsTheWeightsAndSumsToTotal) {
  EXPECT_EQ(ProportionalSplit(7, std::vector<double>{1, 1, 1}), (std::vector<int64_t>{3, 2, 2}));
  EXPECT_EQ(ProportionalSplit(12, std::vector<double>{1, 2, 3}), (std::vector<int64_t>{2, 4, 6}));
  EXPECT_EQ(ProportionalSplit(10, std::vector<double>{3, 0, 1}), (std::vector<int64_t>{8, 0, 2}));
  EXPECT_EQ(ProportionalSplit(5, std::vector<double>{0, 0}), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(ProportionalSplit(2, std::vector<double>{1, 1, 1}), (std::vector<int64_t>{1, 1, 0}));
  EXPECT_TRUE(ProportionalSplit(3, {}).empty());
  for (int64_t total : {1, 7, 64, 1001}) {
    const std::vector<int64_t> sizes = ProportionalSplit(total, std::vector<double>{0.3, 2.5, 1.1, 7});
    EXPECT_EQ(std::accumulate(sizes.begin(), sizes.end(), int64_t{0}), total);
  }
}

TEST(FixedSplitTest, PiecesOfAtMostTheSize) {
  EXPECT_EQ(FixedSplit(7, 2), (std::vector<int64_t>{2, 2, 2, 1}));
  EXPECT_EQ(FixedSplit(8, 4), (std::vector<int64_t>{4, 4}));
  EXPECT_EQ(FixedSplit(3, 0), (std::vector<int64_t>{3}));
  EXPECT_EQ(FixedSplit(3, 5), (std::vector<int64_t>{3}));
  EXPECT_TRUE(FixedSplit(0, 2).empty());
}

TEST(SliceRowsTest, SharesTheBufferAndChecksTheRange) {
  const Tensor t = Tensor::FromVector<float>({3, 2}, {1, 2, 3, 4, 5, 6});
  absl::StatusOr<Tensor> rows = SliceRows(t, 1, 2);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->shape(), (Shape{2, 2}));
  EXPECT_EQ(Values<float>(*rows), (std::vector<float>{3, 4, 5, 6}));
  EXPECT_EQ(rows->raw_data(), static_cast<const char*>(t.raw_data()) + 2 * sizeof(float));
  EXPECT_EQ(SliceRows(t, 2, 2).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SliceRows(Tensor::Scalar<float>(1), 0, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConcatRowsTest, StacksInOrderAndRejectsMismatches) {
  const Tensor a = Tensor::FromVector<int64_t>({1, 2}, {1, 2});
  const Tensor b = Tensor::FromVector<int64_t>({2, 2}, {3, 4, 5, 6});
  absl::StatusOr<Tensor> ab = ConcatRows(std::vector<Tensor>{a, b});
  ASSERT_TRUE(ab.ok()) << ab.status();
  EXPECT_EQ(ab->shape(), (Shape{3, 2}));
  EXPECT_EQ(Values<int64_t>(*ab), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  const Tensor wrong_width = Tensor::FromVector<int64_t>({1, 3}, {1, 2, 3});
  EXPECT_EQ(ConcatRows(std::vector<Tensor>{a, wrong_width}).status().code(), absl::StatusCode::kInvalidArgument);
  const Tensor wrong_type = Tensor::FromVector<float>({1, 2}, {1, 2});
  EXPECT_EQ(ConcatRows(std::vector<Tensor>{a, wrong_type}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ConcatRows({}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera::coordinator
