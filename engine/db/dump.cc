#include "engine/db/dump.h"

#include <mysql.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "engine/format/pack.h"

namespace rw::db {

bool IsSystemDatabase(std::string_view name) {
  return name == "mysql" || name == "sys" || name == "information_schema" ||
         name == "performance_schema";
}

bool DatabasePatternMatches(std::string_view pattern, std::string_view name) {
  // mysys wild_compare: backtracks to the last `%` on a mismatch.
  size_t p = 0, n = 0, star_p = std::string_view::npos, star_n = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '%') {
      star_p = ++p;
      star_n = n;
      continue;
    }
    if (p < pattern.size()) {
      size_t lit = p;
      bool any = pattern[p] == '_';
      if (pattern[p] == '\\' && p + 1 < pattern.size()) lit = ++p;
      if (any || pattern[lit] == name[n]) {
        ++p;
        ++n;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p;
    n = ++star_n;
  }
  while (p < pattern.size() && pattern[p] == '%') ++p;
  return p == pattern.size();
}

int DatabasePatternRank(std::string_view pattern) {
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      ++i;
    } else if (pattern[i] == '%' || pattern[i] == '_') {
      return static_cast<int>(std::min<size_t>(i + 1, 127));
    }
  }
  return pattern.empty() ? 0 : 128;
}

bool AccountGrants::Privileges::HasAny(const std::vector<std::string>& any_of) const {
  if (all) return !any_of.empty();
  for (const std::string& p : any_of) {
    if (std::find(names.begin(), names.end(), p) != names.end()) return true;
  }
  return false;
}

namespace {

// A token of a SHOW GRANTS line: a word (keyword, unquoted name), a `quoted` name, a 'string'
// or one character of punctuation.
struct GrantToken {
  enum Kind { kWord, kName, kString, kPunct } kind;
  std::string text;
  bool Is(std::string_view word) const {
    if (kind != kWord || text.size() != word.size()) return false;
    for (size_t i = 0; i < word.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(text[i])) != word[i]) return false;
    }
    return true;
  }
  bool IsPunct(char c) const { return kind == kPunct && text.size() == 1 && text[0] == c; }
};

bool TokenizeGrant(std::string_view line, std::vector<GrantToken>* out) {
  size_t i = 0;
  while (i < line.size()) {
    const unsigned char c = static_cast<unsigned char>(line[i]);
    if (std::isspace(c)) {
      ++i;
    } else if (c == '`' || c == '\'' || c == '"') {
      GrantToken t{c == '`' ? GrantToken::kName : GrantToken::kString, {}};
      ++i;
      for (;;) {
        if (i >= line.size()) return false;
        if (line[i] == static_cast<char>(c)) {
          if (i + 1 < line.size() && line[i + 1] == static_cast<char>(c)) {
            t.text += line[i];
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        if (c != '`' && line[i] == '\\' && i + 1 < line.size()) ++i;
        t.text += line[i++];
      }
      out->push_back(std::move(t));
    } else if (std::isalnum(c) || c == '_' || c == '$' || c >= 0x80) {
      size_t b = i;
      while (i < line.size()) {
        const unsigned char d = static_cast<unsigned char>(line[i]);
        if (!(std::isalnum(d) || d == '_' || d == '$' || d >= 0x80)) break;
        ++i;
      }
      out->push_back({GrantToken::kWord, std::string(line.substr(b, i - b))});
    } else {
      out->push_back({GrantToken::kPunct, std::string(1, static_cast<char>(c))});
      ++i;
    }
  }
  return true;
}

void MergePrivileges(const AccountGrants::Privileges& from, AccountGrants::Privileges* to) {
  to->all = to->all || from.all;
  for (const std::string& n : from.names) {
    if (std::find(to->names.begin(), to->names.end(), n) == to->names.end()) to->names.push_back(n);
  }
}

template <typename K>
void MergeRow(const K& key, const AccountGrants::Privileges& p,
              std::vector<std::pair<K, AccountGrants::Privileges>>* rows) {
  for (auto& r : *rows) {
    if (r.first == key) {
      MergePrivileges(p, &r.second);
      return;
    }
  }
  rows->emplace_back(key, p);
}

}  // namespace

std::string AccountGrants::Norm(const std::string& name) const {
  if (!lower_case_names_) return name;
  std::string s = name;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return s;
}

// A line is GRANT <privileges> ON <what> TO <grantee> […], where <privileges> is ALL PRIVILEGES,
// USAGE or a list of names, a column list after some ("SELECT (`a`, `b`)": column privileges,
// which grant nothing on the table, left out); <what> is *.*, `db`.*, `db`.`table`, or a routine
// or proxied user (left out); <grantee> is `user`@`host`, `role` or PUBLIC. Role grants
// ("GRANT `role` TO …") and SET DEFAULT ROLE lines have no ON and grant nothing themselves (the
// enabled roles' own lines follow). REVOKE … ON `db`.* FROM …: a partial revoke (MySQL).
Result<AccountGrants> AccountGrants::Parse(const std::vector<std::string>& lines, bool lower_case_names) {
  AccountGrants g;
  g.lower_case_names_ = lower_case_names;
  for (const std::string& line : lines) {
    std::vector<GrantToken> t;
    const bool tokenized = TokenizeGrant(line, &t);
    if (tokenized && (t.empty() || !(t[0].Is("GRANT") || t[0].Is("REVOKE")))) continue;
    const auto bad = [&line] { return Status::InvalidArgument("cannot read this line of SHOW GRANTS: " + line); };
    if (!tokenized) return bad();
    const bool revoke = t[0].Is("REVOKE");
    // The ON that ends the privileges, outside a column list.
    size_t on = 0;
    int depth = 0;
    for (size_t i = 1; i < t.size() && on == 0; ++i) {
      if (t[i].IsPunct('(')) ++depth;
      if (t[i].IsPunct(')')) --depth;
      if (depth == 0 && (t[i].Is("ON") || t[i].Is("TO") || t[i].Is("FROM"))) on = t[i].Is("ON") ? i : t.size();
    }
    if (on == 0) return bad();
    if (on == t.size()) continue;  // a role granted: no privileges of its own
    Privileges privs;
    std::string name;
    bool columns = false;
    depth = 0;
    for (size_t i = 1; i <= on; ++i) {
      if (i == on || (depth == 0 && t[i].IsPunct(','))) {
        if (name.empty()) return bad();
        if (name == "ALL" || name == "ALL PRIVILEGES") {
          privs.all = true;
        } else if (!columns && name != "USAGE") {
          privs.names.push_back(name);
        }
        name.clear();
        columns = false;
        continue;
      }
      if (t[i].IsPunct('(')) {
        ++depth;
        columns = true;
      } else if (t[i].IsPunct(')')) {
        --depth;
      } else if (depth == 0) {
        if (t[i].kind != GrantToken::kWord) return bad();
        std::string w = t[i].text;
        std::transform(w.begin(), w.end(), w.begin(), [](unsigned char ch) { return std::toupper(ch); });
        name += (name.empty() ? "" : " ") + w;
      }
    }
    // What: *.* | db.* | db.table | FUNCTION/PROCEDURE/PACKAGE [BODY] db.name | a proxied user.
    size_t i = on + 1;
    const auto ident = [&](size_t k) {
      return k < t.size() && (t[k].kind == GrantToken::kName || t[k].kind == GrantToken::kWord) &&
             !t[k].Is("TO") && !t[k].Is("FROM");
    };
    enum { kGlobal, kDatabase, kTable, kOther } level = kOther;
    std::string db, table;
    if (i + 2 < t.size() && t[i].IsPunct('*') && t[i + 1].IsPunct('.') && t[i + 2].IsPunct('*')) {
      level = kGlobal;
      i += 3;
    } else if (ident(i) && !t[i].Is("FUNCTION") && !t[i].Is("PROCEDURE") && !t[i].Is("PACKAGE") &&
               i + 2 < t.size() && t[i + 1].IsPunct('.')) {
      db = t[i].text;
      if (t[i + 2].IsPunct('*')) {
        level = kDatabase;
      } else if (ident(i + 2)) {
        level = kTable;
        table = t[i + 2].text;
      } else {
        return bad();
      }
      i += 3;
    } else if (t[i].Is("FUNCTION") || t[i].Is("PROCEDURE") || t[i].Is("PACKAGE") ||
               privs.names == std::vector<std::string>{"PROXY"}) {
      continue;  // routine grants and proxies: nothing the checks ask about
    } else {
      return bad();
    }
    if (i >= t.size() || !(t[i].Is(revoke ? "FROM" : "TO"))) return bad();
    ++i;
    Grantee* who = nullptr;
    if (i < t.size() && t[i].Is("PUBLIC")) {
      who = &g.public_;
    } else if (i < t.size() && t[i].kind != GrantToken::kPunct) {
      who = i + 1 < t.size() && t[i + 1].IsPunct('@') ? &g.account_ : &g.roles_;
    } else {
      return bad();
    }
    if (revoke) {
      if (level == kDatabase) MergeRow(g.Norm(db), privs, &who->revoked);
      continue;  // a global REVOKE is not listed; others are not partial revokes
    }
    switch (level) {
      case kGlobal: MergePrivileges(privs, &who->global); break;
      case kDatabase: MergeRow(g.Norm(db), privs, &who->databases); break;
      case kTable: MergeRow(std::make_pair(g.Norm(db), g.Norm(table)), privs, &who->tables); break;
      case kOther: break;
    }
  }
  return g;
}

bool AccountGrants::Global(const std::vector<std::string>& any_of, const std::string* db) const {
  for (const Grantee* g : {&account_, &roles_, &public_}) {
    for (const std::string& p : any_of) {
      if (!g->global.HasAny({p})) continue;
      bool revoked = false;
      if (db) {
        for (const auto& r : g->revoked) revoked = revoked || (r.first == Norm(*db) && r.second.HasAny({p}));
      }
      if (!revoked) return true;
    }
  }
  return false;
}

bool AccountGrants::OnDatabase(const std::vector<std::string>& any_of, const std::string& db, std::string* why) const {
  if (Global(any_of, &db)) return true;
  const std::string name = Norm(db);
  for (const Grantee* g : {&account_, &roles_, &public_}) {
    int top = -1;
    for (const auto& r : g->databases) {
      if (DatabasePatternMatches(r.first, name)) top = std::max(top, DatabasePatternRank(r.first));
    }
    if (top < 0) continue;
    bool held = true;
    const std::string* taken = nullptr;
    for (const auto& r : g->databases) {
      if (!DatabasePatternMatches(r.first, name) || DatabasePatternRank(r.first) != top) continue;
      if (!r.second.HasAny(any_of)) {
        held = false;
        taken = &r.first;
      }
    }
    if (held) return true;
    for (const auto& r : g->databases) {
      if (!why || !why->empty() || !DatabasePatternMatches(r.first, name) || !r.second.HasAny(any_of)) continue;
      *why = "its grant ON " + QuoteIdent(r.first) + ".* does not count: for " + QuoteIdent(db) +
             (DatabasePatternRank(r.first) < top
                  ? " the server takes its grant ON " + QuoteIdent(*taken) + ".* instead, which lacks it"
                  : " the server may take its grant ON " + QuoteIdent(*taken) +
                        ".* instead, as specific, which lacks it");
    }
  }
  return false;
}

bool AccountGrants::OnTable(const std::vector<std::string>& any_of, const std::string& db, const std::string& table,
                            std::string* why) const {
  const auto key = std::make_pair(Norm(db), Norm(table));
  for (const Grantee* g : {&account_, &roles_, &public_}) {
    for (const auto& r : g->tables) {
      if (r.first == key && r.second.HasAny(any_of)) return true;
    }
  }
  return OnDatabase(any_of, db, why);
}

namespace {

// The session of schema and data files. CHECK constraints off (MariaDB 10.2.1 and later; MySQL
// skips the /*M! comment): rows are loaded as they were, including those that break a
// constraint (written with the checks off) and invalid JSON (a JSON column is a CHECK). The
// SQL_MODE is kSqlMode, as in every file.
const std::string kSessionSetup = std::string(
    "SET NAMES utf8mb4;\n"
    "SET FOREIGN_KEY_CHECKS=0;\n"
    "SET UNIQUE_CHECKS=0;\n"
    "/*M!100201 SET check_constraint_checks=0 */;\n"
    "SET SQL_MODE='") + kSqlMode + "';\n"
    "SET TIME_ZONE='+00:00';\n";

struct TableInfo {
  std::string name;
  std::string engine;
  bool transactional = true;
  bool dump_data = true;
  bool sequence = false;             // a SEQUENCE: schema.sql creates it and sets its next value
  uint64_t data_length = 0;
  std::vector<std::string> columns;  // not generated
  std::vector<std::string> selects;  // per column, what the dump SELECTs (see ReadTables)
  // Per column: "" or, for text in a character set utf8mb4 does not carry (see
  // CarriedByUtf8mb4), the introducer its raw bytes are written with ("_cp1250 ").
  std::vector<std::string> introducers;
  std::vector<std::string> pk;       // primary key columns
  bool pk_integer = false;           // one integer column: parts by ranges
  bool pk_unsigned = false;
};

struct DbInfo {
  std::string name;
  std::vector<TableInfo> tables;
  std::vector<TreeEntry> files;  // schema.sql and the late files
  std::vector<TreeEntry> data;   // data/*
};

struct Task {
  size_t db = 0, table = 0;
  int part = 0, parts = 1;
  std::string where;  // "" or a condition on the primary key
  bool transactional = true;
};

std::string Q(std::string_view s) { return QuoteIdent(s); }

const std::string& Str(const Row& r, size_t i) {
  static const std::string empty;
  return i < r.size() && r[i] ? *r[i] : empty;
}

bool IsNumericType(int t) {
  switch (t) {
    case MYSQL_TYPE_DECIMAL: case MYSQL_TYPE_NEWDECIMAL: case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT: case MYSQL_TYPE_LONG: case MYSQL_TYPE_FLOAT: case MYSQL_TYPE_DOUBLE:
    case MYSQL_TYPE_LONGLONG: case MYSQL_TYPE_INT24: case MYSQL_TYPE_YEAR:
      return true;
    default:
      return false;
  }
}

bool IsStringType(int t) {
  switch (t) {
    case MYSQL_TYPE_VARCHAR: case MYSQL_TYPE_VAR_STRING: case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_TINY_BLOB: case MYSQL_TYPE_MEDIUM_BLOB: case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB: case MYSQL_TYPE_GEOMETRY:
      return true;
    default:
      return false;
  }
}

void AppendHex(const char* v, unsigned long len, std::string* out) {
  static const auto kPairs = [] {  // byte -> its two lower-case hex digits
    std::array<char, 512> t{};
    const char* hex = "0123456789abcdef";
    for (int c = 0; c < 256; ++c) {
      t[2 * c] = hex[c >> 4];
      t[2 * c + 1] = hex[c & 15];
    }
    return t;
  }();
  size_t old = out->size();
  out->resize(old + 2 + 2 * len);
  char* p = out->data() + old;
  *p++ = '0';
  *p++ = 'x';
  for (unsigned long i = 0; i < len; ++i, p += 2) {
    std::memcpy(p, &kPairs[2 * static_cast<unsigned char>(v[i])], 2);
  }
}

// Whether a column's values are written as hex: binary strings, BLOBs, BIT, geometry; text
// read as its raw bytes (TableInfo::introducers) as kIntroducedHex.
enum class ValueKind { kNumber, kHex, kIntroducedHex, kText };
ValueKind KindOf(const DbConnection::Field& f) {
  if (f.type == MYSQL_TYPE_BIT) return ValueKind::kHex;
  if (IsNumericType(f.type)) return ValueKind::kNumber;
  if (IsStringType(f.type) && f.charsetnr == 63) return ValueKind::kHex;
  return ValueKind::kText;
}

// Whether a text column in character set `charset` (information_schema's name) comes back byte
// for byte when the dump reads it converted to utf8mb4 (the connection's set) and the restore
// stores that text back. utf8mb3 (`utf8` before MariaDB 10.6 and MySQL 8.0.30) is a subset of
// utf8mb4; latin1 maps every one of its 256 bytes to a character of its own (MariaDB's latin1 is
// cp1252 with 0x81 0x8D 0x8F 0x90 0x9D as U+0081 …; checked by db.column_charset). Every other
// set may hold bytes that convert to `?` (ascii ≥ 0x80; cp1250 0x81 0x83 0x88 0x90 0x98; big5,
// sjis, gbk sequences that are well formed but map to no character; …): their columns are read
// as raw bytes and written as introduced hex. Any set not named here takes that path, exact for
// all and only slower (its values are twice their size in the dump). The introducer makes the
// server check the bytes are well formed in the set (error 1300 otherwise); INSERT never stores
// ill-formed ones (MariaDB 10.11: `?` instead, warning 1366), so a column holds none.
bool CarriedByUtf8mb4(std::string_view charset) {
  return charset == "utf8mb4" || charset == "utf8mb3" || charset == "utf8" || charset == "latin1";
}

class Dumper {
 public:
  Dumper(const DumpOptions& o, SharedSink* sink, DumpProgress* progress)
      : opts_(o), sink_(sink), progress_(progress) {}

  Result<DumpResult> Run();

 private:
  Status SetupSession(DbConnection* c);
  Status ListDatabases();
  Status CheckObjectPrivileges();
  Result<AccountGrants> ReadGrants(const std::string& account);
  Status CheckRoutines(const DbInfo& db, const std::string& account, const AccountGrants& grants);
  Status CheckTables(const DbInfo& db, const std::string& account, const AccountGrants& grants);
  Status LockAndSnapshot();
  Status ReadTables(DbInfo* db);
  Status WriteSchema(DbInfo* db);
  Status WriteRoutines(DbInfo* db);
  Status WriteViews(DbInfo* db);
  Status WriteTriggers(DbInfo* db);
  Status WriteEvents(DbInfo* db);
  Status PlanParts(size_t dbi, size_t ti, std::vector<Task>* tasks);
  Status DumpTask(DbConnection* c, const Task& t, TreeEntry* out);
  Result<TreeEntry> WriteFile(const std::string& name, const std::string& text);
  std::string LateHeader(const DbInfo& db, const char* what);

  const DumpOptions& opts_;
  SharedSink* sink_;
  DumpProgress* progress_;
  DbConnection control_;
  std::vector<std::unique_ptr<DbConnection>> workers_;
  std::vector<DbInfo> dbs_;
  std::set<std::string> transactional_engines_;
  DumpResult result_;
  std::atomic<uint64_t> max_statement_{0};  // see NoteStatement
  // Records a statement of `bytes` written to a file (thread-safe).
  void NoteStatement(uint64_t bytes) {
    uint64_t cur = max_statement_.load();
    while (bytes > cur && !max_statement_.compare_exchange_weak(cur, bytes)) {
    }
  }
};

// Every connection reads under a known sql_mode, whatever the server's global one: SHOW CREATE
// TABLE/DATABASE/VIEW quote identifiers with '"' under ANSI_QUOTES (also part of ANSI, ORACLE,
// …), which the files' own SET SQL_MODE would then not parse, and PAD_CHAR_TO_FULL_LENGTH would
// pad the CHAR values read. The empty mode, as mariadb-dump sets it. Routines, triggers and
// events are shown with the sql_mode they were created under, and keep it.
Status Dumper::SetupSession(DbConnection* c) {
  RW_RETURN_IF_ERROR(c->Exec("SET SESSION sql_mode=''"));
  RW_RETURN_IF_ERROR(c->Exec("SET SESSION time_zone='+00:00'"));
  RW_RETURN_IF_ERROR(c->Exec("SET SESSION net_write_timeout=3600, SESSION net_read_timeout=3600"));
  RW_RETURN_IF_ERROR(c->Exec("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"));
  return Status::OK();
}

Status Dumper::ListDatabases() {
  RW_ASSIGN_OR_RETURN(auto rows, control_.Query("SHOW DATABASES"));
  std::set<std::string> present;
  for (const Row& r : rows) present.insert(Str(r, 0));
  std::vector<std::string> names;
  if (opts_.databases.empty()) {
    for (const std::string& n : present) {
      if (!IsSystemDatabase(n) || (opts_.include_system && n == "mysql")) names.push_back(n);
    }
  } else {
    for (const std::string& n : opts_.databases) {
      if (!present.count(n)) {
        return Status::NotFound("database " + Q(n) + " does not exist on the server (or is not visible to this user)");
      }
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    }
    if (opts_.include_system && present.count("mysql") &&
        std::find(names.begin(), names.end(), "mysql") == names.end()) {
      names.push_back("mysql");
    }
  }
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    DbInfo db;
    db.name = n;
    dbs_.push_back(std::move(db));
  }
  return Status::OK();
}

// The server hides what the backup user may not see instead of failing: without the TRIGGER
// privilege on a table, SHOW TRIGGERS and information_schema.TRIGGERS leave its triggers out;
// without EVENT on a database, information_schema.EVENTS leaves its events out. A snapshot made
// so would silently lack them, and a rollback would drop the databases and reload them without.
// Refused here, before anything is dumped, naming the privilege and the database, unless there
// is provably nothing to miss: a database without tables has no triggers, and one whose rows of
// mysql.event the user may read and finds none has no events. TRIGGER is looked up as the
// server grants it (ReadGrants: SHOW GRANTS, for information_schema's *_PRIVILEGES hide the
// rows of the account's roles and of PUBLIC from an account without SELECT on `mysql`), to the
// account, its enabled roles or PUBLIC, globally, on the database (the server's most specific
// matching row: a grant ON `p%`.* does not count when the account also has one ON `pv`.*) or
// on the table; EVENT is asked of the server (SHOW EVENTS fails without it, error 1044, as it
// does for mariadb-dump). Tables and views: CheckTables. Routines: CheckRoutines.
Status Dumper::CheckObjectPrivileges() {
  RW_ASSIGN_OR_RETURN(auto me, control_.Query("SELECT CURRENT_USER()"));
  const std::string account = me.empty() ? std::string("the backup user") : Str(me[0], 0);
  RW_ASSIGN_OR_RETURN(const AccountGrants grants, ReadGrants(account));
  // Every privilege the backup lacks is named at once (an administrator fixing one GRANT at a
  // time would otherwise run the backup once per missing grant); other errors stop at once.
  std::vector<std::string> refusals;
  auto gather = [&](Status st) -> Status {
    if (st.code() != Code::kAborted) return st;
    refusals.push_back(st.message());
    return Status::OK();
  };
  for (const DbInfo& db : dbs_) {
    const std::string schema = control_.Quote(db.name);
    RW_RETURN_IF_ERROR(gather(CheckTables(db, account, grants)));
    RW_ASSIGN_OR_RETURN(auto tables, control_.Query(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=" + schema +
        " AND TABLE_TYPE IN ('BASE TABLE','SYSTEM VERSIONED') ORDER BY TABLE_NAME"));
    std::vector<std::string> hidden;
    std::string why;
    for (const Row& t : tables) {
      if (!grants.OnTable({"TRIGGER"}, db.name, Str(t, 0), &why)) hidden.push_back(Str(t, 0));
    }
    if (!hidden.empty()) {
      refusals.push_back("database " + Q(db.name) + ": " + account + " lacks the TRIGGER privilege on " +
                             std::to_string(hidden.size()) + " of its tables (" + Q(hidden[0]) +
                             (hidden.size() == 1 ? "" : ", …") + (why.empty() ? "" : "; " + why) +
                             "): the server hides their triggers, which the snapshot would silently lack. "
                             "GRANT TRIGGER ON " + Q(db.name) + ".* (or ON *.*) to it and run again");
    }
    if (db.name == "mysql") continue;  // its routines and events are rows of mysql.proc and mysql.event
    RW_RETURN_IF_ERROR(gather(CheckRoutines(db, account, grants)));
    Status events = control_.Exec("SHOW EVENTS FROM " + Q(db.name));
    if (events.ok()) continue;
    const unsigned err = control_.LastErrno();
    if (err != 1044 /* ER_DBACCESS_DENIED_ERROR */ && err != 1142 /* ER_TABLEACCESS_DENIED_ERROR */ &&
        err != 1227 /* ER_SPECIFIC_ACCESS_DENIED_ERROR */) {
      return events;
    }
    auto stored = control_.Query("SELECT COUNT(*) FROM mysql.event WHERE db=" + schema);
    if (stored.ok() && !stored->empty() && Str((*stored)[0], 0) == "0") continue;  // none to miss
    refusals.push_back("database " + Q(db.name) + ": " + account +
                       " lacks the EVENT privilege: the server hides its events, which the snapshot would "
                       "silently lack (SHOW EVENTS: " + events.message() + "). GRANT EVENT ON " + Q(db.name) +
                       ".* (or ON *.*) to it and run again");
  }
  if (refusals.empty()) return Status::OK();
  if (refusals.size() == 1) return Status::Aborted(refusals[0]);
  constexpr size_t kShown = 6;
  std::string msg = std::to_string(refusals.size()) + " privilege problems, each of which would leave the snapshot short:";
  for (size_t i = 0; i < refusals.size() && i < kShown; ++i) {
    msg += std::string(i ? "; (" : " (") + std::to_string(i + 1) + ") " + refusals[i];
  }
  if (refusals.size() > kShown) msg += "; and " + std::to_string(refusals.size() - kShown) + " more";
  return Status::Aborted(msg);
}

// SHOW GRANTS of the session's account (MariaDB: with its enabled roles' and PUBLIC's), with
// identifiers quoted whatever the session's sql_quote_show_create, read by AccountGrants.
Result<AccountGrants> Dumper::ReadGrants(const std::string& account) {
  RW_RETURN_IF_ERROR(control_.Exec("SET SESSION sql_quote_show_create=1"));
  RW_ASSIGN_OR_RETURN(auto rows, control_.Query("SHOW GRANTS"));
  RW_ASSIGN_OR_RETURN(auto lctn, control_.Query("SELECT @@lower_case_table_names"));
  std::vector<std::string> lines;
  for (const Row& r : rows) lines.push_back(Str(r, 0));
  auto grants = AccountGrants::Parse(lines, !lctn.empty() && Str(lctn[0], 0) != "0");
  if (!grants.ok()) {
    return Status::Aborted("cannot tell which privileges " + account + " holds: " + grants.status().message());
  }
  return grants;
}

// information_schema.ROUTINES, which WriteRoutines lists, shows the user only the functions,
// procedures and packages it has a privilege on, and SHOW CREATE gives the body of those it may
// only run (EXECUTE) or alter as NULL: a user without SELECT on mysql.proc (mariadb-dump's
// documented requirement) would get a snapshot without the others, and a rollback would reload
// the database without them. Refused here, before anything is dumped, unless nothing is hidden:
//  - the user reads mysql.proc (SELECT on it, on mysql.* or on *.*): the server then shows it
//    every routine with its body; the count of mysql.proc rows confirms ROUTINES lists them all;
//  - otherwise (or on a server without mysql.proc) ROUTINES lists every routine of the database
//    only with EXECUTE, ALTER ROUTINE or CREATE ROUTINE on it (or global SELECT) held by the user,
//    an enabled role or PUBLIC, as AccountGrants decides (the server takes the most specific
//    database row that matches: a pattern, `p%`.*, is shadowed by a row for the name itself).
//    Then the body of each routine listed is asked of the server (the definer, say a database
//    owner, reads its own).
// The kinds of routine a database holds, as information_schema.ROUTINES (ROUTINE_TYPE) and
// mysql.proc (type) name them: WriteRoutines dumps these, CheckRoutines counts them. Packages
// (CREATE PACKAGE and PACKAGE BODY, MariaDB's sql_mode=ORACLE) are routines too.
constexpr const char* kRoutineTypes = "('FUNCTION','PROCEDURE','PACKAGE','PACKAGE BODY')";

Status Dumper::CheckRoutines(const DbInfo& db, const std::string& account, const AccountGrants& grants) {
  const std::string schema = control_.Quote(db.name);
  const std::string grant = "GRANT SELECT ON `mysql`.`proc` (or SELECT ON *.*) to it and run again";
  RW_ASSIGN_OR_RETURN(auto listed, control_.Query(
      "SELECT ROUTINE_TYPE, ROUTINE_NAME, DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA=" + schema +
      " AND ROUTINE_TYPE IN " + kRoutineTypes + " ORDER BY ROUTINE_TYPE, ROUTINE_NAME"));
  auto stored = control_.Query("SELECT COUNT(*) FROM mysql.proc WHERE db=" + schema + " AND type IN " + kRoutineTypes);
  if (stored.ok()) {
    const std::string count = stored->empty() ? "0" : Str((*stored)[0], 0);
    if (count == std::to_string(listed.size())) return Status::OK();
    return Status::Aborted("database " + Q(db.name) + ": mysql.proc holds " + count +
                           " functions, procedures and packages of it, but the server lists " +
                           std::to_string(listed.size()) + " to " + account +
                           " (information_schema.ROUTINES): the snapshot would silently lack the others. " + grant);
  }
  const unsigned err = control_.LastErrno();
  if (err != 1044 /* ER_DBACCESS_DENIED_ERROR */ && err != 1142 /* ER_TABLEACCESS_DENIED_ERROR */ &&
      err != 1146 /* ER_NO_SUCH_TABLE: MySQL 8 keeps routines in its data dictionary */) {
    return stored.status();
  }
  const std::vector<std::string> privs = {"EXECUTE", "ALTER ROUTINE", "CREATE ROUTINE"};
  if (!grants.OnDatabase(privs, db.name) && !grants.Global({"SELECT"})) {
    return Status::Aborted("database " + Q(db.name) + ": " + account + " may not read mysql.proc (error " +
                           std::to_string(err) + ") and has no EXECUTE, ALTER ROUTINE or CREATE ROUTINE "
                           "privilege on the database: the server hides the routines it has no "
                           "privilege on, which the snapshot would silently lack. " + grant);
  }
  std::vector<std::string> unreadable;
  std::string first_definer;
  for (const Row& r : listed) {
    std::string type = Str(r, 0);
    RW_ASSIGN_OR_RETURN(auto sc, control_.Query("SHOW CREATE " + type + " " + Q(db.name) + "." + Q(Str(r, 1))));
    if (!sc.empty() && sc[0].size() > 2 && sc[0][2]) continue;
    std::transform(type.begin(), type.end(), type.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (unreadable.empty()) first_definer = Str(r, 2);
    unreadable.push_back(type + " " + Q(Str(r, 1)));
  }
  if (unreadable.empty()) return Status::OK();
  return Status::Aborted("database " + Q(db.name) + ": " + account + " may not read the definition of " +
                         unreadable[0] + " (definer " + first_definer + ")" +
                         (unreadable.size() == 1 ? std::string()
                                                 : " and of " + std::to_string(unreadable.size() - 1) + " more") +
                         ": the server shows it the routine without its body, which the snapshot needs. " + grant);
}

// information_schema.TABLES and VIEWS, which the dump lists tables and views from, show the
// account only those it holds a privilege on, unless it holds a table privilege (SELECT,
// INSERT, UPDATE, DELETE, CREATE, DROP, REFERENCES, INDEX, ALTER, CREATE VIEW, SHOW VIEW, TRIGGER,
// DELETE HISTORY; not LOCK TABLES, EVENT nor the routine ones) globally or on the database
// (checked on MariaDB 10.11, one privilege at a time). And information_schema.COLUMNS shows only
// the columns it holds SELECT, INSERT, UPDATE or REFERENCES on, which are all the dump reads: a
// table listed without SELECT on it would be dumped without its rows, one with SELECT on some
// columns without the others. A snapshot made so would silently lack them, and a rollback would
// drop the database and reload it without. Refused here, before anything is dumped, unless the
// account holds SELECT globally or on the database, or holds a table privilege there (so every
// table and view is listed) and SELECT on each table and view listed; held as AccountGrants
// decides (account, enabled roles, PUBLIC; the most specific database row; column grants count
// for nothing).
Status Dumper::CheckTables(const DbInfo& db, const std::string& account, const AccountGrants& grants) {
  static const std::vector<std::string> kListAll = {"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE",
                                                    "DROP", "REFERENCES", "INDEX", "ALTER", "CREATE VIEW",
                                                    "SHOW VIEW", "TRIGGER", "DELETE HISTORY"};
  const std::string grant = "GRANT SELECT ON " + Q(db.name) + ".* (or ON *.*) to it and run again";
  std::string why;
  if (grants.OnDatabase({"SELECT"}, db.name, &why)) return Status::OK();
  if (!grants.OnDatabase(kListAll, db.name)) {
    return Status::Aborted("database " + Q(db.name) + ": " + account +
                           " lacks the SELECT privilege on the database" + (why.empty() ? "" : " (" + why + ")") +
                           ": the server lists only the tables and views it holds a privilege on, so the snapshot "
                           "would silently lack the others (a rollback would drop them). " + grant);
  }
  RW_ASSIGN_OR_RETURN(auto listed, control_.Query(
      "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=" + control_.Quote(db.name) +
      " ORDER BY TABLE_NAME"));
  std::vector<std::string> unreadable;
  for (const Row& t : listed) {
    if (!grants.OnTable({"SELECT"}, db.name, Str(t, 0))) unreadable.push_back(Str(t, 0));
  }
  if (unreadable.empty()) return Status::OK();
  return Status::Aborted("database " + Q(db.name) + ": " + account + " lacks the SELECT privilege on " +
                         Q(unreadable[0]) +
                         (unreadable.size() == 1 ? std::string()
                                                 : " and " + std::to_string(unreadable.size() - 1) + " more") +
                         (why.empty() ? "" : " (" + why + ")") +
                         ": the server shows it such a table without its rows (and with SELECT on some columns "
                         "only, without the others), which the snapshot would silently lack. " + grant);
}

Status Dumper::LockAndSnapshot() {
  RW_RETURN_IF_ERROR(control_.Exec("SET SESSION lock_wait_timeout=" + std::to_string(std::max(1, opts_.lock_timeout_s))));
  // Watchdog: FLUSH TABLES WITH READ LOCK waits for running statements; a long query must not
  // stall the mail server's writes (which queue behind the pending lock) for longer than asked.
  std::mutex mu;
  std::condition_variable cv;
  bool done = false, killed = false;
  unsigned long id = control_.ThreadId();
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mu);
    if (cv.wait_for(lock, std::chrono::seconds(std::max(1, opts_.lock_timeout_s)) + std::chrono::milliseconds(500),
                    [&] { return done; })) {
      return;
    }
    DbConnection killer;
    if (killer.Connect(opts_.connect).ok() && killer.Exec("KILL QUERY " + std::to_string(id)).ok()) killed = true;
    mysql_thread_end();
  });
  Status s = control_.Exec("FLUSH TABLES WITH READ LOCK");
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  watchdog.join();
  if (!s.ok()) {
    unsigned err = control_.LastErrno();
    if (killed || err == 1205 /* ER_LOCK_WAIT_TIMEOUT */ || err == 1317 /* ER_QUERY_INTERRUPTED */) {
      return Status::Aborted("could not get FLUSH TABLES WITH READ LOCK within " +
                             std::to_string(opts_.lock_timeout_s) +
                             " s (--db-lock-timeout): a long-running statement holds tables (see SHOW PROCESSLIST); " +
                             s.message());
    }
    return s;
  }
  for (auto& w : workers_) {
    RW_RETURN_IF_ERROR(w->Exec("START TRANSACTION WITH CONSISTENT SNAPSHOT"));
  }
  RW_ASSIGN_OR_RETURN(auto version, control_.Query("SELECT VERSION()"));
  if (!version.empty()) result_.server_version = Str(version[0], 0);
  // Binlog position and GTID: absent when the binlog is off; a server without them (or a user
  // without BINLOG MONITOR) still gets its dump.
  if (auto master = control_.Query("SHOW MASTER STATUS"); master.ok() && !master->empty()) {
    result_.binlog_file = Str((*master)[0], 0);
    result_.binlog_position = std::strtoull(Str((*master)[0], 1).c_str(), nullptr, 10);
  }
  if (auto gtid = control_.Query("SELECT @@GLOBAL.gtid_current_pos"); gtid.ok() && !gtid->empty()) {
    result_.gtid = Str((*gtid)[0], 0);
  } else if (auto mysql_gtid = control_.Query("SELECT @@GLOBAL.gtid_executed"); mysql_gtid.ok() && !mysql_gtid->empty()) {
    result_.gtid = Str((*mysql_gtid)[0], 0);
  }
  return Status::OK();
}

Status Dumper::ReadTables(DbInfo* db) {
  const std::string schema = control_.Quote(db->name);
  RW_ASSIGN_OR_RETURN(auto tables, control_.Query(
      "SELECT TABLE_NAME, TABLE_TYPE, IFNULL(ENGINE,''), IFNULL(DATA_LENGTH,0) FROM information_schema.TABLES "
      "WHERE TABLE_SCHEMA=" + schema + " AND TABLE_TYPE IN ('BASE TABLE','SYSTEM VERSIONED','SEQUENCE') ORDER BY TABLE_NAME"));
  std::map<std::string, size_t> by_name;
  for (const Row& r : tables) {
    TableInfo t;
    t.name = Str(r, 0);
    t.engine = Str(r, 2);
    t.transactional = transactional_engines_.count(t.engine) > 0;
    t.data_length = std::strtoull(Str(r, 3).c_str(), nullptr, 10);
    if (Str(r, 1) == "SEQUENCE") {
      t.sequence = true;
      t.dump_data = false;
    }
    static const std::set<std::string> kNoData = {"MRG_MyISAM", "MRG_MYISAM", "FEDERATED", "BLACKHOLE",
                                                  "CONNECT", "SPIDER", "SEQUENCE"};
    if (kNoData.count(t.engine)) t.dump_data = false;
    if (db->name == "mysql" && (t.name == "general_log" || t.name == "slow_log" || t.name == "transaction_registry")) {
      t.dump_data = false;
    }
    by_name[t.name] = db->tables.size();
    db->tables.push_back(std::move(t));
  }
  RW_ASSIGN_OR_RETURN(auto cols, control_.Query(
      "SELECT TABLE_NAME, COLUMN_NAME, IS_GENERATED, DATA_TYPE, CHARACTER_SET_NAME FROM information_schema.COLUMNS "
      "WHERE TABLE_SCHEMA=" + schema + " ORDER BY TABLE_NAME, ORDINAL_POSITION"));
  // Text types whose values can be read as bytes and stored back from them. Not ENUM and SET:
  // SHOW CREATE TABLE writes their members converted to utf8mb4 (a cp1250 member "b\x81" as
  // "b?", even under character_set_results=binary), so the restored column matches the value
  // read as text ("b?") and not the original bytes.
  static const std::set<std::string> kTextTypes = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext"};
  for (const Row& r : cols) {
    auto it = by_name.find(Str(r, 0));
    if (it == by_name.end()) continue;
    if (Str(r, 2) == "ALWAYS") continue;  // generated: the server computes it
    TableInfo& t = db->tables[it->second];
    t.columns.push_back(Str(r, 1));
    const std::string& name = Str(r, 1);
    std::string introducer;
    if (kTextTypes.count(Str(r, 3)) && r[4] && !CarriedByUtf8mb4(*r[4])) {
      const std::string& charset = *r[4];
      if (charset.empty() || !std::all_of(charset.begin(), charset.end(), [](unsigned char ch) {
            return std::isalnum(ch) || ch == '_';
          })) {
        return Status::NotSupported("column " + Q(db->name) + "." + Q(t.name) + "." + Q(name) +
                                    ": character set name " + Q(charset) + " cannot be written as an introducer");
      }
      introducer = "_" + charset + " ";
    }
    // The server prints a FLOAT with 6 significant digits (16777216 as 16777200): read as a
    // DOUBLE it prints the float's exact value, which the column stores back unchanged. `* 1e0`
    // makes it a DOUBLE exactly (the sign of a zero too) where CAST(… AS DOUBLE) is missing
    // (MySQL before 8.0.17). Both expressions are left unaliased, so that the primary-key names
    // in the data query's WHERE and ORDER BY still mean the columns.
    if (Str(r, 3) == "float") t.selects.push_back(Q(name) + " * 1e0");
    else if (!introducer.empty()) t.selects.push_back("CAST(" + Q(name) + " AS BINARY)");
    else t.selects.push_back(Q(name));
    t.introducers.push_back(std::move(introducer));
  }
  RW_ASSIGN_OR_RETURN(auto pks, control_.Query(
      "SELECT s.TABLE_NAME, s.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE FROM information_schema.STATISTICS s "
      "JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA=s.TABLE_SCHEMA AND c.TABLE_NAME=s.TABLE_NAME "
      "AND c.COLUMN_NAME=s.COLUMN_NAME WHERE s.TABLE_SCHEMA=" + schema +
      " AND s.INDEX_NAME='PRIMARY' ORDER BY s.TABLE_NAME, s.SEQ_IN_INDEX"));
  for (const Row& r : pks) {
    auto it = by_name.find(Str(r, 0));
    if (it == by_name.end()) continue;
    TableInfo& t = db->tables[it->second];
    t.pk.push_back(Str(r, 1));
    static const std::set<std::string> kInt = {"tinyint", "smallint", "mediumint", "int", "bigint"};
    t.pk_integer = t.pk.size() == 1 && kInt.count(Str(r, 2)) > 0;
    t.pk_unsigned = Str(r, 3).find("unsigned") != std::string::npos;
  }
  return Status::OK();
}

Result<TreeEntry> Dumper::WriteFile(const std::string& name, const std::string& text) {
  SqlFileWriter w(sink_);
  w.Append(text);
  return w.Finish(name);
}

Status Dumper::WriteSchema(DbInfo* db) {
  RW_ASSIGN_OR_RETURN(auto create_db, control_.Query("SHOW CREATE DATABASE " + Q(db->name)));
  if (create_db.empty() || !create_db[0][1]) return Status::IOError("SHOW CREATE DATABASE " + Q(db->name) + " returned nothing");
  std::string cdb = *create_db[0][1];
  const std::string prefix = "CREATE DATABASE ";
  if (cdb.compare(0, prefix.size(), prefix) == 0 && cdb.compare(prefix.size(), 13, "IF NOT EXISTS") != 0) {
    cdb.insert(prefix.size(), "IF NOT EXISTS ");
  }
  std::string out = "-- rewind: schema of " + Q(db->name) + "\n";
  out += kSessionSetup;
  out += cdb + ";\n";
  out += "USE " + Q(db->name) + ";\n";
  // Sequences first: a table's DEFAULT may take NEXT VALUE FOR one.
  for (int pass = 0; pass < 2; ++pass) {
    for (const TableInfo& t : db->tables) {
      if (t.sequence != (pass == 0)) continue;
      const char* show = t.sequence ? "SHOW CREATE SEQUENCE " : "SHOW CREATE TABLE ";
      RW_ASSIGN_OR_RETURN(auto ct, control_.Query(show + Q(db->name) + "." + Q(t.name)));
      if (ct.empty() || !ct[0][1]) return Status::IOError(show + Q(db->name) + "." + Q(t.name) + " returned nothing");
      out += "\nDROP TABLE IF EXISTS " + Q(t.name) + ";\n";
      out += *ct[0][1] + ";\n";
      NoteStatement(ct[0][1]->size());
      if (!t.sequence && ct[0][1]->find("WITH SYSTEM VERSIONING") != std::string::npos) {
        result_.notes.push_back(db->name + "." + t.name +
                                ": system-versioned: its current rows are dumped, not its history (as "
                                "mariadb-dump without --dump-history); after a restore its history starts anew");
      }
      if (t.sequence) {
        // Where it stands, and how often a CYCLE sequence has wrapped (SETVAL's fourth argument,
        // the round; left out when 0, as before, so that such dumps are unchanged).
        RW_ASSIGN_OR_RETURN(auto next, control_.Query("SELECT NEXT_NOT_CACHED_VALUE, CYCLE_COUNT FROM " +
                                                      Q(db->name) + "." + Q(t.name)));
        if (!next.empty() && next[0][0]) {
          const bool wrapped = next[0].size() > 1 && next[0][1] && *next[0][1] != "0";
          out += "DO SETVAL(" + Q(t.name) + ", " + *next[0][0] + ", 0" + (wrapped ? ", " + *next[0][1] : "") + ");\n";
        }
      }
    }
  }
  RW_ASSIGN_OR_RETURN(TreeEntry e, WriteFile(kSchemaFile, out));
  db->files.push_back(std::move(e));
  return Status::OK();
}

std::string Dumper::LateHeader(const DbInfo& db, const char* what) {
  std::string out = std::string("-- rewind: ") + what + " of " + Q(db.name) + "\n";
  out += "SET NAMES utf8mb4;\nSET TIME_ZONE='+00:00';\nSET SQL_MODE='" + std::string(kSqlMode) + "';\n";
  out += "USE " + Q(db.name) + ";\n";
  return out;
}

// Session settings an object was created under (as SHOW CREATE reports them), then the object
// between DELIMITER ;; lines, then the dump's settings back.
void AppendObject(std::string* out, const std::string& drop, const std::string& sql_mode,
                  const std::string& cs_client, const std::string& collation, const std::string* time_zone,
                  const std::string& create, DbConnection& c) {
  // The DROP under the object's sql_mode too: DROP PACKAGE exists only under sql_mode=ORACLE.
  *out += "\nSET SQL_MODE=" + c.Quote(sql_mode) + ";\n";
  *out += drop + ";\n";
  if (!cs_client.empty()) *out += "SET character_set_client=" + cs_client + ";\nSET character_set_results=" + cs_client + ";\n";
  if (!collation.empty()) *out += "SET collation_connection=" + collation + ";\n";
  if (time_zone) *out += "SET TIME_ZONE=" + c.Quote(*time_zone) + ";\n";
  *out += "DELIMITER ;;\n" + create + " ;;\nDELIMITER ;\n";
  *out += "SET NAMES utf8mb4;\nSET TIME_ZONE='+00:00';\nSET SQL_MODE='" + std::string(kSqlMode) + "';\n";
}

// After SHOW CREATE VIEW: the server's message when the view is invalid (it names a table,
// column or function that is gone, or its definer lacks rights: warning 1356, the error
// mariadb-dump stops at), "" when it is valid.
Result<std::string> InvalidViewReason(DbConnection* c) {
  RW_ASSIGN_OR_RETURN(auto warnings, c->Query("SHOW WARNINGS"));
  for (const Row& w : warnings) {
    if (Str(w, 1) == "1356") {
      std::string msg = Str(w, 2);
      std::replace(msg.begin(), msg.end(), '\n', ' ');
      return msg.empty() ? std::string("error 1356") : msg;
    }
  }
  return std::string();
}

// An invalid view as views.sql keeps it: its CREATE VIEW with every line commented out, after a
// line saying why. Neither a restore nor the stock client runs it (it would fail and, in the
// client, stop the file); the definition stays at hand for whoever repairs it.
void AppendInvalidView(std::string* out, const std::string& view, const std::string& reason,
                       const std::string& create) {
  *out += "\n-- rewind: invalid view " + Q(view) + " (" + reason +
          "): not created, its definition as it was at backup time:\n";
  size_t b = 0;
  while (b <= create.size()) {
    size_t e = create.find('\n', b);
    if (e == std::string::npos) e = create.size();
    *out += "-- " + create.substr(b, e - b) + "\n";
    b = e + 1;
  }
}

// Runs SHOW CREATE … of a routine, view, trigger or event with character_set_results=binary:
// the definition comes as the server keeps it, in the character set of the client that created
// the object (the character_set_client it shows), and the file replays it under that set.
// Converted to utf8mb4 on the way out and then replayed under, say, latin1, every non-ASCII
// character would be encoded twice ("café" created from a latin1 client came back "cafÃ©").
// mariadb-dump reads them the same way. `then`, when given, runs next on the same session (SHOW
// WARNINGS must follow SHOW CREATE VIEW directly).
Result<std::vector<Row>> ShowCreateRaw(DbConnection* c, const std::string& sql,
                                       const std::function<Status()>& then = nullptr) {
  RW_RETURN_IF_ERROR(c->Exec("SET SESSION character_set_results=binary"));
  Result<std::vector<Row>> rows = c->Query(sql);
  Status after = rows.ok() && then ? then() : Status::OK();
  Status reset = c->Exec("SET SESSION character_set_results=utf8mb4");
  RW_RETURN_IF_ERROR(rows.status());
  RW_RETURN_IF_ERROR(after);
  RW_RETURN_IF_ERROR(reset);
  return rows;
}

// A comment as the server writes it in SHOW CREATE PROCEDURE/FUNCTION/EVENT (append_unescaped).
std::string ServerQuotedComment(std::string_view text) {
  std::string out = "'";
  for (char ch : text) {
    switch (ch) {
      case '\0': out += "\\0"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\\': out += "\\\\"; break;
      case '\'': out += "''"; break;
      default: out += ch;
    }
  }
  return out + "'";
}

// The one part of a raw definition (ShowCreateRaw) that is not in the object's client character
// set: the COMMENT of a routine or event, which the server keeps and writes in utf8 whatever the
// client was. Replayed under that client set as is, a non-ASCII comment would come back
// double-encoded (mariadb-dump's own output does that). `comment` is the comment (utf8mb4, from
// information_schema), `before` and `after` what surrounds "COMMENT '…'" in the definition.
// Rewrites it in the client set, where that set is single-byte and holds every character of it
// (as it does for a comment typed in that client). Otherwise returns a note saying why the
// comment is left as the server wrote it; "" when the definition is exact.
Result<std::string> RecodeComment(DbConnection* c, const std::string& what, const std::string& comment,
                                  const std::string& cs_client, const std::string& sql_mode,
                                  std::string_view before, std::string_view after, std::string* create) {
  if (std::all_of(comment.begin(), comment.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x80; })) {
    return std::string();
  }
  if (cs_client.empty() || cs_client.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) {
    return what + ": its comment is not ASCII and its client character set \"" + cs_client +
           "\" is unknown: the comment may come back mis-encoded";
  }
  const std::string lit = "_utf8mb4" + c->Quote(comment) + " COLLATE utf8mb4_bin";
  RW_ASSIGN_OR_RETURN(auto rows, ShowCreateRaw(c,
      "SELECT CONVERT(" + lit + " USING " + cs_client + "), CONVERT(CONVERT(" + lit + " USING " + cs_client +
      ") USING utf8mb4) = " + lit + ", (SELECT MAXLEN FROM information_schema.CHARACTER_SETS "
      "WHERE CHARACTER_SET_NAME='" + cs_client + "')"));
  if (rows.empty()) return Status::IOError("converting the comment of " + what + " to " + cs_client + " returned nothing");
  const std::string& recoded = Str(rows[0], 0);
  if (recoded == comment) return std::string();  // a utf8 client: nothing to do
  if (Str(rows[0], 1) != "1" || Str(rows[0], 2) != "1") {
    return what + ": its comment is not ASCII and cannot be written in its client character set " + cs_client +
           " (multi-byte, or the comment has characters it lacks): it comes back mis-encoded, as with mariadb-dump";
  }
  const std::string needle = std::string(before) + ServerQuotedComment(comment) + std::string(after);
  size_t at = create->find(needle);
  if (at == std::string::npos) {
    return what + ": its comment is not where SHOW CREATE usually writes it: it comes back mis-encoded, as with mariadb-dump";
  }
  // The object's sql_mode parses the statement: without backslash escapes only '' is an escape.
  std::string quoted = sql_mode.find("NO_BACKSLASH_ESCAPES") == std::string::npos
                           ? ServerQuotedComment(recoded) : "'";
  if (quoted == "'") {
    for (char ch : recoded) quoted += ch == '\'' ? std::string("''") : std::string(1, ch);
    quoted += "'";
  }
  create->replace(at, needle.size(), std::string(before) + quoted + std::string(after));
  return std::string();
}

Status Dumper::WriteRoutines(DbInfo* db) {
  std::string out = LateHeader(*db, "routines");
  if (db->name == "mysql") {
    // The rows of mysql.proc (in the data) are the routines: recreating them would only change
    // their timestamps.
    RW_ASSIGN_OR_RETURN(TreeEntry e, WriteFile("routines.sql", out + "-- (in the data of mysql.proc)\n"));
    db->files.push_back(std::move(e));
    return Status::OK();
  }
  // Every kind of routine (kRoutineTypes): a dump without packages lost them at the restore's
  // DROP DATABASE. In this order, a package's specification comes before its body, which needs it.
  RW_ASSIGN_OR_RETURN(auto list, control_.Query(
      "SELECT ROUTINE_TYPE, ROUTINE_NAME, ROUTINE_COMMENT FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA=" +
      control_.Quote(db->name) + " AND ROUTINE_TYPE IN " + kRoutineTypes + " ORDER BY ROUTINE_TYPE, ROUTINE_NAME"));
  for (const Row& r : list) {
    const std::string& type = Str(r, 0);
    const std::string& name = Str(r, 1);
    RW_ASSIGN_OR_RETURN(auto sc, ShowCreateRaw(&control_, "SHOW CREATE " + type + " " + Q(db->name) + "." + Q(name)));
    if (sc.empty() || !sc[0][2]) {
      return Status::IOError("cannot read the definition of " + type + " " + Q(db->name) + "." + Q(name) +
                             " (missing privilege?)");
    }
    std::string create = Str(sc[0], 2);
    RW_ASSIGN_OR_RETURN(std::string note,
                        RecodeComment(&control_, db->name + "." + name, Str(r, 2), Str(sc[0], 3), Str(sc[0], 1),
                                      "\n    COMMENT ", "\n", &create));
    if (!note.empty()) result_.notes.push_back(note);
    AppendObject(&out, "DROP " + type + " IF EXISTS " + Q(name), Str(sc[0], 1), Str(sc[0], 3), Str(sc[0], 4), nullptr,
                 create, control_);
    NoteStatement(create.size());
  }
  RW_ASSIGN_OR_RETURN(TreeEntry e, WriteFile("routines.sql", out));
  db->files.push_back(std::move(e));
  return Status::OK();
}

Status Dumper::WriteViews(DbInfo* db) {
  std::string out = LateHeader(*db, "views");
  RW_ASSIGN_OR_RETURN(auto list, control_.Query(
      "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA=" +
      control_.Quote(db->name) + " ORDER BY TABLE_NAME"));
  // Dependencies first: a view whose definition names `db`.`other view` comes after it.
  std::vector<std::string> names;
  std::map<std::string, std::string> defs;
  for (const Row& r : list) {
    names.push_back(Str(r, 0));
    defs[Str(r, 0)] = Str(r, 1);
  }
  std::vector<std::string> order;
  std::map<std::string, int> state;  // 1 visiting, 2 done
  std::function<void(const std::string&)> visit = [&](const std::string& v) {
    if (state[v]) return;
    state[v] = 1;
    for (const std::string& w : names) {
      if (w != v && state[w] != 1 && defs[v].find(Q(db->name) + "." + Q(w)) != std::string::npos) visit(w);
    }
    state[v] = 2;
    order.push_back(v);
  };
  for (const std::string& v : names) visit(v);
  for (const std::string& v : order) {
    std::string invalid;
    RW_ASSIGN_OR_RETURN(auto sc, ShowCreateRaw(&control_, "SHOW CREATE VIEW " + Q(db->name) + "." + Q(v), [&]() -> Status {
      RW_ASSIGN_OR_RETURN(invalid, InvalidViewReason(&control_));
      return Status::OK();
    }));
    if (sc.empty() || !sc[0][1]) return Status::IOError("cannot read the definition of view " + Q(db->name) + "." + Q(v));
    if (!invalid.empty()) {
      AppendInvalidView(&out, v, invalid, Str(sc[0], 1));
      result_.notes.push_back(db->name + "." + v + ": invalid view (" + invalid +
                              "): its definition is kept in views.sql as a comment; a restore does not create it");
      continue;
    }
    AppendObject(&out, "DROP TABLE IF EXISTS " + Q(v) + ";\nDROP VIEW IF EXISTS " + Q(v), "", Str(sc[0], 2),
                 Str(sc[0], 3), nullptr, Str(sc[0], 1), control_);
    NoteStatement(Str(sc[0], 1).size());
  }
  RW_ASSIGN_OR_RETURN(TreeEntry e, WriteFile("views.sql", out));
  db->files.push_back(std::move(e));
  return Status::OK();
}

Status Dumper::WriteTriggers(DbInfo* db) {
  std::string out = LateHeader(*db, "triggers");
  RW_ASSIGN_OR_RETURN(auto list, control_.Query(
      "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA=" + control_.Quote(db->name) +
      " ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER"));
  for (const Row& r : list) {
    const std::string& name = Str(r, 0);
    RW_ASSIGN_OR_RETURN(auto sc, ShowCreateRaw(&control_, "SHOW CREATE TRIGGER " + Q(db->name) + "." + Q(name)));
    if (sc.empty() || !sc[0][2]) return Status::IOError("cannot read the definition of trigger " + Q(db->name) + "." + Q(name));
    AppendObject(&out, "DROP TRIGGER IF EXISTS " + Q(name), Str(sc[0], 1), Str(sc[0], 3), Str(sc[0], 4), nullptr,
                 Str(sc[0], 2), control_);
    NoteStatement(Str(sc[0], 2).size());
  }
  RW_ASSIGN_OR_RETURN(TreeEntry e, WriteFile("triggers.sql", out));
  db->files.push_back(std::move(e));
  return Status::OK();
}

Status Dumper::WriteEvents(DbInfo* db) {
  std::string out = LateHeader(*db, "events");
  if (db->name == "mysql") {
    RW_ASSIGN_OR_RETURN(TreeEntry e, WriteFile("events.sql", out + "-- (in the data of mysql.event)\n"));
    db->files.push_back(std::move(e));
    return Status::OK();
  }
  RW_ASSIGN_OR_RETURN(auto list, control_.Query(
      "SELECT EVENT_NAME, EVENT_COMMENT FROM information_schema.EVENTS WHERE EVENT_SCHEMA=" + control_.Quote(db->name) +
      " ORDER BY EVENT_NAME"));
  for (const Row& r : list) {
    const std::string& name = Str(r, 0);
    RW_ASSIGN_OR_RETURN(auto sc, ShowCreateRaw(&control_, "SHOW CREATE EVENT " + Q(db->name) + "." + Q(name)));
    if (sc.empty() || !sc[0][3]) return Status::IOError("cannot read the definition of event " + Q(db->name) + "." + Q(name));
    std::string tz = Str(sc[0], 2);
    std::string create = Str(sc[0], 3);
    RW_ASSIGN_OR_RETURN(std::string note, RecodeComment(&control_, db->name + "." + name, Str(r, 1), Str(sc[0], 4),
                                                        Str(sc[0], 1), " COMMENT ", " DO ", &create));
    if (!note.empty()) result_.notes.push_back(note);
    AppendObject(&out, "DROP EVENT IF EXISTS " + Q(name), Str(sc[0], 1), Str(sc[0], 4), Str(sc[0], 5), &tz, create,
                 control_);
    NoteStatement(create.size());
  }
  RW_ASSIGN_OR_RETURN(TreeEntry e, WriteFile("events.sql", out));
  db->files.push_back(std::move(e));
  return Status::OK();
}

std::string DataFileName(const std::string& table, int part, int parts) {
  if (parts <= 1) return EncodeTableFileName(table) + ".sql";
  char buf[24];  // room for any int: no truncation warning
  std::snprintf(buf, sizeof buf, ".%06d.sql", part + 1);
  return EncodeTableFileName(table) + buf;
}

// A tree with two entries of one name cannot be read back (DecodeTree refuses it): the backup
// fails, naming them, rather than store a snapshot that no restore could use.
Status CheckUniqueNames(const std::vector<TreeEntry>& entries, const std::string& where) {
  std::vector<const std::string*> names;
  for (const TreeEntry& e : entries) names.push_back(&e.name);
  std::sort(names.begin(), names.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
  for (size_t i = 1; i < names.size(); ++i) {
    if (*names[i] == *names[i - 1]) {
      return Status::Aborted("dump of " + where + ": two files named \"" + *names[i] +
                             "\" (a naming bug of this rewind; nothing was stored as a snapshot)");
    }
  }
  return Status::OK();
}

Status Dumper::PlanParts(size_t dbi, size_t ti, std::vector<Task>* tasks) {
  const DbInfo& db = dbs_[dbi];
  const TableInfo& t = db.tables[ti];
  Task base;
  base.db = dbi;
  base.table = ti;
  base.transactional = t.transactional;
  uint64_t want = opts_.part_bytes ? (t.data_length + opts_.part_bytes - 1) / opts_.part_bytes : 1;
  if (want <= 1 || !t.pk_integer) {
    tasks->push_back(base);
    return Status::OK();
  }
  // The data is frozen by the global read lock: min and max are those of the snapshot.
  const std::string pk = Q(t.pk[0]);
  RW_ASSIGN_OR_RETURN(auto mm, control_.Query("SELECT MIN(" + pk + "), MAX(" + pk + ") FROM " + Q(db.name) + "." + Q(t.name)));
  if (mm.empty() || !mm[0][0] || !mm[0][1]) {
    tasks->push_back(base);
    return Status::OK();
  }
  __int128 lo, hi;
  if (t.pk_unsigned) {
    lo = std::strtoull(mm[0][0]->c_str(), nullptr, 10);
    hi = std::strtoull(mm[0][1]->c_str(), nullptr, 10);
  } else {
    lo = std::strtoll(mm[0][0]->c_str(), nullptr, 10);
    hi = std::strtoll(mm[0][1]->c_str(), nullptr, 10);
  }
  // Cut at multiples of a power-of-two stride, aligned to key values rather than to `lo`: the
  // table's size is InnoDB's estimate, which drifts between two dumps of the same data, and
  // cuts that moved with it would make every part new to the repository.
  __int128 span = hi - lo + 1;
  __int128 stride = 1;
  const __int128 wanted = span / static_cast<__int128>(std::min<uint64_t>(want, 100000));
  while (stride < wanted) stride <<= 1;
  auto floor_div = [](__int128 a, __int128 b) { return a / b - ((a % b != 0 && a < 0) ? 1 : 0); };
  while ((floor_div(hi, stride) - floor_div(lo, stride)) >= 100000) stride <<= 1;
  std::vector<__int128> cuts;  // cut values strictly inside (lo, hi]
  for (__int128 c = (floor_div(lo, stride) + 1) * stride; c <= hi; c += stride) cuts.push_back(c);
  int parts = static_cast<int>(cuts.size()) + 1;
  if (parts <= 1) {
    tasks->push_back(base);
    return Status::OK();
  }
  auto str = [](__int128 v) {
    bool neg = v < 0;
    unsigned __int128 u = neg ? static_cast<unsigned __int128>(-v) : static_cast<unsigned __int128>(v);
    std::string s;
    do {
      s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(u % 10)));
      u /= 10;
    } while (u);
    return neg ? "-" + s : s;
  };
  std::vector<std::string> bounds;  // parts - 1 cut values
  for (__int128 c : cuts) bounds.push_back(str(c));
  for (int i = 0; i < parts; ++i) {
    Task task = base;
    task.part = i;
    task.parts = parts;
    // Open at both ends, so every row is in exactly one part whatever the snapshot holds.
    if (i == 0) task.where = pk + " < " + bounds[0];
    else if (i == parts - 1) task.where = pk + " >= " + bounds[i - 1];
    else task.where = pk + " >= " + bounds[i - 1] + " AND " + pk + " < " + bounds[i];
    tasks->push_back(std::move(task));
  }
  return Status::OK();
}

Status Dumper::DumpTask(DbConnection* c, const Task& task, TreeEntry* out) {
  const DbInfo& db = dbs_[task.db];
  const TableInfo& t = db.tables[task.table];
  const std::string table = Q(db.name) + "." + Q(t.name);
  SqlFileWriter w(sink_);
  std::string& buf = w.buffer();
  buf += "-- rewind: data of " + table;
  if (task.parts > 1) buf += " part " + std::to_string(task.part + 1) + "/" + std::to_string(task.parts);
  buf += "\n";
  buf += kSessionSetup;
  std::string cols, selects;
  for (const std::string& col : t.columns) cols += (cols.empty() ? "" : ",") + Q(col);
  for (const std::string& sel : t.selects) selects += (selects.empty() ? "" : ",") + sel;
  if (!cols.empty() && t.dump_data) {
    std::string sql = "SELECT " + selects + " FROM " + table;
    if (!task.where.empty()) sql += " WHERE " + task.where;
    if (!t.pk.empty()) {
      std::string order;
      for (const std::string& k : t.pk) order += (order.empty() ? "" : ",") + Q(k);
      sql += " ORDER BY " + order;
    }
    const std::string prefix = "INSERT INTO " + table + " (" + cols + ") VALUES ";
    std::vector<ValueKind> kinds;
    bool open = false;
    size_t stmt_start = 0;
    uint64_t rows = 0;
    RW_RETURN_IF_ERROR(c->Stream(
        sql,
        [&](const std::vector<DbConnection::Field>& fields) {
          for (size_t i = 0; i < fields.size(); ++i) {
            const bool raw = i < t.introducers.size() && !t.introducers[i].empty();
            kinds.push_back(raw ? ValueKind::kIntroducedHex : KindOf(fields[i]));
          }
          return Status::OK();
        },
        [&](char** row, unsigned long* len) -> Status {
          if (!open) {
            stmt_start = buf.size();
            buf += prefix;
            buf += '(';
            open = true;
          } else {
            buf += ",(";
          }
          for (size_t i = 0; i < kinds.size(); ++i) {
            if (i) buf += ',';
            if (!row[i]) {
              buf += "NULL";
              continue;
            }
            switch (kinds[i]) {
              case ValueKind::kNumber: buf.append(row[i], len[i]); break;
              case ValueKind::kHex:
                if (len[i] == 0) buf += "''";
                else AppendHex(row[i], len[i], &buf);
                break;
              case ValueKind::kIntroducedHex:  // `_cp1250 0x81…`: stored as these bytes in that set
                if (len[i] == 0) {
                  buf += "''";
                } else {
                  buf += t.introducers[i];
                  AppendHex(row[i], len[i], &buf);
                }
                break;
              case ValueKind::kText:
                buf += '\'';
                AppendSqlEscaped(std::string_view(row[i], len[i]), &buf);
                buf += '\'';
                break;
            }
          }
          buf += ')';
          ++rows;
          if (buf.size() - stmt_start >= opts_.insert_bytes) {
            NoteStatement(buf.size() - stmt_start);
            buf += ";\n";
            open = false;
            progress_->rows += rows;
            rows = 0;
            return w.Pump();
          }
          return Status::OK();
        }));
    if (open) {
      NoteStatement(buf.size() - stmt_start);
      buf += ";\n";
    }
    progress_->rows += rows;
  }
  RW_ASSIGN_OR_RETURN(*out, w.Finish(DataFileName(t.name, task.part, task.parts)));
  return Status::OK();
}

Result<DumpResult> Dumper::Run() {
  RW_RETURN_IF_ERROR(control_.Connect(opts_.connect));
  RW_RETURN_IF_ERROR(SetupSession(&control_));
  RW_RETURN_IF_ERROR(ListDatabases());
  RW_RETURN_IF_ERROR(CheckObjectPrivileges());
  {
    RW_ASSIGN_OR_RETURN(auto engines, control_.Query("SELECT ENGINE FROM information_schema.ENGINES WHERE TRANSACTIONS='YES'"));
    for (const Row& r : engines) transactional_engines_.insert(Str(r, 0));
  }
  const int threads = std::max(1, opts_.threads);
  for (int i = 0; i < threads; ++i) {
    auto c = std::make_unique<DbConnection>();
    RW_RETURN_IF_ERROR(c->Connect(opts_.connect));
    RW_RETURN_IF_ERROR(SetupSession(c.get()));
    workers_.push_back(std::move(c));
  }
  RW_RETURN_IF_ERROR(LockAndSnapshot());
  bool locked = true;
  auto unlock = [&]() -> Status {
    if (!locked) return Status::OK();
    locked = false;
    return control_.Exec("UNLOCK TABLES");
  };
  // Under the lock: structure, definitions, part boundaries (all cheap).
  std::vector<Task> tasks;
  for (size_t i = 0; i < dbs_.size(); ++i) {
    DbInfo& db = dbs_[i];
    RW_RETURN_IF_ERROR(ReadTables(&db));
    RW_RETURN_IF_ERROR(WriteSchema(&db));
    RW_RETURN_IF_ERROR(WriteRoutines(&db));
    RW_RETURN_IF_ERROR(WriteViews(&db));
    RW_RETURN_IF_ERROR(WriteTriggers(&db));
    RW_RETURN_IF_ERROR(WriteEvents(&db));
    for (size_t t = 0; t < db.tables.size(); ++t) {
      if (!db.tables[t].sequence) RW_RETURN_IF_ERROR(PlanParts(i, t, &tasks));
    }
    result_.tables += db.tables.size();
  }
  // Non-transactional tables first: the lock is released as soon as they are done.
  std::stable_partition(tasks.begin(), tasks.end(), [](const Task& t) { return !t.transactional; });
  size_t nontx = std::count_if(tasks.begin(), tasks.end(), [](const Task& t) { return !t.transactional; });
  if (nontx == 0) RW_RETURN_IF_ERROR(unlock());

  std::vector<TreeEntry> entries(tasks.size());
  std::mutex mu;
  std::condition_variable cv;
  size_t next = 0, nontx_done = 0;
  Status first_error;
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      mysql_thread_init();
      DbConnection* c = workers_[i].get();
      for (;;) {
        size_t k;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!first_error.ok() || next >= tasks.size()) break;
          k = next++;
        }
        Status s = DumpTask(c, tasks[k], &entries[k]);
        std::lock_guard<std::mutex> lock(mu);
        if (!s.ok()) {
          if (first_error.ok()) first_error = s;
          cv.notify_all();
          break;
        }
        progress_->tables += 1;
        if (!tasks[k].transactional && ++nontx_done == nontx) cv.notify_all();
      }
      mysql_thread_end();
    });
  }
  Status unlock_status;
  if (nontx > 0) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return nontx_done == nontx || !first_error.ok(); });
    lock.unlock();
    unlock_status = unlock();
  }
  for (auto& t : pool) t.join();
  RW_RETURN_IF_ERROR(first_error);
  RW_RETURN_IF_ERROR(unlock_status);
  for (auto& w : workers_) {
    RW_RETURN_IF_ERROR(w->Exec("COMMIT"));
  }
  for (size_t k = 0; k < tasks.size(); ++k) dbs_[tasks[k].db].data.push_back(std::move(entries[k]));
  // Every chunk in the sink before a tree names it (format.md I5).
  RW_RETURN_IF_ERROR(sink_->Drain());

  // Trees: data/ per database, the database directory, the server's directory.
  Tree server_tree;
  for (DbInfo& db : dbs_) {
    RW_RETURN_IF_ERROR(CheckUniqueNames(db.data, Q(db.name) + "/" + kDataDir));
    RW_RETURN_IF_ERROR(CheckUniqueNames(db.files, Q(db.name)));
    Tree data_tree;
    data_tree.entries = std::move(db.data);
    RW_ASSIGN_OR_RETURN(BlobId data_id, sink_->AddTree(EncodeTree(data_tree)));
    Tree db_tree;
    db_tree.entries = std::move(db.files);
    TreeEntry data_dir;
    data_dir.name = kDataDir;
    data_dir.type = EntryType::kDir;
    data_dir.mode = 0755;
    data_dir.subtree = data_id;
    db_tree.entries.push_back(std::move(data_dir));
    result_.files += db_tree.entries.size() - 1 + data_tree.entries.size();
    RW_ASSIGN_OR_RETURN(BlobId db_id, sink_->AddTree(EncodeTree(db_tree)));
    TreeEntry dir;
    dir.name = EncodeName(db.name);
    dir.type = EntryType::kDir;
    dir.mode = 0755;
    dir.subtree = db_id;
    server_tree.entries.push_back(std::move(dir));
    result_.databases.push_back(db.name);
  }
  RW_RETURN_IF_ERROR(CheckUniqueNames(server_tree.entries, "the server"));
  RW_ASSIGN_OR_RETURN(result_.tree, sink_->AddTree(EncodeTree(server_tree)));
  result_.rows = progress_->rows.load();
  result_.max_statement_bytes = max_statement_.load();
  result_.sql_bytes = sink_->raw_bytes.load();
  return result_;
}

}  // namespace

Result<DumpResult> DumpServer(const DumpOptions& options, SharedSink* sink, DumpProgress* progress) {
  DumpProgress local;
  if (!progress) progress = &local;
  Dumper d(options, sink, progress);
  return d.Run();
}

}  // namespace rw::db
