// Loading dumps made by DumpServer back into a server, and writing them out as one SQL stream.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/status.h"
#include "engine/db/connection.h"
#include "engine/repo/repository.h"

namespace rw::db {

struct LoadOptions {
  ConnectOptions connect;
  std::vector<std::string> databases;  // names to restore; empty: every database of the dump
  int threads = 2;                     // connections loading table data in parallel
  // How long a statement waits for a lock another session holds (the session's
  // lock_wait_timeout and innodb_lock_wait_timeout): DROP DATABASE waits for every transaction
  // that used one of its tables, and for the row locks of a prepared XA transaction.
  int lock_wait_s = 60;
};

struct LoadProgress {
  std::atomic<uint64_t> files{0}, statements{0}, bytes{0};
};

struct LoadStats {
  std::vector<std::string> databases;  // restored
  uint64_t files = 0, statements = 0, bytes = 0;
  // Routines, views, triggers, events the server refused to create, one line each:
  // "`db` views.sql: view `v`: <the server's error>". Everything else was loaded.
  std::vector<std::string> failed_objects;
  // Views the dump kept as comments only, invalid when it was made (a table they read was
  // gone): "`db`: view `v` (<why>)". Not created, as in the snapshot.
  std::vector<std::string> not_created;
};

// The server's client sessions other than `c`'s own that also meet `condition` (SQL starting
// with AND; "" for none), replication threads and the server's own left out: how many, and
// for a message the first five ("id 12 root@localhost in `db` (Sleep, 25 s), …, and N more").
struct ClientSessions {
  size_t count = 0;
  std::string list;
};
Result<ClientSessions> DescribeClientSessions(DbConnection* c, const std::string& condition);

// The first table or view of `databases` (those that exist; system databases skipped) that
// another session holds a lock on; an empty `name` when none. What DROP DATABASE would wait
// for: a transaction left open after reading or writing it (its metadata lock), a LOCK TABLES,
// a statement still running, a prepared XA transaction's row locks. Found by `LOCK TABLES x
// WRITE` then `UNLOCK TABLES`, one table at a time (the probe never holds one lock while it
// waits for another, so it cannot deadlock with the holder), with lock_wait_timeout and
// innodb_lock_wait_timeout of `wait_s`, innodb_table_locks on and autocommit off (so that
// InnoDB takes its table lock too); it stops at the first table found locked. No data is
// changed, but while it waits (at most `wait_s`) other sessions' new requests for that table
// queue behind it. A table that cannot be locked for another reason (no LOCK TABLES
// privilege, its engine gone) is passed over: DROP DATABASE's own lock wait
// (LoadOptions::lock_wait_s) stays the backstop. Not seen: a transaction that only called a
// stored function of the database. Reported though DROP DATABASE would not wait: a table whose
// triggers write to a table another session has locked, a view reading a table of another
// database that a session has locked (LOCK TABLES locks those as well).
// Changes the session's settings: for a connection of its own.
struct TableName {
  std::string db, name;
};
Result<TableName> FindLockedTable(DbConnection* c, const std::vector<std::string>& databases, int wait_s);

// Who may hold the lock FindLockedTable found on db.name, for a message: the
// holder itself when the server has the METADATA_LOCK_INFO plugin; else the sessions with an
// InnoDB transaction open and the prepared XA transactions; else the other client sessions.
// Sessions whose ids are in `not_ids` (comma-separated: the caller's other connections) are
// never named. `name` may be empty (the table is not known).
std::string DescribeLockHolders(DbConnection* c, const std::string& db, const std::string& name,
                                const std::string& not_ids = "");

// Restores the databases of one server's dump (`server_tree`, whose database directories hold
// `dump_databases`): per database DROP DATABASE IF EXISTS (never for `mysql`) and schema.sql;
// then every data file over `threads` connections in parallel; then routines, views, triggers,
// events. A database asked for that the dump lacks is NotFound before anything is touched.
// A schema or data statement that fails stops the load (its error); a routine, view, trigger or
// event that cannot be created does not: the other statements of its file and the other files
// run, and the object is listed in `failed_objects` (OK is returned).
Result<LoadStats> LoadServer(const Repository& repo, const BlobId& server_tree,
                             const std::vector<std::string>& dump_databases, const LoadOptions& options,
                             LoadProgress* progress);

// Writes one database's SQL in load order (schema, data, routines, views, triggers, events) to
// `out`, as the stock client loads it.
Status WriteDatabaseSql(const Repository& repo, const BlobId& server_tree, const std::string& database,
                        const std::function<Status(std::string_view)>& out);

// Runs every statement of an SQL text held as content blobs (a dump file) on `c`. The first
// statement that fails stops it and is returned, unless `on_error` is given: then each failing
// statement is passed to it with its error, and the rest run. `table_file`: a schema or data
// file, whose header, in a dump made before kSqlMode held ALLOW_INVALID_DATES, is run as today's
// (IsOlderDumpSqlMode), so that its invalid dates load as they were too.
using StatementErrorFn = std::function<void(std::string_view statement, const Status& error)>;
Status ExecuteSqlBlobs(const Repository& repo, const std::vector<BlobId>& content, DbConnection* c,
                       LoadProgress* progress, const StatementErrorFn& on_error = nullptr, bool table_file = false);

// Whether `statement` is the SET SQL_MODE that schema and data files of dumps made before
// kSqlMode held ALLOW_INVALID_DATES start with ('NO_AUTO_VALUE_ON_ZERO'; they set no other).
// Not for the late files: there an object's own sql_mode may be that one.
bool IsOlderDumpSqlMode(std::string_view statement);

// Whether the server `c` is connected to takes the statements of a dump whose largest is
// `statement_bytes` long (DatabaseDump::max_statement_bytes; 0: not recorded, nothing checked):
// its global max_allowed_packet, which the restore's connections get, must be larger. Else
// InvalidArgument naming both sizes and the setting to raise. Call it before anything is
// dropped: a statement the server refuses mid-load ("server has gone away") leaves the table
// emptied.
Status CheckMaxAllowedPacket(DbConnection* c, uint64_t statement_bytes);

// The object a CREATE statement of a dump's late files makes, for messages: "view `v`",
// "trigger `t`", "function `f`", …; "" for any other statement.
std::string CreatedObject(std::string_view statement);

// The DEFINER of such a CREATE statement (as SHOW CREATE writes it: DEFINER=`user`@`host`),
// unquoted; false when it has none (or DEFINER=CURRENT_USER).
bool ObjectDefiner(std::string_view statement, std::string* user, std::string* host);

// Whether SHOW GRANTS (one statement a row) gives the session a global SUPER, SET USER or ALL
// PRIVILEGES: what MariaDB asks to create an object for another definer.
bool MayDefineForOthers(const std::vector<std::string>& grants);

// Whether the account `c` is connected as may create every view, routine, trigger and event of
// `databases` (of the dump `server_tree`) with its DEFINER: one defined by another account
// takes SET USER (or SUPER) on MariaDB, else the server refuses it (error 1227) — after
// LoadServer has dropped the database. InvalidArgument naming the first such objects, their
// definers and the GRANT to give otherwise. Call it before anything is dropped. MySQL servers
// are not checked.
Status CheckDefiners(const Repository& repo, const BlobId& server_tree, const std::vector<std::string>& databases,
                     DbConnection* c);

}  // namespace rw::db
