// Databases in snapshots (DESIGN.md "Databases"; engine/db does the SQL work):
//   BackupWithDatabases  files (optional) and the dumps of MySQL/MariaDB servers in one snapshot
//   RestoreDatabases     drop, recreate and load a snapshot's databases (restore, rollback)
//   DumpDatabaseSql      one database's SQL, in load order, for the stock client
// Credentials come from MySQL option files ([client] group), never from arguments.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/status.h"
#include "engine/db/dump.h"
#include "engine/db/load.h"
#include "engine/ops/backup.h"
#include "engine/repo/repository.h"
#include "manifests/snapshot.h"

namespace rw {

// One server: its label in the snapshot and the option file to reach it (empty: the client
// library's default option files, e.g. ~/.my.cnf).
struct DbServerSpec {
  std::string label = "default";
  std::string defaults_file;
};

struct DatabaseBackupOptions {
  std::vector<DbServerSpec> servers;   // empty: no databases
  std::vector<std::string> databases;  // empty: all (but mysql, sys, information_schema, performance_schema)
  bool include_system = false;         // adds `mysql` (users, grants)
  int threads = 2;                     // worker connections per server
  int lock_timeout_s = 60;             // FLUSH TABLES WITH READ LOCK waits at most this long
  uint64_t part_bytes = 256ull << 20;  // tables larger than this are dumped in parts
};

struct DatabaseBackupProgress {
  db::DumpProgress dump;
  std::atomic<uint64_t> servers_done{0};
};

// Dumps every server of `options` into `sink` (not committed: the caller commits, then saves
// the snapshot). The returned entries go into Snapshot::databases.
// What a dump leaves out (DumpResult::notes) goes to `observer` (optional) as notes on
// "databases/<label>".
Result<std::vector<DatabaseDump>> BackupDatabases(Repository* repo, BlobSink* sink,
                                                  const DatabaseBackupOptions& options,
                                                  DatabaseBackupProgress* progress, BackupObserver* observer = nullptr);

// A backup of `files.source` (may be empty: databases only) and of the databases in one
// snapshot. Databases are dumped first: a server that refuses (wrong password, unreachable,
// missing privilege, lock timeout, gone mid-dump) fails the call and no snapshot is saved.
// Honors files.lock_held, files.tags, files.command. With no source and no servers:
// InvalidArgument.
Result<BackupResult> BackupWithDatabases(Repository* repo, const BackupOptions& files,
                                         const DatabaseBackupOptions& databases, BackupObserver* observer,
                                         BackupProgress* progress, DatabaseBackupProgress* db_progress);

struct DatabaseRestoreOptions {
  // Option file per label; an entry with an empty label applies to every server not named.
  // No entry at all: the client library's default option files.
  std::vector<DbServerSpec> servers;
  std::string label;                   // only this server's dump; empty: every server's
  std::vector<std::string> databases;  // only these; empty: every database of the snapshot
  int threads = 2;
  int lock_wait_s = 60;  // db::LoadOptions::lock_wait_s
};

// The option file for the server labelled `label`: the entry with that label, else the one
// without a label, else "" (the client library's default option files).
std::string DefaultsFileFor(const std::vector<DbServerSpec>& servers, const std::string& label);

// InvalidArgument when an entry of `servers` is labelled (--db-label) with a label that no
// database dump of `snapshot` has: its option file would go unused, and the server it was
// meant for would be reached through another one (or the client library's defaults).
Status CheckServerLabels(const Snapshot& snapshot, const std::vector<DbServerSpec>& servers);

// The databases now on the server of `dump` (reached through `defaults_file`) that the dump does
// not hold, system databases aside: what restoring it leaves alone. The server's error when it
// cannot be reached.
Result<std::vector<std::string>> DatabasesNotInDump(const DatabaseDump& dump, const std::string& defaults_file);

// Whether the server of `dump` (found in `servers` by label) takes what restoring `databases` of
// it (empty: all) asks: the dump's largest statement (DatabaseDump::max_statement_bytes;
// db::CheckMaxAllowedPacket), and views, routines, triggers and events defined by other
// accounts, which the restoring account needs SET USER for (db::CheckDefiners).
// InvalidArgument naming the setting or the privilege otherwise; IOError when the server
// cannot be reached. RestoreDatabases checks every server with it before it touches any;
// rollback before it changes anything.
Status CheckServerTakesDump(const Repository& repo, const DatabaseDump& dump, const std::vector<std::string>& databases,
                            const std::vector<DbServerSpec>& servers);

// Whether other connections use the databases of `dump` on its server (found in `servers` by
// label): a rollback or `restore --databases-only` drops and reloads them, and a client still
// connected to one (an IceWarp
// service on this or another host, its connection pool idle or not) would write into the old
// state or fail half way. Aborted naming each connection (id, account, host, database,
// command, seconds); IOError when the server cannot be reached. An account without the PROCESS
// privilege sees only its own connections, so only root-like accounts see them all.
// Then, when no connection uses them, whether another session holds a lock on one of their
// tables or views (db::FindLockedTable: a 1 s wait at most, then Aborted naming the table and
// who may hold it; a probe that cannot run finds nothing).
Status CheckNoOtherSessions(const DatabaseDump& dump, const std::vector<DbServerSpec>& servers);

// CheckNoOtherSessions for every server and database that restoring `snapshot` with `options`
// (its label and database filters) drops; a server that cannot be reached now is skipped (the
// restore itself reports it).
Status CheckDatabasesIdle(const Snapshot& snapshot, const DatabaseRestoreOptions& options);

struct DatabaseRestoreResult {
  struct Server {
    std::string label;
    std::vector<std::string> databases;
    // Databases on the server that the snapshot does not hold (created after it; system
    // databases apart): left alone, listed so that the administrator knows.
    std::vector<std::string> left_alone;
    uint64_t files = 0, statements = 0, bytes = 0;
  };
  std::vector<Server> servers;
  // Routines, views, triggers, events the servers refused to create ("server \"L\": `db`
  // views.sql: view `v`: <error>"): everything else was restored. Callers report them and exit
  // 2 (restore) or count them as differences that remain (rollback).
  std::vector<std::string> failed_objects;
  // Views the snapshot holds only as comments, invalid when it was taken ("server \"L\": `db`:
  // view `v` (<why>)"): not created (db::LoadStats::not_created). Callers say so.
  std::vector<std::string> not_created;
};

// Restores the databases of `snapshot`: per database DROP DATABASE IF EXISTS and its schema,
// then table data over `threads` connections, then routines, views, triggers, events. Every
// name asked for must be in the snapshot (NotFound before anything is touched); a snapshot
// without databases is NotFound. Server errors carry the server's message. A routine, view,
// trigger or event that a server refuses to create does not stop the others, nor the other
// databases and servers: everything else is loaded, then Aborted lists each such object.
// (An invalid view, kept as a comment by the dump, is not created at all.)
Result<DatabaseRestoreResult> RestoreDatabases(const Repository& repo, const Snapshot& snapshot,
                                               const DatabaseRestoreOptions& options,
                                               db::LoadProgress* progress = nullptr);

// Writes database `name`'s SQL (schema, data, routines, views, triggers, events) to `out`.
// `label` empty: the only server of the snapshot holding `name` (InvalidArgument when several).
Status DumpDatabaseSql(const Repository& repo, const Snapshot& snapshot, const std::string& label,
                       const std::string& name, const std::function<Status(std::string_view)>& out);

}  // namespace rw
