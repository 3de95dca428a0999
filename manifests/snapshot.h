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
#include "manifests/tree.h"

namespace rw {

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

// The logical dump of one MySQL/MariaDB server held by a snapshot (engine/db): a tree with one
// directory per database (schema.sql, data/<table>.sql…, routines/views/triggers/events.sql).
struct DatabaseDump {
  std::string label;                   // names the server within the snapshot ("default", …)
  BlobId tree;                         // one directory per database (names percent-encoded)
  std::string server_version;          // SELECT VERSION() at dump time
  std::string binlog_file;             // SHOW MASTER STATUS at the snapshot point (empty: no binlog)
  uint64_t binlog_position = 0;
  std::string gtid;                    // @@gtid_current_pos (MariaDB) or @@gtid_executed (MySQL)
  std::vector<std::string> databases;  // real database names, sorted
  // The largest SQL statement of the dump, in bytes: a server loading it needs a larger
  // max_allowed_packet. 0: not recorded (dumps made before it was).
  uint64_t max_statement_bytes = 0;
  friend bool operator==(const DatabaseDump&, const DatabaseDump&) = default;
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
  // The entries that could not be read (relative paths, sorted): absent from the tree, so a
  // rollback must not take them for new and delete them. Empty in snapshots made before
  // rewind recorded them (then `incomplete` alone tells).
  std::vector<std::string> unread;
  // The source directory's own metadata (type dir, empty name, no subtree): restore and
  // rollback give it to the target directory.
  std::optional<TreeEntry> root;
  SnapshotStats stats;
  std::vector<DatabaseDump> databases;  // absent key: none (older snapshots)
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

// Encodes canonically (sorted keys, no whitespace), with "time" (RFC 3339, ns) beside the
// authoritative "time_ns" for humans. REQUIRES: `parent`, when set, is 64 lowercase hex
// digits and `version` is 1; otherwise DecodeSnapshot rejects the result. Never throws.
std::string EncodeSnapshot(const Snapshot& s);
// Decodes: "version" and "time_ns" are required, other missing fields take their default,
// unknown fields are ignored. Corruption saying what is wrong, NotSupported for a newer
// version. Never throws, whatever the input.
Result<Snapshot> DecodeSnapshot(std::string_view doc);

}  // namespace rw
