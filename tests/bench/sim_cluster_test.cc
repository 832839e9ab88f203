// The simulation operator in a real cluster: `tessera up` with 4 workers
// serving a 4-Delay chain as 4 PIPELINE stages and a single Delay DATA
// parallel. The Delays survive planning and partitioning (every request
// takes at least the declared time of its path) and the answers are exact.
// Lower time bounds only: a slow machine cannot fail this test.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/process.h"
#include "common/certificate_authority.h"
#include "common/tls_credentials.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/inference.grpc.pb.h"
#include "tests/worker/engine/model_builder.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using client::Process;
using engine::testing::ModelBuilder;

constexpr const char* kSim = "ai.tessera.sim";
constexpr int64_t kUsPerSample = 5000;

onnx::AttributeProto IntAttr(const std::string& name, int64_t v) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INT);
  a.set_i(v);
  return a;
}

// x [N, 16] -> `delays` x (Delay, Add 1) -> y (= x + delays).
std::string Chain(int delays) {
  ModelBuilder b;
  auto* imp = b.proto().add_opset_import();
  imp->set_domain(kSim);
  imp->set_version(1);
  b.Input("x", onnx::TensorProto::FLOAT, {-1, 16}).Initializer("one", Tensor::FromVector<float>({1}, {1.0f}));
  std::string prev = "x";
  for (int i = 0; i < delays; ++i) {
    const std::string d = absl::StrCat("d", i), a = i + 1 == delays ? "y" : absl::StrCat("a", i);
    b.Node("Delay", {prev}, {d}, {IntAttr("microseconds_per_sample", kUsPerSample)}, absl::StrCat("delay", i), kSim);
    b.Node("Add", {d, "one"}, {a}, {}, absl::StrCat("add", i));
    prev = a;
  }
  b.Output("y", {-1, 16});
  return b.Bytes();
}

void WriteFile(const fs::path& path, const std::string& contents) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << contents;
}

class SimClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / absl::StrCat("tessera_sim_cluster_test_", ::getpid());
    fs::remove_all(dir_);
    ASSERT_TRUE(MakeClusterCertificates((dir_ / "certs").string(), {}).ok());
    const fs::path repo = dir_ / "models";
    WriteFile(repo / "sim_pipeline" / "1" / "model.onnx", Chain(4));
    WriteFile(repo / "sim_pipeline" / "config.pbtxt",
              "platform: \"onnx\"\nmax_batch_size: 8\nparallelism { strategy: PIPELINE stages: 4 }\n");
    WriteFile(repo / "sim_delay" / "1" / "model.onnx", Chain(1));
    WriteFile(repo / "sim_delay" / "config.pbtxt",
              "platform: \"onnx\"\nmax_batch_size: 8\nparallelism { strategy: DATA }\n");
    auto up = Process::Spawn({.argv = {absl::StrCat(TESSERA_BIN_DIR, "/tessera"), "up", "--model-repository",
                                       repo.string(), "--workers", "4", "--listen", "127.0.0.1:0", "--certs",
                                       (dir_ / "certs").string(), "--threads", "1"}});
    ASSERT_TRUE(up.ok()) << up.status();
    up_ = *std::move(up);
    const absl::Time give_up = absl::Now() + absl::Seconds(60);
    while (absl::Now() < give_up) {
      absl::StatusOr<std::string> line = up_->ReadStdoutLine(give_up - absl::Now());
      ASSERT_TRUE(line.ok()) << line.status() << "\n" << up_->StderrTail();
      if (absl::StartsWith(*line, "ready: ")) {
        address_ = line->substr(7);
        break;
      }
    }
    ASSERT_FALSE(address_.empty());
    TlsOptions tls;
    tls.files = TlsFiles::InDirectory((dir_ / "certs").string(), NodeRole::kClient);
    auto channel = MakeChannel(address_, tls);
    ASSERT_TRUE(channel.ok()) << channel.status();
    stub_ = inference::GRPCInferenceService::NewStub(*channel);
  }

  void TearDown() override {
    if (up_ != nullptr) {
      EXPECT_TRUE(up_->Signal(SIGTERM).ok());
      auto exit = up_->Wait(absl::Seconds(20));
      EXPECT_TRUE(exit.ok() && exit->success()) << (exit.ok() ? exit->ToString() : exit.status().ToString());
    }
    fs::remove_all(dir_);
  }

  // Infers `model` on x[batch, 16] = i, checks y = x + adds, returns the latency.
  absl::Duration Infer(const std::string& model, int batch, float adds) {
    inference::ModelInferRequest request;
    request.set_model_name(model);
    auto* in = request.add_inputs();
    in->set_name("x");
    in->set_datatype("FP32");
    in->add_shape(batch);
    in->add_shape(16);
    std::vector<float> x(batch * 16);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
    request.add_raw_input_contents(std::string(reinterpret_cast<const char*>(x.data()), x.size() * sizeof(float)));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    inference::ModelInferResponse response;
    const absl::Time start = absl::Now();
    grpc::Status status = stub_->ModelInfer(&context, request, &response);
    const absl::Duration took = absl::Now() - start;
    EXPECT_TRUE(status.ok()) << model << ": " << status.error_message();
    if (!status.ok()) return took;
    EXPECT_EQ(response.raw_output_contents_size(), 1);
    if (response.raw_output_contents_size() != 1) return took;
    const std::string& y = response.raw_output_contents(0);
    EXPECT_EQ(y.size(), x.size() * sizeof(float));
    if (y.size() != x.size() * sizeof(float)) return took;
    const float* values = reinterpret_cast<const float*>(y.data());
    for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(values[i], x[i] + adds) << model << " element " << i;
    return took;
  }

  fs::path dir_;
  std::unique_ptr<Process> up_;
  std::string address_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

TEST_F(SimClusterTest, DelaysSurvivePlanningAndEveryRequestPaysThem) {
  ASSERT_NE(stub_, nullptr);
  for (int batch : {1, 4}) {
    // Four stages in sequence: 4 * 5 ms per sample.
    const absl::Duration pipeline = Infer("sim_pipeline", batch, 4.0f);
    EXPECT_GE(pipeline, absl::Microseconds(4 * kUsPerSample * batch)) << "batch " << batch;
    // One Delay; at least the largest shard's share (ceil(batch / 4) samples).
    const absl::Duration data = Infer("sim_delay", batch, 1.0f);
    EXPECT_GE(data, absl::Microseconds(kUsPerSample * ((batch + 3) / 4))) << "batch " << batch;
  }
}

}  // namespace
}  // namespace tessera
