#include <cstdio>

#include "cli/common.h"
#include "engine/base/bytes.h"
#include "engine/ops/repair.h"

namespace rw::cli {

void RegisterRepair(CLI::App& app, Context* ctx) {
  CLI::App* sub = app.add_subcommand("repair", "repair a damaged repository");
  sub->require_subcommand(1);
  CLI::App* index = sub->add_subcommand("index", "rebuild the index from the packs alone (and remove the temporary files that interrupted "
                                                 "writes left)");
  AddRepoOption(index, ctx);
  index->callback([ctx] {
    ctx->run = [ctx] {
      if (ctx->repo.empty()) return Fail("repair index", Status::InvalidArgument("no repository given (--repo)"));
      OpenOptions open_options;
      open_options.tolerate_index_damage = true;
      auto repo = Repository::Open(ctx->repo, open_options);
      if (!repo.ok()) return Fail("cannot open repository " + ctx->repo, repo.status());
      auto report = RepairIndex(repo->get());
      if (!report.ok()) return Fail("repair index", report.status());
      for (const std::string& p : report->problems) std::printf("left out: %s\n", p.c_str());
      std::printf("rebuilt the index from %llu packs: %llu blobs in index/%s; %llu old index files removed\n",
                  static_cast<unsigned long long>(report->packs), static_cast<unsigned long long>(report->blobs),
                  report->new_index_file.substr(0, 12).c_str(),
                  static_cast<unsigned long long>(report->old_index_files));
      if (report->temporaries_removed > 0) {
        std::printf("removed %llu temporary file%s (%s) that interrupted writes left\n",
                    static_cast<unsigned long long>(report->temporaries_removed),
                    report->temporaries_removed == 1 ? "" : "s", HumanBytes(report->temporary_bytes).c_str());
      }
      std::printf("run `rewind verify --read-data` to check every snapshot against it\n");
      return kExitOk;
    };
  });
}

}  // namespace rw::cli
