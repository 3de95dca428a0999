#include "engine/ops/backup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "engine/base/clock.h"
#include "engine/base/host.h"
#include "engine/ops/snapshots.h"

namespace rw {


Result<ExcludeSet> MakeExcludeSet(const std::vector<std::string>& profiles,
                                  const std::vector<std::string>& patterns) {
  ExcludeSet set;
  for (const std::string& p : profiles) RW_RETURN_IF_ERROR(AddProfile(&set, p));
  for (const std::string& p : patterns) RW_RETURN_IF_ERROR(set.Add(p, "--exclude"));
  return set;
}

Result<BackupResult> Backup(Repository* repo, const BackupOptions& options,
                            BackupObserver* observer, BackupProgress* progress) {
  const int64_t start = RealClock().MonotonicNs();
  char resolved[PATH_MAX];
  if (!::realpath(options.source.c_str(), resolved)) {
    return ErrnoStatus("source " + options.source, errno);
  }
  struct stat st{};
  if (::stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("source " + options.source + " is not a directory");
  }
  RW_ASSIGN_OR_RETURN(ExcludeSet excludes, MakeExcludeSet(options.profiles, options.excludes));
  std::unique_ptr<RepoLock> lock;
  if (!options.lock_held) {
    RW_ASSIGN_OR_RETURN(lock, repo->Lock(false, options.command));
  }

  // The newest snapshot of the same host and source is recorded as the parent.
  // Its unchanged files are reused without being read, unless --force.
  std::optional<std::string> parent;
  std::optional<BlobId> parent_tree;
  const std::string host = Hostname();
  RW_ASSIGN_OR_RETURN(auto previous, LoadSnapshots(repo));
  for (auto it = previous.rbegin(); it != previous.rend(); ++it) {
    if (it->snapshot.hostname == host && it->snapshot.source == resolved) {
      parent = it->id;
      parent_tree = it->snapshot.tree;
      break;
    }
  }

  PipelineOptions popts;
  popts.tokens = options.tokens;
  popts.zstd_level = repo->config().zstd_level;
  popts.chunker = repo->config().chunker;
  if (!options.force && parent_tree) {
    popts.parent_repo = repo;
    popts.parent_tree = parent_tree;
  }
  BackupProgress local_progress;
  if (!progress) progress = &local_progress;
  BlobSink sink(repo);
  RW_ASSIGN_OR_RETURN(PipelineResult pr,
                      RunBackupPipeline(resolved, excludes, popts, &sink, observer, progress));
  RW_RETURN_IF_ERROR(sink.Commit());

  BackupResult out;
  Snapshot& snap = out.snapshot;
  snap.time_ns = RealClock().NowNs();
  snap.hostname = host;
  snap.username = Username();
  snap.tool_version = REWIND_VERSION;
  snap.source = resolved;
  for (const ExcludeRule& r : excludes.rules()) snap.excludes.push_back(r.text);
  snap.tags = options.tags;
  snap.parent = parent;
  snap.tree = pr.root_tree;
  snap.root = pr.root_entry;
  snap.stats = pr.stats;
  snap.stats.blobs_added = sink.blobs_added();
  snap.stats.bytes_added = sink.bytes_added();
  snap.stats.duration_s = static_cast<double>(RealClock().MonotonicNs() - start) / 1e9;
  snap.incomplete = pr.stats.errors > 0;
  RW_ASSIGN_OR_RETURN(out.snapshot_id, repo->SaveSnapshotDoc(EncodeSnapshot(snap)));
  out.rules = excludes.rules();
  out.excluded = std::move(pr.excluded);
  out.files_reused = progress->files_reused.load();
  if (Status released = lock ? lock->Release() : Status::OK(); !released.ok()) {
    out.warnings.push_back("the snapshot is saved, but its lock could not be removed (" +
                           released.ToString() + "); once no rewind runs, `rewind unlock` removes it");
  }
  return out;
}

}  // namespace rw
