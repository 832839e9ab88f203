#include "common/flag_environment.h"

#include <algorithm>
#include <cstdlib>

#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace tessera {
namespace {

std::string Dashed(absl::string_view name) { return absl::StrReplaceAll(name, {{"_", "-"}}); }

}  // namespace

std::string FlagEnvironmentVariable(absl::string_view flag_name) {
  std::string name = absl::StrCat("TESSERA_", flag_name);
  for (char& c : name) c = c == '-' ? '_' : absl::ascii_toupper(static_cast<unsigned char>(c));
  return name;
}

EnvironmentLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

bool IsProgramFlag(const absl::CommandLineFlag& flag) {
  if (flag.IsRetired()) return false;
  // absl's own flags (flagfile, fromenv, help, ...) are defined in absl/flags/.
  const std::string file = flag.Filename();
  return !absl::StartsWith(file, "absl/") && !absl::StrContains(file, "/absl/");
}

std::vector<absl::CommandLineFlag*> ProgramFlags() {
  std::vector<absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (IsProgramFlag(*flag)) flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(),
            [](const absl::CommandLineFlag* a, const absl::CommandLineFlag* b) { return a->Name() < b->Name(); });
  return flags;
}

absl::Status SetFlagsFromEnvironment(const EnvironmentLookup& environment) {
  for (absl::CommandLineFlag* flag : ProgramFlags()) {
    const std::string variable = FlagEnvironmentVariable(flag->Name());
    const std::optional<std::string> value = environment(variable);
    if (!value.has_value() || value->empty()) continue;
    std::string error;
    if (!flag->ParseFrom(*value, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("environment variable ", variable, ": invalid value '", *value,
                                                     "' for --", Dashed(flag->Name()),
                                                     error.empty() ? "" : ": ", error));
    }
  }
  return absl::OkStatus();
}

std::string FlagHelp(absl::string_view program, absl::string_view usage) {
  std::string text = absl::StrCat(program, ": ", usage, "\n\n",
                                  "Flags (each also read from the environment variable beside it; the command line\n"
                                  "wins over the environment; --name-with-dashes and --name_with_underscores both work):\n\n");
  for (const absl::CommandLineFlag* flag : ProgramFlags()) {
    std::string default_value = flag->DefaultValue();
    if (flag->IsOfType<std::string>()) default_value = absl::StrCat("\"", default_value, "\"");
    absl::StrAppend(&text, "  --", Dashed(flag->Name()), "   env ", FlagEnvironmentVariable(flag->Name()),
                    "   default: ", default_value, "\n      ", flag->Help(), "\n");
  }
  absl::StrAppend(&text, "\n--helpfull also lists absl's built-in flags.\n");
  return text;
}

bool AsksForHelp(const std::vector<std::string>& args) {
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--") return false;
    if (args[i] == "--help" || args[i] == "-help" || args[i] == "-h") return true;
  }
  return false;
}

}  // namespace tessera
