// Pieces of restore shared by its stages. Internal to engine/ops.
#pragma once

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <ctime>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/ops/restore.h"
#include "manifests/tree.h"

namespace rw::restore_internal {

// An open directory, closed when the last user lets go of it.
struct DirFd {
  int fd;
  explicit DirFd(int f) : fd(f) {}
  ~DirFd() {
    if (fd >= 0) ::close(fd);
  }
  DirFd(const DirFd&) = delete;
  DirFd& operator=(const DirFd&) = delete;
};

// Nanoseconds since the epoch as a timespec (tv_nsec in [0, 1e9) for times before 1970 too).
timespec ToTimespec(int64_t ns);

// Creates `path` (and its parents) or checks that it is an empty directory; returns an open
// descriptor. InvalidArgument naming the path when it is a file or not empty.
Result<int> OpenEmptyTarget(const std::string& path);

// Owner (when root), mode (not for symlinks), xattrs and times of the non-directory, non-file
// entry `e.name` in `dfd`. The xattrs are added to those it has, or with `exact_xattrs` made
// exactly e.xattrs (rollback fixing an existing entry). With `skipped_xattrs` (a restore), an
// attribute the kernel refuses here is left off and named there (WriteXattrs).
Status SetMetadataAt(int dfd, const TreeEntry& e, bool is_symlink, bool exact_xattrs = false,
                     std::vector<std::string>* skipped_xattrs = nullptr);
// Owner, mode, xattrs and times of a directory, once its children are complete.
Status SetDirMetadata(int fd, const TreeEntry& e, std::vector<std::string>* skipped_xattrs = nullptr);
// Links `name` in `dfd` to the file at `target` (relative to the restore root), walking every
// directory of `target` with O_NOFOLLOW.
Status MakeHardlink(int root_fd, const std::string& target, int dfd, const std::string& name);

// Releases replaced files in the background. A file that a rollback renames a new version over
// (or removes) stays referenced by an O_PATH descriptor handed to Add(); background threads
// close them. The last close frees the old inode's blocks, which on a file system mounted with
// `discard` waits for the device (about 0.3 ms a file on the bench VM): many closes in
// parallel overlap those waits, and the apply does not stand still for them. Thread-safe.
class DeferredClose {
 public:
  explicit DeferredClose(int threads = 8, size_t max_pending = 256);
  ~DeferredClose();  // Drain()
  DeferredClose(const DeferredClose&) = delete;
  DeferredClose& operator=(const DeferredClose&) = delete;
  // Takes `fd` (closed later); waits while `max_pending` descriptors are queued.
  void Add(int fd);
  // Waits until every descriptor is closed.
  void Drain();
  // Waits until every descriptor handed in so far is closed (the threads stay): what they
  // free is free again (a write that found the disk full may then succeed).
  void WaitIdle();

 private:
  void Run();
  std::mutex mu_;
  std::condition_variable more_, room_, idle_;
  std::deque<int> queue_;
  size_t closing_ = 0;  // taken from the queue, being closed
  size_t max_pending_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// A regular file being written: unnamed (O_TMPFILE) in its directory, or under a temporary name
// where O_TMPFILE is not supported. FileWriter::Finish names it; Discard removes it.
struct NewFile {
  int fd = -1;
  std::string tmp;  // the temporary name; empty for an unnamed file
};
void Discard(int dfd, NewFile* f);

// Writes `data` at file offset `off`, skipping all-zero 4 KiB blocks (aligned to the file
// offset): they stay holes. The file's size is set by FileWriter::Finish.
Status WriteSparse(int fd, std::string_view data, uint64_t off);

// Writes all of `data` at `off`, its zero blocks too: over bytes written before that must go.
Status WriteAllAt(int fd, std::string_view data, uint64_t off);

// Writes regular files. Thread-safe.
class FileWriter {
 public:
  explicit FileWriter(Repository* repo);
  // Creates e.name in `dfd` under a temporary name, writes its content (all-zero 4 KiB blocks
  // are left as holes), sets metadata, renames it into place. On failure nothing is left.
  Status Write(int dfd, const TreeEntry& e, RestoreProgress* progress);
  // The pieces of Write, for a caller that writes the content itself (restore by pack):
  // Create, WriteSparse the content, Finish (size, owner, mode, xattrs, times, then the name).
  // Finish closes the file and, on failure, removes it.
  Result<NewFile> Create(int dfd);
  Status Finish(int dfd, const TreeEntry& e, NewFile* f, RestoreProgress* progress);
  // Rollback: a file replaced by Write is handed to `d` instead of being freed on the spot.
  void set_deferred_close(DeferredClose* d) { deferred_ = d; }
  // Rollback, after its check read every blob of the plan and checked its SHA-256: Write loads
  // blobs without hashing them again (Repository::LoadCheckedBlob) and instead checks the
  // whole file's XXH3-128 against the tree before the file gets its name. A file whose tree
  // entry has no XXH3-128 is loaded with the SHA-256 check as before.
  void set_blobs_checked(bool checked) { blobs_checked_ = checked; }
  // A restore into a new directory: an extended attribute the kernel refuses to set there
  // (not root: trusted.*, security.*; a file system without them) is left off with a note,
  // and the file is kept. A rollback (the default) stops at it instead.
  void set_skip_unsettable_xattrs(bool skip) { skip_xattrs_ = skip; }
  // SetMetadataAt and SetDirMetadata (below) under that policy, with its notes.
  Status SetMetadataAt(int dfd, const TreeEntry& e, bool is_symlink);
  Status SetDirMetadata(int fd, const TreeEntry& e);
  // Things said once (e.g. "not root: owners not restored").
  std::vector<std::string> notes() const;

 private:
  void NoteOnce(const std::string& note);
  // One note per attribute name of `skipped` ("name: reason", as WriteXattrs lists them).
  void NoteSkippedXattrs(const std::vector<std::string>& skipped);
  Repository* repo_;
  DeferredClose* deferred_ = nullptr;
  bool blobs_checked_ = false;
  bool skip_xattrs_ = false;
  bool is_root_;
  mutable std::mutex mu_;
  std::vector<std::string> notes_;
};

}  // namespace rw::restore_internal
