#!/bin/bash
# Interrupted, not killed: a rollback stopped by SIGINT (Ctrl-C) in the middle of its apply, and
# a backup stopped by SIGTERM (`systemctl stop`, `timeout`) and by SIGHUP (a closed SSH
# session), each end with the signal's exit status and leave no lock behind: `rollback
# --resume` finishes the same plan without `rewind unlock`, the next backup runs, the
# repository verifies. A signal the process was started with ignored (nohup) stays ignored.
# usage: rollback_interrupt.sh REWIND DEMO_GEN
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/lib_rollback.sh"
need_root
need_tools bsdtar jq python3
export REWIND_TEST_ROLLBACK_STEP_DELAY_US=3000

SRC=$WORK/opt/icewarp
REPO=$WORK/repo
# Background commands of a non-interactive shell start with SIGINT ignored: start them with the
# default action, as from a terminal.
with_default_signals() {
  exec python3 -c 'import os, signal, sys
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP): signal.signal(s, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "$@"
}
# interrupt_rollback WHAT: `rollback pre` in the background, SIGINT once its journal exists
# (the apply has begun), and it must end by that signal (130); its stderr in $WORK/bg.err.
interrupt_rollback() {
  with_default_signals "$REWIND" rollback --repo "$REPO" pre --yes --no-safety-snapshot >"$WORK/bg.out" 2>"$WORK/bg.err" &
  pid=$!
  BG_PIDS=$pid
  for ((i = 0; i < 600; i++)); do
    compgen -G "$REPO/rollback/*.journal" >/dev/null && break
    sleep 0.05
  done
  compgen -G "$REPO/rollback/*.journal" >/dev/null || fail "$1: no journal appeared within 30 s"
  sleep 0.3
  kill -INT "$pid"
  if wait "$pid"; then rc=0; else rc=$?; fi
  BG_PIDS=""
  [[ $rc == 130 ]] || { cat "$WORK/bg.err" >&2; fail "$1 exited $rc, not 130 (SIGINT)"; }
}
# upgrade_again: the simulated upgrade, and every file under html/ rewritten (a plan long
# enough to interrupt).
upgrade_again() {
  simulate_upgrade "$SRC"
  find "$SRC/html" -type f -print0 | xargs -0 -n 200 sh -c 'for f; do echo "// EPOS" >>"$f"; done' sh
}
no_locks() {
  local left
  left=$(ls -A "$REPO/locks" 2>/dev/null || :)
  [[ -z $left ]] || check_failed "$1: a lock file is left: $left"
}

step "demo installation, backup --tag pre, an upgrade that rewrites every file under html/"
demo_backup_upgrade "$SRC" "$REPO" 4

step "rollback interrupted by SIGINT while it applies its plan"
interrupt_rollback "the interrupted rollback"
grep -qF "the repository lock was released" "$WORK/bg.err" || check_failed "no message about the released lock"
grep -qF 'run `rewind rollback --resume`' "$WORK/bg.err" || check_failed "the interrupted rollback does not say to resume it"
no_locks "after SIGINT"
compgen -G "$REPO/rollback/*.journal" >/dev/null || fail "the journal is gone: nothing to resume"
# A backup of the target now would save a tree part way between two states: refused.
n=$(snapshot_count "$REPO")
expect_rc 2 "$REWIND" backup --repo "$REPO" --source "$SRC" --tag midway
expect_err_contains "an interrupted rollback of $SRC is pending"
expect_err_contains "nothing was saved"
[[ $(snapshot_count "$REPO") == "$n" ]] || check_failed "a backup of the half-rolled-back target was saved"
expect_rc 0 "$REWIND" rollback --repo "$REPO" --resume --yes --json
[[ $(json_get .verified) == true ]] || check_failed "the resumed rollback did not verify"
mtree_kept "$SRC" "$WORK/after-kept.mtree"
compare_files "mtree after the resumed rollback vs before the upgrade" "$WORK/pre-kept.mtree" "$WORK/after-kept.mtree"
no_locks "after the resume"

step "a second interrupted rollback given up with --abandon, then a new rollback from there"
upgrade_again
interrupt_rollback "the second interrupted rollback"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --yes --no-safety-snapshot
expect_err_contains "rollback --abandon"
mtree "$SRC" >"$WORK/abandoned-before.mtree"
expect_rc 2 "$REWIND" rollback --repo "$REPO" --abandon --resume
expect_rc 0 "$REWIND" rollback --repo "$REPO" --abandon --json
[[ $(json_get .snapshot_id) == $(jq -r '.[] | select(.tags | index("pre")) | .id' <("$REWIND" snapshots --repo "$REPO" --json)) ]] ||
  check_failed "--abandon names another snapshot: $(json_get .snapshot_id)"
compgen -G "$REPO/rollback/*" >/dev/null && check_failed "--abandon left $(ls "$REPO/rollback")"
mtree "$SRC" >"$WORK/abandoned-after.mtree"
compare_files "mtree before vs after --abandon (it touches nothing)" "$WORK/abandoned-before.mtree" "$WORK/abandoned-after.mtree"
expect_rc 2 "$REWIND" rollback --repo "$REPO" --abandon
expect_err_contains "no interrupted rollback is pending"
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --yes --no-safety-snapshot --json
[[ $(json_get .verified) == true ]] || check_failed "the rollback after --abandon did not verify"
mtree_kept "$SRC" "$WORK/after-abandon-kept.mtree"
compare_files "mtree after --abandon and a new rollback vs before the upgrade" "$WORK/pre-kept.mtree" \
  "$WORK/after-abandon-kept.mtree"
no_locks "after --abandon"

step "a file changed between the interruption and --resume: differences remain (exit 1), and it says what to do"
upgrade_again
interrupt_rollback "the third interrupted rollback"
# A file the plan does not touch (the upgrade left it alone), edited by hand meanwhile.
edited=$(find "$SRC/lib" -maxdepth 1 -type f | LC_ALL=C sort | tail -n 1)
echo "edited during the interruption" >>"$edited"
expect_rc 1 "$REWIND" rollback --repo "$REPO" --resume --yes
expect_err_contains "differences remain between $SRC and the snapshot"
expect_err_contains "find what changed them (something still running?), then run \`rewind rollback "
grep -qF "${edited#"$SRC"/}" "$WORK/last.out" || check_failed "the remaining difference does not name $edited"
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --yes --no-safety-snapshot --json
[[ $(json_get .verified) == true ]] || check_failed "the rollback after the differences did not verify"
no_locks "after the differences"

step "a reader that stops reading (SIGPIPE) leaves no lock"
# `restore --archive - | head`: the write after head exits raises SIGPIPE, which must release
# the shared lock as the other signals do (a stale one would block the next rollback).
python3 -c 'import signal, os, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' bash -c '"$0" restore --repo "$1" pre --archive - 2>"$2" | head -c 100 >/dev/null; echo "${PIPESTATUS[0]}" >"$3"' \
  "$REWIND" "$REPO" "$WORK/pipe.err" "$WORK/pipe.rc"
[[ $(cat "$WORK/pipe.rc") == 141 ]] || check_failed "restore --archive - | head exited $(cat "$WORK/pipe.rc"), not 141 (SIGPIPE)"
grep -qF "its output was closed" "$WORK/pipe.err" || check_failed "no message about the closed output: $(cat "$WORK/pipe.err")"
no_locks "after SIGPIPE"
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --dry-run

step "backups interrupted by SIGTERM and SIGHUP"
head -c 300M /dev/urandom >"$SRC/big.bin"  # several seconds of work
for sig in TERM HUP; do
  with_default_signals "$REWIND" backup --repo "$REPO" --source "$SRC" --profile icewarp >"$WORK/bg.out" 2>"$WORK/bg.err" &
  pid=$!
  BG_PIDS=$pid
  for ((i = 0; i < 200; i++)); do
    [[ -n $(ls -A "$REPO/locks" 2>/dev/null) ]] && break
    sleep 0.02
  done
  sleep 0.3
  kill -"$sig" "$pid"
  if wait "$pid"; then rc=0; else rc=$?; fi
  BG_PIDS=""
  want=$((128 + $(kill -l "$sig")))
  [[ $rc == "$want" ]] || { cat "$WORK/bg.err" >&2; fail "backup interrupted by SIG$sig exited $rc, not $want"; }
  no_locks "after SIG$sig"
done
n=$(snapshot_count "$REPO")
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --profile icewarp
[[ $(snapshot_count "$REPO") == $((n + 1)) ]] || check_failed "the backup after the interruptions saved no snapshot"
expect_rc 0 "$REWIND" verify --repo "$REPO" --read-data

step "a signal ignored at start (nohup) stays ignored"
nohup "$REWIND" backup --repo "$REPO" --source "$SRC" --profile icewarp --force >"$WORK/bg.out" 2>"$WORK/bg.err" &
pid=$!
BG_PIDS=$pid
sleep 0.3
kill -HUP "$pid" 2>/dev/null || :
if wait "$pid"; then rc=0; else rc=$?; fi
BG_PIDS=""
[[ $rc == 0 ]] || { cat "$WORK/bg.err" >&2; check_failed "a backup under nohup exited $rc after SIGHUP"; }
no_locks "after nohup"
