#include "engine/ops/processes.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <fstream>
#include <optional>

#include "engine/base/paths.h"

namespace rw {

namespace {

std::optional<std::string> ReadLink(const std::string& path, int* err) {
  std::string buf(4096, '\0');
  ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
  if (n < 0) {
    *err = errno;
    return std::nullopt;
  }
  buf.resize(static_cast<size_t>(n));
  // A file deleted while open (an upgrade replaced it) is shown with this suffix.
  const std::string deleted = " (deleted)";
  if (buf.size() > deleted.size() && buf.compare(buf.size() - deleted.size(), deleted.size(), deleted) == 0) {
    buf.resize(buf.size() - deleted.size());
  }
  return buf;
}

}  // namespace

ProcessScan FindProcessesUsing(const std::string& root, const std::function<bool(const std::string& rel)>& skip) {
  ProcessScan scan;
  DIR* proc = ::opendir("/proc");
  if (!proc) return scan;
  const int self = static_cast<int>(::getpid());
  // Not being allowed to look is counted for an unprivileged caller (running as root would
  // show them). Root is refused only by a security module or a sandbox's init: nothing to do.
  const bool root_user = ::geteuid() == 0;
  // The path relative to `root` when `path` is under it and not skipped.
  auto used = [&](const std::string& path) -> bool {
    if (path.empty() || path[0] != '/') return false;  // socket:[…], pipe:[…], anon_inode:…
    auto rel = PathWithin(root, path);
    return rel && !(skip && !rel->empty() && skip(*rel));
  };
  while (dirent* de = ::readdir(proc)) {
    const std::string name = de->d_name;
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isdigit(c); })) {
      continue;
    }
    const int pid = std::atoi(name.c_str());
    if (pid == self) continue;
    const std::string dir = "/proc/" + name;
    ProcessUse use;
    use.pid = pid;
    int err = 0;
    auto exe = ReadLink(dir + "/exe", &err);
    if (!exe && err == EACCES) {
      if (!root_user) ++scan.uninspected;
      continue;
    }
    if (!exe) continue;  // a kernel thread, or gone
    // The executable counts wherever it is under the root, skipped folders too (IceWarp's
    // php-fpm runs from php/).
    if (auto rel = PathWithin(root, *exe)) {
      use.what = "runs " + *exe;
    }
    if (use.what.empty()) {
      if (DIR* fds = ::opendir((dir + "/fd").c_str())) {
        while (dirent* f = ::readdir(fds)) {
          if (f->d_name[0] == '.') continue;
          auto target = ReadLink(dir + "/fd/" + f->d_name, &err);
          if (target && used(*target)) {
            use.what = "has " + *target + " open";
            break;
          }
        }
        ::closedir(fds);
      } else if (errno == EACCES) {
        if (!root_user) ++scan.uninspected;
        continue;
      }
    }
    if (use.what.empty()) {
      std::ifstream maps(dir + "/maps");
      std::string line;
      while (std::getline(maps, line)) {
        // address perms offset dev inode pathname
        size_t slash = line.find('/');
        if (slash == std::string::npos) continue;
        std::string path = line.substr(slash);
        const std::string deleted = " (deleted)";
        if (path.size() > deleted.size() && path.compare(path.size() - deleted.size(), deleted.size(), deleted) == 0) {
          path.resize(path.size() - deleted.size());
        }
        if (used(path)) {
          use.what = "maps " + path;
          break;
        }
      }
    }
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
