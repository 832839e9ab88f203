// The `tessera` executable; all logic lives in the tessera_client library.
#include <iostream>
#include <string>
#include <vector>

#include "client/cli.h"
#include "common/openmp_environment.h"

int main(int argc, char** argv) {
  tessera::BoundOpenMpSpinning(argv);
  std::vector<std::string> args(argv + 1, argv + argc);
  return tessera::client::RunCli(args, std::cout, std::cerr);
}
