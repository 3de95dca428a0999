#include "engine/base/paths.h"
#include "engine/ops/backup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <optional>

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
  // And by the wall clock, which file times follow: a later backup takes this snapshot's start
  // as its time less its duration (SnapshotStartNs), which must not come out later than the
  // real start (a suspended VM stops the monotonic clock, a stepped wall clock jumps).
  const int64_t start_wall = RealClock().NowNs();
  if (options.source.empty() && !options.dump_databases) {
    return Status::InvalidArgument("nothing to back up: give a source directory or database servers");
  }
  for (const std::string& tag : options.tags) {
    if (tag.empty()) return Status::InvalidArgument("--tag: an empty tag cannot name a snapshot");
    if (tag == "latest") {
      return Status::InvalidArgument("--tag latest: \"latest\" always names the newest snapshot, so this tag would "
                                     "never name this one; choose another");
    }
  }
  std::string resolved;
  std::optional<ExcludeSet> excludes;
  if (!options.source.empty()) {
    char buf[PATH_MAX];
    if (!::realpath(options.source.c_str(), buf)) return ErrnoStatus("source " + options.source, errno);
    resolved = buf;
    struct stat st{};
    if (::stat(resolved.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Status::InvalidArgument("source " + options.source + " is not a directory");
    }
    // A repository inside the source is left out: backing it up into itself only grows it, and
    // a rollback of the source must never touch it (the rule is recorded in the snapshot).
    // A rule written as the absolute path of something in the source would match nothing (a
    // leading / anchors a rule at the source): `--exclude /opt/icewarp/mail` would back up
    // every mail file.
    for (const std::string& rule : options.excludes) {
      for (const std::string& root : {resolved, options.source}) {
        if (auto rel = root == "/" ? std::nullopt : PathWithin(root, rule); rel && !rel->empty()) {
          return Status::InvalidArgument("--exclude " + rule + ": rules are relative to the source " + root +
                                         " (a leading / anchors a rule there): write --exclude /" + *rel);
        }
      }
    }
    RW_ASSIGN_OR_RETURN(ExcludeSet set, MakeExcludeSet(options.profiles, options.excludes));
    if (char repo_buf[PATH_MAX]; ::realpath(repo->path().c_str(), repo_buf)) {
      if (auto rel = PathWithin(resolved, repo_buf); rel && !rel->empty()) {
        RW_RETURN_IF_ERROR(set.Add(LiteralDirRule(*rel), "the repository"));
      }
    }
    excludes = std::move(set);
  }
  std::unique_ptr<RepoLock> lock;
  if (!options.lock_held) {
    RW_ASSIGN_OR_RETURN(lock, repo->Lock(false, options.command));
    SetInterruptHint("no snapshot was saved; the packs written so far are not indexed (`rewind verify` names "
                     "them, `rewind repair index` takes them in)");
  }
  // Deduplication trusts the index: blobs of a pack that is gone would be taken as stored.
  RW_RETURN_IF_ERROR(repo->CheckIndexedPacksPresent());

  // The parent: given, or the newest snapshot of the same host and source. Its unchanged files
  // are reused without being read, unless --force.
  const std::string host = Hostname();
  std::optional<std::string> parent;
  std::optional<BlobId> parent_tree;
  int64_t parent_start = INT64_MAX;
  if (options.parent && options.parent->snapshot.tree) {
    parent = options.parent->id;
    parent_tree = options.parent->snapshot.tree;
    parent_start = SnapshotStartNs(options.parent->snapshot);
  } else if (!resolved.empty() && !options.parent) {
    std::vector<DamagedSnapshot> damaged;  // not a parent; `verify` reports them
    RW_ASSIGN_OR_RETURN(auto previous, LoadSnapshots(repo, &damaged));
    for (auto it = previous.rbegin(); it != previous.rend(); ++it) {
      if (it->snapshot.hostname == host && it->snapshot.source == resolved && it->snapshot.tree) {
        parent = it->id;
        parent_tree = it->snapshot.tree;
        parent_start = SnapshotStartNs(it->snapshot);
        break;
      }
    }
  }

  BackupProgress local_progress;
  if (!progress) progress = &local_progress;
  BlobSink sink(repo);
  BackupResult out;
  Snapshot& snap = out.snapshot;
  // Databases first: a server that refuses stops the backup before any file is read.
  if (options.dump_databases) {
    RW_ASSIGN_OR_RETURN(snap.databases, options.dump_databases(&sink));
  }
  if (!resolved.empty()) {
    PipelineOptions popts;
    popts.tokens = options.tokens;
    popts.zstd_level = options.zstd_level != 0 ? options.zstd_level : repo->config().zstd_level;
    popts.chunker = repo->config().chunker;
    if (!options.force && parent_tree) {
      popts.parent_repo = repo;
      popts.parent_tree = parent_tree;
      popts.parent_start = parent_start;
      popts.parent_trees = options.trees;
      popts.on_parent_file_changed = options.on_parent_file_changed;
    }
    RW_ASSIGN_OR_RETURN(PipelineResult pr, RunBackupPipeline(resolved, *excludes, popts, &sink, observer, progress));
    snap.tree = pr.root_tree;
    snap.root = pr.root_entry;
    snap.stats = pr.stats;
    snap.source = resolved;
    for (const ExcludeRule& r : excludes->rules()) snap.excludes.push_back(r.text);
    out.rules = excludes->rules();
    out.excluded = std::move(pr.excluded);
    snap.unread = std::move(pr.unread);
    std::sort(snap.unread.begin(), snap.unread.end());
    snap.unread.erase(std::unique(snap.unread.begin(), snap.unread.end()), snap.unread.end());
    out.files_reused = progress->files_reused.load();
  }
  RW_RETURN_IF_ERROR(sink.Commit());
  snap.time_ns = RealClock().NowNs();
  snap.hostname = host;
  snap.username = Username();
  snap.tool_version = REWIND_VERSION;
  snap.tags = options.tags;
  snap.parent = parent;
  snap.stats.blobs_added = sink.blobs_added();
  snap.stats.bytes_added = sink.bytes_added();
  snap.stats.duration_s = std::max(static_cast<double>(RealClock().MonotonicNs() - start),
                                  static_cast<double>(snap.time_ns - start_wall)) / 1e9;
  snap.incomplete = snap.stats.errors > 0;
  const std::string doc = EncodeSnapshot(snap);
  // What an interruption from here on says names the snapshot (a buffer of its own: the signal
  // handler prints it as it is, and the hint is set after the text is complete).
  static char saving[160], saved[160];
  const std::string id = Sha256(doc).Hex().substr(0, 12);
  std::snprintf(saving, sizeof saving, "the snapshot %s was being saved: `rewind snapshots` shows whether it was",
                id.c_str());
  std::snprintf(saved, sizeof saved, "the snapshot %s was saved", id.c_str());
  if (lock) SetInterruptHint(saving);
  RW_ASSIGN_OR_RETURN(out.snapshot_id, repo->SaveSnapshotDoc(doc));
  if (lock) SetInterruptHint(saved);
  if (Status released = lock ? lock->Release() : Status::OK(); !released.ok()) {
    out.warnings.push_back("the snapshot is saved, but its lock could not be removed (" +
                           released.ToString() + "); once no rewind runs, `rewind unlock` removes it");
  }
  if (lock) SetInterruptHint(nullptr);
  return out;
}

}  // namespace rw
