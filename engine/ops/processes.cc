#include "engine/ops/processes.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <unordered_set>
#include <string_view>
#include <utility>

#include "engine/base/paths.h"
#include "engine/base/status.h"

namespace rw {

namespace {

// A file deleted while open (an upgrade replaced it) is shown in /proc with this suffix.
void StripDeleted(std::string* path) {
  const std::string_view deleted = " (deleted)";
  if (path->size() > deleted.size() && path->compare(path->size() - deleted.size(), deleted.size(), deleted) == 0) {
    path->resize(path->size() - deleted.size());
  }
}

std::optional<std::string> ReadLink(const std::string& path, int* err) {
  std::string buf(4096, '\0');
  ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
  if (n < 0) {
    *err = errno;
    return std::nullopt;
  }
  buf.resize(static_cast<size_t>(n));
  StripDeleted(&buf);
  return buf;
}

bool AllDigits(const char* s) {
  if (!*s) return false;
  for (; *s; ++s) {
    if (!std::isdigit(static_cast<unsigned char>(*s))) return false;
  }
  return true;
}

// What the tree under the root holds, outside the skipped folders, by identity (device and
// inode): what a process holds through another path also counts (the installation
// bind-mounted elsewhere, or a container's volume, whose /proc links show the path in the
// container's own mount namespace). Collected, then sorted once.
struct TreeIds {
  FileIds* out;
  void Add(dev_t dev, ino_t ino) { out->ids.emplace_back(static_cast<uint64_t>(dev), static_cast<uint64_t>(ino)); }
};

// File systems whose directory entries carry the inode number stat() gives (d_ino == st_ino):
// there the walk needs no stat of each file, only of each directory (overlayfs, FUSE and
// network file systems do not promise it, and are stat()ed entry by entry).
bool DirentInoIsStatIno(int dirfd) {
  struct statfs fs {};
  if (::fstatfs(dirfd, &fs) != 0) return false;
  switch (static_cast<unsigned long>(fs.f_type)) {
    case 0xEF53UL:      // ext2/3/4
    case 0x58465342UL:  // xfs
    case 0x01021994UL:  // tmpfs
      return true;
    default:
      return false;
  }
}

// Mount points strictly below `root` (this process's mount namespace), relative to it: a
// file bind-mounted over a file of the tree shows the covered file's inode in its directory
// entry, so the walk stats these.
std::unordered_set<std::string> MountPointsBelow(const std::string& root) {
  std::unordered_set<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // "id parent major:minor root mount-point options ...": the fifth field, octal-escaped.
    size_t pos = 0;
    for (int field = 0; field < 4 && pos != std::string::npos; ++field) pos = line.find(' ', pos + 1);
    if (pos == std::string::npos) continue;
    const size_t end = line.find(' ', pos + 1);
    const std::string raw = line.substr(pos + 1, end == std::string::npos ? std::string::npos : end - pos - 1);
    std::string path;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 3 < raw.size() && std::isdigit(static_cast<unsigned char>(raw[i + 1]))) {
        path += static_cast<char>(std::strtol(raw.substr(i + 1, 3).c_str(), nullptr, 8));
        i += 3;
      } else {
        path += raw[i];
      }
    }
    if (auto rel = PathWithin(root, path); rel && !rel->empty()) out.insert(*rel);
  }
  return out;
}

void Walk(int dirfd, dev_t dev, bool dirent_ino, const std::string& rel,
          const std::function<bool(const std::string&, bool)>& skip,
          const std::unordered_set<std::string>& mounts, TreeIds* out) {
  DIR* d = ::fdopendir(dirfd);
  if (!d) {
    ::close(dirfd);
    return;
  }
  while (dirent* de = ::readdir(d)) {
    const char* n = de->d_name;
    if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
    const std::string child = rel.empty() ? std::string(n) : rel + "/" + n;
    bool is_dir = de->d_type == DT_DIR;
    dev_t file_dev = dev;
    ino_t ino = de->d_ino;
    if (!dirent_ino || de->d_type == DT_UNKNOWN || (!is_dir && mounts.count(child))) {
      struct stat st {};
      if (::fstatat(::dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      is_dir = S_ISDIR(st.st_mode);
      file_dev = st.st_dev;
      ino = st.st_ino;
    }
    if (skip && skip(child, is_dir)) continue;
    if (!is_dir) {
      out->Add(file_dev, ino);
      continue;
    }
    // A directory is opened and stat()ed: a mount point's entry shows the directory it covers.
    int fd = ::openat(::dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0) {
      if (fd >= 0) ::close(fd);
      // Not entered (no permission): the directory itself still counts.
      if (::fstatat(::dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) == 0) out->Add(st.st_dev, st.st_ino);
      continue;
    }
    out->Add(st.st_dev, st.st_ino);
    Walk(fd, st.st_dev, st.st_dev == dev ? dirent_ino : DirentInoIsStatIno(fd), child, skip, mounts, out);
  }
  ::closedir(d);
}


// The inode number /proc/PID/fdinfo/N shows (Linux 5.14 and later), without asking the file
// system (a stat of /proc/PID/fd/N would, and hangs on a dead NFS server, as lsof does).
std::optional<ino_t> FdInfoIno(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, 4, "ino:") == 0) return static_cast<ino_t>(std::strtoull(line.c_str() + 4, nullptr, 10));
  }
  return std::nullopt;
}

// This process's ancestors: a script of the installation that runs rewind (its shell holds the
// script open) waits for it and does not count for its open files.
std::set<int> Ancestors() {
  std::set<int> out;
  int pid = static_cast<int>(::getppid());
  for (int i = 0; i < 64 && pid > 1 && out.insert(pid).second; ++i) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    size_t paren = text.rfind(')');  // "pid (comm) state ppid …": comm may hold anything
    if (paren == std::string::npos) break;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(text.c_str() + paren + 1, " %c %d", &state, &ppid) != 2) break;
    pid = ppid;
  }
  return out;
}

}  // namespace

bool FileIds::Has(uint64_t dev, uint64_t ino) const { return std::binary_search(ids.begin(), ids.end(), std::make_pair(dev, ino)); }
bool FileIds::HasIno(uint64_t ino) const { return std::binary_search(inos.begin(), inos.end(), ino); }

FileIds CollectFileIds(const std::string& root, const std::function<bool(const std::string&, bool)>& skip) {
  FileIds out;
  out.root = root;
  TreeIds t{&out};
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    if (fd >= 0) ::close(fd);
    return out;
  }
  t.Add(st.st_dev, st.st_ino);
  Walk(fd, st.st_dev, DirentInoIsStatIno(fd), "", skip, MountPointsBelow(root), &t);
  std::sort(out.ids.begin(), out.ids.end());
  out.ids.erase(std::unique(out.ids.begin(), out.ids.end()), out.ids.end());
  out.inos.reserve(out.ids.size());
  for (const auto& id : out.ids) out.inos.push_back(id.second);
  std::sort(out.inos.begin(), out.inos.end());
  out.inos.erase(std::unique(out.inos.begin(), out.inos.end()), out.inos.end());
  return out;
}

namespace {

// What FindProcessesUsing looks for in one process's /proc directory.
struct Lookup {
  const std::string& root;
  const std::function<bool(const std::string& rel, bool is_dir)>& skip;
  const FileIds& tree;
  // The path under the root (in this mount namespace), not skipped.
  bool Under(const std::string& path, bool is_dir) const {
    if (path.empty() || path[0] != '/') return false;  // socket:[…], pipe:[…], anon_inode:…
    auto rel = PathWithin(root, path);
    return rel && !(skip && !rel->empty() && skip(*rel, is_dir));
  }
};

// "has PATH open" for the first open file of the process in /proc directory `dir` that is the
// root's, "" when none; EACCES when its descriptors may not be listed.
Result<std::string> FirstOpenFile(const Lookup& l, const std::string& dir, bool same_ns) {
  DIR* fds = ::opendir((dir + "/fd").c_str());
  if (!fds) return errno == EACCES ? Result<std::string>(Status(Code::kDenied, "fd")) : Result<std::string>(std::string());
  std::string found;
  int err = 0;
  while (dirent* f = ::readdir(fds)) {
    if (f->d_name[0] == '.') continue;
    const std::string link = dir + "/fd/" + f->d_name;
    auto target = ReadLink(link, &err);
    if (!target) continue;
    bool hit = false;
    struct stat st {};
    if (same_ns && PathWithin(l.root, *target)) {
      // Under the root: a directory in a skipped folder, or that folder itself, is skipped as a
      // file in it is (`find mail/` holds mail/ open).
      hit = l.Under(*target, ::stat(link.c_str(), &st) == 0 && S_ISDIR(st.st_mode));
    } else if (auto ino = FdInfoIno(dir + "/fdinfo/" + f->d_name); !ino || l.tree.HasIno(*ino)) {
      hit = ::stat(link.c_str(), &st) == 0 && l.tree.Has(st.st_dev, st.st_ino);
    }
    if (hit) {
      found = "has " + *target + " open";
      break;
    }
  }
  ::closedir(fds);
  return found;
}

// "maps PATH" ("runs PATH" for its executable `exe`) for the first mapping of the root's files
// in /proc directory `dir`, "" when none.
std::string FirstMapping(const Lookup& l, const std::string& dir, bool same_ns, const std::string& exe) {
  std::ifstream maps(dir + "/maps");
  std::string line;
  while (std::getline(maps, line)) {
    // address perms offset dev inode pathname
    size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    StripDeleted(&path);
    bool hit = same_ns && l.Under(path, false);
    if (!hit) {
      char addr[64], perms[8], offset[32];
      unsigned major = 0, minor = 0;
      unsigned long long ino = 0;
      if (std::sscanf(line.c_str(), "%63s %7s %31s %x:%x %llu", addr, perms, offset, &major, &minor, &ino) == 6 &&
          ino != 0) {
        hit = l.tree.Has(makedev(major, minor), static_cast<ino_t>(ino));
      }
    }
    if (hit) return (path == exe ? "runs " : "maps ") + path;
  }
  return "";
}

}  // namespace

ProcessScan FindProcessesUsing(const std::string& root,
                               const std::function<bool(const std::string& rel, bool is_dir)>& skip,
                               const FileIds* ids) {
  ProcessScan scan;
  DIR* proc = ::opendir("/proc");
  if (!proc) return scan;
  const int self = static_cast<int>(::getpid());
  const std::set<int> ancestors = Ancestors();
  int err = 0;
  // Paths in /proc are as the process's mount namespace sees them: they name the root's files
  // only in ours. Elsewhere the identity of the file decides.
  const std::optional<std::string> own_ns = ReadLink("/proc/self/ns/mnt", &err);
  FileIds walked;
  if (!ids || ids->root != root) walked = CollectFileIds(root, skip);
  const Lookup lookup{root, skip, (ids && ids->root == root) ? *ids : walked};
  // Not being allowed to look is counted for an unprivileged caller (running as root would
  // show them). Root is refused only by a security module or a sandbox's init: nothing to do.
  const bool root_user = ::geteuid() == 0;
  while (dirent* de = ::readdir(proc)) {
    const std::string name = de->d_name;
    if (!AllDigits(name.c_str())) continue;
    const int pid = std::atoi(name.c_str());
    if (pid == self) continue;
    std::string dir = "/proc/" + name;
    ProcessUse use;
    use.pid = pid;
    auto exe = ReadLink(dir + "/exe", &err);
    if (!exe && err == EACCES) {
      if (!root_user) ++scan.uninspected;
      continue;
    }
    if (!exe && err == ENOENT) {
      // A zombie thread-group leader (its main thread called pthread_exit) whose other threads
      // still run: they have the executable, the files and the mappings.
      if (DIR* tasks = ::opendir((dir + "/task").c_str())) {
        while (dirent* t = ::readdir(tasks)) {
          if (!AllDigits(t->d_name) || name == t->d_name) continue;
          const std::string tdir = dir + "/task/" + t->d_name;
          if ((exe = ReadLink(tdir + "/exe", &err))) {
            dir = tdir;
            break;
          }
        }
        ::closedir(tasks);
      }
    }
    if (!exe) continue;  // a kernel thread, or gone
    const std::optional<std::string> ns = ReadLink(dir + "/ns/mnt", &err);
    const bool same_ns = !own_ns || !ns || *ns == *own_ns;
    // The executable counts wherever it is under the root, skipped folders too (IceWarp's
    // php-fpm runs from php/). In another namespace its mapping decides. This process's
    // ancestors count by their executable only.
    if (same_ns && PathWithin(root, *exe)) use.what = "runs " + *exe;
    const bool ancestor = ancestors.count(pid) > 0;
    if (use.what.empty() && !ancestor) {
      auto open = FirstOpenFile(lookup, dir, same_ns);
      if (!open.ok()) {
        if (!root_user) ++scan.uninspected;
        continue;
      }
      use.what = std::move(*open);
    }
    if (use.what.empty() && !ancestor) use.what = FirstMapping(lookup, dir, same_ns, *exe);
    if (use.what.empty()) continue;
    std::ifstream comm(dir + "/comm");
    std::getline(comm, use.name);
    scan.users.push_back(std::move(use));
  }
  ::closedir(proc);
  std::sort(scan.users.begin(), scan.users.end(), [](const ProcessUse& a, const ProcessUse& b) { return a.pid < b.pid; });
  return scan;
}

std::string DescribeProcessUses(const std::vector<ProcessUse>& users, size_t max) {
  std::string out;
  for (size_t i = 0; i < users.size() && i < max; ++i) {
    if (i) out += ", ";
    out += "pid " + std::to_string(users[i].pid) + (users[i].name.empty() ? "" : " " + users[i].name) + " (" +
           users[i].what + ")";
  }
  if (users.size() > max) out += " and " + std::to_string(users.size() - max) + " more";
  return out;
}

}  // namespace rw
