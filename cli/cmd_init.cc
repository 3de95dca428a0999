#include <cstdio>

#include "cli/common.h"

namespace rw::cli {

void RegisterInit(CLI::App& app, Context* ctx) {
  CLI::App* sub = app.add_subcommand("init", "create a new repository");
  AddRepoOption(sub, ctx);
  sub->callback([ctx] {
    ctx->run = [ctx] {
      if (ctx->repo.empty()) return Fail("init", Status::InvalidArgument("no repository given (--repo)"));
      Status s = Repository::Init(ctx->repo);
      if (!s.ok()) return Fail("init " + ctx->repo, s);
      std::printf("created rewind repository at %s\n", ctx->repo.c_str());
      return kExitOk;
    };
  });
}

}  // namespace rw::cli
