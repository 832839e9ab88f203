// `tessera certs`: create a cluster CA and a certificate per role.
//
//   tessera certs --out DIR [--hosts h1,h2,...]
//
// Writes DIR/ca.pem, DIR/ca.key and DIR/{coordinator,worker,client}.{pem,key}
// (common/certificate_authority.h: MakeClusterCertificates). Keys are mode
// 0600. --hosts lists the names and addresses nodes are reached at; each leaf
// also carries localhost, 127.0.0.1 and ::1. Existing files in DIR are
// replaced. Exit codes: client/exit_codes.h.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::client {

struct CertsOptions {
  std::string out_dir;
  std::vector<std::string> hosts;
  bool help = false;
};

// Parses the arguments after "certs" ("--flag value" or "--flag=value").
// InvalidArgument describes a usage error.
absl::StatusOr<CertsOptions> ParseCertsArgs(const std::vector<std::string>& args);

// The --help text.
std::string CertsUsage();

// Runs the subcommand with `args` (after "certs"): a summary goes to `out`,
// diagnostics to `err`; returns the process exit code.
int CertsCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace tessera::client
