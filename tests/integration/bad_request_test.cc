// The bad-request catalog: named malformed requests sent over mutual-TLS
// gRPC to a real coordinator with two real workers, each expected to get a
// precise status code and a message naming the problem. After every one, a
// good request on another channel must still be answered correctly, and at
// the end every process is still running. Covers ModelInfer with raw and
// typed contents, the other KServe RPCs, requests over the tensor byte limit
// and over the gRPC message limit, and bad requests inside a
// ModelStreamInfer stream (an error_message, the stream goes on).
//
// The coordinator runs with --max-message-mb 2 --max-request-tensor-mb 1 so
// that both limits are reachable with small requests.
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "client/kserve_request.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "tests/integration/real_cluster.h"
#include "tests/worker/engine/model_builder.h"

namespace tessera {
namespace {

using client::InferContents;
using engine::testing::ModelBuilder;
using testing::RealCluster;
using Request = inference::ModelInferRequest;
using ::testing::HasSubstr;

constexpr int32_t kFloat = onnx::TensorProto::FLOAT;
constexpr int32_t kInt64 = onnx::TensorProto::INT64;
constexpr int32_t kBool = onnx::TensorProto::BOOL;

// "two" (max_batch_size 4): x FP32 [-1,3] -> Relu -> y; k INT64 [-1,2] -> Neg -> z.
std::string TwoModel() {
  ModelBuilder b;
  b.Input("x", kFloat, {-1, 3})
      .Input("k", kInt64, {-1, 2})
      .Node("Relu", {"x"}, {"y"})
      .Node("Neg", {"k"}, {"z"})
      .Output("y", {-1, 3})
      .Output("z", kInt64, {-1, 2});
  return b.Bytes();
}
// "bools" (max_batch_size 4): b BOOL [-1,4] -> Not -> nb.
std::string BoolModel() {
  ModelBuilder b;
  b.Input("b", kBool, {-1, 4}).Node("Not", {"b"}, {"nb"}).Output("nb", kBool, {-1, 4});
  return b.Bytes();
}
// "fixed" (no batching): x FP32 [2,2] -> Relu -> y; "dyn": x FP32 [-1,-1].
std::string ReluModel(std::vector<int64_t> dims) {
  ModelBuilder b;
  b.Input("x", kFloat, dims).Node("Relu", {"x"}, {"y"}).Output("y", dims);
  return b.Bytes();
}

Tensor X() { return Tensor::FromVector<float>({2, 3}, {-1, 2, -3, 4, -5, 6}); }
Tensor K() { return Tensor::FromVector<int64_t>({2, 2}, {1, -2, int64_t{3} << 40, 4}); }

Request TwoRequest(InferContents contents) {
  Request r;
  r.set_model_name("two");
  r.set_id("good");
  client::AddInferInput("x", X(), contents, &r);
  client::AddInferInput("k", K(), contents, &r);
  return r;
}

// A request's input by name.
inference::ModelInferRequest::InferInputTensor* In(Request* r, const std::string& name) {
  for (auto& in : *r->mutable_inputs()) {
    if (in.name() == name) return &in;
  }
  return nullptr;
}

// Checks the answer of TwoRequest.
void ExpectTwoAnswer(const inference::ModelInferResponse& response) {
  ASSERT_EQ(response.outputs_size(), 2);
  ASSERT_EQ(response.raw_output_contents_size(), 2);
  EXPECT_EQ(response.outputs(0).name(), "y");
  EXPECT_EQ(response.outputs(1).name(), "z");
  const std::vector<float> y = {0, 2, 0, 4, 0, 6};
  const std::vector<int64_t> z = {-1, 2, -(int64_t{3} << 40), -4};
  ASSERT_EQ(response.raw_output_contents(0).size(), y.size() * sizeof(float));
  ASSERT_EQ(response.raw_output_contents(1).size(), z.size() * sizeof(int64_t));
  EXPECT_EQ(0, std::memcmp(response.raw_output_contents(0).data(), y.data(), y.size() * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(response.raw_output_contents(1).data(), z.data(), z.size() * sizeof(int64_t)));
}

struct Case {
  std::string name;
  // Sends the bad request on `stub`.
  std::function<grpc::Status(RealCluster::Stub* stub)> send;
  grpc::StatusCode code;
  std::string message;  // expected in the status message
};

// A ModelInfer case: `base` mutated by `mutate`.
Case Infer(std::string name, InferContents base, std::function<void(Request*)> mutate, grpc::StatusCode code,
           std::string message) {
  return Case{std::move(name),
              [base, mutate](RealCluster::Stub* stub) {
                Request r = TwoRequest(base);
                mutate(&r);
                inference::ModelInferResponse response;
                return stub->ModelInfer(RealCluster::Context().get(), r, &response);
              },
              code, std::move(message)};
}

constexpr auto kRaw = InferContents::kRaw;
constexpr auto kTyped = InferContents::kTyped;
constexpr auto kInvalid = grpc::StatusCode::INVALID_ARGUMENT;
constexpr auto kNotFound = grpc::StatusCode::NOT_FOUND;
constexpr auto kUnimplemented = grpc::StatusCode::UNIMPLEMENTED;
constexpr auto kExhausted = grpc::StatusCode::RESOURCE_EXHAUSTED;

// Replaces the request with one for `model` holding `x` (FP32) in raw contents.
void ReluRequest(Request* r, const std::string& model, const Shape& shape, bool with_data = true) {
  r->Clear();
  r->set_model_name(model);
  auto* in = r->add_inputs();
  in->set_name("x");
  in->set_datatype("FP32");
  int64_t n = 1;
  for (int64_t d : shape) {
    in->add_shape(d);
    n *= d;
  }
  if (with_data) r->add_raw_input_contents(std::string(static_cast<size_t>(n) * 4, '\0'));
}

std::vector<Case> Catalog() {
  std::vector<Case> c;
  // --- which model ---
  c.push_back(Infer("unknown model", kRaw, [](Request* r) { r->set_model_name("nope"); }, kNotFound, "'nope'"));
  c.push_back(Infer("empty model name", kRaw, [](Request* r) { r->set_model_name(""); }, kInvalid,
                    "ModelInfer names no model"));
  c.push_back(Infer("unknown version", kRaw, [](Request* r) { r->set_model_version("7"); }, kNotFound, "7"));
  c.push_back(Infer("version not a number", kRaw, [](Request* r) { r->set_model_version("latest"); }, kInvalid,
                    "'latest'"));
  c.push_back(Infer("negative version", kRaw, [](Request* r) { r->set_model_version("-1"); }, kInvalid, "-1"));
  c.push_back(Infer(
      "version on disk but not served by the version policy", kRaw,
      [](Request* r) {
        ReluRequest(r, "versioned", {2, 2});
        r->set_model_version("1");
      },
      kNotFound, "1"));
  c.push_back(Infer("version 0", kRaw, [](Request* r) { r->set_model_version("0"); }, kInvalid, "'0'"));
  c.push_back(Infer("version overflowing int64", kRaw,
                    [](Request* r) { r->set_model_version("99999999999999999999999"); }, kInvalid,
                    "is not a version number"));
  c.push_back(Infer("model name of 1.5 MB", kRaw, [](Request* r) { r->set_model_name(std::string(1500000, 'm')); },
                    kNotFound, "unknown model 'mmmm"));
  // --- which inputs ---
  c.push_back(Infer("input name of 100 KB", kRaw, [](Request* r) { In(r, "x")->set_name(std::string(100000, 'n')); },
                    kInvalid, "unknown input 'nnnn"));
  c.push_back(Infer("a model output given as an input", kRaw, [](Request* r) { In(r, "x")->set_name("y"); },
                    kInvalid, "unknown input 'y'"));
  c.push_back(Infer("missing input", kRaw,
                    [](Request* r) {
                      r->mutable_inputs()->RemoveLast();
                      r->mutable_raw_input_contents()->RemoveLast();
                    },
                    kInvalid, "missing input 'k'"));
  c.push_back(Infer("no inputs at all", kRaw,
                    [](Request* r) {
                      r->clear_inputs();
                      r->clear_raw_input_contents();
                    },
                    kInvalid, "missing input 'x'"));
  c.push_back(Infer("extra unknown input", kRaw,
                    [](Request* r) {
                      auto* in = r->add_inputs();
                      *in = r->inputs(0);
                      in->set_name("extra");
                      r->add_raw_input_contents(r->raw_input_contents(0));
                    },
                    kInvalid, "unknown input 'extra'; model 'two' takes 'x', 'k'"));
  c.push_back(Infer("duplicated input", kRaw,
                    [](Request* r) {
                      *r->add_inputs() = r->inputs(0);
                      r->add_raw_input_contents(r->raw_input_contents(0));
                    },
                    kInvalid, "input 'x' is given more than once"));
  c.push_back(Infer("input without a name", kRaw, [](Request* r) { r->mutable_inputs(0)->clear_name(); }, kInvalid,
                    "input 0 has no name"));
  // --- datatype ---
  c.push_back(Infer("wrong datatype", kRaw, [](Request* r) { In(r, "x")->set_datatype("INT32"); }, kInvalid,
                    "input 'x' has datatype INT32 but model 'two' expects FP32"));
  c.push_back(Infer("datatype not a KServe datatype", kRaw, [](Request* r) { In(r, "x")->set_datatype("float32"); },
                    kInvalid, "'float32', which is not a KServe datatype"));
  c.push_back(Infer("no datatype", kRaw, [](Request* r) { In(r, "x")->clear_datatype(); }, kInvalid,
                    "input 'x' has no datatype"));
  c.push_back(Infer("datatype Tessera cannot execute (FP16)", kRaw, [](Request* r) { In(r, "x")->set_datatype("FP16"); },
                    kUnimplemented, "FP16"));
  c.push_back(Infer("BYTES datatype", kTyped,
                    [](Request* r) {
                      auto* x = In(r, "x");
                      x->set_datatype("BYTES");
                      x->mutable_contents()->clear_fp32_contents();
                      for (int i = 0; i < 6; ++i) x->mutable_contents()->add_bytes_contents("abc");
                    },
                    kUnimplemented, "BYTES"));
  // --- shape ---
  c.push_back(Infer("wrong rank", kRaw, [](Request* r) { In(r, "x")->add_shape(1); }, kInvalid,
                    "input 'x' has shape [2,3,1] (rank 3) but model 'two' expects rank 2"));
  c.push_back(Infer("fixed dim mismatch, same byte size", kRaw,
                    [](Request* r) {
                      In(r, "x")->set_shape(0, 3);
                      In(r, "x")->set_shape(1, 2);
                    },
                    kInvalid, "dim 1 must be 3"));
  c.push_back(Infer("negative dimension", kRaw, [](Request* r) { In(r, "x")->set_shape(1, -3); }, kInvalid,
                    "input 'x' has shape [2,-3] with negative dimension -3"));
  c.push_back(Infer("dimensions whose product overflows int64", kRaw,
                    [](Request* r) {
                      ReluRequest(r, "dyn", {1, 1});
                      In(r, "x")->set_shape(0, int64_t{1} << 40);
                      In(r, "x")->set_shape(1, int64_t{1} << 40);
                    },
                    kInvalid, "whose byte size overflows int64"));
  c.push_back(Infer("batch over max_batch_size", kRaw,
                    [](Request* r) {
                      In(r, "x")->set_shape(0, 5);
                      In(r, "k")->set_shape(0, 5);
                    },
                    kInvalid, "input 'x' has batch size 5 (shape [5,3]); model 'two' takes batches of 1..4"));
  c.push_back(Infer("empty batch", kRaw,
                    [](Request* r) {
                      In(r, "x")->set_shape(0, 0);
                      In(r, "k")->set_shape(0, 0);
                      r->mutable_raw_input_contents(0)->clear();
                      r->mutable_raw_input_contents(1)->clear();
                    },
                    kInvalid, "batch size 0"));
  c.push_back(Infer("inputs with different batch sizes", kRaw,
                    [](Request* r) {
                      In(r, "k")->set_shape(0, 1);
                      r->mutable_raw_input_contents(1)->resize(16);
                    },
                    kInvalid, "input 'k' has batch size 1 but input 'x' has 2"));
  c.push_back(Infer("unbatched model given a batch dim", kRaw, [](Request* r) { ReluRequest(r, "fixed", {1, 2, 2}); },
                    kInvalid, "model 'fixed' expects rank 2"));
  // --- raw contents ---
  c.push_back(Infer("raw contents too short", kRaw, [](Request* r) { r->mutable_raw_input_contents(0)->resize(20); },
                    kInvalid, "input 'x': raw_input_contents[0] holds 20 bytes but shape [2,3] of FP32 needs 24"));
  c.push_back(Infer("raw contents too long", kRaw, [](Request* r) { r->mutable_raw_input_contents(1)->append("x"); },
                    kInvalid, "raw_input_contents[1] holds 33 bytes"));
  c.push_back(Infer("fewer raw buffers than inputs", kRaw,
                    [](Request* r) { r->mutable_raw_input_contents()->RemoveLast(); }, kInvalid,
                    "raw_input_contents holds 1 buffers but the request has 2 inputs"));
  c.push_back(Infer("more raw buffers than inputs", kRaw, [](Request* r) { r->add_raw_input_contents("abcd"); },
                    kInvalid, "raw_input_contents holds 3 buffers"));
  c.push_back(Infer("raw and typed contents mixed", kRaw,
                    [](Request* r) { In(r, "k")->mutable_contents()->add_int64_contents(1); }, kInvalid,
                    "a request uses one or the other"));
  c.push_back(Infer("BOOL raw byte other than 0 or 1", kRaw,
                    [](Request* r) {
                      r->Clear();
                      r->set_model_name("bools");
                      auto* in = r->add_inputs();
                      in->set_name("b");
                      in->set_datatype("BOOL");
                      in->add_shape(1);
                      in->add_shape(4);
                      r->add_raw_input_contents(std::string("\x01\x00\x07\x01", 4));
                    },
                    kInvalid, "input 'b': BOOL byte 2 is 7; BOOL bytes are 0 or 1"));
  // --- typed contents ---
  c.push_back(Infer("typed: too few fp32 values", kTyped,
                    [](Request* r) { In(r, "x")->mutable_contents()->mutable_fp32_contents()->RemoveLast(); },
                    kInvalid, "input 'x' has shape [2,3] (6 elements) but fp32_contents holds 5 values"));
  c.push_back(Infer("typed: too many int64 values", kTyped,
                    [](Request* r) { In(r, "k")->mutable_contents()->add_int64_contents(9); }, kInvalid,
                    "int64_contents holds 5 values"));
  c.push_back(Infer("typed: no contents at all", kTyped, [](Request* r) { In(r, "x")->clear_contents(); }, kInvalid,
                    "fp32_contents holds 0 values"));
  c.push_back(Infer("typed: FP32 data in int_contents", kTyped,
                    [](Request* r) {
                      auto* x = In(r, "x");
                      x->clear_contents();
                      for (int i = 0; i < 6; ++i) x->mutable_contents()->add_int_contents(i);
                    },
                    kInvalid, "input 'x' (FP32) carries its data in int_contents; FP32 data goes in fp32_contents"));
  c.push_back(Infer("typed: INT64 data in fp64_contents", kTyped,
                    [](Request* r) {
                      auto* k = In(r, "k");
                      k->clear_contents();
                      for (int i = 0; i < 4; ++i) k->mutable_contents()->add_fp64_contents(i);
                    },
                    kInvalid, "carries its data in fp64_contents; INT64 data goes in int64_contents"));
  c.push_back(Infer("typed: data in two fields", kTyped,
                    [](Request* r) { In(r, "x")->mutable_contents()->add_bytes_contents("x"); }, kInvalid,
                    "carries its data in bytes_contents"));
  c.push_back(Infer("typed: BOOL data in uint_contents", kTyped,
                    [](Request* r) {
                      r->Clear();
                      r->set_model_name("bools");
                      auto* in = r->add_inputs();
                      in->set_name("b");
                      in->set_datatype("BOOL");
                      in->add_shape(1);
                      in->add_shape(4);
                      for (int i = 0; i < 4; ++i) in->mutable_contents()->add_uint_contents(1);
                    },
                    kInvalid, "BOOL data goes in bool_contents"));
  c.push_back(Infer("typed: wrong datatype for the model", kTyped,
                    [](Request* r) {
                      auto* k = In(r, "k");
                      k->set_datatype("INT32");
                      k->clear_contents();
                      for (int i = 0; i < 4; ++i) k->mutable_contents()->add_int_contents(i);
                    },
                    kInvalid, "input 'k' has datatype INT32 but model 'two' expects INT64"));
  // --- sizes and limits ---
  c.push_back(Infer("tensor bytes over --max-request-tensor-mb (data sent)", kRaw,
                    [](Request* r) { ReluRequest(r, "dyn", {320, 1024}); }, kExhausted,
                    "= 1310720 bytes, taking the request's input tensors to 1310720 bytes, over the per-request "
                    "limit of 1048576 bytes"));
  c.push_back(Infer("declared shape of 4 GiB with no data", kRaw,
                    [](Request* r) { ReluRequest(r, "dyn", {int64_t{1} << 20, 1024}, /*with_data=*/false); },
                    kExhausted, "declares [1048576,1024] of FP32 = 4294967296 bytes"));
  c.push_back(Infer("message over --max-message-mb", kRaw, [](Request* r) { ReluRequest(r, "dyn", {768, 1024}); },
                    kExhausted, "larger than max"));
  // --- outputs ---
  c.push_back(Infer("unknown requested output", kRaw, [](Request* r) { r->add_outputs()->set_name("w"); }, kInvalid,
                    "unknown requested output 'w'; model 'two' has outputs 'y', 'z'"));
  c.push_back(Infer("output requested twice", kRaw,
                    [](Request* r) {
                      r->add_outputs()->set_name("y");
                      r->add_outputs()->set_name("y");
                    },
                    kInvalid, "requested output 'y' is requested more than once"));
  c.push_back(Infer("a model input requested as an output", kRaw, [](Request* r) { r->add_outputs()->set_name("x"); },
                    kInvalid, "unknown requested output 'x'"));
  c.push_back(Infer("requested output name of 100 KB", kRaw,
                    [](Request* r) { r->add_outputs()->set_name(std::string(100000, 'o')); }, kInvalid,
                    "unknown requested output 'oooo"));
  c.push_back(Infer("requested output without a name", kRaw, [](Request* r) { r->add_outputs(); }, kInvalid,
                    "requested output 0 has no name"));
  c.push_back(Infer("input in shared memory", kRaw,
                    [](Request* r) {
                      (*In(r, "x")->mutable_parameters())["shared_memory_region"].set_string_param("r");
                    },
                    kUnimplemented, "input 'x': shared memory inputs are not supported"));
  c.push_back(Infer("output in shared memory", kRaw,
                    [](Request* r) {
                      auto* out = r->add_outputs();
                      out->set_name("z");
                      (*out->mutable_parameters())["shared_memory_region"].set_string_param("r");
                    },
                    kUnimplemented, "requested output 'z': shared memory outputs are not supported"));
  c.push_back(Infer("classification output", kRaw,
                    [](Request* r) {
                      auto* out = r->add_outputs();
                      out->set_name("y");
                      (*out->mutable_parameters())["classification"].set_int64_param(3);
                    },
                    kUnimplemented, "classification outputs are not supported"));
  // --- request parameters ---
  c.push_back(Infer("timeout parameter of the wrong type", kRaw,
                    [](Request* r) { (*r->mutable_parameters())["timeout"].set_string_param("5s"); }, kInvalid,
                    "request parameter 'timeout' is a string_param"));
  c.push_back(Infer("negative timeout parameter", kRaw,
                    [](Request* r) { (*r->mutable_parameters())["timeout"].set_int64_param(-5); }, kInvalid,
                    "request parameter 'timeout' is -5"));
  c.push_back(Infer("priority parameter of the wrong type", kRaw,
                    [](Request* r) { (*r->mutable_parameters())["priority"].set_bool_param(true); }, kInvalid,
                    "request parameter 'priority' is a bool_param"));
  c.push_back(Infer("binary_data_output not a bool", kRaw,
                    [](Request* r) { (*r->mutable_parameters())["binary_data_output"].set_string_param("yes"); },
                    kInvalid, "'binary_data_output' is a string_param; it must be a bool_param"));
  c.push_back(Infer("sequence batching parameters", kRaw,
                    [](Request* r) { (*r->mutable_parameters())["sequence_id"].set_int64_param(42); }, kUnimplemented,
                    "sequence batching is not supported"));
  c.push_back(Infer("request-level shared memory parameters", kRaw,
                    [](Request* r) { (*r->mutable_parameters())["shared_memory_byte_size"].set_int64_param(64); },
                    kUnimplemented, "shared memory"));
  c.push_back(Case{"timeout parameter of 1 us: the deadline passes",
                   [](RealCluster::Stub* stub) {
                     Request r = TwoRequest(kRaw);
                     (*r.mutable_parameters())["timeout"].set_int64_param(1);
                     inference::ModelInferResponse response;
                     return stub->ModelInfer(RealCluster::Context().get(), r, &response);
                   },
                   grpc::StatusCode::DEADLINE_EXCEEDED, ""});
  // --- the other RPCs ---
  c.push_back(Case{"ModelMetadata of an unknown model",
                   [](RealCluster::Stub* stub) {
                     inference::ModelMetadataRequest request;
                     request.set_name("ghost");
                     inference::ModelMetadataResponse response;
                     return stub->ModelMetadata(RealCluster::Context().get(), request, &response);
                   },
                   kNotFound, "'ghost'"});
  c.push_back(Case{"ModelMetadata of an unknown version",
                   [](RealCluster::Stub* stub) {
                     inference::ModelMetadataRequest request;
                     request.set_name("two");
                     request.set_version("99");
                     inference::ModelMetadataResponse response;
                     return stub->ModelMetadata(RealCluster::Context().get(), request, &response);
                   },
                   kNotFound, "99"});
  c.push_back(Case{"ModelReady of an unknown model",
                   [](RealCluster::Stub* stub) {
                     inference::ModelReadyRequest request;
                     request.set_name("ghost");
                     inference::ModelReadyResponse response;
                     return stub->ModelReady(RealCluster::Context().get(), request, &response);
                   },
                   kNotFound, "'ghost'"});
  c.push_back(Case{"ModelReady without a model name",
                   [](RealCluster::Stub* stub) {
                     inference::ModelReadyResponse response;
                     return stub->ModelReady(RealCluster::Context().get(), {}, &response);
                   },
                   kInvalid, "ModelReady names no model"});
  c.push_back(Case{"ModelReady of a version the policy does not serve",
                   [](RealCluster::Stub* stub) {
                     inference::ModelReadyRequest request;
                     request.set_name("versioned");
                     request.set_version("1");
                     inference::ModelReadyResponse response;
                     return stub->ModelReady(RealCluster::Context().get(), request, &response);
                   },
                   kNotFound, "1"});
  c.push_back(Case{"ModelConfig with a version that is not a number",
                   [](RealCluster::Stub* stub) {
                     inference::ModelConfigRequest request;
                     request.set_name("two");
                     request.set_version("v1");
                     inference::ModelConfigResponse response;
                     return stub->ModelConfig(RealCluster::Context().get(), request, &response);
                   },
                   kInvalid, "'v1'"});
  c.push_back(Case{"ModelStatistics of an unknown model",
                   [](RealCluster::Stub* stub) {
                     inference::ModelStatisticsRequest request;
                     request.set_name("ghost");
                     inference::ModelStatisticsResponse response;
                     return stub->ModelStatistics(RealCluster::Context().get(), request, &response);
                   },
                   kNotFound, "'ghost'"});
  c.push_back(Case{"ModelStatistics with a version that is not a number",
                   [](RealCluster::Stub* stub) {
                     inference::ModelStatisticsRequest request;
                     request.set_name("two");
                     request.set_version("x");
                     inference::ModelStatisticsResponse response;
                     return stub->ModelStatistics(RealCluster::Context().get(), request, &response);
                   },
                   kInvalid, "'x' is not a number"});
  c.push_back(Case{"RepositoryModelLoad of a path outside the repository",
                   [](RealCluster::Stub* stub) {
                     inference::RepositoryModelLoadRequest request;
                     request.set_model_name("../two");
                     inference::RepositoryModelLoadResponse response;
                     return stub->RepositoryModelLoad(RealCluster::Context().get(), request, &response);
                   },
                   kInvalid, "../two"});
  c.push_back(Case{"RepositoryModelLoad of a model not in the repository",
                   [](RealCluster::Stub* stub) {
                     inference::RepositoryModelLoadRequest request;
                     request.set_model_name("ghost");
                     inference::RepositoryModelLoadResponse response;
                     return stub->RepositoryModelLoad(RealCluster::Context().get(), request, &response);
                   },
                   kNotFound, "ghost"});
  c.push_back(Case{"RepositoryModelUnload of an unknown model",
                   [](RealCluster::Stub* stub) {
                     inference::RepositoryModelUnloadRequest request;
                     request.set_model_name("ghost");
                     inference::RepositoryModelUnloadResponse response;
                     return stub->RepositoryModelUnload(RealCluster::Context().get(), request, &response);
                   },
                   kNotFound, "ghost"});
  return c;
}

// Bad requests inside one stream: each answered with an error_message (its
// id echoed), the good ones around them answered correctly.
struct StreamCase {
  std::string name;
  std::function<void(Request*)> mutate;  // of TwoRequest(kRaw)
  std::string message;
};

std::vector<StreamCase> StreamCatalog() {
  return {
      {"stream: unknown model", [](Request* r) { r->set_model_name("nope"); }, "'nope'"},
      {"stream: wrong datatype", [](Request* r) { In(r, "k")->set_datatype("FP64"); },
       "input 'k' has datatype FP64 but model 'two' expects INT64"},
      {"stream: raw contents too short", [](Request* r) { r->mutable_raw_input_contents(1)->resize(3); },
       "raw_input_contents[1] holds 3 bytes"},
      {"stream: batch over max_batch_size",
       [](Request* r) {
         In(r, "x")->set_shape(0, 9);
         In(r, "k")->set_shape(0, 9);
       },
       "batch size 9"},
      {"stream: unknown requested output", [](Request* r) { r->add_outputs()->set_name("nothing"); },
       "unknown requested output 'nothing'"},
      {"stream: tensor bytes over the limit",
       [](Request* r) { ReluRequest(r, "dyn", {int64_t{1} << 30, 2}, /*with_data=*/false); },
       "over the per-request limit of 1048576 bytes"},
  };
}

class BadRequestTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new RealCluster("bad_request_test", {.cnn_models = false, .ops_endpoint = false});
    cluster_->WriteModel("two", "max_batch_size: 4 parallelism { strategy: DATA }", TwoModel());
    cluster_->WriteModel("bools", "max_batch_size: 4", BoolModel());
    cluster_->WriteModel("fixed", "max_batch_size: 0", ReluModel({2, 2}));
    cluster_->WriteModel("dyn", "max_batch_size: 0", ReluModel({-1, -1}));
    const std::string versioned = ReluModel({2, 2});
    cluster_->WriteModel("versioned", "max_batch_size: 0 version_policy { specific { versions: 2 } }", versioned, 1);
    cluster_->WriteModel("versioned", "max_batch_size: 0 version_policy { specific { versions: 2 } }", versioned, 2);
    start_ = new absl::Status(cluster_->Start(2, {.flags = {"--health-interval-ms", "200", "--measure-plans=false",
                                                            "--max-message-mb", "2", "--max-request-tensor-mb", "1"}}));
  }
  static void TearDownTestSuite() {
    delete cluster_;
    delete start_;
  }
  void SetUp() override { ASSERT_TRUE(start_->ok()) << *start_; }

  // A good request on `stub`, answered correctly.
  static void ExpectGoodAnswer(RealCluster::Stub* stub, InferContents contents) {
    inference::ModelInferResponse response;
    grpc::Status st = stub->ModelInfer(RealCluster::Context().get(), TwoRequest(contents), &response);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(response.id(), "good");
    ExpectTwoAnswer(response);
  }

  static RealCluster* cluster_;
  static absl::Status* start_;
};

RealCluster* BadRequestTest::cluster_ = nullptr;
absl::Status* BadRequestTest::start_ = nullptr;

TEST_F(BadRequestTest, EveryBadRequestIsRefusedClearlyAndOthersAreStillServed) {
  auto bad = cluster_->NewStub();
  auto good = cluster_->NewStub();
  ASSERT_NE(bad, nullptr);
  ASSERT_NE(good, nullptr);
  ExpectGoodAnswer(good.get(), kRaw);
  ExpectGoodAnswer(good.get(), kTyped);
  const std::vector<Case> catalog = Catalog();
  for (size_t i = 0; i < catalog.size(); ++i) {
    const Case& c = catalog[i];
    SCOPED_TRACE(c.name);
    const grpc::Status st = c.send(bad.get());
    std::printf("  %-55s -> %d %s\n", c.name.c_str(), static_cast<int>(st.error_code()),
                st.error_message().substr(0, 150).c_str());
    EXPECT_EQ(st.error_code(), c.code) << c.name << ": " << st.error_message();
    EXPECT_THAT(st.error_message(), HasSubstr(c.message)) << c.name;
    ExpectGoodAnswer(good.get(), i % 2 ? kRaw : kTyped);
  }
  // The channel that sent them all still works too.
  ExpectGoodAnswer(bad.get(), kRaw);
  EXPECT_TRUE(cluster_->AllAlive()) << cluster_->coordinator().StderrTail();
  const size_t stream_cases = StreamCatalog().size();
  std::printf("bad-request catalog: %zu unary cases + %zu stream cases = %zu\n", catalog.size(), stream_cases,
              catalog.size() + stream_cases);
  EXPECT_GE(catalog.size() + stream_cases, 40u);
}

TEST_F(BadRequestTest, BadRequestsInAStreamGetErrorMessagesAndTheStreamGoesOn) {
  auto stub = cluster_->NewStub();
  auto good = cluster_->NewStub();
  auto context = RealCluster::Context();
  auto stream = stub->ModelStreamInfer(context.get());
  const std::vector<StreamCase> cases = StreamCatalog();
  // good-0, bad-0, good-1, bad-1, ..., good-N
  for (size_t i = 0; i <= cases.size(); ++i) {
    Request ok = TwoRequest(i % 2 ? kTyped : kRaw);
    ok.set_id(absl::StrCat("good-", i));
    ASSERT_TRUE(stream->Write(ok));
    if (i == cases.size()) break;
    Request r = TwoRequest(kRaw);
    cases[i].mutate(&r);
    r.set_id(absl::StrCat("bad-", i));
    ASSERT_TRUE(stream->Write(r));
  }
  stream->WritesDone();
  std::vector<int> errors(cases.size(), 0);
  int answered = 0;
  inference::ModelStreamInferResponse response;
  while (stream->Read(&response)) {
    const std::string& id = response.infer_response().id();
    if (!response.error_message().empty()) {
      ASSERT_EQ(id.rfind("bad-", 0), 0u) << id << ": " << response.error_message();
      const size_t i = std::stoul(id.substr(4));
      ASSERT_LT(i, cases.size());
      EXPECT_THAT(response.error_message(), HasSubstr(cases[i].message)) << cases[i].name;
      ++errors[i];
      continue;
    }
    EXPECT_EQ(id.rfind("good-", 0), 0u) << id;
    ExpectTwoAnswer(response.infer_response());
    ++answered;
  }
  grpc::Status finished = stream->Finish();
  EXPECT_TRUE(finished.ok()) << finished.error_message();
  EXPECT_EQ(answered, static_cast<int>(cases.size()) + 1);
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_EQ(errors[i], 1) << cases[i].name;
  ExpectGoodAnswer(good.get(), kRaw);
  EXPECT_TRUE(cluster_->AllAlive());
}

TEST_F(BadRequestTest, ValidEdgeCasesAreAnswered) {
  auto stub = cluster_->NewStub();
  // Zero-sized tensors on a model without batching, a batch of exactly
  // max_batch_size, an empty request id, a very long one.
  for (const Shape& shape : {Shape{0, 5}, Shape{3, 0}, Shape{0, 0}}) {
    SCOPED_TRACE(absl::StrCat("[", absl::StrJoin(shape, ","), "]"));
    Request r;
    ReluRequest(&r, "dyn", shape);
    inference::ModelInferResponse response;
    grpc::Status st = stub->ModelInfer(RealCluster::Context().get(), r, &response);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(response.outputs_size(), 1);
    EXPECT_EQ(Shape(response.outputs(0).shape().begin(), response.outputs(0).shape().end()), shape);
    EXPECT_TRUE(response.raw_output_contents(0).empty());
  }
  Request r;
  r.set_model_name("two");
  r.set_id(std::string(100000, 'i'));
  client::AddInferInput("x", Tensor::FromVector<float>({4, 3}, std::vector<float>(12, -1.5f)), kRaw, &r);
  client::AddInferInput("k", Tensor::FromVector<int64_t>({4, 2}, std::vector<int64_t>(8, 7)), kRaw, &r);
  r.add_outputs()->set_name("z");
  inference::ModelInferResponse response;
  grpc::Status st = stub->ModelInfer(RealCluster::Context().get(), r, &response);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(response.id(), r.id());
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).name(), "z");
  ASSERT_EQ(response.raw_output_contents(0).size(), 8 * sizeof(int64_t));
  const int64_t* z = reinterpret_cast<const int64_t*>(response.raw_output_contents(0).data());
  for (int i = 0; i < 8; ++i) EXPECT_EQ(z[i], -7);
  EXPECT_TRUE(cluster_->AllAlive());
}

// Requests whose serialized bytes were corrupted at random (bytes replaced,
// inserted, removed, truncated), sent as raw bytes: every one is answered
// with a status (OK for those that still make a valid request), none hurts
// the server, and good requests go on being answered.
TEST_F(BadRequestTest, CorruptedRequestBytesNeverHurtTheServer) {
  std::shared_ptr<grpc::Channel> channel = cluster_->NewChannel();
  ASSERT_NE(channel, nullptr);
  grpc::GenericStub generic(channel);
  auto good = cluster_->NewStub();
  std::mt19937 rng(20261127);
  const std::string base = TwoRequest(kRaw).SerializeAsString();
  std::map<grpc::StatusCode, int> codes;
  constexpr int kRequests = 400;
  for (int i = 0; i < kRequests; ++i) {
    std::string bytes = base;
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits && !bytes.empty(); ++e) {
      const size_t at = rng() % bytes.size();
      switch (rng() % 4) {
        case 0:
          bytes[at] = static_cast<char>(rng());
          break;
        case 1:
          bytes.insert(at, 1, static_cast<char>(rng()));
          break;
        case 2:
          bytes.erase(at, 1);
          break;
        default:
          bytes.resize(at);
          break;
      }
    }
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1), response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    absl::Notification done;
    grpc::Status status;
    generic.UnaryCall(&context, "/inference.GRPCInferenceService/ModelInfer", grpc::StubOptions(), &request,
                      &response, [&](grpc::Status st) {
                        status = std::move(st);
                        done.Notify();
                      });
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(15))) << "request " << i << " not answered";
    ++codes[status.error_code()];
    switch (status.error_code()) {
      case grpc::StatusCode::OK: {
        std::vector<grpc::Slice> slices;
        ASSERT_TRUE(response.Dump(&slices).ok());
        std::string out;
        for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
        inference::ModelInferResponse parsed;
        EXPECT_TRUE(parsed.ParseFromString(out)) << "request " << i;
        EXPECT_EQ(parsed.outputs_size(), 2) << "request " << i;
        break;
      }
      case grpc::StatusCode::INVALID_ARGUMENT:
      case grpc::StatusCode::NOT_FOUND:
      case grpc::StatusCode::UNIMPLEMENTED:
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        EXPECT_FALSE(status.error_message().empty()) << "request " << i << ": " << status.error_code();
        break;
      default:
        ADD_FAILURE() << "request " << i << ": unexpected " << status.error_code() << " "
                      << status.error_message();
    }
    if (i % 50 == 49) ExpectGoodAnswer(good.get(), kRaw);
  }
  // Bytes that are no protobuf at all.
  {
    const std::string garbage = "\xff\xff\xff\xff this is not a protobuf";
    grpc::Slice slice(garbage);
    grpc::ByteBuffer request(&slice, 1), response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    absl::Notification done;
    grpc::Status status;
    generic.UnaryCall(&context, "/inference.GRPCInferenceService/ModelInfer", grpc::StubOptions(), &request,
                      &response, [&](grpc::Status st) {
                        status = std::move(st);
                        done.Notify();
                      });
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(15)));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(),
                HasSubstr("the request (27 bytes) is not a valid inference.ModelInferRequest protobuf"));
  }
  std::string histogram;
  for (const auto& [code, n] : codes) absl::StrAppend(&histogram, " ", static_cast<int>(code), ":", n);
  std::printf("%d corrupted requests, answered by status code:%s\n", kRequests, histogram.c_str());
  EXPECT_GT(codes[grpc::StatusCode::INVALID_ARGUMENT], 0);
  ExpectGoodAnswer(good.get(), kTyped);
  EXPECT_TRUE(cluster_->AllAlive()) << cluster_->coordinator().StderrTail();
}

// A stream carrying bytes that are not a ModelInferRequest between good
// requests: the bad message is answered with an error_message and the
// stream goes on.
class RawStream : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  RawStream(grpc::GenericStub* stub, std::vector<std::string> messages) : messages_(std::move(messages)) {
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    stub->PrepareBidiStreamingCall(&context_, "/inference.GRPCInferenceService/ModelStreamInfer", grpc::StubOptions(),
                                   this);
    StartRead(&read_);
    WriteNext();
    StartCall();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) return;
    WriteNext();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (read_.Dump(&slices).ok()) {
      for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    inference::ModelStreamInferResponse response;
    {
      absl::MutexLock lock(&mu_);
      if (response.ParseFromString(bytes)) responses_.push_back(response);
    }
    StartRead(&read_);
  }
  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }
  // The stream's status and responses once it is over (bounded wait).
  bool Wait(grpc::Status* status, std::vector<inference::ModelStreamInferResponse>* responses) {
    absl::MutexLock lock(&mu_);
    if (!mu_.AwaitWithTimeout(absl::Condition(&done_), absl::Seconds(30))) return false;
    *status = status_;
    *responses = responses_;
    return true;
  }

 private:
  void WriteNext() {
    if (next_ == messages_.size()) {
      StartWritesDone();
      return;
    }
    slice_ = grpc::Slice(messages_[next_++]);
    write_ = grpc::ByteBuffer(&slice_, 1);
    StartWrite(&write_);
  }

  grpc::ClientContext context_;
  std::vector<std::string> messages_;
  size_t next_ = 0;
  grpc::Slice slice_;
  grpc::ByteBuffer write_, read_;
  absl::Mutex mu_;
  std::vector<inference::ModelStreamInferResponse> responses_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

TEST_F(BadRequestTest, BytesThatAreNoRequestInAStreamGetAnErrorMessage) {
  std::shared_ptr<grpc::Channel> channel = cluster_->NewChannel();
  ASSERT_NE(channel, nullptr);
  grpc::GenericStub generic(channel);
  Request first = TwoRequest(kRaw);
  first.set_id("good-0");
  Request last = TwoRequest(kTyped);
  last.set_id("good-1");
  RawStream stream(&generic, {first.SerializeAsString(), "\xff\xff\xff\xff garbage", last.SerializeAsString()});
  grpc::Status status;
  std::vector<inference::ModelStreamInferResponse> responses;
  ASSERT_TRUE(stream.Wait(&status, &responses));
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  int good = 0, errors = 0;
  for (const auto& r : responses) {
    if (!r.error_message().empty()) {
      ++errors;
      EXPECT_THAT(r.error_message(), HasSubstr("is not a valid inference.ModelInferRequest protobuf"));
      continue;
    }
    ExpectTwoAnswer(r.infer_response());
    ++good;
  }
  EXPECT_EQ(good, 2);
  EXPECT_EQ(errors, 1);
  EXPECT_TRUE(cluster_->AllAlive());
}

}  // namespace
}  // namespace tessera
