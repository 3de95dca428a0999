// Packs: files of independent zstd frames, one per blob, closed by a zstd skippable frame
// (the trailer) that lists the pack's blobs and carries an XXH3-64 of the pack. Layout in
// docs/format.md §4. `zstd -d` decompresses any pack (the skippable frame is ignored).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/status.h"
#include "engine/format/blob_id.h"

namespace rw {

enum class BlobType : uint8_t { kData = 1, kTree = 2 };

struct PackEntry {
  BlobType type = BlobType::kData;
  BlobId id;
  uint64_t offset = 0;             // of the zstd frame, from the start of the pack
  uint32_t compressed_length = 0;  // of the zstd frame
  uint32_t raw_length = 0;         // of the blob
};

// Compresses `raw` into one zstd frame that records its content size. Thread-safe (a
// thread-local context per thread). `level` is a zstd level.
std::string CompressBlob(std::string_view raw, int level);

// Decompresses one frame. Returns Corruption unless it decodes to exactly `raw_length` bytes.
Result<std::string> DecompressBlob(std::string_view frame, uint32_t raw_length);
// The same into `*out`, reusing its capacity (for loops over many blobs). On error `*out` holds
// nothing useful.
Status DecompressBlobInto(std::string_view frame, uint32_t raw_length, std::string* out);

// Accumulates a pack in memory. Not thread-safe.
class PackBuilder {
 public:
  // Appends a frame made by CompressBlob. REQUIRES: frame.size() < 4 GiB (a u32 on disk).
  void Add(BlobType type, const BlobId& id, std::string_view frame, uint32_t raw_length);
  size_t size() const { return data_.size(); }
  // Pre-allocates room for `bytes`, so a pack grows without reallocating past its target.
  void Reserve(size_t bytes) { data_.reserve(bytes); }
  size_t count() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // Appends the trailer and returns the whole pack; the builder is then empty again.
  // `entries` receives the entries in pack order.
  std::string Finish(std::vector<PackEntry>* entries);

 private:
  std::string data_;
  std::vector<PackEntry> entries_;
};

struct PackTrailer {
  std::vector<PackEntry> entries;
  uint64_t body_checksum = 0;  // XXH3-64 of bytes [0, trailer_offset)
  uint64_t trailer_offset = 0; // where the skippable frame starts
};

// Parses the trailer from the last `tail.size()` bytes of a pack of `file_size` bytes (`tail`
// may be the whole pack). When `tail` is too short to hold the whole trailer, returns
// InvalidArgument and sets *need (if given) to the number of tail bytes required; call again.
// Returns Corruption when the bytes are not a valid trailer: every offset and length is checked
// against file_size and each other (frames lie inside [0, trailer_offset), in order, without
// overlap), and the trailer's own checksum must match. NotSupported for an unknown trailer
// version. Never reads outside `tail`; the body checksum is returned, not checked.
Result<PackTrailer> ParsePackTrailer(std::string_view tail, uint64_t file_size,
                                     uint64_t* need = nullptr);

// Bytes of the fixed footer at the very end of a pack: u32 trailer payload size, magic "RWPT".
inline constexpr size_t kPackFooterSize = 8;

}  // namespace rw
