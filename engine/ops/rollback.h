// Rollback: puts a live directory (the IceWarp installation) back to a snapshot, in place,
// rewriting only what differs, safely and undoably (DESIGN.md "Rollback", docs/design.md).
//
//   1. lock the repository exclusively; check the snapshot is whole (every tree loads, every blob
//      it needs is indexed, the packs holding them are present with intact trailers)
//   2. run the stop command (/bin/sh -c); its failure aborts before any change
//   3. safety snapshot of the target (same exclusion rules), tagged "rollback-safety" and
//      "before-rollback-to-<id>", so the rollback can itself be rolled back
//   4. plan with DiffLive (size, mtime, ctime, inode; else whole-file XXH3-128): create, rewrite,
//      delete, fix metadata; read and hash every blob the plan will write
//   5. journal the plan in the repository (rollback/<id>.journal, docs/format.md §10), apply it
//      step by step (progress checkpointed in rollback/<id>.progress), directory metadata last
//   6. the databases hook; 7. verify with DiffLive: no difference may remain; 8. start command.
//
// Entries of type `excluded` in the snapshot, and everything inside them, are never touched;
// live entries the snapshot's exclusion rules match are left alone. Every path is reached with
// openat(O_NOFOLLOW) from the target's descriptor: a symlink is never followed.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/base/status.h"
#include "engine/ops/databases.h"
#include "engine/ops/diff.h"
#include "engine/ops/snapshots.h"
#include "engine/repo/repository.h"
#include "manifests/snapshot.h"
#include "manifests/tree.h"

namespace rw {

struct RollbackStep {
  enum class Op {
    kRemove,   // remove `path` (recursively) if it is still of type `live_type`
    kMkdir,    // create the directory (its metadata comes with a kDirMeta step)
    kWrite,    // write the file beside it under a temporary name, rename over `path`
    kSymlink,  // create the symlink under a temporary name, rename over `path`
    kLink,     // hardlink `path` to entry.link_target (under a temporary name, renamed)
    kNode,     // FIFO or device node (temporary name, renamed)
    kMeta,     // owner, mode, xattrs, mtime of a non-directory
    kDirMeta,  // owner, mode, xattrs, mtime of a directory: after every other step, deepest first
  };
  Op op = Op::kRemove;
  std::string path;  // relative to the target; "" is the target itself (kDirMeta only)
  EntryType live_type = EntryType::kFile;  // kRemove
  TreeEntry entry;                         // the snapshot's entry (name = last component)
};
const char* RollbackOpName(RollbackStep::Op op);

struct RollbackPlan {
  std::vector<RollbackStep> steps;
  // For people, in walk order: what the rollback creates (the snapshot has it, the target not),
  // rewrites (content differs), deletes (the target has it, the snapshot not), replaces (type
  // changed: delete then create) and fixes (metadata only; directories' times aside).
  std::vector<std::string> create, rewrite, remove, replace, fix;
  // What the target has and the snapshot lacks because the backup could not read it
  // (Snapshot::unread): left as it is, never deleted.
  std::vector<std::string> kept_unread;
  // Excluded folders (DESIGN: never touched) that a plain comparison would have deleted or
  // replaced: one created since the snapshot (archive/ once archiving is switched on), or one
  // whose type changed (mail/ a symlink to another volume then, a directory now, or the
  // reverse). Left as they are.
  std::vector<std::string> kept_excluded;
  uint64_t bytes_to_write = 0;
  // Files whose content the plan rewrites, as the target holds them now (the safety
  // snapshot's entries, with their blobs), by path: what the old and the new content share is
  // copied from the file there instead of read from the repository. Not journaled; empty for a
  // plan made without a safety snapshot.
  std::unordered_map<std::string, TreeEntry> now;
  DiffStats diff;  // what planning compared and hashed
  bool empty() const { return steps.empty(); }
};

struct RollbackProgress {
  std::atomic<uint64_t> steps_done{0}, steps_total{0}, bytes_written{0};
  std::atomic<int> phase{0};  // index into RollbackPhaseName
};

// Calls come from the rollback's thread.
class RollbackObserver {
 public:
  virtual ~RollbackObserver() = default;
  // "checking the snapshot", "running the stop command", "safety snapshot", "planning", …
  virtual void OnPhase(const std::string& phase) {}
  virtual void OnNote(const std::string& note) {}
};

struct RollbackOptions {
  std::string target;           // empty: the snapshot's `source`
  bool files = true;            // false: --databases-only
  bool dry_run = false;         // plan only: no stop command, no safety snapshot, no change
  bool safety_snapshot = true;
  // Roll back even while other processes run from the target or have files in it open (not
  // the excluded folders): without it such a rollback is refused, after the stop command.
  bool allow_running = false;
  std::string stop_cmd;         // run with /bin/sh -c before any change; empty: none
  // After the stop command, how long processes and connections still using the installation
  // are waited for (checked every 250 ms) before the rollback refuses.
  int stop_grace_ms = 10000;
  std::string start_cmd;        // run after a verified rollback (also after a refusal once the
                                // stop command ran, to leave services as they were)
  // Called with a plan computed before anything is stopped or changed; false aborts (Aborted).
  std::function<bool(const RollbackPlan&)> confirm;
  // The databases step (after the files, before verify); nullptr: no databases step. Returns
  // the objects the servers refused to create (everything else restored): they count as
  // differences that remain, the step is not repeated by a resume.
  std::function<Result<std::vector<std::string>>(const Snapshot&)> restore_databases;
  // The servers whose databases the safety snapshot dumps too (so that the databases step can
  // be undone as well); no servers: the safety snapshot holds the files only.
  DatabaseBackupOptions safety_databases;
  // Whether the databases of the snapshot are free to be dropped (no other connection uses
  // them, no other session holds a lock on one of their tables: CheckNoOtherSessions), asked
  // with the check of processes, after the stop command; not asked with allow_running.
  // nullptr: not asked.
  std::function<Status(const Snapshot&)> check_databases_idle;
  int checkpoint_ms = 500;      // how often applied progress is made durable in the journal
  int step_delay_us = 0;        // tests only: a pause after each applied step, so that a kill
                                // lands while the plan is being applied
  // Tests only: run after the plan is made, before its data is read (a file changed there).
  std::function<void()> before_data_check;
};

struct RollbackResult {
  std::string snapshot_id;
  std::string target;
  std::string journal_id;           // empty for a dry run
  std::string safety_snapshot_id;   // empty when none was taken
  bool dry_run = false, resumed = false;
  std::string refused;              // dry run: why the rollback would be refused (empty: it would run)
  RollbackPlan plan;                // resumed: the journal's plan
  uint64_t steps_applied = 0;       // resumed: the steps run by this process
  // Files of `write` steps written (unnamed) while their data was read and checked, before the
  // apply: the apply only named them. The others were written by the apply.
  uint64_t files_written_before_apply = 0;
  // Of those files' bytes, what was copied from the file the target held (the same blobs, found
  // by the safety snapshot) rather than read from the repository.
  uint64_t bytes_copied_from_target = 0;
  bool databases_restored = false;
  // Per server label, the databases the databases step created that the safety snapshot does
  // not hold (the upgrade dropped them): a rollback to the safety snapshot leaves them.
  std::vector<std::pair<std::string, std::vector<std::string>>> databases_created;
  bool start_cmd_run = false;
  // The start command's failure after a complete and verified rollback (not an error: the
  // rollback is done; the services are still stopped). Empty when it ran or there was none.
  std::string start_cmd_failed;
  // Verify: the differences that remain between the target and the snapshot (must be empty).
  std::vector<Change> remaining;
  std::vector<std::string> databases_failed;  // objects the servers refused to create
  DiffStats verify;
  std::vector<std::string> notes;
  double duration_s = 0;
  bool verified() const { return remaining.empty() && databases_failed.empty(); }
};

// Rolls `options.target` back to `snap`. Statuses: Corruption when the snapshot is not whole
// (nothing touched); Aborted when the stop command fails, the plan is not confirmed, or other
// processes still run from the target or hold its files (CheckNothingRuns, unless
// allow_running);
// FailedPrecondition-like InvalidArgument when an interrupted rollback is pending (resume it);
// Locked; an I/O error while applying leaves the journal for ResumeRollback. Differences left
// after the apply are not an error: see RollbackResult::remaining; nor is a start command that
// fails after a complete, verified rollback: RollbackResult::start_cmd_failed.
Result<RollbackResult> Rollback(Repository* repo, const SnapshotRef& snap, const RollbackOptions& options,
                                RollbackObserver* observer, RollbackProgress* progress);

// Finishes the interrupted rollback journaled in the repository (the one for `snapshot_spec`
// when given and several are pending). Runs the stop command again (the options', else the
// journal's), applies the remaining steps (each is idempotent), then databases, verify, start
// command as Rollback does. NotFound when no rollback is pending.
Result<RollbackResult> ResumeRollback(Repository* repo, const std::string& snapshot_spec,
                                      const RollbackOptions& options, RollbackObserver* observer,
                                      RollbackProgress* progress);

// An interrupted rollback whose journal is in the repository (what --resume finishes). `snapshot_id`
// and the rest are empty when the journal could not be read (damaged).
struct PendingRollback {
  std::string journal_id;
  std::string snapshot_id;
  std::string safety_snapshot_id;
  std::string target;
  bool files = false;       // it had files to roll back (`target`)
  bool databases = false;   // it had a databases step
  uint64_t steps_done = 0;  // the last checkpoint: at least these were applied
  uint64_t steps_total = 0;
  std::string damaged;  // why the journal could not be read, if it could not
};
// What AbandonRollback gave up.
using AbandonedRollback = PendingRollback;

// Gives up an interrupted rollback that `ResumeRollback` cannot finish (a step that fails every
// time, a journal written by another version or damaged): removes its journal and checkpoint,
// under the exclusive lock. Nothing else is touched: the target and the databases stay as the
// interrupted rollback left them, and a new Rollback then plans from what is there now.
// `snapshot_spec` picks one when several are pending: a journal id, or the snapshot it rolls
// back to (a damaged journal names no snapshot: its id, or being the only one, picks it).
// NotFound when none is pending.
Result<AbandonedRollback> AbandonRollback(Repository* repo, const std::string& snapshot_spec);

// The interrupted rollbacks pending in the repository. A backup of such a target, or of the
// databases, would save a state part way between two.
Result<std::vector<PendingRollback>> ListPendingRollbacks(Repository* repo);
// InvalidArgument naming the journal when an interrupted rollback of `source` (a directory;
// empty: none) or, with `databases`, of the databases is pending: a backup of them now would
// save a state part way between two. OK otherwise, or when the journals cannot be listed (the
// backup then goes ahead: the check is a guard, not a gate on the repository's health).
Status CheckNoPendingRollback(Repository* repo, const std::string& source, bool databases);

// Planning alone (what --dry-run shows), on an open target directory. `trees` (optional) keeps
// the snapshot's decoded trees for the next phases.
Result<RollbackPlan> PlanRollback(const Repository& repo, const Snapshot& snap, int target_fd,
                                  TreeCache* trees = nullptr);
// The same plan from `now`, a snapshot of the target taken just before (the safety snapshot,
// whose parent is `snap`): what the upgrade left alone has the same tree ids in both and is
// skipped without being visited, so the target is not walked a second time. `target_fd`: the
// target, open; looked into only for the excluded entries of a directory the snapshot lacks
// (the trees do not record excluded files).
Result<RollbackPlan> PlanRollbackFrom(const Repository& repo, const Snapshot& snap, const Snapshot& now,
                                      int target_fd, TreeCache* trees = nullptr);

// The check of step 1: Corruption naming the first missing or damaged things and the paths
// that need them. `trees` (optional) keeps the trees it loads.
Status CheckSnapshotWhole(Repository* repo, const Snapshot& snap, TreeCache* trees = nullptr);

// Journal codec (docs/format.md §10), exposed for tests.
struct RollbackJournal {
  std::string snapshot_id;
  std::string target;
  std::string safety_snapshot_id;
  bool files = true, databases = false;
  std::string stop_cmd, start_cmd;
  std::vector<RollbackStep> steps;
};
std::string EncodeRollbackJournal(const RollbackJournal& j);
Result<RollbackJournal> DecodeRollbackJournal(std::string_view text);

}  // namespace rw
