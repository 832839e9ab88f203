// SHA-256 (OpenSSL EVP) as lower-case hex: the id of a model partition is the
// digest of its serialized ONNX bytes (see proto/worker.proto).
#pragma once

#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace tessera {

// Digest of `bytes`, 64 lower-case hex characters.
std::string Sha256Hex(absl::string_view bytes);

// True when `id` looks like a digest: 64 lower-case hex characters.
bool IsSha256Hex(absl::string_view id);

// Incremental digest for data that arrives in pieces (a partition streamed
// in chunks). Not thread-safe; one per stream.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(absl::string_view bytes);
  // The digest of everything passed to Update; the object is spent after.
  std::string FinishHex();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

}  // namespace tessera
