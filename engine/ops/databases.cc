#include "engine/ops/databases.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>

#include "engine/base/clock.h"
#include "engine/base/host.h"
#include "engine/db/connection.h"
#include "engine/ops/snapshots.h"

namespace rw {


Result<std::vector<DatabaseDump>> BackupDatabases(Repository* repo, BlobSink* sink,
                                                  const DatabaseBackupOptions& options,
                                                  DatabaseBackupProgress* progress, BackupObserver* observer) {
  DatabaseBackupProgress local;
  if (!progress) progress = &local;
  std::vector<DatabaseDump> out;
  for (size_t i = 0; i < options.servers.size(); ++i) {
    const DbServerSpec& spec = options.servers[i];
    if (spec.label.empty() || spec.label.find('/') != std::string::npos) {
      return Status::InvalidArgument("database server label \"" + spec.label + "\" must be non-empty and without '/'");
    }
    for (size_t j = 0; j < i; ++j) {
      if (options.servers[j].label == spec.label) {
        return Status::InvalidArgument("database server label \"" + spec.label + "\" given twice (--db-label)");
      }
    }
  }
  db::SharedSink shared(sink, repo->config().chunker, repo->config().db_zstd_level);
  for (const DbServerSpec& spec : options.servers) {
    db::DumpOptions d;
    d.connect.defaults_file = spec.defaults_file;
    d.databases = options.databases;
    d.include_system = options.include_system;
    d.threads = options.threads;
    d.lock_timeout_s = options.lock_timeout_s;
    d.part_bytes = options.part_bytes;
    Result<db::DumpResult> r = db::DumpServer(d, &shared, &progress->dump);
    if (!r.ok()) return r.status().WithContext("databases of server \"" + spec.label + "\"");
    if (observer) {
      for (const std::string& n : r->notes) observer->OnNote("databases/" + spec.label, n);
    }
    DatabaseDump dump;
    dump.label = spec.label;
    dump.tree = r->tree;
    dump.server_version = r->server_version;
    dump.binlog_file = r->binlog_file;
    dump.binlog_position = r->binlog_position;
    dump.gtid = r->gtid;
    dump.databases = r->databases;
    dump.max_statement_bytes = r->max_statement_bytes;
    out.push_back(std::move(dump));
    progress->servers_done += 1;
  }
  return out;
}

Result<BackupResult> BackupWithDatabases(Repository* repo, const BackupOptions& options,
                                         const DatabaseBackupOptions& databases, BackupObserver* observer,
                                         BackupProgress* progress, DatabaseBackupProgress* db_progress) {
  BackupOptions o = options;
  if (!databases.servers.empty()) {
    // Databases are dumped before the files are walked: the observer is not yet in use.
    o.dump_databases = [&](BlobSink* sink) { return BackupDatabases(repo, sink, databases, db_progress, observer); };
  }
  return Backup(repo, o, observer, progress);
}

std::string DefaultsFileFor(const std::vector<DbServerSpec>& servers, const std::string& label) {
  for (const DbServerSpec& s : servers) {
    if (s.label == label) return s.defaults_file;
  }
  for (const DbServerSpec& s : servers) {
    if (s.label.empty()) return s.defaults_file;
  }
  return "";
}

Status CheckServerLabels(const Snapshot& snapshot, const std::vector<DbServerSpec>& servers) {
  for (const DbServerSpec& s : servers) {
    if (s.label.empty()) continue;
    bool found = false;
    std::string labels;
    for (const DatabaseDump& d : snapshot.databases) {
      found = found || d.label == s.label;
      labels += (labels.empty() ? "\"" : ", \"") + d.label + "\"";
    }
    if (found) continue;
    return Status::InvalidArgument("--db-label \"" + s.label + "\" names no database server of the snapshot (" +
                                   (labels.empty() ? std::string("it holds no databases")
                                                   : "its servers: " + labels) +
                                   "): nothing was changed");
  }
  return Status::OK();
}

Result<std::vector<std::string>> DatabasesNotInDump(const DatabaseDump& dump, const std::string& defaults_file) {
  db::ConnectOptions connect;
  connect.defaults_file = defaults_file;
  db::DbConnection conn;
  RW_RETURN_IF_ERROR(conn.Connect(connect).WithContext("server \"" + dump.label + "\""));
  RW_ASSIGN_OR_RETURN(auto rows, conn.Query("SHOW DATABASES"));
  std::vector<std::string> out;
  for (const db::Row& row : rows) {
    if (row.empty() || !row[0] || db::IsSystemDatabase(*row[0])) continue;
    if (std::find(dump.databases.begin(), dump.databases.end(), *row[0]) == dump.databases.end()) {
      out.push_back(*row[0]);
    }
  }
  return out;
}

Status CheckServerTakesDump(const Repository& repo, const DatabaseDump& dump, const std::vector<std::string>& databases,
                            const std::vector<DbServerSpec>& servers) {
  db::ConnectOptions connect;
  connect.defaults_file = DefaultsFileFor(servers, dump.label);
  db::DbConnection conn;
  Status s = conn.Connect(connect);
  if (s.ok()) s = db::CheckMaxAllowedPacket(&conn, dump.max_statement_bytes);
  if (s.ok()) s = db::CheckDefiners(repo, dump.tree, databases.empty() ? dump.databases : databases, &conn);
  return s.WithContext("databases of server \"" + dump.label + "\"");
}

Status CheckNoOtherSessions(const DatabaseDump& dump, const std::vector<DbServerSpec>& servers) {
  if (dump.databases.empty()) return Status::OK();
  db::ConnectOptions connect;
  connect.defaults_file = DefaultsFileFor(servers, dump.label);
  db::DbConnection conn;
  RW_RETURN_IF_ERROR(conn.Connect(connect).WithContext("server \"" + dump.label + "\""));
  std::string in;
  for (const std::string& d : dump.databases) in += (in.empty() ? "" : ",") + conn.Quote(d);
  // Replication threads and the server's own (event scheduler, daemons) do not count.
  RW_ASSIGN_OR_RETURN(db::ClientSessions sessions, db::DescribeClientSessions(&conn, "AND DB IN (" + in + ")"));
  if (sessions.count > 0) {
    return Status::Aborted(std::to_string(sessions.count) +
                           (sessions.count == 1 ? " connection uses" : " connections use") + " databases of server \"" +
                           dump.label + "\" that would be dropped and reloaded: " + sessions.list +
                           ". Stop what uses them (IceWarp on every host that shares the database), or give "
                           "--allow-running to go on under them");
  }
  // A session with another default database (or none) may still hold a lock on one of their
  // tables: a transaction left open after reading it. DROP DATABASE would wait for it, after
  // the files were rolled back and the databases before it reloaded.
  auto locked = db::FindLockedTable(&conn, dump.databases, 1);
  // A probe that could not run (the server gone since, a statement refused) finds nothing: the
  // load's own lock wait is the backstop, as for the tables it passes over.
  if (!locked.ok() || locked->name.empty()) return Status::OK();
  return Status::Aborted("another session holds a lock on " + db::QuoteIdent(locked->db) + "." +
                         db::QuoteIdent(locked->name) + " on server \"" + dump.label +
                         "\", whose database would be dropped and reloaded (a transaction left open, LOCK TABLES, "
                         "a statement still running, a prepared XA transaction): " +
                         db::DescribeLockHolders(&conn, locked->db, locked->name) +
                         ". End what holds it (COMMIT or ROLLBACK in that session, or KILL it on the server), "
                         "then run again");
}

Status CheckDatabasesIdle(const Snapshot& snapshot, const DatabaseRestoreOptions& options) {
  for (const DatabaseDump& d : snapshot.databases) {
    if (!options.label.empty() && d.label != options.label) continue;
    DatabaseDump only = d;
    if (!options.databases.empty()) {
      only.databases.clear();
      for (const std::string& n : d.databases) {
        if (std::find(options.databases.begin(), options.databases.end(), n) != options.databases.end()) {
          only.databases.push_back(n);
        }
      }
    }
    Status s = CheckNoOtherSessions(only, options.servers);
    if (s.code() == Code::kIOError) continue;  // unreachable now: the restore itself says so
    RW_RETURN_IF_ERROR(s);
  }
  return Status::OK();
}

Result<DatabaseRestoreResult> RestoreDatabases(const Repository& repo, const Snapshot& snapshot,
                                               const DatabaseRestoreOptions& options, db::LoadProgress* progress) {
  if (snapshot.databases.empty()) return Status::NotFound("the snapshot holds no databases");
  std::vector<const DatabaseDump*> dumps;
  for (const DatabaseDump& d : snapshot.databases) {
    if (options.label.empty() || d.label == options.label) dumps.push_back(&d);
  }
  if (dumps.empty()) return Status::NotFound("the snapshot holds no databases of server \"" + options.label + "\"");
  // Which names each dump restores; every name asked for must be somewhere.
  std::vector<std::vector<std::string>> names(dumps.size());
  for (size_t i = 0; i < dumps.size(); ++i) {
    if (options.databases.empty()) {
      names[i] = dumps[i]->databases;
      continue;
    }
    for (const std::string& n : options.databases) {
      if (std::find(dumps[i]->databases.begin(), dumps[i]->databases.end(), n) != dumps[i]->databases.end()) {
        names[i].push_back(n);
      }
    }
  }
  for (const std::string& n : options.databases) {
    bool found = false;
    for (const auto& list : names) found = found || std::find(list.begin(), list.end(), n) != list.end();
    if (!found) return Status::NotFound("database `" + n + "` is not in the snapshot");
  }
  // Every server takes the largest statement of its dump and its objects' definers, checked
  // before any is touched.
  for (size_t i = 0; i < dumps.size(); ++i) {
    if (!names[i].empty()) RW_RETURN_IF_ERROR(CheckServerTakesDump(repo, *dumps[i], names[i], options.servers));
  }
  DatabaseRestoreResult result;
  std::vector<std::string> failed;  // objects the servers refused, "server \"L\": `db` views.sql: …"
  for (size_t i = 0; i < dumps.size(); ++i) {
    if (names[i].empty()) continue;
    const DatabaseDump& d = *dumps[i];
    db::LoadOptions lo;
    lo.threads = options.threads;
    lo.lock_wait_s = options.lock_wait_s;
    lo.databases = names[i];
    lo.connect.defaults_file = DefaultsFileFor(options.servers, d.label);
    db::LoadProgress local;
    Result<db::LoadStats> st = db::LoadServer(repo, d.tree, d.databases, lo, progress ? progress : &local);
    if (!st.ok()) return st.status().WithContext("databases of server \"" + d.label + "\"");
    for (const std::string& f : st->failed_objects) failed.push_back("server \"" + d.label + "\": " + f);
    for (const std::string& v : st->not_created) result.not_created.push_back("server \"" + d.label + "\": " + v);
    // Listed only: a server that cannot be asked now has been restored all the same.
    auto others = DatabasesNotInDump(d, lo.connect.defaults_file);
    std::vector<std::string> left_alone = others.ok() ? std::move(*others) : std::vector<std::string>{};
    result.servers.push_back({d.label, st->databases, std::move(left_alone), st->files, st->statements, st->bytes});
  }
  result.failed_objects = std::move(failed);
  return result;
}

Status DumpDatabaseSql(const Repository& repo, const Snapshot& snapshot, const std::string& label,
                       const std::string& name, const std::function<Status(std::string_view)>& out) {
  const DatabaseDump* found = nullptr;
  for (const DatabaseDump& d : snapshot.databases) {
    if (!label.empty() && d.label != label) continue;
    if (std::find(d.databases.begin(), d.databases.end(), name) == d.databases.end()) continue;
    if (found) {
      return Status::InvalidArgument("database `" + name + "` is in the dumps of servers \"" + found->label +
                                     "\" and \"" + d.label + "\": choose one with --label");
    }
    found = &d;
  }
  if (!found) {
    return Status::NotFound("database `" + name + "` is not in the snapshot" +
                            (label.empty() ? std::string() : " (server \"" + label + "\")"));
  }
  return db::WriteDatabaseSql(repo, found->tree, name, out);
}

}  // namespace rw
