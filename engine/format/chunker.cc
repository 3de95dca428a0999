#include "engine/format/chunker.h"

#include <algorithm>
#include <bit>
#include <cassert>

namespace rw {
namespace {

// SplitMix64 (Steele, Lea, Flood 2014): the gear table is its first 256 outputs from
// format::kGearSeed. Part of the format (docs/format.md §3).
std::array<uint64_t, 256> MakeGearTable() {
  std::array<uint64_t, 256> table{};
  uint64_t state = format::kGearSeed;
  for (uint64_t& g : table) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    g = z ^ (z >> 31);
  }
  return table;
}

// `bits` one-bits at the top of a 64-bit word. The top bits of a left-shift gear hash depend
// on the last 64 bytes; the low bits only on the last few.
uint64_t HighMask(int bits) {
  bits = std::clamp(bits, 1, 63);
  return ((uint64_t{1} << bits) - 1) << (64 - bits);
}

}  // namespace

const std::array<uint64_t, 256>& Chunker::GearTable() {
  static const std::array<uint64_t, 256> kTable = MakeGearTable();
  return kTable;
}

Chunker::Chunker(ChunkerParams params) : params_(params) {
  // Keep 1 <= min <= avg <= max even for nonsense parameters, so that FindBoundary's
  // contract holds; validating a repository's config is the caller's job.
  params_.max_size = std::max<size_t>(params_.max_size, 1);
  params_.min_size = std::min(params_.min_size, params_.max_size);
  params_.avg_size = std::clamp(params_.avg_size, params_.min_size, params_.max_size);
  // Normalized chunking level 2 around avg = 2^k: k+2 mask bits before avg (cuts 4x rarer),
  // k-2 after (4x likelier). A non-power-of-two avg is rounded down.
  const int k = std::bit_width(std::max<size_t>(params_.avg_size, 1)) - 1;
  mask_small_ = HighMask(k + 2);
  mask_large_ = HighMask(k - 2);
  (void)GearTable();  // build the table now, not on the hot path
}

size_t Chunker::FindBoundaryFrom(const uint8_t* data, size_t n, size_t scanned, bool eof) const {
  assert(scanned <= n);
  const size_t min_size = params_.min_size;
  const size_t max_size = params_.max_size;
  if (n <= min_size) {
    // Too short to hold a cut point: the chunk is everything, or undecided.
    return (eof || n >= max_size) ? std::min(n, max_size) : 0;
  }
  const size_t limit = std::min(n, max_size);
  const size_t normal = std::min(limit, params_.avg_size);
  const uint64_t* gear = GearTable().data();
  const uint64_t mask_small = mask_small_;
  const uint64_t mask_large = mask_large_;

  // The hash starts at zero at min_size; bytes before it are skipped, never hashed. Each step
  // shifts one bit out of 64, so the hash at i depends on data[i-63 .. i] only: restarted 64
  // bytes before `check` it equals the full hash from `check` on. Positions before `check`
  // were searched already and are not tested again.
  const size_t check = std::min(std::max(scanned, min_size), limit);
  size_t i = check >= min_size + 64 ? check - 64 : min_size;
  uint64_t fp = 0;
  for (; i < check; ++i) fp = (fp << 1) + gear[data[i]];
  for (; i < normal; ++i) {
    fp = (fp << 1) + gear[data[i]];
    if ((fp & mask_small) == 0) return i + 1;
  }
  for (; i < limit; ++i) {
    fp = (fp << 1) + gear[data[i]];
    if ((fp & mask_large) == 0) return i + 1;
  }
  if (limit == max_size) return max_size;
  return eof ? n : 0;
}

}  // namespace rw
