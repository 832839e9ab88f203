#include "common/log_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(tessera::LogLevel, log_level, tessera::LogLevel::kInfo,
          "least severe events written: debug, info, warning or error");
ABSL_FLAG(tessera::LogFormat, log_format, tessera::LogFormat::kText,
          "text (one line per event) or json (one JSON object per line); logs go to stderr");

namespace tessera {

void ConfigureLoggingFromFlags(absl::string_view program) {
  LoggingOptions options;
  options.program = std::string(program);
  options.level = absl::GetFlag(FLAGS_log_level);
  options.format = absl::GetFlag(FLAGS_log_format);
  ConfigureLogging(std::move(options));
}

bool AbslParseFlag(absl::string_view text, LogLevel* level, std::string* error) {
  absl::StatusOr<LogLevel> parsed = ParseLogLevel(text);
  if (!parsed.ok()) {
    *error = std::string(parsed.status().message());
    return false;
  }
  *level = *parsed;
  return true;
}

std::string AbslUnparseFlag(LogLevel level) { return std::string(LogLevelName(level)); }

bool AbslParseFlag(absl::string_view text, LogFormat* format, std::string* error) {
  absl::StatusOr<LogFormat> parsed = ParseLogFormat(text);
  if (!parsed.ok()) {
    *error = std::string(parsed.status().message());
    return false;
  }
  *format = *parsed;
  return true;
}

std::string AbslUnparseFlag(LogFormat format) { return std::string(LogFormatName(format)); }

}  // namespace tessera
