// diff: what changed between two snapshots, or between a snapshot and a live directory.
//
//   DiffSnapshots   walks both snapshots' trees side by side; a directory whose subtree id and
//                   own metadata are equal in both is skipped without being loaded (Merkle tree)
//   DiffLive        walks the snapshot's trees beside the live directory (openat with
//                   O_NOFOLLOW | O_DIRECTORY from the directory's descriptor, never following a
//                   symlink). A regular file is unchanged when its size, mtime, ctime and inode
//                   equal the snapshot's; otherwise its whole-file XXH3-128 is compared with the
//                   tree entry's `xxh128`. Directories of type `excluded` in the snapshot are
//                   not descended into; live entries that the snapshot's exclusion rules match
//                   are ignored.
// In both, the metadata of an `excluded` directory is not compared (new mail changes it, and
// rollback never touches it): only its presence and type.
//
// "old" is always the first snapshot; "new" the second snapshot or the live directory.
// Rollback (rollback.h) plans with DiffLive: it undoes every change, in walk order.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "engine/base/status.h"
#include "engine/pipeline/tree_cache.h"
#include "engine/repo/repository.h"
#include "manifests/snapshot.h"
#include "manifests/tree.h"

namespace rw {

enum class ChangeKind {
  kAdded,     // only new has it                                   "+"
  kRemoved,   // only old has it                                   "-"
  kContent,   // file content, symlink target, device number, hardlink target   "M"
  kMetadata,  // mode, owner, mtime or xattrs only                 "m"
  kType,      // both have it, with different types                "T"
};
const char* ChangeMarker(ChangeKind k);  // "+", "-", "M", "m", "T"
const char* ChangeKindName(ChangeKind k);  // "added", "removed", "content", "metadata", "type"

// Which metadata differ (Change::meta).
enum MetaBits : uint32_t {
  kMetaMode = 1,
  kMetaOwner = 2,
  kMetaMtime = 4,
  kMetaXattrs = 8,
};
// "mode,owner,mtime,xattrs" (the bits set).
std::string MetaBitsText(uint32_t bits);

struct Change {
  ChangeKind kind = ChangeKind::kAdded;
  std::string path;        // relative to the roots, '/'-separated; "" is the root itself
  bool has_old = false, has_new = false;
  TreeEntry old_entry;     // from the old snapshot (with content, subtree, xxh128)
  TreeEntry new_entry;     // from the new snapshot, or from lstat of the live entry (no content)
  uint32_t meta = 0;       // kMetadata: the MetaBits that differ
};

struct DiffStats {
  uint64_t added = 0, removed = 0, content = 0, metadata = 0, type = 0;
  uint64_t files_hashed = 0, bytes_hashed = 0;  // live files read to compare content
  uint64_t trees_skipped = 0;                   // equal subtrees not loaded (two snapshots)
  uint64_t total() const { return added + removed + content + metadata + type; }
};

// Called once per change. Order: depth-first in name order; a directory's own added, removed
// or type change comes before its contents, its metadata change after them. A non-OK return
// stops the walk and is returned.
using ChangeFn = std::function<Status(const Change&)>;

struct DiffOptions {
  bool descend_added = true;    // report what is inside a directory only new has
  bool descend_removed = true;  // report what is inside a directory only old has
  // Live only: called for a hardlink entry of the snapshot whose live name is still linked to
  // its target; true reports it as kContent anyway (rollback: the target will be rewritten).
  std::function<bool(const std::string& link_target)> relink;
  // Optional: trees are taken from (and kept in) this cache instead of being loaded each time.
  TreeCache* trees = nullptr;
};

// A directory whose only difference is its mtime is not reported when one of its direct
// children was added, removed or changed type (that is what moved its mtime).
Status DiffSnapshots(const Repository& repo, const Snapshot& old_snap, const Snapshot& new_snap,
                     const DiffOptions& options, const ChangeFn& fn, DiffStats* stats);

// `dir` is the live directory to compare with `old_snap` (typically its source). InvalidArgument
// when it is not a directory or the snapshot has no files tree.
Status DiffLive(const Repository& repo, const Snapshot& old_snap, const std::string& dir,
                const DiffOptions& options, const ChangeFn& fn, DiffStats* stats);
// Same from an open directory descriptor (not closed).
Status DiffLiveAt(const Repository& repo, const Snapshot& old_snap, int dir_fd,
                  const DiffOptions& options, const ChangeFn& fn, DiffStats* stats);

}  // namespace rw
