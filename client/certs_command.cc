#include "client/certs_command.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/exit_codes.h"
#include "client/flag_argument.h"
#include "common/certificate_authority.h"

namespace tessera::client {
namespace {

absl::Status Usage(absl::string_view message) { return absl::InvalidArgumentError(message); }

}  // namespace

std::string CertsUsage() {
  return R"(usage: tessera certs --out DIR [--hosts h1,h2,...]

Creates a certificate authority for one Tessera cluster and a certificate for
each role, for mutual TLS between clients, coordinators and workers.

  --out DIR         where to write ca.pem, ca.key, coordinator.pem/.key,
                    worker.pem/.key and client.pem/.key (created if missing;
                    existing files are replaced; keys are mode 0600)
  --hosts LIST      comma-separated host names and IP addresses the nodes are
                    reached at; every certificate also covers localhost,
                    127.0.0.1 and ::1
  --help            this text

Each certificate names its role as spiffe://tessera/<role>; servers admit
callers by that role. Keep ca.key offline: whoever holds it can mint
certificates for any role.

Exit status: 0 success, 1 runtime error (files, OpenSSL), 2 usage error.
)";
}

absl::StatusOr<CertsOptions> ParseCertsArgs(const std::vector<std::string>& args) {
  CertsOptions options;
  bool hosts_given = false;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::StatusOr<FlagArgument> parsed = FlagArgument::Split(args[i]);
    if (!parsed.ok()) return parsed.status();
    const std::string& flag = parsed->flag;
    const std::string& value = parsed->value;
    if (parsed->is_help()) {
      options.help = true;
      return options;
    }
    if (flag != "--out" && flag != "--hosts") return Usage(absl::StrCat("unknown flag '", flag, "'"));
    if (absl::Status taken = parsed->TakeValue(args, i); !taken.ok()) return taken;
    if (flag == "--out") {
      if (value.empty()) return Usage("--out needs a directory");
      options.out_dir = value;
    } else {
      if (hosts_given) return Usage("--hosts given twice; list all hosts in one, comma-separated");
      hosts_given = true;
      for (absl::string_view host : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
        options.hosts.emplace_back(absl::StripAsciiWhitespace(host));
      }
    }
  }
  if (options.out_dir.empty()) return Usage("--out DIR is required");
  return options;
}

int CertsCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  absl::StatusOr<CertsOptions> parsed = ParseCertsArgs(args);
  if (!parsed.ok()) {
    err << "tessera certs: " << parsed.status().message() << "\nTry 'tessera certs --help'.\n";
    return kExitUsageError;
  }
  if (parsed->help) {
    out << CertsUsage();
    return kExitOk;
  }
  if (absl::Status status = MakeClusterCertificates(parsed->out_dir, parsed->hosts); !status.ok()) {
    err << "tessera certs: " << status.message() << "\n";
    // A host that is neither a name nor an address is a usage error.
    return status.code() == absl::StatusCode::kInvalidArgument ? kExitUsageError : kExitRuntimeError;
  }
  out << "wrote ca.pem, ca.key, coordinator.pem/.key, worker.pem/.key, client.pem/.key to " << parsed->out_dir
      << "\n";
  if (!parsed->hosts.empty()) {
    out << "hosts: " << absl::StrJoin(parsed->hosts, ", ") << " (plus localhost, 127.0.0.1, ::1)\n";
  }
  return kExitOk;
}

}  // namespace tessera::client
