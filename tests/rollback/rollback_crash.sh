#!/bin/bash
# Crash campaign for rollback: a rollback killed with SIGKILL at any moment, then finished with
# `rewind rollback --resume` (or, when it died before writing its journal, simply run again),
# ends in the same state as an uninterrupted rollback: the mtree outside the excluded folders
# equals the one before the upgrade, the excluded folders are as the upgrade left them, no
# temporary file is left, `diff --live` is empty, and the repository verifies.
# Tree: rewind-demo-gen --scale 0.25 plus a heavy upgrade (simulate_upgrade, every file under html/
# rewritten, scripts/ deleted, 300 new files), copied afresh (cp -a) for every run, so each
# rollback plans by hashing (inodes differ) and applies about a thousand steps. The apply is
# slowed down (REWIND_TEST_ROLLBACK_STEP_DELAY_US, default 1500 µs per step) so that most kills
# land inside it on a small tree, with several progress checkpoints (every 500 ms) before them.
# A clean rollback is timed first (D); run i is killed after a seeded delay drawn inside the
# i-th of RUNS equal slices of [0, 0.85 D] (stratified: the kills land all over the rollback:
# checking, safety snapshot, planning, applying). One run in three takes a safety
# snapshot, the others use --no-safety-snapshot. The killed process's lock is stale and is
# removed with `rewind unlock` (stale locks are never broken silently).
# usage: rollback_crash.sh REWIND DEMO_GEN
#   RUNS=N (default 24), SEED=S (default 1), ONLY=I runs run I only, KEEP=1 keeps the work dir.
# The work directory goes to /dev/shm when it is a tmpfs with user xattrs (the runs copy and
# delete the tree 50 times; on a busy disk that alone takes minutes): ROLLBACK_CRASH_TMPDIR
# overrides. syncfs is then a no-op, which a SIGKILL (unlike a power cut) does not need anyway.
if [[ -z ${ROLLBACK_CRASH_TMPDIR:-} ]] && [[ -d /dev/shm && -w /dev/shm ]] &&
  x=$(mktemp /dev/shm/rewind-xattr.XXXXXX 2>/dev/null); then
  setfattr -n user.t -v 1 "$x" 2>/dev/null && ROLLBACK_CRASH_TMPDIR=/dev/shm
  rm -f "$x"
fi
[[ -n ${ROLLBACK_CRASH_TMPDIR:-} ]] && export TMPDIR=$ROLLBACK_CRASH_TMPDIR
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/lib_rollback.sh"
need_root
need_tools bsdtar jq python3 setfattr
RUNS=${RUNS:-24}
SEED=${SEED:-1}
export REWIND_TEST_ROLLBACK_STEP_DELAY_US=${REWIND_TEST_ROLLBACK_STEP_DELAY_US:-1500}

SRC=$WORK/opt/icewarp
UPG=$WORK/upgraded
T=$WORK/target
REPO=$WORK/repo
now_ms() { echo $(($(date +%s%N) / 1000000)); }

step "demo installation (scale 0.25), backup --tag pre, heavy upgrade"
demo_backup_upgrade "$SRC" "$REPO" 3
rm -r "$SRC/scripts"
mkdir -p "$SRC/html/epos/bundle"
python3 - "$SRC/html/epos/bundle" <<'PY'
import os, random, sys
d = sys.argv[1]
r = random.Random(7)
for i in range(300):
    sub = os.path.join(d, "m%02d" % (i % 30))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%04d.js" % i), "wb") as f:
        f.write(r.randbytes(r.randrange(100, 20000)))
PY
cp -a "$SRC" "$UPG"
mtree_excluded "$UPG" "$WORK/upgraded-excluded.mtree"
note "$(find "$UPG" -type f | wc -l) files in the upgraded tree, $(du -sh "$UPG" | cut -f1)"

step "time a clean rollback (the shorter of two)"
D=0
for i in 1 2; do
  reset_target
  t0=$(now_ms)
  expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --target "$T" --yes --no-safety-snapshot --json
  t=$(($(now_ms) - t0))
  ((D == 0 || t < D)) && D=$t
  note "clean rollback: $t ms, $(json_get .plan.steps) steps, verified $(json_get .verified)"
done
check_end "clean rollback"
SPAN=$((D * 85 / 100))
note "kill delays spread over 0..$SPAN ms"

FINISHED=0 RESUMED=0 RERUN=0 MIDAPPLY=0
declare -a SUMMARY=()
run() {
  local i=$1 delay_ms delay pid rc safety=--no-safety-snapshot how progress="" steps=""
  RANDOM=$((SEED + i))
  delay_ms=$(((i * 1000 + RANDOM % 1000) * SPAN / (RUNS * 1000)))
  delay=$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))
  ((i % 3 == 0)) && safety=""
  reset_target
  "$REWIND" rollback --repo "$REPO" pre --target "$T" --yes $safety >"$WORK/bg.out" 2>"$WORK/bg.err" &
  pid=$!
  BG_PIDS=$pid
  sleep "$delay"
  kill -KILL "$pid" 2>/dev/null || :
  if { wait "$pid"; } 2>/dev/null; then rc=0; else rc=$?; fi
  BG_PIDS=""
  if [[ $rc == 0 ]]; then
    FINISHED=$((FINISHED + 1))
    how="finished before the kill"
  elif [[ $rc != 137 ]]; then
    cat "$WORK/bg.err" >&2
    fail "run $i: rollback exited $rc (not killed)"
  else
    expect_rc 0 "$REWIND" unlock --repo "$REPO"
    local journal
    journal=$(ls "$REPO"/rollback/*.journal 2>/dev/null | head -n 1 || :)
    if [[ -n $journal ]]; then
      steps=$(awk '/^steps /{print $2}' "$journal")
      progress=$(cat "${journal%.journal}.progress" 2>/dev/null || echo 0)
      local state
      state=$(apply_state)
      if ((i % 5 == 1)); then  # a dry run now says that the pending journal comes first
        expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --target "$T" --dry-run
        expect_err_contains "would be refused: an interrupted rollback is pending"
      fi
      expect_rc 0 "$REWIND" rollback --repo "$REPO" --resume --yes --json
      [[ $(json_get .verified) == true ]] || check_failed "run $i: resume did not verify"
      RESUMED=$((RESUMED + 1))
      local left
      left=$(json_get .steps_applied)
      [[ $state == mid-apply ]] && MIDAPPLY=$((MIDAPPLY + 1))
      how="resumed ($state): checkpoint $progress/$steps, $left steps left"
    else
      expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --target "$T" --yes --no-safety-snapshot --json
      [[ $(json_get .verified) == true ]] || check_failed "run $i: rerun did not verify"
      RERUN=$((RERUN + 1))
      how="no journal yet: run again"
    fi
  fi
  check_end "run $i"
  SUMMARY+=("run $i: kill at ${delay}s${safety:+ (no safety snapshot)}: $how")
  note "run $i: kill at ${delay}s: $how"
}

step "$RUNS seeded kills, each followed by --resume"
for ((i = 0; i < RUNS; i++)); do
  [[ -n ${ONLY:-} && $ONLY != "$i" ]] && continue
  run "$i"
done

step "summary"
printf '   %s\n' "${SUMMARY[@]}"
note "finished before the kill: $FINISHED, resumed from a journal: $RESUMED (mid-apply: $MIDAPPLY), run again: $RERUN"
expect_rc 0 "$REWIND" verify --repo "$REPO"
expect_rc 0 "$REWIND" diff --repo "$REPO" pre --live "$T"
[[ ! -s $WORK/last.out ]] || check_failed "diff --live after the campaign is not empty"
if [[ -z ${ONLY:-} ]]; then
  ((RESUMED + RERUN >= 20)) || check_failed "only $((RESUMED + RERUN)) kills landed before the end (want >= 20)"
  ((MIDAPPLY >= 10)) || check_failed "only $MIDAPPLY kills landed while the plan was being applied (want >= 10)"
fi
