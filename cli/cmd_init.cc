#include <cstdio>
#include <memory>

#include "cli/common.h"

namespace rw::cli {

void RegisterInit(CLI::App& app, Context* ctx) {
  CLI::App* sub = app.add_subcommand("init", "create a new repository");
  AddRepoOption(sub, ctx);
  auto options = std::make_shared<InitOptions>();
  sub->add_option("--zstd-level", options->zstd_level,
                  "zstd level of file chunks and trees (default 3)")
      ->check(CLI::Range(1, 19));
  sub->add_option("--db-zstd-level", options->db_zstd_level,
                  "zstd level of database dumps (default 1: a dump is large and made while the mail server is stopped)")
      ->check(CLI::Range(1, 19));
  sub->callback([ctx, options] {
    ctx->run = [ctx, options] {
      if (ctx->repo.empty()) return Fail("init", Status::InvalidArgument("no repository given (--repo)"));
      Status s = Repository::Init(ctx->repo, *options);
      if (!s.ok()) return Fail("init " + ctx->repo, s);
      std::printf("created rewind repository at %s\n", ctx->repo.c_str());
      return kExitOk;
    };
  });
}

}  // namespace rw::cli
