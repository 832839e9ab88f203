// Tiny ONNX models built in-process for the CLI tests.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"

namespace tessera::client::testing {

// A value_info with element type `elem_type` and `dims` (-1 = symbolic "N").
inline void SetTensorType(onnx::ValueInfoProto* value, const std::string& name, int elem_type,
                          const std::vector<int64_t>& dims) {
  value->set_name(name);
  onnx::TypeProto_Tensor* tensor = value->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(elem_type);
  onnx::TensorShapeProto* shape = tensor->mutable_shape();
  for (int64_t d : dims) {
    if (d < 0) shape->add_dim()->set_dim_param("N");
    else shape->add_dim()->set_dim_value(d);
  }
}

// One-node model: `op_type` over `inputs` (all of type `elem_type` and shape
// `dims`) producing "y" of the same type and shape. Opset 13.
inline std::string MakeSingleNodeModel(const std::string& op_type, const std::vector<std::string>& inputs,
                                       const std::vector<int64_t>& dims, int elem_type = onnx::TensorProto::FLOAT,
                                       const std::string& output = "y") {
  onnx::ModelProto model;
  model.set_ir_version(7);
  model.set_producer_name("tessera-cli-test");
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(13);
  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name("test");
  onnx::NodeProto* node = graph->add_node();
  node->set_op_type(op_type);
  node->set_name(op_type + "_0");
  for (const std::string& name : inputs) {
    node->add_input(name);
    SetTensorType(graph->add_input(), name, elem_type, dims);
  }
  node->add_output(output);
  SetTensorType(graph->add_output(), output, elem_type, dims);
  return model.SerializeAsString();
}

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace tessera::client::testing
