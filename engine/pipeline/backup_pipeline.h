// The backup pipeline: a oneTBB parallel_pipeline with a bounded number of tokens.
//
//   scan (serial, in order)   walks the source with *at() calls in sorted order; emits directory
//                             enter/leave markers, entries, and for files larger than one max
//                             chunk, their content-defined chunks read sequentially
//   read+hash+compress        reads small files, chunks them, SHA-256 of every chunk, zstd of
//   (parallel)                every chunk the repository does not have yet, xattrs; small
//                             files go in batches of about 1 MiB (Item::followers)
//   pack (serial, in order)   adds blobs to the BlobSink (packs), builds one tree per directory
//                             bottom-up and stores it
//
// Memory: at most `tokens` items in flight (each at most one max chunk of data, or a batch of
// small files of about 1 MiB, plus their frames) plus the directory entries along the current
// path; it does not grow with the tree.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/base/status.h"
#include "engine/pipeline/tree_cache.h"
#include "engine/repo/repository.h"
#include "excludes/excludes.h"
#include "manifests/snapshot.h"

namespace rw {

// Live counters for progress display; written by the pipeline, read by anyone.
struct BackupProgress {
  std::atomic<uint64_t> files{0}, dirs{0}, bytes_read{0}, bytes_added{0}, errors{0};
  std::atomic<uint64_t> files_reused{0};  // taken from the parent snapshot without reading
};

// Receives per-entry events. Calls are serialized by the pipeline (never concurrent).
class BackupObserver {
 public:
  virtual ~BackupObserver() = default;
  // An entry that could not be read; it is left out and the snapshot is marked incomplete.
  virtual void OnError(const std::string& path, const Status& status) {}
  // Something worth telling that is not an error: a socket skipped, a file changed while read.
  virtual void OnNote(const std::string& path, const std::string& note) {}
};

struct PipelineOptions {
  int tokens = 0;  // items in flight; 0 = 8 × hardware threads
  int zstd_level = 3;
  ChunkerParams chunker;
  // Parent reuse (see Scanner::SetParent): the parent snapshot's root tree, in `repo`.
  const Repository* parent_repo = nullptr;
  std::optional<BlobId> parent_tree;
  // When the parent's backup started: an entry its stat does not vouch for (StatVouchesFor) is
  // read again. INT64_MAX: every entry is.
  int64_t parent_start = INT64_MAX;
  // Optional: the parent's trees come from (and stay in) it, and the trees this backup writes
  // are added to it (a rollback plans from its safety snapshot's trees right after).
  TreeCache* parent_trees = nullptr;
  // Scanner::SetOnParentFileChanged.
  std::function<void(const TreeEntry&)> on_parent_file_changed;
};

struct ExcludedReport {
  uint64_t count = 0;
  std::vector<std::string> examples;  // the first few paths
};

struct PipelineResult {
  BlobId root_tree;
  TreeEntry root_entry;                // the source directory's own metadata
  SnapshotStats stats;                 // duration_s and blob counters left to the caller
  std::vector<ExcludedReport> excluded;  // one per rule of the ExcludeSet
  std::vector<std::string> unread;       // entries that could not be read, sorted
};

// Backs up the directory `source` (followed if it is a symlink) into `sink`. Per-entry errors go
// to `observer` and stats.errors; a fatal error (repository write failed, source missing)
// returns a Status and nothing further is written. REQUIRES: `sink` belongs to a repository
// whose config matches `options`.
Result<PipelineResult> RunBackupPipeline(const std::string& source, const ExcludeSet& excludes,
                                         const PipelineOptions& options, BlobSink* sink,
                                         BackupObserver* observer, BackupProgress* progress);

}  // namespace rw
