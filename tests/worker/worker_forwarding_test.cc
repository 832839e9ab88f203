// DIRECT stage forwarding in WorkerCore (chained Executes, worker.proto
// ExecuteRequest.forward) with a fake peer client whose peers are other
// WorkerCores in this process: a 3-stage chain with a skip connection and an
// early model output, the exact tensors each hop receives, downstream
// failures named by hop with their code kept, the deadline (the call's or
// the request's earlier absolute one) passed on, the
// per-hop timings, and a worker without a peer client.
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/sha256.h"
#include "common/wire_tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/model_builder.h"
#include "tests/worker/fake_peer_client.h"
#include "worker/worker_core.h"

namespace tessera::worker {
namespace {

using engine::testing::ModelBuilder;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::FakePeerClient;

// Stage 0: h0 = x * 2.  Stage 1: h1 = Relu(h0).  Stage 2: y = h1 + x (x is
// a skip connection from the model input). The model returns y and h0.
std::string Stage0() {
  ModelBuilder b;
  b.Input("x", onnx::TensorProto::FLOAT, {-1, 3})
      .Initializer("two", tessera::Tensor::FromVector<float>({1}, {2}))
      .Node("Mul", {"x", "two"}, {"h0"})
      .Output("h0", {-1, 3});
  return b.Bytes();
}
std::string Stage1() {
  ModelBuilder b;
  b.Input("h0", onnx::TensorProto::FLOAT, {-1, 3}).Node("Relu", {"h0"}, {"h1"}).Output("h1", {-1, 3});
  return b.Bytes();
}
std::string Stage2() {
  ModelBuilder b;
  b.Input("h1", onnx::TensorProto::FLOAT, {-1, 3})
      .Input("x", onnx::TensorProto::FLOAT, {-1, 3})
      .Node("Add", {"h1", "x"}, {"y"})
      .Output("y", {-1, 3});
  return b.Bytes();
}

absl::Status Load(WorkerCore& core, const std::string& bytes) {
  PartitionHeader header;
  header.set_partition_id(Sha256Hex(bytes));
  header.set_total_bytes(bytes.size());
  LoadPartitionResponse response;
  bool done = false;
  if (absl::Status begun = core.BeginLoad(header, &response, &done); !begun.ok() || done) return begun;
  PartitionUpload upload(header);
  if (absl::Status appended = upload.Append(bytes); !appended.ok()) return appended;
  absl::Notification finished;
  absl::Status result;
  core.FinishLoad(std::move(upload), &response, [&](absl::Status s) {
    result = s;
    finished.Notify();
  });
  finished.WaitForNotification();
  return result;
}

std::vector<std::string> Names(const google::protobuf::RepeatedPtrField<Tensor>& tensors) {
  std::vector<std::string> names;
  for (const Tensor& t : tensors) names.push_back(t.name());
  return names;
}

std::vector<float> Values(const Tensor& wire) {
  absl::StatusOr<tessera::Tensor> t = TensorFromWire(wire);
  EXPECT_TRUE(t.ok()) << t.status();
  if (!t.ok()) return {};
  return std::vector<float>(t->data<float>(), t->data<float>() + t->num_elements());
}

class WorkerForwardingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      WorkerCore::Options options;
      options.peers = &peers_;
      cores_.push_back(std::make_unique<WorkerCore>(options));
    }
    ASSERT_TRUE(Load(*cores_[0], Stage0()).ok());
    ASSERT_TRUE(Load(*cores_[1], Stage1()).ok());
    ASSERT_TRUE(Load(*cores_[2], Stage2()).ok());
    peers_.AddPeer("w1:1", cores_[1].get());
    peers_.AddPeer("w2:2", cores_[2].get());
  }

  // The chained request for x = [[1, -2, 3], [-1, 0.5, -4]].
  static ExecuteRequest Chain() {
    ExecuteRequest request;
    request.set_partition_id(Sha256Hex(Stage0()));
    request.set_request_id("r1");
    request.set_piece_id(0);
    TensorToWire("x", tessera::Tensor::FromVector<float>({2, 3}, {1, -2, 3, -1, 0.5f, -4}), request.add_inputs());
    request.add_output_names("h0");
    ForwardHop* hop1 = request.add_forward();
    hop1->set_address("w1:1");
    hop1->set_tls_server_name("worker-1");
    hop1->set_partition_id(Sha256Hex(Stage1()));
    hop1->set_piece_id(1);
    hop1->set_stage(1);
    hop1->add_input_names("h0");
    hop1->add_output_names("h1");
    ForwardHop* hop2 = request.add_forward();
    hop2->set_address("w2:2");
    hop2->set_partition_id(Sha256Hex(Stage2()));
    hop2->set_piece_id(2);
    hop2->set_stage(2);
    hop2->add_input_names("h1");
    hop2->add_input_names("x");
    hop2->add_output_names("y");
    request.add_return_names("y");
    request.add_return_names("h0");
    return request;
  }

  absl::Status Run(ExecuteRequest request, ExecuteResponse* response, absl::Time deadline = absl::InfiniteFuture(),
                   WorkerCore* core = nullptr) {
    absl::Notification finished;
    absl::Status result;
    (core ? core : cores_[0].get())->Execute(&request, response, nullptr, deadline, [&](absl::Status s) {
      result = s;
      finished.Notify();
    });
    finished.WaitForNotification();
    return result;
  }

  FakePeerClient peers_;
  std::vector<std::unique_ptr<WorkerCore>> cores_;
};

TEST_F(WorkerForwardingTest, ChainReturnsTheFinalOutputsAndEveryHopGetsExactlyWhatItNeeds) {
  ExecuteResponse response;
  ASSERT_TRUE(Run(Chain(), &response).ok());
  ASSERT_THAT(Names(response.outputs()), ElementsAre("y", "h0"));
  // y = Relu(2x) + x; h0 = 2x.
  EXPECT_THAT(Values(response.outputs(0)), ElementsAre(3, -2, 9, -1, 1.5f, -4));
  EXPECT_THAT(Values(response.outputs(1)), ElementsAre(2, -4, 6, -2, 1, -8));

  const std::vector<FakePeerClient::Call> calls = peers_.calls();
  ASSERT_EQ(calls.size(), 2u);
  // Hop 1 consumes h0; x (for stage 2) and h0 (returned) ride along.
  EXPECT_EQ(calls[0].address, "w1:1");
  EXPECT_EQ(calls[0].tls_server_name, "worker-1");
  EXPECT_EQ(calls[0].request.partition_id(), Sha256Hex(Stage1()));
  EXPECT_EQ(calls[0].request.request_id(), "r1");
  EXPECT_EQ(calls[0].request.piece_id(), 1u);
  EXPECT_THAT(Names(calls[0].request.inputs()), ElementsAre("h0"));
  EXPECT_THAT(calls[0].request.output_names(), ElementsAre("h1"));
  EXPECT_THAT(Names(calls[0].request.carried()), ElementsAre("x", "h0"));
  ASSERT_EQ(calls[0].request.forward_size(), 1);
  EXPECT_EQ(calls[0].request.forward(0).address(), "w2:2");
  EXPECT_THAT(calls[0].request.return_names(), ElementsAre("y", "h0"));
  EXPECT_THAT(Values(calls[0].request.carried(0)), ElementsAre(1, -2, 3, -1, 0.5f, -4));
  // Hop 2 consumes h1 and x; only h0 is still carried.
  EXPECT_EQ(calls[1].address, "w2:2");
  EXPECT_EQ(calls[1].tls_server_name, "");
  EXPECT_EQ(calls[1].request.piece_id(), 2u);
  EXPECT_THAT(Names(calls[1].request.inputs()), ElementsAre("h1", "x"));
  EXPECT_THAT(Names(calls[1].request.carried()), ElementsAre("h0"));
  EXPECT_EQ(calls[1].request.forward_size(), 0);
  EXPECT_THAT(Values(calls[1].request.inputs(0)), ElementsAre(2, 0, 6, 0, 1, 0));
}

TEST_F(WorkerForwardingTest, TimingsOfEveryHopComeBackInOrder) {
  ExecuteResponse response;
  ASSERT_TRUE(Run(Chain(), &response).ok());
  ASSERT_EQ(response.hops_size(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(response.hops(i).boot_id(), cores_[i]->Status().boot_id()) << i;
  EXPECT_EQ(response.boot_id(), cores_[0]->Status().boot_id());
  EXPECT_EQ(response.hops(0).queue_time_us(), response.queue_time_us());
  EXPECT_EQ(response.hops(0).compute_time_us(), response.compute_time_us());
  // Each round trip contains the next one; the last hop calls nobody.
  EXPECT_GE(response.hops(0).downstream_time_us(), response.hops(1).downstream_time_us());
  EXPECT_GT(response.hops(1).downstream_time_us(), 0u);
  EXPECT_EQ(response.hops(2).downstream_time_us(), 0u);
  // Bytes: x in; h0 and x carried; y and h0 returned (6 floats each).
  EXPECT_EQ(response.hops(0).bytes_received(), 24u);
  EXPECT_EQ(response.hops(1).bytes_received(), 72u);  // h0, x, h0
  EXPECT_EQ(response.hops(2).bytes_received(), 72u);  // h1, x, h0
  EXPECT_EQ(response.hops(2).bytes_returned(), 48u);
  EXPECT_EQ(response.hops(0).bytes_returned(), 0u);
  // Every worker counted its own Execute.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(cores_[i]->Status().executes_total(), 1u) << i;
}

TEST_F(WorkerForwardingTest, DeadlineIsPassedToEveryHop) {
  // A whole microsecond: the request's absolute deadline carries no less.
  const absl::Time deadline = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now() + absl::Seconds(7)));
  ExecuteResponse response;
  ASSERT_TRUE(Run(Chain(), &response, deadline).ok());
  const std::vector<FakePeerClient::Call> calls = peers_.calls();
  ASSERT_EQ(calls.size(), 2u);
  for (const FakePeerClient::Call& call : calls) {
    EXPECT_EQ(call.deadline, deadline) << call.address;
    EXPECT_EQ(call.request.deadline_unix_us(), absl::ToUnixMicros(deadline)) << call.address;
  }
}

// The request's absolute deadline, earlier than the call's, is the one each
// hop gets (as its call's deadline and in its request).
TEST_F(WorkerForwardingTest, EarlierAbsoluteDeadlineIsPassedToEveryHop) {
  const absl::Time absolute = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now() + absl::Seconds(5)));
  ExecuteRequest chain = Chain();
  chain.set_deadline_unix_us(absl::ToUnixMicros(absolute));
  ExecuteResponse response;
  ASSERT_TRUE(Run(chain, &response, absl::Now() + absl::Seconds(60)).ok());
  const std::vector<FakePeerClient::Call> calls = peers_.calls();
  ASSERT_EQ(calls.size(), 2u);
  for (const FakePeerClient::Call& call : calls) {
    EXPECT_EQ(call.deadline, absolute) << call.address;
    EXPECT_EQ(call.request.deadline_unix_us(), absl::ToUnixMicros(absolute)) << call.address;
  }
  // Without a call deadline (InfiniteFuture) the absolute one still travels.
  ExecuteRequest again = Chain();
  again.set_deadline_unix_us(absl::ToUnixMicros(absolute));
  ASSERT_TRUE(Run(again, &response).ok());
  ASSERT_EQ(peers_.calls().size(), 4u);
  EXPECT_EQ(peers_.calls()[3].deadline, absolute);
  EXPECT_EQ(peers_.calls()[3].request.deadline_unix_us(), absl::ToUnixMicros(absolute));
}

// A chain read after its absolute deadline (the call itself has a minute)
// is run nowhere: DEADLINE_EXCEEDED, no hop called.
TEST_F(WorkerForwardingTest, ChainPastItsAbsoluteDeadlineIsRunNowhere) {
  ExecuteRequest chain = Chain();
  chain.set_deadline_unix_us(absl::ToUnixMicros(absl::Now() - absl::Milliseconds(1)));
  ExecuteResponse response;
  absl::Status status = Run(chain, &response, absl::Now() + absl::Seconds(60));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("not run"));
  EXPECT_TRUE(peers_.calls().empty());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(cores_[i]->Status().executes_total(), 0u) << i;
}

TEST_F(WorkerForwardingTest, DownstreamFailureKeepsItsCodeAndNamesTheFailingHopOnce) {
  // The last hop's worker lost its partition.
  cores_[2]->Unload([] {
    UnloadRequest r;
    r.set_partition_id(Sha256Hex(Stage2()));
    return r;
  }());
  ExecuteResponse response;
  absl::Status status = Run(Chain(), &response);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()), StartsWith("forwarding to stage 2 at w2:2: partition "));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("stage 1")));

  // The middle hop cannot be reached.
  peers_.FailCallsTo("w1:1", absl::UnavailableError("connection refused"));
  status = Run(Chain(), &response);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "forwarding to stage 1 at w1:1: connection refused");
}

TEST_F(WorkerForwardingTest, MissingTensorForTheNextHopIsInvalidArgument) {
  ExecuteRequest request = Chain();
  request.mutable_forward(0)->add_input_names("nowhere");
  ExecuteResponse response;
  absl::Status status = Run(request, &response);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("'nowhere'"));
  EXPECT_TRUE(peers_.calls().empty());
}

TEST_F(WorkerForwardingTest, WorkerWithoutPeerClientRefusesChains) {
  WorkerCore lonely(WorkerCore::Options{});
  ASSERT_TRUE(Load(lonely, Stage0()).ok());
  ExecuteResponse response;
  absl::Status status = Run(Chain(), &response, absl::InfiniteFuture(), &lonely);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  // A plain Execute still works there, and says who answered.
  ExecuteRequest plain = Chain();
  plain.clear_forward();
  plain.clear_return_names();
  ExecuteResponse answer;
  ASSERT_TRUE(Run(plain, &answer, absl::InfiniteFuture(), &lonely).ok());
  EXPECT_THAT(Names(answer.outputs()), ElementsAre("h0"));
  EXPECT_EQ(answer.boot_id(), lonely.Status().boot_id());
  EXPECT_EQ(answer.hops_size(), 0);
}

}  // namespace
}  // namespace tessera::worker
