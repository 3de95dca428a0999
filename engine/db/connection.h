// One client connection to a MySQL/MariaDB server (libmysqlclient / Connector/C). Settings come
// from an option file's [client] group (host, port, socket, user, password, ssl), or from the
// client library's default option files when none is given; never from argv. Error statuses
// carry the server's message (which never holds the password).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/status.h"

struct st_mysql;
struct st_mysql_res;

namespace rw::db {

struct ConnectOptions {
  std::string defaults_file;  // option file read for the [client] group; empty: library defaults
  int connect_timeout_s = 10;
  int rw_timeout_s = 0;  // read/write timeouts of the socket; 0 = the library's default
};

// Calls mysql_library_init once (thread-safe). Every thread that uses a connection calls
// ThreadInit() first (DbConnection does it in Connect()).
void LibraryInit();

// A row of a text-protocol result: fields (nullopt = NULL).
using Row = std::vector<std::optional<std::string>>;

// An option file given with --mysql-defaults-file is readable, a regular file, and has a
// [client] (or [client-server], [client-mariadb]) group or an !include: NotFound /
// InvalidArgument naming it otherwise.
Status CheckDefaultsFile(const std::string& path);

class DbConnection {
 public:
  DbConnection();
  ~DbConnection();
  DbConnection(const DbConnection&) = delete;
  DbConnection& operator=(const DbConnection&) = delete;

  // Connects with utf8mb4 as the connection charset. IOError "cannot connect to MySQL
  // server (defaults file F): <server message>" otherwise.
  Status Connect(const ConnectOptions& options);

  // Runs a statement and discards any result. The error names the statement's first words.
  Status Exec(std::string_view sql);
  // Runs a statement and returns every row (buffered).
  Result<std::vector<Row>> Query(std::string_view sql);
  // Runs a statement returning rows and streams them (mysql_use_result): `fn` gets each row's
  // fields and their lengths (NULL field: nullptr). The result's field metadata is passed to
  // `on_fields` first. A read error (server gone) fails the call.
  struct Field {
    std::string name;
    int type = 0;             // enum_field_types
    unsigned charsetnr = 0;   // 63 = binary
    unsigned flags = 0;
  };
  Status Stream(std::string_view sql, const std::function<Status(const std::vector<Field>&)>& on_fields,
                const std::function<Status(char** row, unsigned long* lengths)>& fn);

  // Quotes a string literal: '...' with mysql_real_escape_string.
  std::string Quote(std::string_view s) const;
  // Appends the escaped form (without quotes) to *out.
  void AppendEscaped(std::string_view s, std::string* out) const;

  unsigned long ThreadId() const;
  std::string ServerVersion() const;
  bool connected() const { return mysql_ != nullptr; }
  // The last error as a Status (IOError) with context.
  Status Error(std::string_view what) const;
  unsigned LastErrno() const;

  st_mysql* raw() { return mysql_; }

 private:
  st_mysql* mysql_ = nullptr;
  std::string where_;  // "MySQL server (defaults file F)" for messages
};

// The largest max_allowed_packet a server accepts (1 GiB), which the client sets for itself.
inline constexpr uint64_t kMaxAllowedPacketLimit = 1ull << 30;

// `name` quoted as an identifier: backticks doubled.
std::string QuoteIdent(std::string_view name);

}  // namespace rw::db
