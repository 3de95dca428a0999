#!/usr/bin/env bash
# Views that name views of another database: `a`.report reads `b`.active, which reads a table of
# `b`; `b`.mirror reads `a`.base_view. Databases are loaded in name order, each with its views
# in dependency order, so `a`'s views come before the `b` view they need: restore runs a views
# file that fails again after the others. Backup, drop both, restore: every view answers, and
# mariadb-dump of both databases is identical before and after; so after a rollback-like
# restore over changed databases.
source "$(dirname "$0")/lib.sh" "$@"

start_server s1
mdb -e "CREATE DATABASE a; CREATE DATABASE b;
        CREATE TABLE b.t (id INT PRIMARY KEY, on_ BOOL); INSERT INTO b.t VALUES (1, 1), (2, 0), (3, 1);
        CREATE VIEW b.active AS SELECT id FROM b.t WHERE on_;
        CREATE TABLE a.base (id INT PRIMARY KEY); INSERT INTO a.base VALUES (7);
        CREATE VIEW a.base_view AS SELECT id FROM a.base;
        CREATE VIEW a.report AS SELECT COUNT(*) AS n FROM b.active;
        CREATE VIEW b.mirror AS SELECT id FROM a.base_view;"
both_dump() {
  mariadb-dump --defaults-file="$MDB_CNF" --skip-dump-date --hex-blob --order-by-primary --routines --events \
    --triggers --databases a b 2>/dev/null
}
both_dump >"$WORK/before.sql"
REPO=$WORK/repo
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$MDB_CNF"

step "both databases dropped, then restored"
mdb -e "DROP DATABASE a; DROP DATABASE b;"
expect_rc 0 "$REWIND" restore --repo "$REPO" latest --databases-only --mysql-defaults-file "$MDB_CNF"
[[ $(mdb -N -B -e "SELECT n FROM a.report") == 2 ]] || check_failed "a.report after the restore"
[[ $(mdb -N -B -e "SELECT id FROM b.mirror") == 7 ]] || check_failed "b.mirror after the restore"
both_dump >"$WORK/after.sql"
compare_files "mariadb-dump of a and b before and after" "$WORK/before.sql" "$WORK/after.sql"

step "changed databases (views dropped and redefined, rows changed), restored over"
mdb -e "DROP VIEW a.report; CREATE VIEW b.active2 AS SELECT 1; UPDATE b.t SET on_ = 0;
        CREATE OR REPLACE VIEW b.mirror AS SELECT 0 AS id;"
expect_rc 0 "$REWIND" restore --repo "$REPO" latest --databases-only --mysql-defaults-file "$MDB_CNF"
both_dump >"$WORK/after2.sql"
compare_files "mariadb-dump of a and b after the second restore" "$WORK/before.sql" "$WORK/after2.sql"
