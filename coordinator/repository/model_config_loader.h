// Reading, checking and completing a model's config.pbtxt (Triton's
// ModelConfig, proto/model_config.proto).
//
// Three steps, used in this order by ModelRepository:
//   1. ParseModelConfig / ReadModelConfig: strict protobuf text format. An
//      unknown field, a field given twice, a bad value or bad syntax is
//      InvalidArgument "<file>:<line>:<column>: <parser message>", the
//      parser's message naming the field.
//   2. ValidateModelConfig: checks what can be checked without the model
//      (platform, name, max_batch_size, version policy, dynamic batching,
//      parallelism, instance groups, tensor sections) and normalises it:
//        - a missing name takes the directory's; a different one is an error
//          (Triton's rule);
//        - platform "onnx" / "onnxruntime_onnx" or backend "onnxruntime" (at
//          least one of them) is required; both are then set to Triton's
//          canonical pair platform "onnxruntime_onnx", backend "onnxruntime".
//   3. CompleteModelConfig: against the ONNX model's graph inputs/outputs
//      (as the engine reports them). Triton's ONNX auto-complete:
//        - an omitted `input` (resp. `output`) section is filled from the
//          model in model order: names, data types, dims;
//        - a given section must agree: names exist, data types equal, same
//          rank, and every config dim equals the model's or narrows a
//          dynamic (-1) model dim. A config -1 where the model has a fixed
//          size is refused (the model would reject such requests). Every
//          model input must be listed; `output` may list a subset of the
//          model's outputs (only those are served).
//        - max_batch_size > 0: config dims exclude the batch axis. The
//          model's first dim of every input and every served output must be
//          dynamic (-1), or fixed 1 with max_batch_size 1.
//        - max_batch_size 0 is kept even when every model tensor's first dim
//          is dynamic: proto3 cannot tell "max_batch_size: 0" from an absent
//          field, and silently turning on batching (Triton's default of 4)
//          would change the request shapes clients must send. Such a model
//          is served with its full ONNX shapes (first dim -1).
//        - a model tensor with an empty shape is a scalar or of unknown rank
//          (the engine's TensorInfo cannot tell); config dims given for it
//          are accepted as they are and the engine checks requests at run
//          time.
//      Features Tessera does not implement (reshape, shape tensors, ragged
//      batches, optional inputs, GPU instance groups, decoupled models) are
//      Unimplemented, naming the field.
//
// Errors of steps 2 and 3 are InvalidArgument (Unimplemented as above) and
// name the model, the tensor and the field. All functions are thread-safe.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "proto/model_config.pb.h"
#include "worker/engine/engine.h"

namespace tessera::coordinator {

inline constexpr char kModelConfigFilename[] = "config.pbtxt";
inline constexpr char kDefaultModelFilename[] = "model.onnx";
// Triton's canonical names for ONNX models.
inline constexpr char kOnnxPlatform[] = "onnxruntime_onnx";
inline constexpr char kOnnxBackend[] = "onnxruntime";

// Parses config.pbtxt text strictly. `source` names the text in errors
// (usually the file's path).
absl::StatusOr<inference::ModelConfig> ParseModelConfig(absl::string_view text, absl::string_view source);

// Reads <model_dir>/config.pbtxt, parses it and validates it with the
// directory's base name (steps 1 and 2). NotFound when the file is missing.
absl::StatusOr<inference::ModelConfig> ReadModelConfig(const std::string& model_dir);

// Step 2 on `config` in place; `directory_name` is the model directory's
// base name.
absl::Status ValidateModelConfig(absl::string_view directory_name, inference::ModelConfig* config);

// Step 3 on a config that passed ValidateModelConfig.
absl::Status CompleteModelConfig(absl::Span<const engine::TensorInfo> model_inputs,
                                 absl::Span<const engine::TensorInfo> model_outputs,
                                 inference::ModelConfig* config);

}  // namespace tessera::coordinator
