#!/usr/bin/env bash
# `rewind dump --db NAME` writes SQL the stock mariadb client loads: loaded into a second, empty
# server, the fixture's databases give the same mariadb-dump output and CHECKSUM TABLE.
source "$(dirname "$0")/lib.sh" "$@"

start_server s1
load_fixture
reference_dump "$WORK/before.sql"
checksums "$WORK/before.sum"
CNF1=$MDB_CNF
REPO=$WORK/repo
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$CNF1" --db-part-size 2M
SNAP=$(last_line)

step "rewind dump of each database"
for d in "${FIXTURE_DBS[@]}"; do
  expect_rc 0 "$REWIND" dump --repo "$REPO" "$SNAP" --db "$d"
  cp "$WORK/last.out" "$WORK/dump-$d.sql"
  note "$d: $(wc -c <"$WORK/dump-$d.sql") bytes"
done
expect_rc 2 "$REWIND" dump --repo "$REPO" "$SNAP" --db nosuchdb
expect_err_contains "not in the snapshot"

start_server s2
step "load the dumps into the empty server with the stock client"
for d in "${FIXTURE_DBS[@]}"; do
  mdb <"$WORK/dump-$d.sql" || fail "mariadb < dump-$d.sql failed"
done
reference_dump "$WORK/after.sql"
checksums "$WORK/after.sum"
compare_files "mariadb-dump of the original and of the server loaded from rewind dump" "$WORK/before.sql" "$WORK/after.sql"
compare_files "CHECKSUM TABLE" "$WORK/before.sum" "$WORK/after.sum"

step "two servers in one snapshot (--db-label), restored each to its own server"
CNF2=$MDB_CNF
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases legacy,mail_app --mysql-defaults-file "$CNF1" --db-label icewarp \
  --mysql-defaults-file "$CNF2" --db-label yoda --json
TWO=$(json_get .snapshot_id)
[[ $(json_get '[.databases[].label] | join(",")') == "icewarp,yoda" ]] || check_failed "labels: $(json_get '[.databases[].label] | join(",")')"
expect_rc 2 "$REWIND" dump --repo "$REPO" "$TWO" --db legacy
expect_err_contains "--label"
expect_rc 0 "$REWIND" dump --repo "$REPO" "$TWO" --db legacy --label yoda
mariadb --defaults-file="$CNF2" -e "DROP DATABASE legacy"
mariadb --defaults-file="$CNF1" -e "DELETE FROM legacy.counters"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$TWO" --databases-only --db legacy \
  --mysql-defaults-file "$CNF2" --db-label yoda --label yoda
[[ $(mariadb --defaults-file="$CNF2" -N -B -e "SELECT COUNT(*) FROM legacy.counters") == 3 ]] || check_failed "legacy not restored on yoda"
[[ $(mariadb --defaults-file="$CNF1" -N -B -e "SELECT COUNT(*) FROM legacy.counters") == 0 ]] || check_failed "--label yoda touched icewarp"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$TWO" --databases-only --db legacy \
  --mysql-defaults-file "$CNF1" --db-label icewarp --mysql-defaults-file "$CNF2" --db-label yoda
[[ $(mariadb --defaults-file="$CNF1" -N -B -e "SELECT COUNT(*) FROM legacy.counters") == 3 ]] || check_failed "legacy not restored on icewarp"
