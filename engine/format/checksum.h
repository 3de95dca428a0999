// XXH3 checksums (libxxhash): the fast checksum of packs, index files and whole files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rw {

uint64_t Xxh3_64(std::string_view data);

struct Xxh128 {
  uint64_t high = 0, low = 0;
  // 32 hex digits, high word first (XXH128_canonical_t order).
  std::string Hex() const;
  static bool FromHex(std::string_view hex, Xxh128* out);
  friend bool operator==(const Xxh128&, const Xxh128&) = default;
};

Xxh128 Xxh3_128(std::string_view data);

// Incremental XXH3-128 of a whole file read in pieces. Not thread-safe.
class Xxh128Stream {
 public:
  Xxh128Stream();
  ~Xxh128Stream();
  Xxh128Stream(const Xxh128Stream&) = delete;
  Xxh128Stream& operator=(const Xxh128Stream&) = delete;
  void Update(std::string_view data);
  Xxh128 Digest() const;

 private:
  void* state_;
};

// Incremental XXH3-64. Not thread-safe.
class Xxh64Stream {
 public:
  Xxh64Stream();
  ~Xxh64Stream();
  Xxh64Stream(const Xxh64Stream&) = delete;
  Xxh64Stream& operator=(const Xxh64Stream&) = delete;
  void Update(std::string_view data);
  uint64_t Digest() const;

 private:
  void* state_;
};

}  // namespace rw
