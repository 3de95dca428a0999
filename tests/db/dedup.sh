#!/usr/bin/env bash
# A second backup of unchanged databases adds almost nothing (content-defined chunking of
# deterministic SQL): bytes_added < 5 % of the first backup's; one changed row adds a little.
# Files and databases in one snapshot: both restorable.
source "$(dirname "$0")/lib.sh" "$@"

start_server s1
load_fixture
REPO=$WORK/repo
expect_rc 0 "$REWIND" init --repo "$REPO"
step "first backup"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$MDB_CNF" --json
first=$(json_get .bytes_added)
note "first backup added $first bytes"
((first > 100000)) || check_failed "first backup added only $first bytes"

step "second backup, nothing changed"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$MDB_CNF" --json
second=$(json_get .bytes_added)
note "second backup added $second bytes ($((second * 10000 / first)) / 10000 of the first)"
((second * 100 < first * 5)) || check_failed "unchanged second backup added $second bytes (first $first): not < 5 %"

step "third backup, one row of the large table changed"
mdb -e "UPDATE mail_app.messages SET subject = 'changed' WHERE id = 60000"
expect_rc 0 "$REWIND" backup --repo "$REPO" --databases all --mysql-defaults-file "$MDB_CNF" --json
third=$(json_get .bytes_added)
note "third backup added $third bytes"
((third > 0)) || check_failed "a changed row added nothing"
((third * 100 < first * 25)) || check_failed "one changed row added $third bytes (first $first)"

step "files and databases in one snapshot"
mkdir -p "$WORK/src/config"
echo "domain=example.com" >"$WORK/src/config/settings.cfg"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$WORK/src" --databases mail_app,legacy \
  --mysql-defaults-file "$MDB_CNF" --db-label icewarp --json
both=$(json_get .snapshot_id)
[[ $(json_get .files) == 1 ]] || check_failed "files in the combined snapshot: $(json_get .files)"
[[ $(json_get '.databases[0].databases | join(",")') == "legacy,mail_app" ]] || check_failed "databases in the combined snapshot"
[[ $(json_get '.databases[0].label') == icewarp ]] || check_failed "label"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$both" --target "$WORK/restored"
cmp "$WORK/src/config/settings.cfg" "$WORK/restored/config/settings.cfg" || check_failed "file not restored"
expect_rc 0 "$REWIND" ls --repo "$REPO" "$both"
grep -qF "config/settings.cfg" "$WORK/last.out" || check_failed "ls lacks the file"
grep -qF "databases/icewarp/mail_app/schema.sql" "$WORK/last.out" || check_failed "ls lacks the databases"
