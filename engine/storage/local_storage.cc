// A repository in a local directory. Every write is atomic and durable (storage.h).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <random>
#include <system_error>
#include <thread>
#include <unordered_map>

#include "engine/base/bytes.h"
#include "engine/storage/storage.h"

namespace rw {

namespace {

Status WriteAll(int fd, std::string_view data, const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write " + what, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::OK();
}

// Large bulk files (data packs) are written with O_DIRECT through a reused, aligned bounce buffer:
// buffered, each write copied into newly allocated page-cache pages, which cost the first
// backup of the 2.4 GB bench tree 1.5 CPU-s of its 16 (perf: copy_folio_from_iter_atomic) on
// the critical path; and a backup's packs, not read again soon, no longer push the mail
// server's hot files out of the cache. Where O_DIRECT is refused (EINVAL when it is turned on,
// or at the first write), the file is written as before. The last partial block goes buffered.
constexpr size_t kDirectMin = 1 << 20;
constexpr size_t kDirectAlign = 4096;
constexpr size_t kBounceSize = 1 << 20;  // per writing thread; 1 MiB writes keep the disk busy

// Writes data[done..) with `fd` opened O_DIRECT; returns how far it got before the last partial
// block or before O_DIRECT was refused (then the descriptor is buffered again).
Status WriteDirect(int fd, std::string_view data, size_t* done, const std::string& what) {
  struct AlignedFree {
    void operator()(char* p) const { std::free(p); }
  };
  thread_local std::unique_ptr<char, AlignedFree> bounce(
      static_cast<char*>(std::aligned_alloc(kDirectAlign, kBounceSize)));
  const size_t whole = data.size() / kDirectAlign * kDirectAlign;
  auto buffered_again = [&] {
    int flags = ::fcntl(fd, F_GETFL);
    return flags >= 0 && ::fcntl(fd, F_SETFL, flags & ~O_DIRECT) == 0;
  };
  if (!bounce) {
    if (!buffered_again()) return ErrnoStatus("write " + what, errno);
    return Status::OK();
  }
  while (*done < whole) {
    const size_t n = std::min(kBounceSize, whole - *done);
    std::memcpy(bounce.get(), data.data() + *done, n);
    size_t off = 0;
    while (off < n) {
      ssize_t w = ::write(fd, bounce.get() + off, n - off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && errno == EINVAL && *done + off == 0) {  // this file system wants no O_DIRECT
        if (!buffered_again()) return ErrnoStatus("write " + what, errno);
        return Status::OK();
      }
      if (w < 0) return ErrnoStatus("write " + what, errno);
      if (static_cast<size_t>(w) % kDirectAlign != 0) {  // a short write: finish buffered
        *done += off + static_cast<size_t>(w);
        if (!buffered_again()) return ErrnoStatus("write " + what, errno);
        return Status::OK();
      }
      off += static_cast<size_t>(w);
    }
    *done += n;
  }
  if (!buffered_again()) return ErrnoStatus("write " + what, errno);
  return Status::OK();
}

std::string RandomSuffix() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}());
  uint64_t v = rng() ^ (counter.fetch_add(1) << 48);
  std::string raw(reinterpret_cast<const char*>(&v), sizeof v);
  return HexEncode(raw);
}

class LocalStorage final : public Storage {
 public:
  explicit LocalStorage(std::string root) : root_(std::move(root)) {
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  }
  ~LocalStorage() override {
    {
      std::lock_guard<std::mutex> lock(hints_mu_);
      stop_hints_ = true;  // hints not given yet are dropped: nobody will read them
    }
    hints_cv_.notify_all();
    if (hinter_.joinable()) hinter_.join();
  }

  Status WriteFileAtomic(const std::string& rel, std::string_view data) override {
    return Write(rel, data, /*bulk=*/false);
  }
  Status WriteBulkFileAtomic(const std::string& rel, std::string_view data) override {
    return Write(rel, data, /*bulk=*/true);
  }

  Status Write(const std::string& rel, std::string_view data, bool bulk) {
    RW_RETURN_IF_ERROR(MakeDir(StorageParent(rel)));
    std::string tmp = HiddenSibling(rel, "tmp-" + RandomSuffix());
    std::string tmp_path = Abs(tmp);
    int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus("create " + tmp_path, errno);
    // O_DIRECT is turned on after the create, not asked for in open(): a file system without it
    // (tmpfs before Linux 6.6) creates the file and then fails the open with EINVAL, and
    // O_EXCL would refuse the second try. fcntl just says EINVAL and the file stays buffered.
    const bool direct = bulk && data.size() >= kDirectMin && [&] {
      int flags = ::fcntl(fd, F_GETFL);
      return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_DIRECT) == 0;
    }();
    size_t done = 0;
    Status s;
    if (direct) s = WriteDirect(fd, data, &done, tmp_path);
    if (s.ok()) s = WriteAll(fd, data.substr(done), tmp_path);
    if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus("fsync " + tmp_path, errno);
    if (::close(fd) != 0 && s.ok()) s = ErrnoStatus("close " + tmp_path, errno);
    if (s.ok() && ::rename(tmp_path.c_str(), Abs(rel).c_str()) != 0) {
      s = ErrnoStatus("rename " + tmp_path + " to " + Abs(rel), errno);
    }
    if (!s.ok()) {
      ::unlink(tmp_path.c_str());
      return s;
    }
    return SyncDir(StorageParent(rel));
  }

  Status CreateExclusive(const std::string& rel, std::string_view data) override {
    // Written whole to a temporary, synced, then link()ed to its name: link fails with EEXIST
    // like open(O_EXCL), and a crash never leaves an empty or partial file under the name.
    RW_RETURN_IF_ERROR(MakeDir(StorageParent(rel)));
    std::string tmp_path = Abs(HiddenSibling(rel, "tmp-" + RandomSuffix()));
    std::string path = Abs(rel);
    int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus("create " + tmp_path, errno);
    Status s = WriteAll(fd, data, tmp_path);
    if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus("fsync " + tmp_path, errno);
    if (::close(fd) != 0 && s.ok()) s = ErrnoStatus("close " + tmp_path, errno);
    if (s.ok() && ::link(tmp_path.c_str(), path.c_str()) != 0) s = ErrnoStatus("create " + path, errno);
    ::unlink(tmp_path.c_str());
    if (!s.ok()) return s;
    return SyncDir(StorageParent(rel));
  }

  Result<std::string> ReadFile(const std::string& rel) override {
    std::string out;
    RW_ASSIGN_OR_RETURN(size_t n, ReadFileInto(rel, &out));
    out.resize(n);
    return out;
  }

  // Straight into the buffer, sized by fstat (+1 to see the end without growing); a file that
  // grows meanwhile is read to its end all the same.
  Result<size_t> ReadFileInto(const std::string& rel, std::string* buf) override {
    std::string path = Abs(rel);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open " + path, errno);
    struct stat st{};
    size_t want = (::fstat(fd, &st) == 0 && st.st_size > 0) ? static_cast<size_t>(st.st_size) + 1 : 1 << 16;
    if (buf->size() < want) buf->resize(want);
    size_t got = 0;
    for (;;) {
      if (got == buf->size()) buf->resize(buf->size() * 2);
      ssize_t n = ::read(fd, buf->data() + got, buf->size() - got);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return ErrnoStatus("read " + path, err);
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    ::close(fd);
    return got;
  }

  Result<std::string> ReadAt(const std::string& rel, uint64_t offset, size_t n) override {
    std::string out;
    RW_RETURN_IF_ERROR(ReadAtInto(rel, offset, n, &out));
    out.resize(n);
    return out;
  }

  Status ReadAtInto(const std::string& rel, uint64_t offset, size_t n, std::string* buf) override {
    RW_ASSIGN_OR_RETURN(std::shared_ptr<Fd> holder, CachedFd(rel));
    int fd = holder->fd;
    if (buf->size() < n) buf->resize(n);
    std::string& out = *buf;
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd, out.data() + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("read " + Abs(rel), errno);
      }
      if (r == 0) {
        return Status::Corruption(Abs(rel) + ": short read: wanted " + std::to_string(n) +
                                  " bytes at offset " + std::to_string(offset) + ", file ends after " +
                                  std::to_string(offset + done));
      }
      done += static_cast<size_t>(r);
    }
    return Status::OK();
  }

  // The hints are given on a thread of their own. POSIX_FADV_WILLNEED submits the reads, and
  // waits when the device's queue is full: on the bench VM each scattered range then cost
  // 90 µs (the disk's random reads, 11k a second), and the callers are the safety snapshot's
  // scanner (a serial stage of its pipeline) and the data check between its windows.
  void WillRead(const std::string& rel, const std::vector<std::pair<uint64_t, uint64_t>>& ranges) override {
    auto holder = CachedFd(rel);
    if (!holder.ok() || ranges.empty()) return;
    {
      std::lock_guard<std::mutex> lock(hints_mu_);
      if (!hinter_.joinable() && !no_hinter_) {
        try {
          hinter_ = std::thread([this] { GiveHints(); });
        } catch (const std::system_error&) {
          no_hinter_ = true;  // no thread to be had: given here, as they come
        }
      }
      if (!no_hinter_) {
        hints_.push_back(Hint{*holder, ranges});
        hints_cv_.notify_one();
        return;
      }
    }
    Advise((*holder)->fd, ranges);
  }

  Result<uint64_t> FileSize(const std::string& rel) override {
    struct stat st{};
    if (::stat(Abs(rel).c_str(), &st) != 0) return ErrnoStatus("stat " + Abs(rel), errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Result<std::vector<std::string>> List(const std::string& dir) override {
    return ListOf(dir, /*dirs=*/false);
  }

  Result<std::vector<std::string>> ListDirs(const std::string& dir) override {
    return ListOf(dir, /*dirs=*/true);
  }

  Result<std::vector<std::string>> ListOf(const std::string& dir, bool dirs) {
    std::string path = Abs(dir);
    DIR* d = ::opendir(path.c_str());
    if (!d) return ErrnoStatus("list " + path, errno);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      bool is_dir = e->d_type == DT_DIR;
      if (e->d_type == DT_UNKNOWN) {
        struct stat st{};
        is_dir = ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
      }
      if (is_dir == dirs) names.emplace_back(e->d_name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  Result<std::vector<std::pair<std::string, uint64_t>>> ListTemporaries(const std::string& dir) override {
    std::vector<std::pair<std::string, uint64_t>> out;
    std::string path = Abs(dir);
    DIR* d = ::opendir(path.c_str());
    if (!d) {
      if (errno == ENOENT) return out;
      return ErrnoStatus("list " + path, errno);
    }
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() < 2 || n[0] != '.' || n == "..") continue;
      struct stat st {};
      if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
      out.emplace_back(n, static_cast<uint64_t>(st.st_size));
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  }

  Status RemoveTemporaries(const std::string& dir) override {
    std::string path = Abs(dir);
    DIR* d = ::opendir(path.c_str());
    if (!d) return errno == ENOENT ? Status::OK() : ErrnoStatus("list " + path, errno);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 1 && n[0] == '.' && n != "..") names.push_back(n);
    }
    ::closedir(d);
    for (const std::string& n : names) {
      if (::unlinkat(AT_FDCWD, (path + "/" + n).c_str(), 0) != 0 && errno != ENOENT) {
        return ErrnoStatus("remove " + path + "/" + n, errno);
      }
    }
    return Status::OK();
  }

  Status Remove(const std::string& rel) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      fds_.erase(rel);
      order_.remove(rel);
    }
    if (::unlink(Abs(rel).c_str()) != 0) return ErrnoStatus("remove " + Abs(rel), errno);
    return SyncDir(StorageParent(rel));
  }

  Status MakeDir(const std::string& rel) override {
    if (rel.empty()) return Status::OK();
    std::string path = Abs(rel);
    struct stat st{};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Status::OK();
    RW_RETURN_IF_ERROR(MakeDir(StorageParent(rel)));
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus("mkdir " + path, errno);
    }
    return SyncDir(StorageParent(rel));
  }

  bool Exists(const std::string& rel) override {
    struct stat st{};
    return ::stat(Abs(rel).c_str(), &st) == 0;
  }

  std::string Describe(const std::string& rel) const override { return Abs(rel); }

 private:
  std::string Abs(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }

  Status SyncDir(const std::string& rel) {
    std::string path = Abs(rel);
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open directory " + path, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return ErrnoStatus("fsync directory " + path, err);
    return Status::OK();
  }

  // An open descriptor, closed when the last user lets go of it: eviction from the cache
  // never closes a descriptor that a concurrent ReadAt is still using.
  struct Fd {
    int fd;
    explicit Fd(int f) : fd(f) {}
    ~Fd() { ::close(fd); }
  };

  // Descriptors of packs being read, at most kMaxFds, the least recently opened evicted first.
  Result<std::shared_ptr<Fd>> CachedFd(const std::string& rel) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = fds_.find(rel);
    if (it != fds_.end()) return it->second;
    int fd = ::open(Abs(rel).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open " + Abs(rel), errno);
    if (order_.size() >= kMaxFds) {
      fds_.erase(order_.front());
      order_.pop_front();
    }
    auto holder = std::make_shared<Fd>(fd);
    fds_[rel] = holder;
    order_.push_back(rel);
    return holder;
  }

  void Advise(int fd, const std::vector<std::pair<uint64_t, uint64_t>>& ranges) {
    for (const auto& [offset, length] : ranges) {
      if (stop_hints_.load(std::memory_order_relaxed)) return;
      (void)::posix_fadvise(fd, static_cast<off_t>(offset), static_cast<off_t>(length), POSIX_FADV_WILLNEED);
    }
  }

  // The hint thread: the hints in the order given, until the storage is destroyed.
  void GiveHints() {
    std::unique_lock<std::mutex> lock(hints_mu_);
    for (;;) {
      hints_cv_.wait(lock, [&] { return stop_hints_ || !hints_.empty(); });
      if (stop_hints_) return;
      Hint h = std::move(hints_.front());
      hints_.pop_front();
      lock.unlock();
      Advise(h.file->fd, h.ranges);
      h.file.reset();  // the descriptor may be closed now, outside the lock
      lock.lock();
    }
  }

  struct Hint {
    std::shared_ptr<Fd> file;  // kept open until the hint is given
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
  };

  static constexpr size_t kMaxFds = 64;
  std::string root_;
  std::mutex mu_;
  std::mutex hints_mu_;
  std::condition_variable hints_cv_;
  std::deque<Hint> hints_;
  // Set under hints_mu_ (the hint thread waits on it); read without the lock between ranges.
  std::atomic<bool> stop_hints_{false};
  bool no_hinter_ = false;
  std::thread hinter_;
  std::unordered_map<std::string, std::shared_ptr<Fd>> fds_;
  std::list<std::string> order_;
};

}  // namespace

std::unique_ptr<Storage> NewLocalStorage(std::string root) {
  return std::make_unique<LocalStorage>(std::move(root));
}

}  // namespace rw
