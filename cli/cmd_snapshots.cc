#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "engine/base/bytes.h"
#include "engine/base/clock.h"
#include "engine/ops/snapshots.h"

namespace rw::cli {

namespace {

nlohmann::json DatabasesJson(const Snapshot& s) {
  nlohmann::json dbs = nlohmann::json::array();
  for (const DatabaseDump& d : s.databases) {
    dbs.push_back({{"label", d.label}, {"tree", d.tree.Hex()}, {"server_version", d.server_version},
                   {"binlog_file", d.binlog_file}, {"binlog_position", d.binlog_position}, {"gtid", d.gtid},
                   {"databases", d.databases}, {"max_statement_bytes", d.max_statement_bytes}});
  }
  return dbs;
}

// "default: icewarp,yoda" for the table; several servers separated by "; ".
std::string DatabasesText(const Snapshot& s) {
  std::string out;
  for (const DatabaseDump& d : s.databases) {
    std::string names;
    for (const auto& n : d.databases) names += (names.empty() ? "" : ",") + n;
    out += (out.empty() ? "" : "; ") + d.label + ": " + (names.empty() ? "(none)" : names);
  }
  return out;
}

int RunSnapshots(Context* ctx) {
  auto repo = OpenRepo(*ctx);
  if (!repo) return kExitError;
  std::vector<DamagedSnapshot> damaged;
  auto all = LoadSnapshots(repo.get(), &damaged);
  if (!all.ok()) return Fail("snapshots", all.status());
  for (const DamagedSnapshot& d : damaged) {
    std::fprintf(stderr, "rewind: warning: left out %s (run `rewind verify`)\n", d.status.message().c_str());
  }
  if (ctx->json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const SnapshotRef& r : *all) {
      const Snapshot& s = r.snapshot;
      arr.push_back({{"id", r.id}, {"short_id", r.id.substr(0, 12)}, {"time", FormatRfc3339Ns(s.time_ns)},
                     {"hostname", s.hostname}, {"source", s.source}, {"tags", s.tags},
                     {"incomplete", s.incomplete}, {"files", s.stats.files},
                     {"bytes_total", s.stats.bytes_total}, {"bytes_added", s.stats.bytes_added},
                     {"parent", s.parent ? nlohmann::json(*s.parent) : nlohmann::json()},
                     {"tree", s.tree ? nlohmann::json(s.tree->Hex()) : nlohmann::json()},
                     {"databases", DatabasesJson(s)}});
    }
    std::printf("%s\n", arr.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return kExitOk;
  }
  // The tags column as wide as its longest entry (a rollback's safety snapshot has two tags):
  // the columns after it stay aligned.
  auto tags_of = [](const Snapshot& s) {
    std::string tags;
    for (const auto& t : s.tags) tags += (tags.empty() ? "" : ",") + t;
    return tags;
  };
  int tags_width = 4;
  for (const SnapshotRef& r : *all) tags_width = std::max(tags_width, static_cast<int>(tags_of(r.snapshot).size()));
  std::printf("%-12s  %-19s  %-16s  %10s  %-*s  %s\n", "ID", "TIME (UTC)", "HOST", "SIZE", tags_width, "TAGS",
              "SOURCE / DATABASES");
  for (const SnapshotRef& r : *all) {
    const Snapshot& s = r.snapshot;
    const std::string tags = tags_of(s);
    std::string time = FormatRfc3339Ns(s.time_ns).substr(0, 19);
    time[10] = ' ';
    std::string what = s.source;
    if (!s.databases.empty()) what += (what.empty() ? "" : " + ") + std::string("databases ") + DatabasesText(s);
    std::printf("%-12s  %-19s  %-16s  %10s  %-*s  %s%s\n", r.id.substr(0, 12).c_str(), time.c_str(),
                s.hostname.c_str(), HumanBytes(s.stats.bytes_total).c_str(), tags_width, tags.c_str(),
                what.c_str(), s.incomplete ? "  (incomplete)" : "");
  }
  std::printf("%zu snapshot%s\n", all->size(), all->size() == 1 ? "" : "s");
  return kExitOk;
}

}  // namespace

void RegisterSnapshots(CLI::App& app, Context* ctx) {
  CLI::App* sub = app.add_subcommand("snapshots", "list the snapshots, oldest first");
  AddRepoOption(sub, ctx);
  sub->add_flag("--json", ctx->json, "print a JSON array");
  sub->callback([ctx] { ctx->run = [ctx] { return RunSnapshots(ctx); }; });
}

}  // namespace rw::cli
