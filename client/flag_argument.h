// One "--name[=value]" argument of a tessera subcommand, split, as every
// subcommand's parser reads its command line.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tessera::client {

struct FlagArgument {
  std::string flag;        // "--name" (or "-h")
  std::string value;       // what followed "=", or the next argument after TakeValue
  bool has_value = false;  // whether "=" was there

  // InvalidArgument "unexpected argument '...'" unless `arg` starts with
  // "--" or is "-h".
  static absl::StatusOr<FlagArgument> Split(const std::string& arg);

  // For a flag that needs a value: when none came with "=", takes args[i+1]
  // and advances i. InvalidArgument "--name needs a value" past the end.
  absl::Status TakeValue(const std::vector<std::string>& args, size_t& i);

  bool is_help() const { return flag == "--help" || flag == "-h"; }
};

}  // namespace tessera::client
