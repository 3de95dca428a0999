#!/usr/bin/env bash
# A value close to max_allowed_packet: a 10 MiB BLOB on a server with the stock 16M is a
# statement of 20 MiB in hex. The backup records the largest statement it wrote
# (snapshots --json: max_statement_bytes); the restore checks the server's max_allowed_packet
# before dropping anything and refuses, naming the size it needs, with every table as it was
# (it used to fail with "server has gone away" after emptying the table). With the setting
# raised the restore succeeds (the client's own limit is no obstacle) and CHECKSUM TABLE agrees.
# A rollback refuses the same way, before its safety snapshot and journal.
source "$(dirname "$0")/lib.sh" "$@"

step "start a private MariaDB server with max_allowed_packet=16M (the stock value)"
mariadb_start "$WORK/s1" --max-allowed-packet=16M || fail "could not start MariaDB"
[[ $(mdb -N -B -e "SELECT @@GLOBAL.max_allowed_packet") == 16777216 ]] || fail "max_allowed_packet is not 16M"
mdb -e "CREATE DATABASE big; CREATE TABLE big.b (id INT PRIMARY KEY, v LONGBLOB);
        CREATE TABLE big.small (id INT PRIMARY KEY);
        INSERT INTO big.b VALUES (1, REPEAT(x'A5', 10485760)), (2, x'00');
        INSERT INTO big.small VALUES (1), (2);"
sums() { mdb -N -B -e "CHECKSUM TABLE big.b, big.small EXTENDED"; }
sums >"$WORK/before.sum"
REPO=$WORK/repo
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases big --mysql-defaults-file "$MDB_CNF"
SNAP=$(last_line)
expect_rc 0 "$REWIND" snapshots --repo "$REPO" --json
largest=$(jq -r '.[0].databases[0].max_statement_bytes' "$WORK/last.out")
note "largest statement: $largest bytes"
((largest > 20971520 && largest < 22020096)) || check_failed "max_statement_bytes $largest: not the 20 MiB hex row"

step "restore refuses before touching anything, naming the size it needs"
mdb -e "INSERT INTO big.small VALUES (3)"
expect_rc 2 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF"
expect_err_contains "max_allowed_packet is 16777216 bytes (16 MiB)"
expect_err_contains "needs max_allowed_packet of at least"
expect_err_contains "nothing was changed"
[[ $(mdb -N -B -e "SELECT COUNT(*) FROM big.small") == 3 ]] || check_failed "big.small was touched by the refused restore"
[[ $(mdb -N -B -e "SELECT LENGTH(v) FROM big.b WHERE id = 1") == 10485760 ]] || check_failed "big.b was touched by the refused restore"

step "rollback refuses too, before it changes anything (no safety snapshot, no journal to resume)"
nsnap=$(ls "$REPO/snapshots" | wc -l)
expect_rc 2 "$REWIND" rollback --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF" --yes
expect_err_contains "nothing was changed"
[[ $(grep -o "nothing was" "$WORK/last.err" | wc -l) == 1 ]] || check_failed "the refusal says \"nothing was …\" more than once"
expect_err_contains "needs max_allowed_packet of at least"
grep -q -- "--resume" "$WORK/last.err" && check_failed "the refused rollback left something to resume"
[[ $(ls "$REPO/snapshots" | wc -l) == "$nsnap" ]] || check_failed "the refused rollback made a safety snapshot"
[[ $(mdb -N -B -e "SELECT COUNT(*) FROM big.small") == 3 ]] || check_failed "big.small was touched by the refused rollback"
# The dry run exits as the rollback would: 2.
expect_rc 2 "$REWIND" rollback --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF" --dry-run
expect_err_contains "the rollback would be refused"

step "max_allowed_packet raised to what the message names: the restore succeeds"
need=$(grep -o 'SET GLOBAL max_allowed_packet=[0-9]*' "$WORK/last.err" | head -n1 | cut -d= -f2)
[[ -n $need ]] || fail "the message names no size"
mdb -e "SET GLOBAL max_allowed_packet=$need"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF"
sums >"$WORK/after.sum"
compare_files "CHECKSUM TABLE before and after" "$WORK/before.sum" "$WORK/after.sum"
