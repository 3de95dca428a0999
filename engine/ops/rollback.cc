#include "engine/base/paths.h"
#include "engine/ops/rollback.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <tbb/parallel_for.h>
#include <tbb/parallel_for_each.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <system_error>
#include <unordered_map>
#include <unordered_set>

#include "engine/base/bytes.h"
#include "engine/base/clock.h"
#include "engine/format/checksum.h"
#include "engine/format/pack.h"
#include "engine/ops/backup.h"
#include "engine/ops/diff_internal.h"
#include "engine/ops/processes.h"
#include "engine/ops/restore_internal.h"
#include "engine/pipeline/fs_meta.h"
#include "excludes/excludes.h"

namespace rw {

using namespace diff_internal;

const char* RollbackOpName(RollbackStep::Op op) {
  switch (op) {
    case RollbackStep::Op::kRemove: return "remove";
    case RollbackStep::Op::kMkdir: return "mkdir";
    case RollbackStep::Op::kWrite: return "write";
    case RollbackStep::Op::kSymlink: return "symlink";
    case RollbackStep::Op::kLink: return "link";
    case RollbackStep::Op::kNode: return "node";
    case RollbackStep::Op::kMeta: return "meta";
    case RollbackStep::Op::kDirMeta: return "dirmeta";
  }
  return "?";
}

namespace {

constexpr const char* kJournalMagic = "rewind rollback journal 1";
constexpr size_t kMaxMissingListed = 10;

bool ParseOp(std::string_view s, RollbackStep::Op* op) {
  for (int i = 0; i <= static_cast<int>(RollbackStep::Op::kDirMeta); ++i) {
    auto o = static_cast<RollbackStep::Op>(i);
    if (s == RollbackOpName(o)) {
      *op = o;
      return true;
    }
  }
  return false;
}

std::string HexOrDash(const std::string& s) { return s.empty() ? "-" : HexEncode(s); }
bool UnHexOrDash(std::string_view s, std::string* out) {
  if (s == "-") {
    out->clear();
    return true;
  }
  auto d = HexDecode(s);
  if (!d) return false;
  *out = std::move(*d);
  return true;
}

std::string RandomHex(size_t bytes) {
  std::random_device rd;
  std::string raw(bytes, '\0');
  for (char& c : raw) c = static_cast<char>(rd() & 0xff);
  return HexEncode(raw);
}

// Temporary names beside the target: the same shape as restore's (".rewind-" + 16 hex).
std::string TempName() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  uint64_t v = rng();
  return ".rewind-" + HexEncode(std::string_view(reinterpret_cast<const char*>(&v), sizeof v));
}
bool IsTempName(const std::string& name) {
  if (name.size() != 8 + 16 || name.compare(0, 8, ".rewind-") != 0) return false;
  for (size_t i = 8; i < name.size(); ++i) {
    char c = name[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string Leaf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}
std::string ParentOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}
size_t Depth(const std::string& path) {
  return path.empty() ? 0 : 1 + static_cast<size_t>(std::count(path.begin(), path.end(), '/'));
}

using restore_internal::ToTimespec;

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  ~Fd() { Reset(); }
  void Reset(int f = -1) {
    if (fd >= 0) ::close(fd);
    fd = f;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// ---------------------------------------------------------------------------------------------
// Stop and start commands.

Status RunShell(const std::string& what, const std::string& cmd) {
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus("start " + what, errno);
  if (pid == 0) {
    ::dup2(STDERR_FILENO, STDOUT_FILENO);  // stdout may carry --json
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoStatus("wait for " + what, errno);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::OK();
  std::string how = WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                      : "was killed by signal " + std::to_string(WTERMSIG(status));
  return Status::Aborted(what + " `" + cmd + "` " + how);
}

// ---------------------------------------------------------------------------------------------
// Snapshot check.

// The snapshot's entry at `path` ("" = its root entry).
Result<TreeEntry> FindSnapshotEntry(TreeCache* cache, const Snapshot& snap, const std::string& path) {
  if (path.empty()) {
    if (!snap.root) return Status::NotFound("the snapshot records no root entry");
    return *snap.root;
  }
  return FindEntryBelow(cache->repo(), cache, *snap.tree, path);
}

}  // namespace

Status CheckSnapshotWhole(Repository* repo, const Snapshot& snap, TreeCache* trees) {
  std::vector<std::string> missing;
  uint64_t missing_total = 0;
  auto miss = [&](const std::string& what) {
    if (missing.size() < kMaxMissingListed) missing.push_back(what);
    missing_total += 1;
  };
  TreeCache local(*repo);
  if (!trees) trees = &local;
  // Per pack, where its blobs the snapshot needs are (one entry per use: about 100k for the
  // bench tree, so without the pack id an IndexEntry repeats).
  struct Frame {
    uint64_t offset;
    uint32_t compressed_length, raw_length;
    BlobId id;
  };
  auto frame_of = [](const IndexEntry& e) { return Frame{e.offset, e.compressed_length, e.raw_length, e.id}; };
  std::map<BlobId, std::vector<Frame>> by_pack;
  std::unordered_set<BlobId, BlobIdHash> seen_trees, missing_blobs;
  // The files tree, and the database dumps' trees under databases/<label> (as `ls` shows them),
  // a level at a time: the trees of one level are loaded and decoded in parallel.
  std::vector<std::pair<BlobId, std::string>> level;
  if (snap.tree) level.push_back({*snap.tree, ""});
  for (const DatabaseDump& d : snap.databases) level.push_back({d.tree, "databases/" + d.label});
  while (!level.empty()) {
    std::vector<std::pair<BlobId, std::string>> todo;
    std::vector<IndexEntry> hint;
    for (auto& [id, prefix] : level) {
      if (!seen_trees.insert(id).second) continue;
      auto where = repo->Find(id);
      if (!where) {
        miss("tree " + id.Short() + " of " + (prefix.empty() ? "/" : prefix + "/") + " is not in the index");
        continue;
      }
      by_pack[where->pack].push_back(frame_of(*where));
      hint.push_back(*where);
      todo.push_back({id, std::move(prefix)});
    }
    // Tree packs not in the page cache (dropped, or never read on this host) would be read a
    // frame at a time, one per thread: the storage is told the whole level first, and reads
    // it in the background, merged and in order.
    if (hint.size() > 1) {
      Repository::SortForLoading(&hint);
      repo->WillLoad(hint);
    }
    std::vector<Result<std::shared_ptr<const Tree>>> loaded(todo.size(), Status::OK());
    tbb::parallel_for(size_t{0}, todo.size(), [&](size_t i) { loaded[i] = trees->Get(todo[i].first); });
    std::vector<std::pair<BlobId, std::string>> next;
    for (size_t i = 0; i < todo.size(); ++i) {
      const std::string& prefix = todo[i].second;
      if (!loaded[i].ok()) {
        miss("tree of " + (prefix.empty() ? "/" : prefix + "/") + ": " + loaded[i].status().message());
        continue;
      }
      // A blob of many files is listed once per file here (a hash set of the ids seen cost more
      // than the index lookups it saved); each pack's list is made unique below.
      std::vector<Frame>* last = nullptr;
      BlobId last_pack;
      for (const TreeEntry& e : (*loaded[i])->entries) {
        for (const BlobId& c : e.content) {
          auto loc = repo->Find(c);
          if (!loc) {
            if (missing_blobs.insert(c).second) {
              miss("blob " + c.Short() + " of " + JoinPath(prefix, e.name) + " is not in the index");
            }
            continue;
          }
          if (!last || !(last_pack == loc->pack)) {
            last = &by_pack[loc->pack];
            last_pack = loc->pack;
          }
          last->push_back(frame_of(*loc));
        }
        if (e.type == EntryType::kDir && e.subtree) next.push_back({*e.subtree, JoinPath(prefix, e.name)});
      }
    }
    level = std::move(next);
  }
  // The packs holding them: present, with a trailer that parses and agrees with the index.
  for (auto& [pack, entries] : by_pack) {
    std::sort(entries.begin(), entries.end(),
              [](const Frame& a, const Frame& b) { return a.offset < b.offset || (a.offset == b.offset && a.id < b.id); });
    entries.erase(std::unique(entries.begin(), entries.end(),
                              [](const Frame& a, const Frame& b) { return a.id == b.id && a.offset == b.offset; }),
                  entries.end());
    const std::string rel = PackPath(pack);
    auto size = repo->storage().FileSize(rel);
    if (!size.ok()) {
      miss("pack " + pack.Short() + " (" + std::to_string(entries.size()) + " needed blobs): " +
           size.status().message());
      continue;
    }
    uint64_t need = kPackFooterSize + 4096;
    Result<PackTrailer> trailer = Status::InvalidArgument("");
    for (int attempt = 0; attempt < 3; ++attempt) {
      uint64_t n = std::min<uint64_t>(need, *size);
      auto tail = repo->storage().ReadAt(rel, *size - n, static_cast<size_t>(n));
      if (!tail.ok()) {
        trailer = tail.status();
        break;
      }
      uint64_t more = 0;
      trailer = ParsePackTrailer(*tail, *size, &more);
      if (trailer.ok() || trailer.status().code() != Code::kInvalidArgument || more <= n) break;
      need = more;
    }
    if (!trailer.ok()) {
      miss("pack " + pack.Short() + ": " + trailer.status().message());
      continue;
    }
    // Both in offset order (a trailer's frames are in order and never overlap): one pass.
    const std::vector<PackEntry>& listed = trailer->entries;
    size_t k = 0;
    for (const Frame& e : entries) {
      while (k < listed.size() && listed[k].offset < e.offset) ++k;
      if (k == listed.size() || listed[k].offset != e.offset || !(listed[k].id == e.id) ||
          listed[k].compressed_length != e.compressed_length || listed[k].raw_length != e.raw_length) {
        miss("pack " + pack.Short() + " does not hold blob " + e.id.Short() + " where the index says");
      }
    }
  }
  if (missing_total == 0) return Status::OK();
  std::string msg = "the snapshot is not whole (" + std::to_string(missing_total) + " problem" +
                    (missing_total == 1 ? "" : "s") + "): ";
  for (size_t i = 0; i < missing.size(); ++i) msg += (i ? "; " : "") + missing[i];
  if (missing_total > missing.size()) msg += "; …";
  return Status::Corruption(msg + " (run `rewind verify`: it names the snapshots that need what is missing; an "
                                  "index file lost or damaged: `rewind repair index`)");
}

// -----------------------------------------------------------------------------------------------
// Planning.

namespace {

// Runs a diff of `snap` (old) against what is there now (new) with the given options, change
// callback and stats.
using DiffRunner = std::function<Status(const DiffOptions&, const ChangeFn&, DiffStats*)>;

// The hardlink entries of the snapshot's files tree: path and entry.
Status CollectHardlinks(const Repository& repo, TreeCache* trees, const BlobId& id, const std::string& prefix,
                        std::vector<std::pair<std::string, TreeEntry>>* out) {
  RW_ASSIGN_OR_RETURN(auto t, LoadTreeVia(repo, trees, id));
  for (const TreeEntry& e : t->entries) {
    if (e.type == EntryType::kHardlink) out->push_back({JoinPath(prefix, e.name), e});
    if (e.type == EntryType::kDir && e.subtree) {
      RW_RETURN_IF_ERROR(CollectHardlinks(repo, trees, *e.subtree, JoinPath(prefix, e.name), out));
    }
  }
  return Status::OK();
}

// True when `rules` leave out `rel` (a directory when `is_dir`; its parents are) or one of its
// parents.
bool ExcludedBy(const ExcludeSet& rules, const std::string& rel, bool is_dir) {
  return AnyPrefixOf(rel, [&](const std::string& p, bool whole) { return rules.Match(p, whole ? is_dir : true) >= 0; });
}

// True when the snapshot's exclusion rules leave out the directory `rel` (relative to its
// source) or one of its parents: the rollback never touches it. (A backup excludes a
// repository inside its source by such a rule.)
bool ExcludedBySnapshot(const Snapshot& snap, const std::string& rel) {
  ExcludeSet rules;
  if (rel.empty() || !SnapshotExcludes(snap, &rules).ok()) return false;
  return ExcludedBy(rules, rel, /*is_dir=*/true);
}

// DESIGN: refuse while IceWarp's services run. They keep files of the installation open
// (SQLite databases, settings) and write them: a rollback under them would be torn or undone.
// Refused when another process runs an executable from the target, or has a file in it open or
// mapped outside the snapshot's excluded folders (a log open in logs/ is IceWarp's too, but
// its executable already says so; an administrator's `less` of a log does not matter).
// `ids`: the tree's identities collected beforehand (CollectFileIds of `target` with the
// snapshot's rules), or nullptr to walk it now.
Status CheckNothingRuns(const Snapshot& snap, const std::string& target, std::vector<std::string>* notes,
                        const FileIds* ids = nullptr) {
  ExcludeSet rules;
  // Without the rules it cannot tell a log held open in an excluded folder from a settings
  // file: refused (a rewind wrote rules it had parsed; these come from a damaged snapshot).
  if (Status st = SnapshotExcludes(snap, &rules); !st.ok()) {
    return st.WithContext("cannot check which processes use " + target);
  }
  // `rel` is a directory when the process holds one open (`find logs/` holds logs/).
  ProcessScan scan = FindProcessesUsing(
      target, [&](const std::string& rel, bool is_dir) { return ExcludedBy(rules, rel, is_dir); }, ids);
  if (scan.uninspected > 0) {
    notes->push_back(std::to_string(scan.uninspected) + " processes of other users could not be checked for files open in " +
                     target + " (run as root to check them)");
  }
  if (scan.users.empty()) return Status::OK();
  // Another rewind (a rollback or a backup of the same installation from another repository)
  // is not a service to stop.
  if (std::all_of(scan.users.begin(), scan.users.end(), [](const ProcessUse& u) { return u.name == "rewind"; })) {
    return Status::Aborted("another rewind works on " + target + ": " + DescribeProcessUses(scan.users) +
                           ". Wait for it to end (a rollback or backup from another repository), then run again");
  }
  return Status::Aborted(std::to_string(scan.users.size()) + (scan.users.size() == 1 ? " process uses " : " processes use ") +
                         target + ": " + DescribeProcessUses(scan.users) +
                         ". Stop the services first (--stop-cmd, e.g. '" + target +
                         "/icewarpd.sh --stop'), or give --allow-running to roll back under them");
}

// True when `path` is one of the entries the backup could not read, or below one (`unread` is
// sorted).
bool Unread(const std::vector<std::string>& unread, const std::string& path) {
  if (unread.empty() || path.empty()) return false;
  return AnyPrefixOf(path, [&](const std::string& p, bool) { return std::binary_search(unread.begin(), unread.end(), p); });
}

// True when a change would delete or replace an excluded folder, which the rollback never
// touches (DESIGN): the target's side is one (the safety snapshot records it as `excluded`, a
// live walk as a directory the snapshot's rules match), or the snapshot's side is. The type
// may differ: the rule /mail/ matches directories only, so a `mail` that was a symlink to
// another volume at the snapshot is recorded as a symlink, and is a directory of mail now.
Result<int> OpenDirBelow(int root_fd, const std::string& parent);

// The path of an open descriptor (/proc/self/fd), or `otherwise`.
std::string FdPathOr(int fd, const std::string& otherwise) {
  char buf[PATH_MAX];
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : otherwise;
}

// True when the symlink at `path` (relative to the target) with the text `link` points out of
// the target `target` (absolute; "" when unknown: every absolute link then counts as out): an
// absolute link not below it, or a relative one that climbs above the target's root. Read as
// text: a link through another symlink is taken at its word.
bool PointsOutOf(const std::string& target, const std::string& path, const std::string& link) {
  if (!link.empty() && link[0] == '/') return target.empty() || !PathWithin(target, link).has_value();
  const std::string parent = ParentOf(path);
  // Components of the directory the link is in.
  size_t depth = parent.empty() ? 0 : 1 + static_cast<size_t>(std::count(parent.begin(), parent.end(), '/'));
  size_t pos = 0;
  while (pos <= link.size()) {
    const size_t slash = std::min(link.find('/', pos), link.size());
    const std::string part = link.substr(pos, slash - pos);
    if (part == "..") {
      if (depth == 0) return true;
      depth -= 1;
    } else if (!part.empty() && part != ".") {
      depth += 1;
    }
    pos = slash + 1;
  }
  return false;
}

// `target`: the target's absolute path ("" when unknown), for symlinks (PointsOutOf).
bool TouchesExcluded(const ExcludeSet* rules, const Change& c, const std::string& target) {
  // A symlink standing where an excluded folder would be, pointing out of the installation:
  // `mail` pointing at the mail store on another volume (the rule /mail/ matches directories
  // only), made or pointed elsewhere since. One pointing inside follows the installation (`php`
  // pointed at a `php83/` the upgrade added, which the rollback removes).
  auto kept_symlink = [&](const TreeEntry& e) {
    return rules && ExcludedBy(*rules, c.path, /*is_dir=*/true) && PointsOutOf(target, c.path, e.link_target);
  };
  if (c.kind == ChangeKind::kContent && c.has_new && c.new_entry.type == EntryType::kSymlink) {
    return kept_symlink(c.new_entry);
  }
  if (c.kind != ChangeKind::kAdded && c.kind != ChangeKind::kType) return false;
  if (c.has_old && c.old_entry.type == EntryType::kExcludedDir) return true;
  if (!c.has_new) return false;
  if (c.new_entry.type == EntryType::kExcludedDir) return true;
  if (c.new_entry.type == EntryType::kSymlink && kept_symlink(c.new_entry)) return true;
  // The folder itself or anything in it (a walk that went in reports its entries).
  return rules && ExcludedBy(*rules, c.path, c.new_entry.type == EntryType::kDir);
}

// True when `rules` exclude the entry `rel` of type `type` seen by a walk that does not enter
// what they exclude (its parents did not match); a symlink counts as the folder it stands for.
bool ExcludedEntry(const ExcludeSet& rules, const std::string& rel, EntryType type) {
  return rules.Match(rel, type == EntryType::kDir || type == EntryType::kSymlink) >= 0;
}

// The names of the sockets in the open directory `dfd`, which ListLive leaves out (a socket is
// never backed up): a rule such as `*.sock` keeps one, and the directory holding it, in place.
// An error when the directory cannot be read (no descriptor left, say).
Result<std::vector<std::string>> SocketsIn(int dfd) {
  std::vector<std::string> out;
  int dup_fd = ::dup(dfd);
  DIR* d = dup_fd >= 0 ? ::fdopendir(dup_fd) : nullptr;
  if (!d) {
    const int err = errno;
    if (dup_fd >= 0) ::close(dup_fd);
    return ErrnoStatus("list directory for sockets", err);
  }
  ::rewinddir(d);
  errno = 0;
  while (dirent* de = ::readdir(d)) {
    if (de->d_type == DT_SOCK || de->d_type == DT_UNKNOWN) {
      struct stat st{};
      if (::fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode)) out.push_back(de->d_name);
    }
    errno = 0;
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return ErrnoStatus("list directory for sockets", err);
  return out;
}

// The entries below the open directory `dfd` (at `path`) that the rules exclude, at any depth,
// appended to `out`, sockets included. What cannot be listed is not looked into.
void ExcludedBelowAt(int dfd, const std::string& path, const ExcludeSet& rules, std::vector<std::string>* out) {
  std::vector<TreeEntry> children;
  if (!ListLive(dfd, &children).ok()) return;
  for (const TreeEntry& c : children) {
    const std::string p = JoinPath(path, c.name);
    if (ExcludedEntry(rules, p, c.type)) {
      out->push_back(p);
    } else if (c.type == EntryType::kDir) {
      Fd sub(OpenDirAt(dfd, c.name));
      if (sub.fd >= 0) ExcludedBelowAt(sub.fd, p, rules, out);
    }
  }
  auto sockets = SocketsIn(dfd);
  if (!sockets.ok()) return;  // the removal, which lists it again, then says why
  for (const std::string& name : *sockets) {
    const std::string p = JoinPath(path, name);
    if (rules.Match(p, false) >= 0) out->push_back(p);
  }
}

// What the rules exclude below the live directory `path` of the target (not below a symlink).
std::vector<std::string> ExcludedBelowLive(int root_fd, const std::string& path, const ExcludeSet& rules) {
  std::vector<std::string> out;
  if (path.empty()) return out;
  auto fd = OpenDirBelow(root_fd, path);
  if (!fd.ok()) return out;
  Fd dir(*fd);
  ExcludedBelowAt(dir.fd, path, rules, &out);
  return out;
}

// Whether the live file `now` (as the verify's walk saw it) at `path` holds the content and
// metadata of the snapshot's file `first`, whose place something else keeps (a directory
// holding excluded entries, an excluded folder, a symlink out of the installation: MakePlan
// wrote the hardlinks of `first` as a file of their own, which the verify then finds unlinked;
// it compares no metadata for them). Where `first` is not one the plan kept, the verify reports
// `first` itself.
bool HoldsContentOfKeptWhole(TreeCache* trees, const Snapshot& snap, int root_fd, const std::string& path,
                             TreeEntry now, const std::string& first) {
  auto at_first = StatPathAt(root_fd, first);
  if (!at_first.ok() || S_ISREG(at_first->st_mode)) return false;
  auto want = FindSnapshotEntry(trees, snap, first);
  if (!want.ok() || want->type != EntryType::kFile || !want->xxh128) return false;
  auto dir = OpenDirBelow(root_fd, ParentOf(path));
  if (!dir.ok()) return false;
  Fd d(*dir);
  Hashed h;
  HashLive(d.fd, Leaf(path), &h);
  if (!h.status.ok() || h.bytes != want->size || !(h.hash == *want->xxh128)) return false;
  now.xattrs = std::move(h.xattrs);
  return MetaDiff(*want, now, /*compare_xattrs=*/true) == 0;
}

// The plan from a diff of the snapshot against the target. `relink_after`: the diff cannot
// tell whether a hardlink's target will be rewritten (two snapshots: equal subtrees are not
// visited), so every hardlink of the snapshot whose target the plan writes is linked again at
// the end.
Result<RollbackPlan> MakePlan(const Repository& repo, const Snapshot& snap, TreeCache* trees,
                              const DiffRunner& run_diff, bool relink_after, int target_fd) {
  const std::string target = FdPathOr(target_fd, "");  // for symlinks (TouchesExcluded)
  RollbackPlan plan;
  TreeCache local(repo);
  TreeCache& cache = trees ? *trees : local;
  std::unordered_set<std::string> written;           // files (re)written: their hardlinks follow
  std::unordered_set<std::string> created;           // paths the plan creates
  std::map<std::string, TreeEntry> dirmeta;           // directories whose metadata is set last
  std::vector<std::string> dirty;                     // parents of structural changes
  std::unordered_set<std::string> kept_whole;         // files of the snapshot left as something else
  auto create = [&](const std::string& path, const TreeEntry& e) {
    created.insert(path);
    RollbackStep s;
    s.path = path;
    s.entry = e;
    switch (e.type) {
      case EntryType::kDir:
      case EntryType::kExcludedDir:
        s.op = RollbackStep::Op::kMkdir;
        dirmeta[path] = e;
        break;
      case EntryType::kFile:
        s.op = RollbackStep::Op::kWrite;
        written.insert(path);
        plan.bytes_to_write += e.size;
        break;
      case EntryType::kSymlink: s.op = RollbackStep::Op::kSymlink; break;
      case EntryType::kHardlink: s.op = RollbackStep::Op::kLink; break;
      case EntryType::kFifo:
      case EntryType::kCharDevice:
      case EntryType::kBlockDevice: s.op = RollbackStep::Op::kNode; break;
    }
    plan.steps.push_back(std::move(s));
  };
  auto remove = [&](const std::string& path, EntryType live_type) {
    RollbackStep s;
    s.op = RollbackStep::Op::kRemove;
    s.path = path;
    // What lstat will find there (a snapshot's entry may say hardlink or excluded).
    if (live_type == EntryType::kHardlink) live_type = EntryType::kFile;
    if (live_type == EntryType::kExcludedDir) live_type = EntryType::kDir;
    s.live_type = live_type;
    plan.steps.push_back(std::move(s));
  };
  DiffOptions opts;
  opts.trees = &cache;
  opts.descend_added = false;   // a directory the snapshot lacks goes in one recursive removal
  opts.descend_removed = true;  // a directory the target lacks is created entry by entry
  opts.relink = [&](const std::string& target) { return written.count(target) > 0; };
  // Without the rules (a damaged snapshot) the entries recorded as excluded still count.
  ExcludeSet rules;
  const bool have_rules = SnapshotExcludes(snap, &rules).ok();
  auto on_change = [&](const Change& c) -> Status {
    if (TouchesExcluded(have_rules ? &rules : nullptr, c, target)) {
      plan.kept_excluded.push_back(c.path);
      // A file of the snapshot where an excluded folder (`cache/`) or a symlink out of the
      // installation now is: its hardlinks cannot link to it (below).
      if (c.kind == ChangeKind::kType && c.has_old && c.old_entry.type == EntryType::kFile) kept_whole.insert(c.path);
      dirty.push_back(ParentOf(c.path));  // its directory's times moved when it came
      return Status::OK();
    }
    // A directory the snapshot lacks there, holding an excluded entry (an unanchored rule such
    // as `cache/`, a file rule such as `*.log`): an added one loses everything else (the removal
    // leaves excluded entries and the directories leading to them), one in place of a file or
    // symlink is left whole. The target is looked into: the trees of a safety snapshot do not
    // record excluded files.
    if ((c.kind == ChangeKind::kAdded || c.kind == ChangeKind::kType) && c.has_new &&
        c.new_entry.type == EntryType::kDir) {
      const std::vector<std::string> inside = ExcludedBelowLive(target_fd, c.path, rules);
      if (!inside.empty() && c.kind == ChangeKind::kType) {
        plan.kept_excluded.push_back(c.path);
        kept_whole.insert(c.path);
        dirty.push_back(ParentOf(c.path));
        return Status::OK();
      }
      plan.kept_excluded.insert(plan.kept_excluded.end(), inside.begin(), inside.end());
    }
    switch (c.kind) {
      case ChangeKind::kAdded:
        if (Unread(snap.unread, c.path)) {
          plan.kept_unread.push_back(c.path);
          break;
        }
        remove(c.path, c.new_entry.type);
        plan.remove.push_back(c.path);
        dirty.push_back(ParentOf(c.path));
        break;
      case ChangeKind::kRemoved:
        create(c.path, c.old_entry);
        plan.create.push_back(c.path);
        dirty.push_back(ParentOf(c.path));
        break;
      case ChangeKind::kType:
        remove(c.path, c.new_entry.type);
        create(c.path, c.old_entry);
        plan.replace.push_back(c.path);
        dirty.push_back(ParentOf(c.path));
        break;
      case ChangeKind::kContent:
        create(c.path, c.old_entry);
        plan.rewrite.push_back(c.path);
        // Two snapshots: the file there now, with its blobs (a live diff has none).
        if (c.has_new && c.new_entry.type == EntryType::kFile && !c.new_entry.content.empty()) {
          plan.now.emplace(c.path, c.new_entry);
        }
        dirty.push_back(ParentOf(c.path));
        break;
      case ChangeKind::kMetadata:
        plan.fix.push_back(c.path);
        if (c.path.empty() || c.old_entry.type == EntryType::kDir || c.old_entry.type == EntryType::kExcludedDir) {
          dirmeta[c.path] = c.old_entry;
        } else {
          RollbackStep s;
          s.op = RollbackStep::Op::kMeta;
          s.path = c.path;
          s.entry = c.old_entry;
          plan.steps.push_back(std::move(s));
        }
        break;
    }
    return Status::OK();
  };
  RW_RETURN_IF_ERROR(run_diff(opts, on_change, &plan.diff));
  if (relink_after && !written.empty() && snap.tree) {
    std::vector<std::pair<std::string, TreeEntry>> links;
    RW_RETURN_IF_ERROR(CollectHardlinks(repo, &cache, *snap.tree, "", &links));
    for (const auto& [path, e] : links) {
      if (!written.count(e.link_target) || created.count(path)) continue;
      create(path, e);
      plan.rewrite.push_back(path);
      dirty.push_back(ParentOf(path));
    }
  }
  // A hardlink of a file whose first name is kept as something else (above: a directory holding
  // excluded entries, an excluded folder, a symlink out of the installation) cannot be linked to
  // it: the first of its names the plan makes gets the file's content, the others are linked to
  // that one (the group stays one inode, under another first name).
  if (!kept_whole.empty()) {
    std::unordered_map<std::string, std::string> first;  // kept whole -> the name written instead
    for (RollbackStep& s : plan.steps) {
      if (s.op != RollbackStep::Op::kLink || !kept_whole.count(s.entry.link_target)) continue;
      if (auto it = first.find(s.entry.link_target); it != first.end()) {
        s.entry.link_target = it->second;
        continue;
      }
      RW_ASSIGN_OR_RETURN(TreeEntry e, FindSnapshotEntry(&cache, snap, s.entry.link_target));
      if (e.type != EntryType::kFile) continue;
      first.emplace(s.entry.link_target, s.path);
      e.name = s.entry.name;
      s.entry = std::move(e);
      s.op = RollbackStep::Op::kWrite;
      plan.bytes_to_write += s.entry.size;
    }
  }
  // Every directory whose entries changed gets its times back at the end.
  for (const std::string& d : dirty) {
    if (dirmeta.count(d)) continue;
    auto e = FindSnapshotEntry(&cache, snap, d);
    if (!e.ok()) {
      if (d.empty()) continue;  // an old snapshot without a root entry
      return e.status();
    }
    dirmeta[d] = std::move(*e);
  }
  std::vector<std::pair<std::string, TreeEntry>> dirs(dirmeta.begin(), dirmeta.end());
  std::stable_sort(dirs.begin(), dirs.end(),
                   [](const auto& a, const auto& b) { return Depth(a.first) > Depth(b.first); });
  for (auto& [path, e] : dirs) {
    RollbackStep s;
    s.op = RollbackStep::Op::kDirMeta;
    s.path = path;
    s.entry = std::move(e);
    plan.steps.push_back(std::move(s));
  }
  return plan;
}

}  // namespace

Result<RollbackPlan> PlanRollback(const Repository& repo, const Snapshot& snap, int target_fd, TreeCache* trees) {
  return MakePlan(
      repo, snap, trees,
      [&](const DiffOptions& o, const ChangeFn& fn, DiffStats* st) { return DiffLiveAt(repo, snap, target_fd, o, fn, st); },
      false, target_fd);
}

Result<RollbackPlan> PlanRollbackFrom(const Repository& repo, const Snapshot& snap, const Snapshot& now,
                                      int target_fd, TreeCache* trees) {
  return MakePlan(
      repo, snap, trees,
      [&](const DiffOptions& o, const ChangeFn& fn, DiffStats* st) { return DiffSnapshots(repo, snap, now, o, fn, st); },
      true, target_fd);
}

// -----------------------------------------------------------------------------------------------
// Journal (docs/format.md §10).

namespace {

std::string EncodeStepEntry(const RollbackStep& s) {
  if (s.op == RollbackStep::Op::kRemove) return "-";
  TreeEntry e = s.entry;
  e.name = s.path.empty() ? "-" : Leaf(s.path);
  if (e.type == EntryType::kDir && !e.subtree) e.subtree = BlobId{};
  Tree t;
  t.entries.push_back(std::move(e));
  return EncodeTree(t);
}

}  // namespace

std::string EncodeRollbackJournal(const RollbackJournal& j) {
  std::string out;
  out += kJournalMagic;
  out += "\nsnapshot " + j.snapshot_id;
  out += "\ntarget " + HexOrDash(j.target);
  out += "\nsafety " + (j.safety_snapshot_id.empty() ? std::string("-") : j.safety_snapshot_id);
  out += std::string("\nfiles ") + (j.files ? "1" : "0");
  out += std::string("\ndatabases ") + (j.databases ? "1" : "0");
  out += "\nstop " + HexOrDash(j.stop_cmd);
  out += "\nstart " + HexOrDash(j.start_cmd);
  out += "\nsteps " + std::to_string(j.steps.size()) + "\n";
  for (const RollbackStep& s : j.steps) {
    out += RollbackOpName(s.op);
    out += " " + (s.path.empty() ? std::string("-") : HexEncode(s.path));
    out += std::string(" ") + EntryTypeName(s.live_type);
    out += " " + EncodeStepEntry(s) + "\n";
  }
  uint64_t sum = Xxh3_64(out);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(sum));
  out += std::string("checksum ") + buf + "\n";
  return out;
}

Result<RollbackJournal> DecodeRollbackJournal(std::string_view text) {
  auto bad = [](const std::string& what) { return Status::Corruption("rollback journal: " + what); };
  size_t cs = text.rfind("checksum ");
  if (cs == std::string_view::npos || (cs > 0 && text[cs - 1] != '\n')) return bad("no checksum line");
  std::string_view body = text.substr(0, cs);
  std::string_view sum_line = text.substr(cs + 9);
  while (!sum_line.empty() && sum_line.back() == '\n') sum_line.remove_suffix(1);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(Xxh3_64(body)));
  if (sum_line != buf) return bad("checksum mismatch (the journal is damaged)");
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t nl = body.find('\n', pos);
    if (nl == std::string_view::npos) return bad("unterminated line");
    lines.push_back(body.substr(pos, nl - pos));
    pos = nl + 1;
  }
  if (lines.size() < 9 || lines[0] != kJournalMagic) return bad("not a journal of this version");
  RollbackJournal j;
  auto field = [&](size_t i, std::string_view key, std::string_view* value) -> Status {
    std::string_view l = lines[i];
    if (l.size() <= key.size() || l.substr(0, key.size()) != key || l[key.size()] != ' ') {
      return bad("line " + std::to_string(i + 1) + ": expected " + std::string(key));
    }
    *value = l.substr(key.size() + 1);
    return Status::OK();
  };
  std::string_view v;
  RW_RETURN_IF_ERROR(field(1, "snapshot", &v));
  j.snapshot_id = std::string(v);
  RW_RETURN_IF_ERROR(field(2, "target", &v));
  if (!UnHexOrDash(v, &j.target)) return bad("bad target");
  RW_RETURN_IF_ERROR(field(3, "safety", &v));
  j.safety_snapshot_id = v == "-" ? "" : std::string(v);
  RW_RETURN_IF_ERROR(field(4, "files", &v));
  j.files = v == "1";
  RW_RETURN_IF_ERROR(field(5, "databases", &v));
  j.databases = v == "1";
  RW_RETURN_IF_ERROR(field(6, "stop", &v));
  if (!UnHexOrDash(v, &j.stop_cmd)) return bad("bad stop command");
  RW_RETURN_IF_ERROR(field(7, "start", &v));
  if (!UnHexOrDash(v, &j.start_cmd)) return bad("bad start command");
  RW_RETURN_IF_ERROR(field(8, "steps", &v));
  size_t n = std::strtoull(std::string(v).c_str(), nullptr, 10);
  if (lines.size() != 9 + n) return bad("step count disagrees with the lines");
  j.steps.reserve(n);
  for (size_t i = 9; i < lines.size(); ++i) {
    std::string_view l = lines[i];
    std::string where = "step " + std::to_string(i - 8) + ": ";
    size_t a = l.find(' '), b = a == std::string_view::npos ? a : l.find(' ', a + 1),
           c = b == std::string_view::npos ? b : l.find(' ', b + 1);
    if (c == std::string_view::npos) return bad(where + "too few fields");
    RollbackStep s;
    if (!ParseOp(l.substr(0, a), &s.op)) return bad(where + "unknown operation");
    if (!UnHexOrDash(l.substr(a + 1, b - a - 1), &s.path)) return bad(where + "bad path");
    if (!ParseEntryType(l.substr(b + 1, c - b - 1), &s.live_type)) return bad(where + "bad type");
    std::string_view entry = l.substr(c + 1);
    if (entry != "-") {
      auto t = DecodeTree(entry);
      if (!t.ok()) return bad(where + t.status().message());
      if (t->entries.size() != 1) return bad(where + "expected one entry");
      s.entry = std::move(t->entries[0]);
      if (s.entry.type == EntryType::kDir && s.entry.subtree == BlobId{}) s.entry.subtree.reset();
      s.entry.name = Leaf(s.path);
    } else if (s.op != RollbackStep::Op::kRemove) {
      return bad(where + "no entry");
    }
    j.steps.push_back(std::move(s));
  }
  return j;
}

// -----------------------------------------------------------------------------------------------
// Applying.

namespace {

bool IsRoot() {
  static const bool root = ::geteuid() == 0;
  return root;
}

// Owner, mode, xattrs, times of an open file or directory.
Status SetMetaFd(int fd, const TreeEntry& e) {
  if (IsRoot() && ::fchown(fd, e.uid, e.gid) != 0) return ErrnoStatus("set owner", errno);
  if (::fchmod(fd, e.mode & 07777) != 0) return ErrnoStatus("set mode", errno);
  RW_RETURN_IF_ERROR(SetXattrsExact(fd, e.xattrs));
  timespec ts[2] = {ToTimespec(e.mtime_ns), ToTimespec(e.mtime_ns)};
  if (::futimens(fd, ts) != 0) return ErrnoStatus("set times", errno);
  return Status::OK();
}

// Removes the directory `name` (at `rel` in the target) and what it holds, but for the entries
// `rules` exclude (unanchored rules match deeper down) and the directories leading to them:
// `*kept` is then set, and the directory stays.
Status RemoveTreeAt(int dfd, const std::string& name, const std::string& rel, const ExcludeSet* rules, bool* kept) {
  Fd dir(OpenDirAt(dfd, name));
  if (dir.fd < 0) {
    if (errno == ENOENT) return Status::OK();
    return ErrnoStatus("open directory to remove", errno);
  }
  // A mount point is never emptied: its files are not the target's. A bind mount of the same
  // file system has the parent's st_dev: the kernel's mount-root attribute tells (Linux 5.8).
  struct stat parent_st{}, st{};
  struct statx stx{};
  const bool mount_root = ::statx(dir.fd, "", AT_EMPTY_PATH, 0, &stx) == 0 &&
                          (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0 &&
                          (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  if (mount_root ||
      (::fstat(dfd, &parent_st) == 0 && ::fstat(dir.fd, &st) == 0 && st.st_dev != parent_st.st_dev)) {
    return Status::InvalidArgument("is a mount point: not removed (unmount it first)");
  }
  std::vector<TreeEntry> children;
  RW_RETURN_IF_ERROR(ListLive(dir.fd, &children));
  bool kept_here = false;
  for (const TreeEntry& c : children) {
    const std::string p = JoinPath(rel, c.name);
    if (rules && ExcludedEntry(*rules, p, c.type)) {
      kept_here = true;
    } else if (c.type == EntryType::kDir) {
      RW_RETURN_IF_ERROR(RemoveTreeAt(dir.fd, c.name, p, rules, &kept_here).WithContext(c.name));
    } else if (::unlinkat(dir.fd, c.name.c_str(), 0) != 0 && errno != ENOENT) {
      return ErrnoStatus("remove " + c.name, errno);
    }
  }
  // Sockets are not listed: an excluded one stays (ExcludedBelowAt lists it for the plan).
  RW_ASSIGN_OR_RETURN(std::vector<std::string> sockets, SocketsIn(dir.fd));
  for (const std::string& n : sockets) {
    if (rules && rules->Match(JoinPath(rel, n), false) >= 0) {
      kept_here = true;
    } else if (::unlinkat(dir.fd, n.c_str(), 0) != 0 && errno != ENOENT) {
      return ErrnoStatus("remove socket " + n, errno);
    }
  }
  if (kept_here) {
    if (kept) *kept = true;
    return Status::OK();
  }
  if (::unlinkat(dfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return ErrnoStatus("remove directory", errno);
  }
  return Status::OK();
}

// A new descriptor of the directory `parent` (not empty) below `root_fd` (OpenDirPath: one
// openat2 where the kernel has it; the data check and the apply open the directory of each
// file they write), or an error naming the component that could not be opened.
Result<int> OpenDirBelow(int root_fd, const std::string& parent) {
  size_t failed_len = parent.size();
  int fd = OpenDirPath(root_fd, parent, &failed_len);
  if (fd >= 0) return fd;
  const int err = errno;
  return ErrnoStatus("open directory " + parent.substr(0, failed_len) +
                         (err == ELOOP || err == ENOTDIR ? " (not a directory; symlinks are never followed)" : ""),
                     err);
}

// Files of the plan's `write` steps written while their blobs are read and checked (before
// anything of the target changes): unnamed (O_TMPFILE) in their directories, so that nothing
// shows and a crash leaves nothing. The apply only gives them their metadata and names. By path.
struct PreparedFiles {
  std::unordered_map<std::string, restore_internal::NewFile> files;
  uint64_t bytes_copied = 0;  // copied from the files there now (LiveCopy)
  PreparedFiles() = default;
  PreparedFiles(const PreparedFiles&) = delete;
  PreparedFiles& operator=(const PreparedFiles&) = delete;
  ~PreparedFiles() { Clear(); }
  void Clear() {
    for (auto& [path, f] : files) {
      if (f.fd >= 0) ::close(f.fd);
    }
    files.clear();
  }
};

// The file systems the apply changed: the target's, and any mounted below it that the plan
// reached (a data volume mounted on a folder of the installation). syncfs of the target's
// descriptor writes back its own file system only: each of the others is synced through a
// directory of it, so that a checkpoint or the journal's removal never counts steps done whose
// files are not yet on their disk.
class TargetFileSystems {
 public:
  explicit TargetFileSystems(int root_fd) : root_fd_(root_fd) {
    struct stat st{};
    if (::fstat(root_fd, &st) == 0) root_dev_ = st.st_dev;
  }
  // A directory the apply opened below the target.
  void Saw(int dir_fd) {
    struct stat st{};
    if (::fstat(dir_fd, &st) != 0 || st.st_dev == root_dev_) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (others_.count(st.st_dev)) return;
    const int fd = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
    if (fd >= 0) others_.emplace(st.st_dev, std::make_unique<Fd>(fd));
  }
  // syncfs of each (it reports a failed writeback since Linux 5.8).
  Status Sync(const std::string& what) {
    if (::syncfs(root_fd_) != 0) return ErrnoStatus(what + " (syncfs)", errno);
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [dev, fd] : others_) {
      if (::syncfs(fd->fd) != 0) {
        return ErrnoStatus(what + " (syncfs of the file system holding " + FdPathOr(fd->fd, "a folder of the target") + ")", errno);
      }
    }
    return Status::OK();
  }

 private:
  int root_fd_;
  dev_t root_dev_ = 0;
  std::mutex mu_;
  std::map<dev_t, std::unique_ptr<Fd>> others_;
};

class Applier {
 public:
  Applier(Repository* repo, int root_fd, RollbackProgress* progress, restore_internal::DeferredClose* released,
          PreparedFiles* prepared, TargetFileSystems* file_systems)
      : repo_(repo),
        root_fd_(root_fd),
        writer_(repo),
        progress_(progress),
        released_(released),
        prepared_(prepared),
        file_systems_(file_systems) {
    writer_.set_deferred_close(released);
  }

  Status Apply(const RollbackStep& s) {
    if (s.op == RollbackStep::Op::kDirMeta && s.path.empty()) return SetMetaFd(root_fd_, s.entry);
    std::string leaf;
    RW_ASSIGN_OR_RETURN(int dfd, Parent(s.path));
    leaf = Leaf(s.path);
    switch (s.op) {
      case RollbackStep::Op::kRemove: {
        // Cached directories below the removed one become stale.
        if (!cached_path_.empty() && (cached_path_ == s.path || cached_path_.rfind(s.path + "/", 0) == 0)) {
          cached_.Reset();
          cached_path_.clear();
          cached_valid_ = false;
        }
        struct stat st{};
        if (::fstatat(dfd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
          if (errno == ENOENT) return Status::OK();  // done before an interruption
          return ErrnoStatus("stat", errno);
        }
        TreeEntry now;
        FillEntryFromStat(st, &now);
        if (now.type != s.live_type) return Status::OK();  // already replaced
        if (now.type == EntryType::kDir) return RemoveTreeAt(dfd, leaf, s.path, rules_, nullptr);
        int old = released_ ? ::openat(dfd, leaf.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC) : -1;
        if (::unlinkat(dfd, leaf.c_str(), 0) != 0 && errno != ENOENT) {
          int err = errno;
          if (old >= 0) ::close(old);
          return ErrnoStatus("remove", err);
        }
        if (old >= 0) released_->Add(old);  // freed in the background
        return Status::OK();
      }
      case RollbackStep::Op::kMkdir: {
        if (::mkdirat(dfd, leaf.c_str(), 0700) == 0) return Status::OK();
        int err = errno;
        struct stat st{};
        if (err == EEXIST && ::fstatat(dfd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
          return Status::OK();
        }
        return ErrnoStatus("create directory", err);
      }
      case RollbackStep::Op::kWrite:
        return Write(dfd, s);
      case RollbackStep::Op::kSymlink: {
        std::string tmp = TempName();
        if (::symlinkat(s.entry.link_target.c_str(), dfd, tmp.c_str()) != 0) {
          return ErrnoStatus("create symlink", errno);
        }
        return MetaAndRename(dfd, tmp, leaf, s.entry, true);
      }
      case RollbackStep::Op::kNode: {
        std::string tmp = TempName();
        int rc;
        if (s.entry.type == EntryType::kFifo) {
          rc = ::mkfifoat(dfd, tmp.c_str(), s.entry.mode & 07777);
        } else {
          mode_t type = s.entry.type == EntryType::kCharDevice ? S_IFCHR : S_IFBLK;
          rc = ::mknodat(dfd, tmp.c_str(), type | (s.entry.mode & 07777), static_cast<dev_t>(s.entry.rdev));
        }
        if (rc != 0) return ErrnoStatus("create node", errno);
        return MetaAndRename(dfd, tmp, leaf, s.entry, false);
      }
      case RollbackStep::Op::kLink: {
        // Already linked (rename of two names of one inode would do nothing)?
        auto target = StatPathAt(root_fd_, s.entry.link_target);
        if (!target.ok()) return target.status().WithContext("hardlink target " + s.entry.link_target);
        // A snapshot links regular files only: anything else there now (a symlink put in its
        // place) is not linked to.
        if (!S_ISREG(target->st_mode)) {
          return Status::IOError("hardlink target " + s.entry.link_target + " is not a regular file now: not linked");
        }
        struct stat st{};
        if (::fstatat(dfd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino == target->st_ino &&
            st.st_dev == target->st_dev) {
          return Status::OK();
        }
        std::string tmp = TempName();
        RW_RETURN_IF_ERROR(restore_internal::MakeHardlink(root_fd_, s.entry.link_target, dfd, tmp));
        if (::renameat(dfd, tmp.c_str(), dfd, leaf.c_str()) != 0) {
          int err = errno;
          ::unlinkat(dfd, tmp.c_str(), 0);
          return ErrnoStatus("rename into place", err);
        }
        return Status::OK();
      }
      case RollbackStep::Op::kMeta: {
        // Something else there since the plan (a symlink, a FIFO): not touched, and the verify
        // reports it. (A step that failed on it would stop every resume as well.)
        struct stat st{};
        if (::fstatat(dfd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return ErrnoStatus("stat", errno);
        TreeEntry now;
        FillEntryFromStat(st, &now);
        const EntryType want = s.entry.type == EntryType::kHardlink ? EntryType::kFile : s.entry.type;
        if (now.type != want) return Status::OK();
        if (s.entry.type == EntryType::kFile) {
          struct stat unused{};
          auto fd = OpenRegularFile(dfd, leaf, s.path, &unused);
          if (!fd.ok()) return fd.status();
          Fd f(*fd);
          return SetMetaFd(f.fd, s.entry);
        }
        TreeEntry e = s.entry;
        e.name = leaf;
        // Exactly the snapshot's xattrs: ones the upgrade added are removed too.
        return restore_internal::SetMetadataAt(dfd, e, e.type == EntryType::kSymlink, /*exact_xattrs=*/true);
      }
      case RollbackStep::Op::kDirMeta: {
        Fd dir(OpenDirAt(dfd, leaf));
        if (dir.fd < 0) return ErrnoStatus("open directory", errno);
        // A mount point's metadata is its file system's root's.
        if (file_systems_) file_systems_->Saw(dir.fd);
        return SetMetaFd(dir.fd, s.entry);
      }
    }
    return Status::OK();
  }

  // Runs the `write` steps [begin, end) in parallel (they name distinct paths whose directories
  // exist). On failure returns the error of the first failed step in plan order.
  Status ApplyWrites(const std::vector<RollbackStep>& steps, size_t begin, size_t end, int delay_us) {
    std::map<std::string, std::shared_ptr<Fd>> dirs;
    std::vector<int> dfd(end - begin, -1);
    for (size_t i = begin; i < end; ++i) {
      std::string parent = ParentOf(steps[i].path);
      if (parent.empty()) {
        dfd[i - begin] = root_fd_;
        continue;
      }
      auto it = dirs.find(parent);
      if (it == dirs.end()) {
        auto fd = OpenPath(parent);
        if (!fd.ok()) return fd.status().WithContext("write " + steps[i].path);
        it = dirs.emplace(parent, std::make_shared<Fd>(*fd)).first;
      }
      dfd[i - begin] = it->second->fd;
    }
    std::vector<Status> results(end - begin);
    std::vector<size_t> order(end - begin);
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    tbb::parallel_for_each(order.begin(), order.end(), [&](size_t k) {
      results[k] = Write(dfd[k], steps[begin + k]);
      if (delay_us > 0) ::usleep(static_cast<useconds_t>(delay_us));
    });
    for (size_t k = 0; k < results.size(); ++k) {
      if (!results[k].ok()) return results[k].WithContext("write " + steps[begin + k].path);
    }
    return Status::OK();
  }

  // Removes temporaries (".rewind-" + 16 hex) an interrupted run left in `dir`.
  void RemoveTemporaries(const std::string& dir) {
    auto dfd = dir.empty() ? Result<int>(root_fd_) : Parent(dir + "/x");
    if (!dfd.ok()) return;
    std::vector<TreeEntry> children;
    if (!ListLive(*dfd, &children).ok()) return;
    for (const TreeEntry& c : children) {
      if (c.type != EntryType::kDir && IsTempName(c.name)) ::unlinkat(*dfd, c.name.c_str(), 0);
    }
  }

  void set_blobs_checked(bool checked) { writer_.set_blobs_checked(checked); }
  // The snapshot's exclusion rules: a removed directory keeps what they exclude.
  void set_rules(const ExcludeSet* rules) { rules_ = rules; }
  uint64_t bytes_written() const { return restore_progress_.bytes_written.load(); }
  std::vector<std::string> notes() const { return writer_.notes(); }

 private:
  // A `write` step: the prepared file given its metadata and name, or the file written now.
  // A disk found full while replaced files wait to be freed (DeferredClose) is tried once more
  // after they are: each file written anew needs its inode and blocks before the old is freed.
  Status Write(int dfd, const RollbackStep& s) {
    if (prepared_) {
      // Distinct steps touch distinct elements: safe from parallel writes (the map is not changed).
      auto it = prepared_->files.find(s.path);
      if (it != prepared_->files.end() && it->second.fd >= 0) {
        restore_internal::NewFile f = it->second;
        it->second.fd = -1;
        Status st = writer_.Finish(dfd, s.entry, &f, &restore_progress_);
        if (st.ok()) {
          restore_progress_.bytes_written += s.entry.size;
          return st;
        }
        if (st.code() != Code::kNoSpace || !released_) return st;
        released_->WaitIdle();  // the prepared file is gone: written from the packs below
        return writer_.Write(dfd, s.entry, &restore_progress_);
      }
    }
    Status st = writer_.Write(dfd, s.entry, &restore_progress_);
    if (st.code() == Code::kNoSpace && released_) {
      released_->WaitIdle();
      st = writer_.Write(dfd, s.entry, &restore_progress_);
    }
    return st;
  }

  Status MetaAndRename(int dfd, const std::string& tmp, const std::string& leaf, const TreeEntry& entry,
                       bool is_symlink) {
    TreeEntry e = entry;
    e.name = tmp;
    Status s = restore_internal::SetMetadataAt(dfd, e, is_symlink);
    if (s.ok() && ::renameat(dfd, tmp.c_str(), dfd, leaf.c_str()) != 0) s = ErrnoStatus("rename into place", errno);
    if (!s.ok()) ::unlinkat(dfd, tmp.c_str(), 0);
    return s;
  }

  // The directory holding `path`, opened component by component with O_NOFOLLOW; cached.
  Result<int> Parent(const std::string& path) {
    std::string parent = ParentOf(path);
    if (parent.empty()) return root_fd_;
    if (cached_valid_ && cached_path_ == parent) return cached_.fd;
    RW_ASSIGN_OR_RETURN(int cur, OpenPath(parent));
    cached_.Reset(cur);
    cached_path_ = parent;
    cached_valid_ = true;
    return cur;
  }

  Result<int> OpenPath(const std::string& parent) {
    RW_ASSIGN_OR_RETURN(int fd, OpenDirBelow(root_fd_, parent));
    if (file_systems_) file_systems_->Saw(fd);
    return fd;
  }

  Repository* repo_;
  const ExcludeSet* rules_ = nullptr;
  int root_fd_;
  restore_internal::FileWriter writer_;
  RollbackProgress* progress_;
  restore_internal::DeferredClose* released_;
  PreparedFiles* prepared_;
  TargetFileSystems* file_systems_;
  RestoreProgress restore_progress_;
  Fd cached_;
  std::string cached_path_;
  bool cached_valid_ = false;
};

// Reads and hashes (LoadBlobAt checks SHA-256) every blob the plan will write, in parallel, in
// pack and offset order. Right after a backup the data packs are not cached (written past the
// page cache), and a rollback needs scattered frames of many packs: the storage is told what
// comes (WillLoad) a window of kCheckWindow bytes ahead of the reads.
//
// With `prepared`, the files of the `write` steps are written as their blobs are read (a blob
// to every offset that has it), unnamed (O_TMPFILE) in their directories below `root_fd`: the
// apply then only names them, and nothing is read or decompressed twice. Nothing shows before
// the apply, and on any failure every prepared file is dropped. Left to be written by the
// apply: a file whose directory the plan itself creates, removes or replaces; files beyond
// half the free descriptors (at most 64k files) or half the free space of the target's file
// system (the old files are still there); all of them where O_TMPFILE is not supported.
constexpr uint64_t kCheckWindow = 64 << 20;

// Lets the page cache of the file `name` in `dfd` go, when it is a regular file: the rollback
// replaces it and has read from it what it needed. The new file's pages then reuse its memory
// instead of fresh memory, which on a VM that hands freed memory back to its host costs a
// fault in the host per page touched (on the bench VM, writing 163 MiB into fresh page cache
// took 0.7-1.0 s of system time against 0.03 s into recently freed memory).
void DropCachedPages(int dfd, const std::string& name) {
  Fd old(::openat(dfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  struct stat st{};
  if (old.fd >= 0 && ::fstat(old.fd, &st) == 0 && S_ISREG(st.st_mode)) {
    ::posix_fadvise(old.fd, 0, 0, POSIX_FADV_DONTNEED);
  }
}

// A file of a `write` step written before the apply (CheckPlanBlobs), unnamed in `dfd`.
struct PreparedWrite {
  const RollbackStep* step = nullptr;
  int dfd = -1;  // its directory; the file is created when its first blob comes (without one: after)
  std::once_flag created;
  dev_t dev = 0;  // of its directory
  int fd = -1;
  int err = 0;
  // Counts on blobs copied from the file there now, unchecked: it may not be left to the apply.
  bool must_create = false;
  // The file there now is replaced and nothing is copied from it: its page cache goes first.
  bool drop_old = false;
  std::atomic<size_t> blobs_left{0};  // writes still to come; at 0 its writeback starts
  bool Create() {
    std::call_once(created, [&] {
      if (drop_old) DropCachedPages(dfd, Leaf(step->path));
      // Readable: a file with ranges copied from the file there now is read back and checked.
      fd = ::openat(dfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
      if (fd < 0) err = errno;
    });
    return fd >= 0;
  }
};

// IOError when the files the plan creates where the target has none (plan.create: deleted by
// the upgrade) do not fit in the free space of the file system each goes to: the apply would
// stop part way at the first that does not (what it rewrites takes about the room its old file
// frees, and is not counted). Only when their total exceeds the target's own free space are
// their directories looked at, for a file system mounted below the target.
Status CheckRoomForCreates(const RollbackPlan& plan, int root_fd, const std::string& target) {
  if (plan.create.empty()) return Status::OK();
  const std::unordered_set<std::string> creates(plan.create.begin(), plan.create.end());
  auto blocks_of = [](uint64_t size) { return (size + 4095) / 4096 * 4096; };
  auto free_of = [](int fd) -> std::optional<uint64_t> {
    struct statvfs vfs{};
    if (::fstatvfs(fd, &vfs) != 0) return std::nullopt;
    return (IsRoot() ? vfs.f_bfree : vfs.f_bavail) * vfs.f_frsize;  // root may use the reserved blocks
  };
  uint64_t total = 0;
  for (const RollbackStep& st : plan.steps) {
    if (st.op == RollbackStep::Op::kWrite && creates.count(st.path)) total += blocks_of(st.entry.size);
  }
  const auto root_free = free_of(root_fd);
  if (!root_free || total <= *root_free) return Status::OK();
  // By file system: each file counts where its nearest existing directory is.
  struct stat root_st{};
  if (::fstat(root_fd, &root_st) != 0) return Status::OK();
  struct Need {
    uint64_t bytes = 0, free = 0;
    std::string where;
  };
  std::unordered_map<dev_t, Need> needs;
  needs[root_st.st_dev] = Need{0, *root_free, target};
  std::unordered_map<std::string, dev_t> dev_of_dir;
  for (const RollbackStep& st : plan.steps) {
    if (st.op != RollbackStep::Op::kWrite || !creates.count(st.path)) continue;
    std::string dir = ParentOf(st.path);
    dev_t dev = root_st.st_dev;
    if (auto it = dev_of_dir.find(dir); it != dev_of_dir.end()) {
      dev = it->second;
    } else {
      for (std::string d = dir; !d.empty(); d = ParentOf(d)) {
        auto fd = OpenDirBelow(root_fd, d);
        if (!fd.ok()) continue;  // created by the plan: its parent's file system
        Fd dfd(*fd);
        struct stat ds{};
        if (::fstat(dfd.fd, &ds) == 0 && ds.st_dev != root_st.st_dev) {
          dev = ds.st_dev;
          if (!needs.count(dev)) needs[dev] = Need{0, free_of(dfd.fd).value_or(UINT64_MAX), JoinPath(target, d)};
        }
        break;
      }
      dev_of_dir[dir] = dev;
    }
    needs[dev].bytes += blocks_of(st.entry.size);
  }
  for (const auto& [dev, n] : needs) {
    if (n.bytes <= n.free) continue;
    return Status::IOError("the rollback creates " + HumanBytes(n.bytes) + " of files that " + n.where +
                           " does not have now, and its file system has " + HumanBytes(n.free) +
                           " free: the apply would stop part way. Free some space (not in the installation), "
                           "then run again: nothing was changed");
  }
  return Status::OK();
}

// Which `write` steps CheckPlanBlobs writes before the apply, in plan order, their directories
// opened into `dirs` (kept open until then). Returns why the rollback must be refused (a file
// system with no inode or no block free), or "".
std::string ChoosePreparedWrites(const std::vector<RollbackStep>& steps, int root_fd,
                                 std::vector<std::unique_ptr<Fd>>* dirs, std::deque<PreparedWrite>* made) {
  std::string refusal;
  // Paths whose type the plan changes: a write below one of them waits for the apply.
  std::unordered_set<std::string> reshaped;
  for (const RollbackStep& s : steps) {
    if (s.op != RollbackStep::Op::kWrite && s.op != RollbackStep::Op::kMeta && s.op != RollbackStep::Op::kDirMeta) {
      reshaped.insert(s.path);
    }
  }
  // Each prepared file is an open descriptor and an inode in memory (about 1.5 KiB of the
  // kernel's) until the apply, and takes its inode and its space while the file it replaces
  // still holds its own: at most half the free descriptors (directories counted) and 64k
  // files, and on each file system at most half the free inodes and half the free space.
  size_t max_fds = 0;
  struct rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 512) max_fds = (rl.rlim_cur - 256) / 2;
  const size_t max_files = std::min<size_t>(max_fds, size_t{1} << 16);
  // The candidates and their directories.
  std::unordered_map<std::string, size_t> dir_index;
  std::vector<std::string> dir_paths;
  std::unordered_set<std::string> chosen_paths;
  std::vector<std::pair<const RollbackStep*, size_t>> candidates;  // step, directory
  for (const RollbackStep& s : steps) {
    if (s.op != RollbackStep::Op::kWrite) continue;
    const std::string parent = ParentOf(s.path);
    if (!parent.empty() &&
        AnyPrefixOf(parent, [&](const std::string& p, bool) { return reshaped.count(p) > 0; })) {
      continue;
    }
    if (!chosen_paths.insert(s.path).second) continue;  // two writes of one path: left to the apply
    size_t dir = SIZE_MAX;
    if (!parent.empty()) {
      auto [it, added] = dir_index.emplace(parent, dir_paths.size());
      if (added) dir_paths.push_back(parent);
      dir = it->second;
    }
    candidates.emplace_back(&s, dir);
  }
  // Their directories, opened in parallel (each is a walk from the target down), and the
  // file system each is on.
  dirs->resize(dir_paths.size());
  std::vector<dev_t> dir_dev(dir_paths.size(), 0);
  tbb::parallel_for(size_t{0}, dir_paths.size(), [&](size_t i) {
    auto fd = OpenDirBelow(root_fd, dir_paths[i]);
    (*dirs)[i] = fd.ok() ? std::make_unique<Fd>(*fd) : std::make_unique<Fd>();
    struct stat st{};
    if ((*dirs)[i]->fd >= 0 && ::fstat((*dirs)[i]->fd, &st) == 0) dir_dev[i] = st.st_dev;
  });
  struct Room {
    uint64_t bytes = 0;                   // half of the free space
    uint64_t inodes = UINT64_MAX;         // half of the free inodes (none counted: no limit)
    bool no_inodes = false, no_space = false;
    std::string where;
  };
  std::unordered_map<dev_t, Room> rooms;
  auto room_of = [&](int dfd, dev_t dev, const std::string& where) -> Room& {
    auto [it, added] = rooms.emplace(dev, Room{});
    if (added) {
      Room& r = it->second;
      r.where = where.empty() ? std::string(".") : where;
      struct statvfs vfs{};
      if (::fstatvfs(dfd, &vfs) == 0) {
        // root may use the blocks and inodes reserved for it
        const uint64_t blocks = IsRoot() ? vfs.f_bfree : vfs.f_bavail;
        const uint64_t inodes = IsRoot() ? vfs.f_ffree : vfs.f_favail;
        r.bytes = blocks * vfs.f_frsize / 2;
        if (vfs.f_files != 0) r.inodes = inodes / 2;
        r.no_space = blocks == 0;
        r.no_inodes = vfs.f_files != 0 && inodes == 0;
      }
    }
    return it->second;
  };
  struct stat root_st{};
  const dev_t root_dev = ::fstat(root_fd, &root_st) == 0 ? root_st.st_dev : 0;
  size_t fds_used = dir_paths.size();
  for (const auto& [step, dir] : candidates) {
    if (made->size() >= max_files || fds_used >= max_fds) break;
    const int dfd = dir == SIZE_MAX ? root_fd : (*dirs)[dir]->fd;
    if (dfd < 0) continue;  // not there now: the apply reports it
    Room& room = room_of(dfd, dir == SIZE_MAX ? root_dev : dir_dev[dir], dir == SIZE_MAX ? "" : dir_paths[dir]);
    if ((room.no_inodes || (room.no_space && step->entry.size > 0)) && refusal.empty()) {
      // Every file the plan rewrites needs a new inode (and its blocks) before the old one
      // is freed: the apply would stop at the first.
      refusal = std::string(room.no_inodes ? "no inode" : "no space") + " is free on the file system holding " +
                    room.where + " (a rollback writes each file anew before the old one is freed)";
    }
    if (room.inodes == 0 || room.bytes < step->entry.size) continue;
    if (room.inodes != UINT64_MAX) room.inodes -= 1;
    room.bytes -= step->entry.size;
    made->emplace_back().step = step;
    made->back().dfd = dfd;
    made->back().dev = dir == SIZE_MAX ? root_dev : dir_dev[dir];
    fds_used += 1;
  }
  return refusal;
}

// A range of a prepared file copied from the file the target holds now: a blob both have.
struct LiveCopy {
  uint64_t from, to, length;
  BlobId id;
};

// Writes `copies` into `m`'s file from the file now at its path (`now`: as the safety snapshot
// saw it, which hashed those ranges). When that file is no longer the one the safety snapshot
// read (another device, inode, size or time, before or after the copy), cannot be read, or the
// complete file does not have the tree's XXH3-128, the copied ranges are read from the
// repository (and checked) instead: nothing but the snapshot's content gets a name. Adds the
// bytes copied to `*copied`. A failure to load a blob sets `*load_failed`.
Status WriteFromLive(Repository* repo, PreparedWrite& m, const TreeEntry& now, const std::vector<LiveCopy>& copies,
                     std::atomic<uint64_t>* copied, bool* load_failed) {
  thread_local std::string buf;
  auto same = [&](const struct stat& st) {
    return S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_dev) == now.device &&
           static_cast<uint64_t>(st.st_ino) == now.inode && static_cast<uint64_t>(st.st_size) == now.size &&
           MtimeNs(st) == now.mtime_ns && CtimeNs(st) == now.ctime_ns;
  };
  auto pread_all = [](int fd, char* p, size_t n, uint64_t off) {
    size_t got = 0;
    while (got < n) {
      const ssize_t r = ::pread(fd, p + got, n - got, static_cast<off_t>(off + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    return got == n;
  };
  bool from_live = false;
  uint64_t bytes = 0;
  {
    // Non-blocking: a FIFO put there since would block the open.
    Fd live(::openat(m.dfd, Leaf(m.step->path).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    struct stat st{};
    if (live.fd >= 0 && ::fstat(live.fd, &st) == 0 && same(st)) {
      from_live = true;
      for (const LiveCopy& c : copies) {
        buf.resize(c.length);
        if (!pread_all(live.fd, buf.data(), c.length, c.from)) {
          from_live = false;
          break;
        }
        RW_RETURN_IF_ERROR(restore_internal::WriteSparse(m.fd, buf, c.to));
        bytes += c.length;
      }
      if (from_live && (::fstat(live.fd, &st) != 0 || !same(st))) from_live = false;  // changed meanwhile
      if (from_live) ::posix_fadvise(live.fd, 0, 0, POSIX_FADV_DONTNEED);  // see DropCachedPages
    }
  }
  if (from_live && m.step->entry.xxh128) {
    // The whole file, as it will be named, against the tree (the data is in the page cache).
    Xxh128Stream whole;
    constexpr size_t kPiece = 1 << 20;
    buf.resize(kPiece);
    for (uint64_t off = 0; off < m.step->entry.size && from_live; off += kPiece) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kPiece, m.step->entry.size - off));
      if (!pread_all(m.fd, buf.data(), n, off)) from_live = false;
      else whole.Update(std::string_view(buf.data(), n));
    }
    if (from_live && !(whole.Digest() == *m.step->entry.xxh128)) from_live = false;
  }
  if (from_live) {
    *copied += bytes;
    return Status::OK();
  }
  // From the repository instead, zero blocks included: ranges copied from the live file before
  // it changed hold its bytes, which a sparse write would leave in the zero blocks.
  for (const LiveCopy& c : copies) {
    auto e = repo->Locate(c.id, BlobType::kData);
    auto blob = e.ok() ? repo->LoadBlobAt(*e) : Result<std::string>(e.status());
    if (!blob.ok()) {
      *load_failed = true;
      return blob.status();
    }
    RW_RETURN_IF_ERROR(bytes > 0 ? restore_internal::WriteAllAt(m.fd, *blob, c.to)
                                 : restore_internal::WriteSparse(m.fd, *blob, c.to));
  }
  return Status::OK();
}

// The path of the first `write` step whose content holds `id`, for a message (and how many
// others do).
std::string FirstUser(const std::vector<RollbackStep>& steps, const BlobId& id) {
  std::string first;
  size_t others = 0;
  for (const RollbackStep& s : steps) {
    if (s.op != RollbackStep::Op::kWrite ||
        std::find(s.entry.content.begin(), s.entry.content.end(), id) == s.entry.content.end()) {
      continue;
    }
    if (first.empty()) {
      first = s.path;
    } else {
      ++others;
    }
  }
  if (first.empty()) return "no file";
  return first + (others ? " and " + std::to_string(others) + " more" : "");
}

Status CheckPlanBlobs(Repository* repo, const std::vector<RollbackStep>& steps, int root_fd = -1,
                      PreparedFiles* prepared = nullptr,
                      const std::unordered_map<std::string, TreeEntry>* now = nullptr) {
  std::vector<IndexEntry> located;
  std::unordered_map<BlobId, size_t, BlobIdHash> where;  // blob -> its index in `located`
  std::vector<std::string> bad;
  for (const RollbackStep& s : steps) {
    if (s.op != RollbackStep::Op::kWrite) continue;
    uint64_t size = 0;
    bool all_there = true;
    for (const BlobId& id : s.entry.content) {
      auto [it, added] = where.emplace(id, SIZE_MAX);
      if (added) {
        auto e = repo->Locate(id, BlobType::kData);
        if (e.ok()) {
          it->second = located.size();
          located.push_back(*e);
        } else {
          bad.push_back(e.status().message());
        }
      }
      if (it->second == SIZE_MAX) {
        all_there = false;
      } else {
        size += located[it->second].raw_length;
      }
    }
    // The blobs are checked against their sizes when read: the file is then this long.
    if (all_there && size != s.entry.size) {
      bad.push_back("the blobs of " + s.path + " add up to " + std::to_string(size) + " bytes, the tree says " +
                    std::to_string(s.entry.size));
    }
  }
  // The prepared files: for each blob, the (file, offset) pairs it is written to.
  struct Use {
    size_t file;  // index in `made`
    uint64_t offset;
  };
  std::vector<std::vector<Use>> uses(prepared ? located.size() : 0);
  std::deque<PreparedWrite> made;  // deque: std::atomic does not move
  std::vector<std::vector<LiveCopy>> copies;  // of each file in `made`
  std::vector<std::unique_ptr<Fd>> dirs;  // where they are created
  std::string write_error;
  if (prepared && bad.empty()) {
    write_error = ChoosePreparedWrites(steps, root_fd, &dirs, &made);
    // A blob is read from the repository when a file written by the apply needs it, or a
    // prepared file that cannot copy it from the file there now.
    std::vector<uint8_t> needed(located.size(), 0);
    std::unordered_set<const RollbackStep*> chosen;
    for (const PreparedWrite& m : made) chosen.insert(m.step);
    for (const RollbackStep& s : steps) {
      if (s.op != RollbackStep::Op::kWrite || chosen.count(&s)) continue;
      for (const BlobId& id : s.entry.content) needed[where.at(id)] = 1;
    }
    copies.resize(made.size());
    // Whether each file system takes O_TMPFILE, tried with the first file to be made on it:
    // the others are created as their first blob comes, in parallel with the reads (creating
    // thousands of inodes one after the other here took a fifth of a second of the rollback).
    std::unordered_map<dev_t, bool> tmpfile_ok;
    for (size_t k = 0; k < made.size(); ++k) {
      PreparedWrite& m = made[k];
      // Where the file there now has each of its blobs (an upgrade that changed part of a large
      // file, or a database file, left most of its chunks as they were).
      std::unordered_map<BlobId, uint64_t, BlobIdHash> have;
      // Only into a file that exists: one the apply writes (no O_TMPFILE here) reads every blob
      // from the repository, and those must all be checked now.
      bool unnamed = false;
      if (now && now->count(m.step->path)) {
        auto [it, first] = tmpfile_ok.emplace(m.dev, false);
        if (first) it->second = m.Create();
        unnamed = it->second;
      }
      if (unnamed) {
        if (auto it = now->find(m.step->path); it != now->end()) {
          uint64_t off = 0;
          for (const BlobId& id : it->second.content) {
            auto e = repo->Locate(id, BlobType::kData);
            if (!e.ok()) {
              have.clear();
              break;
            }
            have.emplace(id, off);
            off += e->raw_length;
          }
          if (off != it->second.size) have.clear();
        }
      }
      uint64_t offset = 0;
      for (const BlobId& id : m.step->entry.content) {
        const size_t i = where.at(id);
        if (auto h = have.find(id); h != have.end()) {
          copies[k].push_back(LiveCopy{h->second, offset, located[i].raw_length, id});
        } else {
          uses[i].push_back(Use{k, offset});
          needed[i] = 1;
        }
        offset += located[i].raw_length;
      }
      m.must_create = !copies[k].empty();
      m.drop_old = unnamed && copies[k].empty();
      m.blobs_left = m.step->entry.content.size();
    }
    std::vector<IndexEntry> load;
    for (size_t i = 0; i < located.size(); ++i) {
      if (needed[i]) load.push_back(located[i]);
    }
    located.swap(load);
  }
  Repository::SortForLoading(&located);  // `uses` follows: it is indexed by the original order
  std::vector<size_t> order(located.size());
  for (size_t k = 0; k < located.size(); ++k) order[k] = where.at(located[k].id);
  std::vector<size_t> starts;  // of the windows
  uint64_t bytes = 0;
  for (size_t i = 0; i < located.size(); ++i) {
    if (i == 0 || bytes >= kCheckWindow) {
      starts.push_back(i);
      bytes = 0;
    }
    bytes += located[i].compressed_length;
  }
  starts.push_back(located.size());
  auto window = [&](size_t w) {
    return std::span<const IndexEntry>(located.data() + starts[w], starts[w + 1] - starts[w]);
  };
  const size_t windows = starts.size() - 1;
  if (windows > 0) repo->WillLoad(window(0));
  std::mutex mu;
  for (size_t w = 0; w < windows && write_error.empty(); ++w) {
    if (w + 1 < windows) repo->WillLoad(window(w + 1));
    tbb::parallel_for(starts[w], starts[w + 1], [&](size_t k) {
      const IndexEntry& e = located[k];
      auto blob = repo->LoadBlobAt(e);
      if (!blob.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        bad.push_back(blob.status().message() + " (needed by " + FirstUser(steps, e.id) + ")");
        return;
      }
      if (uses.empty()) return;
      for (const Use& u : uses[order[k]]) {
        PreparedWrite& m = made[u.file];
        if (!m.Create()) continue;  // sorted out below
        Status st = restore_internal::WriteSparse(m.fd, *blob, u.offset);
        if (!st.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (write_error.empty()) write_error = "writing " + m.step->path + " (unnamed, beside it): " + st.message();
          return;
        }
        // Complete: its data starts on its way to the disk while the rest is read, so that the
        // syncfs before the journal counts the apply's steps done has less to wait for.
        if (--m.blobs_left == 0) ::sync_file_range(m.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
      }
    });
  }
  // What the prepared files share with the files there now, copied from them.
  std::atomic<uint64_t> copied{0};
  if (!copies.empty() && bad.empty() && write_error.empty()) {
    tbb::parallel_for(size_t{0}, made.size(), [&](size_t k) {
      if (copies[k].empty()) return;
      PreparedWrite& m = made[k];
      if (!m.Create()) return;  // sorted out below
      bool load_failed = false;
      Status st = WriteFromLive(repo, m, now->at(m.step->path), copies[k], &copied, &load_failed);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (load_failed) {
          bad.push_back(st.message());
        } else if (write_error.empty()) {
          write_error = "writing " + m.step->path + " (unnamed, beside it): " + st.message();
        }
        return;
      }
      m.blobs_left -= copies[k].size();
      if (m.blobs_left == 0) ::sync_file_range(m.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    });
  }
  if (prepared) prepared->bytes_copied = copied;
  // Files without blobs (empty) are created now; every created file goes to `prepared`, which
  // closes it unless the apply names it.
  tbb::parallel_for(size_t{0}, made.size(), [&](size_t k) {
    if (made[k].dfd >= 0 && made[k].step->entry.content.empty()) made[k].Create();
  });
  for (PreparedWrite& m : made) {
    if (m.fd >= 0) {
      prepared->files[m.step->path].fd = m.fd;
      m.fd = -1;
    } else if (m.err != 0 && (m.must_create || (m.err != EOPNOTSUPP && m.err != EISDIR && m.err != EINVAL)) &&
               write_error.empty()) {
      // No O_TMPFILE on this file system: the apply writes them. Another error (no space, no
      // inodes, no permission) would stop the apply part way: refused now. So is any error for
      // a file whose blobs were to be copied from the file there now (not read, not checked).
      const std::string dir = ParentOf(m.step->path);
      write_error = "creating a file in " + (dir.empty() ? std::string(".") : dir) + ": " + std::strerror(m.err);
    }
  }
  if (bad.empty() && write_error.empty()) return Status::OK();
  if (prepared) prepared->Clear();
  if (bad.empty()) return Status::IOError(write_error + ": nothing of the target was changed");
  std::sort(bad.begin(), bad.end());
  std::string msg = "the snapshot's data is damaged (" + std::to_string(bad.size()) + " blob" +
                    (bad.size() == 1 ? "" : "s") + " the rollback needs): ";
  for (size_t i = 0; i < bad.size() && i < kMaxMissingListed; ++i) msg += (i ? "; " : "") + bad[i];
  return Status::Corruption(msg + " (run `rewind verify --read-data`)");
}

// InvalidArgument when `target` (resolved: `resolved`, open: `root_fd`), given by --target and
// not the snapshot's recorded source, holds entries and none of its top-level ones (the
// snapshot's exclusion rules aside) is in the snapshot: the rollback would delete everything
// in it. An empty directory, the recorded source, or an installation moved since the backup
// (its top-level names are the snapshot's) pass.
Status CheckTargetResembles(const Repository& repo, const Snapshot& snap, const std::string& target,
                            const std::string& resolved, int root_fd, TreeCache* trees) {
  if (target.empty() || !snap.tree) return Status::OK();
  char source[PATH_MAX];
  if (!snap.source.empty() && (resolved == snap.source ||
                               (::realpath(snap.source.c_str(), source) && resolved == source))) {
    return Status::OK();
  }
  std::vector<TreeEntry> live;
  if (!ListLive(root_fd, &live).ok()) return Status::OK();  // the plan reports it
  ExcludeSet rules;
  const bool have_rules = SnapshotExcludes(snap, &rules).ok();
  std::vector<std::string> names;
  for (const TreeEntry& e : live) {
    if (IsTempName(e.name)) continue;
    if (have_rules && rules.Match(e.name, e.type == EntryType::kDir) >= 0) continue;
    names.push_back(e.name);
  }
  if (names.empty()) return Status::OK();
  auto root = LoadTreeVia(repo, trees, *snap.tree);
  if (!root.ok()) return Status::OK();  // the check of the snapshot reports it
  std::unordered_set<std::string> in_snapshot;
  for (const TreeEntry& e : (*root)->entries) in_snapshot.insert(e.name);
  for (const std::string& n : names) {
    if (in_snapshot.count(n)) return Status::OK();
  }
  std::sort(names.begin(), names.end());
  std::string first;
  for (size_t i = 0; i < names.size() && i < 3; ++i) first += (i ? ", " : "") + names[i];
  if (names.size() > 3) first += ", …";
  return Status::InvalidArgument(
      "the target " + resolved + " is not the snapshot's source (" +
      (snap.source.empty() ? std::string("none recorded") : snap.source) + ") and none of the " +
      std::to_string(names.size()) + " entries at its top (" + first +
      ") is in the snapshot: the rollback would delete them all. Check --target; to put the snapshot's files "
      "into another directory, use `rewind restore --target` with a new one: nothing was changed");
}

struct Session {
  Repository* repo;
  RollbackObserver* observer;
  RollbackProgress* progress;
  const RollbackOptions& options;
  RollbackResult result;
  void Phase(int index, const std::string& name) {
    progress->phase = index;
    observer->OnPhase(name);
  }
};

// Step 2's checks: no process uses `target` (when not empty: CheckNothingRuns) and, with
// `databases`, no other connection uses the snapshot's databases (options.check_databases_idle).
// After a stop command (`stopped`) they are asked again for up to options.stop_grace_ms while
// they fail: a stop command may return before the services have exited and closed their
// connections.
// `ids`: what the tree holds, collected beforehand (nullptr: walked at each check).
Status WaitUntilIdle(Session& s, const Snapshot& snap, const std::string& target, bool databases, bool stopped,
                     const FileIds* ids = nullptr) {
  std::vector<std::string> notes;
  auto check = [&]() -> Status {
    notes.clear();
    if (!target.empty()) RW_RETURN_IF_ERROR(CheckNothingRuns(snap, target, &notes, ids));
    if (databases && s.options.check_databases_idle) RW_RETURN_IF_ERROR(s.options.check_databases_idle(snap));
    return Status::OK();
  };
  Status st = check();
  if (!st.ok() && stopped && s.options.stop_grace_ms > 0) {
    s.Phase(2, "waiting for the services to exit");
    const int64_t until = RealClock().MonotonicNs() + int64_t{s.options.stop_grace_ms} * 1000000;
    while (!st.ok() && RealClock().MonotonicNs() < until) {
      ::usleep(250 * 1000);
      st = check();
    }
  }
  for (std::string& n : notes) s.result.notes.push_back(std::move(n));
  return st;
}

std::string JournalPath(const std::string& id) { return "rollback/" + id + ".journal"; }
std::string ProgressPath(const std::string& id) { return "rollback/" + id + ".progress"; }

Status WriteProgress(Repository* repo, const std::string& id, TargetFileSystems* file_systems, uint64_t done) {
  // What the steps changed is durable before the journal says so.
  RW_RETURN_IF_ERROR(file_systems->Sync("writing the rolled-back files to the disk"));
  return repo->storage().WriteFileAtomic(ProgressPath(id), std::to_string(done) + "\n");
}

Result<uint64_t> ReadProgress(Repository* repo, const std::string& id) {
  if (!repo->storage().Exists(ProgressPath(id))) return uint64_t{0};
  RW_ASSIGN_OR_RETURN(std::string text, repo->storage().ReadFile(ProgressPath(id)));
  return static_cast<uint64_t>(std::strtoull(text.c_str(), nullptr, 10));
}

// Opens (creating when missing, unless `create` is false) the target directory.
Result<int> OpenTarget(const std::string& target, bool create) {
  int fd = ::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) return fd;
  if (errno != ENOENT || !create) return ErrnoStatus("target " + target, errno);
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = target.find('/', pos + 1);
    partial = target.substr(0, pos);
    if (!partial.empty() && ::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoStatus("create target " + partial, errno);
    }
  }
  fd = ::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("target " + target, errno);
  return fd;
}

// Pending journals: ids.
Result<std::vector<std::string>> PendingJournals(Repository* repo) {
  std::vector<std::string> out;
  if (!repo->storage().Exists("rollback")) return out;
  auto names = repo->storage().List("rollback");
  if (!names.ok()) {
    if (names.status().code() == Code::kNotFound) return out;
    return names.status();
  }
  const std::string suffix = ".journal";
  for (const std::string& n : *names) {
    if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.push_back(n.substr(0, n.size() - suffix.size()));
    }
  }
  return out;
}

// Steps 5 to 8 (apply, databases, verify, start), shared by Rollback and ResumeRollback.
Status Finish(Session& s, const Snapshot& snap, const RollbackJournal& j, const std::string& id, int root_fd,
              uint64_t start_step, bool resumed, TreeCache* trees, PreparedFiles* prepared) {
  RollbackProgress* progress = s.progress;
  // The journal is written: from here on an interrupted rollback is one to resume.
  SetInterruptHint("the rollback stopped part way: run `rewind rollback --resume` to finish it");
  // Replaced and removed files are freed by background threads while the rollback goes on;
  // this waits for them when Finish returns.
  restore_internal::DeferredClose released;
  TargetFileSystems file_systems(root_fd);
  // Without the rules (a damaged snapshot) the entries recorded as excluded still count.
  ExcludeSet rules;
  const bool have_rules = SnapshotExcludes(snap, &rules).ok();
  if (j.files) {
    s.Phase(5, resumed ? "applying the rest of the plan" : "applying the plan");
    Applier applier(s.repo, root_fd, progress, &released, prepared, &file_systems);
    // A fresh rollback has just read and checked every blob of the plan (CheckPlanBlobs); a
    // resumed one has not, and keeps the SHA-256 of every blob.
    applier.set_blobs_checked(!resumed);
    if (have_rules) applier.set_rules(&rules);
    if (resumed) {
      // Temporaries the interrupted run may have left beside the files it was writing.
      std::set<std::string> dirs;
      for (size_t i = start_step; i < j.steps.size(); ++i) {
        auto op = j.steps[i].op;
        if (op == RollbackStep::Op::kWrite || op == RollbackStep::Op::kSymlink ||
            op == RollbackStep::Op::kLink || op == RollbackStep::Op::kNode) {
          dirs.insert(ParentOf(j.steps[i].path));
        }
      }
      if (start_step > 0) {
        // The step just before the checkpoint may have left one too.
        const auto& prev = j.steps[start_step - 1];
        dirs.insert(ParentOf(prev.path));
      }
      for (const std::string& d : dirs) applier.RemoveTemporaries(d);
    }
    progress->steps_total = j.steps.size();
    progress->steps_done = start_step;
    auto last = std::chrono::steady_clock::now();
    constexpr size_t kMaxBatchSteps = 256;
    constexpr uint64_t kMaxBatchBytes = 128ull << 20;
    for (size_t i = start_step; i < j.steps.size();) {
      // A run of `write` steps is written in parallel; everything else one step at a time.
      size_t end = i + 1;
      if (j.steps[i].op == RollbackStep::Op::kWrite) {
        uint64_t bytes = j.steps[i].entry.size;
        while (end < j.steps.size() && end - i < kMaxBatchSteps && bytes < kMaxBatchBytes &&
               j.steps[end].op == RollbackStep::Op::kWrite) {
          bytes += j.steps[end].entry.size;
          ++end;
        }
      }
      Status st;
      if (end - i > 1) {
        st = applier.ApplyWrites(j.steps, i, end, s.options.step_delay_us);
      } else {
        st = applier.Apply(j.steps[i]).WithContext(std::string(RollbackOpName(j.steps[i].op)) + " " +
                                                   (j.steps[i].path.empty() ? "." : j.steps[i].path));
        if (s.options.step_delay_us > 0) ::usleep(static_cast<useconds_t>(s.options.step_delay_us));
      }
      if (!st.ok()) {
        (void)WriteProgress(s.repo, id, &file_systems, i);
        return st.WithContext(resumed ? "the resumed rollback stopped part way again (its journal is kept: fix the "
                                        "cause, then run `rewind rollback --resume`; if it cannot be finished, "
                                        "`rewind rollback --abandon` gives it up and a new rollback plans from "
                                        "what is there now)"
                                      : "the rollback stopped part way (its journal is kept: fix the cause, then run "
                                        "`rewind rollback --resume`)");
      }
      s.result.steps_applied += end - i;
      i = end;
      progress->steps_done = i;
      progress->bytes_written = applier.bytes_written();
      auto now = std::chrono::steady_clock::now();
      if (now - last >= std::chrono::milliseconds(s.options.checkpoint_ms)) {
        RW_RETURN_IF_ERROR(WriteProgress(s.repo, id, &file_systems, i));
        last = now;
      }
    }
    // The last checkpoint is made durable here only when the databases step follows (a resume
    // after it fails starts there). Otherwise the files are written back while the verify reads
    // them, and the syncfs before the journal is removed waits for the rest: a crash before it
    // resumes from the last checkpoint, and every step is safe to repeat.
    if (j.databases) RW_RETURN_IF_ERROR(WriteProgress(s.repo, id, &file_systems, j.steps.size()));
    for (const std::string& n : applier.notes()) s.result.notes.push_back(n);
  }
  if (j.databases && !s.options.restore_databases) {
    // Started now, the installation would run with the files of the snapshot and the databases
    // of the upgrade. The journal stays, at the databases step (its checkpoint is written).
    return Status::InvalidArgument(
        std::string(j.files ? "the files are rolled back, but " : "") +
        "the journal's databases step has not run and this run has none (--files-only): the start command did "
        "not run. Run `rewind rollback --resume` with the servers' --mysql-defaults-file to restore the "
        "databases, or `rewind rollback --abandon` to give them up");
  }
  if (j.databases && s.options.restore_databases) {
    s.Phase(6, "restoring the databases");
    auto failed = s.options.restore_databases(snap);
    if (!failed.ok()) {
      // Some databases may be dropped or loaded in part: the journal keeps the step to run again.
      std::string what = std::string(j.files ? "the files are rolled back; " : "") +
                         "the journal is kept: `rewind rollback --resume` runs this step again";
      if (!j.safety_snapshot_id.empty()) {
        what += "; to go back to what was there before instead: `rewind rollback --abandon`, then `rewind rollback " +
                j.safety_snapshot_id.substr(0, 12) + "`";
      }
      return failed.status().WithContext("restoring the databases (" + what + ")");
    }
    s.result.databases_failed = std::move(*failed);
    s.result.databases_restored = true;
    if (!j.safety_snapshot_id.empty()) {
      if (auto safety = ResolveSnapshot(s.repo, j.safety_snapshot_id); safety.ok()) {
        for (const DatabaseDump& d : snap.databases) {
          std::vector<std::string> had;
          for (const DatabaseDump& h : safety->snapshot.databases) {
            if (h.label == d.label) had = h.databases;
          }
          std::vector<std::string> created;
          for (const std::string& n : d.databases) {
            if (std::find(had.begin(), had.end(), n) == had.end()) created.push_back(n);
          }
          if (!created.empty()) s.result.databases_created.emplace_back(d.label, std::move(created));
        }
      }
    }
  }
  // What the apply wrote is written back to the disk while the verify reads the tree (the
  // verify only reads): the journal goes once both are done.
  const std::string writing_back = "writing the rolled-back files of " + s.result.target + " to the disk";
  std::future<Status> synced;
  if (j.files) {
    try {
      synced = std::async(std::launch::async, [&] { return file_systems.Sync(writing_back); });
    } catch (const std::system_error&) {
      // No thread to be had: synced after the verify.
    }
  }
  if (j.files) {
    s.Phase(7, "verifying");
    TreeCache local_trees(*s.repo);
    if (!trees) trees = &local_trees;  // a resume
    DiffOptions verify_options;
    verify_options.trees = trees;
    std::string kept_whole;  // the last directory kept whole in place of something else
    const std::string target_path = FdPathOr(root_fd, "");
    RW_RETURN_IF_ERROR(DiffLiveAt(*s.repo, snap, root_fd, verify_options,
                                  [&](const Change& c) {
                                    // What the backup could not read was left as it is, and
                                    // so were the excluded folders.
                                    if (c.kind == ChangeKind::kAdded && Unread(snap.unread, c.path)) {
                                      return Status::OK();
                                    }
                                    if (TouchesExcluded(have_rules ? &rules : nullptr, c, target_path)) return Status::OK();
                                    // What it holds comes right after it (depth first).
                                    if (!kept_whole.empty() && c.path.size() > kept_whole.size() &&
                                        c.path.compare(0, kept_whole.size(), kept_whole) == 0 &&
                                        c.path[kept_whole.size()] == '/') {
                                      return Status::OK();
                                    }
                                    // A directory the snapshot lacks, kept for the excluded
                                    // entries it holds (MakePlan): in place of something else,
                                    // with all it holds.
                                    if ((c.kind == ChangeKind::kAdded || c.kind == ChangeKind::kType) && have_rules &&
                                        c.has_new && c.new_entry.type == EntryType::kDir &&
                                        !ExcludedBelowLive(root_fd, c.path, rules).empty()) {
                                      if (c.kind == ChangeKind::kType) kept_whole = c.path;
                                      return Status::OK();
                                    }
                                    if (c.kind == ChangeKind::kContent &&
                                        c.old_entry.type == EntryType::kHardlink && c.has_new &&
                                        c.new_entry.type == EntryType::kFile &&
                                        HoldsContentOfKeptWhole(trees, snap, root_fd, c.path, c.new_entry,
                                                                c.old_entry.link_target)) {
                                      return Status::OK();
                                    }
                                    s.result.remaining.push_back(c);
                                    return Status::OK();
                                  },
                                  &s.result.verify)
                           .WithContext("verifying the rollback"));
  }
  // Everything the apply wrote is on the disk before the journal goes.
  if (j.files) {
    RW_RETURN_IF_ERROR((synced.valid() ? synced.get() : file_systems.Sync(writing_back))
                           .WithContext("the rollback stopped part way (its journal is kept: fix the cause, then "
                                        "run `rewind rollback --resume`)"));
  }
  SetInterruptHint(nullptr);
  // The plan is finished: a resume would have nothing left to do.
  (void)s.repo->storage().Remove(ProgressPath(id));
  RW_RETURN_IF_ERROR(s.repo->storage().Remove(JournalPath(id)));
  const std::string& start = s.options.start_cmd.empty() ? j.start_cmd : s.options.start_cmd;
  if (!s.result.verified()) {
    s.result.notes.push_back(start.empty() ? "differences remain after the rollback"
                                           : "differences remain after the rollback: the start command was not run");
    return Status::OK();
  }
  if (!start.empty()) {
    s.Phase(8, "running the start command");
    if (Status st = RunShell("start command", start); !st.ok()) {
      s.result.start_cmd_failed = st.message();
    } else {
      s.result.start_cmd_run = true;
    }
  }
  return Status::OK();
}

}  // namespace

Result<RollbackResult> Rollback(Repository* repo, const SnapshotRef& snap, const RollbackOptions& options,
                                RollbackObserver* observer, RollbackProgress* progress) {
  const int64_t t0 = RealClock().MonotonicNs();
  RollbackObserver null_observer;
  if (!observer) observer = &null_observer;
  RollbackProgress local_progress;
  if (!progress) progress = &local_progress;
  Session s{repo, observer, progress, options, {}};
  RollbackResult& r = s.result;
  r.snapshot_id = snap.id;
  r.dry_run = options.dry_run;
  const bool databases = options.restore_databases != nullptr;
  if (!options.files && !databases) {
    return Status::InvalidArgument("nothing to roll back: --databases-only, but this build has no databases step");
  }
  if (options.files && !snap.snapshot.tree) {
    return Status::InvalidArgument("snapshot " + snap.id.substr(0, 12) + " holds no files (use --databases-only)");
  }
  r.target = options.target.empty() ? snap.snapshot.source : options.target;
  if (options.files && r.target.empty()) {
    return Status::InvalidArgument("the snapshot records no source directory: give --target");
  }
  // A --target that does not exist is most likely a typo: a rollback puts an installation
  // back. The recorded source is created when it is gone (an installation removed by a failed
  // upgrade).
  if (options.files && !options.target.empty()) {
    struct stat st {};
    if (::stat(options.target.c_str(), &st) != 0) {
      return Status::NotFound("target " + options.target + " does not exist (" + std::strerror(errno) +
                              "): a rollback puts an existing installation back; to restore into a new "
                              "directory, use `rewind restore --target`");
    }
    if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument("target " + options.target + " is not a directory");
  }
  // 1. Lock, no rollback pending, the snapshot is whole.
  s.Phase(1, "checking the snapshot");
  if (options.files && snap.snapshot.incomplete && snap.snapshot.unread.empty()) {
    // Made by a rewind that did not record which entries it could not read: they are absent
    // from the snapshot, and the rollback would delete them as new.
    return Status::InvalidArgument(
        "snapshot " + snap.id.substr(0, 12) + " is incomplete (" + std::to_string(snap.snapshot.stats.errors) +
        " entries could not be read when it was taken) and does not record which: a rollback would delete "
        "them. Restore it into a new directory with `rewind restore --target` and copy back what is needed");
  }
  std::string lock_note;
  RW_ASSIGN_OR_RETURN(auto lock, options.dry_run ? repo->LockForReading("rollback --dry-run", &lock_note)
                                                 : repo->Lock(true, "rollback"));
  if (!lock_note.empty()) r.notes.push_back(lock_note);
  if (!options.dry_run) SetInterruptHint("the rollback had not changed anything yet (the stop command may have run)");
  // A rollback killed while writing its journal or progress left a temporary there.
  if (!options.dry_run) RW_RETURN_IF_ERROR(repo->storage().RemoveTemporaries("rollback"));
  RW_ASSIGN_OR_RETURN(auto pending, PendingJournals(repo));
  if (!pending.empty()) {
    Status st = Status::InvalidArgument("an interrupted rollback is pending (journal rollback/" + pending[0] +
                                        ".journal): finish it with `rewind rollback --resume` first (or, if it "
                                        "cannot be finished, give it up with `rewind rollback --abandon`)");
    if (!options.dry_run) return st;
    r.refused = st.message();
  }
  // The snapshot's trees are loaded once, here, for the check, the safety snapshot (its parent
  // is this snapshot), the plan and the verify.
  TreeCache trees(*repo);
  // The running check needs what the target holds, by identity (a walk of it): collected on a
  // thread of its own while the snapshot is checked. The services are stopped after that, but
  // stopping them does not change which files the installation has; the processes are looked
  // at afterwards, as before.
  // Not before a question (the answer may take long, and the services still run meanwhile),
  // nor for a dry run that does not check (it has a stop command it does not run): the check
  // then walks the target itself.
  std::future<FileIds> target_ids;
  if (options.files && !options.allow_running && pending.empty() && !options.confirm &&
      !(options.dry_run && !options.stop_cmd.empty())) {
    char resolved[PATH_MAX];
    ExcludeSet rules;
    if (::realpath(r.target.c_str(), resolved) && SnapshotExcludes(snap.snapshot, &rules).ok()) {
      try {
        target_ids = std::async(std::launch::async, [root = std::string(resolved), rules = std::move(rules)] {
          // The walk does not enter what it skips: only the entry itself needs matching (its
          // parents were, on the way down; ExcludedBy matched each of them again, per entry).
          return CollectFileIds(root, [&](const std::string& rel, bool is_dir) { return rules.Match(rel, is_dir) >= 0; });
        });
      } catch (const std::system_error&) {
        // No thread to be had: the check walks the target itself.
      }
    }
  }
  RW_RETURN_IF_ERROR(CheckSnapshotWhole(repo, snap.snapshot, &trees));
  Fd root;
  if (options.files) {
    RW_ASSIGN_OR_RETURN(int fd, OpenTarget(r.target, !options.dry_run));
    root.Reset(fd);
    char resolved[PATH_MAX];
    if (::realpath(r.target.c_str(), resolved)) r.target = resolved;
    // The repository inside the target would be deleted as "not in the snapshot".
    char repo_path[PATH_MAX];
    if (::realpath(repo->path().c_str(), repo_path)) {
      if (auto rel = PathWithin(r.target, repo_path); rel && !ExcludedBySnapshot(snap.snapshot, *rel)) {
        return Status::InvalidArgument("the repository " + std::string(repo_path) + " is inside the target " + r.target +
                                       " and the snapshot does not exclude it: a rollback would delete it; keep "
                                       "repositories outside the installation");
      }
    }
    // A --target other than the snapshot's source that has nothing in common with it (a typo,
    // the wrong directory) would be emptied and filled with the snapshot.
    if (Status st = CheckTargetResembles(*repo, snap.snapshot, options.target, r.target, root.fd, &trees); !st.ok()) {
      if (!options.dry_run) return st;
      if (r.refused.empty()) r.refused = st.message();
    }
  }
  if (options.dry_run || options.confirm) {
    s.Phase(4, "planning");
    if (options.files) {
      RW_ASSIGN_OR_RETURN(r.plan, PlanRollback(*repo, snap.snapshot, root.fd, &trees));
    }
    if (options.dry_run) {
      // The data the rollback would write is read and checked as the rollback would: a dry run
      // that reports a plan the rollback would then refuse would mislead.
      if (options.files) {
        if (Status st = CheckRoomForCreates(r.plan, root.fd, r.target); !st.ok() && r.refused.empty()) {
          r.refused = st.message();
        }
        s.Phase(4, "reading the data the plan needs");
        if (Status st = CheckPlanBlobs(repo, r.plan.steps); !st.ok() && r.refused.empty()) r.refused = st.message();
        // Without a stop command the services are still up now, and the rollback would refuse.
        if (!options.allow_running && options.stop_cmd.empty() && r.refused.empty()) {
          const FileIds ids = target_ids.valid() ? target_ids.get() : FileIds{};
          if (Status st = CheckNothingRuns(snap.snapshot, r.target, &r.notes, &ids); !st.ok()) r.refused = st.message();
        }
      }
      if (databases && options.check_databases_idle && !options.allow_running && options.stop_cmd.empty() &&
          r.refused.empty()) {
        if (Status st = options.check_databases_idle(snap.snapshot); !st.ok()) r.refused = st.message();
      }
      r.duration_s = static_cast<double>(RealClock().MonotonicNs() - t0) / 1e9;
      return r;
    }
    s.Phase(4, "waiting for the confirmation");
    if (!options.confirm(r.plan)) return Status::Aborted("not confirmed: nothing was changed");
  }
  // 2. Stop the services. From here on, a refusal starts them again.
  bool stopped = false;
  auto refuse = [&](Status st) -> Status {
    if (!r.safety_snapshot_id.empty()) {
      // Not deleted: it is a whole snapshot of the state the rollback found, and left.
      st = Status(st.code(), st.message() + " (the safety snapshot " + r.safety_snapshot_id.substr(0, 12) +
                                 " taken before stays in the repository, tagged " + kSafetyTag + ")");
    }
    if (stopped && !options.start_cmd.empty()) {
      Status started = RunShell("start command", options.start_cmd);
      st = st.WithContext(started.ok() ? "nothing was changed and the start command ran again"
                                       : "nothing was changed, but the start command failed too (" +
                                             started.message() + ")");
    }
    return st;
  };
  if (!options.stop_cmd.empty()) {
    s.Phase(2, "running the stop command");
    RW_RETURN_IF_ERROR(RunShell("stop command", options.stop_cmd).WithContext("nothing was changed"));
    stopped = true;
  }
  // Nothing of the installation may be running any more, nor using its databases.
  if (!options.allow_running) {
    const FileIds ids = target_ids.valid() ? target_ids.get() : FileIds{};
    Status st = WaitUntilIdle(s, snap.snapshot, options.files ? r.target : "",
                              databases && !snap.snapshot.databases.empty(), stopped, &ids);
    if (!st.ok()) return stopped ? refuse(st) : refuse(st.WithContext("nothing was changed"));
  }
  // 3. Safety snapshot of what is there now, with the snapshot's exclusion rules.
  const bool safety_dbs = databases && !options.safety_databases.servers.empty();
  std::optional<Snapshot> safety;  // the safety snapshot of the files: the plan comes from it
  if (options.safety_snapshot && (options.files || safety_dbs)) {
    s.Phase(3, "taking the safety snapshot");
    BackupOptions bo;
    bo.source = options.files ? r.target : "";
    bo.excludes = snap.snapshot.excludes;
    bo.tags = {kSafetyTag, "before-rollback-to-" + snap.id.substr(0, 12)};
    bo.command = "rollback";
    bo.lock_held = true;
    bo.parent = snap;  // what the upgrade left alone is reused, and keeps its tree ids
    bo.trees = &trees;
    // Taken while the services are down, as database dumps are: at their faster level.
    bo.zstd_level = repo->config().db_zstd_level;
    // A file read again is one the plan will most likely rewrite: its data in the snapshot is
    // announced to the storage now, so that the disk reads it while the safety snapshot
    // hashes and compresses (the data check after the plan then finds it cached).
    // At most 256 MiB in all: more would push out of the page cache what was read first.
    std::vector<IndexEntry> announce;
    uint64_t announced_bytes = 0, announced_total = 0;
    auto flush_announce = [&] {
      Repository::SortForLoading(&announce);
      repo->WillLoad(announce);
      announce.clear();
      announced_bytes = 0;
    };
    bo.on_parent_file_changed = [&](const TreeEntry& old) {
      for (const BlobId& id : old.content) {
        if (announced_total >= (256u << 20)) break;
        auto e = repo->Locate(id, BlobType::kData);
        if (!e.ok()) continue;
        announced_bytes += e->compressed_length;
        announced_total += e->compressed_length;
        announce.push_back(*e);
      }
      if (announced_bytes >= (8u << 20)) flush_announce();
    };
    // What the safety snapshot's backup notes (a database view it could keep only as a comment,
    // a file that changed while read) goes to the report: that snapshot is the way back.
    class SafetyNotes : public BackupObserver {
     public:
      void OnNote(const std::string& path, const std::string& note) override {
        std::lock_guard<std::mutex> lock(mu);
        if (++count <= 10) notes.push_back("safety snapshot: " + (path.empty() ? "" : path + ": ") + note);
      }
      std::mutex mu;
      size_t count = 0;
      std::vector<std::string> notes;
    } safety_notes;
    auto backup = safety_dbs
                      ? BackupWithDatabases(repo, bo, options.safety_databases, &safety_notes, nullptr, nullptr)
                      : Backup(repo, bo, &safety_notes, nullptr);
    for (std::string& n : safety_notes.notes) r.notes.push_back(std::move(n));
    if (safety_notes.count > safety_notes.notes.size()) {
      r.notes.push_back("safety snapshot: " + std::to_string(safety_notes.count - safety_notes.notes.size()) +
                        " more notes");
    }
    if (!announce.empty()) flush_announce();
    if (!backup.ok()) return refuse(backup.status().WithContext("safety snapshot"));
    if (backup->snapshot.incomplete) {
      return refuse(Status::IOError("the safety snapshot is incomplete (" +
                                    std::to_string(backup->snapshot.stats.errors) +
                                    " entries could not be read): rolling back could not be undone; "
                                    "fix them or use --no-safety-snapshot"));
    }
    r.safety_snapshot_id = backup->snapshot_id;
    if (options.files) safety = std::move(backup->snapshot);
  }
  // 4. Plan, and read every blob it needs (writing the files of the plan, unnamed).
  PreparedFiles prepared;
  if (options.files) {
    s.Phase(4, "planning");
    auto plan = safety ? PlanRollbackFrom(*repo, snap.snapshot, *safety, root.fd, &trees)
                       : PlanRollback(*repo, snap.snapshot, root.fd, &trees);
    if (!plan.ok()) return refuse(plan.status().WithContext("planning"));
    r.plan = std::move(*plan);
    if (!r.plan.kept_excluded.empty()) {
      r.notes.push_back(std::to_string(r.plan.kept_excluded.size()) +
                        " excluded folders differ from the snapshot and are left as they are (first: " +
                        r.plan.kept_excluded.front() + ")");
    }
    if (!r.plan.kept_unread.empty()) {
      r.notes.push_back(std::to_string(r.plan.kept_unread.size()) +
                        " entries could not be read when the snapshot was taken and are left as they are (first: " +
                        r.plan.kept_unread.front() + ")");
    }
    if (Status st = CheckRoomForCreates(r.plan, root.fd, r.target); !st.ok()) return refuse(st);
    if (options.before_data_check) options.before_data_check();
    s.Phase(4, "reading the data the plan needs");
    if (Status st = CheckPlanBlobs(repo, r.plan.steps, root.fd, &prepared, &r.plan.now); !st.ok()) return refuse(st);
    r.files_written_before_apply = prepared.files.size();
    r.bytes_copied_from_target = prepared.bytes_copied;
  }
  // 5. Journal, then apply.
  RollbackJournal j;
  j.snapshot_id = snap.id;
  j.target = r.target;
  j.safety_snapshot_id = r.safety_snapshot_id;
  j.files = options.files;
  j.databases = databases && !snap.snapshot.databases.empty();
  j.stop_cmd = options.stop_cmd;
  j.start_cmd = options.start_cmd;
  j.steps = r.plan.steps;
  r.journal_id = RandomHex(16);
  if (Status st = repo->storage().WriteFileAtomic(JournalPath(r.journal_id), EncodeRollbackJournal(j)); !st.ok()) {
    return refuse(st.WithContext("writing the rollback journal"));
  }
  RW_RETURN_IF_ERROR(Finish(s, snap.snapshot, j, r.journal_id, root.fd, 0, false, &trees, &prepared));
  r.duration_s = static_cast<double>(RealClock().MonotonicNs() - t0) / 1e9;
  return std::move(s.result);
}

// The journal rollback/<id>.journal, read and decoded (the error of either).
static Result<RollbackJournal> ReadJournal(Repository* repo, const std::string& id) {
  RW_ASSIGN_OR_RETURN(std::string text, repo->storage().ReadFile(JournalPath(id)));
  return DecodeRollbackJournal(text);
}

Result<std::vector<PendingRollback>> ListPendingRollbacks(Repository* repo) {
  RW_ASSIGN_OR_RETURN(auto ids, PendingJournals(repo));
  std::vector<PendingRollback> out;
  for (const std::string& id : ids) {
    PendingRollback p;
    p.journal_id = id;
    Result<RollbackJournal> j = ReadJournal(repo, id);
    if (j.ok()) {
      p.snapshot_id = j->snapshot_id;
      p.safety_snapshot_id = j->safety_snapshot_id;
      p.target = j->target;
      p.files = j->files;
      p.databases = j->databases;
      p.steps_total = j->steps.size();
      auto done = ReadProgress(repo, id);
      p.steps_done = done.ok() ? std::min<uint64_t>(*done, p.steps_total) : 0;
    } else {
      p.damaged = j.status().message();
    }
    out.push_back(std::move(p));
  }
  return out;
}

Status CheckNoPendingRollback(Repository* repo, const std::string& source, bool databases) {
  auto pending = ListPendingRollbacks(repo);
  if (!pending.ok()) return Status::OK();
  char resolved[PATH_MAX];
  const std::string src = source.empty() ? "" : (::realpath(source.c_str(), resolved) ? std::string(resolved) : source);
  for (const PendingRollback& p : *pending) {
    char t[PATH_MAX];
    const bool same_source = !src.empty() && p.files && !p.target.empty() &&
                             (p.target == src || (::realpath(p.target.c_str(), t) && src == t));
    if (!same_source && !(databases && p.databases)) continue;
    return Status::InvalidArgument("an interrupted rollback of " + (same_source ? src : std::string("the databases")) +
                                   " is pending (journal rollback/" + p.journal_id + ".journal): " +
                                   (same_source ? "it is" : "they are") +
                                   " part way between two states. Finish it with `rewind rollback --resume` (or give "
                                   "it up with `rewind rollback --abandon`), then back up: nothing was saved");
  }
  return Status::OK();
}

Result<AbandonedRollback> AbandonRollback(Repository* repo, const std::string& snapshot_spec) {
  RW_ASSIGN_OR_RETURN(auto lock, repo->Lock(true, "rollback --abandon"));
  RW_RETURN_IF_ERROR(repo->storage().RemoveTemporaries("rollback"));
  RW_ASSIGN_OR_RETURN(std::vector<AbandonedRollback> found, ListPendingRollbacks(repo));
  if (found.empty()) return Status::NotFound("no interrupted rollback is pending in this repository");
  // A journal named by its id (a damaged one names no snapshot).
  if (auto it = std::find_if(found.begin(), found.end(),
                             [&](const AbandonedRollback& a) { return a.journal_id == snapshot_spec; });
      !snapshot_spec.empty() && it != found.end()) {
    found = {*it};
  } else if (!snapshot_spec.empty()) {
    RW_ASSIGN_OR_RETURN(SnapshotRef ref, ResolveSnapshot(repo, snapshot_spec, /*latest_skips_safety=*/true));
    found.erase(std::remove_if(found.begin(), found.end(),
                               [&](const AbandonedRollback& a) { return a.snapshot_id != ref.id; }),
                found.end());
    if (found.empty()) {
      return Status::NotFound("no interrupted rollback to snapshot " + ref.id.substr(0, 12) + " is pending");
    }
  }
  if (found.size() > 1) {
    std::string ids;
    for (const AbandonedRollback& a : found) {
      ids += (ids.empty() ? "" : ", ") + a.journal_id +
             (a.damaged.empty() ? " to " + a.snapshot_id.substr(0, 12) : " (damaged)");
    }
    return Status::InvalidArgument(std::to_string(found.size()) + " interrupted rollbacks are pending (" + ids +
                                   "): name the journal or the snapshot of the one to give up");
  }
  // The checkpoint first: a journal without one resumes from its first step, never the reverse.
  if (repo->storage().Exists(ProgressPath(found[0].journal_id))) {
    RW_RETURN_IF_ERROR(repo->storage().Remove(ProgressPath(found[0].journal_id)).WithContext("removing the checkpoint"));
  }
  RW_RETURN_IF_ERROR(repo->storage().Remove(JournalPath(found[0].journal_id)).WithContext("removing the journal"));
  return std::move(found[0]);
}

Result<RollbackResult> ResumeRollback(Repository* repo, const std::string& snapshot_spec,
                                      const RollbackOptions& options, RollbackObserver* observer,
                                      RollbackProgress* progress) {
  const int64_t t0 = RealClock().MonotonicNs();
  RollbackObserver null_observer;
  if (!observer) observer = &null_observer;
  RollbackProgress local_progress;
  if (!progress) progress = &local_progress;
  Session s{repo, observer, progress, options, {}};
  RollbackResult& r = s.result;
  r.resumed = true;
  s.Phase(1, "reading the journal");
  RW_ASSIGN_OR_RETURN(auto lock, repo->Lock(true, "rollback --resume"));
  RW_RETURN_IF_ERROR(repo->storage().RemoveTemporaries("rollback"));
  RW_ASSIGN_OR_RETURN(auto pending, PendingJournals(repo));
  if (pending.empty()) return Status::NotFound("no interrupted rollback to resume in this repository");
  std::vector<std::pair<std::string, RollbackJournal>> journals;
  Status damaged;  // the first journal that cannot be read
  for (const std::string& id : pending) {
    RW_ASSIGN_OR_RETURN(std::string text, repo->storage().ReadFile(JournalPath(id)));
    auto j = DecodeRollbackJournal(text);
    if (!j.ok()) {
      if (damaged.ok()) {
        damaged = Status(j.status().code(), "rollback/" + id + ".journal: " + j.status().message() +
                                                ": it cannot be resumed; `rewind rollback --abandon " + id +
                                                "` gives that rollback up");
      }
      continue;
    }
    journals.emplace_back(id, std::move(*j));
  }
  // A damaged journal stops a resume that does not name the snapshot of another one.
  if (!damaged.ok() && (snapshot_spec.empty() || journals.empty())) return damaged;
  std::string wanted_id;
  if (!snapshot_spec.empty()) {
    RW_ASSIGN_OR_RETURN(SnapshotRef ref, ResolveSnapshot(repo, snapshot_spec, /*latest_skips_safety=*/true));
    wanted_id = ref.id;
    journals.erase(std::remove_if(journals.begin(), journals.end(),
                                  [&](const auto& p) { return p.second.snapshot_id != wanted_id; }),
                   journals.end());
    if (journals.empty()) {
      return Status::NotFound("no interrupted rollback to snapshot " + wanted_id.substr(0, 12) + " is pending");
    }
  }
  if (journals.size() > 1) {
    return Status::InvalidArgument(std::to_string(journals.size()) +
                                   " interrupted rollbacks are pending: name the snapshot to resume");
  }
  const std::string id = journals[0].first;
  const RollbackJournal& j = journals[0].second;
  r.journal_id = id;
  r.snapshot_id = j.snapshot_id;
  r.target = j.target;
  r.safety_snapshot_id = j.safety_snapshot_id;
  r.plan.steps = j.steps;
  RW_ASSIGN_OR_RETURN(SnapshotRef snap, ResolveSnapshot(repo, j.snapshot_id));
  s.Phase(1, "checking the snapshot");
  RW_RETURN_IF_ERROR(CheckSnapshotWhole(repo, snap.snapshot));
  Fd root;
  if (j.files) {
    RW_ASSIGN_OR_RETURN(int fd, OpenTarget(j.target, false));
    root.Reset(fd);
  }
  const std::string& stop = options.stop_cmd.empty() ? j.stop_cmd : options.stop_cmd;
  if (!stop.empty()) {
    s.Phase(2, "running the stop command");
    RW_RETURN_IF_ERROR(RunShell("stop command", stop));
  }
  if (!options.allow_running) {
    std::string target;
    if (j.files) {
      char resolved[PATH_MAX];
      target = ::realpath(j.target.c_str(), resolved) ? std::string(resolved) : j.target;
    }
    RW_RETURN_IF_ERROR(WaitUntilIdle(s, snap.snapshot, target, j.databases && options.restore_databases != nullptr,
                                     !stop.empty())
                           .WithContext("the rollback is still pending (stop them, then run `rewind rollback "
                                        "--resume` again)"));
  }
  RW_ASSIGN_OR_RETURN(uint64_t done, ReadProgress(repo, id));
  if (done > j.steps.size()) done = j.steps.size();
  RW_RETURN_IF_ERROR(Finish(s, snap.snapshot, j, id, root.fd, done, true, nullptr, nullptr));
  r.duration_s = static_cast<double>(RealClock().MonotonicNs() - t0) / 1e9;
  return std::move(s.result);
}

}  // namespace rw
