#!/usr/bin/env bash
# Bad input: wrong password, unreachable server, missing privilege, unknown database, a lock
# that cannot be had in time, the repository's disk full mid-dump, the server killed mid-dump → exit 2 with the server's message,
# no snapshot saved, the password in no message; the repository still verifies clean.
source "$(dirname "$0")/lib.sh" "$@"

start_server s1
load_fixture
REPO=$WORK/repo
expect_rc 0 "$REWIND" init --repo "$REPO"
PASSWORD=$(sed -n 's/^password=//p' "$MDB_CNF")

no_snapshot() {
  [[ $(snapshot_count "$REPO") == 0 ]] || check_failed "a snapshot was saved after: $1"
}
no_password_in_output() {
  if grep -qF -- "$PASSWORD" "$WORK/last.err" "$WORK/last.out"; then check_failed "the password appears in the output of: $1"; fi
  if grep -qF -- "wrong-$PASSWORD" "$WORK/last.err" "$WORK/last.out"; then check_failed "the wrong password appears in the output of: $1"; fi
}

step "wrong password"
sed "s/^password=.*/password=wrong-$PASSWORD/" "$MDB_CNF" >"$WORK/wrong.cnf"
expect_rc 2 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$WORK/wrong.cnf"
expect_err_contains "Access denied for user 'root'"
expect_err_contains "no snapshot was saved"
no_snapshot "wrong password"
no_password_in_output "wrong password"

step "unreachable server (no socket, closed port)"
printf '[client]\nsocket=%s\nuser=root\npassword=%s\n' "$WORK/nothing-here.sock" "$PASSWORD" >"$WORK/nosock.cnf"
expect_rc 2 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$WORK/nosock.cnf"
expect_err_contains "Can't connect"
no_password_in_output "unreachable socket"
port=$(_mdb_free_port)
printf '[client]\nhost=127.0.0.1\nport=%s\nuser=root\npassword=%s\n' "$port" "$PASSWORD" >"$WORK/noport.cnf"
expect_rc 2 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$WORK/noport.cnf"
expect_err_contains "Can't connect"
no_snapshot "unreachable server"

step "a missing option file, a directory, a file without a [client] group: named, never the default server"
expect_rc 2 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$WORK/absent.cnf"
expect_err_contains "$WORK/absent.cnf: No such file or directory"
no_snapshot "missing option file"
expect_rc 2 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$WORK"
expect_err_contains "is not a regular file"
printf '[mysqld]\nsocket=%s\nuser=root\npassword=%s\n' "$MDB_SOCK" "$PASSWORD" >"$WORK/server-group.cnf"
expect_rc 2 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$WORK/server-group.cnf"
expect_err_contains "has no [client] group"
no_snapshot "option file without [client]"
no_password_in_output "option file without [client]"

step "missing privilege (no RELOAD for FLUSH TABLES WITH READ LOCK)"
mdb -e "CREATE USER 'reader'@'localhost' IDENTIFIED BY 'reader-pw'; GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON *.* TO 'reader'@'localhost'"
printf '[client]\nsocket=%s\nuser=reader\npassword=reader-pw\n' "$MDB_SOCK" >"$WORK/reader.cnf"
expect_rc 2 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$WORK/reader.cnf"
expect_err_contains "RELOAD"
no_snapshot "missing privilege"

step "a database that does not exist"
expect_rc 2 "$REWIND" backup --repo "$REPO" --databases mail_app,nosuchdb --mysql-defaults-file "$MDB_CNF"
expect_err_contains "nosuchdb"
no_snapshot "unknown database"

step "the global read lock cannot be had (a session holds a table lock): --db-lock-timeout 2"
mdb -e "LOCK TABLES mail_app.domains WRITE; SELECT SLEEP(120)" >/dev/null 2>&1 &
BG_PIDS+=" $!"
for ((i = 0; i < 100; i++)); do
  [[ $(mdb -N -B -e "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(120)%'") == 1 ]] && break
  sleep 0.1
done
t0=$(date +%s)
expect_rc 2 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$MDB_CNF" --db-lock-timeout 2
t1=$(date +%s)
expect_err_contains "FLUSH TABLES WITH READ LOCK"
note "failed after $((t1 - t0)) s"
((t1 - t0 <= 15)) || check_failed "the lock timeout took $((t1 - t0)) s"
no_snapshot "lock timeout"
mdb -N -B -e "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(120)%'" |
  while read -r id; do mdb -e "KILL $id" || :; done

step "the repository's disk fills up in the middle of a dump (a real 8 MiB tmpfs)"
# 16 MiB of random bytes: their dump does not compress below the tmpfs's size.
mdb -e "CREATE DATABASE rnd; USE rnd; CREATE TABLE rnd.t (id INT PRIMARY KEY, b BLOB) ENGINE=InnoDB;
        INSERT INTO rnd.t SELECT seq, RANDOM_BYTES(1024) FROM seq_1_to_16384;"
FULL=$WORK/full-disk
mkdir -p "$FULL"
if [[ $(id -u) != 0 ]]; then
  note "not root: no tmpfs, step left out"
elif ! mount -t tmpfs -o size=8m,mode=0700 rewind-db-full-disk "$FULL"; then
  check_failed "could not mount a tmpfs for the full-disk step"
else
  expect_rc 0 "$REWIND" init --repo "$FULL/repo"
  expect_rc 2 "$REWIND" backup --repo "$FULL/repo" --databases rnd --mysql-defaults-file "$MDB_CNF"
  expect_err_contains "No space left on device"
  expect_err_contains "no snapshot was saved"
  note "$(grep -m1 -i 'space' "$WORK/last.err" | cut -c1-200)"
  n=$(snapshot_count "$FULL/repo")
  [[ $n == 0 ]] || check_failed "a snapshot was saved although the repository's disk was full ($n)"
  [[ -z $(ls -A "$FULL/repo/locks") ]] || check_failed "the failed dump left a lock"
  # The global read lock went with the dump's connections: a write does not wait for it.
  mdb -e "SET SESSION lock_wait_timeout = 5; CREATE TABLE rnd.after_full (x INT); INSERT INTO rnd.after_full VALUES (1)" ||
    check_failed "the server is still locked after the failed dump"
  left=$(mdb -N -B -e "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND USER <> 'system user' AND COMMAND <> 'Daemon'")
  [[ $left == 0 ]] || check_failed "$left connections of the failed dump are still open"
  umount "$FULL" || umount -l "$FULL"
fi
mdb -e "DROP DATABASE rnd"

step "the server is killed in the middle of a dump"
mdb -e "CREATE DATABASE big; USE big; CREATE TABLE big.t (id INT PRIMARY KEY, pad VARCHAR(255)) ENGINE=InnoDB;
        INSERT INTO big.t SELECT seq, REPEAT(CHAR(65 + seq % 26), 200) FROM seq_1_to_1500000;"
"$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$MDB_CNF" --db-threads 1 \
  >"$WORK/killed.out" 2>"$WORK/killed.err" &
backup_pid=$!
seen=0
for ((i = 0; i < 600; i++)); do
  if [[ $(mdb -N -B -e "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO LIKE 'SELECT %FROM \`big\`.\`t\`%'" 2>/dev/null) == 1 ]]; then
    seen=1
    break
  fi
  sleep 0.05
done
((seen)) || note "did not see the dump of big.t running (it may have finished already)"
kill -KILL "$MDB_PID"
if wait "$backup_pid"; then rc=0; else rc=$?; fi
note "backup exited $rc: $(tail -n 2 "$WORK/killed.err" | tr '\n' ' ')"
if ((seen)); then
  [[ $rc == 2 ]] || check_failed "backup exited $rc after the server was killed mid-dump"
  no_snapshot "server killed mid-dump"
fi

step "the repository verifies clean after all this"
expect_rc 0 "$REWIND" verify --repo "$REPO"
