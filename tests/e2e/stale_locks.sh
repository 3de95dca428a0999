#!/bin/bash
# Stale locks left by real processes killed with SIGKILL (docs/format.md §8): every command
# names the lock as stale with what to do, `rewind unlock` removes it and only it. The holder
# is a rollback whose stop command kills it (`--stop-cmd 'kill -KILL $PPID'`): it dies holding
# its exclusive lock, before it has changed anything.
#   1. killed and reaped: the usual case;
#   2. killed and never reaped (its parent execs `sleep`, which never waits): a zombie, which
#      `kill -0` still finds;
#   3. killed and reaped, then its pid given to another process (as after a power cut and a
#      reboot): root only, through /proc/sys/kernel/ns_last_pid.
# usage: stale_locks.sh REWIND DEMO_GEN
source "$(dirname "$0")/lib.sh"
need_tools jq

SRC=$WORK/src
REPO=$WORK/repo
mkdir -p "$SRC/config"
for i in 1 2 3; do printf 'setting %d\n' "$i" >"$SRC/config/f$i.cfg"; done
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --tag pre
printf 'new\n' >"$SRC/config/new.cfg"  # something for the rollback to do

# The pid in the only lock file (fails when there is not exactly one).
lock_pid() {
  local files=("$REPO"/locks/*)
  [[ ${#files[@]} == 1 && -f ${files[0]} ]] || fail "expected one lock file, found: $(ls -A "$REPO/locks")"
  jq -r .pid "${files[0]}"
}

# killed_rollback: a rollback killed with SIGKILL while it holds its lock, reaped by this shell.
killed_rollback() {
  { capture "$REWIND" rollback --repo "$REPO" pre --yes --no-safety-snapshot --stop-cmd 'kill -KILL $PPID'; } 2>/dev/null  # (no "Killed" from bash)
  [[ $RC == 137 ]] || { _show_last; fail "the rollback was not killed by its stop command (exit $RC)"; }
  [[ -e $SRC/config/new.cfg ]] || fail "the killed rollback changed the target"
}

# expect_stale_then_unlock PID: commands are refused naming the stale lock of PID; unlock removes it.
expect_stale_then_unlock() {
  local pid=$1
  expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --yes --no-safety-snapshot
  expect_err_contains "stale lock"
  expect_err_contains "pid $pid"
  expect_err_contains "rewind unlock"
  expect_rc 2 "$REWIND" backup --repo "$REPO" --source "$SRC"
  expect_err_contains "stale lock"
  expect_rc 0 "$REWIND" unlock --repo "$REPO"
  grep -qF "removed stale lock of \`rollback\` (pid $pid" "$WORK/last.out" || { _show_last; fail "unlock did not remove the stale lock of pid $pid"; }
  [[ -z $(ls "$REPO/locks") ]] || fail "locks left after unlock: $(ls "$REPO/locks")"
  note "refused as stale (pid $pid), removed by unlock"
}

step "a rollback killed holding its exclusive lock: stale for every command, removed by unlock"
killed_rollback
PID=$(lock_pid)
expect_rc 2 "$REWIND" verify --repo "$REPO"
expect_err_contains "stale lock"
expect_rc 2 "$REWIND" restore --repo "$REPO" pre --target "$WORK/restored"
expect_err_contains "stale lock"
[[ ! -e $WORK/restored ]] || fail "the refused restore created its target"
expect_stale_then_unlock "$PID"

step "a rollback killed and never reaped (a zombie): stale too"
# bash starts the rollback, then becomes `sleep`, which never waits for its child.
bash -c '"$0" rollback --repo "$1" pre --yes --no-safety-snapshot --stop-cmd "kill -KILL \$PPID" >/dev/null 2>&1 &
  exec sleep 300' "$REWIND" "$REPO" &
SLEEPER=$!
BG_PIDS+=" $SLEEPER"
for ((i = 0; i < 600; i++)); do  # until the rollback has died (at most a minute)
  if compgen -G "$REPO/locks/*" >/dev/null; then
    PID=$(lock_pid)
    [[ $(ps -o stat= -p "$PID" 2>/dev/null) == Z* ]] && break
  fi
  sleep 0.1
done
[[ $(ps -o stat= -p "$PID" 2>/dev/null) == Z* ]] || fail "the rollback did not become a zombie"
kill -0 "$PID" || fail "kill -0 does not find the zombie $PID"
note "pid $PID is a zombie ($(ps -o stat=,comm= -p "$PID")), child of $SLEEPER"
expect_stale_then_unlock "$PID"
kill "$SLEEPER"
wait "$SLEEPER" 2>/dev/null || :

step "a rollback killed, then its pid taken by another process (as after a reboot): stale"
if [[ $(id -u) != 0 || ! -w /proc/sys/kernel/ns_last_pid ]]; then
  note "SKIPPED: needs root and a writable /proc/sys/kernel/ns_last_pid"
else
  REUSED=""
  for attempt in 1 2 3 4 5; do  # another process may take the pid first: try again
    killed_rollback
    PID=$(lock_pid)
    echo $((PID - 1)) >/proc/sys/kernel/ns_last_pid
    sleep 300 &
    OTHER=$!
    BG_PIDS+=" $OTHER"
    if [[ $OTHER == "$PID" ]]; then
      REUSED=1
      break
    fi
    kill "$OTHER"
    "$REWIND" unlock --repo "$REPO" >/dev/null
  done
  [[ -n $REUSED ]] || fail "could not give pid $PID to another process in 5 attempts"
  note "pid $PID now runs: $(ps -o comm= -p "$PID")"
  expect_stale_then_unlock "$PID"
  kill "$OTHER"
fi
