# Helpers of the rollback tests; sourced after tests/e2e/lib.sh.

EXCLUDED=(mail logs archive mailqueue temp php var)
EXCL_RE="^\\./($(IFS='|'; echo "${EXCLUDED[*]}"))( |/)"

# mtree_kept DIR OUT: the mtree listing of DIR without the excluded folders (nor their own lines).
mtree_kept() { mtree "$1" | grep -Ev "$EXCL_RE" >"$2" || :; }
# mtree_excluded DIR OUT: the excluded folders only (their own lines and everything inside).
mtree_excluded() { mtree "$1" | grep -E "$EXCL_RE" >"$2" || :; }

# first_file DIR: the first regular file directly in DIR (by name), relative path.
first_file() { find "$1" -mindepth 1 -maxdepth 1 -type f -printf '%P\n' | LC_ALL=C sort | head -n 1; }

# simulate_upgrade DIR: what an upgrade of the demo installation does, and, in $WORK/expected.diff,
# the `rewind diff` lines ("MARKER PATH", dirs with a trailing /) that it must produce.
# Covers: content changes (one same-size with the old mtime put back), files added and deleted,
# a directory deleted, a file turned into a directory, a symlink turned into a directory, a
# directory turned into a file, metadata-only changes (mode, mtime, owner, xattr), new mail and
# new logs (excluded: never reported).
simulate_upgrade() {
  local d=$1 exp=$WORK/expected.diff f m
  : >"$exp"
  (
    cd "$d"
    # Content.
    printf 'Version=14.0.0.1 EPOS\n' >>config/settings.cfg
    echo "M config/settings.cfg" >>"$exp"
    python3 -c 'import sys; sys.stdout.write("EPOS core library\n" * 20000)' >lib64/libiwcore.so
    echo "M lib64/libiwcore.so" >>"$exp"
    # Same size, one byte different, old mtime put back: only the content hash can tell.
    m=$(stat -c %y config/license.dat)
    python3 -c 'import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x20
open(p, "r+b").write(b)' config/license.dat
    touch -d "$m" config/license.dat
    echo "M config/license.dat" >>"$exp"
    # Added.
    printf 'console.log("EPOS");\n' >html/epos.js
    mkdir -p html/epos/assets
    printf 'body{}\n' >html/epos/assets/a.css
    printf '+ html/epos.js\n+ html/epos/\n+ html/epos/assets/\n+ html/epos/assets/a.css\n' >>"$exp"
    # Deleted: a file, and a directory with its files.
    f=html/admin/$(first_file html/admin)
    rm "$f"
    echo "- $f" >>"$exp"
    local dirs=($(find html/webmail/client -mindepth 1 -maxdepth 1 -type d -printf '%P\n' | LC_ALL=C sort))
    local gone=html/webmail/client/${dirs[-1]} tofile=html/webmail/client/${dirs[-2]}
    echo "- $gone/" >>"$exp"
    find "$gone" -mindepth 1 -printf "- $gone/%P\n" >>"$exp"
    rm -r "$gone"
    # A file turned into a directory.
    f=lib/$(first_file lib)
    rm "$f"
    mkdir "$f"
    printf 'inner\n' >"$f/inner"
    printf 'T %s\n+ %s/inner\n' "$f" "$f" >>"$exp"
    # A symlink turned into a directory.
    f=$(find html -type l | LC_ALL=C sort | head -n 1)
    [[ -n $f ]] || { echo "no symlink under html/" >&2; exit 1; }
    rm "$f"
    mkdir "$f"
    printf '<html>EPOS</html>\n' >"$f/index.html"
    printf 'T %s\n+ %s/index.html\n' "$f" "$f" >>"$exp"
    # A directory turned into a file.
    find "$tofile" -mindepth 1 -printf "- $tofile/%P\n" >>"$exp"
    rm -r "$tofile"
    printf 'now a file\n' >"$tofile"
    echo "T $tofile" >>"$exp"
    # Metadata only.
    chmod 0700 upgrade.sh
    echo "m upgrade.sh" >>"$exp"
    touch -d '2025-06-01 10:00:00' tool.sh
    echo "m tool.sh" >>"$exp"
    setfattr -n user.epos -v upgraded config/cert.pem
    echo "m config/cert.pem" >>"$exp"
    chown 1234:1234 control
    echo "m control" >>"$exp"
    # New mail and logs: excluded folders, kept as they are by the rollback.
    mkdir -p mail/domain0.example/newuser/inbox
    printf 'Subject: after the backup\r\n\r\nhello\r\n' >mail/domain0.example/newuser/inbox/1.imap
    printf 'Subject: also new\r\n\r\nhi\r\n' >"$(find mail -type d -name inbox | LC_ALL=C sort | head -n 1)/2.imap"
    printf 'upgrade started\n' >>logs/setup/setup.log
    printf 'new log\n' >logs/epos.log
  )
  LC_ALL=C sort -k2 -o "$exp" "$exp"
}

# diff_lines FILE: `rewind diff` text output reduced to "MARKER PATH" lines, sorted by path.
diff_lines() { awk '{print $1, $2}' "$1" | LC_ALL=C sort -k2; }

# demo_backup_upgrade SRC REPO SEED: the demo installation (scale 0.25) in SRC, a repository in
# REPO with its backup tagged "pre", the mtree of what that backup covers in
# $WORK/pre-kept.mtree, then simulate_upgrade and every file under html/ rewritten.
demo_backup_upgrade() {
  local src=$1 repo=$2 seed=$3
  "$DEMO_GEN" --out "$src" --seed "$seed" --scale 0.25 >/dev/null
  expect_rc 0 "$REWIND" init --repo "$repo"
  expect_rc 0 "$REWIND" backup --repo "$repo" --source "$src" --profile icewarp --tag pre
  mtree_kept "$src" "$WORK/pre-kept.mtree"
  simulate_upgrade "$src"
  find "$src/html" -type f -print0 | xargs -0 -n 200 sh -c 'for f; do echo "// EPOS" >>"$f"; done' sh
}

# mount_test_tmpfs DIR OPTIONS: a tmpfs of its own at DIR (a real file system that really fills
# up), unmounted when the script exits; skips the test (77) where it cannot be mounted.
mount_test_tmpfs() {
  TEST_TMPFS=$1
  mkdir -p "$TEST_TMPFS"
  mount -t tmpfs -o "$2,mode=0755" rewind-test "$TEST_TMPFS" || skip "cannot mount a tmpfs here"
  trap 'rc=$?; umount "$TEST_TMPFS" 2>/dev/null || umount -l "$TEST_TMPFS" 2>/dev/null || :; (exit $rc); _cleanup' EXIT
}

# fill_inodes DIR [KEEP]: empty files in DIR (created) until the file system has no inode
# left, then KEEP of them removed again (KEEP inodes free).
fill_inodes() {
  mkdir -p "$1"
  python3 - "$1" "${2:-0}" <<'PY'
import errno, os, sys
n = 0
while True:
    try:
        os.close(os.open(os.path.join(sys.argv[1], str(n)), os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        break
    n += 1
for i in range(int(sys.argv[2])):
    os.unlink(os.path.join(sys.argv[1], str(n - 1 - i)))
PY
}

# reset_target: $T afresh as a copy of the upgraded tree $UPG.
reset_target() { rm -rf "$T"; cp -a "$UPG" "$T"; }

# apply_state: where a killed rollback of $T left it, before anything else touches it: "done"
# (the mtree outside the excluded folders is the one before the upgrade: the apply finished),
# "not started" (it is the upgraded tree's, $UPG) or "mid-apply" (neither). The journal's
# checkpoint cannot tell: it is written every 500 ms, and not after the last step.
apply_state() {
  [[ -s $WORK/upgraded-kept.mtree ]] || mtree_kept "$UPG" "$WORK/upgraded-kept.mtree"
  mtree_kept "$T" "$WORK/killed-kept.mtree"
  if cmp -s "$WORK/killed-kept.mtree" "$WORK/pre-kept.mtree"; then
    echo done
  elif cmp -s "$WORK/killed-kept.mtree" "$WORK/upgraded-kept.mtree"; then
    echo "not started"
  else
    echo mid-apply
  fi
}

# check_end WHAT: the end state of a rollback of $T (repository $REPO): the mtree outside the
# excluded folders equals $WORK/pre-kept.mtree (before the upgrade), the excluded folders equal
# $WORK/upgraded-excluded.mtree (as the upgrade left them), no temporary, no journal.
check_end() {
  mtree_kept "$T" "$WORK/t-kept.mtree"
  compare_files "$1: mtree outside the excluded folders vs before the upgrade" "$WORK/pre-kept.mtree" "$WORK/t-kept.mtree"
  mtree_excluded "$T" "$WORK/t-excluded.mtree"
  compare_files "$1: excluded folders vs as the upgrade left them" "$WORK/upgraded-excluded.mtree" "$WORK/t-excluded.mtree"
  local tmp
  tmp=$(find "$T" -name '.rewind-*' | head -n 3)
  [[ -z $tmp ]] || check_failed "$1: temporary files left: $tmp"
  [[ -z $(ls -A "$REPO/rollback" 2>/dev/null) ]] || check_failed "$1: a journal is left: $(ls "$REPO/rollback")"
}
