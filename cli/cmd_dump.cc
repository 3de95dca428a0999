// rewind dump: one database's SQL from a snapshot, on standard output, for the stock client.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cli/common.h"
#include "engine/ops/databases.h"
#include "engine/ops/snapshots.h"

namespace rw::cli {

void RegisterDump(CLI::App& app, Context* ctx);

namespace {

struct DumpArgs {
  std::string snapshot;
  std::string db;
  std::string label;
};

int RunDump(Context* ctx, const DumpArgs& args) {
  auto repo = OpenRepo(*ctx);
  if (!repo) return kExitError;
  auto ref = ResolveSnapshot(repo.get(), args.snapshot);
  if (!ref.ok()) return Fail("dump", ref.status());
  std::string lock_note;
  auto lock = repo->LockForReading("dump", &lock_note);
  if (!lock.ok()) return Fail("dump", lock.status());
  if (!lock_note.empty()) std::fprintf(stderr, "note: %s\n", lock_note.c_str());
  Status s = DumpDatabaseSql(*repo, ref->snapshot, args.label, args.db, [](std::string_view data) -> Status {
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      ssize_t n = ::write(STDOUT_FILENO, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus("write to standard output", errno);
      p += n;
      left -= static_cast<size_t>(n);
    }
    return Status::OK();
  });
  if (!s.ok()) return Fail("dump of database " + args.db, s);
  return kExitOk;
}

}  // namespace

void RegisterDump(CLI::App& app, Context* ctx) {
  auto args = std::make_shared<DumpArgs>();
  CLI::App* sub = app.add_subcommand(
      "dump", "write one database of a snapshot as SQL on standard output (load it with: mariadb < FILE)");
  AddRepoOption(sub, ctx);
  sub->add_option("snapshot", args->snapshot, "snapshot: id, id prefix, latest or a tag")->required();
  sub->add_option("--db", args->db, "database name")->required();
  sub->add_option("--label", args->label, "server label, when several servers' dumps hold the database");
  sub->callback([ctx, args] { ctx->run = [ctx, args] { return RunDump(ctx, *args); }; });
}

}  // namespace rw::cli
