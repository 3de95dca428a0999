#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "engine/base/bytes.h"
#include "engine/base/clock.h"
#include "engine/ops/verify.h"

namespace rw::cli {

namespace {

struct VerifyArgs {
  bool read_data = false;
  std::string subset;
};

int RunVerify(Context* ctx, const VerifyArgs& args) {
  VerifyOptions opts;
  if (args.read_data) opts.data = VerifyOptions::Data::kAll;
  if (!args.subset.empty()) {
    Status s = ParseReadDataSubset(args.subset, &opts);
    if (!s.ok()) return Fail("verify", s);
  }
  if (ctx->repo.empty()) return Fail("verify", Status::InvalidArgument("no repository given (--repo)"));
  OpenOptions open_options;
  open_options.tolerate_index_damage = true;
  auto repo = Repository::Open(ctx->repo, open_options);
  if (!repo.ok()) return Fail("cannot open repository " + ctx->repo, repo.status());
  VerifyProgress progress;
  const int64_t t0 = RealClock().MonotonicNs();
  Result<VerifyReport> report = [&] {
    ProgressLine line([&] {
      char buf[160];
      std::snprintf(buf, sizeof buf, "[%5.1fs] %llu / %llu packs, %s read",
                    static_cast<double>(RealClock().MonotonicNs() - t0) / 1e9,
                    static_cast<unsigned long long>(progress.packs_done.load()),
                    static_cast<unsigned long long>(progress.packs_total.load()),
                    HumanBytes(progress.bytes_read.load()).c_str());
      return std::string(buf);
    });
    return VerifyRepository(repo->get(), opts, &progress);
  }();
  if (!report.ok()) return Fail("verify", report.status());
  const double secs = static_cast<double>(RealClock().MonotonicNs() - t0) / 1e9;
  const VerifyReport& r = *report;
  if (ctx->json) {
    nlohmann::json blobs = nlohmann::json::array();
    for (const DamagedBlob& b : r.blobs) {
      blobs.push_back({{"blob", b.id.Hex()}, {"problem", b.problem}, {"needed_by", b.needed_by},
                       {"needed_by_total", b.needed_by_total}});
    }
    nlohmann::json j = {{"clean", r.clean()}, {"snapshots", r.snapshots}, {"trees", r.trees},
                        {"blobs_referenced", r.blobs_referenced}, {"packs", r.packs},
                        {"packs_read", r.packs_read}, {"blobs_read", r.blobs_read},
                        {"bytes_read", r.bytes_read}, {"duration_s", secs}, {"damage", r.damage},
                        {"damaged_blobs", blobs}, {"notes", r.notes}};
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    for (const std::string& n : r.notes) std::printf("note: %s\n", n.c_str());
    for (const std::string& d : r.damage) std::printf("DAMAGE: %s\n", d.c_str());
    for (const DamagedBlob& b : r.blobs) {
      for (const std::string& who : b.needed_by) {
        std::printf("  blob %s is needed by %s\n", b.id.Short().c_str(), PrintablePath(who).c_str());
      }
      if (b.needed_by_total > b.needed_by.size()) {
        std::printf("  blob %s: … and %llu more\n", b.id.Short().c_str(),
                    static_cast<unsigned long long>(b.needed_by_total - b.needed_by.size()));
      }
    }
    std::printf("%s: %llu snapshots, %llu trees, %llu packs (%s read), %llu blobs read and hashed, in %.1f s\n",
                r.clean() ? "no damage found" : "DAMAGE FOUND", static_cast<unsigned long long>(r.snapshots),
                static_cast<unsigned long long>(r.trees), static_cast<unsigned long long>(r.packs),
                HumanBytes(r.bytes_read).c_str(), static_cast<unsigned long long>(r.blobs_read), secs);
    if (opts.data == VerifyOptions::Data::kNone) {
      std::printf("(structure and pack checksums only; add --read-data to decompress and hash every blob)\n");
    }
  }
  return r.clean() ? kExitOk : kExitDamage;
}

}  // namespace

void RegisterVerify(CLI::App& app, Context* ctx) {
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* sub = app.add_subcommand(
      "verify", "check the repository: structure, pack checksums, and with --read-data every blob");
  AddRepoOption(sub, ctx);
  auto* all = sub->add_flag("--read-data", args->read_data, "decompress and hash every blob of every pack");
  sub->add_option("--read-data-subset", args->subset,
                  "only some packs: P% (a random P % of them, at least one) or n/m (deterministic; n = 1..m "
                  "covers every pack once)")
      ->excludes(all);
  sub->add_flag("--json", ctx->json, "print one JSON object");
  sub->footer("Exit status: 0 no damage, 1 damage found, 2 could not run.");
  sub->callback([ctx, args] { ctx->run = [ctx, args] { return RunVerify(ctx, *args); }; });
}

}  // namespace rw::cli
