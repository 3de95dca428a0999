#include "engine/format/blob_id.h"

#include <openssl/evp.h>

#include <cstdlib>

#include "engine/base/bytes.h"

namespace rw {

std::string BlobId::Hex() const { return HexEncode(View()); }

Result<BlobId> BlobId::FromHex(std::string_view hex) {
  if (hex.size() != 64) {
    return Status::InvalidArgument("blob id: expected 64 hex digits, got " +
                                   std::to_string(hex.size()) + " characters");
  }
  std::optional<std::string> raw = HexDecode(hex);
  if (!raw) return Status::InvalidArgument("blob id: not hex: " + std::string(hex));
  return FromBytes(raw->data());
}

BlobId Sha256(std::string_view data) {
  BlobId id;
  unsigned int len = 0;
  // EVP_Digest uses the CPU's SHA extensions when present. It fails only on allocation
  // failure, which the engine treats as fatal like operator new does.
  if (EVP_Digest(data.data(), data.size(), id.bytes.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != id.bytes.size()) {
    std::abort();
  }
  return id;
}

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
  auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
  if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) std::abort();
}

Sha256Stream::~Sha256Stream() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256Stream::Update(std::string_view data) {
  if (EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size()) != 1) {
    std::abort();
  }
}

BlobId Sha256Stream::Finish() {
  auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
  BlobId id;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, id.bytes.data(), &len) != 1 || len != id.bytes.size()) {
    std::abort();
  }
  // Ready for reuse.
  if (EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) std::abort();
  return id;
}

}  // namespace rw
