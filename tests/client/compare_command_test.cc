// tessera compare: bit-identical, within and over the tolerance, mismatched
// shapes, usage errors.
#include "client/compare_command.h"

#include <filesystem>
#include <sstream>

#include "client/exit_codes.h"
#include "common/npy.h"
#include "gtest/gtest.h"

namespace tessera::client {
namespace {

class CompareCommandTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const Tensor& t) {
    const std::string path = (std::filesystem::temp_directory_path() / (name + std::to_string(::getpid()) + ".npy"));
    EXPECT_TRUE(WriteNpyFile(path, t).ok());
    return path;
  }
  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    return CompareCommand(args, out_, err_);
  }
  std::ostringstream out_, err_;
};

TEST_F(CompareCommandTest, Verdicts) {
  const std::string a = Write("a", Tensor::FromVector<float>({2}, {1.0f, 100.0f}));
  const std::string same = Write("same", Tensor::FromVector<float>({2}, {1.0f, 100.0f}));
  const std::string close = Write("close", Tensor::FromVector<float>({2}, {1.0001f, 100.0f}));
  const std::string far = Write("far", Tensor::FromVector<float>({2}, {2.0f, 100.0f}));
  const std::string other_shape = Write("shape", Tensor::FromVector<float>({1, 2}, {1.0f, 100.0f}));
  EXPECT_EQ(Run({a, same}), kExitOk);
  EXPECT_EQ(out_.str(), "bit-identical\n");
  EXPECT_EQ(Run({a, close}), kExitOk);  // 1e-4 / 100 = 1e-6
  EXPECT_NE(out_.str().find("within"), std::string::npos) << out_.str();
  EXPECT_EQ(Run({a, far}), kExitRuntimeError);  // 1 / 100
  EXPECT_NE(out_.str().find("over"), std::string::npos) << out_.str();
  EXPECT_EQ(Run({a, far, "--rtol", "0.02"}), kExitOk);
  EXPECT_EQ(Run({a, other_shape}), kExitRuntimeError);
  EXPECT_NE(out_.str().find("differ"), std::string::npos) << out_.str();
  EXPECT_EQ(Run({a}), kExitUsageError);
  EXPECT_EQ(Run({a, same, "--rtol", "x"}), kExitUsageError);
  EXPECT_EQ(Run({a, "/nonexistent.npy"}), kExitRuntimeError);
  EXPECT_NE(err_.str().find("/nonexistent.npy"), std::string::npos) << err_.str();
}

}  // namespace
}  // namespace tessera::client
