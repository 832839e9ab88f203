// Tessera's log: one line per event on stderr, as text for people or as JSON
// lines for log collectors.
//
//   TESSERA_LOG(kInfo, "worker health changed", {{"worker", address}, {"healthy", true}});
//   TESSERA_LOG(kWarning, "model not deployed", {{"model", name}, {"error", status}});
//
// text:  2024-05-01T12:00:00.123Z INFO tessera-worker: worker health changed worker=10.0.0.3:8001 healthy=true
// json:  {"time":"2024-05-01T12:00:00.123Z","level":"info","program":"tessera-worker",
//         "message":"worker health changed","worker":"10.0.0.3:8001","healthy":true}
//
// Time is RFC 3339 in UTC with milliseconds. In text, values holding spaces,
// quotes, '=' or nothing are quoted, and control characters are escaped so
// that an event is always one line; in JSON, strings are escaped as RFC 8259
// asks and bytes that are not UTF-8 become U+FFFD.
//
// What never goes into a log: tensor contents (inputs, outputs, weights,
// partition bytes), private keys, certificate contents, tokens or any other
// credential. A value is a string, a number, a bool, a duration or a status;
// there is deliberately no overload for tensors, byte buffers or pointers, and
// callers must not format such data into a message or string value either.
// Log names, shapes, sizes, addresses, counts and status messages instead.
//
// Cost: TESSERA_LOG checks the level (one relaxed atomic load) before it
// evaluates its arguments, so disabled events cost almost nothing.
//
// Thread safety: every function may be called from any thread. A line is
// formatted first and written with one locked write, so lines never
// interleave. ConfigureLogging is meant for start-up (it takes the same lock).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace tessera {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };
enum class LogFormat { kText, kJson };

// "debug", "info", "warning" (or "warn"), "error"; case-insensitive.
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view text);
// "text" or "json"; case-insensitive.
absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view text);
// Lower case: "debug", "info", "warning", "error".
absl::string_view LogLevelName(LogLevel level);
absl::string_view LogFormatName(LogFormat format);

// One structured value. Implicit constructors only from the types below;
// pointers (other than C strings) are refused at compile time so that no
// buffer address or bool-converted pointer slips in.
class LogValue {
 public:
  enum class Kind { kString, kNumber, kBool };

  LogValue(absl::string_view text) : kind_(Kind::kString), text_(text) {}  // NOLINT
  LogValue(const std::string& text) : kind_(Kind::kString), text_(text) {}  // NOLINT
  LogValue(const char* text) : kind_(Kind::kString), text_(text == nullptr ? "" : text) {}  // NOLINT
  LogValue(bool value) : kind_(Kind::kBool), text_(value ? "true" : "false") {}  // NOLINT
  template <typename T>
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char>)
  LogValue(T value) : kind_(Kind::kNumber), text_(std::to_string(value)) {}  // NOLINT
  LogValue(double value);             // NOLINT; NaN and infinities become strings
  LogValue(absl::Duration value);     // NOLINT; "1.5s" (a string)
  LogValue(const absl::Status& status);  // NOLINT; "OK" or "CODE: message" (a string)
  LogValue(const void*) = delete;

  Kind kind() const { return kind_; }
  // The value as text: unquoted, unescaped.
  const std::string& text() const { return text_; }

 private:
  Kind kind_;
  std::string text_;
};

struct LogField {
  absl::string_view key;  // a short identifier: lower_snake_case
  LogValue value;
};

using LogSink = std::function<void(absl::string_view line)>;  // line ends with '\n'

struct LoggingOptions {
  std::string program = "tessera";  // the "program" of every line
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
  // Where lines go; empty: stderr (file descriptor 2, one write(2) per line).
  LogSink sink;
  // The clock; empty: absl::Now. For tests.
  std::function<absl::Time()> now;
};

// Replaces the process-wide settings (the defaults above until called).
void ConfigureLogging(LoggingOptions options);
// The current minimum level.
LogLevel CurrentLogLevel();

// Whether an event of `level` would be written.
bool LogEnabled(LogLevel level);

// Writes one event if `level` is enabled. Keys "time", "level", "program"
// and "message" are reserved: a field with one of them is prefixed with
// "field_" so that the line stays unambiguous.
void Log(LogLevel level, absl::string_view message, absl::Span<const LogField> fields = {});

// The line Log would write (with its '\n'), for tests and for tools that
// need the format without the process-wide state.
std::string FormatLogLine(LogFormat format, absl::Time time, LogLevel level, absl::string_view program,
                          absl::string_view message, absl::Span<const LogField> fields);

}  // namespace tessera

// TESSERA_LOG(kInfo, "message") or TESSERA_LOG(kInfo, "message", {{"key", value}, ...}).
// Arguments are evaluated only when the level is enabled.
#define TESSERA_LOG(level, ...)                                                 \
  do {                                                                          \
    if (::tessera::LogEnabled(::tessera::LogLevel::level)) {                    \
      ::tessera::Log(::tessera::LogLevel::level, __VA_ARGS__);                  \
    }                                                                           \
  } while (false)
