// Finding snapshots and walking their trees.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/status.h"
#include "engine/pipeline/tree_cache.h"
#include "engine/repo/repository.h"
#include "manifests/snapshot.h"
#include "manifests/tree.h"

namespace rw {

struct SnapshotRef {
  std::string id;
  Snapshot snapshot;
  // Named by a tag (ResolveSnapshot): how many snapshots carry it (the newest was taken).
  size_t tag_matches = 0;
};

// A snapshot document that cannot be read or decoded: its id, and why (naming its file).
struct DamagedSnapshot {
  std::string id;
  Status status;
};

// Every snapshot, oldest first. A snapshot document that cannot be read or decoded fails the
// call naming it; with `damaged`, it is left out and described there instead (one damaged
// file must not keep the others from being listed, restored or used as a parent).
Result<std::vector<SnapshotRef>> LoadSnapshots(Repository* repo, std::vector<DamagedSnapshot>* damaged = nullptr);

// `spec` is a full id, a unique id prefix (at least 4 hex digits), "latest", or a tag (the
// newest snapshot carrying it). NotFound / InvalidArgument (ambiguous prefix) otherwise.
// Damaged snapshot documents are left out: naming one (by id or prefix) is Corruption with its
// path; "latest" and tags are Corruption while any document is damaged, since the damaged one
// may be the newest or carry the tag (name the snapshot by id; `verify` reports the damage).
// With `latest_skips_safety`, "latest" is the newest snapshot not tagged kSafetyTag: for
// rollback, where "latest" taken twice would otherwise undo the first rollback (its safety
// snapshot is then the newest). Ids and tags, kSafetyTag too, still name any snapshot. There,
// "latest" is also refused (InvalidArgument, listing them) when those snapshots have more than
// one source (the installation and /etc/icewarp, or a databases-only snapshot beside them).
Result<SnapshotRef> ResolveSnapshot(Repository* repo, std::string_view spec, bool latest_skips_safety = false);

// The tag of the snapshot a rollback takes of the target before changing it.
inline constexpr const char* kSafetyTag = "rollback-safety";

Result<Tree> LoadTree(const Repository& repo, const BlobId& id);

// When the backup that made `s` started (its time, taken at the end, less its duration): an
// entry whose stat does not vouch for it against that start (StatVouchesFor, racily clean
// files) is not taken as unchanged on its stat alone: parent reuse reads it again, a live diff
// compares its content.
int64_t SnapshotStartNs(const Snapshot& s);
// Through `cache` when there is one, else loaded afresh.
Result<std::shared_ptr<const Tree>> LoadTreeVia(const Repository& repo, TreeCache* cache, const BlobId& id);

// The entry at `path` (relative, '/'-separated, not empty) below the tree `root`; NotFound when
// there is none.
Result<TreeEntry> FindEntryBelow(const Repository& repo, TreeCache* cache, const BlobId& root,
                                 const std::string& path);

// Depth-first walk in name order. `fn(path, entry)` gets paths relative to the snapshot root;
// returning false skips a directory's contents.
Status WalkTree(const Repository& repo, const BlobId& root, const std::string& prefix,
                const std::function<bool(const std::string&, const TreeEntry&)>& fn);

}  // namespace rw
