#include <sys/stat.h>

#include <cstdio>

#include "cli/common.h"
#include "engine/base/clock.h"
#include "engine/ops/snapshots.h"

namespace rw::cli {

namespace {

struct LsArgs {
  std::string snapshot;
  std::string path;
};

std::string ModeString(const TreeEntry& e) {
  char t = '-';
  switch (e.type) {
    case EntryType::kDir: t = 'd'; break;
    case EntryType::kExcludedDir: t = 'D'; break;
    case EntryType::kSymlink: t = 'l'; break;
    case EntryType::kHardlink: t = 'h'; break;
    case EntryType::kFifo: t = 'p'; break;
    case EntryType::kCharDevice: t = 'c'; break;
    case EntryType::kBlockDevice: t = 'b'; break;
    default: break;
  }
  std::string s(1, t);
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) s += (e.mode & (0400 >> i)) ? rwx[i] : '-';
  if (e.mode & S_ISUID) s[3] = (e.mode & 0100) ? 's' : 'S';
  if (e.mode & S_ISGID) s[6] = (e.mode & 0010) ? 's' : 'S';
  if (e.mode & S_ISVTX) s[9] = (e.mode & 0001) ? 't' : 'T';
  return s;
}

int RunLs(Context* ctx, const LsArgs& args) {
  auto repo = OpenRepo(*ctx);
  if (!repo) return kExitError;
  auto ref = ResolveSnapshot(repo.get(), args.snapshot);
  if (!ref.ok()) return Fail("ls", ref.status());
  if (!ref->snapshot.tree && ref->snapshot.databases.empty()) {
    std::printf("(the snapshot holds no files)\n");
    return kExitOk;
  }
  std::string prefix = args.path;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(0, 1);
  bool found = prefix.empty();
  auto print = [&](const std::string& path, const TreeEntry& e) {
    bool inside = prefix.empty() || path == prefix || path.compare(0, prefix.size() + 1, prefix + "/") == 0;
    bool above = !inside && prefix.compare(0, path.size() + 1, path + "/") == 0;
    if (!inside) return above;
    found = true;
    std::string owner = e.user.empty() ? std::to_string(e.uid) : e.user;
    std::string group = e.group.empty() ? std::to_string(e.gid) : e.group;
    std::string time = FormatRfc3339Ns(e.mtime_ns).substr(0, 19);
    time[10] = ' ';
    std::string extra;
    if (e.type == EntryType::kSymlink) extra = " -> " + PrintablePath(e.link_target);
    if (e.type == EntryType::kHardlink) extra = " link to " + PrintablePath(e.link_target);
    if (e.type == EntryType::kExcludedDir) extra = "  (excluded: contents not backed up)";
    std::printf("%s %8s %8s %12llu %s %s%s\n", ModeString(e).c_str(), owner.c_str(), group.c_str(),
                static_cast<unsigned long long>(e.size), time.c_str(), PrintablePath(path).c_str(),
                extra.c_str());
    return true;
  };
  Status s;
  if (ref->snapshot.tree) s = WalkTree(*repo, *ref->snapshot.tree, "", print);
  // Databases appear as databases/<label>/<database>/… (SQL files; the times are not meaningful).
  for (const DatabaseDump& d : ref->snapshot.databases) {
    if (!s.ok()) break;
    const std::string base = "databases/" + d.label;
    bool inside = prefix.empty() || base == prefix || base.compare(0, prefix.size() + 1, prefix + "/") == 0 ||
                  prefix.compare(0, base.size() + 1, base + "/") == 0;
    if (!inside) continue;
    if (prefix.empty() || prefix == "databases" || prefix == base) found = true;
    s = WalkTree(*repo, d.tree, base, print);
  }
  if (!s.ok()) return Fail("ls", s);
  if (!found) return Fail("ls", Status::NotFound("no entry " + prefix + " in snapshot " + ref->id.substr(0, 12)));
  return kExitOk;
}

}  // namespace

void RegisterLs(CLI::App& app, Context* ctx) {
  auto args = std::make_shared<LsArgs>();
  CLI::App* sub = app.add_subcommand("ls", "list the files of a snapshot");
  AddRepoOption(sub, ctx);
  sub->add_option("snapshot", args->snapshot, "snapshot: id, id prefix, latest or a tag")->required();
  sub->add_option("path", args->path, "only this path (and what is below it)");
  sub->callback([ctx, args] { ctx->run = [ctx, args] { return RunLs(ctx, *args); }; });
}

}  // namespace rw::cli
