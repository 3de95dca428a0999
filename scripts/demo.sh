#!/bin/bash
# scripts/demo.sh BUILD_DIR — a guided tour of rewind on a generated IceWarp installation and
# its MariaDB databases: back up files and databases before "the upgrade", let the upgrade
# change both, roll back in place, and prove with diff -r and mariadb-dump that the server is
# as it was before (while the mail that arrived in between is still there).
#
# Works in a fresh temp directory (removed at the end unless KEEP=1) with a private MariaDB
# server (tests/db/mariadb.sh: Debian's mariadb-server, started as a plain process, stopped at
# the end; the system's MariaDB, if any, is not touched). The binaries are found in BUILD_DIR,
# or given by $REWIND and $REWIND_DEMO_GEN. Exit status: 0 when everything is back as it was,
# 1 when something differs, 2 when something needed is missing.
set -euo pipefail

BUILD=${1:-build}
find_bin() {  # find_bin NAME: the executable NAME under BUILD_DIR
  local c
  for c in "$BUILD/$1" "$BUILD/cli/$1" "$BUILD/tests/$1" "$BUILD/bin/$1"; do
    [[ -x $c && -f $c ]] && { echo "$c"; return; }
  done
  find "$BUILD" -maxdepth 3 -type f -name "$1" -perm -u+x -print -quit 2>/dev/null || :
}
REWIND=${REWIND:-$(find_bin rewind)}
GEN=${REWIND_DEMO_GEN:-$(find_bin rewind-demo-gen)}
if [[ ! -x ${REWIND:-} || ! -x ${GEN:-} ]]; then
  echo "demo.sh: cannot find rewind and rewind-demo-gen under '$BUILD' (build first:" >&2
  echo "         bash scripts/build.sh)" >&2
  exit 2
fi
REWIND=$(realpath "$REWIND")
GEN=$(realpath "$GEN")

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../tests/db/mariadb.sh
source "$HERE/../tests/db/mariadb.sh"
if ! mariadb_have; then
  echo "demo.sh: needs mariadbd, the MariaDB server (Debian: apt-get install mariadb-server;" >&2
  echo "         bash scripts/install-deps.sh installs everything tests/PACKAGES lists)" >&2
  exit 2
fi
for t in mariadb mariadb-dump mariadb-install-db; do
  command -v "$t" >/dev/null || { echo "demo.sh: needs $t (Debian: mariadb-client, mariadb-server)" >&2; exit 2; }
done

DEMO=$(mktemp -d "${TMPDIR:-/tmp}/rewind-demo.XXXXXX")
cleanup() {
  mariadb_stop_all
  if [[ ${KEEP:-0} == 1 ]]; then echo "(KEEP=1: demo files kept in $DEMO)"; else rm -rf "$DEMO"; fi
}
trap cleanup EXIT

ROOT=$DEMO/opt/icewarp          # the installation
ETC=$DEMO/etc/icewarp           # its /etc/icewarp
export REWIND_REPO=$DEMO/backup # the repository; --repo is not needed while this is set
EXCLUDED=(mail logs archive mailqueue temp php var)
DBS=(icewarp webmail)
n=0
step() {
  n=$((n + 1))
  printf '\n\033[1m%d. %s\033[0m\n' "$n" "$1"
  [[ $# -gt 1 ]] && printf '   %s\n' "${@:2}"
  return 0
}
shown() {  # shown CMD...: the command as a user would type it
  local words=("$@")
  words[0]=${words[0]/#$REWIND/rewind}
  words[0]=${words[0]/#$GEN/rewind-demo-gen}
  local line="${words[*]}"
  [[ -n ${MDB_CNF:-} ]] && line=${line//$MDB_CNF/\$MYCNF}
  printf '   $ %s\n' "${line//$DEMO/\$DEMO}"
}
run() {  # run CMD...: show the command, then run it (output indented)
  shown "$@"
  "$@" 2>&1 | sed 's/^/     /'
  return "${PIPESTATUS[0]}"
}
sql() {  # sql "STATEMENTS": show and run SQL with the stock client, as a table
  # continuation lines aligned under the first statement
  printf '   $ mariadb -e "%s"\n' "$(sed '2,$s/^[[:space:]]*/                 /' <<<"$1")"
  mariadb --defaults-file="$MDB_CNF" -t -e "$1" 2>&1 | sed 's/^/     /'
  return "${PIPESTATUS[0]}"
}
dump() {  # dump OUT: mariadb-dump of the IceWarp databases (the proof at the end)
  mariadb-dump --defaults-file="$MDB_CNF" --skip-dump-date --routines --events --triggers \
    --hex-blob --order-by-primary --databases "${DBS[@]}" >"$1"
}

echo "rewind demo — working in DEMO=$DEMO"

step "An IceWarp server to protect: its installation directory…" \
  "rewind-demo-gen writes an IceWarp-like installation root (config/, html/, lib64/, mail/, …)."
run "$GEN" --out "$ROOT" --etc "$ETC" --scale 0.2 --seed 42
run ls -C "$ROOT"

step "…and its MariaDB databases" \
  "A private MariaDB server for the demo; MYCNF is its client option file ([client]: socket, user," \
  "password), what --mysql-defaults-file takes (on a real server: e.g. /root/.my.cnf)."
mkdir -p "$DEMO/mariadb/tmp"  # its own tmpdir, not the shared /tmp
mariadb_start "$DEMO/mariadb" --tmpdir="$DEMO/mariadb/tmp" || { echo "demo.sh: could not start MariaDB" >&2; exit 1; }
mariadb --defaults-file="$MDB_CNF" <<'SQL'
CREATE DATABASE icewarp DEFAULT CHARACTER SET utf8mb4;
CREATE TABLE icewarp.domains (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL UNIQUE
) ENGINE=InnoDB;
CREATE TABLE icewarp.accounts (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  domain_id INT UNSIGNED NOT NULL,
  login VARCHAR(64) NOT NULL,
  quota_mb INT NOT NULL DEFAULT 1024,
  FOREIGN KEY (domain_id) REFERENCES icewarp.domains (id)
) ENGINE=InnoDB;
INSERT INTO icewarp.domains (name) VALUES ('domain0.example'), ('domain1.example');
INSERT INTO icewarp.accounts (domain_id, login, quota_mb) VALUES
  (1, 'admin', 4096), (1, 'alice', 1024), (1, 'bob', 2048), (2, 'carol', 1024);
CREATE DATABASE webmail DEFAULT CHARACTER SET utf8mb4;
CREATE TABLE webmail.contacts (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  owner VARCHAR(128) NOT NULL,
  name VARCHAR(200) NOT NULL,
  email VARCHAR(255) NOT NULL
) ENGINE=InnoDB;
INSERT INTO webmail.contacts (owner, name, email) VALUES
  ('alice@domain0.example', 'Bob', 'bob@domain0.example'),
  ('carol@domain1.example', 'Alice', 'alice@domain0.example');
SQL
sql "SELECT login, quota_mb FROM icewarp.accounts"

step "Create a repository" "REWIND_REPO=\$DEMO/backup stands for --repo in every command."
run "$REWIND" init --repo "$REWIND_REPO"

step "Back up the files and the databases just before the upgrade" \
  "--profile icewarp skips what the upgrade does not touch and what is volatile:" \
  "${EXCLUDED[*]} (each folder itself is kept, empty)." \
  "--databases all dumps every database of the server (but the system ones) into the same snapshot."
shown "$REWIND" backup --source "$ROOT" --profile icewarp --databases all --mysql-defaults-file "$MDB_CNF" \
  --tag pre-epos
"$REWIND" backup --source "$ROOT" --profile icewarp --databases all --mysql-defaults-file "$MDB_CNF" \
  --tag pre-epos >"$DEMO/backup.out" 2>"$DEMO/backup.err" || { cat "$DEMO/backup.err" >&2; exit 1; }
sed 's/^/     /' "$DEMO/backup.err" "$DEMO/backup.out"
SNAP=$(grep -v '^[[:space:]]*$' "$DEMO/backup.out" | tail -n 1 | tr -d '[:space:]')
echo "   (the last line on stdout is the new snapshot's id: $SNAP)"

step "…and /etc/icewarp, which IceWarp keeps outside the installation root" \
  "The installer reads icewarp.conf (IWS_VERSION) to tell an upgrade: it must come back with the" \
  "installation. Its own snapshot, under its own tag."
run "$REWIND" backup --source "$ETC" --tag pre-epos-etc

step "The snapshots in the repository"
run "$REWIND" snapshots

step "The databases in the snapshot: plain SQL files, one directory per database"
run "$REWIND" ls pre-epos databases

step "Keep a copy of the installation and a dump of the databases, to compare at the end"
run cp -a "$ROOT" "$DEMO/before-upgrade"
run cp -a "$ETC" "$DEMO/before-upgrade-etc"
shown mariadb-dump --databases "${DBS[@]}" ">" "$DEMO/before-upgrade.sql"
dump "$DEMO/before-upgrade.sql"

step "\"The upgrade\": files change, appear and disappear; the database schema changes; new mail arrives"
(
  cd "$ROOT"
  printf 'Version=14.0.0.1 EPOS\n' >>config/settings.cfg
  printf '<epos enabled="1"/>\n' >config/_webmail/server.xml
  head -c 3000000 /dev/urandom >lib64/libiwcore.so
  rm -f html/index.html
  printf 'console.log("EPOS");\n' >html/epos.js
  chmod 0700 upgrade.sh
  user_inbox=$(find mail -type d -name inbox -print -quit)
  printf 'Subject: arrived after the backup\r\n\r\nhello\r\n' >"$user_inbox/new-after-backup.imap"
)
sed -i -e 's/^IWS_OLDVERSION=.*/IWS_OLDVERSION="13.0.3.10 (2024-01-15) RHEL8 x64"/' \
  -e 's/^IWS_VERSION=.*/IWS_VERSION="14.0.0.1 (2026-11-02) RHEL8 x64"/' "$ETC/icewarp.conf"
NEW_MAIL=$(cd "$ROOT" && find mail -name new-after-backup.imap)
sql "ALTER TABLE icewarp.accounts ADD COLUMN epos_flags INT NOT NULL DEFAULT 0;
                UPDATE icewarp.accounts SET quota_mb = 10240, epos_flags = 1 WHERE login = 'admin';
                CREATE TABLE icewarp.epos_sessions (id INT PRIMARY KEY, account_id INT, token CHAR(32));
                INSERT INTO icewarp.epos_sessions VALUES (1, 1, MD5('x'));
                DELETE FROM webmail.contacts WHERE name = 'Alice';"
sql "SELECT login, quota_mb, epos_flags FROM icewarp.accounts"

step "What changed since the snapshot (files)" \
  "+ added, - removed, M content, m metadata only; the excluded folders (mail/, …) are not looked at."
run "$REWIND" diff pre-epos --live "$ROOT"

step "The acceptance tests fail: roll back, in place, files and databases" \
  "It first takes a safety snapshot of the current state (tag rollback-safety), so the rollback" \
  "itself can be undone; it rewrites only what differs and recreates each database of the snapshot."
run "$REWIND" rollback pre-epos --yes --mysql-defaults-file "$MDB_CNF" || {
  echo "demo.sh: rollback failed" >&2
  exit 1
}
sql "SELECT login, quota_mb FROM icewarp.accounts"
run "$REWIND" rollback pre-epos-etc --yes || {
  echo "demo.sh: rollback of /etc/icewarp failed" >&2
  exit 1
}
run grep '^IWS_VERSION=' "$ETC/icewarp.conf"

step "Compare with the installation before the upgrade (diff -r) and the databases (mariadb-dump)" \
  "Excluded folders are left as they are: the mail that arrived after the backup is still there."
same=1
compare() {  # compare LABEL BEFORE NOW: diff -r, one line (and the first differences)
  if diff -r --no-dereference "$2" "$3" >"$DEMO/diff.out" 2>&1; then
    printf '     %-16s identical\n' "$1"
  else
    printf '     %-16s DIFFERS:\n' "$1"
    sed 's/^/       /' "$DEMO/diff.out" | head -n 20
    same=0
  fi
}
for entry in "$DEMO/before-upgrade"/* "$DEMO/before-upgrade"/.[!.]*; do
  [[ -e $entry || -L $entry ]] || continue
  name=${entry##*/}
  [[ " ${EXCLUDED[*]} " == *" $name "* ]] || compare "$name" "$entry" "$ROOT/$name"
done
compare /etc/icewarp "$DEMO/before-upgrade-etc" "$ETC"
extra=$(comm -13 <(ls -A "$DEMO/before-upgrade") <(ls -A "$ROOT"))
if [[ -n $extra ]]; then
  echo "     unexpected entries in the installation: $extra"
  same=0
fi
if [[ -f $ROOT/$NEW_MAIL ]]; then
  printf '     %-16s not touched: the new mail is still there (%s)\n' "mail/" "$NEW_MAIL"
else
  printf '     %-16s the new mail is GONE (%s)\n' "mail/" "$NEW_MAIL"
  same=0
fi
mode_before=$(stat -c %a "$DEMO/before-upgrade/upgrade.sh")
mode_now=$(stat -c %a "$ROOT/upgrade.sh")
printf '     %-16s mode %s before the upgrade, 700 after it, %s now\n' "upgrade.sh" "$mode_before" "$mode_now"
[[ $mode_now == "$mode_before" ]] || same=0
dump "$DEMO/after-rollback.sql"
if diff -u "$DEMO/before-upgrade.sql" "$DEMO/after-rollback.sql" >"$DEMO/dump.diff"; then
  printf '     %-16s mariadb-dump of %s identical to the one before the upgrade (%s lines)\n' \
    "databases" "${DBS[*]}" "$(wc -l <"$DEMO/after-rollback.sql")"
else
  printf '     %-16s mariadb-dump of %s DIFFERS from the one before the upgrade:\n' "databases" "${DBS[*]}"
  sed 's/^/       /' "$DEMO/dump.diff" | head -n 30
  same=0
fi

if [[ $same == 1 ]]; then
  printf '\n\033[1mThe installation and its databases are back as they were before the upgrade.\033[0m\n'
  echo "(diff -r compares contents; the end-to-end tests in tests/rollback also compare modes,"
  echo " owners, times, xattrs with bsdtar mtree listings, and every database object with mariadb-dump.)"
else
  printf '\n\033[1mThe rollback did not give the state before the upgrade back.\033[0m\n'
  exit 1
fi
