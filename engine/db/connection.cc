#include "engine/db/connection.h"

#include <mysql.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>

namespace rw::db {

void LibraryInit() {
  static std::once_flag once;
  std::call_once(once, [] { mysql_library_init(0, nullptr, nullptr); });
}

DbConnection::DbConnection() = default;

DbConnection::~DbConnection() {
  if (mysql_) mysql_close(mysql_);
}

Status CheckDefaultsFile(const std::string& path) {
  // The client library ignores an option file it cannot read, and one without the groups it
  // reads, and then connects with its defaults: the local server on the default socket, which
  // may be another server than the one meant.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::NotFound("MySQL option file " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument("MySQL option file " + path + " is not a regular file");
  std::ifstream in(path);
  if (!in) return Status::IOError("MySQL option file " + path + ": " + std::strerror(errno ? errno : EACCES));
  std::string line;
  while (std::getline(in, line)) {
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    std::string_view l(line.data() + b, line.size() - b);
    if (l.rfind("!include", 0) == 0) return Status::OK();  // the group may come from there
    if (l.front() != '[') continue;
    size_t e = l.find(']');
    if (e == std::string_view::npos) continue;
    std::string_view group = l.substr(1, e - 1);
    while (!group.empty() && (group.front() == ' ' || group.front() == '\t')) group.remove_prefix(1);
    while (!group.empty() && (group.back() == ' ' || group.back() == '\t')) group.remove_suffix(1);
    if (group == "client" || group == "client-server" || group == "client-mariadb") return Status::OK();
  }
  return Status::InvalidArgument("MySQL option file " + path +
                                 " has no [client] group: the client library would read nothing from it");
}

Status DbConnection::Connect(const ConnectOptions& options) {
  LibraryInit();
  mysql_thread_init();
  where_ = options.defaults_file.empty() ? "MySQL server"
                                         : "MySQL server (defaults file " + options.defaults_file + ")";
  if (!options.defaults_file.empty()) RW_RETURN_IF_ERROR(CheckDefaultsFile(options.defaults_file));
  mysql_ = mysql_init(nullptr);
  if (!mysql_) return Status::IOError("mysql_init failed (out of memory)");
  if (!options.defaults_file.empty()) {
    mysql_options(mysql_, MYSQL_READ_DEFAULT_FILE, options.defaults_file.c_str());
  }
  mysql_options(mysql_, MYSQL_READ_DEFAULT_GROUP, "client");
  mysql_options(mysql_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  unsigned int timeout = static_cast<unsigned>(options.connect_timeout_s);
  mysql_options(mysql_, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  if (options.rw_timeout_s > 0) {
    unsigned int rw = static_cast<unsigned>(options.rw_timeout_s);
    mysql_options(mysql_, MYSQL_OPT_READ_TIMEOUT, &rw);
    mysql_options(mysql_, MYSQL_OPT_WRITE_TIMEOUT, &rw);
  }
  unsigned int local_infile = 0;
  mysql_options(mysql_, MYSQL_OPT_LOCAL_INFILE, &local_infile);
  // The client's own limit on a packet it sends or reads (libmariadb's default is 16 MiB): the
  // largest the server allows, so only the server's max_allowed_packet decides (a row of a
  // 10 MiB BLOB is a statement of 20 MiB in hex).
  unsigned long max_packet = kMaxAllowedPacketLimit;
  mysql_options(mysql_, MYSQL_OPT_MAX_ALLOWED_PACKET, &max_packet);
  if (!mysql_real_connect(mysql_, nullptr, nullptr, nullptr, nullptr, 0, nullptr, 0)) {
    Status s = Status::IOError("cannot connect to " + where_ + ": " + mysql_error(mysql_));
    mysql_close(mysql_);
    mysql_ = nullptr;
    return s;
  }
  return Status::OK();
}

Status DbConnection::Error(std::string_view what) const {
  std::string msg = std::string(what) + ": " + where_ + ": ";
  if (mysql_) {
    msg += mysql_error(mysql_);
    msg += " (error " + std::to_string(mysql_errno(mysql_)) + ")";
  } else {
    msg += "not connected";
  }
  return Status::IOError(msg);
}

unsigned DbConnection::LastErrno() const { return mysql_ ? mysql_errno(mysql_) : 0; }

namespace {
// The first words of a statement, for messages (never values: data statements are cut short).
std::string StatementHead(std::string_view sql) {
  std::string head(sql.substr(0, 80));
  for (char& c : head) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (sql.size() > 80) head += "…";
  return head;
}
}  // namespace

Status DbConnection::Exec(std::string_view sql) {
  if (!mysql_) return Status::IOError("not connected");
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) return Error(StatementHead(sql));
  // Drain every result (multi-statement or statements that return rows).
  do {
    MYSQL_RES* res = mysql_store_result(mysql_);
    if (res) mysql_free_result(res);
    else if (mysql_field_count(mysql_) != 0) return Error(StatementHead(sql));
    int next = mysql_next_result(mysql_);
    if (next > 0) return Error(StatementHead(sql));
    if (next < 0) break;
  } while (true);
  return Status::OK();
}

Result<std::vector<Row>> DbConnection::Query(std::string_view sql) {
  if (!mysql_) return Status::IOError("not connected");
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) return Error(StatementHead(sql));
  MYSQL_RES* res = mysql_store_result(mysql_);
  std::vector<Row> rows;
  if (!res) {
    if (mysql_field_count(mysql_) != 0) return Error(StatementHead(sql));
    return rows;
  }
  unsigned n = mysql_num_fields(res);
  while (MYSQL_ROW r = mysql_fetch_row(res)) {
    unsigned long* len = mysql_fetch_lengths(res);
    Row row(n);
    for (unsigned i = 0; i < n; ++i) {
      if (r[i]) row[i] = std::string(r[i], len[i]);
    }
    rows.push_back(std::move(row));
  }
  mysql_free_result(res);
  return rows;
}

Status DbConnection::Stream(std::string_view sql,
                            const std::function<Status(const std::vector<Field>&)>& on_fields,
                            const std::function<Status(char** row, unsigned long* lengths)>& fn) {
  if (!mysql_) return Status::IOError("not connected");
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) return Error(StatementHead(sql));
  MYSQL_RES* res = mysql_use_result(mysql_);
  if (!res) return Error(StatementHead(sql));
  std::unique_ptr<MYSQL_RES, void (*)(MYSQL_RES*)> guard(res, mysql_free_result);
  unsigned n = mysql_num_fields(res);
  MYSQL_FIELD* f = mysql_fetch_fields(res);
  std::vector<Field> fields(n);
  for (unsigned i = 0; i < n; ++i) {
    fields[i].name.assign(f[i].name, f[i].name_length);
    fields[i].type = f[i].type;
    fields[i].charsetnr = f[i].charsetnr;
    fields[i].flags = f[i].flags;
  }
  RW_RETURN_IF_ERROR(on_fields(fields));
  while (MYSQL_ROW r = mysql_fetch_row(res)) {
    Status s = fn(r, mysql_fetch_lengths(res));
    if (!s.ok()) {
      // Abandoning an unbuffered result leaves the connection out of sync; close it.
      guard.reset();
      mysql_close(mysql_);
      mysql_ = nullptr;
      return s;
    }
  }
  // mysql_fetch_row returns NULL at the end and on error: tell them apart.
  if (mysql_errno(mysql_) != 0) return Error(StatementHead(sql));
  return Status::OK();
}

std::string DbConnection::Quote(std::string_view s) const {
  std::string out = "'";
  AppendEscaped(s, &out);
  out += '\'';
  return out;
}

void DbConnection::AppendEscaped(std::string_view s, std::string* out) const {
  size_t old = out->size();
  out->resize(old + 2 * s.size() + 1);
  unsigned long n = mysql_real_escape_string(mysql_, out->data() + old, s.data(), s.size());
  out->resize(old + n);
}

unsigned long DbConnection::ThreadId() const { return mysql_ ? mysql_thread_id(mysql_) : 0; }

std::string DbConnection::ServerVersion() const { return mysql_ ? mysql_get_server_info(mysql_) : ""; }

std::string QuoteIdent(std::string_view name) {
  std::string out = "`";
  for (char c : name) {
    if (c == '`') out += '`';
    out += c;
  }
  out += '`';
  return out;
}

}  // namespace rw::db
