// Runs the built `tessera` binary as a subprocess: exit codes, stdout/stderr
// separation, and one real model when the engine has the kernel.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/onnx_test_models.h"
#include "worker/engine/engine.h"

namespace tessera::client {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadAll(const std::string& path) {
  std::ifstream file(path);
  std::stringstream buffer;
  buffer << file.rdbuf();
  return buffer.str();
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat("tessera_cli_test_", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // `args` is appended to the command line verbatim (tests use safe paths).
  Result Tessera(const std::string& args) {
    const std::string err_path = (dir_ / "stderr.txt").string();
    const std::string command = absl::StrCat(TESSERA_CLI_BINARY, " ", args, " 2>", err_path);
    Result result;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return result;
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.out.append(buffer, n);
    const int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.err = ReadAll(err_path);
    return result;
  }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

TEST_F(CliTest, HelpAndUsageErrors) {
  Result help = Tessera("run --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("usage: tessera run"));

  Result none = Tessera("");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("usage: tessera <command>"));

  Result bad = Tessera("run --model m.onnx --input nonsense");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--input expects NAME=FILE.npy"));
  EXPECT_THAT(bad.out, IsEmpty());
}

TEST_F(CliTest, MissingModelExitsWithOne) {
  Result r = Tessera(absl::StrCat("run --model ", Path("absent.onnx"), " --json"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot open model"));
  EXPECT_THAT(r.out, IsEmpty());
}

TEST_F(CliTest, JsonRunPrintsOnlyJsonOnStdout) {
  const std::string model = Path("add.onnx");
  testing::WriteFile(model, testing::MakeSingleNodeModel("Add", {"a", "b"}, {2, 3}, onnx::TensorProto::FLOAT, "sum"));
  absl::StatusOr<std::unique_ptr<engine::Engine>> probe = engine::Engine::LoadFromFile(model);
  if (!probe.ok() && probe.status().code() == absl::StatusCode::kUnimplemented) {
    GTEST_SKIP() << "engine cannot run Add yet: " << probe.status();
  }
  ASSERT_TRUE(probe.ok()) << probe.status();
  const std::string a = Path("a.npy");
  ASSERT_TRUE(WriteNpyFile(a, Tensor::FromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6})).ok());
  // b is static and not given: random-filled with a note on stderr.
  Result r = Tessera(absl::StrCat("run --model ", model, " --input a=", a, " --json --output-dir ", Path("out")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"outputs\": {\"sum\": {\"shape\": [2, 3], \"dtype\": \"float32\"}}}\n");
  EXPECT_THAT(r.err, HasSubstr("note: input 'b' not given"));
  absl::StatusOr<Tensor> sum = ReadNpyFile(Path("out/sum.npy"));
  ASSERT_TRUE(sum.ok()) << sum.status();
  for (int i = 0; i < 6; ++i) {
    EXPECT_GE(sum->values<float>()[i], i + 1 - 1.0f);
    EXPECT_LT(sum->values<float>()[i], i + 1 + 1.0f);
  }
}

}  // namespace
}  // namespace tessera::client
