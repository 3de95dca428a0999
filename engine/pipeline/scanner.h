// Scanner: the first, serial stage of the backup pipeline. Walks a directory tree with *at()
// calls, in byte order of names, and turns it into a stream of Items. Internal to the pipeline.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/format/checksum.h"
#include "engine/format/chunker.h"
#include "engine/pipeline/backup_pipeline.h"
#include "manifests/tree.h"

namespace rw::pipeline_internal {

// An open directory, closed when the last item that needs it is done.
struct DirHandle {
  int fd = -1;
  explicit DirHandle(int f) : fd(f) {}
  ~DirHandle() {
    if (fd >= 0) ::close(fd);
  }
  DirHandle(const DirHandle&) = delete;
  DirHandle& operator=(const DirHandle&) = delete;
};

// The bytes of a chunk before compression. Not a std::string: growing a string zero-fills it, and
// every byte a backup reads passes through here (2.2 GB of memset on the bench tree).
class RawBytes {
 public:
  RawBytes() = default;
  explicit RawBytes(size_t n) : data_(n ? std::make_unique_for_overwrite<char[]>(n) : nullptr), size_(n) {}
  RawBytes(const char* p, size_t n) : RawBytes(n) {
    if (n > 0) std::memcpy(data_.get(), p, n);
  }
  // A moved-from RawBytes is empty, not a null buffer with a size.
  RawBytes(RawBytes&& o) noexcept : data_(std::move(o.data_)), size_(std::exchange(o.size_, 0)) {}
  RawBytes& operator=(RawBytes&& o) noexcept {
    data_ = std::move(o.data_);
    size_ = std::exchange(o.size_, 0);
    return *this;
  }
  char* data() { return data_.get(); }
  const char* data() const { return data_.get(); }
  size_t size() const { return size_; }
  std::string_view view() const { return {data_.get(), size_}; }
  // Keeps the first n bytes (n <= size()); the buffer is not reallocated.
  void Shrink(size_t n) { size_ = std::min(n, size_); }
  // Grows to n bytes (n >= size()), keeping the content; the new bytes are uninitialised.
  void Grow(size_t n) {
    RawBytes bigger(n);
    if (size_ > 0) std::memcpy(bigger.data(), data_.get(), size_);
    *this = std::move(bigger);
  }
  void Release() {
    data_.reset();
    size_ = 0;
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
};

struct Blob {
  BlobId id;
  RawBytes raw;       // released once compressed or found to be known
  std::string frame;  // empty when the repository already has the blob
  uint32_t raw_length = 0;
};

struct Item {
  enum Kind { kEnterDir, kLeaveDir, kEntry, kSmallFile, kChunk } kind = kEntry;
  std::shared_ptr<DirHandle> dir;  // the parent directory (kSmallFile opens the file in it)
  std::string path;                // relative to the source root, for messages
  TreeEntry entry;                 // kEnterDir, kEntry, kSmallFile; kChunk: the file, on the last
  // Items that follow this one (directories entered and left, files reused from the parent,
  // symlinks, … and small files up to about 1 MiB in all, which the parallel stage reads,
  // hashes and compresses with it): they travel with it and the serial stage takes them after
  // it, so that an unchanged tree is not one pipeline token per entry, nor a tree of small
  // files one token per file.
  std::vector<std::unique_ptr<Item>> followers;
  // This item and its followers, in order: InBatch(0) is this item.
  size_t BatchSize() const { return 1 + followers.size(); }
  Item* InBatch(size_t i) { return i == 0 ? this : followers[i - 1].get(); }
  struct stat st {};               // as scanned
  std::vector<Blob> blobs;         // content of kSmallFile / kChunk
  bool last_chunk = false;         // kChunk: the file is complete
  Status error;                    // the entry could not be read: report, leave it out
  std::vector<std::string> notes;  // reported, not errors
  bool read = false;               // kSmallFile: opened and read (ReadSmallFile) already
  bool replaced = false;           // another inode than the scanned one was read
};

class Scanner {
 public:
  Scanner(std::string source, const ExcludeSet& excludes, const ChunkerParams& chunker,
          PipelineResult* result, BackupProgress* progress);

  // Parent reuse: a file whose size, mtime, ctime and inode match its entry in `tree` (the same
  // directory in the parent snapshot) is taken from there without being opened, if every blob
  // it needs is still in `repo`'s index.
  // `cache` (optional) supplies the parent's trees.
  // `parent_start`: when the parent's backup started; an entry whose stat does not vouch for it
  // (StatVouchesFor: rewritten within the timestamp tick of the parent's read) is read again.
  void SetParent(const Repository* repo, const BlobId& tree, TreeCache* cache = nullptr,
                 int64_t parent_start = INT64_MAX);
  // Called (from the scanning thread) with the parent's entry of each regular file that the
  // parent has but that is read again (changed since, by its stat).
  void SetOnParentFileChanged(std::function<void(const TreeEntry&)> fn) { on_parent_changed_ = std::move(fn); }
  ~Scanner();

  // Opens the source. NotFound/InvalidArgument naming it when it is missing or not a directory.
  Status Start();
  // The next item, or nullptr at the end.
  Item* Next();

 private:
  struct Child {
    std::string name;
    struct stat st;
    int stat_errno = 0;  // lstat failed with this (not ENOENT): `st` is unset, the entry unread
  };
  struct Frame {
    std::shared_ptr<DirHandle> dir;
    std::string path;
    std::vector<Child> children;
    size_t next = 0;
    std::shared_ptr<const Tree> parent;  // this directory in the parent snapshot, if any
    // For each entry of `parent`: 1 if every blob of its content is indexed. Filled for the
    // whole directory at its first reuse (one batched lookup instead of one per file).
    std::vector<uint8_t> parent_whole;
  };
  struct LargeFile {
    int fd = -1;
    std::string path;
    TreeEntry entry;
    struct stat st {};
    // The next chunk's bytes, read ahead: buf[0, len), of which [0, scanned) has no cut point.
    // The chunk found is handed on in this buffer; only what was read past its end is copied
    // (into the next buffer).
    RawBytes buf;
    size_t len = 0;
    size_t scanned = 0;
    bool eof = false;
    uint64_t read_total = 0;
    Xxh128Stream hash;
    std::vector<std::string> notes;  // found when it was opened (xattrs unreadable): to report
    std::optional<std::pair<uint64_t, uint64_t>> first_of_links;  // its key in links_, if it has one
    bool replaced = false;  // another inode than the scanned one was opened (noted already)
  };

  Item* EnterDir(std::shared_ptr<DirHandle> parent, const std::string& name, const std::string& path,
                 const struct stat& st, std::shared_ptr<const Tree> parent_tree);
  // The parent snapshot's entry called `name` in `tree`, or nullptr.
  static const TreeEntry* FindEntry(const Tree* tree, const std::string& name);
  std::shared_ptr<const Tree> LoadParentTree(const BlobId& id);
  // Takes a file from the parent snapshot when it is unchanged; returns false otherwise.
  bool ReuseFromParent(Frame& f, const Child& c, Item* item);
  // xattrs of a symlink, FIFO or device node (it cannot be opened for them), or of an excluded
  // directory (not opened: its content stays unread), by path without following it; a failure
  // is a note.
  void ReadNodeXattrs(const Frame& f, const Child& c, Item* item);
  Item* NextChunk();
  Item* NextOne();
  Item* ForChild(Frame& f, const Child& c);
  Status ListDir(int fd, std::vector<Child>* out);

  std::string source_;
  const ExcludeSet& excludes_;
  Chunker chunker_;
  PipelineResult* result_;
  BackupProgress* progress_;
  std::vector<Frame> stack_;
  std::unique_ptr<LargeFile> large_;
  bool started_ = false;
  int root_fd_ = -1;
  struct stat root_st_ {};
  // First path of every multiply-linked file seen, by (device, inode).
  std::map<std::pair<uint64_t, uint64_t>, std::string> links_;
  const Repository* parent_repo_ = nullptr;
  int64_t parent_start_ = INT64_MAX;
  std::function<void(const TreeEntry&)> on_parent_changed_;
  std::optional<BlobId> parent_root_;
  TreeCache* parent_cache_ = nullptr;
  std::unique_ptr<Item> pending_;  // found while batching entries: the next item
};

// Checks a file read against its scan: size, mtime, ctime before and after the read.
bool ChangedWhileRead(const struct stat& scanned, const struct stat& after, uint64_t bytes_read);

// Reads the small file of a kSmallFile item whole (it may have grown since the scan: then it is
// chunked here): blobs, size, XXH3, xattrs; sets `read`, and `replaced` when the file opened is
// not the inode scanned.
void ReadSmallFile(Item* item, const Chunker& chunker, BackupProgress* progress);

}  // namespace rw::pipeline_internal
