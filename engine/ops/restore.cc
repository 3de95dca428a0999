// Restore into a directory: a oneTBB pipeline.
//   walk (serial, in order)   loads trees depth-first, creates directories, symlinks, FIFOs and
//                             devices, emits one item per file and one per directory end
//   write (parallel)          creates a file under a temporary name, writes its blobs (all-zero
//                             blocks become holes), sets owner, mode, xattrs, times, renames it
//   finish (serial, in order) makes hardlinks, sets each directory's metadata once all of its
//                             children are done (in-order guarantees that), reports errors
#include "engine/ops/restore.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <tbb/info.h>
#include <tbb/parallel_pipeline.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <mutex>
#include <random>

#include "engine/base/bytes.h"
#include "engine/ops/include_filter.h"
#include "engine/ops/restore_internal.h"
#include "engine/ops/snapshots.h"
#include "engine/pipeline/fs_meta.h"

namespace rw {

using restore_internal::DirFd;

namespace {

struct Item {
  enum Kind { kFile, kHardlink, kLeaveDir, kNote } kind = kFile;
  std::shared_ptr<DirFd> dir;     // parent (kLeaveDir: the directory itself)
  std::shared_ptr<DirFd> parent;  // kLeaveDir: its parent
  bool remove = false;            // kLeaveDir: created only to look for --include matches
  std::string path;
  TreeEntry entry;
  Status error;
  std::string note;
};

struct Frame {
  std::shared_ptr<DirFd> dir;
  std::shared_ptr<DirFd> parent;
  std::string path;
  Tree tree;
  size_t next = 0;
  bool selected = false;
  TreeEntry entry;  // of this directory (not for the root)
  bool restored_any = false;  // something below was selected
};

class Walker {
 public:
  Walker(Repository* repo, const IncludeFilter& filter, int root_fd, RestoreStats* stats,
         RestoreProgress* progress)
      : repo_(repo), filter_(filter), stats_(stats), progress_(progress) {
    root_ = std::make_shared<DirFd>(::dup(root_fd));
  }

  Status Start(const BlobId& root_tree) {
    RW_ASSIGN_OR_RETURN(Tree tree, LoadTree(*repo_, root_tree));
    stack_.push_back(Frame{root_, nullptr, "", std::move(tree), 0, filter_.all(), {}, false});
    return Status::OK();
  }

  // The next item for the pipeline, or nullptr at the end.
  Item* Next() {
    while (!stack_.empty()) {
      Frame& f = stack_.back();
      if (f.next == f.tree.entries.size()) {
        auto item = std::make_unique<Item>();
        item->kind = Item::kLeaveDir;
        item->dir = f.dir;
        item->path = f.path;
        item->entry = std::move(f.entry);
        item->parent = f.parent;
        item->remove = !f.selected && !f.restored_any;
        bool any = f.selected || f.restored_any;
        stack_.pop_back();
        if (!stack_.empty() && any) stack_.back().restored_any = true;
        return item.release();
      }
      const TreeEntry& e = f.tree.entries[f.next++];
      std::string path = JoinPath(f.path, e.name);
      bool is_dir = e.type == EntryType::kDir || e.type == EntryType::kExcludedDir;
      bool selected = filter_.Selected(path, is_dir, f.selected);
      if (Item* item = ForEntry(f, e, path, selected)) return item;
    }
    return nullptr;
  }

 private:
  Item* Error(const std::string& path, Status s) {
    auto item = std::make_unique<Item>();
    item->kind = Item::kNote;
    item->path = path;
    item->error = std::move(s);
    return item.release();
  }

  Item* Metadata(int dfd, const TreeEntry& e, const std::string& path, bool is_symlink) {
    Status s = restore_internal::SetMetadataAt(dfd, e, is_symlink);
    return s.ok() ? nullptr : Error(path, s);
  }

  Item* ForEntry(Frame& f, const TreeEntry& e, const std::string& path, bool selected) {
    int dfd = f.dir->fd;
    const char* name = e.name.c_str();
    if (e.type == EntryType::kDir || e.type == EntryType::kExcludedDir) {
      Tree subtree;
      if (e.type == EntryType::kDir) {
        auto t = LoadTree(*repo_, *e.subtree);
        if (!t.ok()) return Error(path, t.status());
        subtree = std::move(*t);
      }
      if (::mkdirat(dfd, name, 0700) != 0) return Error(path, ErrnoStatus("create directory", errno));
      int fd = ::openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return Error(path, ErrnoStatus("open directory", errno));
      stats_->dirs += 1;
      progress_->dirs += 1;
      if (selected) f.restored_any = true;
      stack_.push_back(Frame{std::make_shared<DirFd>(fd), f.dir, path, std::move(subtree), 0, selected, e});
      return nullptr;
    }
    if (!selected) return nullptr;
    f.restored_any = true;
    switch (e.type) {
      case EntryType::kFile: {
        auto item = std::make_unique<Item>();
        item->kind = Item::kFile;
        item->dir = f.dir;
        item->path = path;
        item->entry = e;
        return item.release();
      }
      case EntryType::kHardlink: {
        auto item = std::make_unique<Item>();
        item->kind = Item::kHardlink;
        item->dir = f.dir;
        item->path = path;
        item->entry = e;
        return item.release();
      }
      case EntryType::kSymlink:
        if (::symlinkat(e.link_target.c_str(), dfd, name) != 0) {
          return Error(path, ErrnoStatus("create symlink", errno));
        }
        stats_->symlinks += 1;
        return Metadata(dfd, e, path, /*is_symlink=*/true);
      case EntryType::kFifo:
        if (::mkfifoat(dfd, name, e.mode & 07777) != 0) return Error(path, ErrnoStatus("create FIFO", errno));
        stats_->others += 1;
        return Metadata(dfd, e, path, false);
      case EntryType::kCharDevice:
      case EntryType::kBlockDevice: {
        mode_t type = e.type == EntryType::kCharDevice ? S_IFCHR : S_IFBLK;
        if (::mknodat(dfd, name, type | (e.mode & 07777), static_cast<dev_t>(e.rdev)) != 0) {
          return Error(path, ErrnoStatus("create device node", errno));
        }
        stats_->others += 1;
        return Metadata(dfd, e, path, false);
      }
      default:
        return nullptr;
    }
  }

  Repository* repo_;
  const IncludeFilter& filter_;
  RestoreStats* stats_;
  RestoreProgress* progress_;
  std::shared_ptr<DirFd> root_;
  std::vector<Frame> stack_;
};

}  // namespace

Result<RestoreStats> RestoreToDirectory(Repository* repo, const Snapshot& snapshot,
                                        const RestoreOptions& options, RestoreObserver* observer,
                                        RestoreProgress* progress) {
  RestoreObserver null_observer;
  if (!observer) observer = &null_observer;
  RestoreProgress local_progress;
  if (!progress) progress = &local_progress;
  if (!snapshot.tree) return Status::InvalidArgument("the snapshot holds no files");
  RW_ASSIGN_OR_RETURN(IncludeFilter filter, IncludeFilter::Make(options.includes));
  RW_ASSIGN_OR_RETURN(int root_fd, restore_internal::OpenEmptyTarget(options.target));
  auto root = std::make_shared<DirFd>(root_fd);
  RW_ASSIGN_OR_RETURN(auto lock, repo->Lock(false, "restore"));

  RestoreStats stats;
  Walker walker(repo, filter, root->fd, &stats, progress);
  RW_RETURN_IF_ERROR(walker.Start(*snapshot.tree));
  std::mutex observer_mu;
  const int tokens = options.tokens > 0 ? options.tokens : 4 * tbb::info::default_concurrency();
  restore_internal::FileWriter writer(repo);

  tbb::parallel_pipeline(
      static_cast<size_t>(tokens),
      tbb::make_filter<void, Item*>(tbb::filter_mode::serial_in_order,
                                    [&](tbb::flow_control& fc) -> Item* {
                                      Item* item = walker.Next();
                                      if (!item) fc.stop();
                                      return item;
                                    }) &
          tbb::make_filter<Item*, Item*>(tbb::filter_mode::parallel,
                                         [&](Item* item) {
                                           if (item->kind == Item::kFile) {
                                             item->error = writer.Write(item->dir->fd, item->entry, progress);
                                           }
                                           return item;
                                         }) &
          tbb::make_filter<Item*, void>(tbb::filter_mode::serial_in_order, [&](Item* raw) {
            std::unique_ptr<Item> item(raw);
            if (item->kind == Item::kHardlink && item->error.ok()) {
              item->error = restore_internal::MakeHardlink(root->fd, item->entry.link_target,
                                                           item->dir->fd, item->entry.name);
            } else if (item->kind == Item::kLeaveDir && !item->path.empty()) {
              if (item->remove) {
                ::unlinkat(item->parent->fd, item->entry.name.c_str(), AT_REMOVEDIR);
                stats.dirs -= 1;
              } else {
                item->error = restore_internal::SetDirMetadata(item->dir->fd, item->entry);
              }
            }
            if (item->kind == Item::kFile && item->error.ok()) {
              stats.files += 1;
              stats.bytes += item->entry.size;
            }
            if (item->kind == Item::kHardlink && item->error.ok()) stats.files += 1;
            std::lock_guard<std::mutex> lock(observer_mu);
            if (!item->error.ok()) {
              stats.errors += 1;
              progress->errors += 1;
              observer->OnError(item->path, item->error);
            }
            if (!item->note.empty()) observer->OnNote(item->path, item->note);
          }));
  if (snapshot.root) {
    Status s = restore_internal::SetDirMetadata(root->fd, *snapshot.root);
    if (!s.ok()) {
      stats.errors += 1;
      observer->OnError(".", s.WithContext("target directory " + options.target));
    }
  }
  for (const std::string& n : writer.notes()) observer->OnNote("", n);
  return stats;
}

}  // namespace rw
