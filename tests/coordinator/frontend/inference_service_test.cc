// InferenceService over a fake backend on a real loopback server: every RPC
// is translated both ways, statuses keep their codes and messages, the
// client's deadline reaches the backend, and ModelStreamInfer answers each
// request (failures as error_message) and then ends cleanly.
#include "coordinator/frontend/inference_service.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace tessera::coordinator {
namespace {

class FakeBackend : public InferenceBackend {
 public:
  bool ServerReady() override { return ready; }
  inference::ServerMetadataResponse ServerMetadata() override {
    inference::ServerMetadataResponse r;
    r.set_name("tessera");
    return r;
  }
  absl::StatusOr<bool> ModelReady(const inference::ModelReadyRequest& request) override {
    if (request.name() != "m") return absl::NotFoundError("no model '" + request.name() + "'");
    return true;
  }
  absl::StatusOr<inference::ModelMetadataResponse> ModelMetadata(
      const inference::ModelMetadataRequest& request) override {
    inference::ModelMetadataResponse r;
    r.set_name(request.name());
    return r;
  }
  absl::StatusOr<inference::ModelConfigResponse> ModelConfig(const inference::ModelConfigRequest& request) override {
    inference::ModelConfigResponse r;
    r.mutable_config()->set_name(request.name());
    return r;
  }
  absl::StatusOr<inference::ModelStatisticsResponse> ModelStatistics(
      const inference::ModelStatisticsRequest&) override {
    return absl::UnimplementedError("no statistics");
  }
  absl::StatusOr<inference::RepositoryIndexResponse> RepositoryIndex(
      const inference::RepositoryIndexRequest&) override {
    inference::RepositoryIndexResponse r;
    r.add_models()->set_name("m");
    return r;
  }
  // Echoes the request id; id "fail" fails; answers from another thread
  // after `delay_ms` (an integer parameter) to exercise asynchrony.
  void ModelInfer(inference::ModelInferRequest* request, absl::Time deadline,
                  Done<inference::ModelInferResponse> done) override {
    {
      absl::MutexLock lock(&mu);
      deadlines.push_back(deadline);
    }
    int64_t delay_ms = 0;
    auto it = request->parameters().find("delay_ms");
    if (it != request->parameters().end()) delay_ms = it->second.int64_param();
    const std::string id = request->id();
    absl::MutexLock lock(&mu);
    threads.emplace_back([id, delay_ms, done] {
      absl::SleepFor(absl::Milliseconds(delay_ms));
      if (id == "fail") return done(absl::InvalidArgumentError("input 'x' has the wrong shape"));
      inference::ModelInferResponse r;
      r.set_id(id);
      r.set_model_name("m");
      done(r);
    });
  }
  void RepositoryModelLoad(const inference::RepositoryModelLoadRequest* request,
                           Done<inference::RepositoryModelLoadResponse> done) override {
    if (request->model_name() == "bad") return done(absl::InvalidArgumentError("model 'bad' is garbage"));
    done(inference::RepositoryModelLoadResponse());
  }
  void RepositoryModelUnload(const inference::RepositoryModelUnloadRequest*,
                             Done<inference::RepositoryModelUnloadResponse> done) override {
    done(inference::RepositoryModelUnloadResponse());
  }

  ~FakeBackend() override {
    absl::MutexLock lock(&mu);
    for (auto& t : threads) t.join();
  }

  bool ready = true;
  absl::Mutex mu;
  std::vector<absl::Time> deadlines;
  std::vector<std::thread> threads;
};

class InferenceServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_ = std::make_unique<InferenceService>(&backend_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    stub_ = inference::GRPCInferenceService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5)); }

  std::unique_ptr<grpc::ClientContext> Context(int seconds = 10) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
    return context;
  }

  FakeBackend backend_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

TEST_F(InferenceServiceTest, HealthAndMetadata) {
  inference::ServerLiveResponse live;
  ASSERT_TRUE(stub_->ServerLive(Context().get(), {}, &live).ok());
  EXPECT_TRUE(live.live());
  backend_.ready = false;
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(stub_->ServerReady(Context().get(), {}, &ready).ok());
  EXPECT_FALSE(ready.ready());
  inference::ServerMetadataResponse server;
  ASSERT_TRUE(stub_->ServerMetadata(Context().get(), {}, &server).ok());
  EXPECT_EQ(server.name(), "tessera");
  inference::ModelReadyRequest model_ready;
  model_ready.set_name("m");
  inference::ModelReadyResponse model_ready_response;
  ASSERT_TRUE(stub_->ModelReady(Context().get(), model_ready, &model_ready_response).ok());
  EXPECT_TRUE(model_ready_response.ready());
  model_ready.set_name("nope");
  grpc::Status st = stub_->ModelReady(Context().get(), model_ready, &model_ready_response);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message(), "no model 'nope'");
  inference::ModelConfigRequest config;
  config.set_name("m");
  inference::ModelConfigResponse config_response;
  ASSERT_TRUE(stub_->ModelConfig(Context().get(), config, &config_response).ok());
  EXPECT_EQ(config_response.config().name(), "m");
  inference::ModelStatisticsResponse stats;
  EXPECT_EQ(stub_->ModelStatistics(Context().get(), {}, &stats).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  inference::RepositoryIndexResponse index;
  ASSERT_TRUE(stub_->RepositoryIndex(Context().get(), {}, &index).ok());
  EXPECT_EQ(index.models(0).name(), "m");
}

TEST_F(InferenceServiceTest, InferPassesTheDeadlineAndTheStatus) {
  inference::ModelInferRequest request;
  request.set_model_name("m");
  request.set_id("abc");
  inference::ModelInferResponse response;
  const absl::Time before = absl::Now();
  ASSERT_TRUE(stub_->ModelInfer(Context(10).get(), request, &response).ok());
  EXPECT_EQ(response.id(), "abc");
  {
    absl::MutexLock lock(&backend_.mu);
    ASSERT_EQ(backend_.deadlines.size(), 1u);
    EXPECT_GT(backend_.deadlines[0], before + absl::Seconds(8));
    EXPECT_LT(backend_.deadlines[0], before + absl::Seconds(12));
  }
  request.set_id("fail");
  grpc::Status st = stub_->ModelInfer(Context().get(), request, &response);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "input 'x' has the wrong shape");
}

TEST_F(InferenceServiceTest, RepositoryLoadAndUnload) {
  inference::RepositoryModelLoadRequest load;
  load.set_model_name("bad");
  inference::RepositoryModelLoadResponse loaded;
  grpc::Status st = stub_->RepositoryModelLoad(Context().get(), load, &loaded);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  load.set_model_name("m");
  EXPECT_TRUE(stub_->RepositoryModelLoad(Context().get(), load, &loaded).ok());
  inference::RepositoryModelUnloadRequest unload;
  inference::RepositoryModelUnloadResponse unloaded;
  EXPECT_TRUE(stub_->RepositoryModelUnload(Context().get(), unload, &unloaded).ok());
}

TEST_F(InferenceServiceTest, StreamAnswersEveryRequestThenEnds) {
  auto context = Context();
  auto stream = stub_->ModelStreamInfer(context.get());
  const std::vector<std::string> ids = {"a", "fail", "b", "c"};
  for (size_t i = 0; i < ids.size(); ++i) {
    inference::ModelInferRequest request;
    request.set_id(ids[i]);
    request.set_model_name("m");
    // Later requests answer sooner: responses come in completion order.
    (*request.mutable_parameters())["delay_ms"].set_int64_param(static_cast<int64_t>(40 - 10 * i));
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  std::vector<std::string> answered;
  inference::ModelStreamInferResponse response;
  while (stream->Read(&response)) {
    if (response.error_message().empty()) {
      answered.push_back(response.infer_response().id());
    } else {
      EXPECT_EQ(response.infer_response().id(), "fail");
      EXPECT_EQ(response.error_message(), "input 'x' has the wrong shape");
      answered.push_back("error");
    }
  }
  grpc::Status st = stream->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();
  std::sort(answered.begin(), answered.end());
  EXPECT_EQ(answered, (std::vector<std::string>{"a", "b", "c", "error"}));
}

TEST_F(InferenceServiceTest, EmptyStreamEndsCleanly) {
  auto context = Context();
  auto stream = stub_->ModelStreamInfer(context.get());
  stream->WritesDone();
  inference::ModelStreamInferResponse response;
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace tessera::coordinator
