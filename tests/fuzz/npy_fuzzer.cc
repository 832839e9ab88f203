// libFuzzer target: common/npy.h. The input is the contents of a .npy file.
// ReadNpy must refuse bad input with a status; a tensor it accepts must
// survive WriteNpy -> ReadNpy unchanged (dtype, shape and bytes).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/string_view.h"
#include "common/npy.h"
#include "common/tensor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<tessera::Tensor> tensor = tessera::ReadNpy(absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!tensor.ok()) {
    if (tensor.status().message().empty()) {
      std::fprintf(stderr, "ReadNpy refused the input without a message\n");
      std::abort();
    }
    return 0;
  }
  const std::string written = tessera::WriteNpy(*tensor);
  absl::StatusOr<tessera::Tensor> again = tessera::ReadNpy(written);
  if (!again.ok() || again->dtype() != tensor->dtype() || again->shape() != tensor->shape() ||
      again->byte_size() != tensor->byte_size() ||
      (tensor->byte_size() > 0 && std::memcmp(again->raw_data(), tensor->raw_data(), tensor->byte_size()) != 0)) {
    std::fprintf(stderr, "npy round trip changed the tensor %s: %s\n", tensor->DebugString().c_str(),
                 again.ok() ? again->DebugString().c_str() : again.status().ToString().c_str());
    std::abort();
  }
  return 0;
}
