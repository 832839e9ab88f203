#include "client/infer_command.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/cli.h"
#include "client/exit_codes.h"
#include "common/certificate_authority.h"
#include "common/npy.h"
#include "common/server_authorization.h"
#include "common/tls_credentials.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/inference.grpc.pb.h"

namespace tessera::client {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// ---------------------------------------------------------------------------
// Argument parsing

TEST(ParseInferArgsTest, FullCommandLine) {
  absl::StatusOr<InferOptions> options = ParseInferArgs(
      {"--server", "127.0.0.1:8000", "--certs", "/c", "--server-name=tessera", "--model", "m", "--version", "3",
       "--input", "x=a.npy", "--random-input", "y=1x3x8x8", "--random-input", "z", "--output", "out0",
       "--output=out1", "--output-dir", "/o", "--json", "--timeout-ms", "500", "--typed-contents", "--seed=7"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->server, "127.0.0.1:8000");
  EXPECT_EQ(options->tls_flags.certs_dir, "/c");
  EXPECT_EQ(options->tls_flags.server_name, "tessera");
  EXPECT_EQ(options->model, "m");
  EXPECT_EQ(options->version, "3");
  ASSERT_EQ(options->npy_inputs.size(), 1u);
  EXPECT_EQ(options->npy_inputs[0].name, "x");
  EXPECT_EQ(options->npy_inputs[0].path, "a.npy");
  ASSERT_EQ(options->random_inputs.size(), 2u);
  EXPECT_EQ(options->random_inputs[0].name, "y");
  EXPECT_TRUE(options->random_inputs[0].has_shape);
  EXPECT_EQ(options->random_inputs[0].shape, (Shape{1, 3, 8, 8}));
  EXPECT_EQ(options->random_inputs[1].name, "z");
  EXPECT_FALSE(options->random_inputs[1].has_shape);
  EXPECT_EQ(options->outputs, (std::vector<std::string>{"out0", "out1"}));
  EXPECT_EQ(options->output_dir, "/o");
  EXPECT_TRUE(options->json);
  EXPECT_EQ(options->timeout_ms, 500);
  EXPECT_TRUE(options->typed_contents);
  EXPECT_EQ(options->seed, 7u);

  const TlsOptions tls = options->tls();
  EXPECT_FALSE(tls.insecure);
  EXPECT_EQ(tls.files.ca, "/c/ca.pem");
  EXPECT_EQ(tls.files.cert, "/c/client.pem");
  EXPECT_EQ(tls.files.key, "/c/client.key");
  EXPECT_EQ(tls.expected_server_name, "tessera");
}

TEST(ParseInferArgsTest, ExplicitFilesAndInsecure) {
  absl::StatusOr<InferOptions> files =
      ParseInferArgs({"--server=h:1", "--model=m", "--ca", "ca", "--cert", "c", "--key", "k"});
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->tls().files.ca, "ca");
  EXPECT_EQ(files->tls().files.cert, "c");
  EXPECT_EQ(files->tls().files.key, "k");
  EXPECT_EQ(files->timeout_ms, 60000);

  absl::StatusOr<InferOptions> insecure = ParseInferArgs({"--server=h:1", "--model=m", "--insecure"});
  ASSERT_TRUE(insecure.ok()) << insecure.status();
  EXPECT_TRUE(insecure->tls().insecure);
}

TEST(ParseInferArgsTest, UsageErrors) {
  const std::vector<std::string> base = {"--server", "h:1", "--model", "m"};
  auto parse = [&](std::vector<std::string> extra, bool with_base = true) {
    std::vector<std::string> args = with_base ? base : std::vector<std::string>{};
    args.insert(args.end(), extra.begin(), extra.end());
    return ParseInferArgs(args).status();
  };
  struct Case {
    std::vector<std::string> args;
    bool with_base;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--insecure"}, false, "--server is required"},
      {{"--server", "h:1", "--insecure"}, false, "--model is required"},
      {{}, true, "one of --certs DIR, --ca/--cert/--key or --insecure is required"},
      {{"--ca", "a", "--cert", "b"}, true, "--ca, --cert and --key go together"},
      {{"--certs", "d", "--insecure"}, true, "exclude each other"},
      {{"--insecure", "--server-name", "x"}, true, "--server-name needs TLS"},
      {{"--insecure", "--bogus"}, true, "unknown flag '--bogus'"},
      {{"--insecure", "stray"}, true, "unexpected argument 'stray'"},
      {{"--insecure", "--input", "noequals"}, true, "--input expects NAME=FILE.npy"},
      {{"--insecure", "--input", "x="}, true, "--input expects NAME=FILE.npy"},
      {{"--insecure", "--input", "x=a.npy", "--random-input", "x"}, true, "input 'x' given twice"},
      {{"--insecure", "--random-input", "x=1xq"}, true, "--random-input x:"},
      {{"--insecure", "--random-input", "=1x2"}, true, "--random-input expects NAME[=DIMS]"},
      {{"--insecure", "--timeout-ms", "-1"}, true, "--timeout-ms expects an integer >= 0"},
      {{"--insecure", "--json=1"}, true, "--json takes no value"},
      {{"--insecure", "--output"}, true, "--output needs a value"},
      {{"--insecure", "--seed", "x"}, true, "--seed expects a non-negative integer"},
  };
  for (const Case& c : cases) {
    const absl::Status status = parse(c.args, c.with_base);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(status.message(), HasSubstr(c.message));
  }
}

TEST(InferCommandTest, UsageErrorExitsTwoAndHelpExitsZero) {
  std::ostringstream out, err;
  EXPECT_EQ(RunCli({"infer", "--model", "m"}, out, err), kExitUsageError);
  EXPECT_THAT(err.str(), HasSubstr("tessera infer: --server is required"));
  EXPECT_THAT(err.str(), HasSubstr("tessera infer --help"));
  std::ostringstream help_out, help_err;
  EXPECT_EQ(RunCli({"infer", "--help"}, help_out, help_err), kExitOk);
  EXPECT_THAT(help_out.str(), HasSubstr("usage: tessera infer"));
  EXPECT_THAT(help_err.str(), IsEmpty());
}

TEST(InferCommandTest, MissingCertificatesAreARuntimeError) {
  std::ostringstream out, err;
  EXPECT_EQ(InferCommand({"--server", "127.0.0.1:1", "--certs", "/nonexistent/certs", "--model", "m"}, out, err),
            kExitRuntimeError);
  EXPECT_THAT(err.str(), HasSubstr("/nonexistent/certs/"));
}

TEST(InferCommandTest, UnreachableServerIsUnavailable) {
  std::ostringstream out, err;
  // Port 1 on loopback: nothing listens there.
  EXPECT_EQ(InferCommand({"--server", "127.0.0.1:1", "--insecure", "--model", "m", "--random-input", "x=2",
                          "--timeout-ms", "5000"},
                         out, err),
            kExitRuntimeError);
  EXPECT_THAT(err.str(), HasSubstr("UNAVAILABLE"));
  EXPECT_THAT(out.str(), IsEmpty());
}

// ---------------------------------------------------------------------------
// Against a real gRPC server with mutual TLS: a fake KServe service that
// declares model "echo" (inputs x FP32 [-1,4] and n INT64 [2]) and returns
// every input as an output of the same name, in the same form (raw or typed).

class EchoService final : public inference::GRPCInferenceService::Service {
 public:
  grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* request,
                             inference::ModelMetadataResponse* response) override {
    if (request->name() != "echo") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no model " + request->name());
    response->set_name("echo");
    response->add_versions("1");
    auto* x = response->add_inputs();
    x->set_name("x");
    x->set_datatype("FP32");
    x->add_shape(-1);
    x->add_shape(4);
    auto* n = response->add_inputs();
    n->set_name("n");
    n->set_datatype("INT64");
    n->add_shape(2);
    return grpc::Status::OK;
  }

  grpc::Status ModelInfer(grpc::ServerContext*, const inference::ModelInferRequest* request,
                          inference::ModelInferResponse* response) override {
    {
      absl::MutexLock lock(&mu_);
      last_request_ = *request;
    }
    if (request->model_name() != "echo") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no model " + request->model_name());
    }
    response->set_model_name("echo");
    response->set_model_version(request->model_version().empty() ? "1" : request->model_version());
    for (int i = 0; i < request->inputs_size(); ++i) {
      const auto& input = request->inputs(i);
      bool wanted = request->outputs_size() == 0;
      for (const auto& output : request->outputs()) wanted = wanted || output.name() == input.name();
      if (!wanted) continue;
      auto* output = response->add_outputs();
      output->set_name(input.name());
      output->set_datatype(input.datatype());
      *output->mutable_shape() = input.shape();
      if (request->raw_input_contents_size() > 0) {
        response->add_raw_output_contents(request->raw_input_contents(i));
      } else {
        *output->mutable_contents() = input.contents();
      }
    }
    return grpc::Status::OK;
  }

  inference::ModelInferRequest last_request() {
    absl::MutexLock lock(&mu_);
    return last_request_;
  }

 private:
  absl::Mutex mu_;
  inference::ModelInferRequest last_request_ ABSL_GUARDED_BY(mu_);
};

class InferEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat("infer_command_test_", ::testing::UnitTest::GetInstance()->current_test_info()->name(), "_",
                        ::getpid());
    fs::remove_all(dir_);
    certs_ = (dir_ / "certs").string();
    ASSERT_TRUE(MakeClusterCertificates(certs_, {}).ok());
    TlsOptions tls;
    tls.files = TlsFiles::InDirectory(certs_, NodeRole::kCoordinator);
    grpc::ServerBuilder builder;
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
        ConfigureServerSecurity(NodeRole::kCoordinator, tls, &builder);
    ASSERT_TRUE(credentials.ok()) << credentials.status();
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", *credentials, &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    address_ = absl::StrCat("127.0.0.1:", port);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    fs::remove_all(dir_);
  }

  int Infer(std::vector<std::string> extra) {
    std::vector<std::string> args = {"infer", "--server", address_, "--certs", certs_, "--timeout-ms", "20000"};
    args.insert(args.end(), extra.begin(), extra.end());
    out_.str("");
    err_.str("");
    return RunCli(args, out_, err_);
  }

  std::string WriteInput(const std::string& name, const Tensor& tensor) {
    fs::create_directories(dir_);
    const std::string path = (dir_ / name).string();
    EXPECT_TRUE(WriteNpyFile(path, tensor).ok());
    return path;
  }

  fs::path dir_;
  std::string certs_;
  std::string address_;
  EchoService service_;
  std::unique_ptr<grpc::Server> server_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(InferEndToEndTest, RawInputsEchoedAndPrinted) {
  const std::string x = WriteInput("x.npy", Tensor::FromVector<float>({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}));
  const std::string n = WriteInput("n.npy", Tensor::FromVector<int64_t>({2}, {-5, 9}));
  ASSERT_EQ(Infer({"--model", "echo", "--input", "x=" + x, "--input", "n=" + n}), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("model: echo version 1"));
  EXPECT_THAT(out_.str(), HasSubstr("x  FP32 [2,4]  [1, 2, 3, 4, 5, 6, ... (8 values)]"));
  EXPECT_THAT(out_.str(), HasSubstr("n  INT64 [2]  [-5, 9]"));

  const inference::ModelInferRequest request = service_.last_request();
  EXPECT_EQ(request.model_name(), "echo");
  ASSERT_EQ(request.inputs_size(), 2);
  EXPECT_EQ(request.inputs(0).datatype(), "FP32");
  EXPECT_EQ(request.inputs(1).datatype(), "INT64");
  ASSERT_EQ(request.raw_input_contents_size(), 2);
  EXPECT_EQ(request.raw_input_contents(0).size(), 32u);
  EXPECT_EQ(request.inputs(0).contents().fp32_contents_size(), 0);
}

TEST_F(InferEndToEndTest, IterationsReportLatencyPercentiles) {
  const std::string x = WriteInput("xi.npy", Tensor::FromVector<float>({1, 2}, {1, 2}));
  ASSERT_EQ(Infer({"--model", "echo", "--input", "x=" + x, "--iterations", "3", "--warmup", "2"}), kExitOk)
      << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("latency over 3 calls (2 warm-up): min "));
  EXPECT_EQ(ParseInferArgs({"--server", "h:1", "--model", "m", "--insecure", "--iterations", "0"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(InferEndToEndTest, TypedContentsOutputDirAndJson) {
  const std::string x = WriteInput("x.npy", Tensor::FromVector<float>({1, 4}, {0.5f, -1.5f, 2, 3}));
  const std::string n = WriteInput("n.npy", Tensor::FromVector<int64_t>({2}, {7, 8}));
  const std::string out_dir = (dir_ / "out").string();
  ASSERT_EQ(Infer({"--model", "echo", "--version", "4", "--input", "x=" + x, "--input", "n=" + n,
                   "--typed-contents", "--output-dir", out_dir, "--json"}),
            kExitOk)
      << err_.str();
  const inference::ModelInferRequest request = service_.last_request();
  EXPECT_EQ(request.model_version(), "4");
  EXPECT_EQ(request.raw_input_contents_size(), 0);
  ASSERT_EQ(request.inputs_size(), 2);
  EXPECT_THAT(request.inputs(0).contents().fp32_contents(), ::testing::ElementsAre(0.5f, -1.5f, 2.0f, 3.0f));
  EXPECT_THAT(request.inputs(1).contents().int64_contents(), ::testing::ElementsAre(7, 8));

  EXPECT_THAT(out_.str(), HasSubstr("{\"model_name\": \"echo\", \"model_version\": \"4\", \"outputs\": {"));
  EXPECT_THAT(out_.str(), HasSubstr("\"x\": {\"shape\": [1, 4], \"datatype\": \"FP32\"}"));
  EXPECT_THAT(out_.str(), HasSubstr("\"n\": {\"shape\": [2], \"datatype\": \"INT64\"}"));
  EXPECT_THAT(out_.str(), HasSubstr("\"latency_ms\": "));
  const std::string json = out_.str();
  EXPECT_EQ(std::count(json.begin(), json.end(), '\n'), 1);

  absl::StatusOr<Tensor> x_out = ReadNpyFile((fs::path(out_dir) / "x.npy").string());
  ASSERT_TRUE(x_out.ok()) << x_out.status();
  EXPECT_EQ(x_out->shape(), (Shape{1, 4}));
  EXPECT_THAT(x_out->values<float>(), ::testing::ElementsAre(0.5f, -1.5f, 2.0f, 3.0f));
  absl::StatusOr<Tensor> n_out = ReadNpyFile((fs::path(out_dir) / "n.npy").string());
  ASSERT_TRUE(n_out.ok()) << n_out.status();
  EXPECT_THAT(n_out->values<int64_t>(), ::testing::ElementsAre(7, 8));
}

TEST_F(InferEndToEndTest, RandomInputsUseTheDeclaredDatatypes) {
  ASSERT_EQ(Infer({"--model", "echo", "--random-input", "x=3x4", "--random-input", "n", "--output", "x"}), kExitOk)
      << err_.str();
  const inference::ModelInferRequest request = service_.last_request();
  ASSERT_EQ(request.inputs_size(), 2);
  EXPECT_EQ(request.inputs(0).name(), "x");
  EXPECT_EQ(request.inputs(0).datatype(), "FP32");
  EXPECT_THAT(request.inputs(0).shape(), ::testing::ElementsAre(3, 4));
  EXPECT_EQ(request.inputs(1).datatype(), "INT64");
  EXPECT_THAT(request.inputs(1).shape(), ::testing::ElementsAre(2));
  ASSERT_EQ(request.outputs_size(), 1);
  EXPECT_EQ(request.outputs(0).name(), "x");
  EXPECT_THAT(out_.str(), HasSubstr("x  FP32 [3,4]"));
  EXPECT_THAT(out_.str(), ::testing::Not(HasSubstr("n  INT64")));
}

TEST_F(InferEndToEndTest, NoInputsMeansAllRandomWithBatchOne) {
  ASSERT_EQ(Infer({"--model", "echo"}), kExitOk) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("note: no input given"));
  const inference::ModelInferRequest request = service_.last_request();
  ASSERT_EQ(request.inputs_size(), 2);
  EXPECT_THAT(request.inputs(0).shape(), ::testing::ElementsAre(1, 4));
}

TEST_F(InferEndToEndTest, UnknownRandomInputNamesTheDeclaredOnes) {
  EXPECT_EQ(Infer({"--model", "echo", "--random-input", "nope=2"}), kExitRuntimeError);
  EXPECT_THAT(err_.str(), HasSubstr("has no input named 'nope'; its inputs are: x FP32[-1,4], n INT64[2]"));
}

TEST_F(InferEndToEndTest, ServerErrorShowsCodeAndMessage) {
  EXPECT_EQ(Infer({"--model", "missing", "--input", "x=" + WriteInput("x.npy", Tensor::FromVector<float>({1}, {1}))}),
            kExitRuntimeError);
  EXPECT_THAT(err_.str(), HasSubstr("tessera infer: ModelInfer failed: NOT_FOUND: no model missing"));
  EXPECT_THAT(out_.str(), IsEmpty());
}

TEST_F(InferEndToEndTest, CertificateFromAnotherCaIsRefused) {
  const std::string other = (dir_ / "other").string();
  ASSERT_TRUE(MakeClusterCertificates(other, {}).ok());
  std::ostringstream out, err;
  EXPECT_EQ(RunCli({"infer", "--server", address_, "--certs", other, "--model", "echo", "--random-input", "x=1x4",
                    "--random-input", "n", "--timeout-ms", "10000"},
                   out, err),
            kExitRuntimeError);
  EXPECT_THAT(err.str(), HasSubstr("tessera infer: ModelMetadata failed: UNAVAILABLE"));
  EXPECT_THAT(err.str(), HasSubstr("the TLS handshake failed"));
  EXPECT_THAT(out.str(), IsEmpty());
}

TEST_F(InferEndToEndTest, WorkerCertificateIsRefusedByPolicy) {
  // A certificate of the right cluster but the wrong role: the coordinator's
  // policy lets only clients call the inference service.
  const std::string worker_pem = (fs::path(certs_) / "worker.pem").string();
  const std::string worker_key = (fs::path(certs_) / "worker.key").string();
  const std::string ca = (fs::path(certs_) / "ca.pem").string();
  std::ostringstream out, err;
  const int code = RunCli({"infer", "--server", address_, "--ca", ca, "--cert", worker_pem, "--key", worker_key,
                           "--model", "echo", "--random-input", "n", "--random-input", "x=1x4", "--timeout-ms",
                           "10000"},
                          out, err);
  EXPECT_EQ(code, kExitRuntimeError);
  EXPECT_THAT(err.str(), HasSubstr("PERMISSION_DENIED"));
}

}  // namespace
}  // namespace tessera::client
