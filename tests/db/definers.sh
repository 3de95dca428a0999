#!/usr/bin/env bash
# A restore drops each database and loads it again; views, routines, triggers and events come
# last, each with the DEFINER it had. Creating an object for another definer takes the SET USER
# privilege (or SUPER) on MariaDB: a database owner (ALL on its database, neither of those)
# restoring a snapshot whose view root defined used to see its database dropped and reloaded
# without the view (and the trigger, procedure and event). The restore (and rollback) now reads
# the definers first and refuses, naming the objects, their definer and the privilege to grant,
# with the database untouched (mariadb-dump identical). Allowed: root, the owner for objects it
# defines itself, the owner once it has SET USER.
source "$(dirname "$0")/lib.sh" "$@"
FIXTURE_DBS=(app mine)

start_server s1
mdb -e "CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY, v INT);
        INSERT INTO app.t VALUES (1, 10), (2, 20);
        CREATE VIEW app.v AS SELECT id, v * 2 AS w FROM app.t;
        CREATE TRIGGER app.tr BEFORE INSERT ON app.t FOR EACH ROW SET NEW.v = IFNULL(NEW.v, 0);
        CREATE PROCEDURE app.pr() SELECT COUNT(*) FROM app.t;
        CREATE EVENT app.ev ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM app.t;
        CREATE DATABASE mine;
        CREATE USER owner@localhost IDENTIFIED BY 'owner-pw';
        GRANT ALL ON app.* TO owner@localhost; GRANT ALL ON mine.* TO owner@localhost;" || fail "setup"
printf '[client]\nsocket=%s\nuser=owner\npassword=owner-pw\n' "$MDB_SOCK" >"$WORK/owner.cnf"
owner() { mariadb --defaults-file="$WORK/owner.cnf" "$@"; }
owner -e "CREATE TABLE mine.t (id INT PRIMARY KEY); INSERT INTO mine.t VALUES (7);
          CREATE VIEW mine.v AS SELECT id FROM mine.t;
          CREATE TRIGGER mine.tr BEFORE INSERT ON mine.t FOR EACH ROW SET NEW.id = NEW.id;
          CREATE FUNCTION mine.f() RETURNS INT DETERMINISTIC RETURN 3;" || fail "the owner's objects"
reference_dump "$WORK/before.sql"
[[ $(mdb -N -B -e "SELECT GROUP_CONCAT(TABLE_SCHEMA, '.', TABLE_NAME, ' ', DEFINER ORDER BY TABLE_SCHEMA)
     FROM information_schema.VIEWS WHERE TABLE_SCHEMA IN ('app','mine')") == "app.v root@localhost,mine.v owner@localhost" ]] ||
  fail "fixture: the views' definers"
REPO=$WORK/repo
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases app,mine --mysql-defaults-file "$MDB_CNF"
SNAP=$(last_line)
# Changed since the backup: a refused restore must leave this row (nothing dropped).
mdb -e "INSERT INTO app.t VALUES (3, 30)"
reference_dump "$WORK/live.sql"

step "the owner (no SET USER, no SUPER) restores objects root defined: refused before anything is dropped"
expect_rc 2 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$WORK/owner.cnf"
cp "$WORK/last.err" "$WORK/restore.err"
reference_dump "$WORK/after.sql"
compare_files "mariadb-dump before and after the refused restore" "$WORK/live.sql" "$WORK/after.sql"
cp "$WORK/restore.err" "$WORK/last.err"
expect_err_contains "view \`app\`.\`v\` (definer \`root\`@\`localhost\`)"
expect_err_contains "GRANT SET USER ON *.* TO owner@localhost"
expect_err_contains "nothing was changed"

step "rollback by the owner refuses the same way, before it changes anything"
nsnap=$(snapshot_count "$REPO")
expect_rc 2 "$REWIND" rollback --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$WORK/owner.cnf" \
  --no-safety-snapshot --yes
expect_err_contains "nothing was changed"
[[ $(grep -o "nothing was" "$WORK/last.err" | wc -l) == 1 ]] || check_failed "the refusal says \"nothing was …\" more than once"
expect_err_contains "SET USER"
grep -q -- "--resume" "$WORK/last.err" && check_failed "the refused rollback left something to resume"
[[ $(snapshot_count "$REPO") == "$nsnap" ]] || check_failed "the refused rollback made a snapshot"
reference_dump "$WORK/after.sql"
compare_files "mariadb-dump before and after the refused rollback" "$WORK/live.sql" "$WORK/after.sql"
# The dry run exits as the rollback would: 2.
expect_rc 2 "$REWIND" rollback --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$WORK/owner.cnf" \
  --dry-run
expect_err_contains "the rollback would be refused"

step "the owner restores its own database (every object its own): allowed"
owner -e "INSERT INTO mine.t VALUES (8)"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --db mine --mysql-defaults-file "$WORK/owner.cnf"
[[ $(mdb -N -B -e "SELECT GROUP_CONCAT(id ORDER BY id) FROM mine.t") == 7 ]] || check_failed "mine.t not restored"

step "root restores: allowed, everything back"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF"
reference_dump "$WORK/after.sql"
compare_files "mariadb-dump before and after the restore by root" "$WORK/before.sql" "$WORK/after.sql"

step "the owner with SET USER (from a role): allowed, everything back"
mdb -e "INSERT INTO app.t VALUES (4, 40); CREATE ROLE definers; GRANT SET USER ON *.* TO definers;
        GRANT definers TO owner@localhost; SET DEFAULT ROLE definers FOR owner@localhost" || fail "grant"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$WORK/owner.cnf"
reference_dump "$WORK/after.sql"
compare_files "mariadb-dump before and after the restore by the owner with SET USER" "$WORK/before.sql" "$WORK/after.sql"
