#include "engine/pipeline/fs_meta.h"

#include <grp.h>
#include <pwd.h>
#include <sys/xattr.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace rw {

bool FillEntryFromStat(const struct stat& st, TreeEntry* e) {
  switch (st.st_mode & S_IFMT) {
    case S_IFREG: e->type = EntryType::kFile; break;
    case S_IFDIR: e->type = EntryType::kDir; break;
    case S_IFLNK: e->type = EntryType::kSymlink; break;
    case S_IFIFO: e->type = EntryType::kFifo; break;
    case S_IFCHR: e->type = EntryType::kCharDevice; break;
    case S_IFBLK: e->type = EntryType::kBlockDevice; break;
    default: return false;
  }
  e->mode = st.st_mode & 07777;
  e->uid = st.st_uid;
  e->gid = st.st_gid;
  e->user = UserName(st.st_uid);
  e->group = GroupName(st.st_gid);
  e->mtime_ns = MtimeNs(st);
  e->ctime_ns = CtimeNs(st);
  e->size = (e->type == EntryType::kFile || e->type == EntryType::kSymlink)
                ? static_cast<uint64_t>(st.st_size) : 0;
  e->inode = st.st_ino;
  e->device = st.st_dev;
  e->nlink = st.st_nlink;
  e->rdev = (e->type == EntryType::kCharDevice || e->type == EntryType::kBlockDevice) ? st.st_rdev : 0;
  return true;
}

namespace {
std::mutex names_mu;
std::unordered_map<uint32_t, std::string> user_names, group_names;

// The name of a user or group id, by getpwuid_r or getgrgid_r (`get`), cached in `names`. The
// buffer grows when it is too small (a group with many members needs more than 4 KiB). An id
// without a name is cached as ""; a failed lookup (the name service unreachable) is not cached
// and gives nullopt, so that the next entry asks again.
template <typename Record, typename Get>
std::optional<std::string> LookUpName(Get get, char* Record::*name_field, uint32_t id,
                                      std::unordered_map<uint32_t, std::string>* names) {
  std::lock_guard<std::mutex> lock(names_mu);
  if (auto it = names->find(id); it != names->end()) return it->second;
  std::vector<char> buf(4096);
  for (;;) {
    Record rec{};
    Record* res = nullptr;
    const int rc = get(id, &rec, buf.data(), buf.size(), &res);
    if (rc == ERANGE && buf.size() < (1u << 24)) {
      buf.resize(buf.size() * 4);
      continue;
    }
    if (rc != 0) return std::nullopt;
    std::string name = res ? res->*name_field : "";
    (*names)[id] = name;
    return name;
  }
}

std::optional<std::string> LookUpUserName(uint32_t uid) {
  return LookUpName<struct passwd>(getpwuid_r, &passwd::pw_name, uid, &user_names);
}

std::optional<std::string> LookUpGroupName(uint32_t gid) {
  return LookUpName<struct group>(getgrgid_r, &group::gr_name, gid, &group_names);
}

// Most entries of a tree have the owner of the entry before: each thread keeps the last name it
// was given (one per LookUp), and takes the lock of the shared cache only for another id (a walk
// in parallel took that lock twice per entry). A failed lookup is not kept.
template <std::optional<std::string> (*LookUp)(uint32_t)>
std::string LastName(uint32_t id) {
  thread_local std::optional<std::pair<uint32_t, std::string>> last;
  if (last && last->first == id) return last->second;
  std::optional<std::string> name = LookUp(id);
  if (!name) return "";
  last.emplace(id, std::move(*name));
  return last->second;
}

}  // namespace

std::string UserName(uint32_t uid) { return LastName<LookUpUserName>(uid); }
std::string GroupName(uint32_t gid) { return LastName<LookUpGroupName>(gid); }

int OpenAtNoAtime(int dfd, const char* name, int flags) {
  int fd = ::openat(dfd, name, flags | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = ::openat(dfd, name, flags);
  return fd;
}

Result<int> OpenRegularFile(int dir_fd, const std::string& name, const std::string& path, struct stat* st) {
  int fd = OpenAtNoAtime(dir_fd, name.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno == ENOENT ? "vanished before it was read" : "open", errno);
  Status s;
  if (::fstat(fd, st) != 0) {
    s = ErrnoStatus("stat", errno);
  } else if (!S_ISREG(st->st_mode)) {
    s = Status::IOError(path + " is no longer a regular file");
  } else if (int flags = ::fcntl(fd, F_GETFL); flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    // Local file systems ignore O_NONBLOCK for regular files, but a FUSE or network one may
    // honour it and answer a read with EAGAIN: the reads expect a blocking descriptor.
    s = ErrnoStatus("clear O_NONBLOCK", errno);
  }
  if (!s.ok()) {
    ::close(fd);
    return s;
  }
  return fd;
}

namespace {

// Calls for an open descriptor, or for a path without following its last component.
struct XattrOps {
  int fd = -1;
  std::string path;
  ssize_t List(char* buf, size_t size) const {
    return fd >= 0 ? flistxattr(fd, buf, size) : llistxattr(path.c_str(), buf, size);
  }
  ssize_t Get(const char* name, void* buf, size_t size) const {
    return fd >= 0 ? fgetxattr(fd, name, buf, size) : lgetxattr(path.c_str(), name, buf, size);
  }
  int Set(const Xattr& x) const {
    return fd >= 0 ? fsetxattr(fd, x.name.c_str(), x.value.data(), x.value.size(), 0)
                   : lsetxattr(path.c_str(), x.name.c_str(), x.value.data(), x.value.size(), 0);
  }
  int Remove(const std::string& name) const {
    return fd >= 0 ? fremovexattr(fd, name.c_str()) : lremovexattr(path.c_str(), name.c_str());
  }
};

std::string ProcPath(int dir_fd, const std::string& name) {
  return "/proc/self/fd/" + std::to_string(dir_fd) + "/" + name;
}

// Without /proc (a bare chroot) the xattrs of symlinks and nodes cannot be reached.
bool HaveProc() {
  static const bool have = ::access("/proc/self/fd", X_OK) == 0;
  return have;
}

Result<std::vector<Xattr>> ReadXattrsWith(const XattrOps& ops) {
  std::vector<Xattr> out;
  std::string names;
  for (;;) {
    ssize_t n = ops.List(nullptr, 0);
    if (n < 0) {
      if (errno == ENOTSUP) return out;
      return ErrnoStatus("list extended attributes", errno);
    }
    if (n == 0) return out;
    names.resize(static_cast<size_t>(n));
    n = ops.List(names.data(), names.size());
    if (n < 0 && errno == ERANGE) continue;
    if (n < 0) return ErrnoStatus("list extended attributes", errno);
    names.resize(static_cast<size_t>(n));
    break;
  }
  size_t pos = 0;
  while (pos < names.size()) {
    std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    if (name.empty()) continue;
    std::string value;
    for (;;) {
      ssize_t n = ops.Get(name.c_str(), nullptr, 0);
      if (n < 0) {
        if (errno == ENODATA) break;  // removed meanwhile
        return ErrnoStatus("read extended attribute " + name, errno);
      }
      value.resize(static_cast<size_t>(n));
      n = ops.Get(name.c_str(), value.data(), value.size());
      if (n < 0 && errno == ERANGE) continue;
      if (n < 0) return ErrnoStatus("read extended attribute " + name, errno);
      value.resize(static_cast<size_t>(n));
      out.push_back({name, value});
      break;
    }
  }
  std::sort(out.begin(), out.end(), [](const Xattr& a, const Xattr& b) { return a.name < b.name; });
  return out;
}

Status WriteXattrsWith(const XattrOps& ops, const std::vector<Xattr>& xattrs,
                       std::vector<std::string>* skipped = nullptr) {
  for (const Xattr& x : xattrs) {
    if (ops.Set(x) == 0) continue;
    const int err = errno;
    if (skipped && (err == EPERM || err == EACCES || err == ENOTSUP || err == EOPNOTSUPP)) {
      skipped->push_back(x.name + ": " + std::strerror(err));
      continue;
    }
    return ErrnoStatus("set extended attribute " + x.name, err);
  }
  return Status::OK();
}

Status NoProc(const std::string& name) {
  return Status::NotSupported("setting extended attributes of " + name + " needs /proc (not mounted)");
}

Status SetXattrsExactWith(const XattrOps& ops, const std::vector<Xattr>& want) {
  RW_ASSIGN_OR_RETURN(std::vector<Xattr> have, ReadXattrsWith(ops));
  if (have == want) return Status::OK();
  for (const Xattr& h : have) {
    bool keep = std::any_of(want.begin(), want.end(), [&](const Xattr& w) { return w.name == h.name; });
    if (!keep && ops.Remove(h.name) != 0 && errno != ENODATA) {
      return ErrnoStatus("remove extended attribute " + h.name, errno);
    }
  }
  std::vector<Xattr> changed;
  for (const Xattr& w : want) {
    auto it = std::find_if(have.begin(), have.end(), [&](const Xattr& h) { return h.name == w.name; });
    if (it == have.end() || it->value != w.value) changed.push_back(w);
  }
  return WriteXattrsWith(ops, changed);
}

}  // namespace

Result<std::vector<Xattr>> ReadXattrs(int fd) { return ReadXattrsWith(XattrOps{fd, {}}); }

Result<std::vector<Xattr>> ReadXattrsAt(int dir_fd, const std::string& name) {
  if (!HaveProc()) return std::vector<Xattr>{};  // read as none, like ENOTSUP
  return ReadXattrsWith(XattrOps{-1, ProcPath(dir_fd, name)});
}

Status SetXattrsExact(int fd, const std::vector<Xattr>& want) {
  return SetXattrsExactWith(XattrOps{fd, {}}, want);
}

Status SetXattrsExactAt(int dir_fd, const std::string& name, const std::vector<Xattr>& want) {
  if (!HaveProc()) {
    if (want.empty()) return Status::OK();  // none can be read either
    return NoProc(name);
  }
  return SetXattrsExactWith(XattrOps{-1, ProcPath(dir_fd, name)}, want);
}

Status WriteXattrs(int fd, const std::vector<Xattr>& xattrs, std::vector<std::string>* skipped) {
  return WriteXattrsWith(XattrOps{fd, {}}, xattrs, skipped);
}

Status WriteXattrsAt(int dir_fd, const std::string& name, const std::vector<Xattr>& xattrs,
                     std::vector<std::string>* skipped) {
  if (xattrs.empty()) return Status::OK();
  if (!HaveProc()) return NoProc(name);
  return WriteXattrsWith(XattrOps{-1, ProcPath(dir_fd, name)}, xattrs, skipped);
}

}  // namespace rw
