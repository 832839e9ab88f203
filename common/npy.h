// NumPy .npy files: reading and writing single tensors.
//
// Supported: format versions 1.0, 2.0 and 3.0; little-endian (or
// byte-order-free) data in C order; element types float32 '<f4', float64
// '<f8', int64 '<i8', int32 '<i4', bool '|b1', uint8 '|u1', int8 '|i1'.
// Everything else (big-endian data, fortran_order True, other dtypes,
// structured dtypes, pickled objects) is refused with InvalidArgument naming
// the problem. Reading never trusts the header: sizes are checked against the
// bytes actually present before any allocation, so a hostile or truncated file
// yields an error, never a crash or a huge allocation.
//
// WriteNpy emits a version 1.0 header (2.0 when the header does not fit in
// 64 KiB) padded to a multiple of 64 bytes, as numpy.save does, so files load
// with numpy.load and with the JavaScript reader in bench/engine/.
//
// All functions are thread-compatible and keep no state.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tensor.h"

namespace tessera {

// Parses the complete contents of a .npy file. The tensor owns a copy of the
// data (64-byte aligned). Bool elements are normalized to 0/1.
absl::StatusOr<Tensor> ReadNpy(absl::string_view bytes);

// Reads and parses a file; NotFound when it cannot be opened, and parse
// errors prefixed with the path.
absl::StatusOr<Tensor> ReadNpyFile(const std::string& path);

// Serializes a defined tensor of a supported type (all Tessera types are).
std::string WriteNpy(const Tensor& tensor);

// Writes WriteNpy(tensor) to `path` (replacing it); an error names the path.
absl::Status WriteNpyFile(const std::string& path, const Tensor& tensor);

// The NumPy dtype descriptor Tessera writes for `type`, e.g. "<f4", "|b1";
// empty for kUndefined.
absl::string_view NpyDescriptor(DataType type);

}  // namespace tessera
