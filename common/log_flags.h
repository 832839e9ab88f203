// The logging flags every Tessera server binary accepts (logging.h):
//   --log-level debug|info|warning|error   events below it are dropped (default info)
//   --log-format text|json                 text lines, or one JSON object per line (default text)
// Like every flag they can come from the environment (TESSERA_LOG_LEVEL,
// TESSERA_LOG_FORMAT; flag_environment.h). A bad value is refused when the
// flags are parsed, naming the accepted ones.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "common/logging.h"

namespace tessera {

// Applies the flags above (after absl::ParseCommandLine) to the process-wide
// log, with `program` on every line.
void ConfigureLoggingFromFlags(absl::string_view program);

// absl flag marshalling for the two types (found by argument-dependent lookup).
bool AbslParseFlag(absl::string_view text, LogLevel* level, std::string* error);
std::string AbslUnparseFlag(LogLevel level);
bool AbslParseFlag(absl::string_view text, LogFormat* format, std::string* error);
std::string AbslUnparseFlag(LogFormat format);

}  // namespace tessera
