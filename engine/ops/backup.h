// The backup operation: exclusion rules, lock, pipeline, commit, snapshot document.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/ops/snapshots.h"
#include "engine/pipeline/backup_pipeline.h"
#include "engine/repo/repository.h"
#include "excludes/excludes.h"
#include "manifests/snapshot.h"

namespace rw {

struct BackupOptions {
  std::string source;                     // a directory; empty: databases only
  std::vector<std::string> profiles;      // shipped exclusion profiles, e.g. "icewarp"
  std::vector<std::string> excludes;      // extra patterns (--exclude)
  std::vector<std::string> tags;
  int tokens = 0;                         // pipeline tokens; 0 = automatic
  bool force = false;                     // read every file, even unchanged ones
  std::string command = "backup";         // recorded in the lock
  bool lock_held = false;                 // the caller holds the repository lock (rollback: exclusive)
  // The snapshot whose unchanged files are reused. Unset: the newest snapshot of the same host
  // and source. (Rollback's safety snapshot names the snapshot it rolls back to, so that what
  // the upgrade left alone keeps its tree ids and planning skips it.)
  std::optional<SnapshotRef> parent;
  TreeCache* trees = nullptr;             // optional: the parent's trees come from it
  int zstd_level = 0;                     // of the files' chunks and trees; 0: the repository's
  // Called with the parent's entry of each file the parent has that is read again (changed):
  // rollback's safety snapshot announces the data the plan will need (Repository::WillLoad).
  std::function<void(const TreeEntry&)> on_parent_file_changed;
  // Databases (databases.h): called first, before any file is read; its dumps go into the
  // snapshot, and an error stops the backup before anything is saved.
  std::function<Result<std::vector<DatabaseDump>>(BlobSink*)> dump_databases;
};

struct BackupResult {
  std::string snapshot_id;
  Snapshot snapshot;
  std::vector<ExcludeRule> rules;
  std::vector<ExcludedReport> excluded;  // parallel to `rules`
  uint64_t files_reused = 0;             // unchanged since the parent: not read
  // Trouble after the snapshot was saved (it stands): e.g. the lock file could not be removed.
  std::vector<std::string> warnings;
};

// Backs up `options.source` (and the databases of `options.dump_databases`) into `repo`.
// InvalidArgument when there is neither. Entries that cannot be read are reported to `observer`
// and the snapshot is saved marked incomplete. Nothing is referenced by a snapshot unless it was
// written durably first (packs, index, then snapshot).
Result<BackupResult> Backup(Repository* repo, const BackupOptions& options,
                            BackupObserver* observer, BackupProgress* progress);

// Builds the exclusion set of a backup: profiles first, then patterns.
Result<ExcludeSet> MakeExcludeSet(const std::vector<std::string>& profiles,
                                  const std::vector<std::string>& patterns);

}  // namespace rw
