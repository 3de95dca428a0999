#!/usr/bin/env bash
# --include-system: the `mysql` database (users, grants) is dumped and restored in place; users
# dropped or created after the backup are back to the snapshot's, logins work, and mariadb-dump
# of `mysql` is identical before and after.
source "$(dirname "$0")/lib.sh" "$@"

start_server s1
mdb -e "CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'; GRANT SELECT ON *.* TO 'app'@'%';
        CREATE DATABASE d1; CREATE TABLE d1.t (id INT PRIMARY KEY); INSERT INTO d1.t VALUES (1);"
sysdump() {
  mariadb-dump --defaults-file="$MDB_CNF" --skip-dump-date --hex-blob --order-by-primary --routines --events \
    --triggers mysql 2>/dev/null
}
sysdump >"$WORK/before.sql"
REPO=$WORK/repo
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases all --include-system --mysql-defaults-file "$MDB_CNF" --json
[[ $(json_get '.databases[0].databases | join(",")') == "d1,mysql" ]] ||
  check_failed "databases: $(json_get '.databases[0].databases | join(",")')"

step "change users, restore --db mysql"
mdb -e "DROP USER 'app'@'%'; CREATE USER 'intruder'@'%' IDENTIFIED BY 'x';"
expect_rc 0 "$REWIND" restore --repo "$REPO" latest --databases-only --db mysql --mysql-defaults-file "$MDB_CNF"
users=$(mdb -N -B -e "SELECT CONCAT(user, '@', host) FROM mysql.user ORDER BY 1" | tr '\n' ' ')
note "users: $users"
[[ $users == *"app@%"* ]] || check_failed "user app not restored"
[[ $users != *intruder* ]] || check_failed "user intruder still there"
mariadb --no-defaults --socket="$MDB_SOCK" --user=app --password=app-pw -N -B -e "SELECT COUNT(*) FROM d1.t" >/dev/null ||
  check_failed "app cannot log in after the restore"
sysdump >"$WORK/after.sql"
compare_files "mariadb-dump of mysql before and after" "$WORK/before.sql" "$WORK/after.sql"
