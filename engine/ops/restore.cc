// Restore into a directory: a oneTBB pipeline.
//   walk (serial, in order)   loads trees depth-first, creates directories, symlinks, FIFOs and
//                             devices, emits one item per file and one per directory end, in
//                             batches (up to kBatchFiles files or kBatchBytes of content)
//   write (parallel)          planned by pack: creates the batch's files (unnamed, O_TMPFILE),
//                             sorts every chunk they need by pack and offset, reads each pack's
//                             needed range once, in order, decompresses and checks its blobs
//                             (ranges in parallel), pwrites them where they go (all-zero blocks
//                             become holes), then sets owner, mode, xattrs, times and the names
//   finish (serial, in order) makes hardlinks, sets each directory's metadata once all of its
//                             children are done (in-order guarantees that), reports errors
#include "engine/ops/restore.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <tbb/blocked_range.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_pipeline.h>

#include <algorithm>
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

// A stretch of items in walk order; its files are written together, planned by pack.
struct Batch {
  std::vector<std::unique_ptr<Item>> items;
};

// A batch closes at this many files or bytes of file content: open descriptors stay bounded
// (tokens x kBatchFiles), and a pack's blobs needed by neighbouring files are read in one go.
constexpr size_t kBatchFiles = 128;
constexpr uint64_t kBatchBytes = 32ull << 20;
// Adjacent blobs of one pack are read with one pread, up to kMaxRead; bytes no file of the batch
// needs are not read (a gap starts a new read).
constexpr uint64_t kMaxRead = 16ull << 20;

// Writes the batch's files, planned by pack. Each file's error goes to its item.
void WriteFilesByPack(Repository* repo, restore_internal::FileWriter& writer,
                      const std::vector<Item*>& files, RestoreProgress* progress) {
  using restore_internal::NewFile;
  const size_t n = files.size();
  std::vector<NewFile> out(n);
  std::vector<Status> failed(n);
  std::unique_ptr<std::atomic<bool>[]> bad(new std::atomic<bool>[n]);
  std::mutex mu;  // failed
  auto fail = [&](size_t i, const Status& s) {
    bad[i] = true;
    std::lock_guard<std::mutex> lock(mu);
    if (failed[i].ok()) failed[i] = s;
  };
  struct Ref {
    const IndexEntry* loc;
    uint32_t file;
    uint64_t file_off;
  };
  std::vector<IndexEntry> locs;  // one per chunk of every file
  std::vector<Ref> refs;
  std::vector<std::pair<size_t, size_t>> spans(n);  // each file's chunks in locs
  for (size_t i = 0; i < n; ++i) {
    bad[i] = false;
    const TreeEntry& e = files[i]->entry;
    spans[i].first = locs.size();
    uint64_t size = 0;
    for (const BlobId& id : e.content) {
      auto loc = repo->Find(id);
      if (!loc) {
        fail(i, Status::NotFound("blob " + id.Short() + " is not in the index"));
        break;
      }
      // Whatever its indexed type: a file may hold the bytes of a tree (format.md §2).
      size += loc->raw_length;
      locs.push_back(*loc);
    }
    spans[i].second = locs.size();
    if (!bad[i] && size != e.size) {
      fail(i, Status::Corruption("content is " + std::to_string(size) + " bytes, the tree says " +
                                 std::to_string(e.size)));
    }
    if (bad[i]) continue;
    auto f = writer.Create(files[i]->dir->fd);
    if (!f.ok()) {
      fail(i, f.status());
      continue;
    }
    out[i] = std::move(*f);
  }
  for (size_t i = 0; i < n; ++i) {
    if (bad[i]) continue;
    uint64_t off = 0;
    for (size_t k = spans[i].first; k < spans[i].second; ++k) {
      refs.push_back(Ref{&locs[k], static_cast<uint32_t>(i), off});
      off += locs[k].raw_length;
    }
  }
  std::sort(refs.begin(), refs.end(), [](const Ref& a, const Ref& b) {
    if (!(a.loc->pack == b.loc->pack)) return a.loc->pack < b.loc->pack;
    if (a.loc->offset != b.loc->offset) return a.loc->offset < b.loc->offset;
    return std::tie(a.file, a.file_off) < std::tie(b.file, b.file_off);
  });
  // Reads: runs of refs in one pack, in offset order, with small gaps.
  std::vector<std::pair<size_t, size_t>> reads;
  for (size_t j = 0; j < refs.size();) {
    size_t k = j + 1;
    uint64_t begin = refs[j].loc->offset;
    uint64_t end = begin + refs[j].loc->compressed_length;
    while (k < refs.size() && refs[k].loc->pack == refs[j].loc->pack && refs[k].loc->offset <= end &&
           std::max(end, refs[k].loc->offset + refs[k].loc->compressed_length) - begin <= kMaxRead) {
      end = std::max(end, refs[k].loc->offset + refs[k].loc->compressed_length);
      ++k;
    }
    reads.emplace_back(j, k);
    j = k;
  }
  tbb::parallel_for(tbb::blocked_range<size_t>(0, reads.size(), 1), [&](const tbb::blocked_range<size_t>& r) {
    thread_local std::string raw, data;
    for (size_t x = r.begin(); x != r.end(); ++x) {
      auto [j, k] = reads[x];
      const uint64_t begin = refs[j].loc->offset;
      uint64_t end = begin;
      for (size_t y = j; y < k; ++y) end = std::max(end, refs[y].loc->offset + refs[y].loc->compressed_length);
      Status read = repo->storage().ReadAtInto(PackPath(refs[j].loc->pack), begin, end - begin, &data);
      if (!read.ok()) {
        Status s = read.WithContext("pack " + refs[j].loc->pack.Short());
        for (size_t y = j; y < k; ++y) fail(refs[y].file, s);
        continue;
      }
      Status decoded;
      for (size_t y = j; y < k; ++y) {
        const IndexEntry& loc = *refs[y].loc;
        // The same blob at several places (zero runs, files alike): decoded once.
        if (y == j || !(loc.id == refs[y - 1].loc->id)) {
          std::string_view frame(data.data() + (loc.offset - begin), loc.compressed_length);
          decoded = Repository::DecodeBlob(loc, frame, &raw);
        }
        if (!decoded.ok()) {
          fail(refs[y].file, decoded);
          continue;
        }
        if (bad[refs[y].file]) continue;
        Status s = restore_internal::WriteSparse(out[refs[y].file].fd, raw, refs[y].file_off);
        if (!s.ok()) {
          fail(refs[y].file, s);
          continue;
        }
        progress->bytes_written += raw.size();
      }
    }
  });
  for (size_t i = 0; i < n; ++i) {
    int dfd = files[i]->dir->fd;
    if (bad[i]) {
      restore_internal::Discard(dfd, &out[i]);
      files[i]->error = failed[i];
    } else {
      files[i]->error = writer.Finish(dfd, files[i]->entry, &out[i], progress);
    }
  }
}

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
         RestoreProgress* progress, restore_internal::FileWriter* writer)
      : repo_(repo), filter_(filter), stats_(stats), progress_(progress), writer_(writer) {
    root_ = std::make_shared<DirFd>(::dup(root_fd));
  }

  Status Start(const BlobId& root_tree) {
    root_tree_ = root_tree;
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
    Status s = writer_->SetMetadataAt(dfd, e, is_symlink);
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
        auto entry = hardlinks_.Resolve(*repo_, filter_, root_tree_, path, e);
        if (!entry.ok()) return Error(path, entry.status());
        auto item = std::make_unique<Item>();
        item->kind = entry->type == EntryType::kFile ? Item::kFile : Item::kHardlink;
        item->dir = f.dir;
        item->path = path;
        item->entry = std::move(*entry);
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
  BlobId root_tree_;
  HardlinkReroute hardlinks_;
  RestoreStats* stats_;
  RestoreProgress* progress_;
  restore_internal::FileWriter* writer_;  // sets metadata under its xattr policy, keeps its notes
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
  // Locked first: a restore refused for a lock creates no target.
  std::string lock_note;
  RW_ASSIGN_OR_RETURN(auto lock, repo->LockForReading("restore", &lock_note));
  RW_ASSIGN_OR_RETURN(int root_fd, restore_internal::OpenEmptyTarget(options.target));
  auto root = std::make_shared<DirFd>(root_fd);
  if (!lock_note.empty()) observer->OnNote("", lock_note);

  RestoreStats stats;
  // Into a new directory: an extended attribute that cannot be set there (not root, another
  // file system) costs the attribute with a note, not the file.
  restore_internal::FileWriter writer(repo);
  writer.set_skip_unsettable_xattrs(true);
  Walker walker(repo, filter, root->fd, &stats, progress, &writer);
  RW_RETURN_IF_ERROR(walker.Start(*snapshot.tree));
  std::mutex observer_mu;
  const int tokens = options.tokens > 0 ? options.tokens : 4 * tbb::info::default_concurrency();
  // Each batch in flight holds its files open: fewer files a batch when descriptors are scarce
  // (half the limit for them, the rest for directories and the repository's packs).
  size_t batch_files = kBatchFiles;
  struct rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    batch_files = std::clamp<size_t>(static_cast<size_t>(rl.rlim_cur) / 2 / static_cast<size_t>(tokens), 1, kBatchFiles);
  }
  // A full target (ENOSPC, EDQUOT) stops the walk: every later file would fail the same way.
  // The first such error is reported; the others in flight are counted, not listed.
  std::atomic<bool> target_full{false};
  std::string first_full;  // guarded by observer_mu
  size_t more_full = 0;    // guarded by observer_mu

  auto finish = [&](std::unique_ptr<Item> item) {
    if (item->kind == Item::kHardlink && item->error.ok()) {
      item->error = restore_internal::MakeHardlink(root->fd, item->entry.link_target,
                                                   item->dir->fd, item->entry.name);
    } else if (item->kind == Item::kLeaveDir && !item->path.empty()) {
      if (item->remove) {
        ::unlinkat(item->parent->fd, item->entry.name.c_str(), AT_REMOVEDIR);
        stats.dirs -= 1;
      } else {
        item->error = writer.SetDirMetadata(item->dir->fd, item->entry);
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
      if (item->error.code() == Code::kNoSpace) {
        target_full = true;
        if (!first_full.empty()) {
          more_full += 1;
          return;
        }
        first_full = item->path + ": " + item->error.message();
        return;  // said once, in the status the restore returns
      }
      observer->OnError(item->path, item->error);
    }
    if (!item->note.empty()) observer->OnNote(item->path, item->note);
  };

  tbb::parallel_pipeline(
      static_cast<size_t>(tokens),
      tbb::make_filter<void, Batch*>(tbb::filter_mode::serial_in_order,
                                     [&](tbb::flow_control& fc) -> Batch* {
                                       if (target_full.load()) {
                                         fc.stop();
                                         return nullptr;
                                       }
                                       auto batch = std::make_unique<Batch>();
                                       size_t files = 0;
                                       uint64_t bytes = 0;
                                       while (files < batch_files && bytes < kBatchBytes &&
                                              batch->items.size() < 16 * kBatchFiles) {
                                         Item* item = walker.Next();
                                         if (!item) break;
                                         if (item->kind == Item::kFile) {
                                           files += 1;
                                           bytes += item->entry.size;
                                         }
                                         batch->items.emplace_back(item);
                                       }
                                       if (batch->items.empty()) {
                                         fc.stop();
                                         return nullptr;
                                       }
                                       return batch.release();
                                     }) &
          tbb::make_filter<Batch*, Batch*>(tbb::filter_mode::parallel,
                                           [&](Batch* batch) {
                                             std::vector<Item*> files;
                                             for (auto& item : batch->items) {
                                               if (item->kind == Item::kFile) files.push_back(item.get());
                                             }
                                             if (!files.empty()) WriteFilesByPack(repo, writer, files, progress);
                                             return batch;
                                           }) &
          tbb::make_filter<Batch*, void>(tbb::filter_mode::serial_in_order, [&](Batch* raw) {
            std::unique_ptr<Batch> batch(raw);
            for (auto& item : batch->items) finish(std::move(item));
          }));
  if (snapshot.root) {
    Status s = writer.SetDirMetadata(root->fd, *snapshot.root);
    if (!s.ok()) {
      stats.errors += 1;
      observer->OnError(".", s.WithContext("target directory " + options.target));
    }
  }
  for (const std::string& n : writer.notes()) observer->OnNote("", n);
  if (target_full.load()) {
    return Status(Code::kNoSpace,
                  "the target file system is full (" + first_full + "): restore stopped after " +
                      std::to_string(stats.files) + " files" +
                      (more_full > 0 ? "; " + std::to_string(more_full) + " more failed the same way" : "") +
                      ". Free space, then restore again into an empty directory");
  }
  return stats;
}

}  // namespace rw
