#!/usr/bin/env bash
# Objects made under sql_mode ANSI_QUOTES (alone, not as part of ORACLE) show their definer in
# double quotes: DEFINER="owner"@"localhost". A database owner restoring its own database must
# find each of them to be its own (the definer check read the quotes as part of the name before
# 83ee232, and refused them as needing SET USER); every kind must come back with its sql_mode
# and its definer. Covered here: a function, a procedure, an event, a trigger and a view, made
# by the owner under ANSI_QUOTES. Judged by the server: SHOW CREATE and information_schema
# before and after the owner's restore, the function's and the procedure's results, and
# mariadb-dump of the database; then an administrator's restore of the same snapshot.
source "$(dirname "$0")/lib.sh" "$@"
FIXTURE_DBS=(own)

start_server s1
make_owner
owner() { mariadb --defaults-file="$WORK/owner.cnf" "$@"; }

step "the owner makes a function, a procedure, an event, a trigger and a view under ANSI_QUOTES"
owner <<'SQL' || fail "the owner's objects"
SET sql_mode='ANSI_QUOTES';
CREATE TABLE own."box" ("id" INT PRIMARY KEY, "used_kb" INT, "note" VARCHAR(40));
INSERT INTO own."box" VALUES (1, 1500, 'first'), (2, 250, 'second');
CREATE FUNCTION own."used_mb"("b" INT) RETURNS INT READS SQL DATA
  RETURN (SELECT "used_kb" DIV 1000 FROM own."box" WHERE "id" = "b");
DELIMITER $$
CREATE PROCEDURE own."reset_box"(IN "b" INT)
BEGIN
  -- a comment; and a semicolon in a string: ';'
  UPDATE own."box" SET "used_kb" = 0, "note" = 'reset; by procedure' WHERE "id" = "b";
END
$$
CREATE TRIGGER own."box_note" BEFORE INSERT ON own."box" FOR EACH ROW
BEGIN
  IF NEW."note" IS NULL THEN SET NEW."note" = 'by trigger'; END IF;
END
$$
DELIMITER ;
CREATE EVENT own."nightly" ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 03:00:00' DISABLE
  DO UPDATE own."box" SET "used_kb" = "used_kb" + 1;
CREATE VIEW own."big" AS SELECT "id", "used_kb" FROM own."box" WHERE "used_kb" > 1000;
SQL

# defs OUT: the owner's objects as the server shows them (definition, sql_mode, definer).
defs() {
  mdb -N -B -e "SHOW CREATE FUNCTION own.used_mb; SHOW CREATE PROCEDURE own.reset_box; SHOW CREATE EVENT own.nightly;
    SHOW CREATE VIEW own.big;
    SELECT ROUTINE_TYPE, ROUTINE_NAME, SQL_MODE, DEFINER FROM information_schema.ROUTINES
      WHERE ROUTINE_SCHEMA = 'own' ORDER BY ROUTINE_TYPE, ROUTINE_NAME;
    SELECT TRIGGER_NAME, SQL_MODE, DEFINER, ACTION_STATEMENT FROM information_schema.TRIGGERS
      WHERE TRIGGER_SCHEMA = 'own';
    SELECT EVENT_NAME, SQL_MODE, DEFINER, STATUS, EVENT_DEFINITION FROM information_schema.EVENTS
      WHERE EVENT_SCHEMA = 'own';
    SELECT TABLE_NAME, DEFINER, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'own'" >"$1" ||
    fail "SHOW CREATE of the owner's objects"
}
# behaviour: what the objects do (the function, the procedure, the trigger, the view).
behaviour() {
  owner -N -B -e "SELECT own.used_mb(1); CALL own.reset_box(2); INSERT INTO own.box (id, used_kb) VALUES (3, 7);
    SELECT id, used_kb, note FROM own.box ORDER BY id; SELECT id FROM own.big ORDER BY id;
    DELETE FROM own.box WHERE id = 3; UPDATE own.box SET used_kb = 250, note = 'second' WHERE id = 2"
}
defs "$WORK/before.def"
grep -c 'ANSI_QUOTES' "$WORK/before.def" | grep -qv '^0$' || fail "no object shows ANSI_QUOTES"
grep -q 'DEFINER="owner"@"localhost"' "$WORK/before.def" ||
  fail "no definer in double quotes: the test would not test what it says"
behaviour >"$WORK/before.run" || fail "the objects do not work before the backup"
record_before

step "an administrator backs up; the owner restores its database"
backup_all
mdb -e "DROP DATABASE own; CREATE DATABASE own" || fail "drop own"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --db own --mysql-defaults-file "$WORK/owner.cnf"
defs "$WORK/after.def"
compare_files "the owner's objects (SHOW CREATE, sql_mode, definer) before and after its restore" \
  "$WORK/before.def" "$WORK/after.def"
behaviour >"$WORK/after.run" || check_failed "the objects do not work after the owner's restore"
compare_files "what the objects do before and after the owner's restore" "$WORK/before.run" "$WORK/after.run"
same_as_before "the owner's restore"

step "an administrator restores the same snapshot"
mdb -e "DROP DATABASE own" || fail "drop own"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF"
defs "$WORK/admin.def"
compare_files "the owner's objects before and after the administrator's restore" "$WORK/before.def" "$WORK/admin.def"
same_as_before "the administrator's restore"
