// Every Conv / MatMul backend (oneDNN blocked, oneDNN plain, im2col+OpenBLAS;
// oneDNN matmul, OpenBLAS) gives the same answer, including fused
// activations and residuals, constant and runtime weights, and concurrent
// calls on one kernel.
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "worker/engine/kernels/conv_kernel.h"
#include "worker/engine/kernels/matmul_kernel.h"
#include "worker/engine/node_attributes.h"

namespace tessera::engine::testing {
namespace {


struct ConvBackendCase {
  Shape x, w;
  int64_t group;
  std::vector<int64_t> strides, pads, dilations;
  std::string activation;
  bool residual;
};

class ConvBackends : public ::testing::TestWithParam<ConvBackendCase> {};

TEST_P(ConvBackends, AllBackendsAgree) {
  const ConvBackendCase& c = GetParam();
  std::vector<onnx::AttributeProto> attrs = {Attr("group", c.group), Attr("strides", c.strides),
                                             Attr("pads", c.pads), Attr("dilations", c.dilations)};
  if (!c.activation.empty()) attrs.push_back(Attr("activation", c.activation));
  if (c.activation == "Clip") attrs.push_back(Attr("activation_params", std::vector<float>{-0.5f, 0.5f}));
  TestNode node(attrs);
  const Tensor x = RandomTensor(c.x, 1), w = RandomTensor(c.w, 2), b = RandomTensor({c.w[0]}, 3);
  // Output shape from a first run, to size the residual.
  std::optional<Tensor> reference;
  std::optional<Tensor> z;
  for (ConvBackend backend : {ConvBackend::kIm2colBlas, ConvBackend::kOneDnnPlain, ConvBackend::kOneDnnBlocked,
                              ConvBackend::kAuto}) {
    for (bool constant : {false, true}) {
      KernelInit init{node.proto, *node.attributes, 17, {nullptr, constant ? &w : nullptr, constant ? &b : nullptr},
                      {true, true, true}, {}};
      auto kernel = CreateConvKernel(init, ConvKernelOptions{.fused = true, .backend = backend});
      ASSERT_TRUE(kernel.ok()) << kernel.status();
      if (!reference.has_value()) {
        TestKernelContext probe({x, w, b}, 2);
        ASSERT_TRUE((*kernel)->Compute(probe).ok());
        if (c.residual) z = RandomTensor(probe.output().shape(), 4);
      }
      TestKernelContext ctx({x, w, b, z}, 2);
      absl::Status st = (*kernel)->Compute(ctx);
      ASSERT_TRUE(st.ok()) << st;
      if (!reference.has_value()) {
        reference = ctx.output();
      } else {
        EXPECT_TRUE(TensorsNear(ctx.output(), *reference, 1e-4, 1e-4))
            << "backend " << static_cast<int>(backend) << " constant=" << constant;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvBackends,
    ::testing::Values(ConvBackendCase{{2, 16, 10, 10}, {16, 16, 3, 3}, 1, {1, 1}, {1, 1, 1, 1}, {1, 1}, "Relu", true},
                      ConvBackendCase{{1, 16, 12, 12}, {16, 1, 3, 3}, 16, {2, 2}, {1, 1, 1, 1}, {1, 1}, "Clip", false},
                      ConvBackendCase{{2, 24, 7, 7}, {40, 24, 1, 1}, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, "HardSwish", true},
                      ConvBackendCase{{1, 8, 9, 11}, {12, 4, 3, 2}, 2, {2, 1}, {0, 1, 2, 0}, {2, 2}, "LeakyRelu", false},
                      ConvBackendCase{{1, 4, 20}, {6, 4, 5}, 1, {2}, {2, 2}, {1}, "Sigmoid", true},
                      ConvBackendCase{{1, 4, 5, 6, 7}, {4, 4, 3, 3, 3}, 1, {1, 1, 1}, {1, 1, 1, 1, 1, 1}, {1, 1, 1},
                                      "HardSigmoid", true},
                      ConvBackendCase{{1, 3, 9, 9}, {8, 3, 3, 3}, 1, {2, 2}, {1, 1, 1, 1}, {1, 1}, "", false}));

struct MatMulBackendCase {
  Shape a, b;
  bool bias;
  std::string activation;
};

class MatMulBackends : public ::testing::TestWithParam<MatMulBackendCase> {};

TEST_P(MatMulBackends, AllBackendsAgree) {
  const MatMulBackendCase& c = GetParam();
  std::vector<onnx::AttributeProto> attrs;
  if (!c.activation.empty()) attrs.push_back(Attr("activation", c.activation));
  TestNode node(attrs);
  const Tensor a = RandomTensor(c.a, 1), b = RandomTensor(c.b, 2), bias = RandomTensor({c.b.back()}, 3);
  std::optional<Tensor> reference;
  for (MatMulBackend backend : {MatMulBackend::kBlas, MatMulBackend::kOneDnn, MatMulBackend::kAuto}) {
    for (bool constant : {false, true}) {
      KernelInit init{node.proto, *node.attributes, 17, {nullptr, constant ? &b : nullptr, nullptr}, {true, true, true},
                      {}};
      auto kernel = CreateMatMulKernel(init, MatMulKernelOptions{.fused = true, .backend = backend});
      ASSERT_TRUE(kernel.ok()) << kernel.status();
      TestKernelContext ctx({a, b, c.bias ? std::optional<Tensor>(bias) : std::nullopt}, 2);
      absl::Status st = (*kernel)->Compute(ctx);
      ASSERT_TRUE(st.ok()) << st;
      if (!reference.has_value()) {
        reference = ctx.output();
      } else {
        EXPECT_TRUE(TensorsNear(ctx.output(), *reference, 1e-4, 1e-4))
            << "backend " << static_cast<int>(backend) << " constant=" << constant;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, MatMulBackends,
                         ::testing::Values(MatMulBackendCase{{2, 64, 96}, {96, 128}, true, "Relu"},
                                           MatMulBackendCase{{2, 4, 33, 64}, {2, 4, 64, 17}, false, ""},
                                           MatMulBackendCase{{3, 1, 5, 8}, {1, 2, 8, 6}, true, "Tanh"},
                                           MatMulBackendCase{{5, 8}, {3, 8, 6}, true, "Clip"},
                                           MatMulBackendCase{{40}, {40, 300}, true, ""},
                                           MatMulBackendCase{{2, 30, 40}, {40}, false, ""}));

// One kernel, many threads calling Compute with different shapes at once.
TEST(ConcurrencyTest, ConcurrentComputeOnOneKernelIsCorrect) {
  TestNode node({Attr("pads", std::vector<int64_t>{1, 1, 1, 1}), Attr("activation", std::string("Relu"))});
  const Tensor w = RandomTensor({8, 8, 3, 3}, 2), b = RandomTensor({8}, 3);
  KernelInit init{node.proto, *node.attributes, 17, {nullptr, &w, &b}, {true, true, true}, {}};
  auto kernel = CreateConvKernel(init, ConvKernelOptions{.fused = true});
  ASSERT_TRUE(kernel.ok());
  std::vector<Tensor> inputs, expected;
  for (int i = 0; i < 4; ++i) {
    inputs.push_back(RandomTensor({1 + i % 2, 8, 6 + i, 6 + i}, 10 + i));
    TestKernelContext ctx({inputs.back(), w, b}, 1);
    ASSERT_TRUE((*kernel)->Compute(ctx).ok());
    expected.push_back(ctx.output());
  }
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int iter = 0; iter < 20; ++iter) {
        TestKernelContext ctx({inputs[t], w, b}, 1 + t % 2);
        if (!(*kernel)->Compute(ctx).ok() || !TensorsNear(ctx.output(), expected[t], 1e-5, 1e-5)) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace tessera::engine::testing
