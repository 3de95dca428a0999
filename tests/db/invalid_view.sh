#!/usr/bin/env bash
# An invalid view (it reads a table dropped after it was made; mariadb-dump refuses such a
# database, error 1356) and a view the server refuses at restore time (it reads a database the
# restore does not bring back).
#  - backup notes each invalid view, by name, and keeps its definition in views.sql as a
#    comment, which neither a restore nor the stock client runs;
#  - restore then creates everything else, exit 0; rollback to the snapshot completes;
#  - an object the server refuses at restore does not stop the other views, routines, triggers,
#    events, nor the other databases: all of them load, and the restore names the object and
#    exits 2.
source "$(dirname "$0")/lib.sh" "$@"

start_server s1
mdb -e "CREATE DATABASE a; CREATE DATABASE b; CREATE DATABASE c;
        CREATE TABLE a.t (id INT PRIMARY KEY); INSERT INTO a.t VALUES (1), (2);
        CREATE TABLE a.gone (x INT);
        CREATE VIEW a.v_gone AS SELECT x FROM a.gone;
        CREATE VIEW a.v_on_gone AS SELECT x FROM a.v_gone;
        CREATE TABLE c.ext (id INT);
        CREATE VIEW a.m_ext AS SELECT id FROM c.ext;
        CREATE VIEW a.z_ok AS SELECT id FROM a.t;
        CREATE FUNCTION a.f() RETURNS INT DETERMINISTIC RETURN 7;
        CREATE TRIGGER a.t_bi BEFORE INSERT ON a.t FOR EACH ROW SET NEW.id = NEW.id + 0;
        CREATE EVENT a.e ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM a.t WHERE id < 0;
        CREATE TABLE b.u (id INT PRIMARY KEY); INSERT INTO b.u VALUES (5);
        CREATE VIEW b.w AS SELECT id FROM b.u;
        CREATE PROCEDURE b.p() SELECT 1;
        CREATE TRIGGER b.u_bi BEFORE INSERT ON b.u FOR EACH ROW SET NEW.id = NEW.id + 0;
        CREATE EVENT b.e ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM b.u WHERE id < 0;
        DROP TABLE a.gone;"
# objects DBS...: every view (with its definition), routine, trigger and event of DBS.
objects() {
  local in
  in=$(printf "'%s'," "$@")
  in=${in%,}
  mdb -N -B -e "SELECT 'view', TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA IN ($in)
    UNION ALL SELECT ROUTINE_TYPE, ROUTINE_SCHEMA, ROUTINE_NAME, ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA IN ($in)
    UNION ALL SELECT 'trigger', TRIGGER_SCHEMA, TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA IN ($in)
    UNION ALL SELECT 'event', EVENT_SCHEMA, EVENT_NAME, EVENT_DEFINITION FROM information_schema.EVENTS WHERE EVENT_SCHEMA IN ($in)
    ORDER BY 1, 2, 3"
}
# What a restore must give back: every object but the two invalid views.
objects a b | grep -v -P '^view\ta\tv_(on_)?gone\t' >"$WORK/want.txt"
[[ $(wc -l <"$WORK/want.txt") == 9 ]] || fail "the set-up made $(wc -l <"$WORK/want.txt") objects, not 9"
mariadb-dump --defaults-file="$MDB_CNF" --skip-dump-date --routines --events --triggers --hex-blob \
  --order-by-primary --databases b >"$WORK/b-before.sql" || fail "mariadb-dump b"
REPO=$WORK/repo
expect_rc 0 "$REWIND" init --repo "$REPO"

step "backup: each invalid view is noted, and only they"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$MDB_CNF"
SNAP=$(last_line)
expect_err_contains "a.v_gone: invalid view (View 'a.v_gone' references invalid table(s)"
expect_err_contains "a.v_on_gone: invalid view"
grep -E "a\.(z_ok|m_ext)|b\.w" "$WORK/last.err" && check_failed "a note names a valid view"
expect_rc 0 "$REWIND" dump --repo "$REPO" "$SNAP" --db a
grep -qF -- '-- rewind: invalid view `v_gone` (' "$WORK/last.out" || check_failed "views.sql does not say why v_gone is not created"
grep -qE -- '^-- CREATE .*VIEW `a`.`v_gone` AS select `a`.`gone`.`x` AS `x` from `a`.`gone`$' "$WORK/last.out" ||
  check_failed "views.sql does not keep v_gone's definition as a comment"

step "drop a and b, restore: everything but the invalid views is back, exit 0"
mdb -e "DROP DATABASE a; DROP DATABASE b;"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF"
# Each view not created is said, by name.
expect_err_contains 'note: server "default": `a`: view `v_gone` ('
expect_err_contains 'note: server "default": `a`: view `v_on_gone` ('
[[ $(grep -c 'invalid when the snapshot was taken, not created' "$WORK/last.err") == 2 ]] ||
  check_failed "the restore does not name exactly the two views it did not create"
objects a b >"$WORK/got.txt"
compare_files "views, routines, triggers, events after the restore" "$WORK/want.txt" "$WORK/got.txt"
mariadb-dump --defaults-file="$MDB_CNF" --skip-dump-date --routines --events --triggers --hex-blob \
  --order-by-primary --databases b >"$WORK/b-after.sql" || fail "mariadb-dump b"
compare_files "mariadb-dump of b" "$WORK/b-before.sql" "$WORK/b-after.sql"

step "the stock client loads rewind dump --db a (the invalid views are comments)"
expect_rc 0 "$REWIND" dump --repo "$REPO" "$SNAP" --db a
mdb -e "DROP DATABASE a"
mdb <"$WORK/last.out" || check_failed "mariadb < rewind dump --db a failed"
objects a b >"$WORK/got.txt"
compare_files "objects after dump | mariadb" "$WORK/want.txt" "$WORK/got.txt"

step "rollback --databases-only to the snapshot completes"
mdb -e "DROP VIEW a.z_ok; DROP PROCEDURE b.p; DELETE FROM b.u;"
# An invalid view made since: the safety snapshot can keep it only as a comment, and says so.
mdb -e "CREATE TABLE a.tmp (x INT); CREATE VIEW a.v_tmp AS SELECT x FROM a.tmp; DROP TABLE a.tmp;"
expect_rc 0 "$REWIND" rollback --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF" --yes
expect_err_contains 'view `v_gone` ('
expect_err_contains 'the rollback dropped the one there'
expect_err_contains 'note: safety snapshot: databases/default: a.v_tmp: invalid view ('
objects a b >"$WORK/got.txt"
compare_files "objects after the rollback" "$WORK/want.txt" "$WORK/got.txt"
[[ $(mdb -N -B -e "SELECT COUNT(*) FROM b.u") == 1 ]] || check_failed "b.u not rolled back"

step "a view the server refuses (its database c is gone): the rest loads, the view is named, exit 2"
mdb -e "DROP DATABASE a; DROP DATABASE b; DROP DATABASE c;"
expect_rc 2 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --db a --db b --mysql-defaults-file "$MDB_CNF"
expect_err_contains "1 object could not be created; everything else was restored"
expect_err_contains '`a` views.sql: view `m_ext`: '
objects a b >"$WORK/got.txt"
grep -v -P '^view\ta\tm_ext\t' "$WORK/want.txt" >"$WORK/want2.txt"
compare_files "objects when m_ext cannot be created" "$WORK/want2.txt" "$WORK/got.txt"
[[ $(mdb -N -B -e "SELECT GROUP_CONCAT(id ORDER BY id) FROM a.z_ok") == 1,2 ]] || check_failed "a.z_ok after the restore"

step "a rollback whose databases step has an object the server refuses: done, named, exit 1, nothing pending"
# A snapshot of a and b only: a.m_ext reads c.ext, and c is not in it. With c gone the view
# cannot be created; the rest is rolled back, the rollback reports it (exit 1: differences
# remain) and leaves no journal, so the next rollback is not blocked by one that cannot finish.
mdb -e "CREATE DATABASE c; CREATE TABLE c.ext (id INT);"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --db a --db b --mysql-defaults-file "$MDB_CNF"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases a,b --mysql-defaults-file "$MDB_CNF" --tag ab
mdb -e "DROP DATABASE c; DELETE FROM b.u;"
expect_rc 1 "$REWIND" rollback --repo "$REPO" ab --databases-only --mysql-defaults-file "$MDB_CNF" --yes --json
[[ $(json_get '.databases_failed | length') == 1 && $(json_get '.databases_failed[0]') == *'view `m_ext`'* ]] ||
  check_failed "rollback --json does not name the refused view: $(jq -c .databases_failed "$WORK/last.out")"
[[ $(json_get .verified) == false ]] || check_failed "a rollback with a refused object says verified"
[[ -z $(ls -A "$REPO/rollback" 2>/dev/null) ]] || check_failed "the rollback left a journal: $(ls "$REPO/rollback")"
[[ $(mdb -N -B -e "SELECT COUNT(*) FROM b.u") == 1 ]] || check_failed "b.u not rolled back"
expect_rc 2 "$REWIND" rollback --repo "$REPO" --resume --yes
expect_err_contains "no interrupted rollback"
