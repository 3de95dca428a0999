// BlobId: the SHA-256 of a blob's uncompressed bytes (OpenSSL). Also used for pack, index
// and snapshot names (SHA-256 of the file's bytes).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "engine/base/status.h"

namespace rw {

struct BlobId {
  std::array<uint8_t, 32> bytes{};

  std::string Hex() const;
  // The first 12 hex digits, for messages.
  std::string Short() const { return Hex().substr(0, 12); }
  static Result<BlobId> FromHex(std::string_view hex);
  static BlobId FromBytes(const void* p) {
    BlobId id;
    std::memcpy(id.bytes.data(), p, 32);
    return id;
  }
  std::string_view View() const {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }

  friend bool operator==(const BlobId& a, const BlobId& b) = default;
  friend auto operator<=>(const BlobId& a, const BlobId& b) = default;
};

struct BlobIdHash {
  size_t operator()(const BlobId& id) const {
    size_t h;
    std::memcpy(&h, id.bytes.data(), sizeof h);
    return h;
  }
};

// SHA-256 of `data`. Thread-safe.
BlobId Sha256(std::string_view data);

// Incremental SHA-256. Not thread-safe; one per thread of use.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(std::string_view data);
  BlobId Finish();

 private:
  void* ctx_;
};

}  // namespace rw
