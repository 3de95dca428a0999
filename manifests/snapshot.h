// Snapshot documents: one small JSON document per snapshot, stored as snapshots/<sha256 of the
// document>. Layout in docs/format.md §7. No I/O here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/status.h"
#include "engine/format/blob_id.h"

namespace rewind {

struct SnapshotStats {
  uint64_t files = 0, dirs = 0, symlinks = 0, others = 0;
  uint64_t bytes_read = 0;        // content bytes read from the source
  uint64_t bytes_total = 0;       // logical size of the files in the snapshot
  uint64_t blobs_added = 0;
  uint64_t bytes_added = 0;       // compressed bytes added to packs
  uint64_t errors = 0;            // entries that could not be read (snapshot incomplete)
  uint64_t changed_during_read = 0;
  uint64_t excluded = 0;          // entries excluded by rules
  double duration_s = 0;
  friend bool operator==(const SnapshotStats&, const SnapshotStats&) = default;
};

struct Snapshot {
  int version = 1;
  int64_t time_ns = 0;
  std::string hostname;
  std::string username;
  std::string tool_version;
  std::string source;               // absolute path backed up
  std::vector<std::string> excludes;  // rules in force (profile rules first)
  std::vector<std::string> tags;
  std::optional<std::string> parent;  // snapshot id
  std::optional<BlobId> tree;         // root tree of the files (absent: databases only)
  bool incomplete = false;            // some entries could not be read
  SnapshotStats stats;
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

std::string EncodeSnapshot(const Snapshot& s);
Result<Snapshot> DecodeSnapshot(std::string_view doc);

}  // namespace rewind
