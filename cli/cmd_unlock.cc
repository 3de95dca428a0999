#include <cstdio>
#include <memory>

#include "cli/common.h"
#include "engine/base/clock.h"

namespace rw::cli {

void RegisterUnlock(CLI::App& app, Context* ctx) {
  CLI::App* sub = app.add_subcommand("unlock", "remove stale locks (left by processes that died on this host)");
  AddRepoOption(sub, ctx);
  auto all = std::make_shared<bool>(false);  // as the other commands keep their flags
  sub->add_flag("--all", *all,
                "remove every lock, also of live processes, other hosts and unreadable lock files: only when "
                "nothing else uses the repository");
  sub->callback([ctx, all] {
    ctx->run = [ctx, all] {
      auto repo = OpenRepo(*ctx);
      if (!repo) return kExitError;
      auto removed = *all ? repo->RemoveAllLocks() : repo->RemoveStaleLocks();
      if (!removed.ok()) return Fail("unlock", removed.status());
      for (const LockInfo& l : *removed) {
        std::printf("removed %slock of `%s` (pid %d on %s, since %s)\n", l.stale ? "stale " : "", l.command.c_str(),
                    l.pid, l.hostname.c_str(), FormatRfc3339Ns(l.since_ns).c_str());
      }
      auto left = repo->ListLocks();
      if (left.ok()) {
        for (const LockInfo& l : *left) {
          std::printf("kept lock of `%s` (pid %d on %s, lock file %s): %s\n", l.command.c_str(), l.pid,
                      l.hostname.c_str(), repo->storage().Describe("locks/" + l.file).c_str(),
                      "the process is alive, on another host, or the file is unreadable; if you are sure nothing "
                      "uses the repository: `rewind unlock --all`");
        }
      }
      if (removed->empty()) std::printf(*all ? "no locks\n" : "no stale locks\n");
      return kExitOk;
    };
  });
}

}  // namespace rw::cli
