#include "engine/db/load.h"

#include <mysql.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "engine/db/dump.h"
#include "engine/db/sql_file.h"
#include "engine/db/sql_splitter.h"
#include "manifests/tree.h"

namespace rw::db {

namespace {

Result<Tree> ReadTree(const Repository& repo, const BlobId& id) {
  RW_ASSIGN_OR_RETURN(std::string doc, repo.LoadBlob(id, BlobType::kTree));
  return DecodeTree(doc);
}

const TreeEntry* FindEntry(const Tree& t, std::string_view name) {
  for (const TreeEntry& e : t.entries) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

struct DbFiles {
  std::string name;
  const TreeEntry* schema = nullptr;
  std::vector<TreeEntry> data;       // in name order
  std::vector<const TreeEntry*> late;  // kLateFiles order, present ones
  Tree tree;
};

Status ReadDbFiles(const Repository& repo, const Tree& server, const std::string& name, DbFiles* out) {
  out->name = name;
  const TreeEntry* dir = FindEntry(server, EncodeName(name));
  if (!dir || dir->type != EntryType::kDir || !dir->subtree) {
    return Status::NotFound("database " + QuoteIdent(name) + " is not in the dump");
  }
  RW_ASSIGN_OR_RETURN(out->tree, ReadTree(repo, *dir->subtree));
  out->schema = FindEntry(out->tree, kSchemaFile);
  if (!out->schema) return Status::Corruption("dump of " + QuoteIdent(name) + " has no schema.sql");
  if (const TreeEntry* data = FindEntry(out->tree, kDataDir); data && data->subtree) {
    RW_ASSIGN_OR_RETURN(Tree dt, ReadTree(repo, *data->subtree));
    out->data = std::move(dt.entries);
  }
  for (const char* f : kLateFiles) {
    if (const TreeEntry* e = FindEntry(out->tree, f)) out->late.push_back(e);
  }
  return Status::OK();
}

// Session state for loading: what every dump file sets itself too (the sql_mode first, so that
// a global ANSI_QUOTES or ORACLE mode never applies to anything this connection runs).
Status PrepareSession(DbConnection* c) {
  RW_RETURN_IF_ERROR(c->Exec("SET SESSION sql_mode='" + std::string(kSqlMode) + "'"));
  // Each statement commits by itself, whatever the server's global autocommit: under
  // autocommit=0 the data's INSERTs stayed in transactions that held their locks against the
  // other loading sessions and were rolled back at disconnect.
  RW_RETURN_IF_ERROR(c->Exec("SET SESSION autocommit=1"));
  RW_RETURN_IF_ERROR(c->Exec("SET SESSION FOREIGN_KEY_CHECKS=0, SESSION UNIQUE_CHECKS=0, SESSION time_zone='+00:00'"));
  RW_RETURN_IF_ERROR(c->Exec("SET SESSION net_read_timeout=3600, SESSION net_write_timeout=3600"));
  // As the files' /*M!100201 comment: rows that break a CHECK constraint load as they were.
  if (c->ServerVersion().find("MariaDB") != std::string::npos) {
    RW_RETURN_IF_ERROR(c->Exec("SET SESSION check_constraint_checks=0"));
  }
  return Status::OK();
}

}  // namespace

bool IsOlderDumpSqlMode(std::string_view statement) {
  while (!statement.empty() && (statement[0] == ' ' || statement[0] == '\n' || statement[0] == '\r' ||
                                statement[0] == '\t')) {
    statement.remove_prefix(1);
  }
  return statement == "SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO'";
}

// How many times a statement that lost a deadlock or waited too long for a lock runs again.
constexpr int kLockRetries = 5;

Status ExecuteSqlBlobs(const Repository& repo, const std::vector<BlobId>& content, DbConnection* c,
                       LoadProgress* progress, const StatementErrorFn& on_error, bool table_file) {
  const std::string sql_mode = "SET SQL_MODE='" + std::string(kSqlMode) + "'";
  SqlSplitter splitter([&](std::string_view stmt) -> Status {
    const std::string_view run = table_file && IsOlderDumpSqlMode(stmt) ? std::string_view(sql_mode) : stmt;
    Status s = c->Exec(run);
    // A deadlock (1213) or a lock wait timeout (1205) between the sessions loading in parallel
    // rolls back that statement only (autocommit is on: PrepareSession): it is run again, as
    // the server's message says, a few times with a growing pause.
    for (int attempt = 1; !s.ok() && attempt <= kLockRetries && c->connected() &&
                          (c->LastErrno() == 1213 || c->LastErrno() == 1205);
         ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50 << attempt));
      s = c->Exec(run);
    }
    if (!s.ok()) {
      // A statement the server refused leaves the connection usable; a lost one does not.
      if (!on_error || !c->connected() || c->LastErrno() == 2006 || c->LastErrno() == 2013) return s;
      on_error(stmt, s);
    }
    if (progress) progress->statements += 1;
    return Status::OK();
  });
  for (const BlobId& id : content) {
    RW_ASSIGN_OR_RETURN(std::string chunk, repo.LoadBlob(id, BlobType::kData));
    if (progress) progress->bytes += chunk.size();
    RW_RETURN_IF_ERROR(splitter.Feed(chunk));
  }
  return splitter.Finish();
}

Result<ClientSessions> DescribeClientSessions(DbConnection* c, const std::string& condition) {
  RW_ASSIGN_OR_RETURN(auto rows, c->Query(
      "SELECT ID, USER, HOST, DB, COMMAND, TIME FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
      "AND COMMAND NOT IN ('Daemon', 'Binlog Dump', 'Binlog Dump GTID', 'Killed') AND COMMAND NOT LIKE 'Slave%' "
      "AND USER NOT IN ('event_scheduler', 'system user') " + condition + " ORDER BY ID"));
  auto str = [](const Row& r, size_t i) { return i < r.size() && r[i] ? *r[i] : std::string(); };
  ClientSessions out;
  out.count = rows.size();
  for (size_t i = 0; i < rows.size() && i < 5; ++i) {
    const Row& r = rows[i];
    out.list += (i ? ", " : "") + std::string("id ") + str(r, 0) + " " + str(r, 1) + "@" + str(r, 2) +
                (str(r, 3).empty() ? std::string() : " in " + QuoteIdent(str(r, 3))) + " (" + str(r, 4) + ", " +
                str(r, 5) + " s)";
  }
  if (rows.size() > 5) out.list += " and " + std::to_string(rows.size() - 5) + " more";
  return out;
}

Result<TableName> FindLockedTable(DbConnection* c, const std::vector<std::string>& databases, int wait_s) {
  std::string in;
  for (const std::string& d : databases) {
    if (!IsSystemDatabase(d)) in += (in.empty() ? "" : ",") + c->Quote(d);
  }
  if (in.empty()) return TableName{};
  RW_ASSIGN_OR_RETURN(auto rows, c->Query("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE "
                                          "TABLE_SCHEMA IN (" + in + ") AND TABLE_TYPE <> 'SYSTEM VIEW' "
                                          "ORDER BY TABLE_SCHEMA, TABLE_NAME"));
  const std::string wait = std::to_string(std::max(1, wait_s));
  RW_RETURN_IF_ERROR(
      c->Exec("SET SESSION lock_wait_timeout=" + wait + ", innodb_lock_wait_timeout=" + wait +
              ", innodb_table_locks=1, autocommit=0"));
  for (const Row& r : rows) {
    if (r.size() < 2 || !r[0] || !r[1]) continue;
    const std::string table = QuoteIdent(*r[0]) + "." + QuoteIdent(*r[1]);
    Status s = c->Exec("LOCK TABLES " + table + " WRITE");
    const unsigned err = s.ok() ? 0 : c->LastErrno();
    if (err == 2006 || err == 2013) return s;  // the server is gone
    RW_RETURN_IF_ERROR(c->Exec("UNLOCK TABLES"));
    if (err == 1205 /* ER_LOCK_WAIT_TIMEOUT */ || err == 1213 /* ER_LOCK_DEADLOCK */) return TableName{*r[0], *r[1]};
  }
  return TableName{};
}

std::string DescribeLockHolders(DbConnection* c, const std::string& db, const std::string& name,
                                const std::string& not_ids) {
  const std::string others = not_ids.empty() ? std::string() : " AND ID NOT IN (" + not_ids + ")";
  auto holders = name.empty() ? Result<std::vector<Row>>(std::vector<Row>{})
                               : c->Query("SELECT THREAD_ID FROM information_schema.METADATA_LOCK_INFO WHERE "
                                          "TABLE_SCHEMA = " + c->Quote(db) + " AND TABLE_NAME = " + c->Quote(name) +
                                          " AND THREAD_ID <> CONNECTION_ID()");
  if (holders.ok() && !holders->empty()) {
    std::string ids;
    for (const Row& r : *holders) {
      if (!r.empty() && r[0]) ids += (ids.empty() ? "" : ",") + *r[0];
    }
    if (auto s = ids.empty() ? Result<ClientSessions>(ClientSessions{})
                             : DescribeClientSessions(c, "AND ID IN (" + ids + ")" + others);
        s.ok() && s->count > 0) {
      return "held by " + s->list;
    }
  }
  std::string out;
  auto trx = DescribeClientSessions(
      c, "AND ID IN (SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX)" + others);
  if (trx.ok() && trx->count > 0) out = "sessions with a transaction open: " + trx->list;
  if (auto xa = c->Query("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = 0 AND "
                         "trx_state <> 'ROLLING BACK'");
      xa.ok() && !xa->empty() && !(*xa)[0].empty() && (*xa)[0][0] && *(*xa)[0][0] != "0") {
    const std::string& n = *(*xa)[0][0];
    out += std::string(out.empty() ? "" : "; ") + n + " prepared XA transaction" + (n == "1" ? "" : "s") +
           ", of no session (`XA RECOVER` lists them; `XA ROLLBACK` or `XA COMMIT` ends one)";
  }
  if (!out.empty()) return out;
  if (auto all = DescribeClientSessions(c, others); all.ok() && all->count > 0) return "the other sessions: " + all->list;
  return "no other session is visible to this account (without the PROCESS privilege it sees only its own)";
}

Status CheckMaxAllowedPacket(DbConnection* c, uint64_t statement_bytes) {
  if (statement_bytes == 0) return Status::OK();
  RW_ASSIGN_OR_RETURN(auto rows, c->Query("SELECT @@GLOBAL.max_allowed_packet"));
  if (rows.empty() || rows[0].empty() || !rows[0][0]) return Status::IOError("SELECT @@GLOBAL.max_allowed_packet returned nothing");
  const uint64_t have = std::strtoull(rows[0][0]->c_str(), nullptr, 10);
  // The packet holds the statement and a command byte; the server takes multiples of 1 KiB.
  const uint64_t need = (statement_bytes + 1 + 1023) / 1024 * 1024;
  if (have >= need) return Status::OK();
  auto mib = [](uint64_t b) { return std::to_string((b + (1 << 20) - 1) >> 20) + " MiB"; };
  if (need > kMaxAllowedPacketLimit) {
    return Status::NotSupported("the dump holds a statement of " + std::to_string(statement_bytes) +
                                " bytes, more than any server's max_allowed_packet (1 GiB) takes: nothing was changed");
  }
  return Status::InvalidArgument(
      "the server's max_allowed_packet is " + std::to_string(have) + " bytes (" + mib(have) +
      "), but the dump holds a statement of " + std::to_string(statement_bytes) +
      " bytes: the restore needs max_allowed_packet of at least " + std::to_string(need) + " (" + mib(need) +
      "). Raise it (SET GLOBAL max_allowed_packet=" + std::to_string(need) +
      "; and max_allowed_packet in the server's option file, [mysqld]) and run again: nothing was changed");
}

namespace {

// The head of a dump's CREATE statement of a view, trigger, event, function or procedure: from
// CREATE (past leading blanks and the dump's "-- …" comment lines) to the object's kind word,
// whose name ("view", …) goes to *kind; the rest of the statement from its name on to *rest.
// Empty when the statement creates none of them.
std::string_view CreateHead(std::string_view stmt, const char** kind, std::string_view* rest) {
  size_t p = 0;
  for (;;) {
    while (p < stmt.size() && (stmt[p] == ' ' || stmt[p] == '\n' || stmt[p] == '\r' || stmt[p] == '\t')) ++p;
    if (stmt.compare(p, 2, "--") != 0 && stmt.compare(p, 1, "#") != 0) break;
    size_t e = stmt.find('\n', p);
    if (e == std::string_view::npos) return {};
    p = e + 1;
  }
  if (stmt.compare(p, 7, "CREATE ") != 0) return {};
  std::string_view head = stmt.substr(p, 2000);
  static const std::pair<const char*, const char*> kKinds[] = {
      {" VIEW ", "view"}, {" TRIGGER ", "trigger"}, {" EVENT ", "event"},
      {" FUNCTION ", "function"}, {" PROCEDURE ", "procedure"},
      // At the same place the first listed wins: the body before the package's specification.
      {" PACKAGE BODY ", "package body"}, {" PACKAGE ", "package"}};
  size_t best = std::string_view::npos;
  size_t skip = 0;
  *kind = nullptr;
  for (const auto& [word, name] : kKinds) {
    size_t at = head.find(word);
    if (at < best) {
      best = at;
      *kind = name;
      skip = std::strlen(word);
    }
  }
  if (!*kind) return {};
  *rest = head.substr(best + skip);
  return head.substr(0, best);
}

// An identifier at the start of `s`, `quoted` (backticks doubled inside), "quoted" (as SHOW CREATE
// writes the objects made under ANSI_QUOTES, e.g. sql_mode=ORACLE) or bare (up to a blank, '(',
// '.' or '@'); `s` is advanced past it.
std::string TakeIdent(std::string_view* s) {
  std::string ident;
  size_t i = 0;
  if (!s->empty() && ((*s)[0] == '`' || (*s)[0] == '"')) {
    const char quote = (*s)[0];
    for (i = 1; i < s->size(); ++i) {
      if ((*s)[i] == quote) {
        if (i + 1 < s->size() && (*s)[i + 1] == quote) {
          ident += quote;
          ++i;
          continue;
        }
        ++i;
        break;
      }
      ident += (*s)[i];
    }
  } else {
    i = std::min(s->size(), s->find_first_of(" \t\r\n(.@"));
    ident = std::string(s->substr(0, i));
  }
  s->remove_prefix(i);
  return ident;
}

}  // namespace

std::string CreatedObject(std::string_view stmt) {
  const char* kind = nullptr;
  std::string_view rest;
  if (CreateHead(stmt, &kind, &rest).empty()) return "";
  // The name, maybe qualified (SHOW CREATE VIEW writes `db`.`v`): its last part.
  std::string ident;
  for (;;) {
    ident = TakeIdent(&rest);
    if (rest.empty() || rest[0] != '.') break;
    rest.remove_prefix(1);
  }
  return std::string(kind) + " " + QuoteIdent(ident);
}

bool ObjectDefiner(std::string_view stmt, std::string* user, std::string* host) {
  const char* kind = nullptr;
  std::string_view rest;
  std::string_view head = CreateHead(stmt, &kind, &rest);
  // In the head only: a view's "SQL SECURITY DEFINER" has no '=', and the body may say anything.
  size_t at = head.find(" DEFINER=");
  if (at == std::string_view::npos) return false;
  std::string_view d = head.substr(at + 9);
  const bool quoted = !d.empty() && (d[0] == '`' || d[0] == '"');
  *user = TakeIdent(&d);
  host->clear();
  if (!d.empty() && d[0] == '@') {
    d.remove_prefix(1);
    *host = TakeIdent(&d);
  }
  // CURRENT_USER (which SHOW CREATE never writes) is whoever creates the object.
  std::string upper = *user;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char ch) { return std::toupper(ch); });
  return quoted || upper != "CURRENT_USER";
}

bool MayDefineForOthers(const std::vector<std::string>& grants) {
  // Read as the backup's privilege checks read SHOW GRANTS (ALL PRIVILEGES holds every one); a
  // line it cannot read counts as no grant: the restore is refused, never let through.
  auto parsed = AccountGrants::Parse(grants, /*lower_case_names=*/false);
  return parsed.ok() && parsed->Global({"SUPER", "SET USER"});
}

Status CheckDefiners(const Repository& repo, const BlobId& server_tree, const std::vector<std::string>& databases,
                     DbConnection* c) {
  // MySQL names the privilege SET_USER_ID (a dynamic one, or SUPER): not checked there.
  if (c->ServerVersion().find("MariaDB") == std::string::npos) return Status::OK();
  // SHOW GRANTS, not information_schema.USER_PRIVILEGES: that one hides the global privileges of
  // the user's roles from a user without SELECT on mysql, and SHOW GRANTS lists those of the
  // roles in force, the ones the server goes by.
  RW_ASSIGN_OR_RETURN(auto grant_rows, c->Query("SHOW GRANTS"));
  std::vector<std::string> grants;
  for (const Row& r : grant_rows) {
    if (!r.empty() && r[0]) grants.push_back(*r[0]);
  }
  if (MayDefineForOthers(grants)) return Status::OK();
  RW_ASSIGN_OR_RETURN(auto me, c->Query("SELECT CURRENT_USER(), CURRENT_ROLE()"));
  if (me.empty() || me[0].size() < 2 || !me[0][0]) return Status::IOError("SELECT CURRENT_USER() returned nothing");
  const std::string account = *me[0][0];
  const size_t at = account.rfind('@');
  const std::string my_user = account.substr(0, at);
  const std::string my_host = at == std::string::npos ? std::string() : account.substr(at + 1);
  const std::string my_role = me[0][1] ? *me[0][1] : std::string();
  auto same_host = [](const std::string& a, const std::string& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
             return std::tolower(x) == std::tolower(y);
           });
  };
  RW_ASSIGN_OR_RETURN(Tree server, ReadTree(repo, server_tree));
  std::vector<std::string> foreign;  // "view `db`.`v` (definer `u`@`h`)"
  for (const std::string& name : databases) {
    DbFiles db;
    RW_RETURN_IF_ERROR(ReadDbFiles(repo, server, name, &db));
    for (const TreeEntry* e : db.late) {
      SqlSplitter splitter([&](std::string_view stmt) -> Status {
        std::string user, host;
        if (!ObjectDefiner(stmt, &user, &host)) return Status::OK();
        // As the server decides: the user and host of CURRENT_USER() (host in any case), or the
        // role in force.
        if ((user == my_user && same_host(host, my_host)) || (!my_role.empty() && user == my_role)) {
          return Status::OK();
        }
        std::string object = CreatedObject(stmt);
        const size_t space = object.find(' ');
        foreign.push_back(object.substr(0, space + 1) + QuoteIdent(name) + "." + object.substr(space + 1) +
                          " (definer " + QuoteIdent(user) + "@" + QuoteIdent(host) + ")");
        return Status::OK();
      });
      for (const BlobId& id : e->content) {
        RW_ASSIGN_OR_RETURN(std::string chunk, repo.LoadBlob(id, BlobType::kData));
        RW_RETURN_IF_ERROR(splitter.Feed(chunk));
      }
      RW_RETURN_IF_ERROR(splitter.Finish());
    }
  }
  if (foreign.empty()) return Status::OK();
  std::string list;
  for (size_t i = 0; i < foreign.size() && i < 3; ++i) list += (i ? ", " : "") + foreign[i];
  if (foreign.size() > 3) list += " and " + std::to_string(foreign.size() - 3) + " more";
  return Status::InvalidArgument(
      "the snapshot holds " + std::to_string(foreign.size()) + " object" + (foreign.size() == 1 ? "" : "s") +
      " of other definers: " + list + ". " + account +
      " lacks the SET USER privilege (or SUPER) that creating them for their definer takes: the server would "
      "refuse them after the databases are dropped. GRANT SET USER ON *.* TO " + account +
      " (or restore as an account that has it) and run again: nothing was changed");
}

Result<LoadStats> LoadServer(const Repository& repo, const BlobId& server_tree,
                             const std::vector<std::string>& dump_databases, const LoadOptions& options,
                             LoadProgress* progress) {
  LoadProgress local;
  if (!progress) progress = &local;
  RW_ASSIGN_OR_RETURN(Tree server, ReadTree(repo, server_tree));
  std::vector<std::string> names = options.databases.empty() ? dump_databases : options.databases;
  // Everything is checked before the server is touched.
  std::vector<DbFiles> dbs(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    if (std::find(dump_databases.begin(), dump_databases.end(), names[i]) == dump_databases.end()) {
      return Status::NotFound("database " + QuoteIdent(names[i]) + " is not in the snapshot");
    }
    RW_RETURN_IF_ERROR(ReadDbFiles(repo, server, names[i], &dbs[i]));
  }
  // Not the server's default lock_wait_timeout (a day): a transaction another session left open
  // on a table to be dropped would hold DROP DATABASE that long, without a word. Nor its
  // innodb_lock_wait_timeout (50 s, or whatever the server was given) for a row lock (a
  // prepared XA transaction's) that holds DROP DATABASE part way through its tables.
  const int lock_wait_s = std::max(1, options.lock_wait_s);
  const std::string lock_wait = "SET SESSION lock_wait_timeout=" + std::to_string(lock_wait_s) +
                                ", innodb_lock_wait_timeout=" + std::to_string(lock_wait_s);
  DbConnection control;
  RW_RETURN_IF_ERROR(control.Connect(options.connect));
  RW_RETURN_IF_ERROR(PrepareSession(&control));
  RW_RETURN_IF_ERROR(control.Exec(lock_wait));
  const int threads = std::max(1, options.threads);
  std::vector<std::unique_ptr<DbConnection>> workers;
  for (int i = 0; i < threads; ++i) {
    auto c = std::make_unique<DbConnection>();
    RW_RETURN_IF_ERROR(c->Connect(options.connect));
    RW_RETURN_IF_ERROR(PrepareSession(c.get()));
    RW_RETURN_IF_ERROR(c->Exec(lock_wait));
    workers.push_back(std::move(c));
  }
  LoadStats stats;
  // 1. Schemas.
  for (const DbFiles& db : dbs) {
    if (db.name != "mysql") {
      if (Status s = control.Exec("DROP DATABASE IF EXISTS " + QuoteIdent(db.name)); !s.ok()) {
        if (control.LastErrno() != 1205 /* ER_LOCK_WAIT_TIMEOUT */) return s;
        // Which table (what DROP DATABASE left of the database, probed as the rollback's check
        // does: at most 1 s) and who may hold it, the loading sessions aside.
        std::string mine;
        for (const auto& w : workers) mine += (mine.empty() ? "" : ",") + std::to_string(w->ThreadId());
        auto locked = FindLockedTable(&control, {db.name}, 1);
        const std::string table = locked.ok() ? locked->name : std::string();
        return Status::Aborted("DROP DATABASE " + QuoteIdent(db.name) + " waited " + std::to_string(lock_wait_s) +
                               " s for a lock another session or transaction holds on " +
                               (table.empty() ? "one of its tables" : QuoteIdent(db.name) + "." + QuoteIdent(table)) +
                               " (" + DescribeLockHolders(&control, db.name, table, mine) +
                               "): end it, then run again");
      }
    }
    RW_RETURN_IF_ERROR(ExecuteSqlBlobs(repo, db.schema->content, &control, progress, nullptr, /*table_file=*/true)
                           .WithContext("schema of " + QuoteIdent(db.name)));
    progress->files += 1;
  }
  // 2. Data, largest files first, in parallel.
  struct Job {
    const DbFiles* db;
    const TreeEntry* file;
  };
  std::vector<Job> jobs;
  for (const DbFiles& db : dbs) {
    for (const TreeEntry& e : db.data) jobs.push_back({&db, &e});
  }
  std::stable_sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) { return a.file->size > b.file->size; });
  std::mutex mu;
  size_t next = 0;
  Status first_error;
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      mysql_thread_init();
      for (;;) {
        size_t k;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!first_error.ok() || next >= jobs.size()) break;
          k = next++;
        }
        Status s = ExecuteSqlBlobs(repo, jobs[k].file->content, workers[i].get(), progress, nullptr,
                                   /*table_file=*/true)
                       .WithContext("data of " + QuoteIdent(jobs[k].db->name) + " (" + jobs[k].file->name + ")");
        std::lock_guard<std::mutex> lock(mu);
        if (!s.ok()) {
          if (first_error.ok()) first_error = s;
          break;
        }
        progress->files += 1;
      }
      mysql_thread_end();
    });
  }
  for (auto& t : pool) t.join();
  RW_RETURN_IF_ERROR(first_error);
  // 3. Routines, views, triggers, events (each kind for every database before the next kind).
  // An object the server refuses does not stop the others: the rest of its file and the other
  // files run, and it is listed at the end. A database's views come in dependency order, but a
  // view may name a view of a database loaded after it: a views file with failures is run again
  // after the others (each view is dropped and created, so running a file twice is harmless),
  // as long as a round has fewer failures than the one before.
  for (const char* kind : kLateFiles) {
    using File = std::pair<const DbFiles*, const TreeEntry*>;
    std::vector<File> todo;
    for (const DbFiles& db : dbs) {
      for (const TreeEntry* e : db.late) {
        if (e->name == kind) todo.push_back({&db, e});
      }
    }
    const bool retry = std::string_view(kind) == "views.sql";
    size_t last_round = SIZE_MAX;
    std::vector<std::string> failures;  // of the last round
    while (!todo.empty()) {
      std::vector<File> failed;
      std::vector<std::string> round;
      for (const auto& [db, e] : todo) {
        const size_t before = round.size();
        auto on_error = [&, db = db](std::string_view stmt, const Status& error) {
          std::string object = CreatedObject(stmt);
          round.push_back(QuoteIdent(db->name) + " " + kind + ": " + (object.empty() ? "" : object + ": ") +
                          error.message());
        };
        RW_RETURN_IF_ERROR(ExecuteSqlBlobs(repo, e->content, &control, progress, on_error)
                               .WithContext(std::string(kind) + " of " + QuoteIdent(db->name)));
        if (last_round == SIZE_MAX) progress->files += 1;  // once per file, however many rounds
        if (round.size() > before) failed.push_back({db, e});
      }
      failures = std::move(round);
      if (!retry || failed.empty() || failures.size() >= last_round) break;
      last_round = failures.size();
      todo = std::move(failed);
    }
    stats.failed_objects.insert(stats.failed_objects.end(), failures.begin(), failures.end());
  }
  // The views the dump could only keep as comments (dump.cc, AppendInvalidView): said, since
  // a rollback drops the live one.
  constexpr std::string_view kInvalidView = "-- rewind: invalid view ";
  for (const DbFiles& db : dbs) {
    for (const TreeEntry* e : db.late) {
      if (e->name != "views.sql") continue;
      std::string text;
      for (const BlobId& id : e->content) {
        RW_ASSIGN_OR_RETURN(std::string chunk, repo.LoadBlob(id, BlobType::kData));
        text += chunk;
      }
      for (size_t at = text.find(kInvalidView); at != std::string::npos; at = text.find(kInvalidView, at + 1)) {
        if (at > 0 && text[at - 1] != '\n') continue;
        const size_t end = text.find("): not created", at);
        if (end == std::string::npos) continue;
        stats.not_created.push_back(QuoteIdent(db.name) + ": view " +
                                    text.substr(at + kInvalidView.size(), end + 1 - at - kInvalidView.size()));
      }
    }
  }
  if (std::find(names.begin(), names.end(), "mysql") != names.end()) {
    RW_RETURN_IF_ERROR(control.Exec("FLUSH PRIVILEGES"));
  }
  stats.databases = names;
  stats.files = progress->files.load();
  stats.statements = progress->statements.load();
  stats.bytes = progress->bytes.load();
  return stats;
}

Status WriteDatabaseSql(const Repository& repo, const BlobId& server_tree, const std::string& database,
                        const std::function<Status(std::string_view)>& out) {
  RW_ASSIGN_OR_RETURN(Tree server, ReadTree(repo, server_tree));
  DbFiles db;
  RW_RETURN_IF_ERROR(ReadDbFiles(repo, server, database, &db));
  auto write = [&](const TreeEntry& e) -> Status {
    for (const BlobId& id : e.content) {
      RW_ASSIGN_OR_RETURN(std::string chunk, repo.LoadBlob(id, BlobType::kData));
      RW_RETURN_IF_ERROR(out(chunk));
    }
    return Status::OK();
  };
  RW_RETURN_IF_ERROR(write(*db.schema));
  for (const TreeEntry& e : db.data) RW_RETURN_IF_ERROR(write(e));
  for (const TreeEntry* e : db.late) RW_RETURN_IF_ERROR(write(*e));
  return Status::OK();
}

}  // namespace rw::db
