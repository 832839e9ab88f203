// coordinator/repository/model_repository: several models and versions on
// disk, version policies, bad configs and bad models, load / unload / reload.
#include "coordinator/repository/model_repository.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/model_builder.h"

namespace tessera::coordinator {
namespace {

namespace fs = std::filesystem;
using engine::testing::ModelBuilder;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// x [-1,4] FP32 -> Relu -> y [-1,4].
std::string ReluModel() {
  ModelBuilder b;
  b.Input("x", onnx::TensorProto::FLOAT, {-1, 4}).Node("Relu", {"x"}, {"y"}).Output("y", {-1, 4});
  return b.Bytes();
}

// a, b [-1,3] FP32 -> Add -> sum; ids [-1,2] INT64 -> Identity -> ids_out.
std::string TwoInputModel() {
  ModelBuilder b;
  b.Input("a", onnx::TensorProto::FLOAT, {-1, 3})
      .Input("b", onnx::TensorProto::FLOAT, {-1, 3})
      .Input("ids", onnx::TensorProto::INT64, {-1, 2})
      .Node("Add", {"a", "b"}, {"sum"})
      .Node("Identity", {"ids"}, {"ids_out"})
      .Output("sum", {-1, 3})
      .Output("ids_out", onnx::TensorProto::INT64, {-1, 2});
  return b.Bytes();
}

std::string UnsupportedOpModel() {
  ModelBuilder b;
  auto* imp = b.proto().add_opset_import();
  imp->set_domain("com.example");
  imp->set_version(1);
  b.Input("x", onnx::TensorProto::FLOAT, {-1, 4})
      .Node("FancyOp", {"x"}, {"y"}, {}, "fancy", "com.example")
      .Output("y", {-1, 4});
  return b.Bytes();
}

class TempRepository {
 public:
  TempRepository() {
    static std::atomic<int> counter{0};
    root_ = fs::path(::testing::TempDir()) /
            absl::StrCat("tessera_repo_", ::getpid(), "_", counter.fetch_add(1));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  ~TempRepository() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  std::string root() const { return root_.string(); }
  void Config(const std::string& model, const std::string& text) {
    fs::create_directories(root_ / model);
    std::ofstream(root_ / model / "config.pbtxt") << text;
  }
  void Model(const std::string& model, int version, const std::string& bytes,
             const std::string& filename = "model.onnx") {
    fs::create_directories(root_ / model / std::to_string(version));
    std::ofstream(root_ / model / std::to_string(version) / filename, std::ios::binary) << bytes;
  }
  void RemoveVersion(const std::string& model, int version) { fs::remove_all(root_ / model / std::to_string(version)); }

 private:
  fs::path root_;
};

std::unique_ptr<ModelRepository> Open(const TempRepository& repo) {
  auto r = ModelRepository::Create({.root = repo.root()});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : nullptr;
}

std::string IndexString(const ModelRepository& r, bool ready_only = false) {
  std::string s;
  for (const ModelIndexEntry& e : r.Index(ready_only)) {
    absl::StrAppend(&s, e.name, "/", e.version, "=", ModelVersionStateName(e.state), ";");
  }
  return s;
}

TEST(ModelRepositoryTest, CreateNeedsADirectory) {
  auto r = ModelRepository::Create({.root = "/nonexistent/tessera/repo"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("/nonexistent/tessera/repo"));
}

TEST(ModelRepositoryTest, LoadsSeveralModelsAndVersions) {
  TempRepository repo;
  repo.Config("relu", "platform: \"onnx\" max_batch_size: 8");
  repo.Model("relu", 1, ReluModel());
  repo.Model("relu", 2, ReluModel());
  repo.Config("pair", R"pb(name: "pair" backend: "onnxruntime"
    input [ { name: "a" data_type: TYPE_FP32 dims: [ -1, 3 ] },
            { name: "b" data_type: TYPE_FP32 dims: [ 2, 3 ] },
            { name: "ids" data_type: TYPE_INT64 dims: [ -1, 2 ] } ])pb");
  repo.Model("pair", 7, TwoInputModel());
  auto r = Open(repo);
  ASSERT_TRUE(r->LoadAll().ok());
  EXPECT_EQ(IndexString(*r), "pair/7=READY;relu/2=READY;");

  auto relu = r->Get("relu", "");
  ASSERT_TRUE(relu.ok()) << relu.status();
  EXPECT_EQ((*relu)->version, 2);  // latest 1 by default
  EXPECT_EQ((*relu)->config.platform(), "onnxruntime_onnx");
  EXPECT_EQ((*relu)->model_bytes, ReluModel());
  EXPECT_THAT((*relu)->model_path, HasSubstr("relu/2/model.onnx"));
  ASSERT_EQ((*relu)->config.input_size(), 1);  // completed from the model
  EXPECT_THAT((*relu)->config.input(0).dims(), ElementsAre(4));
  ASSERT_EQ((*relu)->signature.inputs.size(), 1u);
  EXPECT_THAT((*relu)->signature.inputs[0].shape, ElementsAre(-1, 4));
  EXPECT_EQ((*relu)->signature.max_batch_size, 8);
  ASSERT_EQ((*relu)->onnx_outputs.size(), 1u);
  EXPECT_EQ((*relu)->onnx_outputs[0].name, "y");

  auto pair = r->Get("pair", "7");
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_EQ((*pair)->signature.inputs.size(), 3u);
  EXPECT_THAT((*pair)->signature.inputs[1].shape, ElementsAre(2, 3));  // narrowed by the config
  EXPECT_EQ((*pair)->config.output_size(), 2);                        // completed

  EXPECT_EQ(r->Get("relu", "1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r->Get("relu", "1").status().message(), HasSubstr("ready versions: 2"));
  EXPECT_EQ(r->Get("relu", "two").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r->Get("nope", "").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r->Get("nope", "").status().message(), HasSubstr("unknown model 'nope'"));
}

TEST(ModelRepositoryTest, VersionPolicies) {
  TempRepository repo;
  for (const char* m : {"latest2", "all", "specific", "missing"}) {
    for (int v : {1, 2, 3}) repo.Model(m, v, ReluModel());
  }
  repo.Config("latest2", "platform: \"onnx\" version_policy { latest { num_versions: 2 } }");
  repo.Config("all", "platform: \"onnx\" version_policy { all { } }");
  repo.Config("specific", "platform: \"onnx\" version_policy { specific { versions: [ 3, 1 ] } }");
  repo.Config("missing", "platform: \"onnx\" version_policy { specific { versions: [ 1, 5 ] } }");
  // Not versions: ignored.
  fs::create_directories(fs::path(repo.root()) / "all" / "01");
  fs::create_directories(fs::path(repo.root()) / "all" / "0");
  fs::create_directories(fs::path(repo.root()) / "all" / "v4");
  auto r = Open(repo);
  absl::Status st = r->LoadAll();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), AllOf(HasSubstr("1 of 4 models failed"), HasSubstr("names version 5")));
  EXPECT_THAT(r->ReadyVersions("latest2"), ElementsAre(2, 3));
  EXPECT_THAT(r->ReadyVersions("all"), ElementsAre(1, 2, 3));
  EXPECT_THAT(r->ReadyVersions("specific"), ElementsAre(1, 3));
  EXPECT_THAT(r->ReadyVersions("missing"), ElementsAre());
  EXPECT_EQ((*r->Get("specific", ""))->version, 3);
  EXPECT_EQ((*r->Get("specific", "1"))->version, 1);
  EXPECT_EQ(IndexString(*r, /*ready_only=*/true),
            "all/1=READY;all/2=READY;all/3=READY;latest2/2=READY;latest2/3=READY;specific/1=READY;specific/3=READY;");
}

TEST(ModelRepositoryTest, DefaultModelFilenameIsHonoured) {
  TempRepository repo;
  repo.Config("m", "platform: \"onnx\" default_model_filename: \"net.onnx\"");
  repo.Model("m", 1, ReluModel(), "net.onnx");
  auto r = Open(repo);
  ASSERT_TRUE(r->Load("m").ok()) << r->Load("m");
  EXPECT_THAT((*r->Get("m", ""))->model_path, HasSubstr("m/1/net.onnx"));

  repo.Config("m", "platform: \"onnx\"");  // now model.onnx is looked for
  absl::Status st = r->Load("m");
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(st.message(), AllOf(HasSubstr("model 'm' version 1"), HasSubstr("m/1/model.onnx' does not exist")));
}

TEST(ModelRepositoryTest, BadConfigsFailAloneWithClearErrors) {
  TempRepository repo;
  repo.Config("good", "platform: \"onnx\"");
  repo.Model("good", 1, ReluModel());
  repo.Config("unknown_field", "platform: \"onnx\"\nmax_batch: 3\n");
  repo.Model("unknown_field", 1, ReluModel());
  repo.Config("wrong_platform", "platform: \"pytorch_libtorch\"");
  repo.Model("wrong_platform", 1, ReluModel());
  repo.Config("name_mismatch", "name: \"other\" platform: \"onnx\"");
  repo.Model("name_mismatch", 1, ReluModel());
  repo.Config("bad_dims", "platform: \"onnx\" input [ { name: \"x\" data_type: TYPE_FP32 dims: [ -1, 5 ] } ]");
  repo.Model("bad_dims", 1, ReluModel());
  repo.Config("wrong_type", "platform: \"onnx\" input [ { name: \"x\" data_type: TYPE_INT64 dims: [ -1, 4 ] } ]");
  repo.Model("wrong_type", 1, ReluModel());
  repo.Config("no_versions", "platform: \"onnx\"");
  fs::create_directories(fs::path(repo.root()) / "no_config" / "1");
  auto r = Open(repo);
  absl::Status all = r->LoadAll();
  EXPECT_THAT(all.message(), HasSubstr("7 of 8 models failed to load"));
  EXPECT_TRUE(r->Get("good", "").ok());

  struct Case {
    const char* model;
    absl::StatusCode code;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {"unknown_field", absl::StatusCode::kInvalidArgument, {"unknown_field/config.pbtxt:2:", "max_batch"}},
      {"wrong_platform", absl::StatusCode::kInvalidArgument, {"pytorch_libtorch", "ONNX"}},
      {"name_mismatch", absl::StatusCode::kInvalidArgument, {"'other' but its directory is 'name_mismatch'"}},
      {"bad_dims", absl::StatusCode::kInvalidArgument, {"version 1", "input 'x'", "[-1,5]", "[-1,4]"}},
      {"wrong_type", absl::StatusCode::kInvalidArgument, {"TYPE_INT64", "TYPE_FP32"}},
      {"no_versions", absl::StatusCode::kNotFound, {"model 'no_versions'", "no version directory"}},
      {"no_config", absl::StatusCode::kNotFound, {"no_config/config.pbtxt", "does not exist"}},
  };
  const std::vector<ModelIndexEntry> index = r->Index();
  for (const Case& c : cases) {
    absl::Status st = r->Load(c.model);
    EXPECT_EQ(st.code(), c.code) << c.model << ": " << st;
    for (const std::string& part : c.parts) EXPECT_THAT(st.message(), HasSubstr(part)) << c.model;
    EXPECT_EQ(r->Get(c.model, "").status().code(), absl::StatusCode::kNotFound);
    bool listed = false;
    for (const ModelIndexEntry& e : index) {
      if (e.name != c.model) continue;
      listed = true;
      EXPECT_EQ(e.state, ModelVersionState::kUnavailable);
      EXPECT_EQ(e.reason, std::string(st.message())) << c.model;
    }
    EXPECT_TRUE(listed) << c.model;
  }
  EXPECT_TRUE(r->Get("good", "").ok());
}

TEST(ModelRepositoryTest, BadModelsFailAloneWithClearErrors) {
  TempRepository repo;
  const std::string good = ReluModel();
  for (const char* m : {"good", "garbage", "truncated", "unsupported", "empty"}) {
    repo.Config(m, "platform: \"onnx\" max_batch_size: 4");
  }
  repo.Model("good", 1, good);
  repo.Model("garbage", 1, "this is not an ONNX model at all \x01\x02\x03");
  repo.Model("truncated", 1, good.substr(0, good.size() / 2));
  repo.Model("unsupported", 1, UnsupportedOpModel());
  repo.Model("empty", 1, "");
  auto r = Open(repo);
  EXPECT_THAT(r->LoadAll().message(), HasSubstr("4 of 5 models failed"));
  for (const char* m : {"garbage", "truncated", "unsupported", "empty"}) {
    absl::Status st = r->Load(m);
    EXPECT_FALSE(st.ok()) << m;
    EXPECT_THAT(st.message(), AllOf(HasSubstr(absl::StrCat("model '", m, "' version 1")),
                                    HasSubstr(absl::StrCat(m, "/1/model.onnx"))))
        << st;
    EXPECT_EQ(r->Get(m, "").status().code(), absl::StatusCode::kNotFound);
  }
  EXPECT_THAT(r->Load("unsupported").message(), HasSubstr("FancyOp"));
  EXPECT_TRUE(r->Get("good", "").ok());
  EXPECT_EQ(IndexString(*r, true), "good/1=READY;");
}

TEST(ModelRepositoryTest, UnsupportedElementTypeIsAClearError) {
  TempRepository repo;
  ModelBuilder b;
  b.Input("x", onnx::TensorProto::FLOAT16, {-1, 4}).Node("Relu", {"x"}, {"y"}).Output(
      "y", onnx::TensorProto::FLOAT16, {-1, 4});
  repo.Config("half", "platform: \"onnx\"");
  repo.Model("half", 1, b.Bytes());
  auto r = Open(repo);
  absl::Status st = r->Load("half");
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(st.message(), AllOf(HasSubstr("model 'half' version 1"), HasSubstr("FLOAT16")));
}

TEST(ModelRepositoryTest, CompletesBatchedMultiInputModels) {
  TempRepository repo;
  repo.Config("pair", "platform: \"onnx\" max_batch_size: 4 dynamic_batching { preferred_batch_size: [ 2, 4 ] }");
  repo.Model("pair", 1, TwoInputModel());
  auto r = Open(repo);
  ASSERT_TRUE(r->Load("pair").ok()) << r->Load("pair");
  auto m = r->Get("pair", "1");
  ASSERT_TRUE(m.ok());
  const inference::ModelConfig& c = (*m)->config;
  ASSERT_EQ(c.input_size(), 3);
  EXPECT_EQ(c.input(2).name(), "ids");
  EXPECT_EQ(c.input(2).data_type(), inference::TYPE_INT64);
  EXPECT_THAT(c.input(2).dims(), ElementsAre(2));
  ASSERT_EQ(c.output_size(), 2);
  EXPECT_EQ(c.output(1).data_type(), inference::TYPE_INT64);
  EXPECT_THAT((*m)->signature.outputs[0].shape, ElementsAre(-1, 3));
  EXPECT_EQ(c.dynamic_batching().preferred_batch_size_size(), 2);
}

TEST(ModelRepositoryTest, OneBadVersionFailsTheWholeLoad) {
  TempRepository repo;
  repo.Config("m", "platform: \"onnx\" version_policy { all { } }");
  repo.Model("m", 1, ReluModel());
  repo.Model("m", 2, "garbage");
  auto r = Open(repo);
  absl::Status st = r->Load("m");
  EXPECT_THAT(st.message(), HasSubstr("model 'm' version 2"));
  EXPECT_THAT(r->ReadyVersions("m"), ElementsAre());
}

TEST(ModelRepositoryTest, LoadUnloadReload) {
  TempRepository repo;
  repo.Config("m", "platform: \"onnx\" max_batch_size: 2");
  repo.Model("m", 1, ReluModel());
  repo.Config("other", "platform: \"onnx\"");
  repo.Model("other", 1, TwoInputModel());
  auto r = Open(repo);
  ASSERT_TRUE(r->LoadAll().ok());
  std::shared_ptr<const LoadedModelVersion> v1 = *r->Get("m", "");
  const std::shared_ptr<const LoadedModelVersion> other = *r->Get("other", "");

  // A new version appears; Load picks it up (latest 1), v1 is retired but
  // still held here: UNLOADING.
  repo.Model("m", 2, ReluModel());
  ASSERT_TRUE(r->Load("m").ok());
  EXPECT_EQ((*r->Get("m", ""))->version, 2);
  EXPECT_EQ(IndexString(*r), "m/1=UNLOADING;m/2=READY;other/1=READY;");
  EXPECT_EQ(v1->version, 1);  // still valid
  v1.reset();
  EXPECT_EQ(IndexString(*r), "m/1=UNAVAILABLE;m/2=READY;other/1=READY;");

  // A failed reload keeps serving what was there: a bad config, then a
  // corrupt model file.
  repo.Config("m", "platform: \"onnx\" max_batch_size: 2\nbogus: 1\n");
  absl::Status st = r->Load("m");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*r->Get("m", ""))->version, 2);
  repo.Config("m", "platform: \"onnx\" max_batch_size: 2");
  std::shared_ptr<const LoadedModelVersion> v2 = *r->Get("m", "");
  repo.Model("m", 2, "corrupt");
  st = r->Load("m");
  EXPECT_THAT(st.message(), HasSubstr("model 'm' version 2"));
  EXPECT_EQ(*r->Get("m", ""), v2);
  EXPECT_EQ(IndexString(*r, true), "m/2=READY;other/1=READY;");
  repo.Model("m", 2, ReluModel());

  // Unload, then Get fails with the reason; other models are untouched.
  ASSERT_TRUE(r->Unload("m").ok());
  EXPECT_EQ(r->Get("m", "").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r->Get("m", "").status().message(), HasSubstr("unloaded"));
  EXPECT_EQ(IndexString(*r), "m/1=UNAVAILABLE;m/2=UNLOADING;other/1=READY;");  // v2 is still held here
  v2.reset();
  EXPECT_EQ(IndexString(*r), "m/1=UNAVAILABLE;m/2=UNAVAILABLE;other/1=READY;");
  EXPECT_EQ(*r->Get("other", ""), other);

  // Reload after fixing the config; the config is re-read.
  repo.Config("m", "platform: \"onnx\" max_batch_size: 3");
  ASSERT_TRUE(r->Load("m").ok());
  EXPECT_EQ((*r->Get("m", ""))->signature.max_batch_size, 3);
  EXPECT_EQ(IndexString(*r, true), "m/2=READY;other/1=READY;");

  EXPECT_TRUE(r->Unload("other").ok());
  EXPECT_TRUE(r->Unload("other").ok());  // idempotent
  EXPECT_EQ(r->Unload("never_heard_of").code(), absl::StatusCode::kNotFound);
}

TEST(ModelRepositoryTest, LoadOverrideServesTheGivenModelThroughTheSameChecks) {
  TempRepository repo;
  repo.Config("disk", "platform: \"onnx\"\nmax_batch_size: 4\n");
  repo.Model("disk", 1, ReluModel());
  auto r = Open(repo);
  ASSERT_TRUE(r->LoadAll().ok());

  ModelOverride model;
  model.config.set_platform("onnx");
  model.config.set_max_batch_size(4);
  model.config.mutable_version_policy()->mutable_latest()->set_num_versions(1);
  model.files[1] = ReluModel();
  model.files[2] = TwoInputModel();
  ASSERT_TRUE(r->LoadOverride("sent", model).ok());
  auto v = r->Get("sent", "");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ((*v)->version, 2);  // the policy picked the latest given version
  EXPECT_EQ((*v)->model_path, "file:2/model.onnx");
  EXPECT_EQ((*v)->signature.inputs.size(), 3u);
  EXPECT_FALSE(fs::exists(fs::path(repo.root()) / "sent")) << "nothing is written to the repository";

  // Bad models and configs fail alone and keep what was served.
  ModelOverride bad = model;
  bad.files = {{1, "garbage bytes"}};
  absl::Status st = r->LoadOverride("sent", bad);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), AllOf(HasSubstr("model 'sent' version 1"), HasSubstr("file:1/model.onnx"),
                                  HasSubstr("not a valid ONNX protobuf")));
  EXPECT_EQ((*r->Get("sent", ""))->version, 2);
  bad.files = {{1, UnsupportedOpModel()}};
  st = r->LoadOverride("fresh", bad);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("FancyOp"));
  EXPECT_EQ(r->Get("fresh", "").status().code(), absl::StatusCode::kNotFound);
  bad = model;
  bad.config.set_name("other");
  st = r->LoadOverride("sent", bad);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  bad = model;
  bad.files.clear();
  EXPECT_EQ(r->LoadOverride("sent", bad).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r->LoadOverride("../x", model).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(r->Get("disk", "").ok());
  // Unload works as for a model from the directory.
  EXPECT_TRUE(r->Unload("sent").ok());
  EXPECT_EQ(r->Get("sent", "").status().code(), absl::StatusCode::kNotFound);
}

TEST(ModelRepositoryTest, RefusesNamesOutsideTheRepository) {
  TempRepository repo;
  auto r = Open(repo);
  for (const char* name : {"", "..", "../etc", "a/b", ".hidden"}) {
    EXPECT_EQ(r->Load(name).code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_EQ(r->Unload(name).code(), absl::StatusCode::kInvalidArgument) << name;
  }
  EXPECT_EQ(r->Load("absent").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(IndexString(*r), "");
}

TEST(ModelRepositoryTest, IndexListsModelsNotLoaded) {
  TempRepository repo;
  repo.Config("a", "platform: \"onnx\"");
  repo.Model("a", 1, ReluModel());
  auto r = Open(repo);
  const auto index = r->Index();
  ASSERT_EQ(index.size(), 1u);
  EXPECT_EQ(index[0].name, "a");
  EXPECT_EQ(index[0].version, "");
  EXPECT_EQ(index[0].state, ModelVersionState::kUnavailable);
  EXPECT_EQ(index[0].reason, "not loaded");
}

TEST(ModelRepositoryTest, ReadersNeverSeeAHalfLoadedModel) {
  TempRepository repo;
  repo.Config("m", "platform: \"onnx\" max_batch_size: 1 version_policy { all { } }");
  repo.Model("m", 1, ReluModel());
  repo.Model("m", 2, ReluModel());
  auto r = Open(repo);
  ASSERT_TRUE(r->Load("m").ok());
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto m = r->Get("m", "");
        if (!m.ok()) continue;  // between an unload and a load
        const LoadedModelVersion& v = **m;
        // Every served object is complete and self-consistent.
        if (v.signature.version != v.version || v.config.name() != "m" || v.signature.inputs.size() != 1 ||
            v.model_bytes.empty() || v.signature.max_batch_size != v.config.max_batch_size()) {
          bad.fetch_add(1);
        }
        const std::vector<int64_t> versions = r->ReadyVersions("m");
        if (!versions.empty() && versions != std::vector<int64_t>{1, 2}) bad.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    repo.Config("m", absl::StrCat("platform: \"onnx\" max_batch_size: ", 1 + i % 4, " version_policy { all { } }"));
    // EXPECT, not ASSERT: the readers must be joined whatever happens.
    EXPECT_TRUE(r->Load("m").ok());
    if (i % 5 == 4) {
      EXPECT_TRUE(r->Unload("m").ok());
    }
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(ModelRepositoryTest, LoadsTheBundledExampleRepository) {
  auto r = ModelRepository::Create({.root = TESSERA_EXAMPLE_MODELS});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*r)->LoadAll().ok()) << (*r)->LoadAll();
  auto demo = (*r)->Get("demo_cnn", "");
  ASSERT_TRUE(demo.ok()) << demo.status();
  EXPECT_EQ((*demo)->signature.max_batch_size, 8);
  ASSERT_FALSE((*demo)->signature.inputs.empty());
  EXPECT_EQ((*demo)->signature.inputs[0].shape[0], -1);
}

}  // namespace
}  // namespace tessera::coordinator
