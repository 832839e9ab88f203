// The stage planner on real exported graphs: a ResNet-style CNN (residual
// adds, downsample branches) and a transformer encoder with dynamic batch and
// sequence (Shape/Gather/Unsqueeze/Concat subgraphs).
#include "coordinator/planner/stage_planner.h"

#include <algorithm>

#include "coordinator/planner/partition_builder.h"
#include "gtest/gtest.h"
#include "onnx/checker.h"
#include "tests/coordinator/planner/planner_test_util.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "worker/engine/model_optimizer.h"

namespace tessera::planner {
namespace {

using testing::ReadTestModel;
using testing::RunPipeline;
using testing::SameBytes;

struct ModelCase {
  const char* file;
  Shape input_shape;  // a request shape (batch/sequence different from the sample)
};

const ModelCase kResnet{"planner_resnet.onnx", {1, 3, 32, 32}};
const ModelCase kTransformer{"planner_transformer.onnx", {3, 9, 32}};

PlannerOptions Options(int stages) {
  PlannerOptions o;
  o.stages = stages;
  o.threads = 2;
  o.measure_runs = 0;  // deterministic: estimated costs only
  return o;
}

// The whole model on one engine, optimized as it is for serving.
std::vector<Tensor> RunWhole(const std::string& bytes, const std::vector<engine::NamedTensor>& inputs) {
  auto engine = engine::Engine::LoadFromBytes(bytes, {.intra_op_threads = 2});
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (!engine.ok()) return {};
  auto out = (*engine)->Run(inputs);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : std::vector<Tensor>{};
}

void ExpectBitIdentical(const PipelinePlan& plan, const std::string& bytes, const Shape& shape, const std::string& what) {
  const std::vector<engine::NamedTensor> request = {{"input", engine::testing::RandomTensor(shape, 11)}};
  const std::vector<Tensor> expected = RunWhole(bytes, request);
  auto actual = RunPipeline(plan, request);
  ASSERT_TRUE(actual.ok()) << what << ": " << actual.status();
  ASSERT_EQ(actual->size(), expected.size()) << what;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(SameBytes((*actual)[i], expected[i])) << what << ": output " << i << " differs";
  }
}

class StagePlannerTest : public ::testing::TestWithParam<std::tuple<ModelCase, int>> {};

TEST_P(StagePlannerTest, StagesAreBalancedValidAndBitIdenticalWhenChained) {
  const auto& [model, stages] = GetParam();
  const std::string bytes = ReadTestModel(model.file);
  ASSERT_FALSE(bytes.empty());
  PlannerOptions options = Options(stages);
  options.link_bytes_per_ms = 0;  // balance on compute alone for the bound below
  auto plan = PlanPipeline(bytes, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(static_cast<int>(plan->stages.size()), stages);
  ASSERT_EQ(static_cast<int>(plan->cut_bytes.size()), stages - 1);

  // Balance: an optimal contiguous partition is never worse than the mean
  // plus the largest single node (the greedy bound), within the slack.
  double total = 0, largest = 0;
  for (const auto& s : plan->stages) {
    for (double c : s.node_costs_ms) {
      total += c;
      largest = std::max(largest, c);
    }
  }
  const double mean = total / stages;
  EXPECT_NEAR(plan->MeanStageCost(), mean, 1e-9 * total);
  EXPECT_LE(plan->MaxStageCost(), (mean + largest) * (1 + options.balance_slack) + 1e-12);
  EXPECT_LT(plan->MaxStageCost() / mean, 2.0) << PlanToText(*plan, false);

  std::vector<std::string> ids;
  for (const auto& s : plan->stages) {
    EXPECT_FALSE(s.node_names.empty());
    EXPECT_EQ(s.content_id.size(), 64u);
    ids.push_back(s.content_id);
    onnx::ModelProto m;
    ASSERT_TRUE(m.ParseFromString(s.model));
    EXPECT_NO_THROW(onnx::checker::check_model(m)) << "stage " << s.index;
    EXPECT_TRUE(engine::IsOptimizedModel(m));
    auto engine = engine::Engine::LoadFromBytes(s.model, {.intra_op_threads = 2});
    ASSERT_TRUE(engine.ok()) << "stage " << s.index << ": " << engine.status();
    ASSERT_EQ((*engine)->inputs().size(), s.inputs.size());
    for (size_t i = 0; i < s.inputs.size(); ++i) EXPECT_EQ((*engine)->inputs()[i].name, s.inputs[i].name);
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end());
  EXPECT_FALSE(PlanToText(*plan).empty());

  ExpectBitIdentical(*plan, bytes, model.input_shape, "plan");
  // The first stage reads the request; the graph output comes from the last.
  EXPECT_EQ(plan->stages[0].inputs[0].source_stage, kFromRequest);
  ASSERT_EQ(plan->outputs.size(), 1u);
  EXPECT_EQ(plan->outputs[0].source_stage, stages - 1);
}

INSTANTIATE_TEST_SUITE_P(RealModels, StagePlannerTest,
                         ::testing::Combine(::testing::Values(kResnet, kTransformer), ::testing::Values(2, 3, 4)),
                         [](const auto& info) {
                           return absl::StrCat(std::get<0>(info.param).file == kResnet.file ? "Resnet" : "Transformer",
                                               "_K", std::get<1>(info.param));
                         });

PreparedModel Prepared(const std::string& bytes) {
  auto prepared = PrepareModel(bytes, Options(1));
  EXPECT_TRUE(prepared.ok()) << prepared.status();
  return prepared.ok() ? *std::move(prepared) : PreparedModel();
}

PipelinePlan PlanWithBounds(const PreparedModel& model, const std::vector<int>& bounds) {
  auto plan = BuildPlan(model, bounds);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *std::move(plan) : PipelinePlan();
}

// Every single cut position of both models: whatever crosses (residual
// branches, downsample outputs, shape-subgraph integers) is carried, and the
// result stays bit-identical.
TEST(StagePlannerCarryTest, EveryTwoStageCutIsBitIdentical) {
  for (const ModelCase& model : {kResnet, kTransformer}) {
    const std::string bytes = ReadTestModel(model.file);
    const PreparedModel prepared = Prepared(bytes);
    const int n = prepared.optimized.graph().node_size();
    for (int cut = 1; cut < n; ++cut) {
      ExpectBitIdentical(PlanWithBounds(prepared, {0, cut, n}), bytes, model.input_shape,
                         absl::StrCat(model.file, " cut at ", cut));
    }
  }
}

// Index of the node producing `name`, and of the first node reading it.
std::pair<int, int> ProducerAndFirstReader(const onnx::GraphProto& g, const std::string& name) {
  int producer = -1, first = -1;
  for (int i = 0; i < g.node_size(); ++i) {
    for (const auto& o : g.node(i).output()) {
      if (o == name) producer = i;
    }
    for (const auto& in : g.node(i).input()) {
      if (in == name && first < 0) first = i;
    }
  }
  return {producer, first};
}

// A skip connection over a whole stage goes from its producer's stage
// straight to its reader's stage; the stage in between does not see it.
TEST(StagePlannerCarryTest, SkipConnectionsAndShapeSubgraphsAreRoutedPastMiddleStages) {
  for (const ModelCase& model : {kResnet, kTransformer}) {
    const std::string bytes = ReadTestModel(model.file);
    const PreparedModel prepared = Prepared(bytes);
    const auto& g = prepared.optimized.graph();
    const int n = g.node_size();
    int checked = 0;
    for (int i = 0; i < n; ++i) {
      const std::string& out = g.node(i).output(0);
      auto [producer, last] = ProducerAndFirstReader(g, out);
      if (last < producer + 2) continue;  // needs a node in between
      // Stage 0 = [0, producer], stage 1 = (producer, last), stage 2 = [last, n).
      const std::vector<int> bounds = {0, producer + 1, last, n};
      const PipelinePlan plan = PlanWithBounds(prepared, bounds);
      ASSERT_EQ(plan.stages.size(), 3u);
      auto find = [&](const std::vector<TensorRoute>& routes) {
        return std::find_if(routes.begin(), routes.end(), [&](const TensorRoute& r) { return r.name == out; });
      };
      EXPECT_NE(find(plan.stages[0].outputs), plan.stages[0].outputs.end()) << out;
      EXPECT_EQ(find(plan.stages[1].inputs), plan.stages[1].inputs.end()) << out << " passed through stage 1";
      EXPECT_EQ(find(plan.stages[1].outputs), plan.stages[1].outputs.end()) << out;
      auto in2 = find(plan.stages[2].inputs);
      ASSERT_NE(in2, plan.stages[2].inputs.end()) << out;
      EXPECT_EQ(in2->source_stage, 0) << out;
      ExpectBitIdentical(plan, bytes, model.input_shape, absl::StrCat(model.file, " skip ", out));
      if (++checked >= 6) break;
    }
    EXPECT_GT(checked, 0) << model.file << " has no tensor skipping a stage";
  }
  // The transformer's shape subgraph: an integer tensor computed from Shape
  // crosses a cut and still drives the Reshape after it.
  const std::string bytes = ReadTestModel(kTransformer.file);
  const PreparedModel prepared = Prepared(bytes);
  const auto& g = prepared.optimized.graph();
  int shape_node = -1;
  for (int i = 0; i < g.node_size(); ++i) {
    if (g.node(i).op_type() == "Shape") {
      shape_node = i;
      break;
    }
  }
  ASSERT_GE(shape_node, 0) << "the optimized transformer keeps a dynamic shape subgraph";
  const PipelinePlan plan = PlanWithBounds(prepared, {0, shape_node + 1, g.node_size()});
  bool integer_crosses = false;
  for (const auto& r : plan.stages[1].inputs) integer_crosses |= r.name == g.node(shape_node).output(0);
  EXPECT_TRUE(integer_crosses);
  ExpectBitIdentical(plan, bytes, kTransformer.input_shape, "shape cut");
}

TEST(StagePlannerTest, MeasuredCostsAreReported) {
  PlannerOptions options = Options(2);
  options.measure_runs = 2;
  auto plan = PlanPipeline(ReadTestModel(kResnet.file), options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->measured);
  for (const auto& s : plan->stages) {
    ASSERT_TRUE(s.measured_ms.has_value());
    EXPECT_GE(*s.measured_ms, 0);
  }
}

TEST(StagePlannerTest, GivenMeasuredNodeCostsOverrideTheEstimate) {
  const std::string bytes = ReadTestModel(kResnet.file);
  const PreparedModel prepared = Prepared(bytes);
  const auto& g = prepared.optimized.graph();
  const int n = g.node_size();
  ASSERT_GT(n, 3);
  // Three nodes measured as far slower than all the rest together: three
  // balanced stages must hold one each.
  const std::vector<std::string> heavy = {g.node(0).name(), g.node(n / 2).name(), g.node(n - 1).name()};
  PlannerOptions options = Options(3);
  for (const auto& name : heavy) options.measured_node_ms[name] = 1e6;
  auto plan = PlanPipeline(bytes, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  for (const auto& stage : plan->stages) {
    int count = 0;
    for (const auto& name : stage.node_names) count += std::count(heavy.begin(), heavy.end(), name);
    EXPECT_EQ(count, 1) << "stage " << stage.index;
    EXPECT_GE(stage.cost_ms, 1e6);
    EXPECT_LT(stage.cost_ms, 1.01e6);
  }
  options.measured_node_ms[g.node(0).name()] = -1;
  EXPECT_EQ(PlanPipeline(bytes, options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(StagePlannerTest, SampleDimensionsFollowTheOptions) {
  PlannerOptions options = Options(2);
  options.batch = 4;
  options.dims["sequence"] = 6;
  auto plan = PlanPipeline(ReadTestModel(kTransformer.file), options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->sample_shapes.size(), 1u);
  EXPECT_EQ(plan->sample_shapes[0].second, (std::vector<int64_t>{4, 6, 32}));
  EXPECT_EQ(plan->stages[0].inputs[0].bytes, 4 * 6 * 32 * 4);
}

TEST(StagePlannerTest, BadRequestsHaveClearStatuses) {
  const std::string bytes = ReadTestModel(kResnet.file);
  auto zero = PlanPipeline(bytes, Options(0));
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(zero.status().message().find("at least 1"), std::string::npos) << zero.status();
  auto many = PlanPipeline(bytes, Options(100000));
  EXPECT_EQ(many.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(many.status().message().find("nodes into 100000 stages"), std::string::npos) << many.status();
  auto garbage = PlanPipeline("definitely not onnx", Options(2));
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(garbage.status().message().find("not a valid ONNX"), std::string::npos) << garbage.status();
  auto empty = PlanPipeline("", Options(2));
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  const PreparedModel prepared = Prepared(bytes);
  const int n = prepared.optimized.graph().node_size();
  EXPECT_EQ(BuildPlan(prepared, {0, 5, 3, n}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildPlan(prepared, {1, n}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(BuildPartitions(prepared.optimized, {0, 5, 3, n}).ok());
}

}  // namespace
}  // namespace tessera::planner
