#include "client/random_tensor.h"

#include <limits>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace tessera::client {
namespace {

constexpr int64_t kMaxRandomElements = int64_t{1} << 34;

template <typename T>
void FillIntegers(Tensor& tensor, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> values(0, 9);
  T* out = tensor.data<T>();
  for (int64_t i = 0; i < tensor.num_elements(); ++i) out[i] = static_cast<T>(values(rng));
}

template <typename T>
void FillFloats(Tensor& tensor, RandomDistribution distribution, std::mt19937_64& rng) {
  T* out = tensor.data<T>();
  const int64_t n = tensor.num_elements();
  if (distribution == RandomDistribution::kNormal) {
    std::normal_distribution<T> values(0, 1);
    for (int64_t i = 0; i < n; ++i) out[i] = values(rng);
  } else {
    std::uniform_real_distribution<T> values(-1, 1);
    for (int64_t i = 0; i < n; ++i) out[i] = values(rng);
  }
}

}  // namespace

absl::StatusOr<Shape> ParseShapeSpec(absl::string_view spec) {
  Shape shape;
  if (spec.empty() || spec == "scalar") return shape;
  const char separator = spec.find(',') != absl::string_view::npos ? ',' : 'x';
  int64_t elements = 1;
  for (absl::string_view part : absl::StrSplit(spec, separator)) {
    int64_t dim = 0;
    if (!absl::SimpleAtoi(part, &dim) || dim < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad shape '", spec, "': dimensions must be non-negative integers, e.g. 1x3x224x224"));
    }
    if (dim != 0 && elements > kMaxRandomElements / dim) {
      return absl::InvalidArgumentError(absl::StrCat("shape '", spec, "' is too large"));
    }
    elements *= dim;
    shape.push_back(dim);
  }
  return shape;
}

std::string ShapeSpecString(const Shape& shape) {
  if (shape.empty()) return "scalar";
  return absl::StrJoin(shape, "x");
}

Tensor MakeRandomTensor(DataType type, const Shape& shape, RandomDistribution distribution, std::mt19937_64& rng) {
  Tensor tensor = Tensor::Allocate(type, shape);
  switch (type) {
    case DataType::kFloat32: FillFloats<float>(tensor, distribution, rng); break;
    case DataType::kFloat64: FillFloats<double>(tensor, distribution, rng); break;
    case DataType::kInt64: FillIntegers<int64_t>(tensor, rng); break;
    case DataType::kInt32: FillIntegers<int32_t>(tensor, rng); break;
    case DataType::kUint8: FillIntegers<uint8_t>(tensor, rng); break;
    case DataType::kInt8: FillIntegers<int8_t>(tensor, rng); break;
    case DataType::kBool: {
      std::bernoulli_distribution values(0.5);
      uint8_t* out = static_cast<uint8_t*>(tensor.raw_data());
      for (int64_t i = 0; i < tensor.num_elements(); ++i) out[i] = values(rng) ? 1 : 0;
      break;
    }
    case DataType::kUndefined: break;
  }
  return tensor;
}

}  // namespace tessera::client
