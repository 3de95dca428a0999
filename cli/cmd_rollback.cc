// rewind rollback SNAP: put the installation back to a snapshot, in place (engine/ops/rollback.h).
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "engine/base/bytes.h"
#include "engine/base/clock.h"
#include "engine/ops/rollback.h"
#include "engine/ops/snapshots.h"

namespace rw::cli {

nlohmann::json ChangeToJson(const Change& c);  // cmd_diff.cc
std::string ChangeLine(const Change& c);

namespace {

struct RollbackArgs {
  std::string snapshot;
  std::string target;
  bool files_only = false, databases_only = false;
  bool dry_run = false, no_safety = false, yes = false, resume = false, abandon = false, allow_running = false;
  std::string stop_cmd, start_cmd;
  std::vector<std::string> defaults_files, labels;  // database servers (as for restore)
  int db_threads = 2;
};

class PrintingObserver : public RollbackObserver {
 public:
  explicit PrintingObserver(bool quiet) : quiet_(quiet) {}
  // Each phase on its own line, with the time the previous one took.
  void OnPhase(const std::string& phase) override {
    if (!quiet_) {
      Done();
      std::fprintf(stderr, "%srollback: %s …\n", LineReset(), phase.c_str());
    }
    started_ = true;
    last_ = phase;
    since_ = std::chrono::steady_clock::now();
  }
  // The time the last phase took (called when it ends).
  void Done() {
    if (quiet_ || !started_) return;
    std::fprintf(stderr, "%srollback: %s: %.2f s\n", LineReset(), last_.c_str(),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - since_).count());
    started_ = false;
  }
  void OnNote(const std::string& note) override { std::fprintf(stderr, "%snote: %s\n", LineReset(), note.c_str()); }

 private:
  bool quiet_;
  bool started_ = false;
  std::string last_;
  std::chrono::steady_clock::time_point since_;
};

// A path that is not UTF-8 is given as {"path_hex": …} (as diff --json does), not mangled.
nlohmann::json Paths(const std::vector<std::string>& paths) {
  nlohmann::json arr = nlohmann::json::array();
  for (const std::string& p : paths) {
    if (IsValidUtf8(p)) {
      arr.push_back(p.empty() ? "." : p);
    } else {
      arr.push_back({{"path_hex", HexEncode(p)}});
    }
  }
  return arr;
}

nlohmann::json PlanJson(const RollbackPlan& p) {
  return {{"steps", p.steps.size()},
          {"create", Paths(p.create)},
          {"rewrite", Paths(p.rewrite)},
          {"delete", Paths(p.remove)},
          {"replace", Paths(p.replace)},
          {"fix", Paths(p.fix)},
          {"kept_unread", Paths(p.kept_unread)},
          {"kept_excluded", Paths(p.kept_excluded)},
          {"bytes_to_write", p.bytes_to_write},
          {"files_hashed", p.diff.files_hashed},
          {"bytes_hashed", p.diff.bytes_hashed}};
}

std::string Counts(const RollbackPlan& p) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%zu to create, %zu to rewrite (%s to write), %zu to delete, %zu to replace "
                "(type changed), %zu to fix (metadata); %zu steps",
                p.create.size(), p.rewrite.size(), HumanBytes(p.bytes_to_write).c_str(), p.remove.size(),
                p.replace.size(), p.fix.size(), p.steps.size());
  return buf;
}

// What deleting a directory of the plan takes with it: the entries below it now, and the bytes of
// the regular files among them. Counted only for people (the dry run and the question), by a walk
// that follows no symlink and stays on the directory's file system (the rollback refuses to
// delete a mount point); nothing is changed.
struct Below {
  uint64_t entries = 0, bytes = 0;
};
thread_local Below* below_sum = nullptr;

int CountOne(const char*, const struct stat* st, int flag, struct FTW* ftw) {
  if (ftw->level == 0) return FTW_CONTINUE;
  below_sum->entries += 1;
  if (flag == FTW_F && S_ISREG(st->st_mode)) below_sum->bytes += static_cast<uint64_t>(st->st_size);
  return FTW_CONTINUE;
}

// One per path: the count for a directory, nothing for anything else.
std::vector<std::optional<Below>> CountBelow(const std::string& target, const std::vector<std::string>& paths) {
  std::vector<std::optional<Below>> out;
  for (const std::string& rel : paths) {
    const std::string path = target + "/" + rel;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      out.emplace_back();
      continue;
    }
    Below b;
    below_sum = &b;
    ::nftw(path.c_str(), CountOne, 64, FTW_PHYS | FTW_MOUNT | FTW_ACTIONRETVAL);
    below_sum = nullptr;
    out.emplace_back(b);
  }
  return out;
}

std::string BelowText(const Below& b) {
  return std::to_string(b.entries) + (b.entries == 1 ? " entry" : " entries") + " inside, " + HumanBytes(b.bytes);
}

void PrintPlan(FILE* out, const RollbackPlan& p, const std::string& target, const std::string& snap) {
  if (target.empty()) {  // --databases-only: no files
    std::fprintf(out, "rollback of the databases to snapshot %s\n", snap.substr(0, 12).c_str());
    return;
  }
  std::fprintf(out, "rollback of %s to snapshot %s: %s\n", target.c_str(), snap.substr(0, 12).c_str(),
               Counts(p).c_str());
  auto list = [&](const char* what, const std::vector<std::string>& paths) {
    if (paths.empty()) return;
    std::fprintf(out, "%s (%zu):\n", what, paths.size());
    for (const std::string& path : paths) std::fprintf(out, "  %s\n", PrintablePath(path.empty() ? "." : path).c_str());
  };
  list("create", p.create);
  list("rewrite", p.rewrite);
  // A directory deleted (or replaced by what the snapshot has there) goes with everything below
  // it: say how much, so that nobody learns it after.
  auto list_deleted = [&](const char* what, const std::vector<std::string>& paths) {
    if (paths.empty()) return;
    const auto below = CountBelow(target, paths);
    Below total;
    size_t dirs = 0;
    for (const auto& b : below) {
      if (!b) continue;
      dirs += 1;
      total.entries += b->entries;
      total.bytes += b->bytes;
    }
    if (dirs == 0) {
      std::fprintf(out, "%s (%zu):\n", what, paths.size());
    } else {
      std::fprintf(out, "%s (%zu; %zu director%s now with %s):\n", what, paths.size(), dirs, dirs == 1 ? "y" : "ies",
                   BelowText(total).c_str());
    }
    for (size_t i = 0; i < paths.size(); ++i) {
      const std::string shown = PrintablePath(paths[i]);
      if (below[i]) {
        std::fprintf(out, "  %s/ (directory: %s)\n", shown.c_str(), BelowText(*below[i]).c_str());
      } else {
        std::fprintf(out, "  %s\n", shown.c_str());
      }
    }
  };
  list_deleted("delete", p.remove);
  list_deleted("replace", p.replace);
  list("fix", p.fix);
  list("left as they are (the backup could not read them)", p.kept_unread);
  list("left as they are (excluded folders: never touched)", p.kept_excluded);
}

// `target`: empty for --databases-only; `databases`: the snapshot's databases are rolled back too.
bool Ask(const RollbackPlan& plan, const std::string& target, const std::string& snap, bool safety, bool databases) {
  std::fputs(LineReset(), stderr);
  PrintPlan(stderr, plan, target, snap);
  const std::string what = target.empty() ? "the databases" : databases ? target + " and the databases" : target;
  std::fprintf(stderr, "Roll %s back to snapshot %s now?%s [y/N] ", what.c_str(), snap.substr(0, 12).c_str(),
               safety ? " A safety snapshot is taken first." : " No safety snapshot is taken (--no-safety-snapshot).");
  std::fflush(stderr);
  char buf[16] = {};
  if (!std::fgets(buf, sizeof buf, stdin)) return false;
  return buf[0] == 'y' || buf[0] == 'Y';
}

// --abandon: the pending journal goes, nothing else is touched.
int RunAbandon(Context* ctx, const RollbackArgs& args) {
  if (args.resume || args.dry_run || !args.target.empty() || args.files_only || args.databases_only ||
      !args.stop_cmd.empty() || !args.start_cmd.empty() || args.no_safety || !args.defaults_files.empty()) {
    return Fail("rollback", Status::InvalidArgument("--abandon only removes a pending journal: it takes at most "
                                                    "the snapshot or journal id of the rollback to give up"));
  }
  auto repo = OpenRepo(*ctx);
  if (!repo) return kExitError;
  auto a = AbandonRollback(repo.get(), args.snapshot);
  if (!a.ok()) return Fail("rollback", a.status());
  const std::string snap = a->snapshot_id.substr(0, 12), safety = a->safety_snapshot_id.substr(0, 12);
  if (ctx->json) {
    nlohmann::json j = {{"abandoned_journal", a->journal_id},
                        {"snapshot_id", a->damaged.empty() ? nlohmann::json(a->snapshot_id) : nlohmann::json(nullptr)},
                        {"safety_snapshot_id", a->safety_snapshot_id.empty() ? nlohmann::json(nullptr)
                                                                              : nlohmann::json(a->safety_snapshot_id)},
                        {"target", a->damaged.empty() ? nlohmann::json(a->target) : nlohmann::json(nullptr)},
                        {"steps_done", a->steps_done},
                        {"steps_total", a->steps_total},
                        {"damaged", a->damaged.empty() ? nlohmann::json(nullptr) : nlohmann::json(a->damaged)}};
    std::printf("%s\n", j.dump().c_str());
    return kExitOk;
  }
  if (!a->damaged.empty()) {
    std::printf("gave up the interrupted rollback of the damaged journal rollback/%s.journal (%s)\n",
                a->journal_id.c_str(), a->damaged.c_str());
    std::printf("its target and databases are as it left them: `rewind rollback SNAP` plans again from what is "
                "there now; `rewind snapshots` lists the safety snapshots (tag rollback-safety)\n");
    return kExitOk;
  }
  std::printf("gave up the interrupted rollback of %s to snapshot %s (at least %llu of %llu steps were applied)\n",
              a->target.c_str(), snap.c_str(), static_cast<unsigned long long>(a->steps_done),
              static_cast<unsigned long long>(a->steps_total));
  std::printf("%s%s %s (part way", a->target.empty() ? "the target" : a->target.c_str(),
              a->databases ? " and the databases" : "", a->databases ? "are as it left them" : "is as it left it");
  if (a->databases) std::printf("; the databases may still be the upgrade's: their step comes after the files");
  std::printf("), and its start command did not run: `rewind rollback %s` plans again from what is there now",
              snap.c_str());
  if (!safety.empty()) std::printf("; `rewind rollback %s` goes back to what was there before it", safety.c_str());
  std::printf("\n");
  return kExitOk;
}

int RunRollback(Context* ctx, const RollbackArgs& args) {
  if (args.abandon) return RunAbandon(ctx, args);
  if (args.files_only && args.databases_only) {
    return Fail("rollback", Status::InvalidArgument("--files-only and --databases-only exclude each other"));
  }
  if (!args.resume && args.snapshot.empty()) {
    return Fail("rollback", Status::InvalidArgument("name the snapshot to roll back to (or --resume)"));
  }
  if (args.resume && args.dry_run) {
    return Fail("rollback", Status::InvalidArgument("--resume finishes a journaled plan; --dry-run does not apply"));
  }
  const bool interactive = ::isatty(STDIN_FILENO) && ::isatty(STDERR_FILENO);
  if (!args.yes && !args.dry_run && !args.resume && !interactive) {
    return Fail("rollback", Status::InvalidArgument(
                                "not on a terminal: add --yes to roll back without being asked (or --dry-run to "
                                "see the plan)"));
  }
  auto repo = OpenRepo(*ctx);
  if (!repo) return kExitError;
  RollbackOptions opts;
  opts.target = args.target;
  opts.files = !args.databases_only;
  opts.dry_run = args.dry_run;
  opts.safety_snapshot = !args.no_safety;
  opts.allow_running = args.allow_running;
  opts.stop_cmd = args.stop_cmd;
  opts.start_cmd = args.start_cmd;
  // Tests (tests/rollback/rollback_crash.sh) slow the apply down so that kills land inside it.
  if (const char* d = std::getenv("REWIND_TEST_ROLLBACK_STEP_DELAY_US")) opts.step_delay_us = std::atoi(d);
  // Databases: each database of the snapshot is dropped and loaded again from it (restore
  // --databases-only); the servers are found by label as for restore.
  auto servers = ServersFromFlags(args.defaults_files, args.labels);
  if (!servers.ok()) return Fail("rollback", servers.status());
  if (args.db_threads < 1 || args.db_threads > 64) return Fail("rollback", Status::InvalidArgument("--db-threads must be 1..64"));
  DatabaseRestoreOptions db_opts;
  db_opts.servers = std::move(*servers);
  db_opts.threads = args.db_threads;
  // Tests (tests/rollback/rollback_db.sh) wait less than a minute for a lock held elsewhere.
  if (const char* w = std::getenv("REWIND_TEST_DB_LOCK_WAIT_S")) db_opts.lock_wait_s = std::atoi(w);
  std::vector<DatabaseRestoreResult::Server> db_done;
  std::vector<std::string> db_notes;  // views the snapshot holds as comments only
  std::vector<std::string> dry_run_notes;  // a server that could not be asked
  std::string dry_run_refused;             // why the rollback would be refused (a server's check)
  if (!args.files_only) {
    opts.restore_databases = [&repo, db_opts, &db_done,
                              &db_notes](const Snapshot& snap) -> Result<std::vector<std::string>> {
      if (snap.databases.empty()) return std::vector<std::string>{};
      RW_RETURN_IF_ERROR(CheckServerLabels(snap, db_opts.servers));  // a --resume's snapshot
      auto r = RestoreDatabases(*repo, snap, db_opts);
      if (!r.ok()) return r.status();
      db_done = r->servers;
      for (const std::string& v : r->not_created) {
        db_notes.push_back(v + ": invalid when the snapshot was taken, not created: the rollback dropped the one "
                           "there (its definition is a comment in views.sql: `rewind dump` shows it)");
      }
      return std::move(r->failed_objects);
    };
    // After the stop command, before the safety snapshot (and on --resume): no other connection
    // may use the databases it drops (IceWarp on another host sharing the server). A server
    // that cannot be reached now is left to the databases step.
    opts.check_databases_idle = [db_opts](const Snapshot& snap) { return CheckDatabasesIdle(snap, db_opts); };
  }
  PrintingObserver observer(ctx->json);
  RollbackProgress progress;
  std::atomic<bool> asking{false};
  const int64_t t0 = RealClock().MonotonicNs();
  std::string snap_id;
  Result<RollbackResult> result = Status::OK();
  {
    ProgressLine line([&] {
      if (asking.load()) return std::string();
      char buf[160];
      std::snprintf(buf, sizeof buf, "[%5.1fs] %llu / %llu steps, %s written",
                    static_cast<double>(RealClock().MonotonicNs() - t0) / 1e9,
                    static_cast<unsigned long long>(progress.steps_done.load()),
                    static_cast<unsigned long long>(progress.steps_total.load()),
                    HumanBytes(progress.bytes_written.load()).c_str());
      return std::string(buf);
    });
    if (args.resume) {
      result = ResumeRollback(repo.get(), args.snapshot, opts, &observer, &progress);
    } else {
      auto ref = ResolveSnapshot(repo.get(), args.snapshot, /*latest_skips_safety=*/true);
      if (!ref.ok()) return Fail("rollback", ref.status());
      snap_id = ref->id;
      if (ref->tag_matches > 1) {
        std::string when = FormatRfc3339Ns(ref->snapshot.time_ns).substr(0, 19) + " UTC";
        when[10] = ' ';
        dry_run_notes.push_back("tag \"" + args.snapshot + "\" is on " + std::to_string(ref->tag_matches) +
                                " snapshots: the newest, " + ref->id.substr(0, 12) + " (" +
                                when + "), is the one rolled back to");
      }
      if (args.databases_only && ref->snapshot.databases.empty()) {
        return Fail("rollback", Status::InvalidArgument("snapshot " + ref->id.substr(0, 12) + " holds no databases"));
      }
      if (!args.files_only) {
        if (Status s = CheckServerLabels(ref->snapshot, db_opts.servers); !s.ok()) return Fail("rollback", s);
      }
      // A dry run names the databases the rollback would drop and reload, and asks each server
      // which databases it would leave alone (created after the snapshot).
      if (args.dry_run && !args.files_only) {
        for (const DatabaseDump& d : ref->snapshot.databases) {
          auto others = DatabasesNotInDump(d, DefaultsFileFor(db_opts.servers, d.label));
          if (!others.ok()) {
            dry_run_notes.push_back("could not ask server \"" + d.label + "\" which databases it holds: " +
                                    others.status().message());
          }
          db_done.push_back({d.label, d.databases, others.ok() ? *others : std::vector<std::string>{}, 0, 0, 0});
        }
      }
      // The safety snapshot dumps the same servers (every database now on them, so that
      // databases created since are in it too).
      if (!args.files_only) {
        for (const DatabaseDump& d : ref->snapshot.databases) {
          opts.safety_databases.servers.push_back({d.label, DefaultsFileFor(db_opts.servers, d.label)});
          if (std::find(d.databases.begin(), d.databases.end(), "mysql") != d.databases.end()) {
            opts.safety_databases.include_system = true;
          }
        }
        opts.safety_databases.threads = args.db_threads;
      }
      // Each server can be reached, takes its dump's largest statement (max_allowed_packet)
      // and the definers of its objects (SET USER), asked before anything changes: found out at
      // the databases step, it would come after the files (with --no-safety-snapshot nothing
      // else connects before; with one, its dump would find an unreachable server only after
      // the stop command).
      if (!args.files_only) {
        for (const DatabaseDump& d : ref->snapshot.databases) {
          Status s = CheckServerTakesDump(*repo, d, {}, db_opts.servers);
          if (s.ok()) continue;
          if (s.code() == Code::kIOError) {
            s = s.WithContext("nothing was rolled back: every server of the snapshot must answer before anything "
                              "changes (start it, or give the --mysql-defaults-file that reaches it; --files-only "
                              "rolls back the files alone)");
          } else if (s.message().find("nothing was changed") == std::string::npos) {
            // The server checks' messages end with "nothing was changed" already.
            s = s.WithContext("nothing was rolled back");
          }
          if (!args.dry_run) return Fail("rollback", s);
          if (dry_run_refused.empty()) dry_run_refused = s.message();
        }
      }
      if (!args.yes && !args.dry_run) {
        std::string target = args.databases_only ? "" : args.target.empty() ? ref->snapshot.source : args.target;
        const bool with_databases = !args.files_only && !ref->snapshot.databases.empty();
        opts.confirm = [target, id = ref->id, safety = !args.no_safety, with_databases,
                        &asking](const RollbackPlan& plan) {
          asking = true;  // the progress line must not draw over the question
          bool yes = Ask(plan, target, id, safety, with_databases);
          asking = false;
          return yes;
        };
      }
      result = Rollback(repo.get(), *ref, opts, &observer, &progress);
    }
  }
  observer.Done();
  if (!result.ok()) {
    // For scripts: whether it stopped part way (a journal to --resume) or changed nothing.
    nlohmann::json extra = {{"resume_pending", false}, {"journal_id", nullptr}};
    if (auto pending = ListPendingRollbacks(repo.get()); pending.ok() && !pending->empty()) {
      extra["resume_pending"] = true;
      extra["journal_id"] = pending->front().journal_id;
    }
    return Fail(args.resume ? "rollback --resume" : "rollback", result.status(), extra);
  }
  const RollbackResult& r = *result;
  // A dry run's refusal: the engine's (the snapshot, the target, what runs), else a server's.
  const std::string refused = !r.refused.empty() ? r.refused : dry_run_refused;
  if (ctx->json) {
    nlohmann::json remaining = nlohmann::json::array();
    for (const Change& c : r.remaining) remaining.push_back(ChangeToJson(c));
    nlohmann::json j = {{"snapshot_id", r.snapshot_id},
                        {"target", r.target},
                        {"dry_run", r.dry_run},
                        {"refused", refused.empty() ? nlohmann::json(nullptr) : nlohmann::json(refused)},
                        {"resumed", r.resumed},
                        {"safety_snapshot_id", r.safety_snapshot_id.empty() ? nlohmann::json(nullptr)
                                                                             : nlohmann::json(r.safety_snapshot_id)},
                        {"journal_id", r.journal_id},
                        {"plan", PlanJson(r.plan)},
                        {"steps_applied", r.steps_applied},
                        {"files_written_before_apply", r.files_written_before_apply},
                        {"bytes_copied_from_target", r.bytes_copied_from_target},
                        {"verified", r.dry_run ? nlohmann::json(nullptr) : nlohmann::json(r.verified())},
                        {"remaining", remaining},
                        {"databases_failed", r.databases_failed},
                        {"databases_restored", r.databases_restored},
                        {"databases_created", [&] {
                           nlohmann::json a = nlohmann::json::array();
                           for (const auto& [label, created] : r.databases_created) {
                             a.push_back({{"label", label}, {"databases", created}});
                           }
                           return a;
                         }()},
                        {"databases", [&] {
                           nlohmann::json a = nlohmann::json::array();
                           for (const auto& d : db_done) {
                             a.push_back({{"label", d.label}, {r.dry_run ? "to_reload" : "restored", d.databases}, {"left_alone", d.left_alone}});
                           }
                           return a;
                         }()},
                        {"start_cmd_run", r.start_cmd_run},
                        {"start_cmd_failed", r.start_cmd_failed.empty() ? nlohmann::json(nullptr)
                                                                         : nlohmann::json(r.start_cmd_failed)},
                        {"notes", [&] {
                           std::vector<std::string> notes = r.notes;
                           notes.insert(notes.end(), dry_run_notes.begin(), dry_run_notes.end());
                           notes.insert(notes.end(), db_notes.begin(), db_notes.end());
                           return notes;
                         }()},
                        {"duration_s", r.duration_s}};
    if (r.dry_run) {
      // What each directory to delete or replace holds now (gone after the rollback: dry run only).
      auto below = [&](const std::vector<std::string>& paths) {
        nlohmann::json arr = nlohmann::json::array();
        const auto counts = CountBelow(r.target, paths);
        for (size_t i = 0; i < counts.size(); ++i) {
          if (!counts[i]) continue;
          nlohmann::json one = Paths({paths[i]})[0];
          if (!one.is_object()) one = {{"path", one}};
          one["entries"] = counts[i]->entries;
          one["bytes"] = counts[i]->bytes;
          arr.push_back(one);
        }
        return arr;
      };
      j["plan"]["delete_below"] = below(r.plan.remove);
      j["plan"]["replace_below"] = below(r.plan.replace);
    }
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else if (r.dry_run) {
    PrintPlan(stdout, r.plan, args.databases_only ? "" : r.target, r.snapshot_id);
    for (const auto& d : db_done) {
      std::string names, extra;
      for (const std::string& n : d.databases) names += (names.empty() ? "" : ", ") + n;
      for (const std::string& n : d.left_alone) extra += (extra.empty() ? "" : ", ") + n;
      std::printf("databases of server \"%s\" to drop and load from the snapshot: %s\n", d.label.c_str(), names.c_str());
      if (!extra.empty()) {
        std::printf("databases on server \"%s\" that the snapshot does not hold, to be left alone: %s\n",
                    d.label.c_str(), extra.c_str());
      }
    }
    for (const std::string& n : r.notes) std::fprintf(stderr, "note: %s\n", n.c_str());
    for (const std::string& n : dry_run_notes) std::fprintf(stderr, "note: %s\n", n.c_str());
    if (!refused.empty()) std::fprintf(stderr, "rewind: rollback --dry-run: the rollback would be refused: %s\n", refused.c_str());
    std::printf("dry run: nothing was changed\n");
  } else {
    for (const std::string& n : dry_run_notes) std::fprintf(stderr, "note: %s\n", n.c_str());
    for (const std::string& n : r.notes) std::fprintf(stderr, "note: %s\n", n.c_str());
    for (const std::string& n : db_notes) std::fprintf(stderr, "note: %s\n", n.c_str());
    for (const auto& d : db_done) {
      std::string names, extra;
      for (const std::string& n : d.databases) names += (names.empty() ? "" : ", ") + n;
      for (const std::string& n : d.left_alone) extra += (extra.empty() ? "" : ", ") + n;
      std::fprintf(stderr, "databases of server \"%s\" dropped and loaded from the snapshot: %s\n", d.label.c_str(),
                   names.c_str());
      if (!extra.empty()) {
        std::fprintf(stderr, "databases on server \"%s\" that the snapshot does not hold, left alone: %s\n",
                     d.label.c_str(), extra.c_str());
      }
    }
    if (!r.safety_snapshot_id.empty()) {
      std::fprintf(stderr, "safety snapshot %s (tag rollback-safety): `rewind rollback %s` undoes this rollback\n",
                   r.safety_snapshot_id.substr(0, 12).c_str(), r.safety_snapshot_id.substr(0, 12).c_str());
      // Except for the databases this rollback created that were not there before (the upgrade
      // dropped them): the safety snapshot does not hold them, and a rollback to it leaves
      // them alone.
      for (const auto& [label, created] : r.databases_created) {
        std::string names;
        for (const std::string& n : created) names += (names.empty() ? "" : ", ") + n;
        std::fprintf(stderr,
                     "note: databases of server \"%s\" that this rollback created (they were not there before it): "
                     "%s. A rollback to the safety snapshot leaves them: drop them after it to be exactly as before\n",
                     label.c_str(), names.c_str());
      }
    }
    if (r.resumed) {
      // Steps after the journal's last checkpoint are run (again): each is safe to repeat.
      std::fprintf(stderr, "resumed from the journal's last checkpoint (step %llu of %zu): the remaining steps are done\n",
                   static_cast<unsigned long long>(r.plan.steps.size() - r.steps_applied), r.plan.steps.size());
    } else {
      std::fprintf(stderr, "%s\n", Counts(r.plan).c_str());
    }
    if (!r.remaining.empty()) {
      std::fprintf(stderr, "error: %zu differences remain between %s and the snapshot:\n", r.remaining.size(),
                   r.target.c_str());
      for (const Change& c : r.remaining) std::printf("%s\n", ChangeLine(c).c_str());
      // Something changed them after the plan (a service still writing, an edit during a
      // resume): a new rollback plans from what is there now.
      std::fprintf(stderr,
                   "find what changed them (something still running?), then run "
                   "`rewind rollback %s` again: it plans from what is there now (`rewind diff %s --live %s` lists "
                   "the differences)\n",
                   r.snapshot_id.substr(0, 12).c_str(), r.snapshot_id.substr(0, 12).c_str(), r.target.c_str());
    }
    if (!r.databases_failed.empty()) {
      // Everything else was restored; running the step again would fail the same way.
      std::fprintf(stderr,
                   "error: %zu database object%s could not be created (everything else was rolled back; create "
                   "them by hand or fix what they need):\n",
                   r.databases_failed.size(), r.databases_failed.size() == 1 ? "" : "s");
      for (const std::string& f : r.databases_failed) std::printf("%s\n", f.c_str());
    }
    if (r.verified()) {
      if (r.target.empty() || args.databases_only) {
        std::fprintf(stderr, "rolled the databases back to snapshot %s in %.1f s\n", r.snapshot_id.substr(0, 12).c_str(),
                     r.duration_s);
      } else {
        std::fprintf(stderr, "rolled %s back to snapshot %s and verified it in %.1f s\n", r.target.c_str(),
                     r.snapshot_id.substr(0, 12).c_str(), r.duration_s);
      }
    }
  }
  if (!r.start_cmd_failed.empty()) {
    // Last, where it is seen: the rollback is done, the services are not running.
    std::fprintf(stderr,
                 "rewind: rollback: the rollback is complete and verified, but the start command failed (%s): the "
                 "services are still stopped: start them by hand\n",
                 r.start_cmd_failed.c_str());
  }
  if (r.dry_run) return refused.empty() ? kExitOk : kExitError;  // the rollback's own exit status
  if (!r.verified()) return kExitDamage;
  return r.start_cmd_failed.empty() ? kExitOk : kExitStartFailed;
}

}  // namespace

void RegisterRollback(CLI::App& app, Context* ctx) {
  auto args = std::make_shared<RollbackArgs>();
  CLI::App* sub = app.add_subcommand("rollback", "put the installation back to a snapshot, in place, undoably");
  AddRepoOption(sub, ctx);
  sub->add_option("snapshot", args->snapshot,
                  "snapshot: id, id prefix, latest (the newest that is not a rollback's safety snapshot) or a tag");
  sub->add_option("--target", args->target,
                  "existing directory to roll back (default: the snapshot's source, created again when it is gone)")
      ->check(NonEmptyPath());
  sub->add_flag("--files-only", args->files_only, "roll back the files, not the databases");
  sub->add_flag("--databases-only", args->databases_only, "roll back the databases, not the files");
  sub->add_flag("--dry-run", args->dry_run, "print the plan and change nothing (reads the data the plan needs: exit 2 when the rollback would be refused)");
  sub->add_flag("--no-safety-snapshot", args->no_safety, "do not back up the current state first");
  sub->add_option("--stop-cmd", args->stop_cmd, "shell command that stops the services (before any change)");
  sub->add_flag("--allow-running", args->allow_running,
                "roll back even while processes run from the target or hold its files, or other connections use its databases (refused otherwise)");
  sub->add_option("--start-cmd", args->start_cmd, "shell command that starts them again (after the verify)");
  sub->add_flag("-y,--yes", args->yes, "do not ask (required when not on a terminal)");
  sub->add_flag("--resume", args->resume, "finish an interrupted rollback from its journal");
  sub->add_flag("--abandon", args->abandon,
                "give up an interrupted rollback that --resume cannot finish: remove its journal, change nothing "
                "else (a new rollback then plans from what is there now); with several pending, name its snapshot "
                "or journal id");
  sub->add_option("--mysql-defaults-file", args->defaults_files,
                  "MySQL option file ([client]: host, port, socket, user, password) of a server whose databases the "
                  "snapshot holds; repeat per server with --db-label");
  sub->add_option("--db-label", args->labels, "the snapshot's server label each --mysql-defaults-file is for");
  sub->add_option("--db-threads", args->db_threads, "connections loading table data in parallel (default 2)");
  sub->add_flag("--json", ctx->json, "print one JSON object");
  sub->footer(
      "Exit status: 0 rolled back and verified (or a dry run of a rollback that would run); 1 differences remain "
      "after the rollback (listed); 2 could not run or refused (nothing changed unless it says the rollback "
      "stopped part way: then `rewind rollback --resume` finishes it), and --dry-run when the rollback would be "
      "refused; 3 rolled back and verified, but the start command failed (the services are still stopped); "
      "128 + n stopped by signal n (130: Ctrl-C), saying whether to resume.");
  sub->callback([ctx, args] { ctx->run = [ctx, args] { return RunRollback(ctx, *args); }; });
}

}  // namespace rw::cli
