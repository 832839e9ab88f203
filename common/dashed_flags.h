// Lets the server binaries take their flags spelled with dashes, as the
// documentation and the deployment files write them (--worker-memory-mb),
// while absl flags are declared with underscores (worker_memory_mb). Both
// spellings work.
#pragma once

#include <string>
#include <vector>

namespace tessera {

// argv with every "--flag-name[=value]" rewritten to "--flag_name[=value]";
// values, positional arguments and everything after "--" are untouched.
std::vector<std::string> UnderscoreFlagNames(int argc, char** argv);

}  // namespace tessera
