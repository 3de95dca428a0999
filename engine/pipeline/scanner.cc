#include "engine/pipeline/scanner.h"

#include <algorithm>
#include <cerrno>
#include <optional>

#include "engine/pipeline/fs_meta.h"

namespace rw::pipeline_internal {

namespace {
// Large files are read this much at a time, and their chunks start in buffers of kFirstBuffer
// bytes (most chunks end before it: 512 KiB to 8 MiB, 1 MiB on average), doubled as needed.
constexpr size_t kReadSize = 256 << 10;
constexpr size_t kFirstBuffer = 2 << 20;
constexpr size_t kMaxExamples = 5;
}  // namespace

bool ChangedWhileRead(const struct stat& scanned, const struct stat& after, uint64_t bytes_read) {
  return scanned.st_size != after.st_size || MtimeNs(scanned) != MtimeNs(after) ||
         CtimeNs(scanned) != CtimeNs(after) || static_cast<uint64_t>(after.st_size) != bytes_read;
}

// Reads a small file whole (it may have grown since the scan: then it is chunked here).
void ReadSmallFile(Item* item, const Chunker& chunker, BackupProgress* progress) {
  struct stat before {};
  auto opened = OpenRegularFile(item->dir->fd, item->entry.name, item->path, &before);
  if (!opened.ok()) {
    item->error = opened.status();
    return;
  }
  const int fd = *opened;
  item->read = true;
  // Another file put in its place since the scan (an atomic save): what is there now is read.
  if (before.st_ino != item->st.st_ino || before.st_dev != item->st.st_dev) {
    item->replaced = true;
    item->notes.push_back("changed while it was read (replaced by another file since the scan)");
  }
  RawBytes data(static_cast<size_t>(before.st_size) + 1);  // room to see EOF without growing
  size_t got = 0;
  for (;;) {
    if (got == data.size()) data.Grow(data.size() + (1 << 16));
    ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      item->error = ErrnoStatus("read", errno);
      ::close(fd);
      return;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  data.Shrink(got);
  progress->bytes_read += got;
  auto xattrs = ReadXattrs(fd);
  if (xattrs.ok()) item->entry.xattrs = std::move(*xattrs);
  else item->notes.push_back(xattrs.status().message());
  struct stat after {};
  if (!item->replaced && ::fstat(fd, &after) == 0 && ChangedWhileRead(item->st, after, got)) {
    item->notes.push_back("changed while it was read (size, mtime or ctime differ)");
  }
  ::close(fd);
  item->entry.size = got;
  item->entry.xxh128 = Xxh3_128(data.view());
  size_t pos = 0;
  while (pos < data.size()) {
    size_t cut = chunker.FindBoundary(reinterpret_cast<const uint8_t*>(data.data()) + pos,
                                      data.size() - pos, true);
    Blob blob;
    blob.raw_length = static_cast<uint32_t>(cut);
    if (pos == 0 && cut == data.size()) {  // one chunk, the common case: no copy
      blob.raw = std::move(data);
      item->blobs.push_back(std::move(blob));
      break;
    }
    blob.raw = RawBytes(data.data() + pos, cut);
    item->blobs.push_back(std::move(blob));
    pos += cut;
  }
  progress->files += 1;
}

Scanner::Scanner(std::string source, const ExcludeSet& excludes, const ChunkerParams& chunker,
                 PipelineResult* result, BackupProgress* progress)
    : source_(std::move(source)), excludes_(excludes), chunker_(chunker), result_(result),
      progress_(progress) {
  result_->excluded.resize(excludes_.rules().size());
}

Scanner::~Scanner() {
  if (large_ && large_->fd >= 0) ::close(large_->fd);
}

Status Scanner::Start() {
  root_fd_ = ::open(source_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd_ < 0) {
    int err = errno;
    if (err == ENOTDIR) return Status::InvalidArgument("source " + source_ + " is not a directory");
    return ErrnoStatus("source " + source_, err);
  }
  if (::fstat(root_fd_, &root_st_) != 0) return ErrnoStatus("stat source " + source_, errno);
  return Status::OK();
}

Status Scanner::ListDir(int fd, std::vector<Child>* out) {
  int dup_fd = ::dup(fd);
  if (dup_fd < 0) return ErrnoStatus("dup", errno);
  DIR* d = ::fdopendir(dup_fd);
  if (!d) {
    int err = errno;
    ::close(dup_fd);
    return ErrnoStatus("list directory", err);
  }
  errno = 0;
  while (dirent* de = ::readdir(d)) {
    std::string name = de->d_name;
    if (name == "." || name == "..") continue;
    out->push_back(Child{std::move(name), {}, 0});
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return ErrnoStatus("list directory", err);
  std::sort(out->begin(), out->end(), [](const Child& a, const Child& b) { return a.name < b.name; });
  return Status::OK();
}

void Scanner::SetParent(const Repository* repo, const BlobId& tree, TreeCache* cache, int64_t parent_start) {
  parent_repo_ = repo;
  parent_start_ = parent_start;
  parent_root_ = tree;
  parent_cache_ = cache;
}

std::shared_ptr<const Tree> Scanner::LoadParentTree(const BlobId& id) {
  if (!parent_repo_) return nullptr;
  if (parent_cache_) {
    auto tree = parent_cache_->Get(id);
    return tree.ok() ? *tree : nullptr;  // on error everything below is read again
  }
  auto doc = parent_repo_->LoadBlob(id, BlobType::kTree);
  if (!doc.ok()) return nullptr;  // then everything below is read again
  auto tree = DecodeTree(*doc);
  if (!tree.ok()) return nullptr;
  return std::make_shared<const Tree>(std::move(*tree));
}

const TreeEntry* Scanner::FindEntry(const Tree* tree, const std::string& name) {
  if (!tree) return nullptr;
  auto it = std::lower_bound(tree->entries.begin(), tree->entries.end(), name,
                             [](const TreeEntry& e, const std::string& n) { return e.name < n; });
  return it != tree->entries.end() && it->name == name ? &*it : nullptr;
}

bool Scanner::ReuseFromParent(Frame& f, const Child& c, Item* item) {
  const TreeEntry* old = FindEntry(f.parent.get(), c.name);
  if (!old || old->type != EntryType::kFile) return false;
  const TreeEntry& now = item->entry;
  if (old->size != static_cast<uint64_t>(c.st.st_size) || old->mtime_ns != now.mtime_ns ||
      old->ctime_ns != now.ctime_ns || old->inode != now.inode ||
      !StatVouchesFor(old->ctime_ns, parent_start_)) {
    return false;
  }
  // Only an entry whose every blob is indexed is reused (a parent damaged and repaired may
  // name blobs that are gone). The whole directory is looked up at once.
  const std::vector<TreeEntry>& olds = f.parent->entries;
  if (f.parent_whole.empty() && !olds.empty()) {
    std::vector<BlobId> ids;
    for (const TreeEntry& e : olds) ids.insert(ids.end(), e.content.begin(), e.content.end());
    std::vector<uint8_t> present;
    parent_repo_->HasMany(ids, &present);
    f.parent_whole.assign(olds.size(), 1);
    size_t k = 0;
    for (size_t i = 0; i < olds.size(); ++i) {
      for (size_t j = 0; j < olds[i].content.size(); ++j, ++k) {
        if (!present[k]) f.parent_whole[i] = 0;
      }
    }
  }
  if (!f.parent_whole[static_cast<size_t>(old - olds.data())]) return false;
  // ctime is unchanged, so are mode, owner and xattrs; the stat fields are taken fresh anyway.
  item->entry.content = old->content;
  item->entry.xxh128 = old->xxh128;
  item->entry.xattrs = old->xattrs;
  item->kind = Item::kEntry;
  progress_->files += 1;
  progress_->files_reused += 1;
  return true;
}

Item* Scanner::EnterDir(std::shared_ptr<DirHandle> parent, const std::string& name,
                        const std::string& path, const struct stat& st,
                        std::shared_ptr<const Tree> parent_tree) {
  auto item = std::make_unique<Item>();
  item->kind = Item::kEnterDir;
  item->path = path;
  item->st = st;
  item->dir = parent;
  FillEntryFromStat(st, &item->entry);
  item->entry.name = name;
  // Without touching its atime, as for files: listing it does not dirty the directory's inode.
  int fd = parent ? OpenAtNoAtime(parent->fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                  : ::dup(root_fd_);
  if (fd < 0) {
    item->kind = Item::kEntry;
    item->error = ErrnoStatus("open directory", errno);
    return item.release();
  }
  auto handle = std::make_shared<DirHandle>(fd);
  auto xattrs = ReadXattrs(fd);
  if (xattrs.ok()) item->entry.xattrs = std::move(*xattrs);
  else item->notes.push_back(xattrs.status().message());
  Frame frame{handle, path, {}, 0, std::move(parent_tree), {}};
  Status s = ListDir(fd, &frame.children);
  if (s.ok()) {
    // Stat every child now. Only ENOENT means one vanished: it is dropped with a note. Any other
    // failure (EACCES in a directory that can be listed but not searched, EIO, ESTALE) leaves an
    // entry that is there but unread: ForChild makes it an error in its turn, so that the
    // snapshot is incomplete and lists it, and a rollback leaves it alone instead of deleting it.
    std::vector<Child> kept;
    kept.reserve(frame.children.size());
    for (Child& c : frame.children) {
      if (::fstatat(fd, c.name.c_str(), &c.st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) {
          item->notes.push_back("vanished before it was read: " + JoinPath(path, c.name));
          continue;
        }
        c.stat_errno = errno;
      }
      kept.push_back(std::move(c));
    }
    frame.children = std::move(kept);
  }
  if (!s.ok()) {
    item->kind = Item::kEntry;
    item->error = s;
    return item.release();
  }
  progress_->dirs += 1;
  stack_.push_back(std::move(frame));
  return item.release();
}

namespace {
constexpr size_t kMaxFollowers = 256;
// Small files travel together up to about this many bytes, about a chunk's work. The last stage
// takes items in order: with one small file per token, a worker that had finished the tokens
// behind a large chunk another worker was still compressing waited for it. First backup of the
// bench tree on 2 cores: 7.07-7.14 s with a token per small file (8 tokens), 6.76-6.99 s with
// batches, 6.65-6.71 s with batches and 16 tokens.
constexpr uint64_t kBatchBytes = 1 << 20;
// What an item costs the parallel stage: small files are read there, and chunks hashed and
// compressed; every other item is complete when scanned.
uint64_t WorkBytes(const Item& item) {
  if (item.kind == Item::kSmallFile) return static_cast<uint64_t>(item.st.st_size) + 1;
  if (item.kind == Item::kChunk) return kBatchBytes;  // one chunk of a large file: a token of its own
  return 0;
}
}  // namespace

Item* Scanner::Next() {
  std::unique_ptr<Item> head(pending_ ? pending_.release() : NextOne());
  if (!head) return nullptr;
  uint64_t work = WorkBytes(*head);
  while (head->followers.size() < kMaxFollowers) {
    std::unique_ptr<Item> next(NextOne());
    if (!next) break;
    const uint64_t more = WorkBytes(*next);
    if (more > 0 && (next->kind == Item::kChunk || work + more > kBatchBytes)) {
      pending_ = std::move(next);
      break;
    }
    work += more;
    head->followers.push_back(std::move(next));
  }
  return head.release();
}

Item* Scanner::NextOne() {
  if (large_) return NextChunk();
  if (!started_) {
    started_ = true;
    return EnterDir(nullptr, "", "", root_st_, parent_root_ ? LoadParentTree(*parent_root_) : nullptr);
  }
  while (!stack_.empty()) {
    Frame& f = stack_.back();
    if (f.next == f.children.size()) {
      auto item = std::make_unique<Item>();
      item->kind = Item::kLeaveDir;
      item->path = f.path;
      stack_.pop_back();
      return item.release();
    }
    const Child& c = f.children[f.next++];
    if (Item* item = ForChild(f, c)) return item;
  }
  return nullptr;
}

Item* Scanner::ForChild(Frame& f, const Child& c) {
  const std::string path = JoinPath(f.path, c.name);
  if (c.stat_errno != 0) {
    // Its type is unknown, so no exclusion rule is applied: an unread entry is the safe side
    // (a rollback never deletes it), where dropping it could let one take it for new.
    auto item = std::make_unique<Item>();
    item->kind = Item::kEntry;
    item->path = path;
    item->error = ErrnoStatus("stat", c.stat_errno);
    return item.release();
  }
  const bool is_dir = S_ISDIR(c.st.st_mode);
  int rule = excludes_.Match(path, is_dir);
  if (rule >= 0) {
    ExcludedReport& rep = result_->excluded[static_cast<size_t>(rule)];
    rep.count += 1;
    if (rep.examples.size() < kMaxExamples) rep.examples.push_back(path + (is_dir ? "/" : ""));
    if (!is_dir) return nullptr;  // an excluded file leaves no trace
    auto item = std::make_unique<Item>();
    item->kind = Item::kEntry;
    item->path = path;
    item->st = c.st;
    FillEntryFromStat(c.st, &item->entry);
    item->entry.type = EntryType::kExcludedDir;
    item->entry.name = c.name;
    // Its own xattrs are kept like any entry's (restore creates it, empty, with its metadata),
    // read by path without opening it: its content is never listed.
    ReadNodeXattrs(f, c, item.get());
    return item.release();
  }
  if (is_dir) {
    const TreeEntry* old = FindEntry(f.parent.get(), c.name);
    std::shared_ptr<const Tree> parent_tree;
    if (old && old->type == EntryType::kDir && old->subtree) parent_tree = LoadParentTree(*old->subtree);
    return EnterDir(f.dir, c.name, path, c.st, std::move(parent_tree));
  }

  auto item = std::make_unique<Item>();
  item->kind = Item::kEntry;
  item->path = path;
  item->st = c.st;
  item->dir = f.dir;
  if (!FillEntryFromStat(c.st, &item->entry)) {
    item->notes.push_back(S_ISSOCK(c.st.st_mode) ? "socket skipped" : "unsupported file type skipped");
    item->entry.name.clear();  // nothing to record
    return item.release();
  }
  item->entry.name = c.name;
  switch (item->entry.type) {
    case EntryType::kSymlink: {
      std::string target(static_cast<size_t>(c.st.st_size) + 1, '\0');
      for (;;) {
        ssize_t n = ::readlinkat(f.dir->fd, c.name.c_str(), target.data(), target.size());
        if (n < 0) {
          item->error = ErrnoStatus("read symlink", errno);
          break;
        }
        if (static_cast<size_t>(n) < target.size()) {
          target.resize(static_cast<size_t>(n));
          item->entry.link_target = target;
          item->entry.size = target.size();
          break;
        }
        target.resize(target.size() * 2 + 64);
      }
      ReadNodeXattrs(f, c, item.get());
      return item.release();
    }
    case EntryType::kFile: {
      // The first name of a file with several is the one its other names link to: it is read
      // here, in scan order, before they are scanned. When it cannot be read, or another file
      // has taken its name since the scan (an atomic save), the next name seen is the first.
      std::optional<std::pair<uint64_t, uint64_t>> first_of_links;
      if (c.st.st_nlink > 1) {
        auto key = std::make_pair(static_cast<uint64_t>(c.st.st_dev), static_cast<uint64_t>(c.st.st_ino));
        auto [it, inserted] = links_.emplace(key, path);
        if (!inserted) {
          item->entry.type = EntryType::kHardlink;
          item->entry.link_target = it->second;
          item->entry.size = 0;
          progress_->files += 1;
          return item.release();
        }
        first_of_links = key;
      }
      if (parent_repo_ && ReuseFromParent(f, c, item.get())) return item.release();
      if (on_parent_changed_) {
        if (const TreeEntry* old = FindEntry(f.parent.get(), c.name); old && old->type == EntryType::kFile) {
          on_parent_changed_(*old);
        }
      }
      if (static_cast<uint64_t>(c.st.st_size) <= chunker_.params().max_size) {
        item->kind = Item::kSmallFile;
        if (first_of_links) {
          ReadSmallFile(item.get(), chunker_, progress_);
          if (!item->error.ok() || item->replaced) links_.erase(*first_of_links);
        }
        return item.release();
      }
      // A large file: read here, in order, and chunked; its chunks flow through the pipeline.
      struct stat opened_st {};
      auto opened = OpenRegularFile(f.dir->fd, c.name, path, &opened_st);
      if (!opened.ok()) {
        if (first_of_links) links_.erase(*first_of_links);
        item->error = opened.status();
        return item.release();
      }
      const bool replaced = opened_st.st_ino != c.st.st_ino || opened_st.st_dev != c.st.st_dev;
      if (replaced) {
        if (first_of_links) links_.erase(*first_of_links);
        item->notes.push_back("changed while it was read (replaced by another file since the scan)");
      }
      const int fd = *opened;
      auto xattrs = ReadXattrs(fd);
      if (xattrs.ok()) item->entry.xattrs = std::move(*xattrs);
      else item->notes.push_back(xattrs.status().message());  // as for a small file: kept without them
      ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
      large_ = std::make_unique<LargeFile>();
      large_->fd = fd;
      large_->path = path;
      large_->entry = std::move(item->entry);
      large_->st = c.st;
      large_->notes = std::move(item->notes);
      large_->first_of_links = first_of_links;
      large_->replaced = replaced;
      return NextChunk();
    }
    default:  // fifo, devices: metadata only
      ReadNodeXattrs(f, c, item.get());
      return item.release();
  }
}

void Scanner::ReadNodeXattrs(const Frame& f, const Child& c, Item* item) {
  auto xattrs = ReadXattrsAt(f.dir->fd, c.name);
  if (xattrs.ok()) item->entry.xattrs = std::move(*xattrs);
  else item->notes.push_back(xattrs.status().message());
}

Item* Scanner::NextChunk() {
  LargeFile& lf = *large_;
  auto item = std::make_unique<Item>();
  item->kind = Item::kChunk;
  item->path = lf.path;
  item->notes = std::exchange(lf.notes, {});  // the first chunk carries what the open found
  const size_t max = chunker_.params().max_size;
  size_t cut = 0;
  for (;;) {
    // With max_size bytes there is always a cut; at the end of the file, what is left is one.
    if (lf.len > 0) {
      cut = chunker_.FindBoundaryFrom(reinterpret_cast<const uint8_t*>(lf.buf.data()), lf.len, lf.scanned, lf.eof);
      if (cut > 0) break;
      lf.scanned = lf.len;
    }
    if (lf.eof) break;
    if (lf.buf.size() == lf.len) lf.buf.Grow(std::min(max, std::max(kFirstBuffer, 2 * lf.buf.size())));
    const size_t want = std::min(kReadSize, lf.buf.size() - lf.len);
    ssize_t n = ::read(lf.fd, lf.buf.data() + lf.len, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      item->error = ErrnoStatus("read", errno);
      item->last_chunk = true;
      if (lf.first_of_links) links_.erase(*lf.first_of_links);  // its next name is read instead
      ::close(lf.fd);
      large_.reset();
      return item.release();
    }
    if (n == 0) lf.eof = true;
    lf.len += static_cast<size_t>(n);
    lf.read_total += static_cast<uint64_t>(n);
    progress_->bytes_read += static_cast<uint64_t>(n);
  }
  if (cut > 0) {
    // The chunk keeps this buffer; the bytes read past it start the next one.
    RawBytes next(lf.eof && lf.len == cut ? 0 : std::min(max, std::max(kFirstBuffer, lf.len - cut)));
    if (lf.len > cut) std::memcpy(next.data(), lf.buf.data() + cut, lf.len - cut);
    Blob blob;
    blob.raw = std::move(lf.buf);
    blob.raw.Shrink(cut);
    blob.raw_length = static_cast<uint32_t>(cut);
    lf.hash.Update(blob.raw.view());
    item->blobs.push_back(std::move(blob));
    lf.buf = std::move(next);
    lf.len -= cut;
    lf.scanned = 0;
  }
  if (lf.eof && lf.len == 0) {
    item->last_chunk = true;
    struct stat after {};
    if (!lf.replaced && ::fstat(lf.fd, &after) == 0 && ChangedWhileRead(lf.st, after, lf.read_total)) {
      item->notes.push_back("changed while it was read (size, mtime or ctime differ)");
    }
    ::close(lf.fd);
    lf.entry.size = lf.read_total;
    lf.entry.xxh128 = lf.hash.Digest();
    item->entry = std::move(lf.entry);
    progress_->files += 1;
    large_.reset();
  }
  return item.release();
}

}  // namespace rw::pipeline_internal
