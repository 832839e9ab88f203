// Whole-file reads and atomic, permission-aware writes.
//
// WriteFileAtomically creates a temporary file next to `path` with the given
// mode from the start (open(2) with O_CREAT | O_EXCL, so a private key is never
// readable by others, not even for an instant), writes and fsyncs it, then
// renames it over `path`. Readers (for example gRPC's certificate file
// watcher) therefore see either the old or the new contents, never a torn
// file. The final mode is `mode` minus the process umask.
#pragma once

#include <string>

#include <sys/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera {

// NotFound when the file does not exist; other errors name the file and errno.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents, mode_t mode);

}  // namespace tessera
