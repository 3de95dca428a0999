#include "engine/ops/diff.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <memory>

#include <tbb/parallel_for_each.h>

#include "engine/format/checksum.h"
#include "engine/ops/diff_internal.h"
#include "engine/ops/snapshots.h"
#include "engine/pipeline/fs_meta.h"
#include "excludes/excludes.h"

namespace rw {

const char* ChangeMarker(ChangeKind k) {
  switch (k) {
    case ChangeKind::kAdded: return "+";
    case ChangeKind::kRemoved: return "-";
    case ChangeKind::kContent: return "M";
    case ChangeKind::kMetadata: return "m";
    case ChangeKind::kType: return "T";
  }
  return "?";
}

const char* ChangeKindName(ChangeKind k) {
  switch (k) {
    case ChangeKind::kAdded: return "added";
    case ChangeKind::kRemoved: return "removed";
    case ChangeKind::kContent: return "content";
    case ChangeKind::kMetadata: return "metadata";
    case ChangeKind::kType: return "type";
  }
  return "?";
}

std::string MetaBitsText(uint32_t bits) {
  std::string out;
  auto add = [&](uint32_t b, const char* name) {
    if (!(bits & b)) return;
    if (!out.empty()) out += ",";
    out += name;
  };
  add(kMetaMode, "mode");
  add(kMetaOwner, "owner");
  add(kMetaMtime, "mtime");
  add(kMetaXattrs, "xattrs");
  return out;
}

namespace diff_internal {

int OpenDirAt(int dfd, const std::string& name) {
  // Listing a directory the rollback has just changed would otherwise update its atime
  // (relatime): one dirty inode per directory.
  return OpenAtNoAtime(dfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

Status ListLive(int fd, std::vector<TreeEntry>* out) {
  out->clear();
  int dup_fd = ::dup(fd);
  if (dup_fd < 0) return ErrnoStatus("list directory", errno);
  DIR* d = ::fdopendir(dup_fd);
  if (!d) {
    int err = errno;
    ::close(dup_fd);
    return ErrnoStatus("list directory", err);
  }
  ::rewinddir(d);
  errno = 0;
  while (dirent* de = ::readdir(d)) {
    std::string name = de->d_name;
    if (name == "." || name == "..") continue;
    struct stat st{};
    if (::fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      int err = errno;
      ::closedir(d);
      return ErrnoStatus("stat " + name, err);
    }
    TreeEntry e;
    if (!FillEntryFromStat(st, &e)) continue;  // sockets: never backed up, never touched
    e.name = std::move(name);
    if (e.type == EntryType::kSymlink) {
      std::string target(static_cast<size_t>(st.st_size) + 64, '\0');
      for (;;) {
        ssize_t n = ::readlinkat(fd, e.name.c_str(), target.data(), target.size());
        if (n < 0) {
          int err = errno;
          ::closedir(d);
          return ErrnoStatus("read symlink " + e.name, err);
        }
        if (static_cast<size_t>(n) < target.size()) {
          target.resize(static_cast<size_t>(n));
          break;
        }
        target.resize(target.size() * 2);
      }
      e.link_target = std::move(target);
      e.size = e.link_target.size();
    }
    out->push_back(std::move(e));
    errno = 0;
  }
  ::closedir(d);
  std::sort(out->begin(), out->end(), [](const TreeEntry& a, const TreeEntry& b) { return a.name < b.name; });
  return Status::OK();
}

Status HashFd(int fd, Xxh128* out, uint64_t* bytes) {
  Xxh128Stream h;
  // One buffer per thread, not zero-filled: a fresh 1 MiB string per file was a memset of 4 GB
  // in the verify of a rollback that rewrote 4,000 files.
  constexpr size_t kBuf = 1 << 20;
  thread_local std::unique_ptr<char[]> buf = std::make_unique_for_overwrite<char[]>(kBuf);
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.get(), kBuf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read", errno);
    }
    if (n == 0) break;
    h.Update(std::string_view(buf.get(), static_cast<size_t>(n)));
    total += static_cast<uint64_t>(n);
  }
  *out = h.Digest();
  if (bytes) *bytes = total;
  return Status::OK();
}

int OpenDirBeneath(int dfd, const std::string& rel) {
  // Not every kernel has openat2 (5.6 and later), and a seccomp filter may refuse it: once
  // it has answered ENOSYS or EPERM, it is not asked again.
  static std::atomic<bool> unavailable{false};
  if (rel.empty() || unavailable.load(std::memory_order_relaxed)) return -1;
  struct open_how how{};
  how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, dfd, rel.c_str(), &how, sizeof how);
  if (fd < 0 && errno == EPERM) {
    // O_NOATIME is allowed only to the files' owner (and root): as OpenAtNoAtime does.
    how.flags &= ~static_cast<uint64_t>(O_NOATIME);
    fd = ::syscall(SYS_openat2, dfd, rel.c_str(), &how, sizeof how);
  }
  if (fd < 0 && (errno == ENOSYS || errno == EPERM)) unavailable.store(true, std::memory_order_relaxed);
  return fd < 0 ? -1 : static_cast<int>(fd);
}

int OpenDirPath(int root_fd, const std::string& dir, size_t* failed_len) {
  if (dir.empty()) return ::dup(root_fd);
  if (int fd = OpenDirBeneath(root_fd, dir); fd >= 0) return fd;
  int cur = ::dup(root_fd);
  if (cur < 0) return -1;
  for (size_t start = 0;;) {
    const size_t slash = std::min(dir.find('/', start), dir.size());
    int next = OpenDirAt(cur, dir.substr(start, slash - start));
    int err = errno;
    ::close(cur);
    if (next < 0) {
      if (failed_len) *failed_len = slash;
      errno = err;
      return -1;
    }
    if (slash == dir.size()) return next;
    cur = next;
    start = slash + 1;
  }
}

Result<struct stat> StatPathAt(int root_fd, const std::string& rel) {
  const size_t slash = rel.rfind('/');
  int dir = OpenDirPath(root_fd, slash == std::string::npos ? std::string() : rel.substr(0, slash));
  if (dir < 0) return ErrnoStatus(rel, errno);
  struct stat st{};
  int rc = ::fstatat(dir, rel.c_str() + (slash == std::string::npos ? 0 : slash + 1), &st, AT_SYMLINK_NOFOLLOW);
  int err = errno;
  ::close(dir);
  if (rc != 0) return ErrnoStatus(rel, err);
  return st;
}

uint32_t MetaDiff(const TreeEntry& o, const TreeEntry& n, bool compare_xattrs) {
  uint32_t bits = 0;
  if (o.type != EntryType::kSymlink && o.mode != n.mode) bits |= kMetaMode;
  if (o.uid != n.uid || o.gid != n.gid) bits |= kMetaOwner;
  if (o.mtime_ns != n.mtime_ns) bits |= kMetaMtime;
  if (compare_xattrs && o.xattrs != n.xattrs) bits |= kMetaXattrs;
  return bits;
}

Status SnapshotExcludes(const Snapshot& snap, ExcludeSet* out) {
  for (const std::string& rule : snap.excludes) {
    RW_RETURN_IF_ERROR(out->Add(rule, "snapshot").WithContext("the snapshot's exclusion rules"));
  }
  return Status::OK();
}

void HashLive(int dfd, const std::string& name, Hashed* out) {
  out->done = true;
  struct stat st{};
  auto fd = OpenRegularFile(dfd, name, name, &st);
  if (!fd.ok()) {
    out->status = fd.status();
    return;
  }
  out->status = HashFd(*fd, &out->hash, &out->bytes);
  if (out->status.ok()) {
    auto x = ReadXattrs(*fd);
    if (x.ok()) {
      out->xattrs = std::move(*x);
    } else {
      out->status = x.status();
    }
  }
  ::close(*fd);
}

}  // namespace diff_internal

namespace {

using namespace diff_internal;

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// A live file whose size, mtime, ctime, inode and device are what the snapshot saw: unchanged
// (what backup's parent reuse trusts, so do we; a change of mode, owner or xattrs moves the
// ctime).
bool UnchangedByStat(const TreeEntry& o, const TreeEntry& n) {
  return o.type == EntryType::kFile && n.type == EntryType::kFile && o.size == n.size &&
         o.mtime_ns == n.mtime_ns && o.ctime_ns == n.ctime_ns && o.inode == n.inode && o.device == n.device;
}

// UnchangedByStat, and the snapshot can vouch for that stat (StatVouchesFor, `snapshot_start`:
// not racily clean): the file is the snapshot's without reading it.
bool VouchedUnchanged(const TreeEntry& o, const TreeEntry& n, int64_t snapshot_start) {
  return UnchangedByStat(o, n) && StatVouchesFor(o.ctime_ns, snapshot_start);
}

// A live file of the snapshot's size whose stat moved, or whose stat the snapshot cannot vouch
// for: only its content can tell.
bool NeedsHash(const TreeEntry& o, const TreeEntry& n, int64_t snapshot_start) {
  return o.type == EntryType::kFile && n.type == EntryType::kFile && o.size == n.size &&
         !VouchedUnchanged(o, n, snapshot_start);
}

// A change found by a walk of a subtree that ran beside its siblings, held until the walk of
// the parent reaches it, so that changes still come out in order. `conditional`: a snapshot's
// hardlink whose live name is still linked to its target; it is a change only if the caller's
// relink says so, which is asked when it comes out (relink depends on the changes before it).
struct Held {
  Change change;
  bool conditional = false;
};

class Differ {
 public:
  Differ(const Repository& repo, const DiffOptions& options, const ChangeFn& fn, DiffStats* stats)
      : repo_(repo), options_(options), fn_(fn), stats_(stats) {}

  // Live mode: the new side is the directory `root_fd`; `excludes` are the snapshot's rules.
  // `snapshot_start`: an entry of the snapshot whose stat does not vouch for it (StatVouchesFor)
  // is compared by content even when its stat is unchanged.
  void SetLive(int root_fd, const ExcludeSet* excludes, int64_t snapshot_start) {
    live_ = true;
    root_fd_ = root_fd;
    excludes_ = excludes;
    snapshot_start_ = snapshot_start;
  }

  Status Root(const Snapshot& old_snap, const Tree& old_tree, const std::optional<TreeEntry>& new_root,
              const Tree* new_tree) {
    bool structural = false;
    if (live_) {
      std::vector<TreeEntry> news;
      RW_RETURN_IF_ERROR(ListLive(root_fd_, &news));
      RW_RETURN_IF_ERROR(Dir("", old_tree.entries, news, root_fd_, &structural));
    } else {
      RW_RETURN_IF_ERROR(Dir("", old_tree.entries, new_tree->entries, -1, &structural));
    }
    if (old_snap.root && new_root) {
      uint32_t bits = MetaDiff(*old_snap.root, *new_root, true);
      if (bits == kMetaMtime && structural) bits = 0;
      if (bits) {
        Change c;
        c.kind = ChangeKind::kMetadata;
        c.has_old = c.has_new = true;
        c.old_entry = *old_snap.root;
        c.new_entry = *new_root;
        c.meta = bits;
        RW_RETURN_IF_ERROR(Emit(c));
      }
    }
    return Status::OK();
  }

 private:
  Result<std::shared_ptr<const Tree>> Load(const BlobId& id) { return LoadTreeVia(repo_, options_.trees, id); }

  // A walker of one subtree, for a thread of its own: its changes go into `held`, its counts
  // of files read into `stats`.
  Differ Child(std::vector<Held>* held, DiffStats* stats) const {
    Differ d(repo_, options_, fn_, stats);
    d.live_ = live_;
    d.root_fd_ = root_fd_;
    d.excludes_ = excludes_;
    d.snapshot_start_ = snapshot_start_;
    d.held_ = held;
    return d;
  }

  // What a child held, in order: into this walker's own held changes, or out.
  Status Release(std::vector<Held>& held) {
    for (Held& h : held) {
      if (held_) {
        held_->push_back(std::move(h));
      } else if (!h.conditional || options_.relink(h.change.old_entry.link_target)) {
        RW_RETURN_IF_ERROR(Emit(h.change));
      }
    }
    return Status::OK();
  }

  Status Emit(const Change& c) {
    if (held_) {
      held_->push_back({c, false});
      return Status::OK();
    }
    switch (c.kind) {
      case ChangeKind::kAdded: stats_->added += 1; break;
      case ChangeKind::kRemoved: stats_->removed += 1; break;
      case ChangeKind::kContent: stats_->content += 1; break;
      case ChangeKind::kMetadata: stats_->metadata += 1; break;
      case ChangeKind::kType: stats_->type += 1; break;
    }
    return fn_(c);
  }

  bool Excluded(const std::string& path, const TreeEntry& n) const {
    return live_ && excludes_->Match(path, n.type == EntryType::kDir) >= 0;
  }

  Status Dir(const std::string& path, const std::vector<TreeEntry>& olds, const std::vector<TreeEntry>& news,
             int new_fd, bool* structural) {
    // Live: the files of this directory whose content must be compared are read in parallel,
    // and the subdirectories present on both sides are walked in parallel (the walk is one stat
    // per entry, a directory at a time); their changes are held and come out in order.
    struct Sub {
      size_t a, b;
      std::vector<Held> held;
      DiffStats stats;
      Status status;
    };
    std::vector<Hashed> hashed;
    std::vector<Sub> subs;
    if (live_) {
      std::vector<size_t> todo;
      for (size_t a = 0, b = 0; a < olds.size() && b < news.size();) {
        int cmp = olds[a].name.compare(news[b].name);
        if (cmp < 0) {
          ++a;
        } else if (cmp > 0) {
          ++b;
        } else {
          if (NeedsHash(olds[a], news[b], snapshot_start_)) todo.push_back(b);
          if (olds[a].type == EntryType::kDir && news[b].type == EntryType::kDir) subs.push_back({a, b, {}, {}, {}});
          ++a;
          ++b;
        }
      }
      if (todo.size() > 1) {
        hashed.resize(news.size());
        tbb::parallel_for_each(todo.begin(), todo.end(),
                               [&](size_t b) { HashLive(new_fd, news[b].name, &hashed[b]); });
      }
      if (subs.size() > 1) {
        tbb::parallel_for_each(subs.begin(), subs.end(), [&](Sub& sub) {
          Differ child = Child(&sub.held, &sub.stats);
          bool unused = false;
          sub.status = child.Entry(JoinPath(path, olds[sub.a].name), olds[sub.a], news[sub.b], new_fd, &unused);
        });
      } else {
        subs.clear();
      }
    }
    size_t next_sub = 0;
    size_t i = 0, j = 0;
    while (i < olds.size() || j < news.size()) {
      int cmp;
      if (i == olds.size()) cmp = 1;
      else if (j == news.size()) cmp = -1;
      else cmp = olds[i].name.compare(news[j].name);
      if (cmp < 0) {
        *structural = true;
        RW_RETURN_IF_ERROR(Removed(JoinPath(path, olds[i].name), olds[i]));
        ++i;
      } else if (cmp > 0) {
        const std::string p = JoinPath(path, news[j].name);
        if (!Excluded(p, news[j])) {
          *structural = true;
          RW_RETURN_IF_ERROR(Added(p, news[j], new_fd));
        }
        ++j;
      } else if (next_sub < subs.size() && subs[next_sub].a == i) {
        Sub& sub = subs[next_sub++];
        RW_RETURN_IF_ERROR(sub.status);
        stats_->files_hashed += sub.stats.files_hashed;
        stats_->bytes_hashed += sub.stats.bytes_hashed;
        RW_RETURN_IF_ERROR(Release(sub.held));
        ++i;
        ++j;
      } else if (live_ && VouchedUnchanged(olds[i], news[j], snapshot_start_)) {
        ++i;  // the common case, decided before any path or copy is made
        ++j;
      } else {
        RW_RETURN_IF_ERROR(Entry(JoinPath(path, olds[i].name), olds[i], news[j], new_fd, structural,
                                 hashed.empty() ? nullptr : &hashed[j]));
        ++i;
        ++j;
      }
    }
    return Status::OK();
  }

  Status Removed(const std::string& path, const TreeEntry& o) {
    Change c;
    c.kind = ChangeKind::kRemoved;
    c.path = path;
    c.has_old = true;
    c.old_entry = o;
    RW_RETURN_IF_ERROR(Emit(c));
    return RemovedChildren(path, o);
  }

  Status RemovedChildren(const std::string& path, const TreeEntry& o) {
    if (!options_.descend_removed || o.type != EntryType::kDir || !o.subtree) return Status::OK();
    RW_ASSIGN_OR_RETURN(auto t, Load(*o.subtree));
    for (const TreeEntry& e : t->entries) RW_RETURN_IF_ERROR(Removed(JoinPath(path, e.name), e));
    return Status::OK();
  }

  Status Added(const std::string& path, const TreeEntry& n, int parent_fd) {
    Change c;
    c.kind = ChangeKind::kAdded;
    c.path = path;
    c.has_new = true;
    c.new_entry = n;
    RW_RETURN_IF_ERROR(Emit(c));
    return AddedChildren(path, n, parent_fd);
  }

  Status AddedChildren(const std::string& path, const TreeEntry& n, int parent_fd) {
    if (!options_.descend_added || n.type != EntryType::kDir) return Status::OK();
    if (!live_) {
      if (!n.subtree) return Status::OK();
      RW_ASSIGN_OR_RETURN(auto t, Load(*n.subtree));
      for (const TreeEntry& e : t->entries) RW_RETURN_IF_ERROR(Added(JoinPath(path, e.name), e, -1));
      return Status::OK();
    }
    Fd dir(OpenDirAt(parent_fd, n.name));
    if (dir.fd < 0) return ErrnoStatus("open directory", errno).WithContext(path);
    std::vector<TreeEntry> news;
    RW_RETURN_IF_ERROR(ListLive(dir.fd, &news).WithContext(path));
    for (const TreeEntry& e : news) {
      const std::string p = JoinPath(path, e.name);
      if (Excluded(p, e)) continue;
      RW_RETURN_IF_ERROR(Added(p, e, dir.fd));
    }
    return Status::OK();
  }

  // REQUIRES (live): not VouchedUnchanged(o, n_in); Dir skips those before any path is made.
  Status Entry(const std::string& path, const TreeEntry& o, const TreeEntry& n_in, int new_fd,
               bool* structural, Hashed* pre = nullptr) {
    assert(!live_ || !VouchedUnchanged(o, n_in, snapshot_start_));
    TreeEntry n = n_in;
    Change c;
    c.path = path;
    c.has_old = c.has_new = true;
    c.old_entry = o;
    // The live side never has these types: map what it has onto them.
    if (live_ && o.type == EntryType::kExcludedDir && n.type == EntryType::kDir) return Status::OK();
    if (live_ && o.type == EntryType::kHardlink && n.type == EntryType::kFile) {
      c.new_entry = n;
      auto target = StatPathAt(root_fd_, o.link_target);
      bool linked = target.ok() && S_ISREG(target->st_mode) && static_cast<uint64_t>(target->st_ino) == n.inode &&
                    static_cast<uint64_t>(target->st_dev) == n.device;
      c.kind = ChangeKind::kContent;
      if (linked && options_.relink && held_) {
        held_->push_back({c, true});  // relink is asked when it comes out
        return Status::OK();
      }
      if (linked && !(options_.relink && options_.relink(o.link_target))) return Status::OK();
      return Emit(c);
    }
    if (o.type != n.type) {
      *structural = true;
      c.kind = ChangeKind::kType;
      c.new_entry = n;
      RW_RETURN_IF_ERROR(Emit(c));
      RW_RETURN_IF_ERROR(RemovedChildren(path, o));
      return AddedChildren(path, n, new_fd);
    }
    switch (o.type) {
      case EntryType::kDir: return DirEntry(path, o, n, new_fd, c);
      case EntryType::kFile: {
        bool content_differs;
        if (live_) {
          if (o.size != n.size) {
            content_differs = true;
          } else {  // its stat moved, or is not to be trusted (Dir skipped it otherwise): the content tells
            Hashed local;
            Hashed* h = pre && pre->done ? pre : &local;
            if (!h->done) HashLive(new_fd, n.name, h);
            if (!h->status.ok()) return h->status.WithContext(path);
            stats_->files_hashed += 1;
            stats_->bytes_hashed += h->bytes;
            content_differs = !o.xxh128 || !(*o.xxh128 == h->hash) || h->bytes != o.size;
            n.xattrs = std::move(h->xattrs);
          }
        } else {
          content_differs = o.size != n.size || o.content != n.content || o.xxh128 != n.xxh128;
        }
        c.new_entry = n;
        if (content_differs) {
          c.kind = ChangeKind::kContent;
          return Emit(c);
        }
        return Meta(c, o, n, true);
      }
      case EntryType::kHardlink:
        c.new_entry = n;
        if (o.link_target != n.link_target) {
          c.kind = ChangeKind::kContent;
          return Emit(c);
        }
        return Status::OK();
      case EntryType::kSymlink:
        RW_RETURN_IF_ERROR(NodeXattrs(o, &n, new_fd).WithContext(path));
        c.new_entry = n;
        if (o.link_target != n.link_target) {
          c.kind = ChangeKind::kContent;
          return Emit(c);
        }
        return Meta(c, o, n, true);
      case EntryType::kCharDevice:
      case EntryType::kBlockDevice:
        RW_RETURN_IF_ERROR(NodeXattrs(o, &n, new_fd).WithContext(path));
        c.new_entry = n;
        if (o.rdev != n.rdev) {
          c.kind = ChangeKind::kContent;
          return Emit(c);
        }
        return Meta(c, o, n, true);
      case EntryType::kFifo:
        RW_RETURN_IF_ERROR(NodeXattrs(o, &n, new_fd).WithContext(path));
        c.new_entry = n;
        return Meta(c, o, n, true);
      case EntryType::kExcludedDir:  // never touched by rollback; new mail moves its mtime
        return Status::OK();
    }
    return Status::OK();
  }

  // The live xattrs of a symlink, FIFO or device node, read only when its ctime or inode moved
  // (as for files: an unchanged ctime means unchanged xattrs).
  Status NodeXattrs(const TreeEntry& o, TreeEntry* n, int new_fd) {
    if (!live_) return Status::OK();
    if (o.ctime_ns == n->ctime_ns && o.inode == n->inode && o.device == n->device &&
        StatVouchesFor(o.ctime_ns, snapshot_start_)) {
      n->xattrs = o.xattrs;
      return Status::OK();
    }
    RW_ASSIGN_OR_RETURN(n->xattrs, ReadXattrsAt(new_fd, n->name));
    return Status::OK();
  }

  Status Meta(Change& c, const TreeEntry& o, const TreeEntry& n, bool xattrs) {
    c.meta = MetaDiff(o, n, xattrs);
    if (!c.meta) return Status::OK();
    c.kind = ChangeKind::kMetadata;
    return Emit(c);
  }

  Status DirEntry(const std::string& path, const TreeEntry& o, TreeEntry n, int new_fd, Change& c) {
    bool structural = false;
    if (live_) {
      Fd dir(OpenDirAt(new_fd, n.name));
      if (dir.fd < 0) return ErrnoStatus("open directory", errno).WithContext(path);
      auto x = ReadXattrs(dir.fd);
      if (!x.ok()) return x.status().WithContext(path);
      n.xattrs = std::move(*x);
      RW_ASSIGN_OR_RETURN(auto old_tree, Load(*o.subtree));
      std::vector<TreeEntry> news;
      RW_RETURN_IF_ERROR(ListLive(dir.fd, &news).WithContext(path));
      RW_RETURN_IF_ERROR(Dir(path, old_tree->entries, news, dir.fd, &structural));
    } else if (o.subtree && n.subtree && *o.subtree == *n.subtree) {
      stats_->trees_skipped += 1;
    } else {
      RW_ASSIGN_OR_RETURN(auto old_tree, Load(*o.subtree));
      RW_ASSIGN_OR_RETURN(auto new_tree, Load(*n.subtree));
      RW_RETURN_IF_ERROR(Dir(path, old_tree->entries, new_tree->entries, -1, &structural));
    }
    c.new_entry = n;
    c.meta = MetaDiff(o, n, true);
    if (c.meta == kMetaMtime && structural) c.meta = 0;
    if (!c.meta) return Status::OK();
    c.kind = ChangeKind::kMetadata;
    return Emit(c);
  }

  const Repository& repo_;
  const DiffOptions& options_;
  const ChangeFn& fn_;
  DiffStats* stats_;
  bool live_ = false;
  int root_fd_ = -1;
  const ExcludeSet* excludes_ = nullptr;
  int64_t snapshot_start_ = INT64_MAX;
  std::vector<Held>* held_ = nullptr;  // a child's: where its changes go
};

}  // namespace

Status DiffSnapshots(const Repository& repo, const Snapshot& old_snap, const Snapshot& new_snap,
                     const DiffOptions& options, const ChangeFn& fn, DiffStats* stats) {
  DiffStats local;
  if (!stats) stats = &local;
  if (!old_snap.tree || !new_snap.tree) return Status::InvalidArgument("a snapshot holds no files");
  Differ d(repo, options, fn, stats);
  if (*old_snap.tree == *new_snap.tree) {
    stats->trees_skipped += 1;
    Tree empty;
    return d.Root(old_snap, empty, new_snap.root, &empty);
  }
  RW_ASSIGN_OR_RETURN(auto old_tree, LoadTreeVia(repo, options.trees, *old_snap.tree));
  RW_ASSIGN_OR_RETURN(auto new_tree, LoadTreeVia(repo, options.trees, *new_snap.tree));
  return d.Root(old_snap, *old_tree, new_snap.root, new_tree.get());
}

Status DiffLiveAt(const Repository& repo, const Snapshot& old_snap, int dir_fd, const DiffOptions& options,
                  const ChangeFn& fn, DiffStats* stats) {
  DiffStats local;
  if (!stats) stats = &local;
  if (!old_snap.tree) return Status::InvalidArgument("the snapshot holds no files");
  ExcludeSet excludes;
  RW_RETURN_IF_ERROR(SnapshotExcludes(old_snap, &excludes));
  RW_ASSIGN_OR_RETURN(auto old_tree, LoadTreeVia(repo, options.trees, *old_snap.tree));
  struct stat st{};
  if (::fstat(dir_fd, &st) != 0) return ErrnoStatus("stat", errno);
  TreeEntry root;
  FillEntryFromStat(st, &root);
  auto x = ReadXattrs(dir_fd);
  if (!x.ok()) return x.status();
  root.xattrs = std::move(*x);
  Differ d(repo, options, fn, stats);
  d.SetLive(dir_fd, &excludes, SnapshotStartNs(old_snap));
  return d.Root(old_snap, *old_tree, root, nullptr);
}

Status DiffLive(const Repository& repo, const Snapshot& old_snap, const std::string& dir,
                const DiffOptions& options, const ChangeFn& fn, DiffStats* stats) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOTDIR) return Status::InvalidArgument(dir + " is not a directory");
    return ErrnoStatus(dir, errno);
  }
  Status s = DiffLiveAt(repo, old_snap, fd, options, fn, stats);
  ::close(fd);
  return s;
}

}  // namespace rw
