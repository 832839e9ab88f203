#include "common/logging.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

const absl::Time kTime = absl::FromUnixMillis(1714564800123);  // 2024-05-01T12:00:00.123Z

// Captures the process-wide log for one test, restoring the defaults after.
class CapturedLog {
 public:
  explicit CapturedLog(LogLevel level = LogLevel::kInfo, LogFormat format = LogFormat::kText) {
    LoggingOptions options;
    options.program = "prog";
    options.level = level;
    options.format = format;
    options.now = [] { return kTime; };
    options.sink = [this](absl::string_view line) {
      absl::MutexLock lock(&mu_);
      lines_.emplace_back(line);
    };
    ConfigureLogging(std::move(options));
  }
  ~CapturedLog() { ConfigureLogging({}); }
  std::vector<std::string> lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

TEST(LoggingTest, TextLineHasTimeLevelProgramMessageAndFields) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, kTime, LogLevel::kWarning, "tessera-worker", "worker health changed",
                          {{"worker", "10.0.0.3:8001"}, {"healthy", false}, {"count", 3}}),
            "2024-05-01T12:00:00.123Z WARNING tessera-worker: worker health changed worker=10.0.0.3:8001 "
            "healthy=false count=3\n");
}

TEST(LoggingTest, TextQuotesValuesWithSpacesAndKeepsOneLine) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, kTime, LogLevel::kInfo, "p", "two\nlines",
                          {{"error", "bad \"thing\" here"}, {"empty", ""}, {"path", "/a=b"}}),
            "2024-05-01T12:00:00.123Z INFO p: two\\nlines error=\"bad \\\"thing\\\" here\" empty=\"\" "
            "path=\"/a=b\"\n");
}

TEST(LoggingTest, JsonLineIsOneObjectWithTypedValues) {
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, kTime, LogLevel::kError, "tessera-coordinator", "deploy failed",
                          {{"model", "cnn"}, {"attempt", int64_t{2}}, {"ratio", 0.5}, {"retry", true},
                           {"after", absl::Milliseconds(1500)}, {"error", absl::NotFoundError("no workers")}}),
            "{\"time\":\"2024-05-01T12:00:00.123Z\",\"level\":\"error\",\"program\":\"tessera-coordinator\","
            "\"message\":\"deploy failed\",\"model\":\"cnn\",\"attempt\":2,\"ratio\":0.5,\"retry\":true,"
            "\"after\":\"1.5s\",\"error\":\"NOT_FOUND: no workers\"}\n");
}

TEST(LoggingTest, JsonEscapesStringsAndReplacesInvalidUtf8) {
  const std::string line =
      FormatLogLine(LogFormat::kJson, kTime, LogLevel::kInfo, "p", "q\"b\\s\n\t\x01 caf\xC3\xA9 bad\xFF end", {});
  EXPECT_NE(line.find("\"message\":\"q\\\"b\\\\s\\n\\t\\u0001 caf\xC3\xA9 bad\xEF\xBF\xBD end\""),
            std::string::npos)
      << line;
  // Truncated and overlong sequences, and surrogates, are not UTF-8 either.
  const std::string odd = FormatLogLine(LogFormat::kJson, kTime, LogLevel::kInfo, "p", "\xE2\x82 \xC0\xAF \xED\xA0\x80", {});
  EXPECT_EQ(odd.find('\xC0'), std::string::npos) << odd;
  EXPECT_EQ(odd.find('\xED'), std::string::npos) << odd;
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
}

TEST(LoggingTest, NonFiniteNumbersAreStringsInJson) {
  const std::string line = FormatLogLine(LogFormat::kJson, kTime, LogLevel::kInfo, "p", "m",
                                         {{"x", std::numeric_limits<double>::infinity()}});
  EXPECT_NE(line.find("\"x\":\"inf\""), std::string::npos) << line;
}

TEST(LoggingTest, ReservedKeysArePrefixed) {
  const std::string line =
      FormatLogLine(LogFormat::kJson, kTime, LogLevel::kInfo, "p", "m", {{"message", "x"}, {"level", 1}});
  EXPECT_NE(line.find("\"field_message\":\"x\",\"field_level\":1"), std::string::npos) << line;
}

TEST(LoggingTest, ParsesLevelsAndFormats) {
  EXPECT_EQ(*ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("INFO"), LogLevel::kInfo);
  EXPECT_EQ(*ParseLogLevel("warn"), LogLevel::kWarning);
  EXPECT_EQ(*ParseLogLevel("warning"), LogLevel::kWarning);
  EXPECT_EQ(*ParseLogLevel("error"), LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("verbose").ok());
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(*ParseLogFormat("Text"), LogFormat::kText);
  EXPECT_FALSE(ParseLogFormat("xml").ok());
}

TEST(LoggingTest, DisabledLevelsDoNotEvaluateTheirArguments) {
  CapturedLog log(LogLevel::kWarning);
  int evaluated = 0;
  auto expensive = [&] {
    ++evaluated;
    return std::string("x");
  };
  TESSERA_LOG(kDebug, "hidden", {{"v", expensive()}});
  TESSERA_LOG(kInfo, expensive());
  EXPECT_EQ(evaluated, 0);
  TESSERA_LOG(kWarning, "shown", {{"v", expensive()}});
  TESSERA_LOG(kError, "also shown");
  EXPECT_EQ(evaluated, 1);
  EXPECT_EQ(log.lines(), (std::vector<std::string>{"2024-05-01T12:00:00.123Z WARNING prog: shown v=x\n",
                                                   "2024-05-01T12:00:00.123Z ERROR prog: also shown\n"}));
}

TEST(LoggingTest, ConcurrentLinesNeverInterleave) {
  CapturedLog log(LogLevel::kInfo, LogFormat::kJson);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 200; ++i) TESSERA_LOG(kInfo, "event", {{"thread", t}, {"i", i}});
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::vector<std::string> lines = log.lines();
  ASSERT_EQ(lines.size(), 1600u);
  for (const std::string& line : lines) {
    ASSERT_EQ(line.front(), '{');
    ASSERT_EQ(line.substr(line.size() - 2), "}\n");
    ASSERT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
  }
}

}  // namespace
}  // namespace tessera
