# Shared helpers for the database tests (tests/db/*.sh), on top of tests/e2e/lib.sh.
#   usage of a test: bash tests/db/NAME.sh /path/to/rewind /path/to/rewind-demo-gen
# Each test starts its own MariaDB servers (tests/db/mariadb.sh) in its mktemp -d and stops
# them on exit. Exit 77 (skipped) only when mariadbd or the client tools are absent.
DB_TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../e2e/lib.sh
source "$DB_TESTS/../e2e/lib.sh"
# shellcheck source=mariadb.sh
source "$DB_TESTS/mariadb.sh"
trap '_db_rc=$?; mariadb_stop_all; set +e; (exit $_db_rc); _cleanup' EXIT

mariadb_have || skip "needs mariadbd (Debian package mariadb-server, see tests/PACKAGES)"
need_tools mariadb mariadb-dump mariadb-admin mariadb-install-db jq python3

FIXTURE=$DB_TESTS/fixture.sql
FIXTURE_DBS=(empty_db legacy mail_app "my db-2026")

# start_server NAME: a fresh server in $WORK/NAME; sets MDB_* (mariadb.sh) for it.
start_server() {
  step "start a private MariaDB server ($1)"
  mariadb_start "$WORK/$1" || fail "could not start MariaDB"
  note "mariadbd pid $MDB_PID, socket $MDB_SOCK, port $MDB_PORT"
}

# load_fixture: the fixture into the current server, with the stock client.
load_fixture() {
  step "load the fixture (tests/db/fixture.sql) with the stock client"
  mdb <"$FIXTURE" || fail "the fixture does not load"
}

# reference_dump OUT [CNF]: the independent oracle, mariadb-dump of the fixture's databases.
reference_dump() {
  local out=$1 cnf=${2:-$MDB_CNF}
  mariadb-dump --defaults-file="$cnf" --skip-dump-date --routines --events --triggers --hex-blob \
    --order-by-primary --databases "${FIXTURE_DBS[@]}" >"$out" || fail "mariadb-dump failed"
}

# checksums OUT [CNF]: "db.table<TAB>checksum" for every base table of the databases in
# FIXTURE_DBS, and every sequence's whole state (next value, bounds, cache, cycle option and
# cycle count: mariadb-dump shows only where it stands).
checksums() {
  local out=$1 cnf=${2:-$MDB_CNF} list sql="" d dbs=""
  for d in "${FIXTURE_DBS[@]}"; do dbs+="${dbs:+,}'${d//\'/\'\'}'"; done
  list=$(mariadb --defaults-file="$cnf" -N -B -e "SELECT TABLE_TYPE, CONCAT('\`', REPLACE(TABLE_SCHEMA,'\`','\`\`'), '\`.\`',
           REPLACE(TABLE_NAME,'\`','\`\`'), '\`') FROM information_schema.TABLES WHERE TABLE_TYPE IN ('BASE TABLE', 'SEQUENCE')
           AND TABLE_SCHEMA IN ($dbs) ORDER BY TABLE_SCHEMA, TABLE_NAME")
  while IFS=$'\t' read -r type t; do
    [[ -z $t ]] && continue
    if [[ $type == SEQUENCE ]]; then
      sql+="SELECT '$t', s.* FROM $t s;"
    else
      sql+="CHECKSUM TABLE $t EXTENDED;"
    fi
  done <<<"$list"
  mariadb --defaults-file="$cnf" -N -B -e "$sql" | sort >"$out"
  [[ -s $out ]] || fail "no checksums"
}

# record_before: the oracles of the fixture's databases now ($WORK/before.sql, before.sum).
record_before() {
  reference_dump "$WORK/before.sql"
  checksums "$WORK/before.sum"
}

# same_as_before WHAT: mariadb-dump and CHECKSUM TABLE now equal those of record_before.
same_as_before() {
  reference_dump "$WORK/after.sql"
  checksums "$WORK/after.sum"
  compare_files "mariadb-dump before and after ($1)" "$WORK/before.sql" "$WORK/after.sql"
  compare_files "CHECKSUM TABLE before and after ($1)" "$WORK/before.sum" "$WORK/after.sum"
}

# backup_all: a new repository $REPO and a backup of every database in it (its id in $SNAP).
backup_all() {
  REPO=$WORK/repo
  expect_rc 0 "$REWIND" init --repo "$REPO"
  expect_rc 0 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$MDB_CNF"
  SNAP=$(last_line)
}

# backup_drop_restore DB: backup_all, database DB dropped, then restore --databases-only.
backup_drop_restore() {
  step "backup, drop the database, restore --databases-only"
  backup_all
  mdb -e "DROP DATABASE \`$1\`" || fail "drop $1"
  expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --databases-only --mysql-defaults-file "$MDB_CNF"
}

# make_owner: database `own` and an account owner@localhost with every privilege on it and no
# other; its client options in $WORK/owner.cnf.
make_owner() {
  mdb <<'SQL' || fail "the owner"
CREATE DATABASE own;
CREATE USER owner@localhost IDENTIFIED BY 'owner-pw';
GRANT ALL ON own.* TO owner@localhost;
SQL
  printf '[client]\nsocket=%s\nuser=owner\npassword=owner-pw\n' "$MDB_SOCK" >"$WORK/owner.cnf"
}

# drop_fixture [CNF]: drops the fixture's databases.
drop_fixture() {
  local cnf=${1:-$MDB_CNF} d
  for d in "${FIXTURE_DBS[@]}"; do
    mariadb --defaults-file="$cnf" -e "DROP DATABASE IF EXISTS \`$d\`" || fail "drop $d"
  done
}
