#include "client/compare_command.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/numbers.h"
#include "client/exit_codes.h"
#include "common/npy.h"

namespace tessera::client {
namespace {

constexpr char kUsage[] = "usage: tessera compare A.npy B.npy [--rtol R]   (R defaults to 1e-5)\n";

// Element i of a numeric tensor as double.
double At(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat32: return t.data<float>()[i];
    case DataType::kFloat64: return t.data<double>()[i];
    case DataType::kInt64: return static_cast<double>(t.data<int64_t>()[i]);
    case DataType::kInt32: return t.data<int32_t>()[i];
    case DataType::kInt8: return t.data<int8_t>()[i];
    case DataType::kUint8: return t.data<uint8_t>()[i];
    case DataType::kBool: return t.data<bool>()[i] ? 1 : 0;
    default: return 0;
  }
}

}  // namespace

int CompareCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::vector<std::string> files;
  double rtol = 1e-5;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      out << kUsage;
      return kExitOk;
    }
    if (args[i] == "--rtol") {
      if (i + 1 >= args.size() || !absl::SimpleAtod(args[i + 1], &rtol) || rtol < 0) {
        err << "tessera compare: --rtol expects a number >= 0\n" << kUsage;
        return kExitUsageError;
      }
      ++i;
      continue;
    }
    files.push_back(args[i]);
  }
  if (files.size() != 2) {
    err << "tessera compare: expected two .npy files\n" << kUsage;
    return kExitUsageError;
  }
  absl::StatusOr<Tensor> a = ReadNpyFile(files[0]);
  absl::StatusOr<Tensor> b = ReadNpyFile(files[1]);
  for (const auto* t : {&a, &b}) {
    if (!t->ok()) {
      err << "tessera compare: " << t->status().message() << "\n";
      return kExitRuntimeError;
    }
  }
  if (a->dtype() != b->dtype() || a->shape() != b->shape()) {
    out << "differ: " << DataTypeName(a->dtype()) << " " << ShapeToString(a->shape()) << " vs "
        << DataTypeName(b->dtype()) << " " << ShapeToString(b->shape()) << "\n";
    return kExitRuntimeError;
  }
  if (a->byte_size() == 0 || std::memcmp(a->raw_data(), b->raw_data(), a->byte_size()) == 0) {
    out << "bit-identical\n";
    return kExitOk;
  }
  double max_diff = 0, max_abs = 0;
  for (int64_t i = 0; i < a->num_elements(); ++i) {
    max_diff = std::max(max_diff, std::fabs(At(*a, i) - At(*b, i)));
    max_abs = std::max(max_abs, std::fabs(At(*b, i)));
  }
  const double relative = max_abs > 0 ? max_diff / max_abs : max_diff;
  out << "max abs diff " << max_diff << ", relative to max |B| " << relative << (relative <= rtol ? " (within " : " (over ")
      << rtol << ")\n";
  return relative <= rtol ? kExitOk : kExitRuntimeError;
}

}  // namespace tessera::client
