#include "common/openmp_environment.h"

#include <unistd.h>

#include <cstdlib>

namespace tessera {

void BoundOpenMpSpinning(char** argv) {
  if (std::getenv(kSpinCountVariable) != nullptr || std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (setenv(kSpinCountVariable, kDefaultSpinCount, /*overwrite=*/0) != 0) return;
  execv("/proc/self/exe", argv);
  // execv returned: keep running with libgomp's defaults.
}

}  // namespace tessera
