#!/bin/bash
# Rollback of files and databases together, end to end (the issue's scenario), on the demo
# installation and a private MariaDB (tests/db/mariadb.sh), with bsdtar mtree listings and
# mariadb-dump as the independent oracles:
#   1. demo installation + databases `icewarp` and `webmail` (tables, a view, a trigger, rows)
#      + tests/db/fixture.sql; backup --profile icewarp --databases all --tag pre
#   2. simulated upgrade: the files (lib_rollback.sh: changed, added, deleted, file→dir, new mail
#      and logs, …) and the databases (ADD COLUMN, a new table, a dropped table, a dropped view,
#      changed rows, a dropped database, a new database `epos_new`)
#   3. rollback --dry-run changes nothing (mtree, mariadb-dump) and names epos_new as left alone
#   4. rollback pre --yes --mysql-defaults-file: mtree outside the excluded folders and
#      mariadb-dump equal the state before the upgrade; the excluded folders are as the upgrade
#      left them; `epos_new` (created after the snapshot) is left alone and the output names it
#   5. rollback to the safety snapshot (tag rollback-safety) gives the upgraded files and
#      databases back
# Before 4: with a client still connected to one of the snapshot's databases, the rollback (and
# its --dry-run) refuses, naming the connection, and changes nothing.
# After 5: a session with no default database and a transaction left open on webmail.contacts:
# the rollback (and its --dry-run) refuses, naming the session, and changes nothing; under
# --allow-running the databases step stops after its lock wait, and --resume finishes it. Then a
# prepared XA transaction holding a row of webmail.contacts: refused the same way.
# usage: rollback_db.sh REWIND DEMO_GEN
# shellcheck source=../db/lib.sh
source "$(dirname "$0")/../db/lib.sh" "$@"
# shellcheck source=lib_rollback.sh
source "$(dirname "$0")/lib_rollback.sh"
need_root
need_tools bsdtar setfattr

SRC=$WORK/opt/icewarp
REPO=$WORK/repo
# The databases of the snapshot: the two IceWarp-like ones and the fixture's.
SNAP_DBS=(icewarp webmail "${FIXTURE_DBS[@]}")

# dbdump OUT DB...: the oracle, mariadb-dump of the given databases.
dbdump() {
  local out=$1
  shift
  mariadb-dump --defaults-file="$MDB_CNF" --skip-dump-date --routines --events --triggers --hex-blob \
    --order-by-primary --databases "$@" >"$out" || fail "mariadb-dump $* failed"
}
# user_dbs: the databases on the server, system schemas aside, one per line.
user_dbs() {
  mdb -N -B -e "SHOW DATABASES" |
    grep -Ev '^(information_schema|performance_schema|mysql|sys)$' | LC_ALL=C sort
}
# newest_safety: id of the newest snapshot tagged rollback-safety.
newest_safety() {
  snapshot_list "$REPO" >"$WORK/snaps.json"
  jq -er '[.[] | select((.tags // []) | index("rollback-safety"))] | sort_by(.time // .time_ns // 0)
          | last | .id' "$WORK/snaps.json"
}

step "start a private MariaDB server"
# Its own tmpdir: internal temporary tables of a server in the shared /tmp were seen deleted
# under it while other tests ran ("Error on delete of '/tmp/#sql-temptable-…'").
mkdir -p "$WORK/s1/tmp"
mariadb_start "$WORK/s1" --tmpdir="$WORK/s1/tmp" || fail "could not start MariaDB"
note "mariadbd pid $MDB_PID, socket $MDB_SOCK, port $MDB_PORT"
step "databases: icewarp and webmail (tables, a view, a trigger, rows) + tests/db/fixture.sql"
mdb <<'SQL' || fail "could not create the icewarp/webmail databases"
CREATE DATABASE icewarp DEFAULT CHARACTER SET utf8mb4;
USE icewarp;
CREATE TABLE domains (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL UNIQUE,
  created DATETIME NOT NULL
) ENGINE=InnoDB;
CREATE TABLE accounts (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  domain_id INT UNSIGNED NOT NULL,
  login VARCHAR(64) NOT NULL,
  quota_mb INT NOT NULL DEFAULT 1024,
  CONSTRAINT fk_accounts_domain FOREIGN KEY (domain_id) REFERENCES domains (id),
  UNIQUE KEY u_login (domain_id, login)
) ENGINE=InnoDB;
CREATE TABLE audit (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  what VARCHAR(200) NOT NULL
) ENGINE=InnoDB;
CREATE TABLE legacy_stats (day DATE NOT NULL PRIMARY KEY, msgs INT NOT NULL) ENGINE=InnoDB;
CREATE TRIGGER accounts_ai AFTER INSERT ON accounts FOR EACH ROW
  INSERT INTO audit (what) VALUES (CONCAT('new account ', NEW.login));
INSERT INTO domains (name, created) VALUES
  ('domain0.example', '2024-01-02 03:04:05'), ('domain1.example', '2024-02-03 04:05:06');
INSERT INTO accounts (domain_id, login, quota_mb) VALUES
  (1, 'admin', 4096), (1, 'alice', 1024), (1, 'bob', 2048), (2, 'carol', 1024), (2, 'dave', 512);
INSERT INTO legacy_stats VALUES ('2024-05-01', 120), ('2024-05-02', 98), ('2024-05-03', 143);
CREATE VIEW v_accounts AS
  SELECT CONCAT(a.login, '@', d.name) AS address, a.quota_mb FROM accounts a JOIN domains d ON d.id = a.domain_id;

CREATE DATABASE webmail DEFAULT CHARACTER SET utf8mb4;
USE webmail;
CREATE TABLE contacts (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  owner VARCHAR(128) NOT NULL,
  name VARCHAR(200) NOT NULL,
  email VARCHAR(255) NOT NULL,
  KEY k_owner (owner)
) ENGINE=InnoDB;
CREATE TABLE settings (owner VARCHAR(128) NOT NULL PRIMARY KEY, json_blob JSON) ENGINE=InnoDB;
INSERT INTO contacts (owner, name, email) VALUES
  ('alice@domain0.example', 'Bob', 'bob@domain0.example'),
  ('alice@domain0.example', 'Zoë Ünicode', 'zoe@example.org'),
  ('carol@domain1.example', 'Dave', 'dave@domain1.example');
INSERT INTO settings VALUES ('alice@domain0.example', '{"theme": "dark", "lang": "en"}');
CREATE VIEW v_contact_count AS SELECT owner, COUNT(*) AS n FROM contacts GROUP BY owner;
SQL
t0=$(date +%s.%N)
load_fixture
note "fixture loaded in $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)") s"

step "demo installation (scale 0.2, seed 5); backup --profile icewarp --databases all --tag pre"
"$DEMO_GEN" --out "$SRC" --scale 0.2 --seed 5 >/dev/null
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --profile icewarp --databases all \
  --mysql-defaults-file "$MDB_CNF" --tag pre --json
PRE=$(json_get .snapshot_id)
dumped=$(json_get '.databases[0].databases | join(",")')
[[ $dumped == "$(printf '%s\n' "${SNAP_DBS[@]}" | LC_ALL=C sort | paste -sd,)" ]] ||
  check_failed "databases dumped: $dumped"
mtree_kept "$SRC" "$WORK/pre-kept.mtree"
dbdump "$WORK/pre.sql" "${SNAP_DBS[@]}"
note "snapshot ${PRE:0:12}: $(wc -l <"$WORK/pre-kept.mtree") entries outside the excluded folders; databases $dumped"

step "simulated upgrade: files, and the databases"
simulate_upgrade "$SRC"
mdb <<'SQL' || fail "the database part of the upgrade failed"
ALTER TABLE icewarp.accounts ADD COLUMN epos_flags INT NOT NULL DEFAULT 0;
UPDATE icewarp.accounts SET quota_mb = quota_mb * 2, epos_flags = 1 WHERE domain_id = 1;
DELETE FROM icewarp.accounts WHERE login = 'dave';
INSERT INTO icewarp.accounts (domain_id, login, epos_flags) VALUES (2, 'epos-service', 7);
CREATE TABLE icewarp.epos_sessions (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, account_id INT UNSIGNED NOT NULL, token CHAR(32)
) ENGINE=InnoDB;
INSERT INTO icewarp.epos_sessions (account_id, token) VALUES (1, MD5('a')), (2, MD5('b'));
DROP TABLE icewarp.legacy_stats;
DROP VIEW webmail.v_contact_count;
UPDATE webmail.contacts SET email = 'bob@new.example' WHERE name = 'Bob';
UPDATE webmail.settings SET json_blob = '{"theme": "epos"}';
DROP DATABASE legacy;
CREATE DATABASE epos_new;
CREATE TABLE epos_new.jobs (id INT NOT NULL PRIMARY KEY, what VARCHAR(64)) ENGINE=InnoDB;
INSERT INTO epos_new.jobs VALUES (1, 'index mailboxes'), (2, 'migrate calendars');
SQL
mtree "$SRC" >"$WORK/upgraded-all.mtree"
mtree_excluded "$SRC" "$WORK/upgraded-excluded.mtree"
mtree_kept "$SRC" "$WORK/upgraded-kept.mtree"
cmp -s "$WORK/pre-kept.mtree" "$WORK/upgraded-kept.mtree" && fail "the upgrade changed nothing mtree sees"
user_dbs >"$WORK/upgraded.dbs"
mapfile -t UPG_DBS <"$WORK/upgraded.dbs"
dbdump "$WORK/upgraded.sql" "${UPG_DBS[@]}"
dbdump "$WORK/epos_new.sql" epos_new
note "$(wc -l <"$WORK/expected.diff") file changes; databases now: ${UPG_DBS[*]}"

step "rollback --dry-run changes nothing (files and databases)"
nsnap=$(snapshot_count "$REPO")
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --dry-run --mysql-defaults-file "$MDB_CNF"
grep -v '^  ' "$WORK/last.out" | sed 's/^/     /'   # the summary and the section headers
grep -q 'left alone: epos_new$' "$WORK/last.out" ||
  check_failed "--dry-run does not name epos_new (created after the snapshot) as left alone"
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --dry-run --json --mysql-defaults-file "$MDB_CNF"
python3 - "$WORK/last.out" <<'PY' || check_failed "--dry-run --json: databases[].left_alone is not [epos_new]"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if [s["left_alone"] for s in d["databases"]] == [["epos_new"]] else 1)
PY
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --dry-run --databases-only --mysql-defaults-file "$MDB_CNF"
[[ $(head -n 1 "$WORK/last.out") == "rollback of the databases to snapshot "* ]] ||
  check_failed "--dry-run --databases-only does not say it rolls back the databases: $(head -n 1 "$WORK/last.out")"
mtree "$SRC" >"$WORK/after-dry.mtree"
compare_files "mtree before and after --dry-run" "$WORK/upgraded-all.mtree" "$WORK/after-dry.mtree"
user_dbs >"$WORK/after-dry.dbs"
compare_files "databases before and after --dry-run" "$WORK/upgraded.dbs" "$WORK/after-dry.dbs"
dbdump "$WORK/after-dry.sql" "${UPG_DBS[@]}"
compare_files "mariadb-dump before and after --dry-run" "$WORK/upgraded.sql" "$WORK/after-dry.sql"
[[ $(snapshot_count "$REPO") == "$nsnap" ]] || check_failed "--dry-run added a snapshot"

step "a client still connected to a database of the snapshot: refused, nothing changed"
# IceWarp on another host sharing the server keeps such connections (idle, a database chosen).
mkfifo "$WORK/client.in"
mariadb --defaults-file="$MDB_CNF" icewarp <"$WORK/client.in" >/dev/null 2>&1 &
CLIENT=$!
BG_PIDS+=" $CLIENT"
exec 7>"$WORK/client.in"  # the client's standard input stays open: it waits, connected
for ((i = 0; i < 100; i++)); do
  [[ $(mdb -N -B -e "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB='icewarp'") -ge 1 ]] && break
  sleep 0.05
done
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --yes --mysql-defaults-file "$MDB_CNF"
expect_err_contains "1 connection uses databases of server"
expect_err_contains "in \`icewarp\` (Sleep"
expect_err_contains "nothing was changed"
mtree "$SRC" >"$WORK/after-refusal.mtree"
compare_files "mtree before and after the refusal" "$WORK/upgraded-all.mtree" "$WORK/after-refusal.mtree"
dbdump "$WORK/after-refusal.sql" "${UPG_DBS[@]}"
compare_files "mariadb-dump before and after the refusal" "$WORK/upgraded.sql" "$WORK/after-refusal.sql"
[[ $(snapshot_count "$REPO") == "$nsnap" ]] || check_failed "the refused rollback added a snapshot"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --dry-run --mysql-defaults-file "$MDB_CNF"
expect_err_contains "the rollback would be refused: 1 connection uses databases"
exec 7>&-  # end of its input: the client disconnects and exits
wait "$CLIENT" 2>/dev/null || :
for ((i = 0; i < 100; i++)); do
  [[ $(mdb -N -B -e "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB='icewarp'") == 0 ]] && break
  sleep 0.05
done

step "a server that does not answer (wrong password): refused before anything changes, also without a safety snapshot"
# Found at the databases step, it would come after the files (with --no-safety-snapshot nothing
# else connects before it).
sed 's/^password=.*/password=not-the-password/' "$MDB_CNF" >"$WORK/bad.cnf"
chmod 600 "$WORK/bad.cnf"
for flags in "" "--no-safety-snapshot" "--databases-only --no-safety-snapshot"; do
  # shellcheck disable=SC2086 # the flags are words
  expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --yes $flags --mysql-defaults-file "$WORK/bad.cnf"
  expect_err_contains "nothing was rolled back: every server of the snapshot must answer"
  expect_err_contains "Access denied"
  [[ -z $flags ]] && grep -v '…$' "$WORK/last.err" | sed 's/^/     /'
  [[ -z $(ls -A "$REPO/rollback" 2>/dev/null) ]] || check_failed "refused ($flags): a journal was left"
  [[ $(snapshot_count "$REPO") == "$nsnap" ]] || check_failed "refused ($flags): a snapshot was added"
done
mtree "$SRC" >"$WORK/after-bad.mtree"
compare_files "mtree before and after the refusals" "$WORK/upgraded-all.mtree" "$WORK/after-bad.mtree"
dbdump "$WORK/after-bad.sql" "${UPG_DBS[@]}"
compare_files "mariadb-dump before and after the refusals" "$WORK/upgraded.sql" "$WORK/after-bad.sql"
# A dry run says the rollback would be refused, with the rollback's exit status.
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --dry-run --mysql-defaults-file "$WORK/bad.cnf"
expect_err_contains "the rollback would be refused: "
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --dry-run --json --mysql-defaults-file "$WORK/bad.cnf"
jq -e '.refused | test("every server of the snapshot must answer")' "$WORK/last.out" >/dev/null ||
  check_failed "--dry-run --json: .refused does not say why"
# A --db-label the snapshot does not have would leave its option file unused.
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --yes --mysql-defaults-file "$MDB_CNF" --db-label other
expect_err_contains "--db-label \"other\" names no database server of the snapshot (its servers: \"default\")"
expect_rc 2 "$REWIND" restore --repo "$REPO" pre --databases-only --mysql-defaults-file "$MDB_CNF" --db-label other
expect_err_contains "names no database server of the snapshot"
[[ $(snapshot_count "$REPO") == "$nsnap" ]] || check_failed "a refused rollback added a snapshot"

step "rollback pre --yes --mysql-defaults-file"
t0=$(date +%s.%N)
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --yes --mysql-defaults-file "$MDB_CNF"
note "took $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)") s"
cat "$WORK/last.out" "$WORK/last.err" >"$WORK/rollback.txt"
sed 's/^/     /' "$WORK/rollback.txt" | head -n 40
mtree_kept "$SRC" "$WORK/rolled-kept.mtree"
compare_files "mtree outside the excluded folders: before the upgrade vs after the rollback" \
  "$WORK/pre-kept.mtree" "$WORK/rolled-kept.mtree"
mtree_excluded "$SRC" "$WORK/rolled-excluded.mtree"
compare_files "excluded folders: as the upgrade left them vs after the rollback" \
  "$WORK/upgraded-excluded.mtree" "$WORK/rolled-excluded.mtree"
[[ -f $SRC/mail/domain0.example/newuser/inbox/1.imap ]] || check_failed "the new mail is gone"
[[ -f $SRC/logs/epos.log ]] || check_failed "the new log is gone"
dbdump "$WORK/rolled.sql" "${SNAP_DBS[@]}"
compare_files "mariadb-dump: before the upgrade vs after the rollback" "$WORK/pre.sql" "$WORK/rolled.sql"
[[ $(mdb -N -B -e "SELECT COUNT(*) FROM icewarp.audit") == 5 ]] ||
  check_failed "icewarp.audit has $(mdb -N -B -e "SELECT COUNT(*) FROM icewarp.audit") rows, expected 5: a trigger fired on restored rows"
if user_dbs | grep -qx epos_new; then
  dbdump "$WORK/epos_new-after.sql" epos_new
  compare_files "epos_new (created after the snapshot) before and after the rollback" \
    "$WORK/epos_new.sql" "$WORK/epos_new-after.sql"
else
  check_failed "epos_new (created after the snapshot) was dropped by the rollback"
fi
grep -q epos_new "$WORK/rollback.txt" || check_failed "the rollback's output does not mention epos_new"
# The upgrade dropped `legacy`: the rollback creates it, the safety snapshot cannot hold it, and
# its undo would leave it (checked below): said now.
grep -qF 'that this rollback created (they were not there before it): legacy. A rollback to the safety snapshot leaves them' \
  "$WORK/rollback.txt" || check_failed "the rollback's output does not say that its undo leaves legacy"
expect_rc 0 "$REWIND" diff --repo "$REPO" pre --live "$SRC"
[[ ! -s $WORK/last.out ]] || { head -n 20 "$WORK/last.out" >&2; check_failed "diff --live after the rollback is not empty"; }
[[ -z $(find "$SRC" -name '.rewind-*' -print -quit) ]] || check_failed "temporary files left in the target"

step "rollback to the safety snapshot gives the upgraded files and databases back"
SAFETY=$(newest_safety) || fail "no snapshot tagged rollback-safety"
note "safety snapshot ${SAFETY:0:12}"
expect_rc 0 "$REWIND" snapshots --repo "$REPO" --json
jq -e --arg id "$SAFETY" '[.[] | select(.id == $id)] | first | (.databases // []) | length > 0' \
  "$WORK/last.out" >/dev/null || check_failed "the safety snapshot holds no databases"
expect_rc 0 "$REWIND" rollback --repo "$REPO" "$SAFETY" --yes --mysql-defaults-file "$MDB_CNF"
mtree "$SRC" >"$WORK/undone-all.mtree"
compare_files "mtree: the upgraded tree vs after rolling back to the safety snapshot" \
  "$WORK/upgraded-all.mtree" "$WORK/undone-all.mtree"
cat "$WORK/last.out" "$WORK/last.err" >"$WORK/undo.txt"
# `legacy` came back with the first rollback; the safety snapshot (taken while it was dropped)
# does not hold it, so it is left alone now, and said so.
user_dbs >"$WORK/undone.dbs"
{ cat "$WORK/upgraded.dbs"; echo legacy; } | LC_ALL=C sort >"$WORK/undone-expected.dbs"
compare_files "databases: upgraded (+ legacy, left alone) vs after rolling back to the safety snapshot" \
  "$WORK/undone-expected.dbs" "$WORK/undone.dbs"
grep -q legacy "$WORK/undo.txt" || check_failed "the output of the rollback to the safety snapshot does not mention legacy"
dbdump "$WORK/undone.sql" "${UPG_DBS[@]}"
compare_files "mariadb-dump: upgraded vs after rolling back to the safety snapshot" \
  "$WORK/upgraded.sql" "$WORK/undone.sql"

step "a transaction left open on a table to drop: refused before anything changes"
# The session has no default database (the check for connections using the databases does not
# see it), and its open transaction holds the metadata lock of webmail.contacts: DROP DATABASE
# webmail would wait for it (the server's default lock_wait_timeout is a day). The lock probe
# after the stop command finds it.
mkfifo "$WORK/trx.in"
mariadb --defaults-file="$MDB_CNF" -N -B --unbuffered <"$WORK/trx.in" >"$WORK/trx.out" 2>&1 &
TRX=$!
BG_PIDS+=" $TRX"
exec 8>"$WORK/trx.in"
echo "BEGIN; SELECT COUNT(*) FROM webmail.contacts; SELECT 'in-transaction';" >&8
for ((i = 0; i < 200; i++)); do
  grep -q in-transaction "$WORK/trx.out" && break
  sleep 0.05
done
grep -q in-transaction "$WORK/trx.out" || fail "the client's transaction did not start: $(cat "$WORK/trx.out")"
nsnap=$(snapshot_count "$REPO")
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --yes --mysql-defaults-file "$MDB_CNF"
grep -v '…$' "$WORK/last.err" | sed 's/^/     /'
expect_err_contains "another session holds a lock on \`webmail\`.\`contacts\` on server"
expect_err_contains "sessions with a transaction open: id "
expect_err_contains "nothing was changed"
mtree "$SRC" >"$WORK/after-lock-refusal.mtree"
compare_files "mtree before and after the refusal (a lock held)" "$WORK/undone-all.mtree" "$WORK/after-lock-refusal.mtree"
dbdump "$WORK/after-lock-refusal.sql" "${UPG_DBS[@]}"
compare_files "mariadb-dump before and after the refusal (a lock held)" "$WORK/undone.sql" "$WORK/after-lock-refusal.sql"
[[ $(snapshot_count "$REPO") == "$nsnap" ]] || check_failed "the refused rollback added a snapshot"
[[ -z $(ls "$REPO"/rollback/*.journal 2>/dev/null) ]] || check_failed "the refused rollback left a journal"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --dry-run --mysql-defaults-file "$MDB_CNF"
expect_err_contains "the rollback would be refused: another session holds a lock on \`webmail\`.\`contacts\`"

step "the same lock under --allow-running: the databases step says so after the lock wait, then resumes"
# --allow-running skips the checks: DROP DATABASE's own lock wait is the backstop.
export REWIND_TEST_DB_LOCK_WAIT_S=2
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --yes --databases-only --no-safety-snapshot --allow-running \
  --mysql-defaults-file "$MDB_CNF"
unset REWIND_TEST_DB_LOCK_WAIT_S
grep -v '…$' "$WORK/last.err" | sed 's/^/     /'
# Named as the check names it: the table (probed on what DROP DATABASE left) and who may hold it.
expect_err_contains "DROP DATABASE \`webmail\` waited 2 s for a lock another session or transaction holds on \`webmail\`.\`contacts\` (sessions with a transaction open: id "
expect_err_contains "rewind rollback --resume"
[[ -n $(ls "$REPO"/rollback/*.journal 2>/dev/null) ]] || check_failed "no journal kept for --resume"
# A backup of the databases now would save them part way between two states: refused.
nsnap=$(snapshot_count "$REPO")
expect_rc 2 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$MDB_CNF"
expect_err_contains "an interrupted rollback of the databases is pending (journal rollback/"
[[ $(snapshot_count "$REPO") == "$nsnap" ]] || check_failed "the refused backup added a snapshot"
# A --resume checks again (without --allow-running): refused while the lock is held, journal kept.
expect_rc 2 "$REWIND" rollback --repo "$REPO" --resume --mysql-defaults-file "$MDB_CNF"
expect_err_contains "another session holds a lock on \`webmail\`.\`contacts\` on server"
[[ -n $(ls "$REPO"/rollback/*.journal 2>/dev/null) ]] || check_failed "the refused --resume did not keep the journal"
exec 8>&-  # the client ends: its transaction is rolled back
wait "$TRX" 2>/dev/null || :
expect_rc 0 "$REWIND" rollback --repo "$REPO" --resume --mysql-defaults-file "$MDB_CNF"
dbdump "$WORK/resumed.sql" "${SNAP_DBS[@]}"
compare_files "mariadb-dump: before the upgrade vs after the resumed databases step" "$WORK/pre.sql" "$WORK/resumed.sql"

step "a prepared XA transaction (of no session) holding a row of a table to drop: refused, nothing changed"
# It outlives its client and holds the lock of the row it changed, not metadata locks: DROP
# DATABASE would drop the tables before it up to that one and wait there for
# innodb_lock_wait_timeout. (A row it only read is unlocked at XA PREPARE: nothing waits.)
mdb -e "XA START 'rewind-test'; UPDATE webmail.contacts SET name = 'Dave (XA)' WHERE name = 'Dave'; XA END 'rewind-test'; XA PREPARE 'rewind-test';"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --yes --databases-only --no-safety-snapshot \
  --mysql-defaults-file "$MDB_CNF"
grep -v '…$' "$WORK/last.err" | sed 's/^/     /'
expect_err_contains "another session holds a lock on \`webmail\`.\`contacts\` on server"
expect_err_contains "1 prepared XA transaction, of no session (\`XA RECOVER\` lists them"
expect_err_contains "nothing was changed"
[[ -z $(ls "$REPO"/rollback/*.journal 2>/dev/null) ]] || check_failed "the refused rollback left a journal"
# Under --allow-running (no probe) the databases step's own lock wait bounds the wait for the
# row lock too, not the server's innodb_lock_wait_timeout (an hour here: `timeout` would end it).
mdb -e "SET GLOBAL innodb_lock_wait_timeout = 3600"
export REWIND_TEST_DB_LOCK_WAIT_S=2
expect_rc 2 timeout 60 "$REWIND" rollback --repo "$REPO" pre --yes --databases-only --no-safety-snapshot \
  --allow-running --mysql-defaults-file "$MDB_CNF"
unset REWIND_TEST_DB_LOCK_WAIT_S
mdb -e "SET GLOBAL innodb_lock_wait_timeout = DEFAULT"
expect_err_contains "waited 2 s for a lock another session or transaction holds on \`webmail\`.\`contacts\` (1 prepared XA transaction, of no session"
[[ -n $(ls "$REPO"/rollback/*.journal 2>/dev/null) ]] || check_failed "no journal kept for --resume"
mdb -e "XA ROLLBACK 'rewind-test'"
expect_rc 0 "$REWIND" rollback --repo "$REPO" --resume --mysql-defaults-file "$MDB_CNF"
dbdump "$WORK/after-xa-refusal.sql" "${SNAP_DBS[@]}"
compare_files "mariadb-dump before and after the refusal (a prepared XA transaction)" "$WORK/resumed.sql" \
  "$WORK/after-xa-refusal.sql"

step "verify"
expect_rc 0 "$REWIND" verify --repo "$REPO"
