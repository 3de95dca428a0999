// Small byte utilities shared by every layer: hex, UTF-8 validity, little-endian codecs.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace rw {

std::string HexEncode(std::string_view bytes);
// Returns nullopt unless `hex` is an even-length string of [0-9a-fA-F].
std::optional<std::string> HexDecode(std::string_view hex);

bool IsValidUtf8(std::string_view s);

inline void PutU32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 4);
}
inline void PutU64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}
inline uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Quotes bytes for a message: "…" with printable ASCII as is, '"' and '\\' escaped, other bytes
// as \xNN, cut after `max` bytes with "...".
std::string QuoteBytes(std::string_view bytes, size_t max = 200);

// Formats a byte count for humans: "1.5 GiB".
std::string HumanBytes(uint64_t n);

}  // namespace rw
