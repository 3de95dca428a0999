#include "engine/format/pack.h"

#include <zstd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "engine/base/bytes.h"
#include "engine/format/checksum.h"
#include "engine/format/format_constants.h"

namespace rw {
namespace {

// Payload bytes besides the entries: version, n, body checksum, trailer checksum, S, "RWPT".
constexpr uint64_t kPayloadFixed = 4 + 4 + 8 + 8 + 4 + 4;
// A skippable frame's header: magic, payload size.
constexpr uint64_t kSkippableHeader = 8;
// The zstd frame magic (RFC 8878 §3.1.1), little-endian on disk.
constexpr uint32_t kZstdFrameMagic = 0xFD2FB528;
// A zstd block is at most 128 KiB of output and at least 4 bytes of input when it produces
// anything (3-byte header + 1 RLE byte); this bounds what a frame can honestly decode to.
constexpr uint64_t kZstdBlockMax = 128 * 1024;

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
constexpr bool kFuzzing = true;  // checksum mismatches are ignored (see CMakeLists.txt)
#else
constexpr bool kFuzzing = false;
#endif

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// One context per thread, reused across calls (creating one costs more than compressing a
// small blob). Allocation failure is fatal, as with operator new.
ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxFree> ctx(ZSTD_createCCtx());
  if (!ctx) std::abort();
  return ctx.get();
}
ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> ctx(ZSTD_createDCtx());
  if (!ctx) std::abort();
  return ctx.get();
}

std::string Num(uint64_t v) { return std::to_string(v); }

std::string Hex32(uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

Status TrailerCorruption(const std::string& what) {
  return Status::Corruption("pack trailer: " + what);
}

}  // namespace

std::string CompressBlob(std::string_view raw, int level) {
  ZSTD_CCtx* cctx = ThreadCCtx();
  ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);  // zstd clamps the level
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0);  // the blob id checks the content
  // Into a buffer that is not zero-filled (a std::string would be); only the frame is copied out.
  // The buffer is kept by the thread for blobs up to about 1 MiB (the bench tree's 90k small
  // files were as many allocations, each under the one malloc arena's lock); larger ones get
  // their own.
  constexpr size_t kKeptScratch = (1 << 20) + (64 << 10);
  thread_local std::unique_ptr<char[]> kept;  // kKeptScratch bytes, once made
  const size_t bound = ZSTD_compressBound(raw.size());
  std::unique_ptr<char[]> own;
  char* scratch;
  if (bound <= kKeptScratch) {
    if (!kept) kept = std::make_unique_for_overwrite<char[]>(kKeptScratch);
    scratch = kept.get();
  } else {
    own = std::make_unique_for_overwrite<char[]>(bound);
    scratch = own.get();
  }
  size_t r = ZSTD_compress2(cctx, scratch, bound, raw.data(), raw.size());
  // With a ZSTD_compressBound() buffer, compression fails only when memory runs out.
  if (ZSTD_isError(r)) std::abort();
  return std::string(scratch, r);
}

Result<std::string> DecompressBlob(std::string_view frame, uint32_t raw_length) {
  std::string out;
  RW_RETURN_IF_ERROR(DecompressBlobInto(frame, raw_length, &out));
  return out;
}

Status DecompressBlobInto(std::string_view frame, uint32_t raw_length, std::string* out_ptr) {
  if (frame.size() < 4 || GetU32(frame.data()) != kZstdFrameMagic) {
    return Status::Corruption("blob frame: no zstd frame magic in its first 4 bytes");
  }
  unsigned long long content = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (content == ZSTD_CONTENTSIZE_ERROR) {
    return Status::Corruption("blob frame: invalid zstd frame header");
  }
  if (content == ZSTD_CONTENTSIZE_UNKNOWN) {
    return Status::Corruption("blob frame: zstd frame header lacks the content size");
  }
  if (content != raw_length) {
    return Status::Corruption("blob frame: content size " + Num(content) +
                              " differs from the raw length " + Num(raw_length));
  }
  size_t frame_size = ZSTD_findFrameCompressedSize(frame.data(), frame.size());
  if (ZSTD_isError(frame_size)) {
    return Status::Corruption(std::string("blob frame: ") + ZSTD_getErrorName(frame_size));
  }
  if (frame_size != frame.size()) {
    return Status::Corruption("blob frame: zstd frame is " + Num(frame_size) +
                              " bytes, stored length is " + Num(frame.size()));
  }
  if (raw_length > (frame.size() / 4 + 1) * kZstdBlockMax) {
    return Status::Corruption("blob frame: content size " + Num(raw_length) +
                              " is impossible for a frame of " + Num(frame.size()) + " bytes");
  }
  std::string& out = *out_ptr;
  out.resize(raw_length);
  size_t r = ZSTD_decompressDCtx(ThreadDCtx(), out.data(), out.size(), frame.data(),
                                 frame.size());
  if (ZSTD_isError(r)) {
    return Status::Corruption(std::string("blob frame: ") + ZSTD_getErrorName(r));
  }
  if (r != raw_length) {
    return Status::Corruption("blob frame: decoded " + Num(r) + " bytes, expected " +
                              Num(raw_length));
  }
  return Status::OK();
}

void PackBuilder::Add(BlobType type, const BlobId& id, std::string_view frame,
                      uint32_t raw_length) {
  PackEntry e;
  e.type = type;
  e.id = id;
  e.offset = data_.size();
  e.compressed_length = static_cast<uint32_t>(frame.size());
  e.raw_length = raw_length;
  entries_.push_back(e);
  data_.append(frame);
}

std::string PackBuilder::Finish(std::vector<PackEntry>* entries) {
  const uint64_t n = entries_.size();
  const uint32_t s = static_cast<uint32_t>(kPayloadFixed + n * format::kPackEntrySize);
  const uint64_t body_checksum = Xxh3_64(data_);

  data_.reserve(data_.size() + kSkippableHeader + s);
  PutU32(&data_, format::kSkippableMagic);
  PutU32(&data_, s);
  const size_t payload_start = data_.size();
  PutU32(&data_, format::kPackTrailerVersion);
  PutU32(&data_, static_cast<uint32_t>(n));
  for (const PackEntry& e : entries_) {
    data_.push_back(static_cast<char>(e.type));
    data_.append(e.id.View());
    PutU64(&data_, e.offset);
    PutU32(&data_, e.compressed_length);
    PutU32(&data_, e.raw_length);
  }
  PutU64(&data_, body_checksum);
  PutU64(&data_, Xxh3_64(std::string_view(data_).substr(payload_start)));
  PutU32(&data_, s);
  data_.append(format::kPackTrailerMagic, 4);

  if (entries != nullptr) *entries = std::move(entries_);
  entries_.clear();
  std::string pack = std::move(data_);
  data_.clear();
  return pack;
}

Result<PackTrailer> ParsePackTrailer(std::string_view tail, uint64_t file_size, uint64_t* need) {
  const uint64_t min_frame = kSkippableHeader + kPayloadFixed;
  if (tail.size() > file_size) {
    return Status::InvalidArgument("pack trailer: tail of " + Num(tail.size()) +
                                   " bytes is longer than the file size " + Num(file_size));
  }
  if (file_size < min_frame) {
    return TrailerCorruption("file size " + Num(file_size) + " is less than the " +
                             Num(min_frame) + " bytes of the smallest trailer");
  }
  if (tail.size() < kPackFooterSize) {
    if (need != nullptr) *need = kPackFooterSize;
    return Status::InvalidArgument("pack trailer: need the last " + Num(kPackFooterSize) +
                                   " bytes, have " + Num(tail.size()));
  }

  // The footer: u32 S, "RWPT".
  const char* footer = tail.data() + tail.size() - kPackFooterSize;
  const uint64_t footer_offset = file_size - kPackFooterSize;
  if (std::memcmp(footer + 4, format::kPackTrailerMagic, 4) != 0) {
    return TrailerCorruption("no \"RWPT\" magic at offset " + Num(footer_offset + 4));
  }
  const uint64_t s = GetU32(footer);
  if (s < kPayloadFixed || (s - kPayloadFixed) % format::kPackEntrySize != 0) {
    return TrailerCorruption("payload size " + Num(s) + " at offset " + Num(footer_offset) +
                             " is not 32 + 49 * n");
  }
  const uint64_t frame_size = kSkippableHeader + s;
  if (frame_size > file_size) {
    return TrailerCorruption("trailer of " + Num(frame_size) + " bytes exceeds file size " +
                             Num(file_size));
  }
  if (tail.size() < frame_size) {
    if (need != nullptr) *need = frame_size;
    return Status::InvalidArgument("pack trailer: need the last " + Num(frame_size) +
                                   " bytes, have " + Num(tail.size()));
  }

  // The skippable frame header.
  const uint64_t trailer_offset = file_size - frame_size;
  const char* frame = tail.data() + tail.size() - frame_size;
  const uint32_t magic = GetU32(frame);
  if (magic != format::kSkippableMagic) {
    return TrailerCorruption("skippable frame magic " + Hex32(magic) + " at offset " +
                             Num(trailer_offset) + ", expected " +
                             Hex32(format::kSkippableMagic));
  }
  if (GetU32(frame + 4) != s) {
    return TrailerCorruption("frame size " + Num(GetU32(frame + 4)) + " at offset " +
                             Num(trailer_offset + 4) + " differs from footer size " + Num(s));
  }

  // The payload; checked by its checksum before anything in it is believed.
  const char* payload = frame + kSkippableHeader;
  const uint64_t payload_offset = trailer_offset + kSkippableHeader;
  const uint64_t stored_sum = GetU64(payload + s - 16);
  const uint64_t actual_sum = Xxh3_64(std::string_view(payload, s - 16));
  if (stored_sum != actual_sum && !kFuzzing) {
    return TrailerCorruption("checksum mismatch at offset " + Num(payload_offset + s - 16));
  }
  const uint32_t version = GetU32(payload);
  if (version != format::kPackTrailerVersion) {
    return Status::NotSupported("pack trailer: version " + Num(version) + " at offset " +
                                Num(payload_offset) + " is not supported (expected " +
                                Num(format::kPackTrailerVersion) + ")");
  }
  const uint64_t n = GetU32(payload + 4);
  if (n != (s - kPayloadFixed) / format::kPackEntrySize) {
    return TrailerCorruption("entry count " + Num(n) + " at offset " + Num(payload_offset + 4) +
                             " does not fit payload size " + Num(s));
  }

  PackTrailer t;
  t.trailer_offset = trailer_offset;
  t.body_checksum = GetU64(payload + 8 + n * format::kPackEntrySize);
  t.entries.reserve(n);
  uint64_t prev_end = 0;
  for (uint64_t i = 0; i < n; ++i) {
    const char* p = payload + 8 + i * format::kPackEntrySize;
    // Built only for an error: a trailer of 50k entries made 100k strings for nothing.
    auto where = [&] {
      return "entry " + Num(i) + " (at offset " + Num(payload_offset + 8 + i * format::kPackEntrySize) + ")";
    };
    PackEntry e;
    const auto type = static_cast<uint8_t>(p[0]);
    if (type != static_cast<uint8_t>(BlobType::kData) &&
        type != static_cast<uint8_t>(BlobType::kTree)) {
      return TrailerCorruption(where() + ": blob type " + Num(type) + " is not 1 or 2");
    }
    e.type = static_cast<BlobType>(type);
    e.id = BlobId::FromBytes(p + 1);
    e.offset = GetU64(p + 33);
    e.compressed_length = GetU32(p + 41);
    e.raw_length = GetU32(p + 45);
    if (e.compressed_length == 0) {
      return TrailerCorruption(where() + ": compressed length 0");
    }
    if (e.offset < prev_end) {
      return TrailerCorruption(where() + ": offset " + Num(e.offset) +
                               " overlaps the previous frame, which ends at " + Num(prev_end));
    }
    if (e.offset > trailer_offset || e.compressed_length > trailer_offset - e.offset) {
      return TrailerCorruption(where() + ": offset " + Num(e.offset) + " + length " +
                               Num(e.compressed_length) + " exceeds trailer offset " +
                               Num(trailer_offset));
    }
    prev_end = e.offset + e.compressed_length;
    t.entries.push_back(e);
  }
  return t;
}

}  // namespace rw
