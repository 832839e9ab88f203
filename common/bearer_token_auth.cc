#include "common/bearer_token_auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file_contents.h"
#include "common/logging.h"
#include "common/sha256.h"

namespace tessera {
namespace {

std::array<unsigned char, 32> Digest(absl::string_view bytes) {
  std::array<unsigned char, 32> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest.data());
  return digest;
}

absl::string_view TrimBlanks(absl::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
  return text;
}

bool IsCommentOrBlank(absl::string_view line) { return line.empty() || line.front() == '#'; }

// Checks one trimmed token line; the message names the line, not its text.
absl::Status CheckToken(absl::string_view token, absl::string_view source, int line_number) {
  auto where = [&] { return absl::StrCat(source, " line ", line_number, ": "); };
  if (token.size() < kMinBearerTokenLength) {
    return absl::InvalidArgumentError(absl::StrCat(where(), "token shorter than ", kMinBearerTokenLength,
                                                   " characters (try `openssl rand -hex 32`)"));
  }
  if (token.size() > kMaxBearerTokenLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(where(), "token longer than ", kMaxBearerTokenLength, " characters"));
  }
  for (char c : token) {
    if (c <= ' ' || c > '~') {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "a token holds printable ASCII characters other than space only"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BearerTokenSet> BearerTokenSet::Parse(absl::string_view contents, absl::string_view source) {
  BearerTokenSet set;
  int line_number = 0;
  for (absl::string_view raw : absl::StrSplit(contents, '\n')) {
    ++line_number;
    const absl::string_view line = TrimBlanks(raw);
    if (IsCommentOrBlank(line)) continue;
    if (absl::Status status = CheckToken(line, source, line_number); !status.ok()) return status;
    set.digests_.push_back(Digest(line));
  }
  return set;
}

bool BearerTokenSet::Contains(absl::string_view token) const {
  const std::array<unsigned char, 32> presented = Digest(token);
  int matches = 0;
  for (const std::array<unsigned char, 32>& digest : digests_) {
    matches |= CRYPTO_memcmp(digest.data(), presented.data(), presented.size()) == 0;
  }
  return matches != 0;
}

absl::StatusOr<std::string> ReadBearerTokenFile(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFileToString(path);
  if (!contents.ok()) {
    return absl::Status(contents.status().code(), absl::StrCat("token file: ", contents.status().message()));
  }
  int line_number = 0;
  for (absl::string_view raw : absl::StrSplit(*contents, '\n')) {
    ++line_number;
    const absl::string_view line = TrimBlanks(raw);
    if (IsCommentOrBlank(line)) continue;
    if (absl::Status status = CheckToken(line, path, line_number); !status.ok()) return status;
    return std::string(line);
  }
  return absl::InvalidArgumentError(absl::StrCat(path, ": no token in the token file"));
}

absl::StatusOr<std::shared_ptr<BearerTokenAuthenticator>> BearerTokenAuthenticator::Create(Options options) {
  if (options.tokens_file.empty()) return absl::InvalidArgumentError("no bearer tokens file given");
  absl::StatusOr<std::string> contents = ReadFileToString(options.tokens_file);
  if (!contents.ok()) {
    return absl::Status(contents.status().code(), absl::StrCat("bearer tokens file: ", contents.status().message()));
  }
  absl::StatusOr<BearerTokenSet> tokens = BearerTokenSet::Parse(*contents, options.tokens_file);
  if (!tokens.ok()) return tokens.status();
  if (tokens->size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(options.tokens_file, ": no token in the bearer tokens file"));
  }
  options.refresh_interval = std::max(options.refresh_interval, absl::Seconds(1));
  std::shared_ptr<BearerTokenAuthenticator> authenticator(
      new BearerTokenAuthenticator(std::move(options), *std::move(tokens)));
  {
    absl::MutexLock lock(&authenticator->mu_);
    authenticator->last_contents_digest_ = Sha256Hex(*contents);
  }
  if (authenticator->options_.start_refresh_thread) {
    authenticator->thread_ = std::thread([a = authenticator.get()] { a->RefreshLoop(); });
  }
  return authenticator;
}

BearerTokenAuthenticator::BearerTokenAuthenticator(Options options, BearerTokenSet tokens)
    : options_(std::move(options)), tokens_(std::make_shared<const BearerTokenSet>(std::move(tokens))) {}

BearerTokenAuthenticator::~BearerTokenAuthenticator() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void BearerTokenAuthenticator::RefreshLoop() {
  while (!stop_.WaitForNotificationWithTimeout(options_.refresh_interval)) {
    if (absl::Status status = Reload(); !status.ok()) {
      TESSERA_LOG(kWarning, "bearer tokens file not re-read; the tokens read last stay in force",
                  {{"file", options_.tokens_file}, {"error", status}});
    }
  }
}

absl::Status BearerTokenAuthenticator::Reload() {
  absl::StatusOr<std::string> contents = ReadFileToString(options_.tokens_file);
  if (!contents.ok()) return contents.status();
  const std::string digest = Sha256Hex(*contents);
  {
    absl::MutexLock lock(&mu_);
    if (digest == last_contents_digest_) return absl::OkStatus();
  }
  absl::StatusOr<BearerTokenSet> tokens = BearerTokenSet::Parse(*contents, options_.tokens_file);
  if (!tokens.ok()) return tokens.status();
  const size_t count = tokens->size();
  {
    absl::MutexLock lock(&mu_);
    tokens_ = std::make_shared<const BearerTokenSet>(*std::move(tokens));
    last_contents_digest_ = digest;
  }
  TESSERA_LOG(kInfo, "bearer tokens file re-read", {{"file", options_.tokens_file}, {"tokens", count}});
  if (count == 0) {
    TESSERA_LOG(kWarning, "the bearer tokens file holds no token: every call is refused",
                {{"file", options_.tokens_file}});
  }
  return absl::OkStatus();
}

size_t BearerTokenAuthenticator::token_count() const {
  absl::MutexLock lock(&mu_);
  return tokens_->size();
}

absl::Status BearerTokenAuthenticator::Authenticate(const std::vector<absl::string_view>& values) const {
  if (values.empty()) {
    return absl::UnauthenticatedError(
        "missing bearer token: this server wants 'authorization: Bearer <token>' metadata on every call");
  }
  if (values.size() > 1) return absl::UnauthenticatedError("more than one authorization metadata value");
  absl::string_view value = values[0];
  const size_t space = value.find(' ');
  if (space == absl::string_view::npos || !absl::EqualsIgnoreCase(value.substr(0, space), kBearerScheme)) {
    return absl::UnauthenticatedError("authorization metadata is not of the form 'Bearer <token>'");
  }
  value.remove_prefix(space + 1);
  value = TrimBlanks(value);
  std::shared_ptr<const BearerTokenSet> tokens;
  {
    absl::MutexLock lock(&mu_);
    tokens = tokens_;
  }
  if (value.empty() || value.size() > kMaxBearerTokenLength || !tokens->Contains(value)) {
    return absl::UnauthenticatedError("bearer token not accepted");
  }
  return absl::OkStatus();
}

grpc::Status BearerTokenAuthenticator::Process(const InputMetadata& auth_metadata, grpc::AuthContext* /*context*/,
                                               OutputMetadata* consumed_auth_metadata,
                                               OutputMetadata* /*response_metadata*/) {
  std::vector<absl::string_view> values;
  const auto [begin, end] = auth_metadata.equal_range(kAuthorizationMetadataKey);
  for (auto it = begin; it != end; ++it) {
    values.emplace_back(it->second.data(), it->second.size());
    // Handlers never see the credential.
    consumed_auth_metadata->emplace(std::string(it->first.data(), it->first.size()),
                                    std::string(it->second.data(), it->second.size()));
  }
  const absl::Status status = Authenticate(values);
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(status.message()));
}

}  // namespace tessera
