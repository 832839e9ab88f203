// The `tessera` command line: subcommand dispatch.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace tessera::client {

// Runs `tessera ARGS...` (args excludes the program name) and returns the
// process exit code (client/exit_codes.h). Output goes to `out`, diagnostics
// to `err`.
int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace tessera::client
