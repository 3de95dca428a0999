// Storage: where a repository's files live. Paths are relative to the repository root and use
// '/' ("data/3f/3fa1…"). The local implementation is a directory; object storage comes later.
// A fault-injecting wrapper (tests) implements the same interface.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/base/status.h"

namespace rw {

// The directory part of a repository path ("" for a file at the top).
inline std::string StorageParent(const std::string& rel) {
  auto pos = rel.rfind('/');
  return pos == std::string::npos ? std::string() : rel.substr(0, pos);
}
// "dir/.name.<tag>" for "dir/name": a sibling that List() leaves out (names starting with '.'),
// for temporaries.
inline std::string HiddenSibling(const std::string& rel, const std::string& tag) {
  auto pos = rel.rfind('/');
  std::string dir = pos == std::string::npos ? std::string() : rel.substr(0, pos + 1);
  return dir + "." + (pos == std::string::npos ? rel : rel.substr(pos + 1)) + "." + tag;
}

class Storage {
 public:
  virtual ~Storage() = default;

  // Writes `data` as `rel` atomically and durably: a temporary name in the same directory,
  // write, fsync, rename, fsync of the directory. Creates missing parent directories. On
  // failure nothing exists under `rel` that was not there before, and the temporary is removed.
  // Thread-safe.
  virtual Status WriteFileAtomic(const std::string& rel, std::string_view data) = 0;
  // WriteFileAtomic for bulk data that is not read back soon (a backup's data packs): a storage
  // may write it past the page cache. Trees, index files and everything else use
  // WriteFileAtomic, so that the next command finds them cached.
  virtual Status WriteBulkFileAtomic(const std::string& rel, std::string_view data) {
    return WriteFileAtomic(rel, data);
  }

  // Creates `rel` exclusively (fails with AlreadyExists if present), durably and whole: a crash
  // leaves either nothing or the complete file under `rel`. For lock files.
  virtual Status CreateExclusive(const std::string& rel, std::string_view data) = 0;

  virtual Result<std::string> ReadFile(const std::string& rel) = 0;
  // The whole file into `buf[0, n)`, returning n. `buf` is grown when too small and never
  // shrunk, so that a caller reading many files (verify) reuses one buffer without zero-filling
  // or faulting its pages in again. By default through ReadFile.
  virtual Result<size_t> ReadFileInto(const std::string& rel, std::string* buf) {
    RW_ASSIGN_OR_RETURN(std::string data, ReadFile(rel));
    if (buf->size() < data.size()) buf->resize(data.size());
    std::copy(data.begin(), data.end(), buf->begin());
    return data.size();
  }
  // Reads exactly `n` bytes at `offset`; Corruption if the file is shorter. Thread-safe; keeps
  // a small cache of open descriptors.
  virtual Result<std::string> ReadAt(const std::string& rel, uint64_t offset, size_t n) = 0;
  // The same into `buf[0, n)`, grown when too small and never shrunk (restore reads many ranges
  // of packs into one buffer a thread). By default through ReadAt.
  virtual Status ReadAtInto(const std::string& rel, uint64_t offset, size_t n, std::string* buf) {
    RW_ASSIGN_OR_RETURN(std::string data, ReadAt(rel, offset, n));
    if (buf->size() < n) buf->resize(n);
    std::copy(data.begin(), data.end(), buf->begin());
    return Status::OK();
  }
  // A hint that ranges ({offset, length}) of `rel` will be read soon: a storage may start
  // reading them in the background (LocalStorage: POSIX_FADV_WILLNEED). Never fails; a missing
  // file or a refused hint only means the later reads are slower.
  virtual void WillRead(const std::string& rel, const std::vector<std::pair<uint64_t, uint64_t>>& ranges) {
    (void)rel;
    (void)ranges;
  }
  virtual Result<uint64_t> FileSize(const std::string& rel) = 0;
  // Names (not paths) of the regular files directly inside `dir`, sorted; NotFound if missing.
  // Names starting with '.' (temporaries) are left out.
  virtual Result<std::vector<std::string>> List(const std::string& dir) = 0;
  // Names of the directories directly inside `dir`, sorted (e.g. the "3f" of "data/3f/…").
  virtual Result<std::vector<std::string>> ListDirs(const std::string& dir) = 0;
  virtual Status Remove(const std::string& rel) = 0;
  // Removes the temporaries (names starting with '.') that a writer killed in WriteFileAtomic
  // left directly inside `dir`. Only for a caller that holds the exclusive lock of the files
  // there (rollback/). A missing `dir` is fine.
  virtual Status RemoveTemporaries(const std::string& dir) = 0;
  // The temporaries (names starting with '.') directly inside `dir` and their sizes, sorted by
  // name: what a writer killed in WriteFileAtomic or WriteBulkFileAtomic left there, or what one
  // still running is writing. A missing `dir` has none.
  virtual Result<std::vector<std::pair<std::string, uint64_t>>> ListTemporaries(const std::string& dir) = 0;
  virtual Status MakeDir(const std::string& rel) = 0;
  virtual bool Exists(const std::string& rel) = 0;
  // A path a human can use in a message: "/backup/rewind/data/3f/3fa1…".
  virtual std::string Describe(const std::string& rel) const = 0;
};

// A directory on a local file system. `root` must exist.
std::unique_ptr<Storage> NewLocalStorage(std::string root);

}  // namespace rw
