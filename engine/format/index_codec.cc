#include "engine/format/index_codec.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "engine/base/bytes.h"
#include "engine/format/checksum.h"
#include "engine/format/format_constants.h"

namespace rw {
namespace {

// docs/format.md §5.
constexpr uint64_t kHeaderSize = 8 + 4 + 4;  // magic, P, reserved
constexpr uint64_t kPackIdSize = 32;
constexpr uint64_t kEntrySize = 32 + 1 + 4 + 8 + 4 + 4;  // id type pack offset clen rlen
constexpr uint64_t kChecksumSize = 8;

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
constexpr bool kFuzzing = true;  // checksum mismatches are ignored (see CMakeLists.txt)
#else
constexpr bool kFuzzing = false;
#endif

std::string Num(uint64_t v) { return std::to_string(v); }

Status IndexCorruption(const std::string& what) { return Status::Corruption("index: " + what); }

}  // namespace

namespace {
// `entries`: sorted by id, each id once.
std::string EncodeSorted(const std::vector<IndexEntry>& entries) {
  // Packs are numbered in order of first use.
  std::vector<BlobId> packs;
  std::unordered_map<BlobId, uint32_t, BlobIdHash> pack_number;
  std::vector<uint32_t> numbers;
  numbers.reserve(entries.size());
  for (const IndexEntry& e : entries) {
    auto [it, inserted] = pack_number.emplace(e.pack, static_cast<uint32_t>(packs.size()));
    if (inserted) packs.push_back(e.pack);
    numbers.push_back(it->second);
  }

  std::string out;
  out.reserve(kHeaderSize + packs.size() * kPackIdSize + 8 + entries.size() * kEntrySize +
              kChecksumSize);
  out.append(format::kIndexMagic, sizeof format::kIndexMagic);
  PutU32(&out, static_cast<uint32_t>(packs.size()));
  PutU32(&out, 0);
  for (const BlobId& p : packs) out.append(p.View());
  PutU64(&out, entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const IndexEntry& e = entries[i];
    out.append(e.id.View());
    out.push_back(static_cast<char>(e.type));
    PutU32(&out, numbers[i]);
    PutU64(&out, e.offset);
    PutU32(&out, e.compressed_length);
    PutU32(&out, e.raw_length);
  }
  PutU64(&out, Xxh3_64(out));
  return out;
}

bool IdLess(const IndexEntry& a, const IndexEntry& b) { return a.id < b.id; }
bool IdEqual(const IndexEntry& a, const IndexEntry& b) { return a.id == b.id; }
}  // namespace

std::string EncodeIndex(std::vector<IndexEntry> entries) {
  // Sorted by id; of equal ids the first given is kept.
  std::stable_sort(entries.begin(), entries.end(), IdLess);
  entries.erase(std::unique(entries.begin(), entries.end(), IdEqual), entries.end());
  return EncodeSorted(entries);
}

std::string EncodeIndexInPlace(std::vector<IndexEntry>* entries) {
  std::sort(entries->begin(), entries->end(), IdLess);
  entries->erase(std::unique(entries->begin(), entries->end(), IdEqual), entries->end());
  return EncodeSorted(*entries);
}

uint64_t MaxIndexEntries(uint64_t size) {
  return size > kHeaderSize + 8 + kChecksumSize ? (size - kHeaderSize - 8 - kChecksumSize) / kEntrySize : 0;
}

Result<std::vector<IndexEntry>> DecodeIndex(std::string_view data) {
  const uint64_t size = data.size();
  if (size < kHeaderSize + 8 + kChecksumSize) {
    return IndexCorruption("file of " + Num(size) + " bytes is shorter than the smallest index (" +
                           Num(kHeaderSize + 8 + kChecksumSize) + " bytes)");
  }
  if (std::memcmp(data.data(), format::kIndexMagic, sizeof format::kIndexMagic) != 0) {
    return IndexCorruption("no \"RWIXv001\" magic at offset 0");
  }
  const uint64_t p = GetU32(data.data() + 8);
  if (GetU32(data.data() + 12) != 0) {
    return IndexCorruption("reserved field at offset 12 is not 0");
  }
  // Sizes, before anything is read past the header.
  const uint64_t n_offset = kHeaderSize + p * kPackIdSize;
  if (n_offset + 8 + kChecksumSize > size) {
    return IndexCorruption("pack count " + Num(p) + " at offset 8 exceeds the file size " +
                           Num(size));
  }
  const uint64_t n = GetU64(data.data() + n_offset);
  const uint64_t room = size - n_offset - 8 - kChecksumSize;
  if (n > room / kEntrySize || n * kEntrySize != room) {
    return IndexCorruption("entry count " + Num(n) + " at offset " + Num(n_offset) +
                           " does not match the file size " + Num(size));
  }
  const uint64_t stored_sum = GetU64(data.data() + size - kChecksumSize);
  if (stored_sum != Xxh3_64(data.substr(0, size - kChecksumSize)) && !kFuzzing) {
    return IndexCorruption("checksum mismatch at offset " + Num(size - kChecksumSize));
  }

  std::vector<BlobId> packs(p);
  for (uint64_t i = 0; i < p; ++i) packs[i] = BlobId::FromBytes(data.data() + kHeaderSize + i * 32);

  std::vector<IndexEntry> entries(n);
  const uint64_t entries_offset = n_offset + 8;
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t at = entries_offset + i * kEntrySize;
    const char* q = data.data() + at;
    auto where = [&] { return "entry " + Num(i) + " at offset " + Num(at); };  // only for errors
    IndexEntry& e = entries[i];
    e.id = BlobId::FromBytes(q);
    if (i > 0 && !(entries[i - 1].id < e.id)) {
      return IndexCorruption(where() + ": blob id " + e.id.Short() +
                             (entries[i - 1].id == e.id ? " is duplicated" : " is out of order"));
    }
    const auto type = static_cast<uint8_t>(q[32]);
    if (type != static_cast<uint8_t>(BlobType::kData) &&
        type != static_cast<uint8_t>(BlobType::kTree)) {
      return IndexCorruption(where() + ": blob type " + Num(type) + " is not 1 or 2");
    }
    e.type = static_cast<BlobType>(type);
    const uint32_t pack_number = GetU32(q + 33);
    if (pack_number >= p) {
      return IndexCorruption(where() + ": pack number " + Num(pack_number) + " is not below " +
                             "the pack count " + Num(p));
    }
    e.pack = packs[pack_number];
    e.offset = GetU64(q + 37);
    e.compressed_length = GetU32(q + 45);
    e.raw_length = GetU32(q + 49);
    if (e.compressed_length == 0 || e.offset + e.compressed_length < e.offset) {
      return IndexCorruption(where() + ": frame at offset " + Num(e.offset) + " + length " +
                             Num(e.compressed_length) + " is impossible");
    }
  }
  return entries;
}

}  // namespace rw
