#!/usr/bin/env bash
# Routines, triggers, events and views created from a latin1 client (older IceWarp sites) with
# non-ASCII text come back byte for byte: the server keeps their definitions in the creating
# client's character set and replays them under it, so a dump that read them converted to
# utf8mb4 double-encoded every such character (a procedure returned "cafÃ©", a trigger stored
# wrong bytes in every new row). Backed up, dropped, restored, then again through
# `rewind dump | mariadb`: mariadb-dump identical, and the objects behave the same (HEX() of what
# the procedure and function return, of what the trigger stores, of the view's column, and of
# the routine and event comments, which the server keeps in utf8 whatever the client). Also, in
# cs2 (restore only), a function from an sjis client whose string ends in 95 5C ('表'), and one
# after it.
source "$(dirname "$0")/lib.sh" "$@"
FIXTURE_DBS=(cs1)

start_server s1
step "create a procedure, a function, a trigger, an event and a view from a latin1 client"
mdb -e "CREATE DATABASE cs1 CHARACTER SET utf8mb4;
        CREATE TABLE cs1.t (id INT PRIMARY KEY, v VARCHAR(50)) CHARSET utf8mb4;
        INSERT INTO cs1.t VALUES (1, 'a')" || fail "create cs1"
# \xe9 é, \xef ï, \xa7 §, \xe0 à: latin1 bytes, as such a client sends them.
printf '%b' 'USE cs1;\nDELIMITER ;;\n' \
  'CREATE PROCEDURE p_l1() COMMENT "r\xe9sum\xe9" BEGIN SELECT "caf\xe9" AS b; END;;\n' \
  'CREATE PROCEDURE p_quote() COMMENT "l\x27\xe9t\xe9 \\\\ fin" SELECT 1;;\n' \
  'CREATE FUNCTION f_l1() RETURNS VARCHAR(20) DETERMINISTIC RETURN "na\xefve";;\n' \
  'CREATE TRIGGER tr_l1 BEFORE INSERT ON t FOR EACH ROW SET NEW.v = CONCAT(NEW.v, "\xa7");;\n' \
  'CREATE EVENT ev_l1 ON SCHEDULE EVERY 1 DAY STARTS "2030-01-01 00:00:00" DISABLE COMMENT "\xe9v\xe9nement" DO INSERT INTO t VALUES (99, "\xe9t\xe9");;\n' \
  'CREATE VIEW v_l1 AS SELECT "d\xe9j\xe0" AS col;;\n' |
  mariadb --defaults-file="$MDB_CNF" --default-character-set=latin1 || fail "the latin1 client could not create the objects"
# From an sjis client, in cs2: '表' is 95 5C, its second byte a backslash to anything that reads
# bytes (restore's splitter ran the function on into the next one, and the restore failed). The
# stock client reads the file so too, as it does mariadb-dump's (error 1064): cs2 is left out of
# the `rewind dump | mariadb` step.
mdb -e "CREATE DATABASE cs2 CHARACTER SET utf8mb4" || fail "create cs2"
printf '%b' 'USE cs2;\n' \
  'CREATE FUNCTION f_sjis() RETURNS VARCHAR(10) CHARSET sjis DETERMINISTIC RETURN "\x95\x5c";\n' \
  'CREATE FUNCTION f_after() RETURNS INT DETERMINISTIC RETURN 7;\n' |
  mariadb --defaults-file="$MDB_CNF" --default-character-set=sjis || fail "the sjis client could not create the functions"
sjis() { mdb -N -B -e "SELECT HEX(cs2.f_sjis()), cs2.f_after()"; }
[[ $(sjis) == "955C	7" ]] || fail "fixture: f_sjis() is not 95 5C: $(sjis)"

# behaviour OUT: what the objects do, as hex (the trigger's row is rolled back).
behaviour() {
  mdb --default-character-set=utf8mb4 -N -B -e "CALL cs1.p_l1()" | od -An -tx1 | tr -d ' \n' >"$1"
  echo >>"$1"
  mdb -N -B -e "SELECT HEX(cs1.f_l1());
    START TRANSACTION; INSERT INTO cs1.t VALUES (2, 'b'); SELECT HEX(v) FROM cs1.t WHERE id = 2; ROLLBACK;
    SELECT HEX(col) FROM cs1.v_l1;
    SELECT ROUTINE_NAME, HEX(ROUTINE_COMMENT) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'cs1' ORDER BY 1;
    SELECT HEX(EVENT_COMMENT), HEX(EVENT_DEFINITION), CHARACTER_SET_CLIENT FROM information_schema.EVENTS WHERE EVENT_SCHEMA = 'cs1';
    SELECT HEX(ACTION_STATEMENT), CHARACTER_SET_CLIENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'cs1'" >>"$1" ||
    fail "the objects of cs1 do not run"
}
behaviour "$WORK/before.beh"
reference_dump "$WORK/before.sql"
# The objects are what a latin1 site has: the procedure returns "café" (utf8mb4 in the result),
# the trigger appends "§" (C2A7 in the utf8mb4 column), the comments are "résumé", "événement".
head -c 12 "$WORK/before.beh" | grep -qx '636166c3a90a' ||
  fail "fixture: p_l1 does not return café: $(head -n 1 "$WORK/before.beh")"
grep -qx '62C2A7' "$WORK/before.beh" || fail "fixture: the trigger does not append §"
grep -q 'C3A976C3A96E656D656E74' "$WORK/before.beh" || fail "fixture: the event comment is not événement"
note "before: $(tr '\n' ' ' <"$WORK/before.beh" | cut -c1-150)…"

REPO=$WORK/repo
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases cs1,cs2 --mysql-defaults-file "$MDB_CNF"
SNAP=$(last_line)
if grep -q 'mis-encoded' "$WORK/last.err"; then check_failed "the backup left a comment mis-encoded: $(grep 'mis-encoded' "$WORK/last.err")"; fi

step "drop cs1 and cs2, restore --databases-only"
mdb -e "DROP DATABASE cs1; DROP DATABASE cs2"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF"
[[ $(sjis) == "955C	7" ]] || check_failed "cs2's functions after the restore: $(sjis)"
reference_dump "$WORK/after.sql"
behaviour "$WORK/after.beh"
compare_files "mariadb-dump before and after the restore" "$WORK/before.sql" "$WORK/after.sql"
compare_files "behaviour (hex) before and after the restore" "$WORK/before.beh" "$WORK/after.beh"

step "drop cs1, rewind dump --db cs1 | mariadb"
mdb -e "DROP DATABASE cs1"
expect_rc 0 "$REWIND" dump --repo "$REPO" "$SNAP" --db cs1
mdb <"$WORK/last.out" || check_failed "the stock client does not load rewind dump --db cs1"
reference_dump "$WORK/after2.sql"
behaviour "$WORK/after2.beh"
compare_files "mariadb-dump before and after dump | mariadb" "$WORK/before.sql" "$WORK/after2.sql"
compare_files "behaviour (hex) before and after dump | mariadb" "$WORK/before.beh" "$WORK/after2.beh"
