// Pieces of restore shared by its stages. Internal to engine/ops.
#pragma once

#include <unistd.h>

#include <atomic>
#include <ctime>
#include <mutex>
#include <string>
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

// Owner (when root), mode (not for symlinks) and times of an entry just created in `dfd`.
Status SetMetadataAt(int dfd, const TreeEntry& e, bool is_symlink);
// Owner, mode, xattrs and times of a directory, once its children are complete.
Status SetDirMetadata(int fd, const TreeEntry& e);
// Links `name` in `dfd` to the file at `target` (relative to the restore root), walking every
// directory of `target` with O_NOFOLLOW.
Status MakeHardlink(int root_fd, const std::string& target, int dfd, const std::string& name);

// Writes regular files. Thread-safe.
class FileWriter {
 public:
  explicit FileWriter(Repository* repo);
  // Creates e.name in `dfd` under a temporary name, writes its content (all-zero 4 KiB blocks
  // are left as holes), sets metadata, renames it into place. On failure nothing is left.
  Status Write(int dfd, const TreeEntry& e, RestoreProgress* progress);
  // Things said once (e.g. "not root: owners not restored").
  std::vector<std::string> notes() const;

 private:
  void NoteOnce(const std::string& note);
  Repository* repo_;
  bool is_root_;
  mutable std::mutex mu_;
  std::vector<std::string> notes_;
};

}  // namespace rw::restore_internal
