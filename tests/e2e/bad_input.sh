#!/bin/bash
# What rewind does when it cannot do what it was asked: exit 2 with a message naming the
# problem, nothing half-written; exit 3 for a snapshot missing unreadable files.
# usage: bad_input.sh REWIND DEMO_GEN
source "$(dirname "$0")/lib.sh"
need_root
need_tools setpriv jq

SRC=$WORK/src
REPO=$WORK/repo
mkdir -p "$SRC/sub"
printf 'one\n' >"$SRC/one.txt"
printf 'two\n' >"$SRC/sub/two.txt"
expect_rc 0 "$REWIND" init --repo "$REPO"

step "missing source: exit 2, the message names it, no snapshot"
expect_rc 2 "$REWIND" backup --repo "$REPO" --source "$WORK/no-such-source"
expect_err_contains "no-such-source"
[[ $(snapshot_count "$REPO") == 0 ]] || fail "a snapshot was created for a missing source"
note "exit 2, names the path, snapshots --json is empty"

step "bad arguments: exit 2"
expect_rc 2 "$REWIND" backup --repo "$REPO"
expect_rc 2 "$REWIND" frobnicate --repo "$REPO"
expect_err_contains 'unknown command "frobnicate"'
expect_err_contains "rollback"  # the commands there are are listed
expect_rc 2 "$REWIND" backup --repo "$REPO" --source "$SRC" --no-such-flag
expect_rc 2 "$REWIND" backup --repo "$REPO" --source "$SRC" --profile no-such-profile
expect_err_contains "no-such-profile"
[[ $(snapshot_count "$REPO") == 0 ]] || fail "a snapshot was created by a bad command line"

step "not a repository: exit 2 with a clear message"
mkdir "$WORK/empty-dir" "$WORK/other-dir"
printf 'hello\n' >"$WORK/other-dir/file"
for r in "$WORK/empty-dir" "$WORK/other-dir" "$WORK/no-such-repo"; do
  expect_rc 2 "$REWIND" backup --repo "$r" --source "$SRC"
  expect_err_contains "repositor"
  expect_rc 2 "$REWIND" snapshots --repo "$r"
  expect_err_contains "repositor"
done
[[ -z $(ls -A "$WORK/empty-dir") ]] || fail "backup wrote into a directory that is not a repository"
# --json: a command that could not run still prints JSON on stdout, for scripts and monitoring.
expect_rc 2 "$REWIND" verify --repo "$WORK/no-such-repo" --json
[[ $(json_get .exit_code) == 2 && $(json_get .error) == *no-such-repo* ]] || fail "verify --json printed no error object"
[[ ! -e $WORK/no-such-repo ]] || fail "backup created the missing repository path"
note "exit 2, message mentions 'repository', nothing written"

step "init over an existing repository: exit 2, config untouched"
before=$(sha256sum "$REPO/config")
expect_rc 2 "$REWIND" init --repo "$REPO"
[[ $(sha256sum "$REPO/config") == "$before" ]] || fail "init rewrote an existing repository's config"

step "init with a zstd level out of range: exit 2, nothing created; in range: recorded"
expect_rc 2 "$REWIND" init --repo "$WORK/badlevel" --db-zstd-level 25
expect_err_contains "db-zstd-level"
[[ ! -e $WORK/badlevel ]] || fail "init with a bad level created $WORK/badlevel"
expect_rc 0 "$REWIND" init --repo "$WORK/levels" --zstd-level 5 --db-zstd-level 2
grep -q '"compression":{"algorithm":"zstd","database_level":2,"level":5}' "$WORK/levels/config" ||
  fail "init did not record the levels: $(cat "$WORK/levels/config")"

step "init over what an interrupted init left (its empty directories, no config): init completes it"
# What `rewind init` killed before its config was written leaves (seen with SIGKILL at each
# of its mkdir, fsync and rename calls): the other commands say "no config file; create one
# with \`rewind init\`", so init must not refuse it as "not empty".
mkdir -p "$WORK/half-init/data" "$WORK/half-init/index" "$WORK/half-init/snapshots"
expect_rc 2 "$REWIND" snapshots --repo "$WORK/half-init"
expect_err_contains "rewind init"
expect_rc 0 "$REWIND" init --repo "$WORK/half-init"
expect_rc 0 "$REWIND" snapshots --repo "$WORK/half-init"
note "init completed it"
mkdir -p "$WORK/not-half-init/data"
printf 'x\n' >"$WORK/not-half-init/data/somefile"
expect_rc 2 "$REWIND" init --repo "$WORK/not-half-init"
expect_err_contains "not empty"
[[ $(ls -A "$WORK/not-half-init") == data && $(ls -A "$WORK/not-half-init/data") == somefile ]] ||
  fail "init changed a directory it refused"
note "a directory holding anything else is still refused, untouched"

step "a first good snapshot"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --tag good
SNAP=$(last_line)
[[ $SNAP =~ ^[0-9a-f]{8,}$ ]] || fail "backup's last stdout line is not a snapshot id: '$SNAP'"
note "snapshot $SNAP"

step "diff --live of another directory than the snapshot's source: a note names both"
mkdir -p "$WORK/other"
expect_rc 0 "$REWIND" diff --repo "$REPO" good --live "$WORK/other"
expect_err_contains "was taken of $SRC, not of $WORK/other"
expect_rc 0 "$REWIND" diff --repo "$REPO" good --live "$SRC"
if grep -q "was taken of" "$WORK/last.err"; then fail "diff --live of the snapshot's own source printed the note"; fi

step "tags that could not name the snapshot, and a rule written as an absolute path: exit 2, nothing saved"
n=$(snapshot_count "$REPO")
expect_rc 2 "$REWIND" backup --repo "$REPO" --source "$SRC" --tag ""
expect_err_contains "empty tag"
expect_rc 2 "$REWIND" backup --repo "$REPO" --source "$SRC" --tag latest
expect_err_contains "newest snapshot"
# --exclude /abs/path/of/src/sub would match nothing (a leading / anchors at the source).
expect_rc 2 "$REWIND" backup --repo "$REPO" --source "$SRC" --exclude "$SRC/sub"
expect_err_contains "write --exclude /sub"
[[ $(snapshot_count "$REPO") == "$n" ]] || fail "a refused backup saved a snapshot"

step "a tag that is also an id prefix, an ambiguous prefix, an uppercase prefix"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --tag "${SNAP:0:6}" --json
HEXTAG_SNAP=$(json_get .snapshot_id)
expect_rc 2 "$REWIND" ls --repo "$REPO" "${SNAP:0:6}"
expect_err_contains "both a tag"
expect_rc 0 "$REWIND" ls --repo "$REPO" "$(tr a-f A-F <<<"${SNAP:0:12}")"
expect_rc 0 "$REWIND" ls --repo "$REPO" "${HEXTAG_SNAP:0:12}"

step "an empty path is refused, never a default (rollback --target \"\$UNSET\" would roll back the source)"
expect_rc 2 "$REWIND" rollback --repo "$REPO" good --target "" --yes
expect_err_contains "empty path"
expect_rc 2 "$REWIND" snapshots --repo ""
expect_rc 2 "$REWIND" backup --repo "$REPO" --source ""

step "a source whose path is not UTF-8 backs up and restores"
ODD=$WORK/$'odd dir\nname\xff'
mkdir -p "$ODD/x"
printf 'odd\n' >"$ODD/x/f"
expect_rc 0 "$REWIND" init --repo "$WORK/odd-repo"
expect_rc 0 "$REWIND" backup --repo "$WORK/odd-repo" --source "$ODD"
expect_rc 0 "$REWIND" snapshots --repo "$WORK/odd-repo" --json
expect_rc 0 "$REWIND" restore --repo "$WORK/odd-repo" latest --target "$WORK/odd-restore"
[[ $(cat "$WORK/odd-restore/x/f") == odd ]] || fail "the file under the non-UTF-8 source did not come back"
# A name that is not UTF-8 in the rollback plan's JSON: hex, not replacement characters.
printf 'new\n' >"$ODD/x/"$'bad\xfe'
expect_rc 0 "$REWIND" rollback --repo "$WORK/odd-repo" latest --dry-run --json
[[ $(json_get '.plan.delete[0].path_hex') == "$(printf 'x/bad\xfe' | od -An -tx1 | tr -d ' \n')" ]] ||
  fail "rollback --dry-run --json: $(jq -c .plan.delete "$WORK/last.out")"

step "a repository this user may not read, and a source given as the repository"
chmod 0700 "$REPO"
expect_rc 2 setpriv --reuid=nobody --regid=nogroup --clear-groups "$REWIND" snapshots --repo "$REPO"
expect_err_contains "Permission denied"
mkdir -p "$WORK/like-src/config"
expect_rc 2 "$REWIND" snapshots --repo "$WORK/like-src"
expect_err_contains "not a rewind repository"

step "format version bumped by hand to 99: exit 2 'version'"
VREPO=$WORK/repo-v99
cp -a "$REPO" "$VREPO"
sed -E -i 's/"version"([[:space:]]*):([[:space:]]*)[0-9]+/"version"\1:\299/' "$VREPO/config"
cmp -s "$REPO/config" "$VREPO/config" && fail "config has no \"version\": N field to edit"
note "config now: $(grep -o '"version"[^,}]*' "$VREPO/config")"
expect_rc 2 "$REWIND" snapshots --repo "$VREPO"
expect_err_contains version
expect_rc 2 "$REWIND" backup --repo "$VREPO" --source "$SRC"
expect_err_contains version
expect_rc 2 "$REWIND" restore --repo "$VREPO" "$SNAP" --target "$WORK/v99-restore"
expect_err_contains version
[[ ! -e $WORK/v99-restore || -z $(ls -A "$WORK/v99-restore") ]] || fail "restore wrote files"

step "a config cut short (damaged): exit 2, says damaged and where, without the JSON library's codes"
CREPO=$WORK/repo-cut
cp -a "$REPO" "$CREPO"
head -c 40 "$REPO/config" >"$CREPO/config"
expect_rc 2 "$REWIND" snapshots --repo "$CREPO"
expect_err_contains "$CREPO/config: damaged: not JSON"
grep -qF "json.exception" "$WORK/last.err" && fail "the message carries the JSON library's exception id"

# write_lock PID [EXCLUSIVE]: a lock held by PID on this host (exclusive unless EXCLUSIVE is
# false), as another process would write it.
write_lock() {
  mkdir -p "$REPO/locks"
  LOCK=$REPO/locks/$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  printf '{"hostname": "%s", "pid": %d, "since_ns": %s, "command": "test", "exclusive": %s}\n' \
    "$(uname -n)" "$1" "$(date +%s%N)" "${2:-true}" >"$LOCK"
  note "lock file $(basename "$LOCK"): $(cat "$LOCK")"
}

step "repository locked by a live process: exit 2 naming the holder's pid"
sleep 60 &
LIVE=$!
BG_PIDS+=" $LIVE"
write_lock "$LIVE"
expect_rc 2 "$REWIND" backup --repo "$REPO" --source "$SRC"
expect_err_contains "$LIVE"
note "exit 2, names pid $LIVE"
# A refused restore changes nothing: its new target is not created (it was, empty, before the
# lock was asked for).
expect_rc 2 "$REWIND" restore --repo "$REPO" "$SNAP" --target "$WORK/locked-restore"
expect_err_contains "$LIVE"
[[ ! -e $WORK/locked-restore ]] || fail "the refused restore created its target $WORK/locked-restore"
expect_rc 2 "$REWIND" restore --repo "$REPO" "$SNAP" --archive "$WORK/locked.tar"
expect_err_contains "$LIVE"
[[ ! -e $WORK/locked.tar ]] || fail "the refused restore created its archive $WORK/locked.tar"
note "restore to a directory or an archive: exit 2, nothing created"
expect_rc 0 "$REWIND" unlock --repo "$REPO"
[[ -e $LOCK ]] || fail "'rewind unlock' removed a lock held by a live process"
grep -qF "kept lock of \`test\` (pid $LIVE" "$WORK/last.out" || { _show_last; fail "unlock does not say it kept the live lock"; }
note "'rewind unlock' left the live lock in place and said so"
rm -f "$LOCK"
kill "$LIVE"
wait "$LIVE" 2>/dev/null || :

step "stale lock (dead pid): reported, refused, removed by 'rewind unlock'"
DEAD=$(sh -c 'echo $$')  # the pid of a process that has exited and been reaped
kill -0 "$DEAD" 2>/dev/null && fail "pid $DEAD is still alive"
write_lock "$DEAD"
# Never silently broken: the backup stops and says the lock is stale and how to remove it.
expect_rc 2 "$REWIND" backup --repo "$REPO" --source "$SRC"
expect_err_contains stale
expect_err_contains "$DEAD"
note "exit 2: $(grep -i stale "$WORK/last.err" | head -n 1)"
expect_rc 0 "$REWIND" unlock --repo "$REPO"
[[ ! -e $LOCK ]] || fail "'rewind unlock' left the stale lock $(basename "$LOCK")"
note "unlock removed it"

step "stale shared lock (a backup killed with SIGKILL): blocks no backup; verify names it in a note"
write_lock "$DEAD" false
expect_rc 0 "$REWIND" verify --repo "$REPO"
grep -q "^note: stale lock .*$(basename "$LOCK").*pid $DEAD.*rewind unlock" "$WORK/last.out" ||
  { _show_last; fail "verify does not report the stale lock $(basename "$LOCK")"; }
note "$(grep '^note: stale lock' "$WORK/last.out")"
expect_rc 0 "$REWIND" verify --repo "$REPO" --json
[[ $(jq '[.notes[] | select(startswith("stale lock"))] | length' "$WORK/last.out") == 1 ]] ||
  { _show_last; fail "verify --json does not list the stale lock in its notes"; }
[[ -e $LOCK ]] || fail "verify removed the stale lock"
expect_rc 0 "$REWIND" unlock --repo "$REPO"
[[ ! -e $LOCK ]] || fail "'rewind unlock' left the stale lock $(basename "$LOCK")"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC"
[[ -z $(ls -A "$REPO/locks") ]] || fail "backup left a lock behind: $(ls "$REPO/locks")"
note "backup runs again and leaves no lock behind"

step "temporaries of killed writers (a pack's, an index file's): verify notes them, repair index removes them"
PDIR=$(find "$REPO/data" -mindepth 1 -maxdepth 1 -type d | head -n 1)
head -c 1048576 /dev/urandom >"$PDIR/.pack.tmp-killed"
printf 'partial' >"$REPO/index/.index.tmp-killed"
expect_rc 0 "$REWIND" verify --repo "$REPO" --json
[[ $(jq '[.notes[] | select(startswith("2 temporary files"))] | length' "$WORK/last.out") == 1 ]] ||
  { _show_last; fail "verify --json does not note the 2 temporary files"; }
note "$(jq -r '.notes[] | select(contains("temporary"))' "$WORK/last.out" | cut -c1-160)"
[[ -e $PDIR/.pack.tmp-killed ]] || fail "verify removed a temporary"
expect_rc 0 "$REWIND" repair index --repo "$REPO"
grep -q "removed 2 temporary files (1.0 MiB" "$WORK/last.out" || { _show_last; fail "repair index does not say it removed the 2 temporaries"; }
[[ ! -e $PDIR/.pack.tmp-killed && ! -e $REPO/index/.index.tmp-killed ]] || fail "repair index left a temporary"
expect_rc 0 "$REWIND" verify --repo "$REPO" --read-data --json
[[ $(jq '[.notes[] | select(contains("temporary"))] | length' "$WORK/last.out") == 0 ]] ||
  fail "verify still notes temporaries after the repair"

step "an unreadable file (backup as nobody): exit 3, names it, snapshot marked incomplete"
NSRC=$WORK/nobody-src
NREPO=$WORK/nobody-repo
chmod 0755 "$WORK"
mkdir -p "$NSRC/dir" "$NREPO"
printf 'readable\n' >"$NSRC/readable.txt"
printf 'readable too\n' >"$NSRC/dir/also.txt"
printf 'secret\n' >"$NSRC/dir/secret-unreadable.dat"
chown -R nobody:nogroup "$NSRC" "$NREPO"
chown root:root "$NSRC/dir/secret-unreadable.dat"
chmod 0000 "$NSRC/dir/secret-unreadable.dat"
AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$WORK")
BIN=$REWIND
if ! "${AS_NOBODY[@]}" test -x "$BIN"; then
  mkdir -p "$WORK/bin" && cp "$REWIND" "$WORK/bin/rewind" && chmod 0755 "$WORK/bin" "$WORK/bin/rewind"
  BIN=$WORK/bin/rewind
fi
"${AS_NOBODY[@]}" cat "$NSRC/dir/secret-unreadable.dat" >/dev/null 2>&1 &&
  fail "control: nobody can read the 0000 file"
expect_rc 0 "${AS_NOBODY[@]}" "$BIN" init --repo "$NREPO"
expect_rc 3 "${AS_NOBODY[@]}" "$BIN" backup --repo "$NREPO" --source "$NSRC"
expect_err_contains "secret-unreadable.dat"
NSNAP=$(last_line)
note "exit 3, stderr: $(grep -F secret-unreadable.dat "$WORK/last.err" | head -n 1)"
[[ $NSNAP =~ ^[0-9a-f]{8,}$ ]] || fail "incomplete backup printed no snapshot id: '$NSNAP'"
list=$(snapshot_list "$NREPO")
entry=$(jq -c --arg id "$NSNAP" \
  '[.[] | select((.id // .snapshot_id // "") as $e
                  | $e != "" and (($e | startswith($id)) or ($id | startswith($e))))] | first // empty' \
  <<<"$list")
[[ -n $entry ]] || fail "snapshots --json does not list $NSNAP: $list"
[[ $(jq '.incomplete' <<<"$entry") == true ]] || fail "snapshot $NSNAP is not marked incomplete: $entry"
note "snapshots --json: $(jq -c '{id: (.id // .snapshot_id), incomplete}' <<<"$entry")"

step "restore into a non-empty target: exit 2, nothing written"
TGT=$WORK/nonempty
mkdir "$TGT"
printf 'keep me\n' >"$TGT/keep.txt"
touch -d '2020-01-01 00:00:00' "$TGT/keep.txt" "$TGT"
before=$(cd "$TGT" && find . -printf '%p %y %m %s %T@\n' | sort)
expect_rc 2 "$REWIND" restore --repo "$REPO" "$SNAP" --target "$TGT"
after=$(cd "$TGT" && find . -printf '%p %y %m %s %T@\n' | sort)
[[ $before == "$after" ]] || fail "restore changed a non-empty target: $(diff <(echo "$before") <(echo "$after"))"
note "exit 2, target unchanged"

step "restore into a target whose parent is missing (a typo): exit 2, nothing created"
expect_rc 2 "$REWIND" restore --repo "$REPO" "$SNAP" --target "$WORK/no-such-parent/copy"
expect_err_contains "parent directory"
[[ ! -e $WORK/no-such-parent ]] || fail "restore created the missing parent of its target"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --target "$WORK/new-copy"
[[ -f $WORK/new-copy/one.txt ]] || fail "restore into a new directory under an existing parent did not restore"

step "--include written as an absolute path of the source: exit 2 with the pattern to write"
expect_rc 2 "$REWIND" restore --repo "$REPO" "$SNAP" --target "$WORK/inc-abs" --include "$SRC/sub"
expect_err_contains "write --include 'sub'"
[[ ! -e $WORK/inc-abs ]] || fail "a refused restore created its target"

step "--include that matches nothing: exit 2 says so (a typo, not a wish for nothing)"
expect_rc 2 "$REWIND" restore --repo "$REPO" "$SNAP" --target "$WORK/inc-none" --include no-such-dir
expect_err_contains "matches --include"
expect_rc 2 "$REWIND" restore --repo "$REPO" "$SNAP" --archive "$WORK/inc-none.tar" --include no-such-dir
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --target "$WORK/inc-some" --include sub
[[ -f $WORK/inc-some/sub/two.txt && ! -e $WORK/inc-some/one.txt ]] || fail "--include sub restored the wrong entries"

step "unknown snapshot: exit 2"
expect_rc 2 "$REWIND" restore --repo "$REPO" deadbeefdeadbeef --target "$WORK/unknown-restore"
[[ ! -e $WORK/unknown-restore || -z $(ls -A "$WORK/unknown-restore") ]] ||
  fail "restore of an unknown snapshot wrote files"
expect_rc 2 "$REWIND" ls --repo "$REPO" no-such-tag
expect_rc 2 "$REWIND" restore --repo "$REPO" no-such-tag --archive "$WORK/x.tar" --format tar
[[ ! -s $WORK/x.tar ]] || fail "restore --archive of an unknown snapshot wrote an archive"
expect_rc 2 "$REWIND" restore --repo "$REPO" "$SNAP" --archive "$WORK/y.rar" --format rar
note "unknown id, unknown tag, unknown archive format: exit 2"

step "archive names of formats rewind does not write, or not the --format asked: exit 2, nothing written"
# Without this, x.tar.xz or x.tgz held a plain tar (an unknown extension fell back to tar).
for spec in x.tar.xz x.tar.bz2 x.txz x.TAR.BZ2 x.7z x.rar x.gz x.zst "x.tgz tar" "x.tar.zst zip" "x.tar tar.gz"; do
  read -r name fmt <<<"$spec"
  expect_rc 2 "$REWIND" restore --repo "$REPO" "$SNAP" --archive "$WORK/$name" ${fmt:+--format "$fmt"}
  if [[ -n $fmt ]]; then
    expect_err_contains "the format asked for is $fmt"
  else
    expect_err_contains "rewind does not write"
    expect_err_contains "tar, tar.zst, tar.gz, zip"
  fi
  [[ -z $(find "$WORK" -maxdepth 1 -name "$name*" | head -n 1) ]] || fail "restore --archive $name wrote $(find "$WORK" -maxdepth 1 -name "$name*")"
done
note "$(tail -n 1 "$WORK/last.err")"
# Refused before the repository is read: a missing repository is not what it reports.
expect_rc 2 "$REWIND" restore --repo "$WORK/no-such-repo" "$SNAP" --archive "$WORK/x.tar.xz"
expect_err_contains "does not write .tar.xz"

step "--archive naming a directory: exit 2 before the repository is read, nothing written"
# Before, the whole archive was written to DIR.rewind-partial and only the rename failed.
mkdir "$WORK/archive-dir"
ln -s archive-dir "$WORK/archive-dir-link"
for dest in "$WORK/archive-dir" "$WORK/archive-dir/" "$WORK/archive-dir-link" "$WORK/new-dir/"; do
  expect_rc 2 "$REWIND" restore --repo "$REPO" "$SNAP" --archive "$dest"
  expect_err_contains "names a directory: name the archive file to write"
done
note "$(tail -n 1 "$WORK/last.err")"
[[ -z $(ls -A "$WORK/archive-dir") && ! -e $WORK/new-dir ]] || fail "restore --archive DIR wrote into $WORK/archive-dir or made new-dir"
leftovers=$(find "$WORK" -maxdepth 1 -name '*.rewind-partial')
[[ -z $leftovers ]] || fail "restore --archive DIR left $leftovers"
expect_rc 2 "$REWIND" restore --repo "$WORK/no-such-repo" "$SNAP" --archive "$WORK/archive-dir"
expect_err_contains "names a directory"
