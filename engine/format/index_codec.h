// Index files: which blob lives in which pack, where. Compact binary, checksummed; layout in
// docs/format.md §5. A repository has many index files; their union is the index.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/base/status.h"
#include "engine/format/blob_id.h"
#include "engine/format/pack.h"

namespace rw {

struct IndexEntry {
  BlobId id;
  BlobType type = BlobType::kData;
  BlobId pack;
  uint64_t offset = 0;
  uint32_t compressed_length = 0;
  uint32_t raw_length = 0;
};

// Encodes entries (any order; the encoding sorts them by id, packs by first use). Deterministic.
std::string EncodeIndex(std::vector<IndexEntry> entries);
// The same for entries whose ids are all different (a BlobSink's), sorting `*entries` by id in
// place, with no copy and no merge buffer (a backup of a million files holds 90 MB of them).
// Of repeated ids, one is kept (which one is not defined).
std::string EncodeIndexInPlace(std::vector<IndexEntry>* entries);

// Decodes and checks magic, lengths and the trailing XXH3-64; Corruption with the byte
// offset of the problem otherwise.
Result<std::vector<IndexEntry>> DecodeIndex(std::string_view data);
// At most how many entries an index file of `size` bytes holds (for sizing a table).
uint64_t MaxIndexEntries(uint64_t size);

}  // namespace rw
