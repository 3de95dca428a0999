// Helpers shared by the format tests: seeded data and running command-line tools.
#pragma once

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>

namespace rw::testing {

// `n` pseudo-random bytes: each std::mt19937_64 output, little-endian, 8 bytes at a time.
// Part of the chunker golden test: do not change.
inline std::string SeededBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t k = 0; k < 8 && i + k < n; ++k) out[i + k] = static_cast<char>(v >> (8 * k));
  }
  return out;
}

// Bytes that compress: words from a small vocabulary.
inline std::string TextBytes(size_t n, uint64_t seed) {
  static const char* kWords[] = {"mail ", "queue ", "icewarp ", "backup ", "rewind ", "pack ",
                                 "\n", "0123 ", "zstd "};
  std::mt19937_64 rng(seed);
  std::string out;
  while (out.size() < n) out += kWords[rng() % 9];
  out.resize(n);
  return out;
}

// Runs `command` through the shell and returns its standard output; *ok is whether it
// exited with status 0.
inline std::string RunCommand(const std::string& command, bool* ok) {
  std::string out;
  FILE* f = popen(command.c_str(), "r");
  if (f == nullptr) {
    *ok = false;
    return out;
  }
  char buf[65536];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, got);
  *ok = pclose(f) == 0;
  return out;
}

inline bool WriteFile(const std::string& path, const std::string& data) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace rw::testing
