#!/usr/bin/env bash
# A system-versioned table (WITH SYSTEM VERSIONING): its current rows are dumped and come back,
# its history does not — as with mariadb-dump without --dump-history. The backup says so, as a
# note naming the table, so that nobody learns it from a restore; a table without versioning
# gets no such note.
source "$(dirname "$0")/lib.sh" "$@"

start_server s1
mdb -e "CREATE DATABASE app;
        CREATE TABLE app.audit (id INT PRIMARY KEY, v VARCHAR(20)) WITH SYSTEM VERSIONING;
        CREATE TABLE app.plain (id INT PRIMARY KEY);
        INSERT INTO app.audit VALUES (1, 'one'), (2, 'two'); INSERT INTO app.plain VALUES (1);
        UPDATE app.audit SET v = 'uno' WHERE id = 1; DELETE FROM app.audit WHERE id = 2;"
[[ $(mdb -N -B -e "SELECT COUNT(*) FROM app.audit FOR SYSTEM_TIME ALL") == 3 ]] ||
  fail "the versioned table does not hold three row versions"
REPO=$WORK/repo
expect_rc 0 "$REWIND" init --repo "$REPO"

step "backup: a note names the versioned table, and only it"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases app --mysql-defaults-file "$MDB_CNF"
expect_err_contains "app.audit: system-versioned: its current rows are dumped, not its history"
grep -q "app.plain" "$WORK/last.err" && check_failed "a note names the table without versioning: $(cat "$WORK/last.err")"
note "$(grep -m1 'system-versioned' "$WORK/last.err")"

step "restore: the current rows are back, the table is still versioned, its history is gone"
mdb -e "INSERT INTO app.audit VALUES (3, 'three'); DROP TABLE app.plain;"
expect_rc 0 "$REWIND" restore --repo "$REPO" latest --databases-only --mysql-defaults-file "$MDB_CNF"
[[ $(mdb -N -B -e "SELECT GROUP_CONCAT(id, '=', v ORDER BY id) FROM app.audit") == "1=uno" ]] ||
  check_failed "current rows after the restore: $(mdb -N -B -e "SELECT * FROM app.audit")"
[[ $(mdb -N -B -e "SELECT COUNT(*) FROM app.plain") == 1 ]] || check_failed "app.plain not restored"
mdb -N -B -e "SHOW CREATE TABLE app.audit" | grep -q "WITH SYSTEM VERSIONING" ||
  check_failed "app.audit lost its system versioning"
[[ $(mdb -N -B -e "SELECT COUNT(*) FROM app.audit FOR SYSTEM_TIME ALL") == 1 ]] ||
  check_failed "history after the restore: expected the current row only"
