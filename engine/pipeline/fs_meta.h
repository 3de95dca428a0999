// File-system metadata helpers shared by backup and restore: stat → TreeEntry, xattrs, user and
// group names. All calls use descriptors or *at() forms, never paths from the root, so depth is
// not limited by PATH_MAX.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/base/status.h"
#include "manifests/tree.h"

namespace rw {

// Fills type, mode, uid, gid, mtime, ctime, size, inode, device, nlink, rdev from `st`.
// Returns false for a socket or an unknown type (the caller skips the entry).
bool FillEntryFromStat(const struct stat& st, TreeEntry* entry);

// Names of uid/gid, cached; empty when unknown. Thread-safe.
std::string UserName(uint32_t uid);
std::string GroupName(uint32_t gid);

// openat(dfd, name, flags | O_NOATIME), and without O_NOATIME where it is refused (EPERM: not
// the owner and not root). Reading a file or listing a directory for a backup, a diff or a
// verify then leaves its atime, and the inode, untouched. Returns the descriptor or -1 (errno).
int OpenAtNoAtime(int dfd, const char* name, int flags);

// Opens the file `name` in `dir_fd` to read its content: without following a symlink, without
// touching its atime (OpenAtNoAtime). It may have been replaced since it was listed (a backup's scan, a diff's walk, a rollback's plan): the open does
// not block (a FIFO's would wait for a writer forever), and anything but a regular file is
// refused with an IOError naming `path`. Returns the descriptor, in blocking mode again, and its
// fstat in `*st`.
Result<int> OpenRegularFile(int dir_fd, const std::string& name, const std::string& path, struct stat* st);

// All extended attributes of an open file or directory, sorted by name (ACLs included as
// system.posix_acl_*). ENOTSUP yields an empty list.
Result<std::vector<Xattr>> ReadXattrs(int fd);
// Sets each attribute on an open descriptor (others it has are left). With `skipped`, one the
// kernel refuses to set here (EPERM, EACCES: not root, or a security module; ENOTSUP: the file
// system has none of that namespace) is left off and named in `*skipped` ("name: reason"),
// and the others are still set: a restore into a new directory keeps the file. Without it,
// the first failure is returned.
Status WriteXattrs(int fd, const std::vector<Xattr>& xattrs, std::vector<std::string>* skipped = nullptr);

// The same for `name` in the directory `dir_fd` without following it: symlinks, FIFOs and device
// nodes, which cannot be opened for f*xattr (Linux allows only trusted.* and security.* on
// symlinks: SELinux labels). Through /proc/self/fd, as Linux 6.1 has no *xattrat calls.
Result<std::vector<Xattr>> ReadXattrsAt(int dir_fd, const std::string& name);
Status WriteXattrsAt(int dir_fd, const std::string& name, const std::vector<Xattr>& xattrs,
                     std::vector<std::string>* skipped = nullptr);
// Makes the attributes of an open file or directory, or of `name` in `dir_fd` (not followed),
// exactly `want`: missing ones set, changed ones rewritten, extra ones removed.
Status SetXattrsExact(int fd, const std::vector<Xattr>& want);
Status SetXattrsExactAt(int dir_fd, const std::string& name, const std::vector<Xattr>& want);

// Nanosecond timestamps.
inline int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}
// "Racily clean" (docs/design.md, Parent reuse): whether an entry recorded with this ctime by a
// snapshot that started at `snapshot_start_ns` is shown unchanged by an unchanged stat. A file
// rewritten in place with the same size within the timestamp tick of the backup's read of it
// keeps the size, mtime and ctime recorded; a write after the read has a ctime no earlier than
// the start less one tick. Sub-second file times come from the kernel's coarse clock (a tick
// of 1-10 ms): 100 ms covers it; whole-second times (a ctime without nanoseconds): 2 s.
inline bool StatVouchesFor(int64_t ctime_ns, int64_t snapshot_start_ns) {
  const int64_t margin = ctime_ns % 1'000'000'000 == 0 ? 2'000'000'000 : 100'000'000;
  return snapshot_start_ns == INT64_MAX || ctime_ns < snapshot_start_ns - margin;
}

inline int64_t CtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
}

// Joins a relative path for messages: JoinPath("", "a") == "a", JoinPath("a", "b") == "a/b".
inline std::string JoinPath(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

}  // namespace rw
