// rewind diff SNAP SNAP2 | rewind diff SNAP --live DIR: what changed, one line per path.
#include <cstdio>
#include <climits>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "cli/common.h"
#include "engine/base/bytes.h"
#include "engine/base/clock.h"
#include "engine/ops/diff.h"
#include "engine/ops/snapshots.h"

namespace rw::cli {

// Shared with cmd_rollback.cc.
nlohmann::json ChangeToJson(const Change& c);
std::string ChangeLine(const Change& c);

namespace {

struct DiffArgs {
  std::string snapshot;
  std::string snapshot2;
  std::string live;
};

bool IsDir(EntryType t) { return t == EntryType::kDir || t == EntryType::kExcludedDir; }

}  // namespace

nlohmann::json ChangeToJson(const Change& c) {
  nlohmann::json j;
  if (IsValidUtf8(c.path)) {
    j["path"] = c.path.empty() ? "." : c.path;
  } else {
    j["path_hex"] = HexEncode(c.path);
  }
  j["change"] = ChangeKindName(c.kind);
  j["marker"] = ChangeMarker(c.kind);
  if (c.has_old) j["old_type"] = EntryTypeName(c.old_entry.type);
  if (c.has_new) j["new_type"] = EntryTypeName(c.new_entry.type);
  if (c.kind == ChangeKind::kMetadata) {
    nlohmann::json meta = nlohmann::json::array();
    std::string text = MetaBitsText(c.meta);
    size_t pos = 0;
    while (pos < text.size()) {
      size_t comma = text.find(',', pos);
      if (comma == std::string::npos) comma = text.size();
      meta.push_back(text.substr(pos, comma - pos));
      pos = comma + 1;
    }
    j["metadata"] = meta;
  }
  return j;
}

std::string ChangeLine(const Change& c) {
  std::string path = c.path.empty() ? "." : c.path;
  const TreeEntry& e = c.has_new ? c.new_entry : c.old_entry;
  if (c.kind != ChangeKind::kType && IsDir(e.type) && !c.path.empty()) path += "/";
  std::string line = std::string(ChangeMarker(c.kind)) + " " + PrintablePath(path);
  if (c.kind == ChangeKind::kType) {
    line += std::string("  (") + EntryTypeName(c.old_entry.type) + " -> " + EntryTypeName(c.new_entry.type) + ")";
  } else if (c.kind == ChangeKind::kMetadata) {
    line += "  (" + MetaBitsText(c.meta) + ")";
  }
  return line;
}

namespace {

int RunDiff(Context* ctx, const DiffArgs& args) {
  if (args.snapshot2.empty() == args.live.empty()) {
    return Fail("diff", Status::InvalidArgument("give a second snapshot or --live DIR (exactly one)"));
  }
  auto repo = OpenRepo(*ctx);
  if (!repo) return kExitError;
  auto a = ResolveSnapshot(repo.get(), args.snapshot);
  if (!a.ok()) return Fail("diff", a.status());
  std::optional<SnapshotRef> b;
  if (!args.snapshot2.empty()) {
    auto r = ResolveSnapshot(repo.get(), args.snapshot2);
    if (!r.ok()) return Fail("diff", r.status());
    b = std::move(*r);
  }
  std::vector<Change> changes;
  DiffStats stats;
  const int64_t t0 = RealClock().MonotonicNs();
  auto collect = [&](const Change& c) {
    changes.push_back(c);
    return Status::OK();
  };
  Status s;
  {
    ProgressLine line([&] {
      return "[" + std::to_string((RealClock().MonotonicNs() - t0) / 1000000000) + "s] comparing…";
    });
    s = b ? DiffSnapshots(*repo, a->snapshot, b->snapshot, DiffOptions{}, collect, &stats)
          : DiffLive(*repo, a->snapshot, args.live, DiffOptions{}, collect, &stats);
  }
  if (!s.ok()) return Fail("diff", s);
  std::stable_sort(changes.begin(), changes.end(), [](const Change& x, const Change& y) { return x.path < y.path; });
  const double secs = static_cast<double>(RealClock().MonotonicNs() - t0) / 1e9;
  if (ctx->json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const Change& c : changes) arr.push_back(ChangeToJson(c));
    nlohmann::json j = {
        {"old", a->id},
        {"new", b ? nlohmann::json(b->id) : nlohmann::json(nullptr)},
        {"live", args.live.empty() ? nlohmann::json(nullptr) : nlohmann::json(args.live)},
        {"changes", arr},
        {"summary",
         {{"added", stats.added}, {"removed", stats.removed}, {"content", stats.content},
          {"metadata", stats.metadata}, {"type", stats.type}, {"total", stats.total()},
          {"files_hashed", stats.files_hashed}, {"bytes_hashed", stats.bytes_hashed},
          {"trees_skipped", stats.trees_skipped}, {"duration_s", secs}}}};
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return kExitOk;
  }
  for (const Change& c : changes) std::printf("%s\n", ChangeLine(c).c_str());
  if (!args.live.empty() && !a->snapshot.source.empty()) {
    // Legitimate (a restored copy against its snapshot), but with several sources in one
    // repository, "latest" or a wrong tag compares two unrelated trees: say so.
    char live[PATH_MAX];
    if (::realpath(args.live.c_str(), live) && a->snapshot.source != live) {
      std::fprintf(stderr, "note: snapshot %s was taken of %s, not of %s\n", a->id.substr(0, 12).c_str(),
                   a->snapshot.source.c_str(), live);
    }
  }
  for (const SnapshotRef* r : {&*a, b ? &*b : nullptr}) {
    if (r && r->snapshot.incomplete) {
      std::fprintf(stderr,
                   "note: snapshot %s is incomplete: %llu entries could not be read when it was taken and show "
                   "as added or removed here\n",
                   r->id.substr(0, 12).c_str(), static_cast<unsigned long long>(r->snapshot.stats.errors));
    }
  }
  std::fprintf(stderr,
               "%llu added, %llu removed, %llu modified, %llu metadata only, %llu type changed "
               "(%s %s vs %s; %llu files hashed, %s)\n",
               static_cast<unsigned long long>(stats.added), static_cast<unsigned long long>(stats.removed),
               static_cast<unsigned long long>(stats.content), static_cast<unsigned long long>(stats.metadata),
               static_cast<unsigned long long>(stats.type), "snapshot", a->id.substr(0, 12).c_str(),
               b ? ("snapshot " + b->id.substr(0, 12)).c_str() : args.live.c_str(),
               static_cast<unsigned long long>(stats.files_hashed), HumanBytes(stats.bytes_hashed).c_str());
  return kExitOk;
}

}  // namespace

void RegisterDiff(CLI::App& app, Context* ctx) {
  auto args = std::make_shared<DiffArgs>();
  CLI::App* sub = app.add_subcommand(
      "diff", "what changed between two snapshots, or between a snapshot and a live directory");
  AddRepoOption(sub, ctx);
  sub->add_option("snapshot", args->snapshot, "the old snapshot: id, id prefix, latest or a tag")->required();
  sub->add_option("snapshot2", args->snapshot2, "the new snapshot");
  sub->add_option("--live", args->live, "compare with this directory instead of a second snapshot")
      ->check(NonEmptyPath());
  sub->add_flag("--json", ctx->json, "print one JSON object");
  sub->footer(
      "One line per path: '+' added, '-' removed, 'M' content modified, 'm' metadata only (mode, owner, mtime, "
      "xattrs), 'T' type changed. A summary follows on stderr. Exit status 0 when the comparison ran, with or "
      "without differences; 2 when it could not run.");
  sub->callback([ctx, args] { ctx->run = [ctx, args] { return RunDiff(ctx, *args); }; });
}

}  // namespace rw::cli
