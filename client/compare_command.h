// `tessera compare A.npy B.npy [--rtol R]`: whether two tensors agree, as the
// README's demo checks the cluster's answers against the local engine.
// Prints "bit-identical", or the largest absolute difference and that
// difference relative to B's largest magnitude. Exit 0 when the shapes and
// element types match and the relative difference is at most R (default
// 1e-5); 1 otherwise; 2 on usage errors.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace tessera::client {

int CompareCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace tessera::client
