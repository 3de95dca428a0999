// Repository: a directory of config, packs, index files, snapshots and locks (docs/format.md).
// Opening loads the whole index into memory. Blob writing goes through BlobSink, which packs
// compressed blobs, writes full packs in the background, and on Commit writes the index file
// that covers them (write order: packs, then index, then snapshot).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/base/status.h"
#include "engine/format/blob_id.h"
#include "engine/format/chunker.h"
#include "engine/format/index_codec.h"
#include "engine/format/pack.h"
#include "engine/repo/blob_index.h"
#include "engine/storage/storage.h"

namespace rw {

struct RepoConfig {
  int version = 0;
  std::string id;  // 32 hex digits, random
  ChunkerParams chunker;
  int zstd_level = 0;     // file chunks and trees
  int db_zstd_level = 0;  // chunks of database dumps
  uint64_t pack_target_size = 0;
  int64_t created_ns = 0;
};

struct LockInfo {
  std::string file;  // name under locks/
  std::string hostname;
  int pid = 0;
  int64_t since_ns = 0;
  std::string command;
  bool exclusive = false;
  uint64_t start_ticks = 0;   // when the process started (clock ticks since boot), 0: not recorded
  std::string pid_namespace;  // the pid namespace `pid` is in ("pid:[4026531836]"), "": not recorded
  bool stale = false;  // same host and the process is gone
};

class Repository;

// A held lock; released (its file removed) on destruction or Release().
// A held repository lock. While it is held (or being taken), SIGINT, SIGTERM, SIGHUP and
// SIGPIPE (unless the process ignores them) remove its lock file and then end the process as
// the signal would have: an interrupted backup or rollback (Ctrl-C, `systemctl stop`, a closed
// SSH session, a `| head` that stopped reading) leaves no stale lock, and `rollback --resume`
// needs no `unlock` first. SIGKILL still leaves one.
// What the signal handler above prints after its message while a lock is held (a static
// string, or nullptr for nothing): e.g. that an interrupted rollback must be resumed.
void SetInterruptHint(const char* text);

class RepoLock {
 public:
  RepoLock(Repository* repo, std::string file);
  ~RepoLock();
  RepoLock(const RepoLock&) = delete;
  RepoLock& operator=(const RepoLock&) = delete;
  Status Release();
  // Lets go of a lock whose file was never created (nothing is removed).
  void Forget();

 private:
  Repository* repo_;
  std::string file_;
  int signal_slot_ = -1;  // in the table the signal handler removes lock files from
};

// Collects compressed blobs of one writer (one backup) into packs. Add() is called by one
// thread at a time (the pipeline's serial stage); full packs are hashed, written and fsynced on
// a background thread, at most two in flight. Nothing is visible in the repository's index
// until Commit() writes the index file for everything added.
class BlobSink {
 public:
  explicit BlobSink(Repository* repo);
  ~BlobSink();  // waits for background writes; an uncommitted sink leaves only orphan packs

  // Adds a blob unless the repository or this sink already has it. Returns whether it was
  // added. `frame` is CompressBlob() output.
  Result<bool> Add(BlobType type, const BlobId& id, std::string_view frame, uint32_t raw_length);
  // True when the repository's index or this sink has the blob. Thread-safe.
  bool Has(const BlobId& id) const;

  // Writes the last pack, waits for every pack, then writes one index file for all blobs
  // added. After success the blobs are in the repository's in-memory index too.
  Status Commit();

  uint64_t bytes_added() const { return bytes_added_.load(); }
  uint64_t blobs_added() const { return blobs_added_.load(); }
  uint64_t packs_written() const { return packs_written_.load(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<uint64_t> bytes_added_{0}, blobs_added_{0}, packs_written_{0};
};

struct OpenOptions {
  // Keep going when an index file is damaged (verify reports it, repair replaces it); its
  // entries are left out. Otherwise Open fails naming the file.
  bool tolerate_index_damage = false;
};

// Choices made once, when a repository is created (0: the default).
struct InitOptions {
  int zstd_level = 0;     // files and trees (format::kDefaultZstdLevel)
  int db_zstd_level = 0;  // database dumps (format::kDefaultDbZstdLevel)
};

class Repository {
 public:
  // Creates a new repository at `path` (created if missing; must be empty if present, or hold
  // only what an init interrupted before its config was written left: empty data/, index/,
  // snapshots/, locks/ and the config's temporary).
  // InvalidArgument for a level outside 1..19.
  static Status Init(const std::string& path, const InitOptions& options = {});
  // Opens, checks the config's format version, loads the index. NotFound / InvalidArgument with
  // "not a rewind repository" or "format version N is not supported" otherwise.
  static Result<std::unique_ptr<Repository>> Open(const std::string& path, OpenOptions options = {});
  // Same with a storage of the caller's (tests inject faults this way).
  static Result<std::unique_ptr<Repository>> Open(std::unique_ptr<Storage> storage,
                                                  OpenOptions options = {});

  // Index files that could not be loaded (only with tolerate_index_damage): "name: problem".
  const std::vector<std::string>& damaged_index_files() const { return damaged_index_files_; }
  // Names of the index files loaded.
  const std::vector<std::string>& index_files() const { return index_files_; }
  // Every index entry (a copy). Thread-safe.
  std::vector<IndexEntry> IndexEntries() const;
  // The pack files in data/<xx>/: their ids, sorted, and the other files there ("data/xx/name":
  // a name that is not 64 hex digits beginning with its directory's two). One listing per
  // data/ subdirectory; no pack is read. The listing's error (NotFound without data/) as is.
  struct PackFiles {
    std::vector<BlobId> packs;
    std::vector<std::string> strays;
  };
  Result<PackFiles> ListPackFiles() const;
  // The hidden temporaries (format.md §9, I1) in data/*/, index/ and snapshots/: repository paths
  // and sizes. A writer killed before its rename leaves one (a pack's: up to the pack size); a
  // running backup is writing the others. locks/ and rollback/ are not looked at (their owners
  // clear them).
  Result<std::vector<std::pair<std::string, uint64_t>>> ListTemporaryFiles() const;
  // The directories ListTemporaryFiles looks in.
  Result<std::vector<std::string>> TemporaryDirs() const;
  // Every pack the index names is in data/: Corruption naming the missing ones otherwise (a
  // backup that trusted such an index would save a snapshot whose blobs are gone). One
  // directory listing per data/ subdirectory; no pack is read.
  Status CheckIndexedPacksPresent() const;

  const RepoConfig& config() const { return config_; }
  Storage& storage() { return *storage_; }
  const std::string& path() const { return path_; }

  // Index lookups. Thread-safe with each other and with BlobSink::Commit.
  std::optional<IndexEntry> Find(const BlobId& id) const;
  bool Has(const BlobId& id) const { return Find(id).has_value(); }
  // Has for many ids at once (one lock, overlapping cache misses): out[i] = 1 if ids[i] is
  // indexed. out is resized to ids.size().
  void HasMany(const std::vector<BlobId>& ids, std::vector<uint8_t>* out) const;
  size_t IndexSize() const;

  // Reads one blob: pread of its frame, decompress, check length and SHA-256. Corruption
  // naming the blob and pack otherwise. Thread-safe. `use` (what the caller reads it as) is not
  // checked against the indexed type: the same bytes used as a file chunk and as a tree share
  // one id and one stored copy, indexed with the type of their first use (format.md §2).
  Result<std::string> LoadBlob(const BlobId& id, BlobType use) const;
  // Same from a known location (`check_id` false: without the SHA-256, see LoadCheckedBlob).
  Result<std::string> LoadBlobAt(const IndexEntry& e, bool check_id = true) const;
  // LoadBlob without the SHA-256 (decompress and length checks only), for a caller that
  // read and checked the same blob moments ago under the same lock and checks the content
  // another way: rollback checks every blob its plan reads from the repository before
  // touching anything, then checks each file's XXH3-128 before the file goes into place.
  Result<std::string> LoadCheckedBlob(const BlobId& id, BlobType use) const;
  // Where blob `id` is: NotFound when not indexed. Whatever its indexed type (see LoadBlob).
  Result<IndexEntry> Locate(const BlobId& id, BlobType use) const;
  // Sorts located frames by pack and offset: the order in which to read them.
  static void SortForLoading(std::vector<IndexEntry>* located);
  // Tells the storage that the frames `located` (sorted by SortForLoading) will be read soon,
  // so that it reads them in the background while the caller works: per pack, one hint with
  // the frames merged into ranges where the gap between two is at most kWillLoadGap. Only a
  // hint; nothing fails. A caller with much to read hints a window at a time, ahead of its
  // reads, so that what is read ahead is not evicted before it is used.
  // The gap: a scattered read costs about what reading 32 KiB more in one does (the bench
  // VM's disk: 90 µs a random read, 400 MiB/s in a row). With 256 KiB, a rollback of 5 % of
  // the bench tree (23 MiB of frames, one in about twenty of each pack) made the disk read
  // 324 MiB of packs; with 32 KiB, 105 MiB (docs/design.md, Rollback, differences).
  void WillLoad(std::span<const IndexEntry> located) const;
  static constexpr uint64_t kWillLoadGap = 32 << 10;
  // The checks of LoadBlobAt on a frame already read (restore reads many blobs of a pack at
  // once): decompress into `raw`, check length and SHA-256. Corruption naming blob and pack.
  static Status DecodeBlob(const IndexEntry& e, std::string_view frame, std::string* raw, bool check_id = true);

  // Snapshots: stored as snapshots/<sha256 of doc>. Returns the id.
  Result<std::string> SaveSnapshotDoc(std::string_view doc);
  // Lists the snapshots, then loads the index files written since the index was loaded (by a
  // backup that ran meanwhile: its index file is written before its snapshot, format.md I2), so
  // that every blob of every snapshot listed can be found. Not thread-safe with itself, nor with
  // index_files() and damaged_index_files().
  Result<std::vector<std::string>> ListSnapshotIds();
  // Reads and checks that the name matches the content hash.
  Result<std::string> LoadSnapshotDoc(const std::string& id);

  // Locks (docs/format.md §8). A shared lock conflicts with live exclusive ones; an exclusive
  // lock with every other live one. Stale locks (same host, dead pid) also refuse, with a hint
  // to run `rewind unlock`. Locked status names holder, host, pid, since and command.
  Result<std::unique_ptr<RepoLock>> Lock(bool exclusive, std::string_view command);
  // The shared lock of a command that only reads the repository (verify, restore, a dry run).
  // Where no lock file can be written — a read-only mount, a full disk, a repository this user
  // may only read — the command goes on without one, as long as no exclusive lock is there:
  // the lock is then null and `*note` says why. Any other failure is returned.
  Result<std::unique_ptr<RepoLock>> LockForReading(std::string_view command, std::string* note);
  Result<std::vector<LockInfo>> ListLocks();
  // Removes every lock, alive or not (`unlock --all`: for a lock of another host whose
  // process is known to be gone, or an unreadable lock file); returns what was removed.
  Result<std::vector<LockInfo>> RemoveAllLocks();
  // Removes stale locks; returns what was removed.
  Result<std::vector<LockInfo>> RemoveStaleLocks();

  // Adds entries to the in-memory index (BlobSink::Commit does this). Thread-safe.
  void AddToIndex(const std::vector<IndexEntry>& entries);

 private:
  Repository() = default;
  Status LoadConfig();
  // Loads the index files not loaded yet (all of them at Open).
  Status LoadIndex();

  std::string path_;
  std::unique_ptr<Storage> storage_;
  RepoConfig config_;
  mutable std::mutex index_mu_;
  BlobIndex index_;
  bool tolerate_index_damage_ = false;
  std::unordered_set<std::string> index_files_read_;  // loaded or found damaged
  std::vector<std::string> damaged_index_files_;
  std::vector<std::string> index_files_;
};

// "data/3f/3fa1…"
std::string PackPath(const BlobId& pack);

}  // namespace rw
