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
};

struct LoadProgress {
  std::atomic<uint64_t> files{0}, statements{0}, bytes{0};
};

struct LoadStats {
  std::vector<std::string> databases;  // restored
  uint64_t files = 0, statements = 0, bytes = 0;
};

// Restores the databases of one server's dump (`server_tree`, whose database directories hold
// `dump_databases`): per database DROP DATABASE IF EXISTS (never for `mysql`) and schema.sql;
// then every data file over `threads` connections in parallel; then routines, views, triggers,
// events. A database asked for that the dump lacks is NotFound before anything is touched.
Result<LoadStats> LoadServer(const Repository& repo, const BlobId& server_tree,
                             const std::vector<std::string>& dump_databases, const LoadOptions& options,
                             LoadProgress* progress);

// Writes one database's SQL in load order (schema, data, routines, views, triggers, events) to
// `out`, as the stock client loads it.
Status WriteDatabaseSql(const Repository& repo, const BlobId& server_tree, const std::string& database,
                        const std::function<Status(std::string_view)>& out);

// Runs every statement of an SQL text held as content blobs (a dump file) on `c`.
Status ExecuteSqlBlobs(const Repository& repo, const std::vector<BlobId>& content, DbConnection* c,
                       LoadProgress* progress);

}  // namespace rw::db
