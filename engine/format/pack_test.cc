#include "engine/format/pack.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zstd.h>

#include <random>

#include "engine/base/bytes.h"
#include "engine/format/checksum.h"
#include "engine/format/format_constants.h"
#include "engine/format/format_test_util.h"

namespace rw {
namespace {

struct Blob {
  BlobType type;
  std::string raw;
  BlobId id;
  std::string frame;
};

// `count` blobs of mixed size and compressibility, including an empty one.
std::vector<Blob> MakeBlobs(int count, uint64_t seed, size_t max_size) {
  std::mt19937_64 rng(seed);
  std::vector<Blob> blobs;
  for (int i = 0; i < count; ++i) {
    size_t size = i == 0 ? 0 : rng() % max_size;
    std::string raw = rng() % 2 ? testing::TextBytes(size, rng()) : testing::SeededBytes(size, rng());
    BlobType type = rng() % 4 == 0 ? BlobType::kTree : BlobType::kData;
    BlobId id = Sha256(raw);
    std::string frame = CompressBlob(raw, format::kDefaultZstdLevel);
    blobs.push_back({type, std::move(raw), id, std::move(frame)});
  }
  return blobs;
}

std::string BuildPack(const std::vector<Blob>& blobs, std::vector<PackEntry>* entries) {
  PackBuilder b;
  for (const Blob& blob : blobs) {
    b.Add(blob.type, blob.id, blob.frame, static_cast<uint32_t>(blob.raw.size()));
  }
  return b.Finish(entries);
}

// Checks what ParsePackTrailer promises of an accepted trailer.
void ExpectSane(const PackTrailer& t, uint64_t file_size) {
  uint64_t end = 0;
  EXPECT_LE(t.trailer_offset, file_size);
  for (const PackEntry& e : t.entries) {
    EXPECT_GE(e.offset, end);
    EXPECT_LE(e.offset + e.compressed_length, t.trailer_offset);
    end = e.offset + e.compressed_length;
  }
}

TEST(CompressBlobTest, RoundTripRecordsContentSize) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{100}, size_t{1} << 20}) {
    for (const std::string& raw : {testing::TextBytes(size, 1), testing::SeededBytes(size, 2)}) {
      std::string frame = CompressBlob(raw, 3);
      EXPECT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), raw.size());
      Result<std::string> back = DecompressBlob(frame, static_cast<uint32_t>(raw.size()));
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      EXPECT_EQ(*back, raw);
    }
  }
  std::string text = testing::TextBytes(1 << 20, 3);
  EXPECT_LT(CompressBlob(text, 3).size(), text.size() / 3);
  EXPECT_LT(CompressBlob(text, 19).size(), CompressBlob(text, 1).size());
}

TEST(CompressBlobTest, DecompressRejectsWrongFrames) {
  const std::string raw = testing::TextBytes(5000, 4);
  const std::string frame = CompressBlob(raw, 3);
  EXPECT_EQ(DecompressBlob(frame, 4999).status().code(), Code::kCorruption);
  EXPECT_EQ(DecompressBlob(frame, 5001).status().code(), Code::kCorruption);
  EXPECT_EQ(DecompressBlob(frame + "x", 5000).status().code(), Code::kCorruption);
  EXPECT_EQ(DecompressBlob(frame + frame, 5000).status().code(), Code::kCorruption);
  for (size_t len = 0; len < frame.size(); ++len) {
    EXPECT_EQ(DecompressBlob(frame.substr(0, len), 5000).status().code(), Code::kCorruption)
        << "prefix of " << len << " bytes";
  }
  // A frame without the content size.
  std::string no_size(ZSTD_compressBound(raw.size()), '\0');
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  ZSTD_inBuffer in{raw.data(), raw.size(), 0};
  ZSTD_outBuffer out{no_size.data(), no_size.size(), 0};
  ASSERT_EQ(ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_end), 0u);
  ZSTD_freeCCtx(cctx);
  no_size.resize(out.pos);
  Result<std::string> r = DecompressBlob(no_size, 5000);
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("content size"), std::string::npos) << r.status().message();
  // A skippable frame is not a blob.
  std::string skippable;
  PutU32(&skippable, format::kSkippableMagic);
  PutU32(&skippable, 0);
  EXPECT_EQ(DecompressBlob(skippable, 0).status().code(), Code::kCorruption);
}

TEST(CompressBlobTest, ImpossibleContentSizeIsRejectedWithoutAllocating) {
  // Magic; descriptor 0xE0 = 8-byte content size, single segment; content size 4 GiB - 1;
  // one empty last raw block. A valid frame header that claims far more than it can hold.
  std::string frame;
  PutU32(&frame, 0xFD2FB528);
  frame.push_back(static_cast<char>(0xE0));
  PutU64(&frame, 0xFFFFFFFFu);
  frame.append("\x01\x00\x00", 3);
  Result<std::string> r = DecompressBlob(frame, 0xFFFFFFFFu);
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("impossible"), std::string::npos) << r.status().message();
}

TEST(PackTest, RoundTripManyBlobs) {
  const std::vector<Blob> blobs = MakeBlobs(300, 5, 40000);
  std::vector<PackEntry> built;
  PackBuilder b;
  for (const Blob& blob : blobs) {
    b.Add(blob.type, blob.id, blob.frame, static_cast<uint32_t>(blob.raw.size()));
  }
  EXPECT_EQ(b.count(), blobs.size());
  const uint64_t body_size = b.size();
  const std::string pack = b.Finish(&built);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.size(), 0u);

  Result<PackTrailer> t = ParsePackTrailer(pack, pack.size());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ExpectSane(*t, pack.size());
  EXPECT_EQ(t->trailer_offset, body_size);
  EXPECT_EQ(t->body_checksum, Xxh3_64(std::string_view(pack).substr(0, body_size)));
  ASSERT_EQ(t->entries.size(), blobs.size());
  ASSERT_EQ(built.size(), blobs.size());
  uint64_t offset = 0;
  for (size_t i = 0; i < blobs.size(); ++i) {
    const PackEntry& e = t->entries[i];
    EXPECT_EQ(e.type, blobs[i].type);
    EXPECT_EQ(e.id, blobs[i].id);
    EXPECT_EQ(e.offset, offset);
    EXPECT_EQ(e.compressed_length, blobs[i].frame.size());
    EXPECT_EQ(e.raw_length, blobs[i].raw.size());
    EXPECT_EQ(built[i].offset, e.offset);
    EXPECT_EQ(built[i].id, e.id);
    Result<std::string> raw = DecompressBlob(pack.substr(e.offset, e.compressed_length),
                                             e.raw_length);
    ASSERT_TRUE(raw.ok()) << raw.status().ToString();
    EXPECT_EQ(Sha256(*raw), e.id);
    offset += e.compressed_length;
  }
  // The builder is reusable.
  b.Add(BlobType::kData, blobs[1].id, blobs[1].frame, static_cast<uint32_t>(blobs[1].raw.size()));
  std::string second = b.Finish(nullptr);
  ASSERT_TRUE(ParsePackTrailer(second, second.size()).ok());
  EXPECT_EQ(ParsePackTrailer(second, second.size())->entries.size(), 1u);
}

TEST(PackTest, TrailerLayoutByteByByte) {
  // Read back per docs/format.md §4, independently of ParsePackTrailer.
  const std::vector<Blob> blobs = MakeBlobs(2, 6, 3000);
  const std::string pack = BuildPack(blobs, nullptr);
  const uint64_t body = blobs[0].frame.size() + blobs[1].frame.size();
  const uint32_t s = 32 + 49 * 2;
  ASSERT_EQ(pack.size(), body + 8 + s);
  const char* end = pack.data() + pack.size();
  EXPECT_EQ(std::string(end - 4, 4), "RWPT");
  EXPECT_EQ(GetU32(end - 8), s);
  const char* t = pack.data() + body;
  EXPECT_EQ(GetU32(t), 0x184D2A5Eu);
  EXPECT_EQ(GetU32(t + 4), s);
  const char* payload = t + 8;
  EXPECT_EQ(GetU32(payload), 1u);  // version
  EXPECT_EQ(GetU32(payload + 4), 2u);
  for (int i = 0; i < 2; ++i) {
    const char* e = payload + 8 + 49 * i;
    EXPECT_EQ(static_cast<uint8_t>(e[0]), static_cast<uint8_t>(blobs[i].type));
    EXPECT_EQ(BlobId::FromBytes(e + 1), blobs[i].id);
    EXPECT_EQ(GetU64(e + 33), i == 0 ? 0 : blobs[0].frame.size());
    EXPECT_EQ(GetU32(e + 41), blobs[i].frame.size());
    EXPECT_EQ(GetU32(e + 45), blobs[i].raw.size());
  }
  EXPECT_EQ(GetU64(payload + 8 + 98), Xxh3_64(std::string_view(pack).substr(0, body)));
  EXPECT_EQ(GetU64(payload + 8 + 98 + 8), Xxh3_64(std::string_view(payload, 8 + 98 + 8)));
}

TEST(PackTest, ShortTailAsksForMore) {
  const std::string pack = BuildPack(MakeBlobs(10, 7, 2000), nullptr);
  const std::string_view whole(pack);
  uint64_t need = 0;
  Result<PackTrailer> r = ParsePackTrailer(whole.substr(pack.size() - 3), pack.size(), &need);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(need, kPackFooterSize);
  r = ParsePackTrailer(whole.substr(pack.size() - 8), pack.size(), &need);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(need, 8u + 32 + 49 * 10);
  r = ParsePackTrailer(whole.substr(pack.size() - need), pack.size(), &need);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->entries.size(), 10u);
  EXPECT_EQ(r->trailer_offset, pack.size() - need);
  // A tail longer than the file is a caller error.
  EXPECT_EQ(ParsePackTrailer(whole, pack.size() - 1).status().code(), Code::kInvalidArgument);
}

TEST(PackTest, EmptyPack) {
  PackBuilder b;
  std::vector<PackEntry> entries(3);
  const std::string pack = b.Finish(&entries);
  EXPECT_TRUE(entries.empty());
  EXPECT_EQ(pack.size(), 40u);
  Result<PackTrailer> t = ParsePackTrailer(pack, pack.size());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_TRUE(t->entries.empty());
  EXPECT_EQ(t->trailer_offset, 0u);
  EXPECT_EQ(t->body_checksum, Xxh3_64(""));
}

TEST(PackTest, EveryTruncationIsRejected) {
  const std::string pack = BuildPack(MakeBlobs(3, 8, 300), nullptr);
  for (size_t len = 0; len < pack.size(); ++len) {
    Result<PackTrailer> head = ParsePackTrailer(pack.substr(0, len), len);
    EXPECT_EQ(head.status().code(), Code::kCorruption) << "first " << len << " bytes";
    Result<PackTrailer> tail = ParsePackTrailer(pack.substr(pack.size() - len), len);
    EXPECT_EQ(tail.status().code(), Code::kCorruption) << "last " << len << " bytes";
  }
}

TEST(PackTest, EveryTrailerByteFlipIsRejected) {
  const std::string pack = BuildPack(MakeBlobs(3, 9, 300), nullptr);
  Result<PackTrailer> good = ParsePackTrailer(pack, pack.size());
  ASSERT_TRUE(good.ok());
  for (uint64_t i = good->trailer_offset; i < pack.size(); ++i) {
    for (uint8_t mask : {0x01, 0x10, 0x80, 0xFF}) {
      std::string bad = pack;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      Result<PackTrailer> r = ParsePackTrailer(bad, bad.size());
      EXPECT_EQ(r.status().code(), Code::kCorruption) << "byte " << i << " ^ " << int{mask};
    }
  }
}

// Recomputes the trailer checksum of a pack whose trailer was edited, to reach the checks
// behind it.
std::string ResealTrailer(std::string pack) {
  const uint64_t s = GetU32(pack.data() + pack.size() - 8);
  const size_t payload = pack.size() - s;
  const std::string sum_input = pack.substr(payload, s - 16);
  std::string sum;
  PutU64(&sum, Xxh3_64(sum_input));
  pack.replace(payload + s - 16, 8, sum);
  return pack;
}

TEST(PackTest, ValidChecksumButBadContent) {
  const std::vector<Blob> blobs = MakeBlobs(3, 14, 300);
  const std::string pack = BuildPack(blobs, nullptr);
  const uint64_t body = blobs[0].frame.size() + blobs[1].frame.size() + blobs[2].frame.size();
  const size_t payload = body + 8;
  auto expect = [](const std::string& bad, Code code, const std::string& what) {
    Result<PackTrailer> r = ParsePackTrailer(bad, bad.size());
    EXPECT_EQ(r.status().code(), code) << what;
    EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().message();
  };
  ASSERT_TRUE(ParsePackTrailer(ResealTrailer(pack), pack.size()).ok());
  std::string version = pack;
  version[payload] = 2;
  expect(ResealTrailer(version), Code::kNotSupported, "version 2");
  std::string type = pack;
  type[payload + 8 + 49] = 7;
  expect(ResealTrailer(type), Code::kCorruption, "entry 1 (at offset " +
                                                     std::to_string(payload + 8 + 49) +
                                                     "): blob type 7");
  // Entry 2's frame pushed past the trailer.
  std::string past = pack;
  const uint64_t offset2 = blobs[0].frame.size() + blobs[1].frame.size() + 5;
  std::string field;
  PutU64(&field, offset2);
  past.replace(payload + 8 + 2 * 49 + 33, 8, field);
  expect(ResealTrailer(past), Code::kCorruption,
         "offset " + std::to_string(offset2) + " + length " +
             std::to_string(blobs[2].frame.size()) + " exceeds trailer offset " +
             std::to_string(body));
  // Entry 1 overlapping entry 0.
  std::string overlap = pack;
  field.clear();
  PutU64(&field, 1);
  overlap.replace(payload + 8 + 49 + 33, 8, field);
  expect(ResealTrailer(overlap), Code::kCorruption, "overlaps the previous frame");
}

TEST(PackTest, BodyFlipIsCaughtByTheBodyChecksum) {
  const std::string pack = BuildPack(MakeBlobs(3, 10, 300), nullptr);
  std::string bad = pack;
  bad[5] = static_cast<char>(bad[5] ^ 0x04);
  Result<PackTrailer> t = ParsePackTrailer(bad, bad.size());
  ASSERT_TRUE(t.ok());  // the trailer alone cannot see it
  EXPECT_NE(Xxh3_64(std::string_view(bad).substr(0, t->trailer_offset)), t->body_checksum);
  EXPECT_EQ(Xxh3_64(std::string_view(pack).substr(0, t->trailer_offset)), t->body_checksum);
}

TEST(PackTest, MutatedPacksNeverCrash) {
  const std::string pack = BuildPack(MakeBlobs(4, 11, 200), nullptr);
  std::mt19937_64 rng(12);
  for (int iter = 0; iter < 20000; ++iter) {
    std::string m = pack;
    for (int k = 1 + rng() % 4; k > 0; --k) m[rng() % m.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) m.erase(0, rng() % m.size());
    uint64_t file_size = m.size() + (rng() % 8 == 0 ? rng() % 100 : 0);
    uint64_t need = 0;
    Result<PackTrailer> r = ParsePackTrailer(m, file_size, &need);
    if (r.ok()) ExpectSane(*r, file_size);
  }
}

TEST(PackTest, ZstdCliDecompressesAPack) {
  bool ok = false;
  testing::RunCommand("command -v zstd", &ok);
  if (!ok) GTEST_SKIP() << "the zstd command is not installed";
  const std::vector<Blob> blobs = MakeBlobs(40, 13, 100000);
  std::string expected;
  for (const Blob& b : blobs) expected += b.raw;
  const std::string path = "/tmp/rewind_pack_test_" + std::to_string(getpid()) + ".pack";
  ASSERT_TRUE(testing::WriteFile(path, BuildPack(blobs, nullptr)));
  std::string out = testing::RunCommand("zstd -d -c -q " + path, &ok);
  EXPECT_TRUE(ok);
  EXPECT_EQ(out.size(), expected.size());
  EXPECT_TRUE(out == expected);
  // A pack that is only a trailer decompresses to nothing.
  ASSERT_TRUE(testing::WriteFile(path, PackBuilder().Finish(nullptr)));
  out = testing::RunCommand("zstd -d -c -q " + path, &ok);
  EXPECT_TRUE(ok);
  EXPECT_EQ(out, "");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace rw
