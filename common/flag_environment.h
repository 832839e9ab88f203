// Every flag of a Tessera server binary can also come from an environment
// variable, the way containers are configured:
//
//   --worker-memory-mb   <-  TESSERA_WORKER_MEMORY_MB
//   --log-format         <-  TESSERA_LOG_FORMAT
//
// The variable is TESSERA_ followed by the flag's name in upper case with
// '_' for '-'. The command line wins: variables are applied first and the
// command line is parsed over them (InitServerMain, server_main.h). A
// variable set to the empty string counts as unset. A value a flag refuses is
// an error that names the variable. Only the binaries' own flags are read
// this way, not absl's built-in ones (--flagfile, --fromenv, --help, ...).
//
// Kubernetes injects service variables such as TESSERA_WORKER_PORT for a
// Service named tessera-worker (NAME_SERVICE_HOST, NAME_SERVICE_PORT*,
// NAME_PORT*): no flag may be named so that its variable collides with
// those (e.g. --worker-port), and pods are best run with
// enableServiceLinks: false.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tessera {

// "worker_memory_mb" or "worker-memory-mb" -> "TESSERA_WORKER_MEMORY_MB".
std::string FlagEnvironmentVariable(absl::string_view flag_name);

// Looks a variable up; nullopt when unset.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;
// The process environment (getenv).
EnvironmentLookup ProcessEnvironment();

// True for the flags the binary declares itself, false for absl's built-in
// ones and retired flags.
bool IsProgramFlag(const absl::CommandLineFlag& flag);

// The program's flags, sorted by name.
std::vector<absl::CommandLineFlag*> ProgramFlags();

// Sets every program flag whose variable is set and non-empty. Stops at the
// first value a flag refuses: InvalidArgument "environment variable
// TESSERA_X: invalid value 'v' for --x: <why>". Flags already set keep their
// value when their variable is unset.
absl::Status SetFlagsFromEnvironment(const EnvironmentLookup& environment);

// The --help text: `usage`, then per program flag its dashed name, its
// variable, its default and its description.
std::string FlagHelp(absl::string_view program, absl::string_view usage);

// Whether `args` (after UnderscoreFlagNames) ask for help: --help, -help or -h
// before any "--".
bool AsksForHelp(const std::vector<std::string>& args);

}  // namespace tessera
