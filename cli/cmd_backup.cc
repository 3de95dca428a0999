#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "engine/base/bytes.h"
#include "engine/base/clock.h"
#include "engine/ops/backup.h"

namespace rw::cli {

namespace {

struct BackupArgs {
  std::string source;
  std::vector<std::string> profiles, excludes, tags;
  bool force = false;
};

// Prints per-entry problems as they happen.
class PrintingObserver : public BackupObserver {
 public:
  void OnError(const std::string& path, const Status& status) override {
    std::fprintf(stderr, "%serror: %s: %s\n", LineReset(), PrintablePath(path).c_str(), status.message().c_str());
  }
  void OnNote(const std::string& path, const std::string& note) override {
    std::fprintf(stderr, "%snote: %s: %s\n", LineReset(), PrintablePath(path.empty() ? "." : path).c_str(),
                 note.c_str());
  }
};

int RunBackup(Context* ctx, const BackupArgs& args) {
  if (args.source.empty()) return Fail("backup", Status::InvalidArgument("--source DIR is required"));
  auto repo = OpenRepo(*ctx);
  if (!repo) return kExitError;
  BackupOptions opts;
  opts.source = args.source;
  opts.profiles = args.profiles;
  opts.excludes = args.excludes;
  opts.tags = args.tags;
  opts.force = args.force;
  opts.command = "rewind backup --source " + args.source;
  PrintingObserver observer;
  BackupProgress progress;
  const int64_t t0 = RealClock().MonotonicNs();
  Result<BackupResult> result = [&] {
    ProgressLine line([&] {
      double s = static_cast<double>(RealClock().MonotonicNs() - t0) / 1e9;
      char buf[200];
      std::snprintf(buf, sizeof buf, "[%5.1fs] %llu files, %llu dirs, %s read, %s added, %llu errors", s,
                    static_cast<unsigned long long>(progress.files.load()),
                    static_cast<unsigned long long>(progress.dirs.load()),
                    HumanBytes(progress.bytes_read.load()).c_str(),
                    HumanBytes(progress.bytes_added.load()).c_str(),
                    static_cast<unsigned long long>(progress.errors.load()));
      return std::string(buf);
    });
    return Backup(repo.get(), opts, &observer, &progress);
  }();
  if (!result.ok()) {
    Fail("backup of " + args.source, result.status());
    std::fprintf(stderr, "rewind: no snapshot was saved\n");
    return kExitError;
  }
  const Snapshot& snap = result->snapshot;
  const SnapshotStats& st = snap.stats;
  if (ctx->json) {
    nlohmann::json excluded = nlohmann::json::array();
    for (size_t i = 0; i < result->rules.size(); ++i) {
      const ExcludedReport& rep = result->excluded[i];
      nlohmann::json examples = nlohmann::json::array();
      for (const auto& p : rep.examples) examples.push_back(IsValidUtf8(p) ? p : HexEncode(p));
      excluded.push_back({{"rule", result->rules[i].text}, {"origin", result->rules[i].origin},
                          {"count", rep.count}, {"examples", examples}});
    }
    nlohmann::json j = {{"snapshot_id", result->snapshot_id}, {"source", snap.source},
                        {"files", st.files}, {"directories", st.dirs}, {"dirs", st.dirs},
                        {"symlinks", st.symlinks}, {"others", st.others},
                        {"bytes_read", st.bytes_read}, {"bytes_total", st.bytes_total},
                        {"bytes_added", st.bytes_added}, {"blobs_added", st.blobs_added},
                        {"duration_s", st.duration_s}, {"incomplete", snap.incomplete},
                        {"errors", st.errors}, {"changed_during_read", st.changed_during_read},
                        {"excluded", excluded}, {"tags", snap.tags},
                        {"files_reused", result->files_reused}, {"warnings", result->warnings},
                        {"parent", snap.parent ? nlohmann::json(*snap.parent) : nlohmann::json()}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    for (size_t i = 0; i < result->rules.size(); ++i) {
      const ExcludedReport& rep = result->excluded[i];
      if (rep.count == 0) continue;
      std::string ex;
      for (const auto& p : rep.examples) ex += (ex.empty() ? "" : ", ") + PrintablePath(p);
      if (rep.count > rep.examples.size()) ex += ", …";
      std::fprintf(stderr, "excluded by %s (%s): %llu entr%s: %s\n", result->rules[i].text.c_str(),
                   result->rules[i].origin.c_str(), static_cast<unsigned long long>(rep.count),
                   rep.count == 1 ? "y" : "ies", ex.c_str());
    }
    std::fprintf(stderr,
                 "snapshot %s saved: %llu files (%llu unchanged since the parent, not read), %llu "
                 "directories, %s read, %s added to the repository in %.1f s\n",
                 result->snapshot_id.substr(0, 12).c_str(), static_cast<unsigned long long>(st.files),
                 static_cast<unsigned long long>(result->files_reused),
                 static_cast<unsigned long long>(st.dirs), HumanBytes(st.bytes_read).c_str(),
                 HumanBytes(st.bytes_added).c_str(), st.duration_s);
    if (snap.incomplete) {
      std::fprintf(stderr,
                   "warning: %llu entr%s could not be read (listed above); the snapshot is marked "
                   "incomplete\n",
                   static_cast<unsigned long long>(st.errors), st.errors == 1 ? "y" : "ies");
    }
    for (const std::string& w : result->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    std::printf("%s\n", result->snapshot_id.c_str());
  }
  return snap.incomplete ? kExitIncomplete : kExitOk;
}

}  // namespace

void RegisterBackup(CLI::App& app, Context* ctx) {
  auto args = std::make_shared<BackupArgs>();
  CLI::App* sub = app.add_subcommand("backup", "back up a directory into a new snapshot");
  AddRepoOption(sub, ctx);
  sub->add_option("-s,--source", args->source, "directory to back up (e.g. /opt/icewarp)");
  sub->add_option("--profile", args->profiles, "shipped exclusion profile (icewarp)");
  sub->add_option("-e,--exclude", args->excludes, "exclude PATTERN (gitignore-like, docs/excludes.md)");
  sub->add_option("-t,--tag", args->tags, "tag the snapshot (e.g. pre-epos)");
  sub->add_flag("--force", args->force,
                "read every file, even those unchanged since the parent snapshot (size, mtime, ctime, inode)");
  sub->add_flag("--json", ctx->json, "print one JSON object with the result");
  sub->callback([ctx, args] { ctx->run = [ctx, args] { return RunBackup(ctx, *args); }; });
}

}  // namespace rw::cli
