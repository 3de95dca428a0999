#include <cstdio>

#include "cli/common.h"
#include "engine/base/clock.h"

namespace rw::cli {

void RegisterUnlock(CLI::App& app, Context* ctx) {
  CLI::App* sub = app.add_subcommand("unlock", "remove stale locks (left by processes that died on this host)");
  AddRepoOption(sub, ctx);
  sub->callback([ctx] {
    ctx->run = [ctx] {
      auto repo = OpenRepo(*ctx);
      if (!repo) return kExitError;
      auto removed = repo->RemoveStaleLocks();
      if (!removed.ok()) return Fail("unlock", removed.status());
      for (const LockInfo& l : *removed) {
        std::printf("removed stale lock of `%s` (pid %d on %s, since %s)\n", l.command.c_str(), l.pid,
                    l.hostname.c_str(), FormatRfc3339Ns(l.since_ns).c_str());
      }
      auto left = repo->ListLocks();
      if (left.ok()) {
        for (const LockInfo& l : *left) {
          std::printf("kept lock of `%s` (pid %d on %s): %s\n", l.command.c_str(), l.pid, l.hostname.c_str(),
                      "the process is alive or on another host");
        }
      }
      if (removed->empty()) std::printf("no stale locks\n");
      return kExitOk;
    };
  });
}

}  // namespace rw::cli
