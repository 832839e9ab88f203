#include "client/flag_argument.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tessera::client {

absl::StatusOr<FlagArgument> FlagArgument::Split(const std::string& arg) {
  if (!absl::StartsWith(arg, "--") && arg != "-h") {
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'"));
  }
  FlagArgument parsed;
  parsed.flag = arg;
  if (const size_t eq = arg.find('='); eq != std::string::npos) {
    parsed.flag = arg.substr(0, eq);
    parsed.value = arg.substr(eq + 1);
    parsed.has_value = true;
  }
  return parsed;
}

absl::Status FlagArgument::TakeValue(const std::vector<std::string>& args, size_t& i) {
  if (has_value) return absl::OkStatus();
  if (i + 1 >= args.size()) return absl::InvalidArgumentError(absl::StrCat(flag, " needs a value"));
  value = args[++i];
  has_value = true;
  return absl::OkStatus();
}

}  // namespace tessera::client
