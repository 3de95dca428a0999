// Live-directory helpers shared by diff and rollback. Internal to engine/ops.
#pragma once

#include <sys/stat.h>

#include <string>
#include <vector>

#include "engine/base/status.h"
#include "engine/format/checksum.h"
#include "excludes/excludes.h"
#include "manifests/snapshot.h"
#include "manifests/tree.h"

namespace rw::diff_internal {

// openat(O_RDONLY | O_DIRECTORY | O_NOFOLLOW): -1 with errno when `name` is not a directory
// (a symlink to one included).
int OpenDirAt(int dfd, const std::string& name);
// The entries of an open directory as tree entries filled from lstat (no content, no xattrs;
// symlinks with their target), sorted by name bytes. Sockets are left out.
Status ListLive(int fd, std::vector<TreeEntry>* out);
// XXH3-128 of everything readable from `fd`, and how many bytes that was.
Status HashFd(int fd, Xxh128* out, uint64_t* bytes);
// A live file read to compare its content: its XXH3-128, length and xattrs.
struct Hashed {
  bool done = false;
  Status status;
  Xxh128 hash;
  uint64_t bytes = 0;
  std::vector<Xattr> xattrs;
};
// Reads the regular file `name` in `dfd` (not followed; OpenRegularFile) into `*out`.
void HashLive(int dfd, const std::string& name, Hashed* out);
// The directory `rel` (a '/'-separated path below `dfd`, not empty) opened in one openat2
// call that refuses a symlink at any of its components (RESOLVE_NO_SYMLINKS) and any way out
// of `dfd` (RESOLVE_BENEATH): what opening each component with O_NOFOLLOW checks, without
// opening and closing every parent on the way. -1 when that fails for any reason (errno set),
// the kernel has no openat2, or `rel` is empty: the caller then walks component by component,
// which also names the component at fault.
int OpenDirBeneath(int dfd, const std::string& rel);
// The directory `dir` ('/'-separated, below `root_fd`; "" is `root_fd` itself) as a new
// descriptor: OpenDirBeneath where the kernel has openat2, else (and on any failure of it)
// opened component by component with O_NOFOLLOW (OpenDirAt). -1 with errno on failure, and
// then `*failed_len` (when given) is the length of the prefix of `dir` that could not be opened.
// The one walk of restore's hardlinks, the rollback's directories and StatPathAt.
int OpenDirPath(int root_fd, const std::string& dir, size_t* failed_len = nullptr);
// lstat of `rel` (a '/'-separated path below `root_fd`), its directory opened by OpenDirPath.
Result<struct stat> StatPathAt(int root_fd, const std::string& rel);
// The MetaBits in which `o` and `n` differ (mode not for symlinks; xattrs only when asked).
uint32_t MetaDiff(const TreeEntry& o, const TreeEntry& n, bool compare_xattrs);
// The exclusion rules a snapshot was taken with, into `out`; the first that does not parse
// (a damaged snapshot: rewind writes only rules it parsed) is the error.
Status SnapshotExcludes(const Snapshot& snap, ExcludeSet* out);

}  // namespace rw::diff_internal
