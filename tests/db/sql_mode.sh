#!/usr/bin/env bash
# The server's global sql_mode must not shape the dump: under ANSI_QUOTES (part of ANSI and
# ORACLE) SHOW CREATE TABLE/DATABASE quote identifiers with '"', which the files' own
# SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO' does not parse, so a restore used to fail (error 1064)
# after dropping the database. Per global mode: the fixture backed up, dropped, restored;
# mariadb-dump and CHECKSUM TABLE identical before and after; `rewind dump` loads with the stock
# client (whose session starts in the global mode too). Routines, triggers and events keep the
# sql_mode they were created under (mariadb-dump shows it). Dates written under
# ALLOW_INVALID_DATES ('2020-02-31' in a DATE or DATETIME, also as a column's DEFAULT) come back
# as they were: loaded without that mode they became '0000-00-00', and the DEFAULT failed the
# restore after the database was dropped (error 1067). A routine created under
# NO_BACKSLASH_ESCAPES whose string ends in a backslash is restored (it failed after the DROP).
source "$(dirname "$0")/lib.sh" "$@"

start_server s1
load_fixture
# A routine created under a mode of its own: it must come back with that mode.
mdb -e "SET SESSION sql_mode='ANSI_QUOTES,PIPES_AS_CONCAT';
        CREATE FUNCTION mail_app.\"ansi_fn\"() RETURNS VARCHAR(20) DETERMINISTIC RETURN 'a' || 'b';"
# Under NO_BACKSLASH_ESCAPES a string may end in a backslash: restore's splitter took the
# quote after it for an escaped one, ran two routines together and failed after the DROP.
mdb -e "SET SESSION sql_mode='NO_BACKSLASH_ESCAPES';
        CREATE FUNCTION mail_app.nbe_fn() RETURNS VARCHAR(20) DETERMINISTIC RETURN 'ends in \\';
        DELIMITER ;;
        CREATE PROCEDURE mail_app.nbe_proc() BEGIN SELECT 'in \\'; SELECT 'x;y'; END ;;
        DELIMITER ;" || fail "the NO_BACKSLASH_ESCAPES routines"
nbe_hex=$(mdb -N -B -e "SELECT HEX(mail_app.nbe_fn())")
[[ $nbe_hex == 656E647320696E205C ]] || fail "nbe_fn() returns $nbe_hex, not 'ends in \\'"
mdb -e "SET SESSION sql_mode='ALLOW_INVALID_DATES';
        CREATE TABLE legacy.invalid_dates (id INT PRIMARY KEY, d DATE NOT NULL DEFAULT '2019-02-30',
          dt DATETIME(3), z DATE);
        INSERT INTO legacy.invalid_dates VALUES (1, '2020-02-31', '2021-04-31 12:34:56.789', '2020-00-15'),
          (2, '2020-02-29', '2020-02-29 00:00:00', '0000-00-00');
        INSERT INTO legacy.invalid_dates (id) VALUES (3);" || fail "the invalid dates"
invalid_dates() { mdb -N -B -e "SELECT id, d, dt, z FROM legacy.invalid_dates ORDER BY id"; }
invalid_dates >"$WORK/dates.txt"
grep -q "2020-02-31	2021-04-31 12:34:56.789" "$WORK/dates.txt" || fail "the server did not keep the invalid dates"
reference_dump "$WORK/before.sql"
checksums "$WORK/before.sum"
grep -q "ANSI_QUOTES" "$WORK/before.sql" || fail "the fixture's ansi_fn does not show its own sql_mode"
REPO=$WORK/repo
expect_rc 0 "$REWIND" init --repo "$REPO"

for mode in "ANSI,PAD_CHAR_TO_FULL_LENGTH" "ORACLE"; do
  step "global sql_mode=$mode: backup, drop, restore"
  mdb -e "SET GLOBAL sql_mode='$mode'"
  [[ $(mdb -N -B -e "SELECT @@SESSION.sql_mode") == *QUOTES* ]] || fail "the global mode did not take"
  expect_rc 0 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$MDB_CNF" --db-part-size 2M
  SNAP=$(last_line)
  drop_fixture
  expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF"
  invalid_dates >"$WORK/dates.after"
  compare_files "the invalid dates before and after (global $mode)" "$WORK/dates.txt" "$WORK/dates.after"
  reference_dump "$WORK/after.sql"
  checksums "$WORK/after.sum"
  compare_files "mariadb-dump before and after (global $mode)" "$WORK/before.sql" "$WORK/after.sql"
  compare_files "CHECKSUM TABLE before and after (global $mode)" "$WORK/before.sum" "$WORK/after.sum"
  [[ $(mdb -N -B -e "SELECT mail_app.ansi_fn()") == ab ]] || check_failed "ansi_fn lost its sql_mode"
  [[ $(mdb -N -B -e "SELECT HEX(mail_app.nbe_fn())") == "$nbe_hex" ]] || check_failed "nbe_fn() changed (global $mode)"

  step "global sql_mode=$mode: rewind dump | mariadb"
  drop_fixture
  for d in "${FIXTURE_DBS[@]}"; do
    expect_rc 0 "$REWIND" dump --repo "$REPO" "$SNAP" --db "$d"
    mdb <"$WORK/last.out" || check_failed "the stock client does not load rewind dump --db $d under global $mode"
  done
  invalid_dates >"$WORK/dates.after"
  compare_files "the invalid dates before and after dump|mariadb (global $mode)" "$WORK/dates.txt" "$WORK/dates.after"
  reference_dump "$WORK/after2.sql"
  checksums "$WORK/after2.sum"
  compare_files "mariadb-dump before and after dump|mariadb (global $mode)" "$WORK/before.sql" "$WORK/after2.sql"
  compare_files "CHECKSUM TABLE before and after dump|mariadb (global $mode)" "$WORK/before.sum" "$WORK/after2.sum"
done
