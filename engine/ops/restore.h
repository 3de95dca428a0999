// Restore of a snapshot's files: into a directory (restore.cc) or into an archive written with
// libarchive (archive.cc).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/base/status.h"
#include "engine/repo/repository.h"
#include "manifests/snapshot.h"

namespace rw {

struct RestoreProgress {
  std::atomic<uint64_t> files{0}, dirs{0}, bytes_written{0}, errors{0};
};

// Calls are serialized (never concurrent).
class RestoreObserver {
 public:
  virtual ~RestoreObserver() = default;
  virtual void OnError(const std::string& path, const Status& status) {}
  virtual void OnNote(const std::string& path, const std::string& note) {}
};

struct RestoreOptions {
  std::string target;                 // a new or empty directory
  std::vector<std::string> includes;  // patterns (excludes.h syntax); empty = everything
  int tokens = 0;                     // files in flight; 0 = automatic
};

struct RestoreStats {
  uint64_t files = 0, dirs = 0, symlinks = 0, others = 0, bytes = 0, errors = 0;
};

// Puts the contents of the snapshot's root directory into `options.target`, with every entry's
// metadata (owner when root, mode, times in ns, xattrs and ACLs). Files are written under a
// temporary name and renamed when complete, so a file whose data cannot be read never appears
// under its name; such files are reported and the rest is restored (stats.errors counts them).
// Never follows a symlink: every path is walked with openat(O_NOFOLLOW) from the target.
// InvalidArgument (nothing written) when the target is not empty or not a directory.
Result<RestoreStats> RestoreToDirectory(Repository* repo, const Snapshot& snapshot,
                                        const RestoreOptions& options, RestoreObserver* observer,
                                        RestoreProgress* progress);

enum class ArchiveFormat { kTar, kTarZstd, kTarGzip, kZip };
// The formats by the names --format takes, for messages.
inline constexpr char kArchiveFormatNames[] = "tar, tar.zst, tar.gz, zip";
// `name`: tar, tar.zst (or tzst), tar.gz (or tgz), zip. False for any other.
bool ParseArchiveFormat(const std::string& name, ArchiveFormat* out);
const char* ArchiveFormatName(ArchiveFormat format);  // "tar", "tar.zst", "tar.gz", "zip"
// The format to write to `path` ("-" = standard output), `requested` by name (empty: none).
// A file name's extension (any case) says a format: .tar; .tar.zst, .tzst; .tar.gz, .tgz; .zip.
// The format is the one requested, else the name's, else tar. InvalidArgument, naming the
// formats, when the requested name is unknown, when the name's extension is of a format rewind
// does not write (.tar.xz, .tar.bz2, .xz, .7z, .rar…), or says another format than the one
// requested: an archive's name must not lie about what it holds.
Result<ArchiveFormat> ChooseArchiveFormat(const std::string& path, const std::string& requested);
// Whether an archive can be written to `path`, without reading the repository: "-" or the name
// of a file (an existing one is replaced once the archive is complete). InvalidArgument for a
// directory, a symlink to one, or a name ending in '/'.
Status CheckArchivePath(const std::string& path);

// Writes the snapshot's files as an archive to `path` ("-" = standard output). tar is POSIX pax
// (long names, ns times, xattrs, sizes past 8 GiB). Any error (a damaged blob, a failed write)
// abandons the archive: a partial archive file is removed; standard output is left a stream
// that every reader reports as broken (no end-of-archive marker, no end of the compression
// frame), never a well-formed archive that lacks files or holds one zero-filled. Checks
// CheckArchivePath first.
Status RestoreToArchive(Repository* repo, const Snapshot& snapshot, const std::string& path,
                        ArchiveFormat format, const std::vector<std::string>& includes,
                        RestoreObserver* observer, RestoreStats* stats);

}  // namespace rw
