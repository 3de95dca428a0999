#!/usr/bin/env bash
# A backup user without the TRIGGER or EVENT privilege: the server hides the triggers and events
# from it instead of failing, so its snapshot used to lack them silently, and a rollback would
# drop the databases and reload them without. The backup is refused (exit 2, naming the
# privilege and the database, no snapshot), unless there is provably nothing to miss (a database
# without tables; no rows in mysql.event that the user can read). With the privileges, from a
# role too, the backup restores every trigger and event (mariadb-dump identical).
source "$(dirname "$0")/lib.sh" "$@"
FIXTURE_DBS=(pv)

start_server s1
mdb -e "CREATE DATABASE pv; CREATE TABLE pv.t (id INT PRIMARY KEY, v INT);
        CREATE TRIGGER pv.tr BEFORE INSERT ON pv.t FOR EACH ROW SET NEW.v = NEW.id * 2;
        CREATE EVENT pv.ev ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM pv.t;
        INSERT INTO pv.t (id) VALUES (1);
        CREATE DATABASE noev; CREATE TABLE noev.t (id INT PRIMARY KEY);
        CREATE DATABASE notab;
        CREATE USER bk@localhost IDENTIFIED BY 'bk-pw';
        GRANT SELECT, RELOAD, LOCK TABLES, SHOW VIEW, PROCESS, BINLOG MONITOR ON *.* TO bk@localhost;
        CREATE USER bk2@localhost IDENTIFIED BY 'bk2-pw';
        GRANT SELECT, RELOAD, LOCK TABLES, SHOW VIEW, PROCESS, BINLOG MONITOR, TRIGGER ON *.* TO bk2@localhost;
        CREATE ROLE pv_objects; GRANT TRIGGER ON pv.* TO pv_objects;
        CREATE USER bk3@localhost IDENTIFIED BY 'bk3-pw';
        GRANT SELECT, RELOAD, LOCK TABLES, SHOW VIEW, PROCESS, BINLOG MONITOR ON *.* TO bk3@localhost;
        GRANT EVENT ON pv.* TO bk3@localhost; GRANT pv_objects TO bk3@localhost;
        SET DEFAULT ROLE pv_objects FOR bk3@localhost;" || fail "setup"
for u in bk bk2 bk3; do
  printf '[client]\nsocket=%s\nuser=%s\npassword=%s-pw\n' "$MDB_SOCK" "$u" "$u" >"$WORK/$u.cnf"
done
# What the server shows the user without TRIGGER and EVENT: no trigger, no event, no error.
[[ $(mariadb --defaults-file="$WORK/bk.cnf" -N -B -e "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA='pv'") == 0 ]] ||
  fail "fixture: bk sees the trigger"
reference_dump "$WORK/before.sql"
grep -q 'TRIGGER pv.tr ' "$WORK/before.sql" && grep -q 'EVENT `ev`' "$WORK/before.sql" || fail "fixture: no trigger or event"
REPO=$WORK/repo
expect_rc 0 "$REWIND" init --repo "$REPO"
no_snapshot() {
  [[ $(snapshot_count "$REPO") == 0 ]] || check_failed "a snapshot was saved after: $1"
}

step "no TRIGGER privilege: refused, naming TRIGGER and the database"
expect_rc 2 "$REWIND" backup --repo "$REPO" --databases pv --mysql-defaults-file "$WORK/bk.cnf"
expect_err_contains "database \`pv\`: bk@localhost lacks the TRIGGER privilege"
expect_err_contains "no snapshot was saved"
no_snapshot "a backup without TRIGGER"
expect_rc 2 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$WORK/bk.cnf"
expect_err_contains "TRIGGER privilege"
no_snapshot "a backup of all databases without TRIGGER"

step "no EVENT privilege: refused, naming EVENT and the database"
expect_rc 2 "$REWIND" backup --repo "$REPO" --databases pv --mysql-defaults-file "$WORK/bk2.cnf"
expect_err_contains "database \`pv\`: bk2@localhost lacks the EVENT privilege"
expect_err_contains "no snapshot was saved"
no_snapshot "a backup without EVENT"

step "nothing to miss: a database without tables (no TRIGGER), one without events (no EVENT, mysql.event readable)"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases notab --mysql-defaults-file "$WORK/bk.cnf"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases noev,notab --mysql-defaults-file "$WORK/bk2.cnf"

step "TRIGGER from a default role, EVENT on the database: the backup has both"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases pv --mysql-defaults-file "$WORK/bk3.cnf"
SNAP=$(last_line)
mdb -e "DROP DATABASE pv"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF"
reference_dump "$WORK/after.sql"
compare_files "mariadb-dump before and after (backup by bk3)" "$WORK/before.sql" "$WORK/after.sql"
