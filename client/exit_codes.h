// Process exit codes shared by every `tessera` subcommand.
#pragma once

namespace tessera::client {

inline constexpr int kExitOk = 0;
// Something failed after the command line was understood: a file could not be
// read or written, the model did not load, inputs do not fit the model,
// inference failed.
inline constexpr int kExitRuntimeError = 1;
// The command line itself is malformed: unknown subcommand or flag, missing
// or unparsable value. Detected before anything is loaded.
inline constexpr int kExitUsageError = 2;

}  // namespace tessera::client
