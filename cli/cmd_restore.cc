#include <cstdio>

#include "cli/common.h"
#include "engine/base/bytes.h"
#include "engine/base/clock.h"
#include "engine/base/paths.h"
#include "engine/ops/databases.h"
#include "engine/ops/restore.h"
#include "engine/ops/snapshots.h"

namespace rw::cli {

namespace {

struct RestoreArgs {
  std::string snapshot;
  std::string target;
  std::string archive;
  std::string format;
  std::vector<std::string> includes;
  bool databases_only = false, allow_running = false;
  std::vector<std::string> dbs, defaults_files, labels;
  std::string label;
  int db_threads = 2;
};

// --databases-only: drops and reloads the snapshot's databases.
// --include given and nothing restored: most likely a mistyped pattern, not a wish for nothing.
bool NothingSelected(const std::vector<std::string>& includes, const RestoreStats& s) {
  return !includes.empty() && s.files + s.dirs + s.symlinks + s.others == 0;
}
int FailNothingSelected(const std::string& snapshot_id) {
  return Fail("restore", Status::NotFound("no entry of snapshot " + snapshot_id.substr(0, 12) +
                                          " matches --include (`rewind ls` shows its paths, relative to its source)"));
}

int RunRestoreDatabases(Context* ctx, const RestoreArgs& args) {
  if (!args.target.empty() || !args.archive.empty() || !args.includes.empty()) {
    return Fail("restore", Status::InvalidArgument("--databases-only restores no files: drop --target, --archive, --include"));
  }
  auto servers = ServersFromFlags(args.defaults_files, args.labels);
  if (!servers.ok()) return Fail("restore", servers.status());
  if (args.db_threads < 1 || args.db_threads > 64) return Fail("restore", Status::InvalidArgument("--db-threads must be 1..64"));
  auto repo = OpenRepo(*ctx);
  if (!repo) return kExitError;
  auto ref = ResolveSnapshot(repo.get(), args.snapshot);
  if (!ref.ok()) return Fail("restore", ref.status());
  if (Status s = CheckServerLabels(ref->snapshot, *servers); !s.ok()) return Fail("restore", s);
  std::string lock_note;
  auto lock = repo->LockForReading("restore --databases-only", &lock_note);
  if (!lock.ok()) return Fail("restore", lock.status());
  if (!lock_note.empty()) std::fprintf(stderr, "note: %s\n", lock_note.c_str());
  DatabaseRestoreOptions opts;
  opts.servers = std::move(*servers);
  opts.label = args.label;
  if (opts.label.empty() && args.labels.size() == 1 && args.defaults_files.size() <= 1) opts.label = args.labels[0];
  opts.databases = args.dbs;
  opts.threads = args.db_threads;
  // No other connection may use a database about to be dropped (IceWarp still running, here
  // or on another host sharing the server). A server that cannot be reached is left to
  // RestoreDatabases, which says so.
  if (!args.allow_running) {
    if (Status s = CheckDatabasesIdle(ref->snapshot, opts); !s.ok()) return Fail("restore", s.WithContext("nothing was changed"));
  }
  db::LoadProgress progress;
  const int64_t t0 = RealClock().MonotonicNs();
  Result<DatabaseRestoreResult> r = [&] {
    ProgressLine line([&] {
      double s = static_cast<double>(RealClock().MonotonicNs() - t0) / 1e9;
      char buf[160];
      std::snprintf(buf, sizeof buf, "[%5.1fs] %llu SQL files, %llu statements, %s", s,
                    static_cast<unsigned long long>(progress.files.load()),
                    static_cast<unsigned long long>(progress.statements.load()),
                    HumanBytes(progress.bytes.load()).c_str());
      return std::string(buf);
    });
    return RestoreDatabases(*repo, ref->snapshot, opts, &progress);
  }();
  if (!r.ok()) return Fail("restore of the databases of snapshot " + ref->id.substr(0, 12), r.status());
  double secs = static_cast<double>(RealClock().MonotonicNs() - t0) / 1e9;
  for (const auto& s : r->servers) {
    std::string names;
    for (const auto& n : s.databases) names += (names.empty() ? "" : ", ") + n;
    std::fprintf(stderr, "restored %zu database%s of server %s from snapshot %s (%s): %llu statements, %s of SQL\n",
                 s.databases.size(), s.databases.size() == 1 ? "" : "s", s.label.c_str(), ref->id.substr(0, 12).c_str(),
                 names.c_str(), static_cast<unsigned long long>(s.statements), HumanBytes(s.bytes).c_str());
  }
  for (const std::string& v : r->not_created) {
    std::fprintf(stderr, "note: %s: invalid when the snapshot was taken, not created (its definition is a comment in "
                 "views.sql: `rewind dump` shows it)\n", v.c_str());
  }
  if (!r->failed_objects.empty()) {
    std::fprintf(stderr, "error: %zu object%s could not be created; everything else was restored:\n",
                 r->failed_objects.size(), r->failed_objects.size() == 1 ? "" : "s");
    for (const std::string& f : r->failed_objects) std::fprintf(stderr, "  %s\n", f.c_str());
    return kExitError;
  }
  std::fprintf(stderr, "done in %.1f s\n", secs);
  return kExitOk;
}

class PrintingObserver : public RestoreObserver {
 public:
  void OnError(const std::string& path, const Status& status) override {
    std::fprintf(stderr, "%serror: %s: %s\n", LineReset(), PrintablePath(path).c_str(), status.message().c_str());
  }
  void OnNote(const std::string& path, const std::string& note) override {
    std::fprintf(stderr, "%snote: %s%s\n", LineReset(), path.empty() ? "" : (PrintablePath(path) + ": ").c_str(),
                 note.c_str());
  }
};

int RunRestore(Context* ctx, const RestoreArgs& args) {
  if (args.databases_only) return RunRestoreDatabases(ctx, args);
  if (!args.dbs.empty() || !args.defaults_files.empty()) {
    return Fail("restore", Status::InvalidArgument("--db and --mysql-defaults-file go with --databases-only"));
  }
  if (args.target.empty() == args.archive.empty()) {
    return Fail("restore", Status::InvalidArgument("give exactly one of --target DIR or --archive FILE|-"));
  }
  // The archive's format and path, before the repository is read or anything written.
  ArchiveFormat format = ArchiveFormat::kTar;
  if (!args.archive.empty()) {
    auto chosen = ChooseArchiveFormat(args.archive, args.format);
    if (!chosen.ok()) return Fail("restore", chosen.status());
    format = *chosen;
    if (Status s = CheckArchivePath(args.archive); !s.ok()) return Fail("restore", s);
  }
  auto repo = OpenRepo(*ctx);
  if (!repo) return kExitError;
  auto ref = ResolveSnapshot(repo.get(), args.snapshot);
  if (!ref.ok()) return Fail("restore", ref.status());
  // A pattern written as the absolute path of something in the snapshot's source would match
  // nothing (paths are relative to the source) and restore nothing, successfully.
  const std::string& source = ref->snapshot.source;
  for (const std::string& inc : args.includes) {
    if (auto rel = source.empty() || source == "/" ? std::nullopt : PathWithin(source, inc); rel && !rel->empty()) {
      return Fail("restore", Status::InvalidArgument("--include " + inc + ": patterns are relative to the snapshot's "
                                                     "source " + source + ": write --include '" + *rel + "'"));
    }
  }
  PrintingObserver observer;
  const int64_t t0 = RealClock().MonotonicNs();
  if (!args.archive.empty()) {
    RestoreStats stats;
    Status s = RestoreToArchive(repo.get(), ref->snapshot, args.archive, format, args.includes, &observer, &stats);
    if (!s.ok()) return Fail("restore to archive " + args.archive, s);
    std::fprintf(stderr, "wrote %s archive of snapshot %s: %llu files, %llu directories, %s\n", ArchiveFormatName(format),
                 ref->id.substr(0, 12).c_str(), static_cast<unsigned long long>(stats.files),
                 static_cast<unsigned long long>(stats.dirs), HumanBytes(stats.bytes).c_str());
    if (NothingSelected(args.includes, stats)) return FailNothingSelected(ref->id);
    return kExitOk;
  }
  RestoreOptions opts;
  opts.target = args.target;
  opts.includes = args.includes;
  RestoreProgress progress;
  Result<RestoreStats> stats = [&] {
    ProgressLine line([&] {
      double s = static_cast<double>(RealClock().MonotonicNs() - t0) / 1e9;
      char buf[160];
      std::snprintf(buf, sizeof buf, "[%5.1fs] %llu files, %s written, %llu errors", s,
                    static_cast<unsigned long long>(progress.files.load()),
                    HumanBytes(progress.bytes_written.load()).c_str(),
                    static_cast<unsigned long long>(progress.errors.load()));
      return std::string(buf);
    });
    return RestoreToDirectory(repo.get(), ref->snapshot, opts, &observer, &progress);
  }();
  if (!stats.ok()) return Fail("restore to " + args.target, stats.status());
  double secs = static_cast<double>(RealClock().MonotonicNs() - t0) / 1e9;
  std::fprintf(stderr, "restored snapshot %s into %s: %llu files, %llu directories, %llu symlinks, %s in %.1f s\n",
               ref->id.substr(0, 12).c_str(), args.target.c_str(), static_cast<unsigned long long>(stats->files),
               static_cast<unsigned long long>(stats->dirs), static_cast<unsigned long long>(stats->symlinks),
               HumanBytes(stats->bytes).c_str(), secs);
  if (stats->errors > 0) {
    std::fprintf(stderr, "error: %llu entries could not be restored (listed above)\n",
                 static_cast<unsigned long long>(stats->errors));
    return kExitError;
  }
  if (NothingSelected(args.includes, *stats)) return FailNothingSelected(ref->id);
  return kExitOk;
}

}  // namespace

void RegisterRestore(CLI::App& app, Context* ctx) {
  auto args = std::make_shared<RestoreArgs>();
  CLI::App* sub = app.add_subcommand("restore", "restore a snapshot's files into an empty directory or an archive");
  AddRepoOption(sub, ctx);
  sub->add_option("snapshot", args->snapshot, "snapshot: id, id prefix, latest or a tag")->required();
  sub->add_option("--target", args->target, "new or empty directory to restore into");
  sub->add_option("--archive", args->archive, "write an archive to FILE, or - for standard output");
  sub->add_option("--format", args->format,
                  "archive format: tar, tar.zst, tar.gz, zip (default: from the name: .tar, .tar.zst or .tzst, "
                  ".tar.gz or .tgz, .zip; else tar). A name that says another format is refused");
  sub->add_option("-i,--include", args->includes, "restore only what matches PATTERN (and what is below it)");
  sub->add_flag("--databases-only", args->databases_only,
                "drop and reload the snapshot's MySQL/MariaDB databases instead of restoring files");
  sub->add_option("--db", args->dbs, "with --databases-only: only this database (repeatable)");
  sub->add_flag("--allow-running", args->allow_running,
                "with --databases-only: go on while other connections use the databases (refused otherwise)");
  sub->add_option("--mysql-defaults-file", args->defaults_files,
                  "MySQL option file ([client]) of the server to load into; once per server, paired with --db-label");
  sub->add_option("--db-label", args->labels, "the snapshot's server label each --mysql-defaults-file is for");
  sub->add_option("--label", args->label, "only the databases of this server label");
  sub->add_option("--db-threads", args->db_threads, "connections loading table data in parallel (default 2)");
  sub->callback([ctx, args] { ctx->run = [ctx, args] { return RunRestore(ctx, *args); }; });
}

}  // namespace rw::cli
