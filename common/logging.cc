#include "common/logging.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <iterator>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace tessera {
namespace {

struct LogState {
  absl::Mutex mu;
  LoggingOptions options ABSL_GUARDED_BY(mu);
};

LogState& State() {
  static LogState* state = new LogState();  // never destroyed: logging works during exit
  return *state;
}

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

void WriteToStderr(absl::string_view line) {
  const char* data = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t written = ::write(STDERR_FILENO, data, left);
    if (written < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report it
    }
    data += written;
    left -= static_cast<size_t>(written);
  }
}

// The level as text lines spell it: LogLevelName in capitals.
absl::string_view UpperLevelName(LogLevel level) {
  constexpr absl::string_view kNames[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
  const auto index = static_cast<size_t>(level);
  return index < std::size(kNames) ? kNames[index] : "INFO";
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not one
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t Utf8SequenceLength(absl::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  size_t length = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return length;
}

void AppendJsonString(absl::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t length = Utf8SequenceLength(s, i);
      if (length == 0) {
        out->append("\xEF\xBF\xBD");  // U+FFFD
        ++i;
      } else {
        out->append(s.data() + i, length);
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out->push_back('"');
}

// Text: control characters escaped so that an event stays on one line.
void AppendTextEscaped(absl::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out->append("\\x");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(ch);
        }
    }
  }
}

void AppendTextValue(const LogValue& value, std::string* out) {
  const std::string& text = value.text();
  const bool quote = value.kind() == LogValue::Kind::kString &&
                     (text.empty() || text.find_first_of(" \"=\\\t\n\r") != std::string::npos);
  if (!quote) {
    AppendTextEscaped(text, out);
    return;
  }
  out->push_back('"');
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else {
      AppendTextEscaped(absl::string_view(&c, 1), out);
    }
  }
  out->push_back('"');
}

bool IsReservedKey(absl::string_view key) {
  return key == "time" || key == "level" || key == "program" || key == "message";
}

}  // namespace

LogValue::LogValue(double value) : kind_(Kind::kNumber), text_(absl::StrCat(value)) {
  if (!std::isfinite(value)) kind_ = Kind::kString;
}

LogValue::LogValue(absl::Duration value) : kind_(Kind::kString), text_(absl::FormatDuration(value)) {}

LogValue::LogValue(const absl::Status& status) : kind_(Kind::kString), text_(status.ToString()) {}

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "debug") return LogLevel::kDebug;
  if (lower == "info") return LogLevel::kInfo;
  if (lower == "warning" || lower == "warn") return LogLevel::kWarning;
  if (lower == "error") return LogLevel::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log level '", text, "' (expected debug, info, warning or error)"));
}

absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "text") return LogFormat::kText;
  if (lower == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(absl::StrCat("unknown log format '", text, "' (expected text or json)"));
}

absl::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

absl::string_view LogFormatName(LogFormat format) { return format == LogFormat::kJson ? "json" : "text"; }

void ConfigureLogging(LoggingOptions options) {
  LogState& state = State();
  absl::MutexLock lock(&state.mu);
  g_level.store(static_cast<int>(options.level), std::memory_order_relaxed);
  state.options = std::move(options);
}

LogLevel CurrentLogLevel() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

std::string FormatLogLine(LogFormat format, absl::Time time, LogLevel level, absl::string_view program,
                          absl::string_view message, absl::Span<const LogField> fields) {
  const std::string timestamp = absl::FormatTime("%Y-%m-%d%ET%H:%M:%E3SZ", time, absl::UTCTimeZone());
  std::string line;
  line.reserve(96 + message.size());
  if (format == LogFormat::kJson) {
    absl::StrAppend(&line, "{\"time\":\"", timestamp, "\",\"level\":\"", LogLevelName(level), "\",\"program\":");
    AppendJsonString(program, &line);
    line.append(",\"message\":");
    AppendJsonString(message, &line);
    for (const LogField& field : fields) {
      line.push_back(',');
      AppendJsonString(IsReservedKey(field.key) ? absl::StrCat("field_", field.key) : std::string(field.key), &line);
      line.push_back(':');
      if (field.value.kind() == LogValue::Kind::kString) {
        AppendJsonString(field.value.text(), &line);
      } else {
        line.append(field.value.text());
      }
    }
    line.append("}\n");
    return line;
  }
  absl::StrAppend(&line, timestamp, " ", UpperLevelName(level), " ");
  AppendTextEscaped(program, &line);
  line.append(": ");
  AppendTextEscaped(message, &line);
  for (const LogField& field : fields) {
    line.push_back(' ');
    if (IsReservedKey(field.key)) line.append("field_");
    AppendTextEscaped(field.key, &line);
    line.push_back('=');
    AppendTextValue(field.value, &line);
  }
  line.push_back('\n');
  return line;
}

void Log(LogLevel level, absl::string_view message, absl::Span<const LogField> fields) {
  if (!LogEnabled(level)) return;
  LogState& state = State();
  absl::MutexLock lock(&state.mu);
  const LoggingOptions& options = state.options;
  const absl::Time now = options.now ? options.now() : absl::Now();
  const std::string line = FormatLogLine(options.format, now, level, options.program, message, fields);
  if (options.sink) {
    options.sink(line);
  } else {
    WriteToStderr(line);
  }
}

}  // namespace tessera
