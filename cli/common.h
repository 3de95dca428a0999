// What every command shares: exit statuses, the repository option, error printing, progress.
#pragma once

#include <CLI/CLI.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/base/status.h"
#include "engine/ops/databases.h"
#include "engine/repo/repository.h"

namespace rw::cli {

// Exit statuses (README "Exit status").
inline constexpr int kExitOk = 0;
inline constexpr int kExitDamage = 1;      // verify found damage
inline constexpr int kExitError = 2;       // could not run: bad arguments, missing source, …
inline constexpr int kExitIncomplete = 3;  // backup saved, but some entries could not be read
inline constexpr int kExitStartFailed = 3;  // rollback complete and verified, but its start command failed

// Each command registers its subcommand and sets `run` when it is chosen.
struct Context {
  std::string repo;  // --repo or REWIND_REPO
  bool json = false;
  std::function<int()> run;
};

// Adds --repo (with REWIND_REPO) to a subcommand.
void AddRepoOption(CLI::App* sub, Context* ctx);

// Refuses an empty value: `--target "$UNSET"` must not fall back to a default (for rollback,
// the production installation).
CLI::Validator NonEmptyPath();

// Prints "rewind: <what>: <status message>" on stderr and returns kExitError. With --json (see
// SetJsonErrors) it also prints {"error": "<what>: <message>", "exit_code": 2} on stdout, so that
// a script reading the JSON of a command that could not run gets JSON.
int Fail(const std::string& what, const Status& status);
// The same, with `extra`'s fields added to the --json error object.
int Fail(const std::string& what, const Status& status, const nlohmann::json& extra);
void SetJsonErrors(bool on);

// The database servers of --mysql-defaults-file / --db-label (paired in order): with several
// files, one label each; never more labels than files (one label alone names a server).
Result<std::vector<DbServerSpec>> ServersFromFlags(const std::vector<std::string>& defaults_files,
                                                   const std::vector<std::string>& labels);

// Opens the repository of ctx (error printed when it fails).
std::unique_ptr<Repository> OpenRepo(const Context& ctx);

// Prints a progress line on stderr every half second while alive, if stderr is a terminal.
// `line` is called from the progress thread and must be thread-safe.
class ProgressLine {
 public:
  // `line` is asked every half second; an empty string leaves the screen as it is.
  explicit ProgressLine(std::function<std::string()> line);
  ~ProgressLine();  // clears the line

 private:
  std::function<std::string()> line_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  bool active_ = false;
};

// "\r\033[K" when stderr is a terminal (clears a progress line before a message), else "".
const char* LineReset();

// Quotes a path for a message when it holds bytes a terminal would misprint.
std::string PrintablePath(const std::string& path);

void RegisterInit(CLI::App& app, Context* ctx);
void RegisterBackup(CLI::App& app, Context* ctx);
void RegisterSnapshots(CLI::App& app, Context* ctx);
void RegisterLs(CLI::App& app, Context* ctx);
void RegisterRestore(CLI::App& app, Context* ctx);
void RegisterUnlock(CLI::App& app, Context* ctx);
void RegisterVerify(CLI::App& app, Context* ctx);
void RegisterRepair(CLI::App& app, Context* ctx);

}  // namespace rw::cli
