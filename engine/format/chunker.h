// Content-defined chunking: FastCDC (Xia et al., 2016) with a 64-bit gear hash and normalized
// chunking (level 2). Boundaries are part of the repository format: the gear table comes from
// SplitMix64 seeded with format::kGearSeed, and chunker_test.cc (GoldenBoundaries) pins chunk
// sizes on seeded data. Algorithm: docs/format.md §3.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "engine/format/format_constants.h"

namespace rw {

struct ChunkerParams {
  size_t min_size = format::kChunkMin;
  size_t avg_size = format::kChunkAvg;  // REQUIRES: a power of two
  size_t max_size = format::kChunkMax;
};

// Stateless and thread-safe after construction.
class Chunker {
 public:
  explicit Chunker(ChunkerParams params = {});

  // `data` holds `n` bytes starting at the beginning of the next chunk. Returns the length of
  // that chunk, or 0 when the boundary is not yet decided: no cut point in `data`, `n` is less
  // than max_size and `eof` is false — call again with more bytes.
  // With eof, returns min(n, cut) and n when n <= min_size. Never returns more than max_size.
  size_t FindBoundary(const uint8_t* data, size_t n, bool eof) const {
    return FindBoundaryFrom(data, n, 0, eof);
  }
  // The same for a caller that searched data[0, scanned) before and got 0 (no cut point
  // there): `scanned` is the `n` of that call (0: nothing searched yet; never more than n).
  // The search resumes at `scanned` instead of starting over, with the same result. A writer
  // that feeds a stream in small pieces then hashes each byte about once.
  size_t FindBoundaryFrom(const uint8_t* data, size_t n, size_t scanned, bool eof) const;

  const ChunkerParams& params() const { return params_; }

  // The gear table (exposed for the golden test).
  static const std::array<uint64_t, 256>& GearTable();

 private:
  ChunkerParams params_;
  uint64_t mask_small_;  // more bits: used before avg_size (harder to cut)
  uint64_t mask_large_;  // fewer bits: used after avg_size (easier to cut)
};

}  // namespace rw
