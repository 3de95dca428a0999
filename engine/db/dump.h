// Logical dump of one MySQL/MariaDB server into the repository, as a tree of virtual SQL files:
//
//   <db>/schema.sql             CREATE DATABASE + every table (DROP TABLE IF EXISTS, SHOW CREATE TABLE)
//   <db>/data/<table>.sql       rows as multi-row INSERTs (large tables: <table>.000001.sql, … by
//                               primary-key ranges, dumped in parallel)
//   <db>/views.sql              views, dependencies first
//   <db>/routines.sql  <db>/triggers.sql  <db>/events.sql
//
// Every file is plain SQL the stock mariadb/mysql client loads (each sets its own session
// state first). Names are EncodeName()d (table names in data/: EncodeTableFileName()). One
// consistent snapshot across the worker connections: FLUSH TABLES WITH READ LOCK, START
// TRANSACTION WITH CONSISTENT SNAPSHOT on each worker, binlog position and GTID read,
// non-transactional tables dumped, UNLOCK TABLES, then the transactional tables.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/base/status.h"
#include "engine/db/connection.h"
#include "engine/db/sql_file.h"

namespace rw::db {

// Databases `all` leaves out; `include_system` adds back "mysql" only.
bool IsSystemDatabase(std::string_view name);

struct DumpOptions {
  ConnectOptions connect;
  std::vector<std::string> databases;  // empty: all (see IsSystemDatabase)
  bool include_system = false;
  int threads = 2;                     // worker connections
  int lock_timeout_s = 60;             // FLUSH TABLES WITH READ LOCK waits at most this long
  uint64_t part_bytes = 256ull << 20;  // tables larger than this (estimate) are split in parts
  uint64_t insert_bytes = 1ull << 20;  // multi-row INSERT statements close past this size
};

struct DumpProgress {
  std::atomic<uint64_t> rows{0}, tables{0};
};

struct DumpResult {
  BlobId tree;  // one directory per database
  std::string server_version;
  std::string binlog_file;
  uint64_t binlog_position = 0;
  std::string gtid;
  std::vector<std::string> databases;  // real names, in order
  uint64_t files = 0, tables = 0, rows = 0, sql_bytes = 0;
  uint64_t max_statement_bytes = 0;  // the largest statement written (see DatabaseDump)
  std::vector<std::string> notes;  // not errors: what the dump leaves out ("db.table: …")
};

// What the server grants the session's account, read from SHOW GRANTS (exposed for tests;
// the backup's privilege checks use it). information_schema's *_PRIVILEGES tables show an
// account without SELECT on the `mysql` database only its own rows, not those of its roles
// nor of PUBLIC; SHOW GRANTS lists, on MariaDB, the account's rows, those of every enabled
// role and PUBLIC's. Held is decided as the server does: the account, its enabled roles (whose
// rows the server merges per database name: one role) and PUBLIC each grant on their own; of
// each one's database rows that match a name, the server takes the most specific one alone (a
// name without wildcards, then the one whose first `%` or `_` comes latest), so a row for
// `pv`.* hides one for `p%`.*; when two rows tie, both must hold it. Names are compared as the
// server does: bytes, case-sensitively unless lower_case_table_names (then lower-cased).
class AccountGrants {
 public:
  // The lines of SHOW GRANTS. InvalidArgument naming a GRANT or REVOKE line it cannot read.
  static Result<AccountGrants> Parse(const std::vector<std::string>& lines, bool lower_case_names);

  // Whether one of `any_of` (upper-case names: "TRIGGER", "EXECUTE", …) is held globally
  // (ON *.*; not one revoked for that database, MySQL's partial revokes, when `db` is given).
  bool Global(const std::vector<std::string>& any_of, const std::string* db = nullptr) const;
  // … globally or on database `db`. `why`, when not held: set to why a grant that names the
  // privilege on a pattern matching `db` does not count, or left alone.
  bool OnDatabase(const std::vector<std::string>& any_of, const std::string& db, std::string* why = nullptr) const;
  // … globally, on `db` or on its table `table`.
  bool OnTable(const std::vector<std::string>& any_of, const std::string& db, const std::string& table,
               std::string* why = nullptr) const;

  struct Privileges {
    bool all = false;  // ALL PRIVILEGES
    std::vector<std::string> names;
    bool HasAny(const std::vector<std::string>& any_of) const;
  };
  struct Grantee {
    Privileges global;
    std::vector<std::pair<std::string, Privileges>> databases;  // pattern → privileges, one per pattern
    std::vector<std::pair<std::pair<std::string, std::string>, Privileges>> tables;
    std::vector<std::pair<std::string, Privileges>> revoked;  // partial revokes (MySQL): database → privileges
  };

 private:
  std::string Norm(const std::string& name) const;
  bool lower_case_names_ = false;
  Grantee account_, roles_, public_;
};

// Whether database name `name` matches the pattern of a database grant as the server matches
// it: `%` any bytes, `_` one byte, `\` takes the next byte as it is; case-sensitive.
bool DatabasePatternMatches(std::string_view pattern, std::string_view name);
// The rank the server sorts database grant rows by (higher first): 128 for a name without
// wildcards, else the position (from 1) of the first `%` or `_`, at most 127; 0 when empty.
int DatabasePatternRank(std::string_view pattern);

// Dumps into `sink`. Fails (nothing referenced) on any server error: connection refused, wrong
// password, missing privilege, the lock not had in time, the server gone mid-dump.
Result<DumpResult> DumpServer(const DumpOptions& options, SharedSink* sink, DumpProgress* progress);

// File names inside a database directory, in load order.
// The SQL_MODE every dump file sets for itself and restore connections start with (objects set
// their own before they are created). ALLOW_INVALID_DATES: a DATE or DATETIME written under it
// holds a day its month lacks ('2020-02-31'); loaded without it such a value became
// '0000-00-00' (a warning: the mode is not strict) and a DEFAULT of one failed CREATE TABLE
// (error 1067). It only skips the check of the day against the month: valid values and the
// parsing of statements are as before.
inline constexpr const char* kSqlMode = "NO_AUTO_VALUE_ON_ZERO,ALLOW_INVALID_DATES";
inline constexpr const char* kSchemaFile = "schema.sql";
inline constexpr const char* kDataDir = "data";
// Routines come before views: a view may call a stored function (procedures are not checked
// when created). Triggers after the data, so they do not fire on restored rows.
inline constexpr const char* kLateFiles[] = {"routines.sql", "views.sql", "triggers.sql", "events.sql"};

}  // namespace rw::db
