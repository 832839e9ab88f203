#include "coordinator/planner/node_cost.h"

#include "gtest/gtest.h"

namespace tessera::planner {
namespace {

engine::TensorInfo Info(const std::string& name, std::vector<int64_t> shape) {
  return {name, DataType::kFloat32, std::move(shape)};
}

onnx::NodeProto Node(const char* op, const char* domain = nullptr) {
  onnx::NodeProto n;
  n.set_op_type(op);
  if (domain != nullptr) n.set_domain(domain);
  n.add_output()->push_back('y');  // add_output(const char*) trips GCC 12 -Wrestrict
  return n;
}

TEST(NodeCostTest, ConvCountsMultiplyAddsPerOutput) {
  engine::NodeTrace t;
  t.inputs = {Info("x", {1, 4, 10, 10}), Info("w", {8, 2, 3, 3}), Info("b", {8})};  // group 2
  t.outputs = {Info("y", {1, 8, 8, 8})};
  const double out = 8 * 8 * 8;
  EXPECT_DOUBLE_EQ(NodeFlops(Node("Conv"), t), 2 * out * 2 * 9 + out);
  EXPECT_DOUBLE_EQ(NodeFlops(Node("FusedConv", "ai.tessera"), t), 2 * out * 2 * 9 + out);
}

TEST(NodeCostTest, MatMulCountsBatchTimesMNK) {
  engine::NodeTrace t;
  t.inputs = {Info("a", {3, 5, 7}), Info("b", {7, 11})};
  t.outputs = {Info("y", {3, 5, 11})};
  EXPECT_DOUBLE_EQ(NodeFlops(Node("MatMul"), t), 2.0 * 3 * 5 * 11 * 7 + 3 * 5 * 11);
}

TEST(NodeCostTest, OtherOperatorsCountOutputElementsAndBytes) {
  engine::NodeTrace t;
  t.name = "relu";
  t.inputs = {Info("x", {2, 3})};
  t.outputs = {Info("y", {2, 3})};
  EXPECT_DOUBLE_EQ(NodeFlops(Node("Relu"), t), 6);
  EXPECT_EQ(TensorBytes(t.outputs[0]), 24);

  onnx::ModelProto model;
  onnx::NodeProto node = Node("Relu");
  node.set_name("relu");
  *model.mutable_graph()->add_node() = node;
  t.ms = 0.5;
  auto costs = EstimateNodeCosts(model, {t}, /*measured=*/true);
  ASSERT_TRUE(costs.ok()) << costs.status();
  ASSERT_EQ(costs->size(), 1u);
  EXPECT_EQ((*costs)[0].input_bytes, 24);
  EXPECT_GT((*costs)[0].estimated_ms, 0);
  EXPECT_DOUBLE_EQ((*costs)[0].cost_ms, 0.5);
  auto estimated = EstimateNodeCosts(model, {t}, /*measured=*/false);
  ASSERT_TRUE(estimated.ok());
  EXPECT_DOUBLE_EQ((*estimated)[0].cost_ms, (*estimated)[0].estimated_ms);
  EXPECT_FALSE(EstimateNodeCosts(model, {}, true).ok());
}

}  // namespace
}  // namespace tessera::planner
