// Builds small ONNX models in tests without Python.
//
//   ModelBuilder b;
//   b.Input("x", onnx::TensorProto::FLOAT, {-1, 4}).Node("Relu", {"x"}, {"y"}).Output("y");
//   auto engine = Engine::LoadFromBytes(b.Bytes());
#pragma once

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/tensor.h"
#include "onnx/onnx_pb.h"
#include "worker/engine/node_attributes.h"

namespace tessera::engine::testing {

class ModelBuilder {
 public:
  explicit ModelBuilder(int opset = 17) {
    model_.set_ir_version(8);
    model_.set_producer_name("tessera-test");
    auto* imp = model_.add_opset_import();
    imp->set_domain("");
    imp->set_version(opset);
    model_.mutable_graph()->set_name("test");
  }

  // dims: -1 becomes a symbolic dimension ("d0", "d1", ...).
  ModelBuilder& Input(const std::string& name, int32_t elem_type, const std::vector<int64_t>& dims) {
    SetType(model_.mutable_graph()->add_input(), name, elem_type, &dims);
    return *this;
  }
  // Output without a declared type/shape (shape inference fills it).
  ModelBuilder& Output(const std::string& name) {
    model_.mutable_graph()->add_output()->set_name(name);
    return *this;
  }
  ModelBuilder& Output(const std::string& name, int32_t elem_type, const std::vector<int64_t>& dims) {
    SetType(model_.mutable_graph()->add_output(), name, elem_type, &dims);
    return *this;
  }
  ModelBuilder& Initializer(const std::string& name, const Tensor& value) {
    *model_.mutable_graph()->add_initializer() = TensorToProto(value, name);
    return *this;
  }
  ModelBuilder& Node(const std::string& op, const std::vector<std::string>& inputs,
                     const std::vector<std::string>& outputs, const std::vector<onnx::AttributeProto>& attrs = {},
                     const std::string& name = "", const std::string& domain = "") {
    auto* n = model_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? absl::StrCat(op, "_", model_.graph().node_size()) : name);
    if (!domain.empty()) n->set_domain(domain);
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    for (const auto& a : attrs) *n->add_attribute() = a;
    return *this;
  }
  onnx::ModelProto& proto() { return model_; }
  std::string Bytes() const { return model_.SerializeAsString(); }

 private:
  void SetType(onnx::ValueInfoProto* v, const std::string& name, int32_t elem_type, const std::vector<int64_t>* dims) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem_type);
    auto* shape = tt->mutable_shape();
    for (size_t i = 0; i < dims->size(); ++i) {
      auto* d = shape->add_dim();
      if ((*dims)[i] < 0) {
        d->set_dim_param(absl::StrCat("d", i));
      } else {
        d->set_dim_value((*dims)[i]);
      }
    }
  }
  onnx::ModelProto model_;
};

}  // namespace tessera::engine::testing
