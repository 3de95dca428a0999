#!/usr/bin/env bash
# A server whose global autocommit is off (autocommit=0 in my.cnf: each new session starts a
# transaction that only COMMIT ends): the restore's sessions must commit what they load. They
# ran the data's INSERTs in a transaction never committed, which the server rolled back when
# the restore disconnected: the restore said it was done, and the tables were empty.
# The fixture is loaded under the default, then autocommit is switched off globally, and the
# databases are backed up, dropped and restored: mariadb-dump and CHECKSUM TABLE identical.
# (Before the fix the parallel sessions' open transactions also blocked each other: the restore
# failed after the drop with a lock wait timeout, error 1205.)
source "$(dirname "$0")/lib.sh" "$@"

start_server s1
load_fixture
record_before
REPO=$WORK/repo
expect_rc 0 "$REWIND" init --repo "$REPO"

step "global autocommit=0: backup, drop, restore (4 threads)"
mdb -e "SET GLOBAL autocommit=0"
[[ $(mdb -N -B -e "SELECT @@SESSION.autocommit") == 0 ]] || fail "the global autocommit did not take"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$MDB_CNF" --db-part-size 2M
SNAP=$(last_line)
drop_fixture
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF" --db-threads 4
rows=$(mdb -N -B -e "SELECT COUNT(*) FROM mail_app.messages")
note "mail_app.messages: $rows rows after the restore"
same_as_before "global autocommit=0"
