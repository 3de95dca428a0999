#include "engine/db/load.h"

#include <mysql.h>

#include <algorithm>
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
  RW_RETURN_IF_ERROR(c->Exec("SET SESSION sql_mode='NO_AUTO_VALUE_ON_ZERO'"));
  RW_RETURN_IF_ERROR(c->Exec("SET SESSION FOREIGN_KEY_CHECKS=0, SESSION UNIQUE_CHECKS=0, SESSION time_zone='+00:00'"));
  RW_RETURN_IF_ERROR(c->Exec("SET SESSION net_read_timeout=3600, SESSION net_write_timeout=3600"));
  // As the files' /*M!100201 comment: rows that break a CHECK constraint load as they were.
  if (c->ServerVersion().find("MariaDB") != std::string::npos) {
    RW_RETURN_IF_ERROR(c->Exec("SET SESSION check_constraint_checks=0"));
  }
  return Status::OK();
}

}  // namespace

Status ExecuteSqlBlobs(const Repository& repo, const std::vector<BlobId>& content, DbConnection* c,
                       LoadProgress* progress) {
  SqlSplitter splitter([&](std::string_view stmt) -> Status {
    RW_RETURN_IF_ERROR(c->Exec(stmt));
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
  DbConnection control;
  RW_RETURN_IF_ERROR(control.Connect(options.connect));
  RW_RETURN_IF_ERROR(PrepareSession(&control));
  const int threads = std::max(1, options.threads);
  std::vector<std::unique_ptr<DbConnection>> workers;
  for (int i = 0; i < threads; ++i) {
    auto c = std::make_unique<DbConnection>();
    RW_RETURN_IF_ERROR(c->Connect(options.connect));
    RW_RETURN_IF_ERROR(PrepareSession(c.get()));
    workers.push_back(std::move(c));
  }
  LoadStats stats;
  // 1. Schemas.
  for (const DbFiles& db : dbs) {
    if (db.name != "mysql") RW_RETURN_IF_ERROR(control.Exec("DROP DATABASE IF EXISTS " + QuoteIdent(db.name)));
    RW_RETURN_IF_ERROR(ExecuteSqlBlobs(repo, db.schema->content, &control, progress)
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
        Status s = ExecuteSqlBlobs(repo, jobs[k].file->content, workers[i].get(), progress)
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
  // A database's views come in dependency order, but a view may name a view of a database
  // loaded after it: a file that fails is run again after the others (each view is dropped and
  // created, so running a file twice is harmless), as long as a round makes progress.
  for (const char* kind : kLateFiles) {
    std::vector<std::pair<const DbFiles*, const TreeEntry*>> todo;
    for (const DbFiles& db : dbs) {
      for (const TreeEntry* e : db.late) {
        if (e->name == kind) todo.push_back({&db, e});
      }
    }
    const bool retry = std::string_view(kind) == "views.sql";
    while (!todo.empty()) {
      std::vector<std::pair<const DbFiles*, const TreeEntry*>> failed;
      Status first;
      for (const auto& [db, e] : todo) {
        Status s = ExecuteSqlBlobs(repo, e->content, &control, progress)
                       .WithContext(std::string(kind) + " of " + QuoteIdent(db->name));
        if (s.ok()) {
          progress->files += 1;
          continue;
        }
        if (!retry) return s;
        if (first.ok()) first = s;
        failed.push_back({db, e});
      }
      if (!failed.empty() && failed.size() == todo.size()) return first;
      todo = std::move(failed);
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
