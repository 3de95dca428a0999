#include "engine/ops/restore_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>

#include "engine/base/bytes.h"
#include "engine/format/checksum.h"
#include "engine/ops/diff_internal.h"
#include "engine/pipeline/fs_meta.h"

namespace rw::restore_internal {

timespec ToTimespec(int64_t ns) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1000000000);
  ts.tv_nsec = static_cast<long>(ns % 1000000000);
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    ts.tv_sec -= 1;
  }
  return ts;
}

namespace {

std::string TempName() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  uint64_t v = rng();
  return ".rewind-" + HexEncode(std::string_view(reinterpret_cast<const char*>(&v), sizeof v));
}

bool AllZero(const char* p, size_t n) {
  // memcmp against the first byte: fast, and correct once the first byte is 0.
  return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0);
}

Status PwriteAll(int fd, const char* p, size_t n, uint64_t off) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", errno);
    }
    p += w;
    n -= static_cast<size_t>(w);
    off += static_cast<uint64_t>(w);
  }
  return Status::OK();
}

}  // namespace

Result<int> OpenEmptyTarget(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return ErrnoStatus("target " + path, errno);
    // Created when its parent exists, as mkdir does: a typo in the parent's path is more likely
    // than a wish for a new tree of directories (`--target /srv/restroe/x`).
    std::string trimmed = path;
    while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
    const size_t slash = trimmed.rfind('/');
    const std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : trimmed.substr(0, slash);
    struct stat pst{};
    if (::stat(parent.c_str(), &pst) != 0 || !S_ISDIR(pst.st_mode)) {
      return Status::NotFound("target " + path + ": its parent directory " + parent +
                              " does not exist (create it first, or check the path)");
    }
    if (::mkdir(trimmed.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoStatus("create target " + path, errno);
  } else if (!S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("target " + path + " exists and is not a directory");
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open target " + path, errno);
  int dup_fd = ::dup(fd);
  DIR* d = ::fdopendir(dup_fd);
  if (!d) {
    ::close(dup_fd);
    ::close(fd);
    return ErrnoStatus("list target " + path, errno);
  }
  bool empty = true;
  while (dirent* de = ::readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != "..") empty = false;
  }
  ::closedir(d);
  if (!empty) {
    ::close(fd);
    return Status::InvalidArgument("target " + path +
                                   " is not empty; restore writes only into a new or empty directory");
  }
  return fd;
}

Status SetMetadataAt(int dfd, const TreeEntry& e, bool is_symlink, bool exact_xattrs,
                     std::vector<std::string>* skipped_xattrs) {
  const char* name = e.name.c_str();
  if (::geteuid() == 0 && ::fchownat(dfd, name, e.uid, e.gid, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoStatus("set owner", errno);
  }
  // Never through a symlink (one put there since the plan would lead out of the target): glibc
  // refuses a symlink with EOPNOTSUPP.
  if (!is_symlink && ::fchmodat(dfd, name, e.mode & 07777, AT_SYMLINK_NOFOLLOW) != 0) {
    const int err = errno;
    return ErrnoStatus(err == EOPNOTSUPP ? "set mode (a symlink is there now: not followed)" : "set mode", err);
  }
  // After the owner: chown clears some attributes (security.capability).
  RW_RETURN_IF_ERROR(exact_xattrs ? SetXattrsExactAt(dfd, e.name, e.xattrs)
                                  : WriteXattrsAt(dfd, e.name, e.xattrs, skipped_xattrs));
  timespec ts[2] = {ToTimespec(e.mtime_ns), ToTimespec(e.mtime_ns)};
  if (::utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) != 0) return ErrnoStatus("set times", errno);
  return Status::OK();
}

Status SetDirMetadata(int fd, const TreeEntry& e, std::vector<std::string>* skipped_xattrs) {
  if (::geteuid() == 0 && ::fchown(fd, e.uid, e.gid) != 0) return ErrnoStatus("set owner", errno);
  // The xattrs before the mode: user.* needs write permission, which a directory of mode 0555
  // would not give a restore that is not root.
  RW_RETURN_IF_ERROR(WriteXattrs(fd, e.xattrs, skipped_xattrs));
  if (::fchmod(fd, e.mode & 07777) != 0) return ErrnoStatus("set mode", errno);
  timespec ts[2] = {ToTimespec(e.mtime_ns), ToTimespec(e.mtime_ns)};
  if (::futimens(fd, ts) != 0) return ErrnoStatus("set times", errno);
  return Status::OK();
}

Status MakeHardlink(int root_fd, const std::string& target, int dfd, const std::string& name) {
  const size_t slash = target.rfind('/');
  int dir = diff_internal::OpenDirPath(root_fd, slash == std::string::npos ? std::string() : target.substr(0, slash));
  if (dir < 0) return ErrnoStatus("hardlink target " + target, errno);
  int rc = ::linkat(dir, target.c_str() + (slash == std::string::npos ? 0 : slash + 1), dfd, name.c_str(), 0);
  int err = errno;
  ::close(dir);
  if (rc != 0) return ErrnoStatus("link to " + target, err);
  return Status::OK();
}

FileWriter::FileWriter(Repository* repo) : repo_(repo), is_root_(::geteuid() == 0) {}

std::vector<std::string> FileWriter::notes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return notes_;
}

void FileWriter::NoteSkippedXattrs(const std::vector<std::string>& skipped) {
  for (const std::string& s : skipped) {
    NoteOnce("extended attribute " + s + ": left off the restored entries that have it (" +
             (is_root_ ? "the target's file system refuses it" : "not running as root, or the target's file system refuses it") +
             "); their content and other metadata are restored");
  }
}

Status FileWriter::SetMetadataAt(int dfd, const TreeEntry& e, bool is_symlink) {
  std::vector<std::string> skipped;
  Status s = restore_internal::SetMetadataAt(dfd, e, is_symlink, false, skip_xattrs_ ? &skipped : nullptr);
  NoteSkippedXattrs(skipped);
  return s;
}

Status FileWriter::SetDirMetadata(int fd, const TreeEntry& e) {
  std::vector<std::string> skipped;
  Status s = restore_internal::SetDirMetadata(fd, e, skip_xattrs_ ? &skipped : nullptr);
  NoteSkippedXattrs(skipped);
  return s;
}

void FileWriter::NoteOnce(const std::string& note) {
  std::lock_guard<std::mutex> lock(mu_);
  if (std::find(notes_.begin(), notes_.end(), note) == notes_.end()) notes_.push_back(note);
}

void Discard(int dfd, NewFile* f) {
  if (f->fd >= 0) ::close(f->fd);
  f->fd = -1;
  if (!f->tmp.empty()) ::unlinkat(dfd, f->tmp.c_str(), 0);
  f->tmp.clear();
}

Status WriteSparse(int fd, std::string_view data, uint64_t off) {
  constexpr size_t kBlock = 4096;
  // Write runs of blocks (aligned to the file offset) that are not all zero.
  size_t pos = 0;
  while (pos < data.size()) {
    size_t block_end = std::min(data.size(), pos + (kBlock - (off + pos) % kBlock));
    if (AllZero(data.data() + pos, block_end - pos)) {
      pos = block_end;
      continue;
    }
    size_t run_end = block_end;
    while (run_end < data.size()) {
      size_t next = std::min(data.size(), run_end + kBlock);
      if (AllZero(data.data() + run_end, next - run_end)) break;
      run_end = next;
    }
    RW_RETURN_IF_ERROR(PwriteAll(fd, data.data() + pos, run_end - pos, off + pos));
    pos = run_end;
  }
  return Status::OK();
}

Status WriteAllAt(int fd, std::string_view data, uint64_t off) { return PwriteAll(fd, data.data(), data.size(), off); }

Result<NewFile> FileWriter::Create(int dfd) {
  // An unnamed file (O_TMPFILE) linked under its name once complete: one change to the
  // directory instead of two (create + rename), which matters when many files of a directory
  // are written at once, and a crash leaves nothing behind. Where O_TMPFILE is not supported, a
  // temporary name renamed into place.
  NewFile f;
  f.fd = ::openat(dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (f.fd < 0) {
    f.tmp = TempName();
    f.fd = ::openat(dfd, f.tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  }
  if (f.fd < 0) return ErrnoStatus("create", errno);
  return f;
}

Status FileWriter::Write(int dfd, const TreeEntry& e, RestoreProgress* progress) {
  RW_ASSIGN_OR_RETURN(NewFile f, Create(dfd));
  auto fail = [&](Status s) {
    Discard(dfd, &f);
    return s;
  };
  uint64_t off = 0;
  BlobId last_id;
  std::string last;  // the previous blob, reused when the next has the same id (zero runs)
  const bool by_file_hash = blobs_checked_ && e.xxh128.has_value();
  std::optional<Xxh128Stream> whole;
  if (by_file_hash) whole.emplace();
  for (const BlobId& id : e.content) {
    if (last.empty() || !(id == last_id)) {
      auto blob = by_file_hash ? repo_->LoadCheckedBlob(id, BlobType::kData) : repo_->LoadBlob(id, BlobType::kData);
      if (!blob.ok()) return fail(blob.status());
      last = std::move(*blob);
      last_id = id;
    }
    if (whole) whole->Update(last);
    Status s = WriteSparse(f.fd, last, off);
    if (!s.ok()) return fail(s);
    off += last.size();
    progress->bytes_written += last.size();
  }
  if (off != e.size) {
    return fail(Status::Corruption("content is " + std::to_string(off) + " bytes, the tree says " +
                                   std::to_string(e.size)));
  }
  if (whole && !(whole->Digest() == *e.xxh128)) {
    return fail(Status::Corruption("the content read from the repository does not match the file's XXH3-128 in the "
                                   "tree (a pack changed since the check: run `rewind verify --read-data`)"));
  }
  return Finish(dfd, e, &f, progress);
}

Status FileWriter::Finish(int dfd, const TreeEntry& e, NewFile* f, RestoreProgress* progress) {
  auto fail = [&](Status s) {
    Discard(dfd, f);
    return s;
  };
  const int fd = f->fd;
  if (::ftruncate(fd, static_cast<off_t>(e.size)) != 0) return fail(ErrnoStatus("set size", errno));
  if (is_root_) {
    if (::fchown(fd, e.uid, e.gid) != 0) return fail(ErrnoStatus("set owner", errno));
  } else if (e.uid != ::geteuid()) {
    NoteOnce("not running as root: file owners were not restored");
  }
  // The xattrs after the owner (chown clears security.capability) and before the mode: user.*
  // needs write permission, which a file of mode 0444 would not give a restore that is not root.
  std::vector<std::string> skipped;
  Status xs = WriteXattrs(fd, e.xattrs, skip_xattrs_ ? &skipped : nullptr);
  if (!xs.ok()) return fail(xs);
  NoteSkippedXattrs(skipped);
  if (::fchmod(fd, e.mode & 07777) != 0) return fail(ErrnoStatus("set mode", errno));
  timespec ts[2] = {ToTimespec(e.mtime_ns), ToTimespec(e.mtime_ns)};
  if (::futimens(fd, ts) != 0) return fail(ErrnoStatus("set times", errno));
  if (f->tmp.empty()) {
    // Give the unnamed file its name (AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc works
    // without). The name is taken (rollback rewrites files in place): a temporary name, renamed.
    auto link_as = [&](const std::string& name) {
      if (::linkat(fd, "", dfd, name.c_str(), AT_EMPTY_PATH) == 0) return 0;
      if (errno != ENOENT && errno != EPERM) return errno;
      char proc[64];
      std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
      return ::linkat(AT_FDCWD, proc, dfd, name.c_str(), AT_SYMLINK_FOLLOW) == 0 ? 0 : errno;
    };
    int err = link_as(e.name);
    if (err == EEXIST) {
      std::string tmp = TempName();
      err = link_as(tmp);
      if (err == 0) f->tmp = tmp;
    } else if (err == 0) {
      f->fd = -1;
      if (::close(fd) != 0) {
        err = errno;
        ::unlinkat(dfd, e.name.c_str(), 0);
        return ErrnoStatus("close", err);
      }
      progress->files += 1;
      return Status::OK();
    }
    if (err != 0) return fail(ErrnoStatus("link into place", err));
  }
  f->fd = -1;
  if (::close(fd) != 0) {
    int err = errno;
    Discard(dfd, f);
    return ErrnoStatus("close", err);
  }
  // The file being replaced, kept referenced so that freeing it happens in the background.
  int old = deferred_ ? ::openat(dfd, e.name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC) : -1;
  if (::renameat(dfd, f->tmp.c_str(), dfd, e.name.c_str()) != 0) {
    int err = errno;
    Discard(dfd, f);
    if (old >= 0) ::close(old);
    return ErrnoStatus("rename into place", err);
  }
  f->tmp.clear();
  if (old >= 0) deferred_->Add(old);
  progress->files += 1;
  return Status::OK();
}

DeferredClose::DeferredClose(int threads, size_t max_pending) : max_pending_(max_pending) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

DeferredClose::~DeferredClose() { Drain(); }

void DeferredClose::Add(int fd) {
  std::unique_lock<std::mutex> lock(mu_);
  if (threads_.empty()) {  // drained: close here
    lock.unlock();
    ::close(fd);
    return;
  }
  room_.wait(lock, [&] { return queue_.size() < max_pending_; });
  queue_.push_back(fd);
  more_.notify_one();
}

void DeferredClose::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    more_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and nothing left
    int fd = queue_.front();
    queue_.pop_front();
    closing_ += 1;
    room_.notify_one();
    lock.unlock();
    ::close(fd);
    lock.lock();
    closing_ -= 1;
    if (queue_.empty() && closing_ == 0) idle_.notify_all();
  }
}

void DeferredClose::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [&] { return threads_.empty() || (queue_.empty() && closing_ == 0); });
}

void DeferredClose::Drain() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    threads.swap(threads_);
  }
  more_.notify_all();
  for (std::thread& t : threads) t.join();
}

}  // namespace rw::restore_internal
