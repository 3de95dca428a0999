#include <cstdio>

#include "cli/common.h"
#include "engine/base/bytes.h"
#include "engine/base/clock.h"
#include "engine/ops/restore.h"
#include "engine/ops/snapshots.h"

namespace rw::cli {

namespace {

struct RestoreArgs {
  std::string snapshot;
  std::string target;
  std::string archive;
  std::string format;
  std::vector<std::string> includes;
};

class PrintingObserver : public RestoreObserver {
 public:
  void OnError(const std::string& path, const Status& status) override {
    std::fprintf(stderr, "%serror: %s: %s\n", LineReset(), PrintablePath(path).c_str(), status.message().c_str());
  }
  void OnNote(const std::string& path, const std::string& note) override {
    std::fprintf(stderr, "%snote: %s%s\n", LineReset(), path.empty() ? "" : (PrintablePath(path) + ": ").c_str(),
                 note.c_str());
  }
};

std::string GuessFormat(const std::string& path) {
  auto ends = [&](const std::string& suf) {
    return path.size() >= suf.size() && path.compare(path.size() - suf.size(), suf.size(), suf) == 0;
  };
  if (ends(".tar.zst") || ends(".tzst")) return "tar.zst";
  if (ends(".zip")) return "zip";
  return "tar";
}

int RunRestore(Context* ctx, const RestoreArgs& args) {
  if (args.target.empty() == args.archive.empty()) {
    return Fail("restore", Status::InvalidArgument("give exactly one of --target DIR or --archive FILE|-"));
  }
  auto repo = OpenRepo(*ctx);
  if (!repo) return kExitError;
  auto ref = ResolveSnapshot(repo.get(), args.snapshot);
  if (!ref.ok()) return Fail("restore", ref.status());
  PrintingObserver observer;
  const int64_t t0 = RealClock().MonotonicNs();
  if (!args.archive.empty()) {
    ArchiveFormat format;
    std::string name = args.format.empty() ? GuessFormat(args.archive) : args.format;
    if (!ParseArchiveFormat(name, &format)) {
      return Fail("restore", Status::InvalidArgument("unknown archive format \"" + name + "\" (tar, tar.zst, zip)"));
    }
    RestoreStats stats;
    Status s = RestoreToArchive(repo.get(), ref->snapshot, args.archive, format, args.includes, &observer, &stats);
    if (!s.ok()) return Fail("restore to archive " + args.archive, s);
    std::fprintf(stderr, "wrote %s archive of snapshot %s: %llu files, %llu directories, %s\n", name.c_str(),
                 ref->id.substr(0, 12).c_str(), static_cast<unsigned long long>(stats.files),
                 static_cast<unsigned long long>(stats.dirs), HumanBytes(stats.bytes).c_str());
    return kExitOk;
  }
  RestoreOptions opts;
  opts.target = args.target;
  opts.includes = args.includes;
  RestoreProgress progress;
  Result<RestoreStats> stats = [&] {
    ProgressLine line([&] {
      double s = static_cast<double>(RealClock().MonotonicNs() - t0) / 1e9;
      char buf[160];
      std::snprintf(buf, sizeof buf, "[%5.1fs] %llu files, %s written, %llu errors", s,
                    static_cast<unsigned long long>(progress.files.load()),
                    HumanBytes(progress.bytes_written.load()).c_str(),
                    static_cast<unsigned long long>(progress.errors.load()));
      return std::string(buf);
    });
    return RestoreToDirectory(repo.get(), ref->snapshot, opts, &observer, &progress);
  }();
  if (!stats.ok()) return Fail("restore to " + args.target, stats.status());
  double secs = static_cast<double>(RealClock().MonotonicNs() - t0) / 1e9;
  std::fprintf(stderr, "restored snapshot %s into %s: %llu files, %llu directories, %llu symlinks, %s in %.1f s\n",
               ref->id.substr(0, 12).c_str(), args.target.c_str(), static_cast<unsigned long long>(stats->files),
               static_cast<unsigned long long>(stats->dirs), static_cast<unsigned long long>(stats->symlinks),
               HumanBytes(stats->bytes).c_str(), secs);
  if (stats->errors > 0) {
    std::fprintf(stderr, "error: %llu entries could not be restored (listed above)\n",
                 static_cast<unsigned long long>(stats->errors));
    return kExitError;
  }
  return kExitOk;
}

}  // namespace

void RegisterRestore(CLI::App& app, Context* ctx) {
  auto args = std::make_shared<RestoreArgs>();
  CLI::App* sub = app.add_subcommand("restore", "restore a snapshot's files into an empty directory or an archive");
  AddRepoOption(sub, ctx);
  sub->add_option("snapshot", args->snapshot, "snapshot: id, id prefix, latest or a tag")->required();
  sub->add_option("--target", args->target, "new or empty directory to restore into");
  sub->add_option("--archive", args->archive, "write an archive to FILE, or - for standard output");
  sub->add_option("--format", args->format, "archive format: tar, tar.zst, zip (default: from the file name, else tar)");
  sub->add_option("-i,--include", args->includes, "restore only what matches PATTERN (and what is below it)");
  sub->callback([ctx, args] { ctx->run = [ctx, args] { return RunRestore(ctx, *args); }; });
}

}  // namespace rw::cli
