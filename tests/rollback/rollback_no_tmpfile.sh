#!/bin/bash
# Rollback and restore on a file system without O_TMPFILE (NFS, FUSE, vfat): no file is written
# before the apply; the apply writes each file under a temporary name (".rewind-" + 16 hex)
# beside it and renames it into place; a SIGKILL during a write leaves such a temporary, which
# `rollback --resume` removes (one is planted after each kill, where a killed write leaves it).
# No file system the tests can mount lacks O_TMPFILE, so the fault is injected:
# no_tmpfile_preload.so (LD_PRELOAD) fails every open with O_TMPFILE with EOPNOTSUPP (or, in
# one step each, EISDIR and EINVAL), and logs that it did (the test checks the fallback was reached).
# End state each time: the mtree outside the excluded folders equals the one before the
# upgrade, the excluded folders are as the upgrade left them, no temporary file, no journal.
# usage: rollback_no_tmpfile.sh REWIND DEMO_GEN NO_TMPFILE_PRELOAD
#   KILLS=N (default 8) SIGKILLs during the apply, SEED=S (default 1), KEEP=1 keeps the work dir.
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/lib_rollback.sh"
PRELOAD=$(realpath "${3:?usage: $0 REWIND DEMO_GEN NO_TMPFILE_PRELOAD}")
need_root
need_tools bsdtar jq python3
KILLS=${KILLS:-8}
SEED=${SEED:-1}

SRC=$WORK/opt/icewarp
UPG=$WORK/upgraded
T=$WORK/target
REPO=$WORK/repo
LOG=$WORK/no-tmpfile.log
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# no_tmpfile CMD...: CMD with every O_TMPFILE open refused.
no_tmpfile() { env LD_PRELOAD="$PRELOAD" REWIND_NO_TMPFILE_LOG="$LOG" "$@"; }

step "demo installation (scale 0.25), backup --tag pre, upgrade"
demo_backup_upgrade "$SRC" "$REPO" 11
cp -a "$SRC" "$UPG"
mtree_excluded "$UPG" "$WORK/upgraded-excluded.mtree"
mtree "$UPG" >"$WORK/upgraded.mtree"

step "control: with O_TMPFILE, the files of the plan are written before the apply"
reset_target
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --target "$T" --yes --no-safety-snapshot --json
W=$(json_get .files_written_before_apply)
note "files written before the apply: $W"
((W > 0)) || check_failed "control: no file was written before the apply (the check below would prove nothing)"
check_end "control"

step "without O_TMPFILE: the apply writes every file under a temporary name"
reset_target
rm -f "$LOG"
expect_rc 0 no_tmpfile "$REWIND" rollback --repo "$REPO" pre --target "$T" --yes --json
[[ -s $LOG ]] || check_failed "no open with O_TMPFILE was refused: the fallback was not exercised"
W=$(json_get .files_written_before_apply)
[[ $W == 0 ]] || check_failed "$W files were written before the apply without O_TMPFILE"
[[ $(json_get .verified) == true ]] || check_failed "the rollback did not verify"
SAFETY=$(json_get .safety_snapshot_id)
note "rewrote $(json_get ".plan.rewrite | length") files, safety snapshot ${SAFETY:0:12}"
check_end "without O_TMPFILE"

step "without O_TMPFILE: rolling back to the safety snapshot gives the upgraded tree back"
expect_rc 0 no_tmpfile "$REWIND" rollback --repo "$REPO" "$SAFETY" --target "$T" --yes --no-safety-snapshot
mtree "$T" >"$WORK/t.mtree"
compare_files "undo: mtree vs the upgraded tree" "$WORK/upgraded.mtree" "$WORK/t.mtree"
tmp=$(find "$T" -name '.rewind-*' | head -n 3)
[[ -z $tmp ]] || check_failed "undo: temporary files left: $tmp"

# A kernel before 3.11 ignores O_TMPFILE's own bit and fails with EISDIR; some file systems
# answer EINVAL: both mean "not supported here", as EOPNOTSUPP does, not "refuse the rollback".
# (A restore falls back to a temporary name on any error of O_TMPFILE: no errno to tell apart.)
for err in EISDIR EINVAL; do
  step "O_TMPFILE refused with $err: the rollback falls back the same way"
  reset_target
  rm -f "$LOG"
  expect_rc 0 no_tmpfile env REWIND_NO_TMPFILE_ERRNO=$err \
    "$REWIND" rollback --repo "$REPO" pre --target "$T" --yes --no-safety-snapshot --json
  want=$(python3 -c "import errno; print(errno.$err)")
  grep -q "refused O_TMPFILE with errno $want\$" "$LOG" ||
    check_failed "$err: the preload did not refuse O_TMPFILE with errno $want: $(cat "$LOG" 2>/dev/null)"
  W=$(json_get .files_written_before_apply)
  [[ $W == 0 ]] || check_failed "$err: $W files were written before the apply"
  [[ $(json_get .verified) == true ]] || check_failed "$err: the rollback did not verify"
  check_end "O_TMPFILE refused with $err"
done

# The first file the rollback writes on a file system tells whether it takes O_TMPFILE; the
# others are created as their data comes, in parallel. One that then cannot be created (a disk
# quota reached part way) refuses the rollback before anything of the target changed.
step "O_TMPFILE works for the first file, then fails with EDQUOT: refused, nothing changed"
reset_target
rm -f "$LOG"
expect_rc 2 no_tmpfile env REWIND_NO_TMPFILE_ERRNO=EDQUOT REWIND_NO_TMPFILE_AFTER=1 \
  "$REWIND" rollback --repo "$REPO" pre --target "$T" --yes --no-safety-snapshot
want=$(python3 -c "import errno; print(errno.EDQUOT)")
grep -q "refused O_TMPFILE with errno $want\$" "$LOG" ||
  check_failed "EDQUOT: the preload did not refuse O_TMPFILE: $(cat "$LOG" 2>/dev/null)"
expect_err_contains "Disk quota exceeded: nothing of the target was changed"
expect_err_contains "creating a file in "
mtree "$T" >"$WORK/t.mtree"
compare_files "EDQUOT: mtree vs the upgraded tree (nothing changed)" "$WORK/upgraded.mtree" "$WORK/t.mtree"
[[ -z $(ls -A "$REPO/rollback" 2>/dev/null) ]] || check_failed "EDQUOT: a journal was left: $(ls "$REPO/rollback")"
tmp=$(find "$T" -name '.rewind-*' | head -n 3)
[[ -z $tmp ]] || check_failed "EDQUOT: temporary files left: $tmp"

step "without O_TMPFILE: restore into an empty directory"
rm -f "$LOG"
expect_rc 0 no_tmpfile "$REWIND" restore --repo "$REPO" pre --target "$WORK/restored"
[[ -s $LOG ]] || check_failed "restore: no open with O_TMPFILE was refused: the fallback was not exercised"
mtree_kept "$WORK/restored" "$WORK/restored-kept.mtree"
compare_files "restore: mtree vs before the upgrade" "$WORK/pre-kept.mtree" "$WORK/restored-kept.mtree"
tmp=$(find "$WORK/restored" -name '.rewind-*' | head -n 3)
[[ -z $tmp ]] || check_failed "restore: temporary files left: $tmp"
rm -rf "$WORK/restored"

# The apply is slowed down (as in rollback_crash.sh) so that the kills land inside it.
export REWIND_TEST_ROLLBACK_STEP_DELAY_US=${REWIND_TEST_ROLLBACK_STEP_DELAY_US:-1500}
step "$KILLS SIGKILLs during the apply without O_TMPFILE, each followed by --resume"
D=0
for run in 1 2; do  # the shorter of two
  reset_target
  t0=$(now_ms)
  expect_rc 0 no_tmpfile "$REWIND" rollback --repo "$REPO" pre --target "$T" --yes --no-safety-snapshot
  t=$(($(now_ms) - t0))
  ((D == 0 || t < D)) && D=$t
  check_end "slowed rollback $run"
done
note "a slowed rollback takes $D ms; kills between 40 % and 90 % of it"
# plant_dir JOURNAL PROGRESS: a directory where the resume must look for temporaries: that of
# the step before the checkpoint (a kill may have left one there), or at checkpoint 0 that of
# the first write. A kill leaves a temporary only when it lands inside a write (well under a
# millisecond): one is planted there too, so that the clean-up is checked after every kill.
plant_dir() {
  python3 - "$1" "$2" <<'PY'
import sys
lines = open(sys.argv[1], encoding="utf-8", errors="surrogateescape").read().split("\n")
k = next(i for i, l in enumerate(lines) if l.startswith("steps "))
steps = lines[k + 1:k + 1 + int(lines[k].split()[1])]
p = int(sys.argv[2])
def path(step):
    h = step.split(" ")[1]
    return "" if h == "-" else bytes.fromhex(h).decode("utf-8", "surrogateescape")
if p > 0:
    target = path(steps[p - 1])
else:
    target = next(path(s) for s in steps if s.split(" ")[0] in ("write", "symlink", "link", "node"))
print(target.rsplit("/", 1)[0] if "/" in target else "")
PY
}
MIDAPPLY=0 LEFT=0 PLANTED=0
for ((i = 0; i < KILLS; i++)); do
  RANDOM=$((SEED + i))
  delay_ms=$((D * 40 / 100 + (i * 1000 + RANDOM % 1000) * (D * 50 / 100) / (KILLS * 1000)))
  reset_target
  # env execs rewind: $! is its pid (a shell function would run in a subshell of its own)
  env LD_PRELOAD="$PRELOAD" REWIND_NO_TMPFILE_LOG="$LOG" \
    "$REWIND" rollback --repo "$REPO" pre --target "$T" --yes --no-safety-snapshot >"$WORK/bg.out" 2>"$WORK/bg.err" &
  pid=$!
  BG_PIDS=$pid
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  kill -KILL "$pid" 2>/dev/null || :
  if { wait "$pid"; } 2>/dev/null; then rc=0; else rc=$?; fi
  BG_PIDS=""
  how="finished before the kill"
  if [[ $rc == 137 ]]; then
    expect_rc 0 "$REWIND" unlock --repo "$REPO"
    journal=$(ls "$REPO"/rollback/*.journal 2>/dev/null | head -n 1 || :)
    if [[ -n $journal ]]; then
      steps=$(awk '/^steps /{print $2}' "$journal")
      progress=$(cat "${journal%.journal}.progress" 2>/dev/null || echo 0)
      left=$(find "$T" -name '.rewind-*' | wc -l)
      LEFT=$((LEFT + left))
      state=$(apply_state)
      dir=$T/$(plant_dir "$journal" "$progress")
      if [[ -d $dir && ! -L $dir ]]; then
        echo "left by a killed write" >"$dir/.rewind-0123456789abcdef"
        PLANTED=$((PLANTED + 1))
      fi
      [[ $state == mid-apply ]] && MIDAPPLY=$((MIDAPPLY + 1))
      expect_rc 0 no_tmpfile "$REWIND" rollback --repo "$REPO" --resume --yes --json
      [[ $(json_get .verified) == true ]] || check_failed "kill $i: the resume did not verify"
      how="resumed ($state): checkpoint $progress/$steps, $left temporaries left by the kill"
    else
      expect_rc 0 no_tmpfile "$REWIND" rollback --repo "$REPO" pre --target "$T" --yes --no-safety-snapshot
      how="no journal yet: run again"
    fi
  elif [[ $rc != 0 ]]; then
    cat "$WORK/bg.err" >&2
    fail "kill $i: the rollback exited $rc (not killed)"
  fi
  check_end "kill $i"
  note "kill $i at ${delay_ms} ms: $how"
done
note "killed mid-apply: $MIDAPPLY of $KILLS; temporaries the kills left: $LEFT, planted: $PLANTED (all removed by the resumes)"
WANT=$((KILLS < 3 ? KILLS : 3))
((MIDAPPLY >= WANT)) ||
  check_failed "only $MIDAPPLY of $KILLS kills landed while the plan was being applied (want >= $WANT)"
((PLANTED >= WANT)) || check_failed "only $PLANTED temporaries were planted for the resumes to remove (want >= $WANT)"
expect_rc 0 "$REWIND" verify --repo "$REPO"
