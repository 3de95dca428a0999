#!/usr/bin/env bash
# A loading session that loses a deadlock (1213) or a lock wait (1205) against another runs its
# statement again; any other error is not retried, and a statement still refused after the
# retries stops the restore with the server's message. The server rolls such a statement back
# (autocommit is on), so a restore that gave up on it, or skipped it, would lose its rows.
# A real server deadlocks the restore's own sessions only by chance (db.roundtrip met it once
# in CI): lock_fault_preload.cc refuses one chosen INSERT of mail_app.messages with the error,
# N times in a row, before it reaches the server, and logs each refusal.
#   usage: lock_retry.sh REWIND DEMO_GEN PRELOAD
source "$(dirname "$0")/lib.sh" "$1" "$2"
PRELOAD=${3:?the lock fault preload library}
[[ -f $PRELOAD ]] || fail "no preload library at $PRELOAD"

start_server s1
load_fixture
record_before
REPO=$WORK/repo
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$MDB_CNF" --db-part-size 1M
SNAP=$(last_line)
ROWS=$(mdb -N -B -e "SELECT COUNT(*) FROM mail_app.messages")
note "mail_app.messages: $ROWS rows"

# restore_refused ERRNO TIMES WANT_RC: restore --databases-only with the first INSERT of
# mail_app.messages refused TIMES times with ERRNO; the log of refusals in $WORK/refusals.
restore_refused() {
  local err=$1 times=$2 want=$3
  rm -f "$WORK/refusals"
  drop_fixture
  expect_rc "$want" env LD_PRELOAD="$PRELOAD" REWIND_LOCK_FAULT_MATCH='INSERT INTO `mail_app`.`messages` (' \
    REWIND_LOCK_FAULT_ERRNO="$err" REWIND_LOCK_FAULT_TIMES="$times" REWIND_LOCK_FAULT_LOG="$WORK/refusals" \
    "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF" --db-threads 3
  REFUSED=$( (grep -c "with error $err" "$WORK/refusals" 2>/dev/null) || true)
  note "refused ${REFUSED:-0} times with error $err"
}

step "a deadlock (1213), twice on the same INSERT: run again, nothing lost"
restore_refused 1213 2 0
[[ $REFUSED == 2 ]] || check_failed "the statement was refused $REFUSED times, expected 2 (the preload did not act)"
[[ $(mdb -N -B -e "SELECT COUNT(*) FROM mail_app.messages") == "$ROWS" ]] || check_failed "mail_app.messages lost rows"
same_as_before "a deadlock retried"

step "a lock wait timeout (1205), once: run again, nothing lost"
restore_refused 1205 1 0
[[ $REFUSED == 1 ]] || check_failed "the statement was refused $REFUSED times, expected 1"
same_as_before "a lock wait retried"

step "a deadlock on every attempt: 1 + 5 runs, then the restore stops, naming the error and the table"
restore_refused 1213 100 2
[[ $REFUSED == 6 ]] || check_failed "the statement ran $REFUSED times, expected 6 (1 and 5 retries)"
expect_err_contains "Deadlock found when trying to get lock"
expect_err_contains "error 1213"
expect_err_contains "messages"

step "any other error (1062, a duplicate key) is not retried: the restore stops at once"
restore_refused 1062 100 2
[[ $REFUSED == 1 ]] || check_failed "the statement ran $REFUSED times, expected 1 (only lock errors are retried)"
expect_err_contains "error 1062"

step "without the fault, the restore after those failures puts everything back"
drop_fixture
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF" --db-threads 3
same_as_before "a clean restore"
