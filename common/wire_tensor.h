// Tensors on the coordinator <-> worker wire (tessera.worker.Tensor in
// proto/worker.proto) converted to and from Tessera's Tensor.
//
// A wire tensor is valid when its datatype is one Tessera executes, every
// dimension is >= 0, the element count does not overflow, and the content
// holds exactly product(shape) * element size bytes. Errors are
// InvalidArgument (Unimplemented for a KServe datatype Tessera does not
// execute), naming the tensor and what is wrong.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tensor.h"
#include "proto/worker.pb.h"

namespace tessera {

// Checks `wire` and copies its content into a new Tensor.
absl::StatusOr<Tensor> TensorFromWire(const worker::Tensor& wire);
// Checks `wire` and moves its content into the Tensor (no copy); the
// content of `*wire` is left empty, its name and shape stay.
absl::StatusOr<Tensor> TensorFromWire(worker::Tensor* wire);

// Fills `wire` (name, datatype, shape, content) from `tensor`: copies the
// bytes.
void TensorToWire(absl::string_view name, const Tensor& tensor, worker::Tensor* wire);
// The same, moving the bytes when `tensor` is their only holder (see
// Tensor::ReleaseBytes).
void TensorToWire(absl::string_view name, Tensor&& tensor, worker::Tensor* wire);

}  // namespace tessera
