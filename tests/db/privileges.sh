#!/usr/bin/env bash
# A backup user without the TRIGGER or EVENT privilege: the server hides the triggers and events
# from it instead of failing, so its snapshot used to lack them silently, and a rollback would
# drop the databases and reload them without. The backup is refused (exit 2, naming the
# privilege and the database, no snapshot), unless there is provably nothing to miss (a database
# without tables; no rows in mysql.event that the user can read). With the privileges, from a
# role too, the backup restores every trigger and event (mariadb-dump identical).
# Routines the same way: information_schema.ROUTINES lists only those the user has a privilege
# on, so a user scoped to the database (no SELECT on mysql.proc, no routine privilege on it) got
# a snapshot without its functions and procedures; refused now, and with SELECT on mysql.proc
# they are in the snapshot. A database owner (ALL on it) sees every routine of it and reads the
# ones it defines: allowed, unless another account defines one (refused, naming it).
# The privileges are read as the server applies them (SHOW GRANTS): a TRIGGER grant on a
# pattern, `p%`.*, does not reach pv when the account has a row for pv.* itself (the server
# takes that one alone and hides pv's trigger): refused; the backup used to exit 0 without the
# trigger. And what an account holds through its default role, hidden from information_schema's
# *_PRIVILEGES for an account without SELECT on the mysql database, counts: it used to be refused.
# Tables and views the same way: information_schema.TABLES and .VIEWS list only those the account
# has a privilege on, unless it holds one of the table privileges (SELECT, SHOW VIEW, TRIGGER, …)
# on the whole database. An account with SELECT only on the table tp.t1 (LOCK TABLES and EVENT
# on tp.*) got a snapshot without tp.t2 and the view tp.v2, and exited 0: a rollback would have
# dropped them. Refused now, naming SELECT, tp and the GRANT. And information_schema.COLUMNS
# shows only the columns the account holds a privilege on: with SHOW VIEW on tp.* (every table is
# listed) but SELECT only on the column t2.id, the backup exited 0 and its t2 had no column v.
# Refused now, naming t2; with SELECT on each table and view the backup has all of them.
source "$(dirname "$0")/lib.sh" "$@"
FIXTURE_DBS=(pv)

start_server s1
mdb -e "CREATE DATABASE pv; CREATE TABLE pv.t (id INT PRIMARY KEY, v INT);
        CREATE TRIGGER pv.tr BEFORE INSERT ON pv.t FOR EACH ROW SET NEW.v = NEW.id * 2;
        CREATE EVENT pv.ev ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM pv.t;
        INSERT INTO pv.t (id) VALUES (1);
        CREATE PROCEDURE pv.pr() SELECT COUNT(*) FROM pv.t;
        CREATE FUNCTION pv.fn() RETURNS INT DETERMINISTIC RETURN 42;
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
        SET DEFAULT ROLE pv_objects FOR bk3@localhost;
        CREATE USER bk4@localhost IDENTIFIED BY 'bk4-pw'; GRANT RELOAD ON *.* TO bk4@localhost;
        GRANT SELECT, LOCK TABLES, SHOW VIEW, TRIGGER, EVENT ON pv.* TO bk4@localhost;
        -- EXECUTE on a pattern that matches pv gives nothing: the server takes the first database
        -- row that matches (pv.* above), so bk4 still sees no routine of pv.
        GRANT EXECUTE ON \`p%\`.* TO bk4@localhost;
        CREATE DATABASE own; CREATE USER owner@localhost IDENTIFIED BY 'owner-pw';
        GRANT ALL ON own.* TO owner@localhost; GRANT RELOAD ON *.* TO owner@localhost;
        -- TRIGGER on a pattern only, the rest on pv.* itself: for pv the server takes the pv.* row
        -- alone, which lacks TRIGGER. SELECT on mysql.proc for pv's routines.
        CREATE USER bk5@localhost IDENTIFIED BY 'bk5-pw'; GRANT RELOAD ON *.* TO bk5@localhost;
        GRANT SELECT, LOCK TABLES, SHOW VIEW, EVENT ON pv.* TO bk5@localhost;
        GRANT TRIGGER ON \`p%\`.* TO bk5@localhost; GRANT SELECT ON mysql.proc TO bk5@localhost;
        -- Every privilege on pv through the default role, none on the mysql database.
        CREATE ROLE pv_backup; GRANT SELECT, LOCK TABLES, SHOW VIEW, TRIGGER, EVENT ON pv.* TO pv_backup;
        CREATE USER bk6@localhost IDENTIFIED BY 'bk6-pw'; GRANT RELOAD ON *.* TO bk6@localhost;
        GRANT SELECT ON mysql.proc TO bk6@localhost; GRANT pv_backup TO bk6@localhost;
        SET DEFAULT ROLE pv_backup FOR bk6@localhost;
        -- A database owned through a role.
        CREATE DATABASE own2; CREATE ROLE own2_owner; GRANT ALL ON own2.* TO own2_owner;
        CREATE USER owner2@localhost IDENTIFIED BY 'owner2-pw'; GRANT RELOAD ON *.* TO owner2@localhost;
        GRANT own2_owner TO owner2@localhost; SET DEFAULT ROLE own2_owner FOR owner2@localhost;
        -- SELECT only on the table tp.t1 (and its view v1); the rest the dump needs on tp.*.
        CREATE DATABASE tp; CREATE TABLE tp.t1 (id INT PRIMARY KEY); CREATE TABLE tp.t2 (id INT PRIMARY KEY, v INT);
        INSERT INTO tp.t1 VALUES (1); INSERT INTO tp.t2 VALUES (2, 20);
        CREATE VIEW tp.v1 AS SELECT id FROM tp.t1; CREATE VIEW tp.v2 AS SELECT id FROM tp.t2;
        CREATE USER bk7@localhost IDENTIFIED BY 'bk7-pw'; GRANT RELOAD ON *.* TO bk7@localhost;
        GRANT LOCK TABLES, EVENT ON tp.* TO bk7@localhost; GRANT SELECT ON mysql.proc TO bk7@localhost;
        GRANT SELECT, SHOW VIEW, TRIGGER ON tp.t1 TO bk7@localhost; GRANT SELECT, SHOW VIEW ON tp.v1 TO bk7@localhost;
        -- SHOW VIEW and TRIGGER on tp.*, so the server lists every table and view; SELECT per table,
        -- on t2 only on its column id (information_schema.COLUMNS shows it t2.id alone).
        CREATE USER bk8@localhost IDENTIFIED BY 'bk8-pw'; GRANT RELOAD ON *.* TO bk8@localhost;
        GRANT LOCK TABLES, EVENT, SHOW VIEW, TRIGGER ON tp.* TO bk8@localhost; GRANT SELECT ON mysql.proc TO bk8@localhost;
        GRANT SELECT ON tp.t1 TO bk8@localhost; GRANT SELECT ON tp.v1 TO bk8@localhost; GRANT SELECT ON tp.v2 TO bk8@localhost;
        GRANT SELECT (id) ON tp.t2 TO bk8@localhost;" || fail "setup"
for u in bk bk2 bk3 bk4 bk5 bk6 bk7 bk8 owner owner2; do
  printf '[client]\nsocket=%s\nuser=%s\npassword=%s-pw\n' "$MDB_SOCK" "$u" "$u" >"$WORK/$u.cnf"
done
# What the server shows the user without TRIGGER and EVENT: no trigger, no event, no error.
[[ $(mariadb --defaults-file="$WORK/bk.cnf" -N -B -e "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA='pv'") == 0 ]] ||
  fail "fixture: bk sees the trigger"
reference_dump "$WORK/before.sql"
grep -q 'TRIGGER pv.tr ' "$WORK/before.sql" && grep -q 'EVENT `ev`' "$WORK/before.sql" || fail "fixture: no trigger or event"
grep -q 'PROCEDURE `pr`' "$WORK/before.sql" && grep -q 'FUNCTION `fn`' "$WORK/before.sql" || fail "fixture: no routines"
[[ $(mariadb --defaults-file="$WORK/bk4.cnf" -N -B -e "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA='pv'") == 0 ]] ||
  fail "fixture: bk4 sees the routines"
# bk5: its TRIGGER on `p%`.* does not reach pv, whose own row lacks it: the trigger is hidden.
[[ $(mariadb --defaults-file="$WORK/bk5.cnf" -N -B -e "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA='pv'") == 0 &&
   -z $(mariadb --defaults-file="$WORK/bk5.cnf" -N -B -e "SHOW TRIGGERS FROM pv") ]] ||
  fail "fixture: bk5 sees the trigger"
mariadb --defaults-file="$WORK/bk5.cnf" -N -B -e "SHOW GRANTS" | grep -qF 'GRANT TRIGGER ON `p%`.* TO `bk5`@`localhost`' ||
  fail "fixture: bk5 lacks TRIGGER on \`p%\`.*"
# bk6 sees the trigger (TRIGGER through its role), but information_schema shows it no TRIGGER row.
[[ $(mariadb --defaults-file="$WORK/bk6.cnf" -N -B -e "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA='pv'") == 1 ]] ||
  fail "fixture: bk6 does not see the trigger"
[[ $(mariadb --defaults-file="$WORK/bk6.cnf" -N -B -e "SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES WHERE PRIVILEGE_TYPE='TRIGGER'") == 0 ]] ||
  note "information_schema shows bk6 its role's TRIGGER row (this server does not hide it)"
# bk7 is shown only tp.t1 and tp.v1, bk8 every table and view of tp.
[[ $(mariadb --defaults-file="$WORK/bk7.cnf" -N -B -e "SELECT GROUP_CONCAT(TABLE_NAME ORDER BY TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA='tp'") == t1,v1 &&
   $(mariadb --defaults-file="$WORK/bk7.cnf" -N -B -e "SELECT GROUP_CONCAT(TABLE_NAME) FROM information_schema.VIEWS WHERE TABLE_SCHEMA='tp'") == v1 ]] ||
  fail "fixture: bk7 is not shown exactly tp.t1 and tp.v1"
[[ $(mariadb --defaults-file="$WORK/bk8.cnf" -N -B -e "SELECT GROUP_CONCAT(TABLE_NAME ORDER BY TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA='tp'") == t1,t2,v1,v2 ]] ||
  fail "fixture: bk8 is not shown every table and view of tp"
REPO=$WORK/repo
expect_rc 0 "$REWIND" init --repo "$REPO"
no_snapshot() {
  [[ $(snapshot_count "$REPO") == 0 ]] || check_failed "a snapshot was saved after: $1"
}

step "no TRIGGER and no EVENT privilege: refused, naming both (not one per run) and the database"
expect_rc 2 "$REWIND" backup --repo "$REPO" --databases pv --mysql-defaults-file "$WORK/bk.cnf"
expect_err_contains "2 privilege problems"
expect_err_contains "(1) database \`pv\`: bk@localhost lacks the TRIGGER privilege"
expect_err_contains "(2) database \`pv\`: bk@localhost lacks the EVENT privilege"
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

step "TRIGGER on \`p%\`.* only, the rest on pv.*: the server hides pv's trigger; refused, naming TRIGGER and pv"
nsnap=$(snapshot_count "$REPO")
note "\$ rewind backup --repo $REPO --databases pv --mysql-defaults-file $WORK/bk5.cnf"
capture "$REWIND" backup --repo "$REPO" --databases pv --mysql-defaults-file "$WORK/bk5.cnf"
if [[ $RC == 0 ]]; then
  capture "$REWIND" dump --repo "$REPO" latest --db pv
  if grep -q 'TRIGGER pv.tr ' "$WORK/last.out"; then
    note "its snapshot has the trigger pv.tr"
  else
    note "its snapshot lacks the trigger pv.tr (rewind dump --repo R latest --db pv)"
  fi
  fail "the backup by bk5 (TRIGGER only on \`p%\`.*) exited 0, expected 2"
fi
[[ $RC == 2 ]] || { _show_last; fail "the backup by bk5 exited $RC, expected 2"; }
expect_err_contains "database \`pv\`: bk5@localhost lacks the TRIGGER privilege"
expect_err_contains "its grant ON \`p%\`.* does not count"
expect_err_contains "no snapshot was saved"
[[ $(snapshot_count "$REPO") == "$nsnap" ]] || check_failed "a snapshot was saved after: a backup that cannot see the trigger"

step "TRIGGER and the rest only through the default role, no SELECT on the mysql database: the backup has the trigger"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases pv --mysql-defaults-file "$WORK/bk6.cnf"
SNAP=$(last_line)
expect_rc 0 "$REWIND" dump --repo "$REPO" "$SNAP" --db pv
grep -q 'TRIGGER pv.tr ' "$WORK/last.out" || check_failed "rewind dump of bk6's snapshot lacks the trigger pv.tr"
mdb -e "DROP DATABASE pv"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF"
reference_dump "$WORK/after6.sql"
compare_files "mariadb-dump before and after (backup by bk6)" "$WORK/before.sql" "$WORK/after6.sql"

step "routines hidden from a user scoped to the database (no SELECT on mysql.proc): refused, naming the grant"
nsnap=$(snapshot_count "$REPO")
expect_rc 2 "$REWIND" backup --repo "$REPO" --databases pv --mysql-defaults-file "$WORK/bk4.cnf"
expect_err_contains "database \`pv\`: bk4@localhost"
expect_err_contains "GRANT SELECT ON \`mysql\`.\`proc\`"
expect_err_contains "no snapshot was saved"
[[ $(snapshot_count "$REPO") == "$nsnap" ]] || check_failed "a snapshot was saved after: a backup that cannot see the routines"

step "with SELECT on mysql.proc: the routines are in the snapshot and come back"
mdb -e "GRANT SELECT ON mysql.proc TO bk4@localhost" || fail "grant"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases pv --mysql-defaults-file "$WORK/bk4.cnf"
SNAP=$(last_line)
expect_rc 0 "$REWIND" dump --repo "$REPO" "$SNAP" --db pv
grep -q 'PROCEDURE `pr`' "$WORK/last.out" && grep -q 'FUNCTION `fn`' "$WORK/last.out" ||
  check_failed "rewind dump of bk4's snapshot lacks pv.pr or pv.fn"
mdb -e "DROP DATABASE pv"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF"
reference_dump "$WORK/after4.sql"
compare_files "mariadb-dump before and after (backup by bk4)" "$WORK/before.sql" "$WORK/after4.sql"

step "a database owner (ALL on it, no mysql.proc) sees every routine of it and reads its own: allowed"
mariadb --defaults-file="$WORK/owner.cnf" -e "CREATE TABLE own.t (id INT PRIMARY KEY);
  CREATE PROCEDURE own.op() SELECT COUNT(*) FROM own.t;" || fail "owner's routine"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases own --mysql-defaults-file "$WORK/owner.cnf"
expect_rc 0 "$REWIND" dump --repo "$REPO" "$(last_line)" --db own
grep -q 'PROCEDURE `op`' "$WORK/last.out" || check_failed "rewind dump of the owner's snapshot lacks own.op"

step "a routine of another definer in the owner's database: refused before anything is dumped, naming it"
mdb -e "CREATE FUNCTION own.rootf() RETURNS INT DETERMINISTIC RETURN 1" || fail "root's routine"
nsnap=$(snapshot_count "$REPO")
expect_rc 2 "$REWIND" backup --repo "$REPO" --databases own --mysql-defaults-file "$WORK/owner.cnf"
expect_err_contains "database \`own\`: owner@localhost may not read the definition of function \`rootf\` (definer root@localhost)"
expect_err_contains "GRANT SELECT ON \`mysql\`.\`proc\`"
[[ $(snapshot_count "$REPO") == "$nsnap" ]] || check_failed "a snapshot was saved after: a backup that cannot read a routine"

step "a database owned through the default role (ALL on it, no mysql.proc, no SELECT on mysql): allowed"
mariadb --defaults-file="$WORK/owner2.cnf" -e "CREATE TABLE own2.t (id INT PRIMARY KEY, v INT);
  CREATE TRIGGER own2.tr2 BEFORE INSERT ON own2.t FOR EACH ROW SET NEW.v = 1;
  CREATE PROCEDURE own2.op2() SELECT COUNT(*) FROM own2.t;" || fail "owner2's objects"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases own2 --mysql-defaults-file "$WORK/owner2.cnf"
expect_rc 0 "$REWIND" dump --repo "$REPO" "$(last_line)" --db own2
grep -q 'PROCEDURE `op2`' "$WORK/last.out" && grep -q 'TRIGGER own2.tr2 ' "$WORK/last.out" ||
  check_failed "rewind dump of owner2's snapshot lacks own2.op2 or own2.tr2"

step "SELECT only on the table tp.t1: the server hides tp.t2 and tp.v2; refused, naming SELECT, tp and the GRANT"
nsnap=$(snapshot_count "$REPO")
note "\$ rewind backup --repo $REPO --databases tp --mysql-defaults-file $WORK/bk7.cnf"
capture "$REWIND" backup --repo "$REPO" --databases tp --mysql-defaults-file "$WORK/bk7.cnf"
if [[ $RC == 0 ]]; then
  capture "$REWIND" dump --repo "$REPO" latest --db tp
  for o in 'TABLE `t1`' 'TABLE `t2`' 'VIEW `tp`.`v1`' 'VIEW `tp`.`v2`'; do
    grep -q "$o" "$WORK/last.out" && note "its snapshot has $o" || note "its snapshot LACKS $o (rewind dump --repo R latest --db tp)"
  done
  fail "the backup by bk7 (SELECT only on tp.t1) exited 0, expected 2"
fi
[[ $RC == 2 ]] || { _show_last; fail "the backup by bk7 exited $RC, expected 2"; }
expect_err_contains "database \`tp\`: bk7@localhost lacks the SELECT privilege on the database"
expect_err_contains "GRANT SELECT ON \`tp\`.* (or ON *.*)"
expect_err_contains "no snapshot was saved"
[[ $(snapshot_count "$REPO") == "$nsnap" ]] || check_failed "a snapshot was saved after: a backup that cannot see tp.t2"
expect_rc 2 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$WORK/bk7.cnf"
expect_err_contains "lacks the SELECT privilege"
[[ $(snapshot_count "$REPO") == "$nsnap" ]] || check_failed "a snapshot was saved after: a backup of all databases that cannot see tp.t2"

step "every table listed (SHOW VIEW on tp.*) but SELECT only on the column tp.t2.id: refused, naming t2"
note "\$ rewind backup --repo $REPO --databases tp --mysql-defaults-file $WORK/bk8.cnf"
capture "$REWIND" backup --repo "$REPO" --databases tp --mysql-defaults-file "$WORK/bk8.cnf"
if [[ $RC == 0 ]]; then
  capture "$REWIND" dump --repo "$REPO" latest --db tp
  note "its snapshot's rows of t2: $(grep 'INSERT INTO `tp`.`t2`' "$WORK/last.out" || echo none)"
  fail "the backup by bk8 (SELECT only on the column tp.t2.id) exited 0, expected 2"
fi
[[ $RC == 2 ]] || { _show_last; fail "the backup by bk8 exited $RC, expected 2"; }
expect_err_contains "database \`tp\`: bk8@localhost lacks the SELECT privilege on \`t2\`"
expect_err_contains "no snapshot was saved"
[[ $(snapshot_count "$REPO") == "$nsnap" ]] || check_failed "a snapshot was saved after: a backup without SELECT on tp.t2"

step "SELECT on each table and view of tp, SHOW VIEW on tp.*: the backup has all of them and restores them"
mdb -e "GRANT SELECT ON tp.t2 TO bk8@localhost" || fail "grant"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases tp --mysql-defaults-file "$WORK/bk8.cnf"
SNAP=$(last_line)
expect_rc 0 "$REWIND" dump --repo "$REPO" "$SNAP" --db tp
for o in 'TABLE `t1`' 'TABLE `t2`' 'VIEW `tp`.`v1`' 'VIEW `tp`.`v2`'; do
  grep -q "$o" "$WORK/last.out" || check_failed "rewind dump of bk8's snapshot lacks $o"
done
FIXTURE_DBS=(tp)
reference_dump "$WORK/before_tp.sql"
mdb -e "DROP DATABASE tp"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF"
reference_dump "$WORK/after_tp.sql"
compare_files "mariadb-dump of tp before and after (backup by bk8)" "$WORK/before_tp.sql" "$WORK/after_tp.sql"
