// rewind: backup and rollback for IceWarp servers. One file per command (cmd_*.cc).
#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cli/common.h"

namespace rw::cli {
void RegisterDiff(CLI::App& app, Context* ctx);      // cmd_diff.cc
void RegisterRollback(CLI::App& app, Context* ctx);  // cmd_rollback.cc
}  // namespace rw::cli

namespace rw::cli { void RegisterDump(CLI::App& app, Context* ctx); }  // cmd_dump.cc

int main(int argc, char** argv) {
  // Chunks (up to 8 MiB), their frames and pack buffers come and go by the thousand. With
  // glibc's thresholds many were a fresh mmap or heap growth, faulted in page by page: a
  // database dump of 612 MB took 73k page faults and 3.4 s; without mmap under 64 MiB and with
  // up to 32 MiB of free heap top kept, 42-46k faults and 2.7 s. The first backup of the bench
  // tree keeps its peak RSS (132 MiB; keeping 256 MiB made it 135-149 MiB). The environment's
  // MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ decide when set.
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 64 << 20);
  if (!std::getenv("MALLOC_TRIM_THRESHOLD_")) mallopt(M_TRIM_THRESHOLD, 32 << 20);
  // Restore keeps a descriptor per directory level and per file in flight.
  struct rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  CLI::App app{"rewind " REWIND_VERSION
               " — backup and rollback for IceWarp mail servers (files and MySQL/MariaDB)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "rewind " REWIND_VERSION);
  app.footer(
      "Exit status: 0 success; 1 verify found damage, or differences remain after a rollback; 2 could not run (bad arguments, missing "
      "source, not a repository, locked, I/O error, disk full); 3 backup saved but incomplete (some files "
      "could not be read), or rollback done and verified but its start command failed; 128 + n stopped by signal n (130: Ctrl-C; the lock is released).");
  rw::cli::Context ctx;
  rw::cli::RegisterInit(app, &ctx);
  rw::cli::RegisterBackup(app, &ctx);
  rw::cli::RegisterSnapshots(app, &ctx);
  rw::cli::RegisterLs(app, &ctx);
  rw::cli::RegisterRestore(app, &ctx);
  rw::cli::RegisterVerify(app, &ctx);
  rw::cli::RegisterRepair(app, &ctx);
  rw::cli::RegisterUnlock(app, &ctx);
  rw::cli::RegisterDump(app, &ctx);
  rw::cli::RegisterDiff(app, &ctx);
  rw::cli::RegisterRollback(app, &ctx);
  // A word where the command goes that names none ("rewind check"): CLI11 would only say "A
  // subcommand is required".
  if (argc > 1 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      known = known || sub->check_name(argv[1]);
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      std::fprintf(stderr, "rewind: unknown command \"%s\" (commands: %s; see rewind --help)\n", argv[1],
                   names.c_str());
      return rw::cli::kExitError;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : rw::cli::kExitError;
  }
  if (!ctx.run) return rw::cli::kExitError;
  // Malloc arenas, set before the first thread starts. One arena for every thread: with
  // glibc's default (one per thread, up to 8 × cores) each pipeline thread kept its own free
  // chunks and buffers, and the first backup of the 2.4 GB bench tree peaked at 172 MiB instead
  // of 131 MiB, no faster (bench/compare.sh); verify --read-data went from 106-118 to 130 MiB,
  // no faster. Rollback uses one arena per hardware thread: with a single one, its threads
  // decoding trees, hashing and writing files waited on the arena's lock, and bench/rollback.sh
  // took 0.2-0.3 s longer (2.87-3.32 s against 2.60-2.73 s; RSS 160 against 167 MiB). A
  // MALLOC_ARENA_MAX in the environment is left to decide.
  if (!std::getenv("MALLOC_ARENA_MAX")) {
    const bool rollback = !app.get_subcommands().empty() && app.get_subcommands()[0]->get_name() == "rollback";
    mallopt(M_ARENA_MAX, rollback ? static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) : 1);
  }
  rw::cli::SetJsonErrors(ctx.json);
  try {
    return ctx.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rewind: internal error: %s\n", e.what());
    return rw::cli::kExitError;
  }
}
