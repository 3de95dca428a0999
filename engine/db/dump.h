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
