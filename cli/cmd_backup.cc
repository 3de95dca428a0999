#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "engine/base/bytes.h"
#include "engine/base/clock.h"
#include "engine/ops/backup.h"
#include "engine/ops/databases.h"
#include "engine/ops/rollback.h"

namespace rw::cli {

namespace {

struct BackupArgs {
  std::string source;
  std::vector<std::string> profiles, excludes, tags;
  bool force = false;
  // Databases.
  std::string databases;  // "all" or NAME[,NAME…]; empty: none
  bool include_system = false;
  std::vector<std::string> defaults_files, labels;
  int db_threads = 2;
  int db_lock_timeout = 60;
  std::string db_part_size;
};

// The servers of --mysql-defaults-file / --db-label (labels pair with files in order).
Result<DatabaseBackupOptions> DatabaseOptions(const BackupArgs& args) {
  DatabaseBackupOptions o;
  if (args.databases.empty()) {
    if (!args.defaults_files.empty() || !args.labels.empty() || args.include_system) {
      return Status::InvalidArgument("--mysql-defaults-file, --db-label and --include-system need --databases all|NAME[,NAME…]");
    }
    return o;
  }
  if (args.databases != "all") {
    size_t pos = 0;
    while (pos <= args.databases.size()) {
      size_t comma = args.databases.find(',', pos);
      if (comma == std::string::npos) comma = args.databases.size();
      std::string name = args.databases.substr(pos, comma - pos);
      if (name.empty()) return Status::InvalidArgument("--databases: empty database name in \"" + args.databases + "\"");
      o.databases.push_back(name);
      pos = comma + 1;
    }
  }
  size_t servers = std::max<size_t>(1, args.defaults_files.size());
  if (args.labels.size() > servers) {
    return Status::InvalidArgument("more --db-label than servers (--mysql-defaults-file)");
  }
  if (servers > 1 && args.labels.size() != servers) {
    return Status::InvalidArgument("with several --mysql-defaults-file, give one --db-label per file, in the same order");
  }
  for (size_t i = 0; i < servers; ++i) {
    DbServerSpec spec;
    if (i < args.defaults_files.size()) spec.defaults_file = args.defaults_files[i];
    if (i < args.labels.size()) spec.label = args.labels[i];
    o.servers.push_back(spec);
  }
  o.include_system = args.include_system;
  if (args.db_threads < 1 || args.db_threads > 64) return Status::InvalidArgument("--db-threads must be 1..64");
  o.threads = args.db_threads;
  if (args.db_lock_timeout < 1) return Status::InvalidArgument("--db-lock-timeout must be at least 1 second");
  o.lock_timeout_s = args.db_lock_timeout;
  if (!args.db_part_size.empty()) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(args.db_part_size.c_str(), &end, 10);
    std::string suffix = end ? end : "";
    if (suffix == "K" || suffix == "k") v <<= 10;
    else if (suffix == "M" || suffix == "m") v <<= 20;
    else if (suffix == "G" || suffix == "g") v <<= 30;
    else if (!suffix.empty()) return Status::InvalidArgument("--db-part-size: not a size: " + args.db_part_size);
    if (v == 0) return Status::InvalidArgument("--db-part-size must be positive");
    o.part_bytes = v;
  }
  return o;
}

// Prints per-entry problems as they happen.
class PrintingObserver : public BackupObserver {
 public:
  void OnError(const std::string& path, const Status& status) override {
    std::fprintf(stderr, "%serror: %s: %s\n", LineReset(), PrintablePath(path).c_str(), status.message().c_str());
  }
  void OnNote(const std::string& path, const std::string& note) override {
    std::fprintf(stderr, "%snote: %s: %s\n", LineReset(), PrintablePath(path.empty() ? "." : path).c_str(),
                 note.c_str());
  }
};

int RunBackup(Context* ctx, const BackupArgs& args) {
  Result<DatabaseBackupOptions> dbopts = DatabaseOptions(args);
  if (!dbopts.ok()) return Fail("backup", dbopts.status());
  const bool with_databases = !dbopts->servers.empty();
  if (args.source.empty() && !with_databases) {
    return Fail("backup", Status::InvalidArgument("--source DIR or --databases all|NAME[,NAME…] is required"));
  }
  auto repo = OpenRepo(*ctx);
  if (!repo) return kExitError;
  // A rollback of this source (or of the databases) that was interrupted left them part way
  // between two states: a snapshot of that would be neither, with the rollback's temporaries.
  if (Status s = CheckNoPendingRollback(repo.get(), args.source, with_databases); !s.ok()) return Fail("backup", s);
  BackupOptions opts;
  opts.source = args.source;
  opts.profiles = args.profiles;
  opts.excludes = args.excludes;
  opts.tags = args.tags;
  opts.force = args.force;
  opts.command = args.source.empty() ? "rewind backup --databases" : "rewind backup --source " + args.source;
  PrintingObserver observer;
  BackupProgress progress;
  DatabaseBackupProgress db_progress;
  const int64_t t0 = RealClock().MonotonicNs();
  Result<BackupResult> result = [&] {
    ProgressLine line([&] {
      double s = static_cast<double>(RealClock().MonotonicNs() - t0) / 1e9;
      char buf[200];
      if (with_databases && progress.files.load() == 0 && progress.dirs.load() == 0) {
        std::snprintf(buf, sizeof buf, "[%5.1fs] databases: %llu tables, %llu rows", s,
                      static_cast<unsigned long long>(db_progress.dump.tables.load()),
                      static_cast<unsigned long long>(db_progress.dump.rows.load()));
        return std::string(buf);
      }
      std::snprintf(buf, sizeof buf, "[%5.1fs] %llu files, %llu dirs, %s read, %s added, %llu errors", s,
                    static_cast<unsigned long long>(progress.files.load()),
                    static_cast<unsigned long long>(progress.dirs.load()),
                    HumanBytes(progress.bytes_read.load()).c_str(),
                    HumanBytes(progress.bytes_added.load()).c_str(),
                    static_cast<unsigned long long>(progress.errors.load()));
      return std::string(buf);
    });
    if (!with_databases) return Backup(repo.get(), opts, &observer, &progress);
    return BackupWithDatabases(repo.get(), opts, *dbopts, &observer, &progress, &db_progress);
  }();
  if (!result.ok()) {
    Fail(args.source.empty() ? std::string("backup of the databases") : "backup of " + args.source, result.status());
    std::fprintf(stderr, "rewind: no snapshot was saved\n");
    return kExitError;
  }
  const Snapshot& snap = result->snapshot;
  const SnapshotStats& st = snap.stats;
  if (ctx->json) {
    nlohmann::json excluded = nlohmann::json::array();
    for (size_t i = 0; i < result->rules.size(); ++i) {
      const ExcludedReport& rep = result->excluded[i];
      nlohmann::json examples = nlohmann::json::array();
      for (const auto& p : rep.examples) examples.push_back(IsValidUtf8(p) ? p : HexEncode(p));
      excluded.push_back({{"rule", result->rules[i].text}, {"origin", result->rules[i].origin},
                          {"count", rep.count}, {"examples", examples}});
    }
    nlohmann::json j = {{"snapshot_id", result->snapshot_id}, {"source", snap.source},
                        {"files", st.files}, {"directories", st.dirs}, {"dirs", st.dirs},
                        {"symlinks", st.symlinks}, {"others", st.others},
                        {"bytes_read", st.bytes_read}, {"bytes_total", st.bytes_total},
                        {"bytes_added", st.bytes_added}, {"blobs_added", st.blobs_added},
                        {"duration_s", st.duration_s}, {"incomplete", snap.incomplete},
                        {"errors", st.errors}, {"changed_during_read", st.changed_during_read},
                        {"excluded", excluded}, {"tags", snap.tags},
                        {"files_reused", result->files_reused}, {"warnings", result->warnings},
                        {"parent", snap.parent ? nlohmann::json(*snap.parent) : nlohmann::json()}};
    nlohmann::json dbs = nlohmann::json::array();
    for (const DatabaseDump& d : snap.databases) {
      dbs.push_back({{"label", d.label}, {"tree", d.tree.Hex()}, {"server_version", d.server_version},
                     {"binlog_file", d.binlog_file}, {"binlog_position", d.binlog_position}, {"gtid", d.gtid},
                     {"databases", d.databases}});
    }
    j["databases"] = dbs;
    j["db_tables"] = db_progress.dump.tables.load();
    j["db_rows"] = db_progress.dump.rows.load();
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    for (size_t i = 0; i < result->rules.size(); ++i) {
      const ExcludedReport& rep = result->excluded[i];
      if (rep.count == 0) continue;
      std::string ex;
      for (const auto& p : rep.examples) ex += (ex.empty() ? "" : ", ") + PrintablePath(p);
      if (rep.count > rep.examples.size()) ex += ", …";
      std::fprintf(stderr, "excluded by %s (%s): %llu entr%s: %s\n", result->rules[i].text.c_str(),
                   result->rules[i].origin.c_str(), static_cast<unsigned long long>(rep.count),
                   rep.count == 1 ? "y" : "ies", ex.c_str());
    }
    for (const DatabaseDump& d : snap.databases) {
      std::string names;
      for (const auto& n : d.databases) names += (names.empty() ? "" : ", ") + n;
      std::fprintf(stderr, "databases of server %s (%s): %zu database%s (%s)%s%s\n", d.label.c_str(),
                   d.server_version.c_str(), d.databases.size(), d.databases.size() == 1 ? "" : "s",
                   names.c_str(),
                   d.binlog_file.empty() ? "" : (", binlog " + d.binlog_file + ":" + std::to_string(d.binlog_position)).c_str(),
                   d.gtid.empty() ? "" : (", gtid " + d.gtid).c_str());
    }
    if (!snap.databases.empty()) {
      std::fprintf(stderr, "databases: %llu tables, %llu rows dumped\n",
                   static_cast<unsigned long long>(db_progress.dump.tables.load()),
                   static_cast<unsigned long long>(db_progress.dump.rows.load()));
    }
    std::fprintf(stderr,
                 "snapshot %s saved: %llu files (%llu unchanged since the parent, not read), %llu "
                 "directories, %s read, %s added to the repository in %.1f s\n",
                 result->snapshot_id.substr(0, 12).c_str(), static_cast<unsigned long long>(st.files),
                 static_cast<unsigned long long>(result->files_reused),
                 static_cast<unsigned long long>(st.dirs), HumanBytes(st.bytes_read).c_str(),
                 HumanBytes(st.bytes_added).c_str(), st.duration_s);
    if (snap.incomplete) {
      std::fprintf(stderr,
                   "warning: %llu entr%s could not be read (listed above); the snapshot is marked "
                   "incomplete\n",
                   static_cast<unsigned long long>(st.errors), st.errors == 1 ? "y" : "ies");
    }
    for (const std::string& w : result->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    std::printf("%s\n", result->snapshot_id.c_str());
  }
  return snap.incomplete ? kExitIncomplete : kExitOk;
}

}  // namespace

void RegisterBackup(CLI::App& app, Context* ctx) {
  auto args = std::make_shared<BackupArgs>();
  CLI::App* sub = app.add_subcommand("backup", "back up a directory and/or MySQL/MariaDB databases into a new snapshot");
  AddRepoOption(sub, ctx);
  sub->add_option("-s,--source", args->source, "directory to back up (e.g. /opt/icewarp)")->check(NonEmptyPath());
  sub->add_option("--profile", args->profiles, "shipped exclusion profile (icewarp)");
  sub->add_option("-e,--exclude", args->excludes, "exclude PATTERN (gitignore-like, docs/excludes.md)");
  sub->add_option("-t,--tag", args->tags, "tag the snapshot (e.g. pre-epos)");
  sub->add_flag("--force", args->force,
                "read every file, even those unchanged since the parent snapshot (size, mtime, ctime, inode)");
  sub->add_option("--databases", args->databases,
                  "also dump MySQL/MariaDB databases: all (but mysql, sys, information_schema, "
                  "performance_schema) or NAME[,NAME…]; without --source: a databases-only snapshot");
  sub->add_flag("--include-system", args->include_system, "with --databases: also dump `mysql` (users, grants)");
  sub->add_option("--mysql-defaults-file", args->defaults_files,
                  "MySQL option file ([client]: host, port, socket, user, password, ssl) of a server; "
                  "once per server (default: the client library's default files, e.g. ~/.my.cnf)");
  sub->add_option("--db-label", args->labels, "label of each server in the snapshot, in --mysql-defaults-file order (default: \"default\")");
  sub->add_option("--db-threads", args->db_threads, "connections dumping in parallel per server (default 2)");
  sub->add_option("--db-lock-timeout", args->db_lock_timeout,
                  "seconds to wait for FLUSH TABLES WITH READ LOCK before failing (default 60)");
  sub->add_option("--db-part-size", args->db_part_size, "dump tables larger than this in parts (default 256M)");
  sub->add_flag("--json", ctx->json, "print one JSON object with the result");
  sub->callback([ctx, args] { ctx->run = [ctx, args] { return RunBackup(ctx, *args); }; });
}

}  // namespace rw::cli
