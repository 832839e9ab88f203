// coordinator/frontend/kserve_tensors: request validation, raw vs typed
// contents, output encoding and model metadata.
#include "coordinator/frontend/kserve_tensors.h"

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Model "m" v3, max_batch_size 4: x FP32 [-1,3] and ids INT64 [-1,2] ->
// y FP32 [-1,3], n INT32 [-1].
ModelSignature BatchedSignature() {
  ModelSignature s;
  s.model_name = "m";
  s.version = 3;
  s.max_batch_size = 4;
  s.inputs = {{"x", DataType::kFloat32, {-1, 3}}, {"ids", DataType::kInt64, {-1, 2}}};
  s.outputs = {{"y", DataType::kFloat32, {-1, 3}}, {"n", DataType::kInt32, {-1}}};
  return s;
}

// A valid typed request for BatchedSignature: batch 2.
inference::ModelInferRequest TypedRequest() {
  inference::ModelInferRequest r;
  r.set_model_name("m");
  r.set_id("req-1");
  auto* x = r.add_inputs();
  x->set_name("x");
  x->set_datatype("FP32");
  x->add_shape(2);
  x->add_shape(3);
  for (int i = 0; i < 6; ++i) x->mutable_contents()->add_fp32_contents(0.5f * i);
  auto* ids = r.add_inputs();
  ids->set_name("ids");
  ids->set_datatype("INT64");
  ids->add_shape(2);
  ids->add_shape(2);
  for (int i = 0; i < 4; ++i) ids->mutable_contents()->add_int64_contents(int64_t{1} << (40 + i));
  return r;
}

// The same request with raw contents.
inference::ModelInferRequest RawRequest() {
  inference::ModelInferRequest r = TypedRequest();
  for (auto& in : *r.mutable_inputs()) {
    std::string bytes;
    if (in.datatype() == "FP32") {
      bytes.assign(reinterpret_cast<const char*>(in.contents().fp32_contents().data()),
                   in.contents().fp32_contents_size() * sizeof(float));
    } else {
      bytes.assign(reinterpret_cast<const char*>(in.contents().int64_contents().data()),
                   in.contents().int64_contents_size() * sizeof(int64_t));
    }
    in.clear_contents();
    r.add_raw_input_contents(bytes);
  }
  return r;
}

TEST(DecodeInferInputsTest, TypedRequestDecodesInSignatureOrder) {
  inference::ModelInferRequest r = TypedRequest();
  std::swap(*r.mutable_inputs(0), *r.mutable_inputs(1));  // request order differs
  auto t = DecodeInferInputs(r, BatchedSignature());
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].name, "x");
  EXPECT_EQ((*t)[0].tensor.dtype(), DataType::kFloat32);
  EXPECT_THAT((*t)[0].tensor.shape(), ElementsAre(2, 3));
  EXPECT_THAT((*t)[0].tensor.values<float>(), ElementsAre(0, 0.5, 1, 1.5, 2, 2.5));
  EXPECT_EQ((*t)[1].name, "ids");
  EXPECT_EQ((*t)[1].tensor.values<int64_t>()[3], int64_t{1} << 43);
}

TEST(DecodeInferInputsTest, RawRequestDecodes) {
  auto t = DecodeInferInputs(RawRequest(), BatchedSignature());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT((*t)[0].tensor.values<float>(), ElementsAre(0, 0.5, 1, 1.5, 2, 2.5));
  EXPECT_EQ((*t)[1].tensor.values<int64_t>()[0], int64_t{1} << 40);
}

TEST(DecodeInferInputsTest, MutableRequestGivesUpItsRawBytesWithoutACopy) {
  inference::ModelInferRequest r = RawRequest();
  const void* x_bytes = r.raw_input_contents(0).data();
  auto t = DecodeInferInputs(&r, BatchedSignature());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT((*t)[0].tensor.values<float>(), ElementsAre(0, 0.5, 1, 1.5, 2, 2.5));
  EXPECT_EQ((*t)[1].tensor.values<int64_t>()[0], int64_t{1} << 40);
  // Large enough for the heap: the tensor took over the request's buffer.
  inference::ModelInferRequest big = RawRequest();
  big.mutable_inputs(0)->set_shape(0, 4);
  big.mutable_inputs(1)->set_shape(0, 4);
  big.mutable_raw_input_contents(0)->resize(4 * 3 * sizeof(float), '\0');
  big.mutable_raw_input_contents(1)->resize(4 * 2 * sizeof(int64_t), '\0');
  x_bytes = big.raw_input_contents(1).data();
  t = DecodeInferInputs(&big, BatchedSignature());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)[1].tensor.raw_data(), x_bytes);
  EXPECT_TRUE(big.raw_input_contents(1).empty());
  EXPECT_EQ(big.inputs(1).name(), "ids");  // the rest of the request stays
  EXPECT_EQ(big.id(), "req-1");
}

struct BadRequest {
  std::string what;
  bool raw;  // start from RawRequest() instead of TypedRequest()
  std::function<void(inference::ModelInferRequest*)> mutate;
  absl::StatusCode code;
  std::string message;
};

TEST(DecodeInferInputsTest, RejectsBadRequests) {
  using R = inference::ModelInferRequest;
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  const auto kUnimplemented = absl::StatusCode::kUnimplemented;
  const std::vector<BadRequest> cases = {
      {"missing input", false, [](R* r) { r->mutable_inputs()->RemoveLast(); }, kInvalid,
       "missing input 'ids' (INT64 [-1,2]) of model 'm'"},
      {"unknown input", false, [](R* r) { r->mutable_inputs(1)->set_name("idz"); }, kInvalid,
       "unknown input 'idz'; model 'm' takes 'x', 'ids'"},
      {"duplicated input", false, [](R* r) { *r->add_inputs() = r->inputs(0); }, kInvalid,
       "input 'x' is given more than once"},
      {"unnamed input", false, [](R* r) { r->mutable_inputs(0)->set_name(""); }, kInvalid, "input 0 has no name"},
      {"no datatype", false, [](R* r) { r->mutable_inputs(0)->set_datatype(""); }, kInvalid,
       "input 'x' has no datatype"},
      {"not a KServe datatype", false, [](R* r) { r->mutable_inputs(0)->set_datatype("float32"); }, kInvalid,
       "input 'x' has datatype 'float32', which is not a KServe datatype"},
      {"datatype Tessera cannot run", false, [](R* r) { r->mutable_inputs(0)->set_datatype("FP16"); },
       kUnimplemented, "input 'x': "},
      {"BYTES datatype", false, [](R* r) { r->mutable_inputs(0)->set_datatype("BYTES"); }, kUnimplemented,
       "BYTES"},
      {"datatype differs from the model's", false,
       [](R* r) {
         auto* in = r->mutable_inputs(0);
         in->set_datatype("FP64");
         in->clear_contents();
         for (int i = 0; i < 6; ++i) in->mutable_contents()->add_fp64_contents(1);
       },
       kInvalid, "input 'x' has datatype FP64 but model 'm' expects FP32"},
      {"wrong rank", false, [](R* r) { r->mutable_inputs(0)->add_shape(1); }, kInvalid,
       "input 'x' has shape [2,3,1] (rank 3) but model 'm' expects rank 2: [-1,3]"},
      {"wrong fixed dim", false,
       [](R* r) {
         r->mutable_inputs(0)->set_shape(0, 3);
         r->mutable_inputs(0)->set_shape(1, 2);
         r->mutable_inputs(1)->set_shape(0, 3);
         for (int i = 0; i < 2; ++i) r->mutable_inputs(1)->mutable_contents()->add_int64_contents(0);
       },
       kInvalid, "input 'x' has shape [3,2] but model 'm' expects [-1,3] (dim 1 must be 3)"},
      {"negative dim", false, [](R* r) { r->mutable_inputs(0)->set_shape(1, -3); }, kInvalid,
       "input 'x' has shape [2,-3] with negative dimension -3"},
      {"batch 0", false,
       [](R* r) {
         r->mutable_inputs(0)->set_shape(0, 0);
         r->mutable_inputs(0)->clear_contents();
       },
       kInvalid, "input 'x' has batch size 0 (shape [0,3]); model 'm' takes batches of 1..4"},
      {"batch above max_batch_size", false, [](R* r) { r->mutable_inputs(0)->set_shape(0, 5); }, kInvalid,
       "input 'x' has batch size 5"},
      {"batch sizes differ", false,
       [](R* r) {
         r->mutable_inputs(1)->set_shape(0, 1);
         r->mutable_inputs(1)->mutable_contents()->mutable_int64_contents()->Truncate(2);
       },
       kInvalid, "input 'ids' has batch size 1 but input 'x' has 2"},
      {"element count overflows", false,
       [](R* r) {
         r->mutable_inputs(0)->set_shape(1, int64_t{1} << 62);
       },
       kInvalid, "byte size overflows int64"},
      {"scalar instead of a batch", false, [](R* r) { r->mutable_inputs(0)->clear_shape(); }, kInvalid,
       "input 'x' has shape [] (rank 0) but model 'm' expects rank 2: [-1,3]"},
      {"raw buffers without inputs", true, [](R* r) { r->clear_inputs(); }, kInvalid,
       "raw_input_contents holds 2 buffers but the request has 0 inputs"},
      {"typed contents in the wrong field", false,
       [](R* r) {
         auto* c = r->mutable_inputs(0)->mutable_contents();
         c->clear_fp32_contents();
         for (int i = 0; i < 6; ++i) c->add_fp64_contents(1);
       },
       kInvalid, "input 'x' (FP32) carries its data in fp64_contents; FP32 data goes in fp32_contents"},
      {"typed contents in two fields", false,
       [](R* r) { r->mutable_inputs(1)->mutable_contents()->add_int_contents(1); }, kInvalid,
       "input 'ids' (INT64) carries its data in int_contents; INT64 data goes in int64_contents"},
      {"too few typed values", false,
       [](R* r) { r->mutable_inputs(0)->mutable_contents()->mutable_fp32_contents()->RemoveLast(); }, kInvalid,
       "input 'x' has shape [2,3] (6 elements) but fp32_contents holds 5 values"},
      {"too many typed values", false,
       [](R* r) { r->mutable_inputs(1)->mutable_contents()->add_int64_contents(7); }, kInvalid,
       "input 'ids' has shape [2,2] (4 elements) but int64_contents holds 5 values"},
      {"no data at all", false, [](R* r) { r->mutable_inputs(0)->clear_contents(); }, kInvalid,
       "input 'x' has shape [2,3] (6 elements) but fp32_contents holds 0 values"},
      {"raw buffer count differs", true, [](R* r) { r->mutable_raw_input_contents()->RemoveLast(); }, kInvalid,
       "raw_input_contents holds 1 buffers but the request has 2 inputs"},
      {"raw buffer too short", true, [](R* r) { r->mutable_raw_input_contents(0)->pop_back(); }, kInvalid,
       "input 'x': raw_input_contents[0] holds 23 bytes but shape [2,3] of FP32 needs 24"},
      {"raw buffer too long", true, [](R* r) { r->mutable_raw_input_contents(1)->append("\0", 1); }, kInvalid,
       "input 'ids': raw_input_contents[1] holds 33 bytes but shape [2,2] of INT64 needs 32"},
      {"raw and typed mixed", true,
       [](R* r) { r->mutable_inputs(1)->mutable_contents()->add_int64_contents(1); }, kInvalid,
       "input 'ids' has typed contents but the request uses raw_input_contents"},
      {"shared memory input", false,
       [](R* r) {
         (*r->mutable_inputs(0)->mutable_parameters())["shared_memory_region"].set_string_param("r0");
       },
       kUnimplemented, "input 'x': shared memory inputs are not supported"},
  };
  ASSERT_GE(cases.size(), 25u);
  for (const BadRequest& c : cases) {
    inference::ModelInferRequest r = c.raw ? RawRequest() : TypedRequest();
    c.mutate(&r);
    auto t = DecodeInferInputs(r, BatchedSignature());
    ASSERT_FALSE(t.ok()) << c.what;
    EXPECT_EQ(t.status().code(), c.code) << c.what << ": " << t.status();
    EXPECT_THAT(t.status().message(), HasSubstr(c.message)) << c.what;
  }
}

// Unbatched model over every executable datatype, for range checks, the
// byte limit and raw/typed equivalence.
ModelSignature AllTypesSignature() {
  ModelSignature s;
  s.model_name = "types";
  s.version = 1;
  s.inputs = {{"b", DataType::kBool, {-1}},    {"u8", DataType::kUint8, {-1}},   {"i8", DataType::kInt8, {-1}},
              {"i32", DataType::kInt32, {-1}}, {"i64", DataType::kInt64, {-1}},  {"f32", DataType::kFloat32, {-1}},
              {"f64", DataType::kFloat64, {-1}}};
  s.outputs = s.inputs;
  return s;
}

inference::ModelInferRequest AllTypesTyped() {
  inference::ModelInferRequest r;
  auto add = [&](const char* name, const char* dt) {
    auto* in = r.add_inputs();
    in->set_name(name);
    in->set_datatype(dt);
    in->add_shape(4);
    return in->mutable_contents();
  };
  auto* b = add("b", "BOOL");
  for (bool v : {true, false, false, true}) b->add_bool_contents(v);
  auto* u8 = add("u8", "UINT8");
  for (uint32_t v : {0u, 1u, 128u, 255u}) u8->add_uint_contents(v);
  auto* i8 = add("i8", "INT8");
  for (int32_t v : {-128, -1, 0, 127}) i8->add_int_contents(v);
  auto* i32 = add("i32", "INT32");
  for (int32_t v : {INT32_MIN, -7, 0, INT32_MAX}) i32->add_int_contents(v);
  auto* i64 = add("i64", "INT64");
  for (int64_t v : {INT64_MIN, int64_t{-9}, int64_t{1} << 50, INT64_MAX}) i64->add_int64_contents(v);
  auto* f32 = add("f32", "FP32");
  for (float v : {-1.5f, 0.0f, 3.25e-20f, 1e30f}) f32->add_fp32_contents(v);
  auto* f64 = add("f64", "FP64");
  for (double v : {-1.5, 0.1, 1e-300, 1e300}) f64->add_fp64_contents(v);
  return r;
}

// Little-endian element bytes of `values` as type T.
template <typename T, typename V>
std::string RawOf(const std::vector<V>& values) {
  std::string s;
  for (V v : values) {
    T t = static_cast<T>(v);
    s.append(reinterpret_cast<const char*>(&t), sizeof(T));
  }
  return s;
}

inference::ModelInferRequest AllTypesRaw() {
  inference::ModelInferRequest r = AllTypesTyped();
  for (auto& in : *r.mutable_inputs()) in.clear_contents();
  r.add_raw_input_contents(RawOf<uint8_t>(std::vector<int>{1, 0, 0, 1}));
  r.add_raw_input_contents(RawOf<uint8_t>(std::vector<int>{0, 1, 128, 255}));
  r.add_raw_input_contents(RawOf<int8_t>(std::vector<int>{-128, -1, 0, 127}));
  r.add_raw_input_contents(RawOf<int32_t>(std::vector<int32_t>{INT32_MIN, -7, 0, INT32_MAX}));
  r.add_raw_input_contents(
      RawOf<int64_t>(std::vector<int64_t>{INT64_MIN, int64_t{-9}, int64_t{1} << 50, INT64_MAX}));
  r.add_raw_input_contents(RawOf<float>(std::vector<float>{-1.5f, 0.0f, 3.25e-20f, 1e30f}));
  r.add_raw_input_contents(RawOf<double>(std::vector<double>{-1.5, 0.1, 1e-300, 1e300}));
  return r;
}

TEST(DecodeInferInputsTest, RawAndTypedGiveIdenticalTensorsForEveryDatatype) {
  auto typed = DecodeInferInputs(AllTypesTyped(), AllTypesSignature());
  auto raw = DecodeInferInputs(AllTypesRaw(), AllTypesSignature());
  ASSERT_TRUE(typed.ok()) << typed.status();
  ASSERT_TRUE(raw.ok()) << raw.status();
  ASSERT_EQ(typed->size(), 7u);
  ASSERT_EQ(raw->size(), 7u);
  for (size_t i = 0; i < typed->size(); ++i) {
    const Tensor& a = (*typed)[i].tensor;
    const Tensor& b = (*raw)[i].tensor;
    EXPECT_EQ((*typed)[i].name, (*raw)[i].name);
    EXPECT_EQ(a.dtype(), b.dtype()) << (*typed)[i].name;
    EXPECT_EQ(a.shape(), b.shape()) << (*typed)[i].name;
    ASSERT_EQ(a.byte_size(), b.byte_size()) << (*typed)[i].name;
    EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.byte_size()), 0) << (*typed)[i].name;
  }
  EXPECT_THAT((*typed)[2].tensor.values<int8_t>(), ElementsAre(-128, -1, 0, 127));
  EXPECT_THAT((*typed)[1].tensor.values<uint8_t>(), ElementsAre(0, 1, 128, 255));
}

TEST(DecodeInferInputsTest, RejectsOutOfRangeAndBadBoolValues) {
  inference::ModelInferRequest r = AllTypesTyped();
  r.mutable_inputs(2)->mutable_contents()->set_int_contents(1, 128);
  auto t = DecodeInferInputs(r, AllTypesSignature());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("input 'i8': value 128 at index 1 is out of range for INT8 (-128..127)"));

  r = AllTypesTyped();
  r.mutable_inputs(2)->mutable_contents()->set_int_contents(0, -129);
  EXPECT_THAT(DecodeInferInputs(r, AllTypesSignature()).status().message(), HasSubstr("value -129 at index 0"));

  r = AllTypesTyped();
  r.mutable_inputs(1)->mutable_contents()->set_uint_contents(3, 256);
  t = DecodeInferInputs(r, AllTypesSignature());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("input 'u8': value 256 at index 3 is out of range for UINT8 (0..255)"));

  r = AllTypesRaw();
  (*r.mutable_raw_input_contents(0))[2] = 2;
  t = DecodeInferInputs(r, AllTypesSignature());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("input 'b': BOOL byte 2 is 2; BOOL bytes are 0 or 1"));
}

TEST(DecodeInferInputsTest, EnforcesTheRequestByteLimit) {
  KServeTensorOptions options;
  options.max_request_bytes = 64;  // the request holds 4*(1+1+1+4+8+4+8) = 108 bytes
  auto t = DecodeInferInputs(AllTypesTyped(), AllTypesSignature(), options);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(t.status().message(), HasSubstr("over the per-request limit of 64 bytes"));
  options.max_request_bytes = 108;
  EXPECT_TRUE(DecodeInferInputs(AllTypesTyped(), AllTypesSignature(), options).ok());
}

TEST(DecodeInferInputsTest, ByteLimitIsCheckedFromTheDeclaredShapeBeforeTheContents) {
  // A declared shape of 2^30 x 3 FP32 (12 GiB) with no data at all: refused
  // for its declared size (the contents are never looked at, nothing is
  // allocated), raw or typed.
  ModelSignature sig;
  sig.model_name = "big";
  sig.version = 1;
  sig.inputs = {{"x", DataType::kFloat32, {-1, 3}}};
  sig.outputs = {{"y", DataType::kFloat32, {-1, 3}}};
  inference::ModelInferRequest r;
  r.set_model_name("big");
  auto* x = r.add_inputs();
  x->set_name("x");
  x->set_datatype("FP32");
  x->add_shape(int64_t{1} << 30);
  x->add_shape(3);
  KServeTensorOptions options;  // the default limit, 256 MiB
  auto t = DecodeInferInputs(r, sig, options);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(t.status().message(),
              HasSubstr("input 'x' declares [1073741824,3] of FP32 = 12884901888 bytes, taking the request's input "
                        "tensors to 12884901888 bytes, over the per-request limit of 268435456 bytes"));
  r.add_raw_input_contents("abcd");
  t = DecodeInferInputs(r, sig, options);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kResourceExhausted);
  // Just within the limit, the contents are then checked.
  r.mutable_inputs(0)->set_shape(0, (int64_t{256} << 20) / 12);
  t = DecodeInferInputs(r, sig, options);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("raw_input_contents[0] holds 4 bytes"));
}

TEST(DecodeInferInputsTest, UnbatchedModelsAcceptZeroSizedDims) {
  inference::ModelInferRequest r = AllTypesRaw();
  for (int i = 0; i < r.inputs_size(); ++i) {
    r.mutable_inputs(i)->set_shape(0, 0);
    r.mutable_raw_input_contents(i)->clear();
  }
  auto t = DecodeInferInputs(r, AllTypesSignature());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)[0].tensor.num_elements(), 0);
}

TEST(CheckInferRequestParametersTest, ChecksTheParametersTesseraReads) {
  inference::ModelInferRequest r = RawRequest();
  auto p = CheckInferRequestParameters(r);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->timeout, absl::InfiniteDuration());
  (*r.mutable_parameters())["timeout"].set_int64_param(2500);
  (*r.mutable_parameters())["priority"].set_uint64_param(3);
  (*r.mutable_parameters())["binary_data_output"].set_bool_param(true);
  (*r.mutable_parameters())["anything_else"].set_string_param("ignored");
  p = CheckInferRequestParameters(r);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->timeout, absl::Microseconds(2500));

  auto refused = [](const std::string& key, std::function<void(inference::InferParameter*)> set,
                    absl::StatusCode code, const std::string& message) {
    inference::ModelInferRequest bad = RawRequest();
    set(&(*bad.mutable_parameters())[key]);
    auto st = CheckInferRequestParameters(bad).status();
    EXPECT_EQ(st.code(), code) << key << ": " << st;
    EXPECT_THAT(st.message(), HasSubstr(message)) << key;
  };
  refused("timeout", [](auto* v) { v->set_string_param("5s"); }, absl::StatusCode::kInvalidArgument,
          "request parameter 'timeout' is a string_param; it must be an int64_param or uint64_param");
  refused("timeout", [](auto* v) { v->set_int64_param(-1); }, absl::StatusCode::kInvalidArgument,
          "request parameter 'timeout' is -1; it must be >= 0");
  refused("priority", [](auto* v) { v->set_double_param(0.5); }, absl::StatusCode::kInvalidArgument,
          "request parameter 'priority' is a double_param");
  refused("binary_data_output", [](auto* v) { v->set_int64_param(1); }, absl::StatusCode::kInvalidArgument,
          "'binary_data_output' is a int64_param; it must be a bool_param");
  refused("sequence_id", [](auto* v) { v->set_int64_param(7); }, absl::StatusCode::kUnimplemented,
          "sequence batching is not supported");
  refused("shared_memory_region", [](auto* v) { v->set_string_param("r"); }, absl::StatusCode::kUnimplemented,
          "shared memory");
}

TEST(RequestedOutputNamesTest, EmptyMeansAllAndErrorsNameTheOutput) {
  inference::ModelInferRequest r = TypedRequest();
  EXPECT_THAT(*RequestedOutputNames(r, BatchedSignature()), ElementsAre("y", "n"));
  r.add_outputs()->set_name("n");
  EXPECT_THAT(*RequestedOutputNames(r, BatchedSignature()), ElementsAre("n"));

  r.add_outputs()->set_name("nope");
  auto names = RequestedOutputNames(r, BatchedSignature());
  EXPECT_EQ(names.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(names.status().message(), HasSubstr("unknown requested output 'nope'; model 'm' has outputs 'y', 'n'"));

  r.mutable_outputs(1)->set_name("n");
  names = RequestedOutputNames(r, BatchedSignature());
  EXPECT_EQ(names.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(names.status().message(), HasSubstr("requested output 'n' is requested more than once"));

  r.mutable_outputs(1)->set_name("");
  EXPECT_THAT(RequestedOutputNames(r, BatchedSignature()).status().message(),
              HasSubstr("requested output 1 has no name"));

  r.mutable_outputs()->RemoveLast();
  (*r.mutable_outputs(0)->mutable_parameters())["classification"].set_int64_param(3);
  names = RequestedOutputNames(r, BatchedSignature());
  EXPECT_EQ(names.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(names.status().message(), HasSubstr("requested output 'n': classification"));
}

TEST(EncodeInferOutputsTest, RoundTripsEveryDatatype) {
  const ModelSignature sig = AllTypesSignature();
  auto inputs = DecodeInferInputs(AllTypesTyped(), sig);
  ASSERT_TRUE(inputs.ok());
  inference::ModelInferRequest request;
  request.set_id("abc");
  inference::ModelInferResponse response;
  ASSERT_TRUE(EncodeInferOutputs(sig, request, *inputs, &response).ok());
  EXPECT_EQ(response.model_name(), "types");
  EXPECT_EQ(response.model_version(), "1");
  EXPECT_EQ(response.id(), "abc");
  ASSERT_EQ(response.outputs_size(), 7);
  ASSERT_EQ(response.raw_output_contents_size(), 7);
  EXPECT_EQ(response.outputs(3).name(), "i32");
  EXPECT_EQ(response.outputs(3).datatype(), "INT32");
  EXPECT_THAT(response.outputs(3).shape(), ElementsAre(4));
  EXPECT_EQ(response.raw_output_contents(6), AllTypesRaw().raw_input_contents(6));

  // Through the wire and back.
  inference::ModelInferResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(response.SerializeAsString()));
  auto outputs = DecodeInferOutputs(parsed);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  ASSERT_EQ(outputs->size(), inputs->size());
  for (size_t i = 0; i < outputs->size(); ++i) {
    const Tensor& a = (*inputs)[i].tensor;
    const Tensor& b = (*outputs)[i].tensor;
    EXPECT_EQ((*outputs)[i].name, (*inputs)[i].name);
    EXPECT_EQ(a.dtype(), b.dtype());
    EXPECT_EQ(a.shape(), b.shape());
    EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.byte_size()), 0) << (*inputs)[i].name;
  }
}

TEST(EncodeInferOutputsTest, MovesBytesItHoldsAloneAndCopiesSharedOnes) {
  const ModelSignature sig = BatchedSignature();
  std::string y_bytes(2 * 3 * sizeof(float), '\0');
  for (int i = 0; i < 6; ++i) {
    const float v = 1.5f * i;
    std::memcpy(y_bytes.data() + i * sizeof(float), &v, sizeof v);
  }
  const std::string expected_y = y_bytes;
  Tensor y = Tensor::FromBytes(DataType::kFloat32, {2, 3}, std::move(y_bytes));
  const void* y_data = y.raw_data();
  Tensor n = Tensor::FromVector<int32_t>({2}, {7, 8});
  const Tensor n_holder = n;  // a second holder: must be copied, and stay intact
  std::vector<NamedTensor> outputs;
  outputs.push_back({"y", std::move(y)});
  outputs.push_back({"n", n});
  inference::ModelInferRequest request;
  inference::ModelInferResponse response;
  ASSERT_TRUE(EncodeInferOutputs(sig, request, std::move(outputs), &response).ok());
  ASSERT_EQ(response.raw_output_contents_size(), 2);
  EXPECT_EQ(response.raw_output_contents(0), expected_y);
  EXPECT_EQ(static_cast<const void*>(response.raw_output_contents(0).data()), y_data);
  EXPECT_EQ(response.raw_output_contents(1).size(), 2 * sizeof(int32_t));
  EXPECT_THAT(n_holder.values<int32_t>(), ElementsAre(7, 8));
}

TEST(EncodeInferOutputsTest, SubsetInRequestedOrder) {
  const ModelSignature sig = BatchedSignature();
  std::vector<NamedTensor> outs = {{"n", Tensor::FromVector<int32_t>({2}, {7, 8})},
                                   {"y", Tensor::FromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6})}};
  inference::ModelInferResponse response;
  ASSERT_TRUE(EncodeInferOutputs(sig, inference::ModelInferRequest(), outs, &response).ok());
  EXPECT_EQ(response.model_version(), "3");
  EXPECT_EQ(response.outputs(0).name(), "n");
  EXPECT_EQ(response.outputs(1).name(), "y");
  EXPECT_THAT(response.outputs(1).shape(), ElementsAre(2, 3));
  EXPECT_EQ(response.raw_output_contents(0).size(), 8u);
}

TEST(EncodeInferOutputsTest, UpstreamMistakesAreInternal) {
  const ModelSignature sig = BatchedSignature();
  inference::ModelInferResponse response;
  std::vector<NamedTensor> unknown = {{"zz", Tensor::FromVector<float>({1}, {1})}};
  EXPECT_EQ(EncodeInferOutputs(sig, {}, unknown, &response).code(), absl::StatusCode::kInternal);
  std::vector<NamedTensor> wrong_type = {{"y", Tensor::FromVector<double>({1, 3}, {1, 2, 3})}};
  EXPECT_EQ(EncodeInferOutputs(sig, {}, wrong_type, &response).code(), absl::StatusCode::kInternal);
  KServeTensorOptions small;
  small.max_response_bytes = 8;
  std::vector<NamedTensor> big = {{"y", Tensor::FromVector<float>({1, 3}, {1, 2, 3})}};
  EXPECT_EQ(EncodeInferOutputs(sig, {}, big, &response, small).code(), absl::StatusCode::kResourceExhausted);
}

TEST(DecodeInferOutputsTest, ChecksResponses) {
  inference::ModelInferResponse r;
  auto* o = r.add_outputs();
  o->set_name("y");
  o->set_datatype("FP32");
  o->add_shape(2);
  o->mutable_contents()->add_fp32_contents(1);
  EXPECT_THAT(DecodeInferOutputs(r).status().message(), HasSubstr("output 'y' has shape [2] (2 elements)"));
  o->mutable_contents()->add_fp32_contents(2);
  auto t = DecodeInferOutputs(r);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT((*t)[0].tensor.values<float>(), ElementsAre(1, 2));
  r.add_raw_output_contents("12345678");
  r.add_raw_output_contents("12345678");
  EXPECT_THAT(DecodeInferOutputs(r).status().message(), HasSubstr("raw_output_contents holds 2 buffers"));
}

TEST(MakeModelMetadataTest, ShowsTheBatchDimFirst) {
  LoadedModelVersion model;
  model.name = "m";
  model.version = 3;
  model.config.set_platform("onnxruntime_onnx");
  model.signature = BatchedSignature();
  const std::vector<int64_t> versions = {2, 3};
  inference::ModelMetadataResponse md = MakeModelMetadata(model, versions);
  EXPECT_EQ(md.name(), "m");
  EXPECT_THAT(md.versions(), ElementsAre("2", "3"));
  EXPECT_EQ(md.platform(), "onnxruntime_onnx");
  ASSERT_EQ(md.inputs_size(), 2);
  EXPECT_EQ(md.inputs(1).name(), "ids");
  EXPECT_EQ(md.inputs(1).datatype(), "INT64");
  EXPECT_THAT(md.inputs(1).shape(), ElementsAre(-1, 2));
  ASSERT_EQ(md.outputs_size(), 2);
  EXPECT_EQ(md.outputs(1).datatype(), "INT32");
  EXPECT_THAT(md.outputs(1).shape(), ElementsAre(-1));
}

TEST(SignatureFromConfigTest, PrependsTheBatchDim) {
  inference::ModelConfig c;
  c.set_name("m");
  c.set_max_batch_size(8);
  auto* in = c.add_input();
  in->set_name("x");
  in->set_data_type(inference::TYPE_UINT8);
  in->add_dims(3);
  in->add_dims(-1);
  auto* out = c.add_output();
  out->set_name("y");
  out->set_data_type(inference::TYPE_BOOL);
  auto sig = SignatureFromConfig(c, 5);
  ASSERT_TRUE(sig.ok()) << sig.status();
  EXPECT_EQ(sig->version, 5);
  EXPECT_THAT(sig->inputs[0].shape, ElementsAre(-1, 3, -1));
  EXPECT_EQ(sig->inputs[0].dtype, DataType::kUint8);
  EXPECT_THAT(sig->outputs[0].shape, ElementsAre(-1));
  c.mutable_output(0)->set_data_type(inference::TYPE_FP16);
  EXPECT_EQ(SignatureFromConfig(c, 5).status().code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace tessera::coordinator
