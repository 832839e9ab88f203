// Side-by-side timings of the Conv / MatMul / Gemm backends (oneDNN vs
// OpenBLAS, plus the default "auto" choice) on the layer shapes of the models
// Tessera is benchmarked on: ResNet-18, MobileNetV2 and a BERT-like encoder,
// at batch 1 and 8 with 2 intra-op threads. Results: bench/kernels/RESULTS.md.
//
//   ninja -C build bench_kernels && build/bench/bench_kernels --benchmark_min_time=0.3
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "common/tensor.h"
#include "onnx/onnx_pb.h"
#include "worker/engine/kernel.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/conv_kernel.h"
#include "worker/engine/kernels/gemm_kernel.h"
#include "worker/engine/kernels/matmul_kernel.h"
#include "worker/engine/node_attributes.h"

namespace tessera::engine {
namespace {

// Intra-op threads per call: TESSERA_BENCH_THREADS, default 2 (as the ONNX
// Runtime comparison). With 1 thread the per-iteration CPU time is a
// contention-proof measure of each backend's work.
int BenchThreads() {
  static const int threads = [] {
    const char* env = std::getenv("TESSERA_BENCH_THREADS");
    return env != nullptr && std::atoi(env) > 0 ? std::atoi(env) : 2;
  }();
  return threads;
}

double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

Tensor RandomTensor(const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Tensor t = Tensor::Allocate(DataType::kFloat32, shape);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// Inputs fixed, outputs kept between iterations (as the engine's arena would).
class BenchContext : public KernelContext {
 public:
  explicit BenchContext(std::vector<std::optional<Tensor>> inputs) : inputs_(std::move(inputs)) {}
  int num_inputs() const override { return static_cast<int>(inputs_.size()); }
  const Tensor* input(int i) const override {
    return i < num_inputs() && inputs_[i].has_value() ? &*inputs_[i] : nullptr;
  }
  int num_outputs() const override { return 1; }
  bool output_requested(int) const override { return true; }
  Tensor* AllocateOutput(int, DataType type, const Shape& shape) override {
    if (!output_.defined() || output_.shape() != shape || output_.dtype() != type) output_ = Tensor::Allocate(type, shape);
    return &output_;
  }
  void SetOutput(int, Tensor tensor) override { output_ = std::move(tensor); }
  int num_threads() const override { return BenchThreads(); }

 private:
  std::vector<std::optional<Tensor>> inputs_;
  Tensor output_;
};

struct Node {
  onnx::NodeProto proto;
  std::unique_ptr<NodeAttributes> attrs;
};

onnx::AttributeProto IntsAttr(const std::string& name, const std::vector<int64_t>& values) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a.add_ints(v);
  return a;
}

// Times each iteration separately. The machines are shared and noisy (a
// 2-thread OpenMP region stalls whenever one of its threads is preempted), so
// besides the mean (the usual "Time" column) it reports the fastest and the
// median iteration; compare backends on min_us / p50_us.
void RunKernelLoop(benchmark::State& state, OpKernel& kernel, BenchContext& ctx, double macs) {
  absl::Status st = kernel.Compute(ctx);  // warm-up: primitive creation, packing
  if (!st.ok()) {
    state.SkipWithError(std::string(st.message()).c_str());
    return;
  }
  std::vector<double> times, cpu_times;
  for (auto _ : state) {
    const double cpu_start = ProcessCpuSeconds();
    const auto start = std::chrono::steady_clock::now();
    st = kernel.Compute(ctx);
    benchmark::DoNotOptimize(st);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    cpu_times.push_back(ProcessCpuSeconds() - cpu_start);
    state.SetIterationTime(seconds);
    times.push_back(seconds);
  }
  std::sort(times.begin(), times.end());
  std::sort(cpu_times.begin(), cpu_times.end());
  state.counters["min_us"] = times.front() * 1e6;
  state.counters["p50_us"] = times[times.size() / 2] * 1e6;
  // CPU time of all the process's threads (includes OpenMP spin-waiting).
  state.counters["cpu_p50_us"] = cpu_times[cpu_times.size() / 2] * 1e6;
  state.counters["GFLOPS_best"] = 2.0 * macs / times.front() * 1e-9;
}

struct ConvShape {
  const char* name;
  int64_t c, hw, m, k, stride, pad, group;
  const char* activation;  // nullptr: plain Conv
};

// ResNet-18 and MobileNetV2 layers at 224x224 input.
const ConvShape kConvShapes[] = {
    {"resnet_conv1_7x7s2", 3, 224, 64, 7, 2, 3, 1, nullptr},
    {"resnet_l1_3x3_64", 64, 56, 64, 3, 1, 1, 1, "Relu"},
    {"resnet_l2_3x3s2_128", 64, 56, 128, 3, 2, 1, 1, "Relu"},
    {"resnet_l2_down_1x1s2", 64, 56, 128, 1, 2, 0, 1, nullptr},
    {"resnet_l2_3x3_128", 128, 28, 128, 3, 1, 1, 1, "Relu"},
    {"resnet_l3_3x3_256", 256, 14, 256, 3, 1, 1, 1, "Relu"},
    {"resnet_l4_3x3_512", 512, 7, 512, 3, 1, 1, 1, "Relu"},
    {"resnet_l3_3x3s2_256", 128, 28, 256, 3, 2, 1, 1, "Relu"},
    {"resnet_l3_down_1x1s2", 128, 28, 256, 1, 2, 0, 1, nullptr},
    {"resnet_l4_3x3s2_512", 256, 14, 512, 3, 2, 1, 1, "Relu"},
    {"resnet_l4_down_1x1s2", 256, 14, 512, 1, 2, 0, 1, nullptr},
    {"mnv2_conv1_3x3s2", 3, 224, 32, 3, 2, 1, 1, "Clip"},
    {"mnv2_dw_32_112", 32, 112, 32, 3, 1, 1, 32, "Clip"},
    {"mnv2_dw_96_112s2", 96, 112, 96, 3, 2, 1, 96, "Clip"},
    {"mnv2_dw_144_56", 144, 56, 144, 3, 1, 1, 144, "Clip"},
    {"mnv2_dw_384_14", 384, 14, 384, 3, 1, 1, 384, "Clip"},
    {"mnv2_dw_960_7", 960, 7, 960, 3, 1, 1, 960, "Clip"},
    {"mnv2_pw_24to144_56", 24, 56, 144, 1, 1, 0, 1, "Clip"},
    {"mnv2_pw_144to24_56", 144, 56, 24, 1, 1, 0, 1, nullptr},
    {"mnv2_pw_384to64_14", 384, 14, 64, 1, 1, 0, 1, nullptr},
    {"mnv2_pw_960to320_7", 960, 7, 320, 1, 1, 0, 1, nullptr},
};

double ConvMacs(const ConvShape& s, int64_t batch) {
  const int64_t out_hw = (s.hw + 2 * s.pad - s.k) / s.stride + 1;
  return double(batch) * s.m * out_hw * out_hw * (s.c / s.group) * s.k * s.k;
}

const char* BackendName(ConvBackend b) {
  switch (b) {
    case ConvBackend::kAuto: return "auto";
    case ConvBackend::kOneDnnBlocked: return "onednn_blocked";
    case ConvBackend::kOneDnnPlain: return "onednn_plain";
    case ConvBackend::kIm2colBlas: return "im2col_openblas";
    case ConvBackend::kWinograd: return "winograd";
  }
  return "?";
}

// layout "NHWC" / "NCHW8c": FusedConv with that layout attribute (X and Y
// channels-last / oneDNN nChw8c); "" is NCHW.
void BenchConv(benchmark::State& state, ConvShape s, int64_t batch, ConvBackend backend, std::string layout_name) {
  const bool nhwc = layout_name == "NHWC", blocked = layout_name == "NCHW8c";
  Node node;
  node.proto.set_op_type(s.activation || !layout_name.empty() ? "FusedConv" : "Conv");
  if (!layout_name.empty()) {
    onnx::AttributeProto layout;
    layout.set_name("layout");
    layout.set_type(onnx::AttributeProto::STRING);
    layout.set_s(layout_name);
    *node.proto.add_attribute() = layout;
  }
  *node.proto.add_attribute() = IntsAttr("strides", {s.stride, s.stride});
  *node.proto.add_attribute() = IntsAttr("pads", {s.pad, s.pad, s.pad, s.pad});
  onnx::AttributeProto group;
  group.set_name("group");
  group.set_type(onnx::AttributeProto::INT);
  group.set_i(s.group);
  *node.proto.add_attribute() = group;
  if (s.activation) {
    onnx::AttributeProto act;
    act.set_name("activation");
    act.set_type(onnx::AttributeProto::STRING);
    act.set_s(s.activation);
    *node.proto.add_attribute() = act;
    if (std::string(s.activation) == "Clip") {
      onnx::AttributeProto params;
      params.set_name("activation_params");
      params.set_type(onnx::AttributeProto::FLOATS);
      params.add_floats(0.0f);
      params.add_floats(6.0f);
      *node.proto.add_attribute() = params;
    }
  }
  node.attrs = std::make_unique<NodeAttributes>(node.proto);
  const Tensor x = RandomTensor(nhwc      ? Shape{batch, s.hw, s.hw, s.c}
                                : blocked ? Shape{batch, s.c / 8, s.hw, s.hw, 8}
                                          : Shape{batch, s.c, s.hw, s.hw},
                                1);
  const Tensor w = RandomTensor({s.m, s.c / s.group, s.k, s.k}, 2);
  const Tensor b = RandomTensor({s.m}, 3);
  KernelInit init{node.proto, *node.attrs, 17, {nullptr, &w, &b}, {true, true, true}, {x.shape(), w.shape(), b.shape()}};
  auto kernel =
      CreateConvKernel(init, ConvKernelOptions{.fused = s.activation != nullptr || !layout_name.empty(), .backend = backend});
  if (!kernel.ok()) {
    state.SkipWithError(std::string(kernel.status().message()).c_str());
    return;
  }
  BenchContext ctx({x, w, b});
  RunKernelLoop(state, **kernel, ctx, ConvMacs(s, batch));
}

// ai.tessera.ReorderLayout between NCHW and NCHW8c at a ResNet activation
// size ("macs" = elements, so GFLOPS_best reads as G elements/s).
void BenchReorderLayout(benchmark::State& state, Shape nchw, std::string from, std::string to) {
  Node node;
  node.proto.set_op_type("ReorderLayout");
  node.proto.set_domain("ai.tessera");
  for (const auto& [name, value] : {std::pair<std::string, std::string>{"from", from}, {"to", to}}) {
    onnx::AttributeProto a;
    a.set_name(name);
    a.set_type(onnx::AttributeProto::STRING);
    a.set_s(value);
    *node.proto.add_attribute() = a;
  }
  node.attrs = std::make_unique<NodeAttributes>(node.proto);
  const Shape in = from == "NCHW" ? nchw : Shape{nchw[0], nchw[1] / 8, nchw[2], nchw[3], 8};
  const Tensor x = RandomTensor(in, 1);
  KernelInit init{node.proto, *node.attrs, 17, {nullptr}, {true}, {x.shape()}};
  auto kernel = KernelRegistry::Global().Find("ai.tessera", "ReorderLayout")->factory(init);
  if (!kernel.ok()) {
    state.SkipWithError(std::string(kernel.status().message()).c_str());
    return;
  }
  BenchContext ctx({x});
  RunKernelLoop(state, **kernel, ctx, double(x.num_elements()));
}

struct MatMulShapeSpec {
  const char* name;
  Shape a, b;  // a[0] / b[0] == -1: the batch
  bool b_constant;
  bool bias;
};

const MatMulShapeSpec kMatMulShapes[] = {
    {"bert_qkv_64x256x256", {-1, 64, 256}, {256, 256}, true, true},
    {"bert_ffn1_64x256x1024", {-1, 64, 256}, {256, 1024}, true, true},
    {"bert_ffn2_64x1024x256", {-1, 64, 1024}, {1024, 256}, true, true},
    {"bert_attn_scores_4x64x64x64", {-1, 4, 64, 64}, {-1, 4, 64, 64}, false, false},
    {"resnet_fc_512x1000", {-1, 512}, {512, 1000}, true, true},
};

double MatMulMacs(const MatMulShapeSpec& s, int64_t batch) {
  Shape as = s.a;
  if (as[0] == -1) as[0] = batch;
  return double(NumElements(as)) * s.b.back();
}

void BenchMatMul(benchmark::State& state, MatMulShapeSpec s, int64_t batch, MatMulBackend backend) {
  Node node;
  node.proto.set_op_type(s.bias ? "FusedMatMul" : "MatMul");
  node.attrs = std::make_unique<NodeAttributes>(node.proto);
  Shape as = s.a, bs = s.b;
  if (as[0] == -1) as[0] = batch;
  if (bs[0] == -1) bs[0] = batch;
  const Tensor a = RandomTensor(as, 1), b = RandomTensor(bs, 2), bias = RandomTensor({bs.back()}, 3);
  KernelInit init{node.proto, *node.attrs, 17, {nullptr, s.b_constant ? &b : nullptr, &bias}, {true, true, true},
                  {as, bs, bias.shape()}};
  auto kernel = CreateMatMulKernel(init, MatMulKernelOptions{.fused = s.bias, .backend = backend});
  if (!kernel.ok()) {
    state.SkipWithError(std::string(kernel.status().message()).c_str());
    return;
  }
  std::vector<std::optional<Tensor>> inputs = {a, b};
  if (s.bias) inputs.push_back(bias);
  BenchContext ctx(std::move(inputs));
  RunKernelLoop(state, **kernel, ctx, MatMulMacs(s, batch));
}

const char* BackendName(MatMulBackend b) {
  switch (b) {
    case MatMulBackend::kAuto: return "auto";
    case MatMulBackend::kOneDnn: return "onednn";
    case MatMulBackend::kBlas: return "openblas";
  }
  return "?";
}

void BenchGemm(benchmark::State& state, int64_t batch) {
  Node node;
  node.proto.set_op_type("Gemm");
  onnx::AttributeProto trans_b;
  trans_b.set_name("transB");
  trans_b.set_type(onnx::AttributeProto::INT);
  trans_b.set_i(1);
  *node.proto.add_attribute() = trans_b;
  node.attrs = std::make_unique<NodeAttributes>(node.proto);
  const Tensor a = RandomTensor({batch, 512}, 1), b = RandomTensor({1000, 512}, 2), c = RandomTensor({1000}, 3);
  KernelInit init{node.proto, *node.attrs, 13, {nullptr, &b, &c}, {true, true, true}, {a.shape(), b.shape(), c.shape()}};
  auto kernel = CreateGemmKernel(init);
  BenchContext ctx({a, b, c});
  RunKernelLoop(state, **kernel, ctx, double(batch) * 512 * 1000);
}

// Enough iterations for a stable minimum, about 0.1-0.3 s per case.
int64_t IterationsFor(double macs) { return std::clamp<int64_t>(static_cast<int64_t>(3e8 / macs), 10, 400); }

void RegisterAll() {
  for (int64_t batch : {1, 8}) {
    for (const ConvShape& s : kConvShapes) {
      for (ConvBackend backend : {ConvBackend::kAuto, ConvBackend::kOneDnnBlocked, ConvBackend::kOneDnnPlain,
                                  ConvBackend::kIm2colBlas}) {
        benchmark::RegisterBenchmark(absl::StrCat("Conv/", s.name, "/b", batch, "/", BackendName(backend)).c_str(),
                                     BenchConv, s, batch, backend, std::string())
            ->Iterations(IterationsFor(ConvMacs(s, batch)))
            ->Unit(benchmark::kMicrosecond)
            ->UseManualTime();
      }
      // Channels-last (layout="NHWC"): auto, oneDNN directly on nhwc (plain),
      // oneDNN blocked with nhwc<->nChw8c reorders, and for 1x1 the GEMM path.
      for (ConvBackend backend :
           {ConvBackend::kAuto, ConvBackend::kOneDnnPlain, ConvBackend::kOneDnnBlocked, ConvBackend::kIm2colBlas}) {
        if (backend == ConvBackend::kIm2colBlas && (s.k != 1 || s.group != 1)) continue;
        benchmark::RegisterBenchmark(
            absl::StrCat("Conv/", s.name, "/b", batch, "/nhwc_", BackendName(backend)).c_str(), BenchConv, s, batch,
            backend, std::string("NHWC"))
            ->Iterations(IterationsFor(ConvMacs(s, batch)))
            ->Unit(benchmark::kMicrosecond)
            ->UseManualTime();
      }
      // oneDNN's blocked layout end to end (layout="NCHW8c", no reorders),
      // and Winograd F(4x4, 3x3) on it for stride-1 3x3 dense convolutions.
      if (s.c % 8 == 0 && s.m % 8 == 0) {
        for (ConvBackend backend : {ConvBackend::kAuto, ConvBackend::kOneDnnBlocked, ConvBackend::kWinograd}) {
          if (backend == ConvBackend::kWinograd && (s.k != 3 || s.stride != 1 || s.group != 1)) continue;
          benchmark::RegisterBenchmark(
              absl::StrCat("Conv/", s.name, "/b", batch, "/nchw8c_", BackendName(backend)).c_str(), BenchConv, s,
              batch, backend, std::string("NCHW8c"))
              ->Iterations(IterationsFor(ConvMacs(s, batch)))
              ->Unit(benchmark::kMicrosecond)
              ->UseManualTime();
        }
      }
    }
    for (const auto& [from, to] : {std::pair<std::string, std::string>{"NCHW", "NCHW8c"}, {"NCHW8c", "NCHW"}}) {
      for (const Shape& shape : {Shape{batch, 64, 56, 56}, Shape{batch, 512, 7, 7}}) {
        benchmark::RegisterBenchmark(absl::StrCat("ReorderLayout/", from, "_to_", to, "/", ShapeToString(shape)).c_str(),
                                     BenchReorderLayout, shape, from, to)
            ->Iterations(100)
            ->Unit(benchmark::kMicrosecond)
            ->UseManualTime();
      }
    }
    for (const MatMulShapeSpec& s : kMatMulShapes) {
      for (MatMulBackend backend : {MatMulBackend::kAuto, MatMulBackend::kOneDnn, MatMulBackend::kBlas}) {
        benchmark::RegisterBenchmark(absl::StrCat("MatMul/", s.name, "/b", batch, "/", BackendName(backend)).c_str(),
                                     BenchMatMul, s, batch, backend)
            ->Iterations(IterationsFor(MatMulMacs(s, batch)))
            ->Unit(benchmark::kMicrosecond)
            ->UseManualTime();
      }
    }
    benchmark::RegisterBenchmark(absl::StrCat("Gemm/resnet_fc_512x1000_transB/b", batch, "/auto").c_str(),
                                 BenchGemm, batch)
        ->Iterations(IterationsFor(double(batch) * 512 * 1000))
        ->Unit(benchmark::kMicrosecond)
        ->UseManualTime();
  }
}

}  // namespace
}  // namespace tessera::engine

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  tessera::engine::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
