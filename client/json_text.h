// Minimal JSON text helpers for the CLI's machine-readable output.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace tessera::client {

// `text` as a JSON string literal, quotes included ("a\"b" for a"b); control
// characters become \u00XX. Bytes >= 0x80 pass through (UTF-8 stays UTF-8).
std::string JsonQuote(absl::string_view text);

// A finite double as a JSON number with up to 6 decimals ("1.234567");
// non-finite values become null.
std::string JsonNumber(double value);

}  // namespace tessera::client
