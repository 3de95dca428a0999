// Which processes use a directory tree: what a rollback checks before it changes an
// installation in place (DESIGN: refuse while IceWarp's services run). Read from /proc.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace rw {

struct ProcessUse {
  int pid = 0;
  std::string name;  // /proc/PID/comm
  std::string what;  // "runs /opt/icewarp/smtp", "has /opt/icewarp/config/accounts.db open", …
};

struct ProcessScan {
  std::vector<ProcessUse> users;  // by pid
  int uninspected = 0;            // processes whose files a caller other than root may not read
};

// The processes other than this one that run an executable under `root` (an absolute, resolved
// directory), or have a file under it open or mapped, leaving out what `skip` (given a path
// relative to `root` and whether it is a directory) says the caller does not touch, and what is
// below it. A file counts by its path in this mount namespace, and by its identity (device and
// inode, from a walk of the tree) through any other path or namespace (a bind mount, a
// container's volume). A process whose main thread exited is seen through its other threads.
// This process's ancestors count only by their executable (a script of the installation that
// runs rewind holds itself open). One entry per process: the first use found (executable, then
// open files, then mappings).
//
// `ids`, when given, is what CollectFileIds found under `root` beforehand (while something else
// was done), with the same `skip` or one that agrees with it on every entry the walk reaches:
// the walk does not enter a skipped directory, so its `skip` need not look at the parents.
// Without `ids` the tree is walked here.
struct FileIds;
ProcessScan FindProcessesUsing(const std::string& root,
                               const std::function<bool(const std::string& rel, bool is_dir)>& skip,
                               const FileIds* ids = nullptr);

// The identities (device, inode) of what the tree under `root` holds outside what `skip`
// leaves out, by a walk that follows no symlink: what FindProcessesUsing matches the files
// that processes hold through other paths against.
struct FileIds {
  std::string root;
  std::vector<std::pair<uint64_t, uint64_t>> ids;  // (device, inode), sorted
  std::vector<uint64_t> inos;                      // the inode numbers, sorted
  bool Has(uint64_t dev, uint64_t ino) const;
  bool HasIno(uint64_t ino) const;
};
FileIds CollectFileIds(const std::string& root, const std::function<bool(const std::string& rel, bool is_dir)>& skip);

// "pid 1234 smtp (runs /opt/icewarp/smtp), pid 1240 cal (has … open)" for at most `max` of them,
// then "and N more".
std::string DescribeProcessUses(const std::vector<ProcessUse>& users, size_t max = 5);

}  // namespace rw
