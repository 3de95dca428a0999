#include "engine/format/chunker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include "engine/format/checksum.h"
#include "engine/format/format_test_util.h"

namespace rw {
namespace {

// Chunk lengths of `data` cut with whole-buffer calls.
std::vector<size_t> ChunkAll(const Chunker& c, std::string_view data) {
  std::vector<size_t> lengths;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t len = c.FindBoundary(reinterpret_cast<const uint8_t*>(data.data()) + pos,
                                data.size() - pos, /*eof=*/true);
    if (len == 0) {
      ADD_FAILURE() << "FindBoundary returned 0 with eof at " << pos;
      break;
    }
    lengths.push_back(len);
    pos += len;
  }
  return lengths;
}

// The same, feeding the data in pieces of random size as a reader would, and calling again
// with more bytes whenever FindBoundary returns 0.
// With `resume`, each search after a 0 resumes where the last one stopped (FindBoundaryFrom).
std::vector<size_t> ChunkStreaming(const Chunker& c, std::string_view data, uint64_t seed,
                                   size_t max_piece, bool resume = false) {
  std::mt19937_64 rng(seed);
  std::vector<size_t> lengths;
  size_t start = 0, have = 0;  // chunk start; bytes of data available to the chunker
  size_t scanned = 0;          // of the chunk, searched without a cut point
  while (start < data.size()) {
    bool eof = have == data.size();
    const uint8_t* p = reinterpret_cast<const uint8_t*>(data.data()) + start;
    size_t len = resume ? c.FindBoundaryFrom(p, have - start, scanned, eof) : c.FindBoundary(p, have - start, eof);
    scanned = len == 0 ? have - start : 0;
    if (len == 0) {
      if (eof) {
        ADD_FAILURE() << "FindBoundary returned 0 with eof";
        break;
      }
      have = std::min(data.size(), have + 1 + rng() % max_piece);
      continue;
    }
    EXPECT_LE(len, have - start);
    lengths.push_back(len);
    start += len;
  }
  return lengths;
}

// Format golden values: 64 MiB of SeededBytes(seed 42) cut with the default parameters.
// A change here changes chunk boundaries, so deduplication against existing repositories:
// it needs a new format version (docs/format.md §3).
constexpr size_t kGoldenSize = 64 << 20;
// Computed once with this code and cross-checked with an independent Python rendering of §3.
constexpr size_t kGoldenCount = 56;
constexpr size_t kGoldenMin = 531953;    // of all chunks but the last
constexpr size_t kGoldenMax = 2046207;
constexpr size_t kGoldenMean = 1198372;  // kGoldenSize / kGoldenCount
constexpr size_t kGoldenFirst[5] = {1559609, 1385412, 1257207, 955814, 1243345};
constexpr uint64_t kGoldenLengthsDigest = 13059742361729418741u;  // XXH3-64 of lengths, u64le
constexpr uint64_t kGear0 = 10183754268564455365u, kGear255 = 7719954719183945405u;

TEST(ChunkerTest, GoldenBoundaries) {
  EXPECT_EQ(Chunker::GearTable()[0], kGear0);
  EXPECT_EQ(Chunker::GearTable()[255], kGear255);

  const std::string data = testing::SeededBytes(kGoldenSize, 42);
  const std::vector<size_t> lengths = ChunkAll(Chunker(), data);
  ASSERT_GE(lengths.size(), 5u);
  std::string packed;
  for (size_t len : lengths) {
    for (int k = 0; k < 8; ++k) packed.push_back(static_cast<char>(uint64_t{len} >> (8 * k)));
  }
  size_t min_len = *std::min_element(lengths.begin(), lengths.end() - 1);
  size_t max_len = *std::max_element(lengths.begin(), lengths.end());
  EXPECT_EQ(lengths.size(), kGoldenCount);
  EXPECT_EQ(min_len, kGoldenMin) << "smallest chunk but the last";
  EXPECT_EQ(max_len, kGoldenMax);
  EXPECT_EQ(kGoldenSize / lengths.size(), kGoldenMean);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(lengths[i], kGoldenFirst[i]) << "chunk " << i;
  EXPECT_EQ(Xxh3_64(packed), kGoldenLengthsDigest);
}

TEST(ChunkerTest, ChunksWithinBounds) {
  const Chunker c;
  const std::string data = testing::SeededBytes(48 << 20, 1);
  const std::vector<size_t> lengths = ChunkAll(c, data);
  size_t total = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    total += lengths[i];
    EXPECT_LE(lengths[i], format::kChunkMax);
    if (i + 1 < lengths.size()) {
      EXPECT_GT(lengths[i], format::kChunkMin) << "chunk " << i;
    }
  }
  EXPECT_EQ(total, data.size());
  // Normalized chunking keeps the mean near the average size.
  const double mean = static_cast<double>(total) / lengths.size();
  EXPECT_GT(mean, 0.8 * format::kChunkAvg);
  EXPECT_LT(mean, 1.6 * format::kChunkAvg);
}

TEST(ChunkerTest, ContractAtTheEdges) {
  const Chunker c(ChunkerParams{64, 256, 1024});
  const std::string data = testing::SeededBytes(4096, 9);
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  EXPECT_EQ(c.FindBoundary(p, 0, true), 0u);
  EXPECT_EQ(c.FindBoundary(p, 10, false), 0u);   // need more data
  EXPECT_EQ(c.FindBoundary(p, 10, true), 10u);   // a short tail is one chunk
  EXPECT_EQ(c.FindBoundary(p, 64, false), 0u);
  EXPECT_EQ(c.FindBoundary(p, 64, true), 64u);
  // Constant bytes give a constant hash, which has no cut point here: max_size wins, with or
  // without eof, as soon as max_size bytes are present.
  const std::string zeros(4096, '\0');
  const auto* z = reinterpret_cast<const uint8_t*>(zeros.data());
  EXPECT_EQ(c.FindBoundary(z, 4096, false), 1024u);
  EXPECT_EQ(c.FindBoundary(z, 4096, true), 1024u);
  EXPECT_EQ(c.FindBoundary(z, 1024, false), 1024u);
  EXPECT_EQ(c.FindBoundary(z, 1023, false), 0u);
  EXPECT_EQ(c.FindBoundary(z, 1023, true), 1023u);
  // A cut point found in a prefix is the same cut point in the whole.
  size_t whole = c.FindBoundary(p, data.size(), true);
  ASSERT_GT(whole, 64u);
  EXPECT_EQ(c.FindBoundary(p, whole, false), whole);
  EXPECT_EQ(c.FindBoundary(p, whole - 1, false), 0u);
}

TEST(ChunkerTest, StreamingMatchesWholeBuffer) {
  const std::string data = testing::SeededBytes(24 << 20, 2);
  const Chunker c;
  const std::vector<size_t> whole = ChunkAll(c, data);
  EXPECT_EQ(ChunkStreaming(c, data, 1, 3 << 20), whole);
  EXPECT_EQ(ChunkStreaming(c, data, 2, 300 << 10), whole);
  // Small parameters: many chunks, many 0 returns.
  const Chunker small(ChunkerParams{256, 1024, 8192});
  const std::string small_data = data.substr(0, 2 << 20);
  const std::vector<size_t> small_whole = ChunkAll(small, small_data);
  EXPECT_GT(small_whole.size(), 1000u);
  EXPECT_EQ(ChunkStreaming(small, small_data, 3, 700), small_whole);
}

// Resumed at any point before the first cut point, the search finds that cut point; resumed
// past it, a later one (positions before `scanned` are not tested again).
TEST(ChunkerTest, ResumedSearchFindsTheSameCutFromAnyEarlierPoint) {
  const std::string data = testing::SeededBytes(1 << 20, 8);
  const Chunker c(ChunkerParams{256, 1024, 8192});
  const uint8_t* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t checked = 0;
  for (size_t start = 0; start + 8192 <= data.size() && checked < 200; start += 4001) {
    const size_t first = c.FindBoundary(p + start, 8192, false);
    ASSERT_GT(first, 0u);
    for (size_t scanned = 0; scanned < first; ++scanned) {
      ASSERT_EQ(c.FindBoundaryFrom(p + start, 8192, scanned, false), first) << "start " << start << ", scanned " << scanned;
    }
    if (first < 8192) {
      const size_t later = c.FindBoundaryFrom(p + start, 8192, first, false);
      EXPECT_GT(later, first) << "start " << start;
    }
    ++checked;
  }
  EXPECT_GT(checked, 100u);
}

// A search resumed after a 0 finds what a search from the chunk's start finds, for pieces far
// smaller and larger than the 64 bytes the hash depends on.
TEST(ChunkerTest, ResumedSearchMatchesWholeBuffer) {
  const std::string data = testing::SeededBytes(24 << 20, 3);
  const Chunker c;
  const std::vector<size_t> whole = ChunkAll(c, data);
  EXPECT_EQ(ChunkStreaming(c, data, 4, 64 << 10, /*resume=*/true), whole);
  EXPECT_EQ(ChunkStreaming(c, data, 5, 3 << 20, /*resume=*/true), whole);
  const Chunker small(ChunkerParams{256, 1024, 8192});
  const std::string small_data = data.substr(0, 1 << 20);
  const std::vector<size_t> small_whole = ChunkAll(small, small_data);
  EXPECT_GT(small_whole.size(), 500u);
  EXPECT_EQ(ChunkStreaming(small, small_data, 6, 40, /*resume=*/true), small_whole);
  EXPECT_EQ(ChunkStreaming(small, small_data, 7, 200, /*resume=*/true), small_whole);
}

TEST(ChunkerTest, InsertionShiftsOnlyNearbyBoundaries) {
  const std::string data = testing::SeededBytes(32 << 20, 3);
  std::string edited = data;
  edited.insert(100000, testing::SeededBytes(777, 4));
  const Chunker c;
  auto chunk_hashes = [&](const std::string& d) {
    std::vector<Xxh128> out;
    size_t pos = 0;
    for (size_t len : ChunkAll(c, d)) {
      out.push_back(Xxh3_128(std::string_view(d).substr(pos, len)));
      pos += len;
    }
    return out;
  };
  const std::vector<Xxh128> before = chunk_hashes(data), after = chunk_hashes(edited);
  std::set<std::string> seen;
  for (const Xxh128& h : before) seen.insert(h.Hex());
  size_t shared = 0;
  for (const Xxh128& h : after) shared += seen.count(h.Hex());
  EXPECT_GT(before.size(), 20u);
  EXPECT_GE(shared + 2, after.size()) << "only the chunks around the insertion may change";
  // Boundaries resynchronise: from the end, all but the first couple of chunks are the old ones.
  size_t common_suffix = 0;
  while (common_suffix < std::min(before.size(), after.size()) &&
         before[before.size() - 1 - common_suffix] == after[after.size() - 1 - common_suffix]) {
    ++common_suffix;
  }
  EXPECT_GE(common_suffix + 2, after.size());
}

TEST(ChunkerTest, OddParametersKeepTheContract) {
  const std::string data = testing::SeededBytes(1 << 20, 5);
  for (ChunkerParams p : {ChunkerParams{0, 1, 1}, ChunkerParams{100, 50, 80},
                          ChunkerParams{1000, 3000, 5000}, ChunkerParams{0, 0, 0}}) {
    const Chunker c(p);
    size_t total = 0;
    for (size_t len : ChunkAll(c, data)) {
      EXPECT_LE(len, c.params().max_size);
      total += len;
    }
    EXPECT_EQ(total, data.size());
  }
}

}  // namespace
}  // namespace rw
