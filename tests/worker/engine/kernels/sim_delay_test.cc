// ai.tessera.sim.Delay: the kernel (identity on the same buffer, sleeps at
// least the declared time, attribute checks) and the operator inside models
// (schema: checker and shape inference; not folded away).
#include <time.h>

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "onnx/shape_inference/implementation.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "tests/worker/engine/model_builder.h"
#include "worker/engine/engine.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/model_optimizer.h"
#include "worker/engine/tessera_schemas.h"

namespace tessera::engine {
namespace {

using ::testing::HasSubstr;
using testing::Attr;
using testing::KernelTestCase;
using testing::ModelBuilder;
using testing::RunKernel;

constexpr const char* kSim = "ai.tessera.sim";

KernelTestCase DelayCase(std::vector<onnx::AttributeProto> attrs, Tensor x) {
  KernelTestCase tc;
  tc.op_type = "Delay";
  tc.domain = kSim;
  tc.opset = 1;
  tc.attrs = std::move(attrs);
  tc.inputs = {std::move(x)};
  return tc;
}

std::vector<float> Values(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.num_elements());
}

TEST(SimDelay, RegisteredAsAliasingAndNeverFolded) {
  const KernelDef* def = KernelRegistry::Global().Find(kSim, "Delay");
  ASSERT_NE(def, nullptr);
  EXPECT_TRUE(def->output_aliases_input);
  EXPECT_FALSE(def->deterministic);
  EXPECT_EQ(KernelRegistry::Global().Find("", "Delay"), nullptr);
}

TEST(SimDelay, ReturnsTheSameBufferAndSleepsPerSample) {
  const Tensor x = Tensor::FromVector<float>({3, 2}, {1, -2, 3, -4, 5, 6});
  // 3 samples * 20 ms + 5 ms = 65 ms.
  const absl::Time start = absl::Now();
  auto out = RunKernel(DelayCase({Attr("microseconds_per_sample", int64_t{20000}), Attr("microseconds", int64_t{5000})},
                                 x));
  const absl::Duration elapsed = absl::Now() - start;
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 1u);
  const Tensor& y = (*out)[0];
  EXPECT_EQ(y.shape(), x.shape());
  EXPECT_EQ(y.dtype(), DataType::kFloat32);
  EXPECT_EQ(y.raw_data(), x.raw_data()) << "Delay must hand back its input, not a copy";
  EXPECT_EQ(Values(y), Values(x));
  EXPECT_GE(elapsed, absl::Milliseconds(65));
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

TEST(SimDelay, SleepsWithoutSpinning) {
  // 200 ms of delay must cost (almost) no CPU on the calling thread.
  const double cpu_before = ThreadCpuSeconds();
  const absl::Time start = absl::Now();
  auto out = RunKernel(DelayCase({Attr("microseconds", int64_t{200000})}, Tensor::FromVector<float>({1}, {1})));
  const absl::Duration elapsed = absl::Now() - start;
  const double cpu = ThreadCpuSeconds() - cpu_before;
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_GE(elapsed, absl::Milliseconds(200));
  EXPECT_LT(cpu, 0.05) << "the Delay kernel burned " << cpu << " s of CPU while sleeping";
}

TEST(SimDelay, ScalarIsOneSampleAndZeroDelayIsImmediate) {
  const Tensor s = Tensor::Scalar<int64_t>(7);
  absl::Time start = absl::Now();
  auto out = RunKernel(DelayCase({Attr("microseconds_per_sample", int64_t{30000})}, s));
  absl::Duration elapsed = absl::Now() - start;
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].rank(), 0);
  EXPECT_EQ((*out)[0].data<int64_t>()[0], 7);
  EXPECT_GE(elapsed, absl::Milliseconds(30));

  // Defaults: no sleep at all (generous bound: this is a shared machine).
  start = absl::Now();
  out = RunKernel(DelayCase({}, Tensor::FromVector<float>({4, 1}, {1, 2, 3, 4})));
  elapsed = absl::Now() - start;
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Values((*out)[0]), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_LT(elapsed, absl::Seconds(2));
}

TEST(SimDelay, EmptyBatchSleepsOnlyTheFixedPart) {
  auto out = RunKernel(DelayCase({Attr("microseconds_per_sample", int64_t{3600} * 1000 * 1000)},
                                 Tensor::Allocate(DataType::kFloat32, {0, 16})));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].shape(), (Shape{0, 16}));
}

TEST(SimDelay, AttributesAreValidated) {
  const Tensor x = Tensor::FromVector<float>({1}, {1});
  auto out = RunKernel(DelayCase({Attr("microseconds_per_sample", int64_t{-1})}, x));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("'microseconds_per_sample'"));
  EXPECT_THAT(out.status().message(), HasSubstr("got -1"));

  out = RunKernel(DelayCase({Attr("microseconds", int64_t{-5})}, x));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("'microseconds'"));

  // A product over the limit is refused at run time, not slept.
  out = RunKernel(DelayCase({Attr("microseconds_per_sample", int64_t{3600} * 1000 * 1000)},
                            Tensor::Allocate(DataType::kFloat32, {2, 1})));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("exceed"));
}

// x [N, 16] -> Delay -> t -> Relu -> y, importing ai.tessera.sim `sim_opset`.
ModelBuilder DelayModel(std::vector<onnx::AttributeProto> attrs, int sim_opset = 1) {
  ModelBuilder b;
  auto* imp = b.proto().add_opset_import();
  imp->set_domain(kSim);
  imp->set_version(sim_opset);
  b.Input("x", onnx::TensorProto::FLOAT, {-1, 16})
      .Node("Delay", {"x"}, {"t"}, std::move(attrs), "delay", kSim)
      .Node("Relu", {"t"}, {"y"})
      .Output("y", {-1, 16});
  return b;
}

TEST(SimDelay, ShapeInferenceSeesThroughDelay) {
  RegisterTesseraSchemas();
  RegisterTesseraSchemas();  // idempotent
  ModelBuilder b = DelayModel({Attr("microseconds_per_sample", int64_t{10})});
  onnx::ModelProto model = b.proto();
  onnx::shape_inference::InferShapes(model);
  bool found = false;
  for (const auto& v : model.graph().value_info()) {
    if (v.name() != "t") continue;
    found = true;
    EXPECT_EQ(v.type().tensor_type().elem_type(), onnx::TensorProto::FLOAT);
    ASSERT_EQ(v.type().tensor_type().shape().dim_size(), 2);
    EXPECT_EQ(v.type().tensor_type().shape().dim(1).dim_value(), 16);
  }
  EXPECT_TRUE(found) << "shape inference produced no type for Delay's output";
}

TEST(SimDelay, ModelRunsThroughTheEngineAndSleeps) {
  auto engine = Engine::LoadFromBytes(DelayModel({Attr("microseconds_per_sample", int64_t{10000})}).Bytes());
  ASSERT_TRUE(engine.ok()) << engine.status();
  Tensor x = testing::RandomTensor({4, 16}, 3);
  std::vector<NamedTensor> inputs = {{"x", x}};
  for (int run = 0; run < 2; ++run) {  // the second run uses the cached plan
    const absl::Time start = absl::Now();
    auto out = (*engine)->Run(inputs);
    const absl::Duration elapsed = absl::Now() - start;
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->size(), 1u);
    std::vector<float> want = Values(x);
    for (float& v : want) v = v > 0 ? v : 0;
    EXPECT_EQ(Values((*out)[0]), want);
    EXPECT_GE(elapsed, absl::Milliseconds(40)) << "run " << run;
  }
}

TEST(SimDelay, DelayOfAConstantIsNotFolded) {
  ModelBuilder b;
  auto* imp = b.proto().add_opset_import();
  imp->set_domain(kSim);
  imp->set_version(1);
  b.Input("x", onnx::TensorProto::FLOAT, {2})
      .Initializer("c", Tensor::FromVector<float>({2}, {1, 2}))
      .Node("Delay", {"c"}, {"d"}, {Attr("microseconds", int64_t{30000})}, "delay", kSim)
      .Node("Add", {"x", "d"}, {"y"})
      .Output("y", {2});
  auto optimized = OptimizeModel(b.proto());
  ASSERT_TRUE(optimized.ok()) << optimized.status();
  int delays = 0;
  for (const auto& n : optimized->graph().node()) delays += n.op_type() == "Delay" && n.domain() == kSim;
  EXPECT_EQ(delays, 1) << "the optimizer removed the Delay node";

  auto engine = Engine::LoadFromBytes(b.Bytes());
  ASSERT_TRUE(engine.ok()) << engine.status();
  std::vector<NamedTensor> inputs = {{"x", Tensor::FromVector<float>({2}, {10, 20})}};
  for (int run = 0; run < 2; ++run) {
    const absl::Time start = absl::Now();
    auto out = (*engine)->Run(inputs);
    const absl::Duration elapsed = absl::Now() - start;
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(Values((*out)[0]), (std::vector<float>{11, 22}));
    EXPECT_GE(elapsed, absl::Milliseconds(30)) << "run " << run;
  }
}

TEST(SimDelay, ValidatorAndCheckerEnforceTheSchema) {
  // A float where the schema says int: the ONNX checker knows the schema.
  auto engine = Engine::LoadFromBytes(DelayModel({Attr("microseconds", 1.5f)}).Bytes());
  ASSERT_FALSE(engine.ok());
  EXPECT_THAT(engine.status().message(), HasSubstr("ONNX checker"));
  EXPECT_THAT(engine.status().message(), HasSubstr("microseconds"));

  // Only opset 1 of the simulation domain exists.
  engine = Engine::LoadFromBytes(DelayModel({}, /*sim_opset=*/2).Bytes());
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(engine.status().message(), HasSubstr("ai.tessera.sim opset 2"));

  // Negative attributes fail at load time with the node named.
  engine = Engine::LoadFromBytes(DelayModel({Attr("microseconds_per_sample", int64_t{-3})}).Bytes());
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(engine.status().message(), HasSubstr("microseconds_per_sample"));
}

}  // namespace
}  // namespace tessera::engine
