#include "engine/format/checksum.h"

#include <xxhash.h>

#include <cstdlib>

#include "engine/base/bytes.h"

namespace rw {

uint64_t Xxh3_64(std::string_view data) { return XXH3_64bits(data.data(), data.size()); }

std::string Xxh128::Hex() const {
  std::string be(16, '\0');
  for (int i = 0; i < 8; ++i) {
    be[i] = static_cast<char>(high >> (56 - 8 * i));
    be[8 + i] = static_cast<char>(low >> (56 - 8 * i));
  }
  return HexEncode(be);
}

bool Xxh128::FromHex(std::string_view hex, Xxh128* out) {
  if (hex.size() != 32) return false;
  Xxh128 v;
  for (size_t i = 0; i < 32; ++i) {
    char c = hex[i];
    uint64_t d;
    if (c >= '0' && c <= '9') d = static_cast<uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f') d = static_cast<uint64_t>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') d = static_cast<uint64_t>(c - 'A' + 10);
    else return false;
    uint64_t& word = i < 16 ? v.high : v.low;
    word = word << 4 | d;
  }
  *out = v;
  return true;
}

Xxh128 Xxh3_128(std::string_view data) {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  return Xxh128{h.high64, h.low64};
}

// The XXH3 states are large (~576 bytes, 64-byte aligned): XXH3_createState allocates them.
// Allocation failure is fatal, as with operator new.
namespace {
XXH3_state_t* NewState() {
  XXH3_state_t* s = XXH3_createState();
  if (s == nullptr || XXH3_64bits_reset(s) == XXH_ERROR) std::abort();
  return s;
}
}  // namespace

Xxh128Stream::Xxh128Stream() : state_(NewState()) {
  if (XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_)) == XXH_ERROR) std::abort();
}
Xxh128Stream::~Xxh128Stream() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }
void Xxh128Stream::Update(std::string_view data) {
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), data.data(), data.size());
}
Xxh128 Xxh128Stream::Digest() const {
  XXH128_hash_t h = XXH3_128bits_digest(static_cast<const XXH3_state_t*>(state_));
  return Xxh128{h.high64, h.low64};
}

Xxh64Stream::Xxh64Stream() : state_(NewState()) {}
Xxh64Stream::~Xxh64Stream() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }
void Xxh64Stream::Update(std::string_view data) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(state_), data.data(), data.size());
}
uint64_t Xxh64Stream::Digest() const {
  return XXH3_64bits_digest(static_cast<const XXH3_state_t*>(state_));
}

}  // namespace rw
