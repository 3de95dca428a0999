#include "engine/format/index_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "engine/base/bytes.h"
#include "engine/format/checksum.h"

namespace rw {
namespace {

std::vector<IndexEntry> RandomEntries(size_t n, size_t packs, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<BlobId> pack_ids;
  for (size_t i = 0; i < packs; ++i) pack_ids.push_back(Sha256("pack " + std::to_string(i)));
  std::vector<IndexEntry> out;
  for (size_t i = 0; i < n; ++i) {
    IndexEntry e;
    e.id = Sha256(std::to_string(seed) + "/" + std::to_string(i));
    e.type = rng() % 3 == 0 ? BlobType::kTree : BlobType::kData;
    e.pack = pack_ids[rng() % packs];
    e.offset = rng() % (1ull << 40);
    e.compressed_length = 1 + static_cast<uint32_t>(rng() % (8 << 20));
    e.raw_length = static_cast<uint32_t>(rng());
    out.push_back(e);
  }
  return out;
}

bool SameEntry(const IndexEntry& a, const IndexEntry& b) {
  return a.id == b.id && a.type == b.type && a.pack == b.pack && a.offset == b.offset &&
         a.compressed_length == b.compressed_length && a.raw_length == b.raw_length;
}

// Recomputes the trailing checksum after an edit, to reach the checks behind it.
std::string Reseal(std::string data) {
  data.resize(data.size() - 8);
  PutU64(&data, Xxh3_64(data));
  return data;
}

TEST(IndexCodecTest, RoundTrip) {
  std::vector<IndexEntry> entries = RandomEntries(2000, 7, 1);
  const std::string encoded = EncodeIndex(entries);
  EXPECT_EQ(encoded.size(), 16 + 7 * 32 + 8 + 2000 * 53 + 8);
  Result<std::vector<IndexEntry>> decoded = DecodeIndex(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  std::sort(entries.begin(), entries.end(),
            [](const IndexEntry& a, const IndexEntry& b) { return a.id < b.id; });
  ASSERT_EQ(decoded->size(), entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_TRUE(SameEntry((*decoded)[i], entries[i])) << "entry " << i;
  }
}

TEST(IndexCodecTest, EncodingIsDeterministic) {
  std::vector<IndexEntry> entries = RandomEntries(300, 4, 2);
  const std::string a = EncodeIndex(entries);
  std::shuffle(entries.begin(), entries.end(), std::mt19937_64(3));
  EXPECT_EQ(EncodeIndex(entries), a);
}

TEST(IndexCodecTest, InPlaceEncodingEqualsTheCopyingOneAndSortsTheCaller) {
  std::vector<IndexEntry> entries = RandomEntries(1000, 5, 4);
  const std::string expected = EncodeIndex(entries);
  std::vector<IndexEntry> in_place = entries;
  EXPECT_EQ(EncodeIndexInPlace(&in_place), expected);
  ASSERT_EQ(in_place.size(), entries.size());
  EXPECT_TRUE(std::is_sorted(in_place.begin(), in_place.end(),
                             [](const IndexEntry& a, const IndexEntry& b) { return a.id < b.id; }));
  // Every entry is still there, unchanged.
  std::sort(entries.begin(), entries.end(), [](const IndexEntry& a, const IndexEntry& b) { return a.id < b.id; });
  for (size_t i = 0; i < entries.size(); ++i) EXPECT_TRUE(SameEntry(in_place[i], entries[i])) << "entry " << i;
  // An id given twice is kept once.
  std::vector<IndexEntry> twice = {entries[0], entries[1], entries[0]};
  const std::string enc = EncodeIndexInPlace(&twice);
  EXPECT_EQ(twice.size(), 2u);
  auto decoded = DecodeIndex(enc);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->size(), 2u);
}

// MaxIndexEntries, from a file's size alone (how the repository sizes its index table before
// reading the files), is never below the entries the file holds, and is above them by no more
// than the room its pack ids take.
TEST(IndexCodecTest, MaxIndexEntriesBoundsTheCountFromTheSize) {
  for (size_t n : {0, 1, 2, 7, 100, 5000}) {
    for (size_t packs : {1, 3, 40}) {
      const std::string encoded = EncodeIndex(RandomEntries(n, packs, n * 7 + packs));
      auto decoded = DecodeIndex(encoded);
      ASSERT_TRUE(decoded.ok());
      const size_t used = n == 0 ? 0 : std::min(n, packs);  // packs named by some entry
      EXPECT_GE(MaxIndexEntries(encoded.size()), decoded->size()) << n << " entries, " << packs << " packs";
      EXPECT_LE(MaxIndexEntries(encoded.size()), decoded->size() + used) << n << " entries, " << packs << " packs";
    }
  }
  EXPECT_EQ(MaxIndexEntries(0), 0u);
  EXPECT_EQ(MaxIndexEntries(20), 0u);
}

TEST(IndexCodecTest, EmptyIndex) {
  const std::string encoded = EncodeIndex({});
  EXPECT_EQ(encoded.size(), 32u);
  Result<std::vector<IndexEntry>> decoded = DecodeIndex(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(decoded->empty());
}

TEST(IndexCodecTest, LayoutByteByByte) {
  // Read back per docs/format.md §5, independently of DecodeIndex.
  std::vector<IndexEntry> entries = RandomEntries(3, 2, 4);
  entries[0].pack = entries[1].pack = Sha256("pack b");
  entries[2].pack = Sha256("pack a");
  const std::string enc = EncodeIndex(entries);
  std::sort(entries.begin(), entries.end(),
            [](const IndexEntry& a, const IndexEntry& b) { return a.id < b.id; });
  ASSERT_EQ(enc.size(), 16 + 2 * 32 + 8 + 3 * 53 + 8u);
  EXPECT_EQ(enc.substr(0, 8), "RWIXv001");
  EXPECT_EQ(GetU32(enc.data() + 8), 2u);
  EXPECT_EQ(GetU32(enc.data() + 12), 0u);
  // Packs in order of first use by the sorted entries.
  EXPECT_EQ(BlobId::FromBytes(enc.data() + 16), entries[0].pack);
  const BlobId second = BlobId::FromBytes(enc.data() + 48);
  EXPECT_NE(second, entries[0].pack);
  EXPECT_EQ(GetU64(enc.data() + 80), 3u);
  for (int i = 0; i < 3; ++i) {
    const char* e = enc.data() + 88 + 53 * i;
    EXPECT_EQ(BlobId::FromBytes(e), entries[i].id);
    EXPECT_EQ(static_cast<uint8_t>(e[32]), static_cast<uint8_t>(entries[i].type));
    const uint32_t pack_number = GetU32(e + 33);
    ASSERT_LT(pack_number, 2u);
    EXPECT_EQ(BlobId::FromBytes(enc.data() + 16 + 32 * pack_number), entries[i].pack);
    EXPECT_EQ(GetU64(e + 37), entries[i].offset);
    EXPECT_EQ(GetU32(e + 45), entries[i].compressed_length);
    EXPECT_EQ(GetU32(e + 49), entries[i].raw_length);
  }
  EXPECT_EQ(GetU64(enc.data() + enc.size() - 8),
            Xxh3_64(std::string_view(enc).substr(0, enc.size() - 8)));
}

TEST(IndexCodecTest, DuplicateIdsKeepTheFirst) {
  std::vector<IndexEntry> entries = RandomEntries(3, 2, 5);
  IndexEntry dup = entries[1];
  dup.offset += 1000;
  entries.push_back(dup);
  Result<std::vector<IndexEntry>> decoded = DecodeIndex(EncodeIndex(entries));
  ASSERT_TRUE(decoded.ok());
  ASSERT_EQ(decoded->size(), 3u);
  for (const IndexEntry& e : *decoded) {
    if (e.id == dup.id) {
      EXPECT_EQ(e.offset, entries[1].offset);
    }
  }
}

TEST(IndexCodecTest, EveryByteFlipIsCorruption) {
  const std::string enc = EncodeIndex(RandomEntries(3, 2, 6));
  for (size_t i = 0; i < enc.size(); ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xFF}) {
      std::string bad = enc;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      EXPECT_EQ(DecodeIndex(bad).status().code(), Code::kCorruption)
          << "byte " << i << " ^ " << int{mask};
    }
  }
}

TEST(IndexCodecTest, EveryTruncationIsCorruption) {
  const std::string enc = EncodeIndex(RandomEntries(3, 2, 7));
  for (size_t len = 0; len < enc.size(); ++len) {
    EXPECT_EQ(DecodeIndex(enc.substr(0, len)).status().code(), Code::kCorruption) << len;
  }
  EXPECT_EQ(DecodeIndex(enc + '\0').status().code(), Code::kCorruption);
}

TEST(IndexCodecTest, ValidChecksumButBadContent) {
  const std::string enc = EncodeIndex(RandomEntries(3, 2, 8));
  const size_t e0 = 16 + 2 * 32 + 8, e1 = e0 + 53;
  auto expect = [](const std::string& data, const char* what) {
    Result<std::vector<IndexEntry>> r = DecodeIndex(data);
    EXPECT_EQ(r.status().code(), Code::kCorruption) << what;
    EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().message();
  };
  std::string dup = enc;
  dup.replace(e1, 32, enc.substr(e0, 32));
  expect(Reseal(dup), "duplicated");
  std::string swapped = enc;
  swapped.replace(e0, 32, enc.substr(e1, 32));
  swapped.replace(e1, 32, enc.substr(e0, 32));
  expect(Reseal(swapped), "out of order");
  std::string type = enc;
  type[e1 + 32] = 3;
  expect(Reseal(type), "blob type 3");
  std::string pack = enc;
  pack[e1 + 33] = 2;
  expect(Reseal(pack), "pack number 2");
  std::string reserved = enc;
  reserved[12] = 1;
  expect(Reseal(reserved), "reserved");
  std::string zero_length = enc;
  std::fill_n(zero_length.begin() + e1 + 45, 4, '\0');
  expect(Reseal(zero_length), "impossible");
}

TEST(IndexCodecTest, GarbageNeverCrashes) {
  std::mt19937_64 rng(9);
  const std::string enc = EncodeIndex(RandomEntries(5, 3, 10));
  for (int iter = 0; iter < 20000; ++iter) {
    std::string m = enc;
    for (int k = 1 + rng() % 3; k > 0; --k) m[rng() % m.size()] = static_cast<char>(rng());
    if (rng() % 3 == 0) m.resize(rng() % m.size());
    // Sizes and counts are believed only after the checksum; reseal half of the time.
    if (rng() % 2 == 0 && m.size() >= 8) m = Reseal(m);
    Result<std::vector<IndexEntry>> r = DecodeIndex(m);
    if (r.ok()) {
      EXPECT_LE(r->size() * 53, m.size());
    }
  }
}

}  // namespace
}  // namespace rw
