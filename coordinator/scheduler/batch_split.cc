#include "coordinator/scheduler/batch_split.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace tessera::coordinator {

std::vector<int64_t> ProportionalSplit(int64_t total, absl::Span<const double> weights) {
  const size_t n = weights.size();
  std::vector<int64_t> sizes(n, 0);
  if (n == 0 || total <= 0) return sizes;
  double sum = 0;
  for (double w : weights) sum += std::max(w, 0.0);
  std::vector<double> share(n);
  for (size_t i = 0; i < n; ++i) share[i] = sum > 0 ? std::max(weights[i], 0.0) / sum : 1.0 / n;
  int64_t assigned = 0;
  std::vector<std::pair<double, size_t>> remainders;
  for (size_t i = 0; i < n; ++i) {
    const double exact = share[i] * total;
    sizes[i] = static_cast<int64_t>(exact);
    assigned += sizes[i];
    remainders.push_back({exact - sizes[i], i});
  }
  // Largest remainders first; ties go to the earlier worker.
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t k = 0; assigned < total; k = (k + 1) % n) {
    if (share[remainders[k].second] <= 0) continue;
    ++sizes[remainders[k].second];
    ++assigned;
  }
  return sizes;
}

std::vector<int64_t> FixedSplit(int64_t total, int64_t piece) {
  if (total <= 0) return {};
  if (piece <= 0 || piece >= total) return {total};
  std::vector<int64_t> sizes(total / piece, piece);
  if (total % piece != 0) sizes.push_back(total % piece);
  return sizes;
}

absl::StatusOr<Tensor> SliceRows(const Tensor& t, int64_t begin, int64_t count) {
  if (t.rank() == 0) return absl::InvalidArgumentError("cannot split a scalar along a batch axis");
  if (begin < 0 || count < 0 || begin + count > t.dim(0)) {
    return absl::InvalidArgumentError(absl::StrCat("rows [", begin, ", ", begin + count, ") are outside a batch of ",
                                                   t.dim(0)));
  }
  Shape shape = t.shape();
  shape[0] = count;
  const int64_t row_bytes = t.dim(0) == 0 ? 0 : static_cast<int64_t>(t.byte_size()) / t.dim(0);
  char* data = static_cast<char*>(const_cast<void*>(t.raw_data())) + begin * row_bytes;
  return Tensor::Wrap(t.dtype(), std::move(shape), t.buffer(), data);
}

absl::StatusOr<Tensor> ConcatRows(absl::Span<const Tensor> pieces) {
  if (pieces.empty()) return absl::InvalidArgumentError("nothing to concatenate");
  if (pieces.size() == 1) return pieces[0];
  const Tensor& first = pieces[0];
  if (first.rank() == 0) return absl::InvalidArgumentError("cannot concatenate scalars along a batch axis");
  int64_t rows = 0;
  for (const Tensor& p : pieces) {
    if (p.dtype() != first.dtype() || p.rank() != first.rank() ||
        !std::equal(p.shape().begin() + 1, p.shape().end(), first.shape().begin() + 1)) {
      return absl::InvalidArgumentError(absl::StrCat("pieces disagree: ", ShapeToString(first.shape()), " ",
                                                     DataTypeName(first.dtype()), " and ", ShapeToString(p.shape()),
                                                     " ", DataTypeName(p.dtype())));
    }
    rows += p.dim(0);
  }
  Shape shape = first.shape();
  shape[0] = rows;
  Tensor out = Tensor::Allocate(first.dtype(), shape);
  char* dst = static_cast<char*>(out.raw_data());
  for (const Tensor& p : pieces) {
    if (p.byte_size() > 0) std::memcpy(dst, p.raw_data(), p.byte_size());
    dst += p.byte_size();
  }
  return out;
}

}  // namespace tessera::coordinator
