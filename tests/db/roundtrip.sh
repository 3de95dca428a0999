#!/usr/bin/env bash
# Round trip: the fixture (every type and object) is backed up with --databases all, dropped,
# restored with restore --databases-only; mariadb-dump before and after is identical and
# CHECKSUM TABLE agrees for every table (every sequence's state too, cycle count included).
# Also: --db restores one database alone, the snapshot lists its databases, the large table was
# dumped in parts, verify --read-data is clean; a restore is refused, changing nothing, while a
# client is connected to a database it would drop.
source "$(dirname "$0")/lib.sh" "$@"

start_server s1
load_fixture
# A CYCLE sequence that has wrapped once: its cycle count came back as 0 (checksums shows it).
mdb -e "CREATE SEQUENCE mail_app.wrap_seq MINVALUE 1 MAXVALUE 3 CACHE 0 CYCLE;
        DO NEXTVAL(mail_app.wrap_seq), NEXTVAL(mail_app.wrap_seq), NEXTVAL(mail_app.wrap_seq),
           NEXTVAL(mail_app.wrap_seq);" || fail "wrap_seq"
[[ $(mdb -N -B -e "SELECT cycle_count FROM mail_app.wrap_seq") == 1 ]] || fail "wrap_seq did not wrap"
reference_dump "$WORK/before.sql"
checksums "$WORK/before.sum"
note "reference: $(wc -l <"$WORK/before.sql") lines of mariadb-dump, $(wc -l <"$WORK/before.sum") tables"

step "backup --databases all (3 connections, parts of 1 MiB)"
REPO=$WORK/repo
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$MDB_CNF" \
  --db-threads 3 --db-part-size 1M --tag pre-epos --json
SNAP=$(json_get .snapshot_id)
[[ $(json_get '.databases[0].databases | join(",")') == "empty_db,legacy,mail_app,my db-2026" ]] ||
  check_failed "databases dumped: $(json_get '.databases[0].databases | join(",")')"
[[ $(json_get '.databases[0].server_version') == *MariaDB* ]] || check_failed "no server version recorded"
[[ $(json_get .db_rows) -ge 120000 ]] || check_failed "rows dumped: $(json_get .db_rows)"
if grep -qF "$(sed -n 's/^password=//p' "$MDB_CNF")" "$REPO"/snapshots/*; then check_failed "the password is in the snapshot"; fi

step "the snapshot shows its databases; the 120k-row table is in parts"
expect_rc 0 "$REWIND" snapshots --repo "$REPO" --json
[[ $(jq -r '.[0].databases[0].label' "$WORK/last.out") == default ]] || check_failed "snapshots --json lacks databases"
expect_rc 0 "$REWIND" ls --repo "$REPO" "$SNAP" databases/default/mail_app
for f in schema.sql routines.sql views.sql triggers.sql events.sql data/types.sql data/messages.000001.sql \
  data/messages%2E000001.sql; do
  grep -qF "databases/default/mail_app/$f" "$WORK/last.out" || check_failed "ls lacks mail_app/$f"
done
parts=$(grep -c 'data/messages\.[0-9]*\.sql' "$WORK/last.out" || :)
note "messages dumped in $parts parts"
((parts >= 4)) || check_failed "the large table was not split (parts: $parts)"

step "a client still connected to mail_app: restore --databases-only refused, nothing changed"
mkfifo "$WORK/client.in"
mariadb --defaults-file="$MDB_CNF" mail_app <"$WORK/client.in" >/dev/null 2>&1 &
CLIENT=$!
BG_PIDS+=" $CLIENT"
exec 7>"$WORK/client.in"  # its input stays open: it waits, connected
for ((i = 0; i < 100; i++)); do
  [[ $(mdb -N -B -e "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB='mail_app'") -ge 1 ]] && break
  sleep 0.05
done
mdb -e "CREATE TABLE mail_app.after_backup (x INT PRIMARY KEY); INSERT INTO mail_app.after_backup VALUES (1)" ||
  fail "the table made after the backup"
checksums "$WORK/late.sum"
expect_rc 2 "$REWIND" restore --repo "$REPO" pre-epos --databases-only --mysql-defaults-file "$MDB_CNF"
expect_err_contains "1 connection uses databases of server"
expect_err_contains "in \`mail_app\` (Sleep"
expect_err_contains "nothing was changed"
checksums "$WORK/refused.sum"
compare_files "CHECKSUM TABLE after the refused restore" "$WORK/late.sum" "$WORK/refused.sum"
# --db of another database: that one is not in use.
expect_rc 0 "$REWIND" restore --repo "$REPO" pre-epos --databases-only --db legacy --mysql-defaults-file "$MDB_CNF"
exec 7>&-  # the client disconnects
wait "$CLIENT" 2>/dev/null || :
[[ $(mdb -N -B -e "SELECT COUNT(*) FROM mail_app.after_backup") == 1 ]] || check_failed "the refused restore dropped mail_app"
mdb -e "DROP TABLE mail_app.after_backup"

step "drop every fixture database, restore --databases-only"
drop_fixture
expect_rc 0 "$REWIND" restore --repo "$REPO" pre-epos --databases-only --mysql-defaults-file "$MDB_CNF" --db-threads 3
reference_dump "$WORK/after.sql"
checksums "$WORK/after.sum"
compare_files "mariadb-dump before and after the round trip" "$WORK/before.sql" "$WORK/after.sql"
compare_files "CHECKSUM TABLE before and after" "$WORK/before.sum" "$WORK/after.sum"
# The trigger must not have fired on restored rows.
[[ $(mdb -N -B -e "SELECT COUNT(*) FROM mail_app.audit_log") == 1 ]] || check_failed "audit_log grew: a trigger fired"

step "restore --db legacy alone, after changing it and another database"
mdb -e "DELETE FROM legacy.counters; DROP TABLE legacy.sessions; INSERT INTO \`my db-2026\`.notes (txt) VALUES ('kept')"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --db legacy --mysql-defaults-file "$MDB_CNF"
[[ $(mdb -N -B -e "SELECT COUNT(*) FROM legacy.counters") == 3 ]] || check_failed "legacy.counters not restored"
[[ $(mdb -N -B -e "SELECT COUNT(*) FROM legacy.sessions") == 3 ]] || check_failed "legacy.sessions not restored"
[[ $(mdb -N -B -e "SELECT COUNT(*) FROM \`my db-2026\`.notes") == 4 ]] || check_failed "--db legacy touched another database"
expect_rc 2 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --db nosuchdb --mysql-defaults-file "$MDB_CNF"
expect_err_contains "nosuchdb"

step "verify --read-data"
expect_rc 0 "$REWIND" verify --repo "$REPO" --read-data
