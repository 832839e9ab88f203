#include "coordinator/pool/worker_target.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tessera::coordinator {
namespace {

// "host:port" or "[v6]:port" -> host (brackets removed) and port.
absl::Status SplitHostPort(absl::string_view text, std::string* host, int* port) {
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) return absl::InvalidArgumentError("no host:port");
  absl::string_view h = text.substr(0, colon);
  uint32_t p = 0;
  if (!absl::SimpleAtoi(text.substr(colon + 1), &p) || p == 0 || p > 65535) {
    return absl::InvalidArgumentError("no port in 1..65535");
  }
  if (absl::ConsumePrefix(&h, "[")) {
    if (!absl::ConsumeSuffix(&h, "]") || h.empty()) return absl::InvalidArgumentError("unbalanced brackets");
  } else if (absl::StrContains(h, ':') || absl::StrContains(h, ']')) {
    return absl::InvalidArgumentError("an IPv6 address needs brackets");
  }
  if (h.empty() || absl::StrContains(h, '/')) return absl::InvalidArgumentError("no host");
  *host = std::string(h);
  *port = static_cast<int>(p);
  return absl::OkStatus();
}

}  // namespace

std::string JoinHostPort(absl::string_view host, int port) {
  if (absl::StrContains(host, ':')) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

std::string WorkerTarget::ToString() const {
  return kind == Kind::kDns ? absl::StrCat("dns:///", JoinHostPort(host, port)) : JoinHostPort(host, port);
}

absl::StatusOr<std::vector<WorkerTarget>> ParseWorkerTargets(absl::string_view list) {
  std::vector<WorkerTarget> out;
  std::set<std::string> seen;
  for (absl::string_view entry : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    WorkerTarget target;
    absl::string_view rest = entry;
    if (absl::ConsumePrefix(&rest, "dns:")) {
      target.kind = WorkerTarget::Kind::kDns;
      if (absl::ConsumePrefix(&rest, "//")) {
        if (!absl::ConsumePrefix(&rest, "/")) {
          return absl::InvalidArgumentError(absl::StrCat(
              "worker entry \"", entry, "\": a DNS authority is not supported; write dns:///NAME:PORT"));
        }
      }
    }
    if (absl::Status split = SplitHostPort(rest, &target.host, &target.port); !split.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("worker entry \"", entry, "\" is not ",
                                                     target.kind == WorkerTarget::Kind::kDns ? "dns:///NAME:PORT"
                                                                                              : "host:port",
                                                     " (", split.message(), ")"));
    }
    if (seen.insert(target.ToString()).second) out.push_back(std::move(target));
  }
  return out;
}

}  // namespace tessera::coordinator
