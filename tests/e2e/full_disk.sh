#!/bin/bash
# The repository's disk fills up during a backup: a real full file system (a 32 MiB tmpfs), not a
# fault injected into the storage layer.
#   - the backup exits 2 naming the cause, saves no snapshot, leaves no lock and no temporary
#     file;
#   - the repository stays whole: verify --read-data passes, and names the pack the interrupted
#     backup left with what to do about it (repair index); the earlier snapshot restores exactly;
#   - with the disk filled to the last byte, verify and restore read it without a lock file
#     (none can be written) and say so;
#   - once there is room again, backups work; repair index takes the left pack in;
#   - a restore into a full target (a 2 MiB tmpfs) stops at the first ENOSPC with one message
#     that says so, instead of one error per remaining file; an archive written there fails
#     naming ENOSPC.
# usage: full_disk.sh REWIND DEMO_GEN
source "$(dirname "$0")/lib.sh"
need_root
need_tools mount umount mountpoint diff jq

DISK=$WORK/disk
SMALL_DISK=$WORK/small-disk
REPO=$DISK/repo
mkdir -p "$DISK" "$SMALL_DISK"
mount -t tmpfs -o size=32m,mode=0700 rewind-full-disk-test "$DISK" || skip "cannot mount a tmpfs here"
unmount_all() {
  local d
  for d in "$DISK" "$SMALL_DISK"; do
    if mountpoint -q "$d"; then umount "$d" 2>/dev/null || umount -l "$d" 2>/dev/null || :; fi
  done
}
trap 'rc=$?; unmount_all; (exit $rc); _cleanup' EXIT

step "a first snapshot of a small installation (scale 0.1) into a repository on a 32 MiB tmpfs"
"$DEMO_GEN" --out "$WORK/small" --seed 3 --scale 0.1 >/dev/null
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$WORK/small" --tag small
note "free on the tmpfs: $(df -k --output=avail "$DISK" | tail -n 1 | tr -d ' ') KiB"
(cd "$REPO/data" && find . -type f | sort) >"$WORK/packs-before.txt"

step "a backup of 48 MiB that does not compress: exit 2, no snapshot, no lock, no temporary file"
mkdir "$WORK/big"
head -c 48M /dev/urandom >"$WORK/big/data.bin"
expect_rc 2 "$REWIND" backup --repo "$REPO" --source "$WORK/big" --tag big
expect_err_contains "No space left on device"
expect_err_contains "no snapshot was saved"
note "$(grep -m1 -i 'space' "$WORK/last.err" | cut -c1-200)"
n=$(snapshot_count "$REPO")
[[ $n == 1 ]] || check_failed "expected 1 snapshot after the failed backup, found $n"
[[ -z $(ls -A "$REPO/locks") ]] || check_failed "the failed backup left a lock: $(ls "$REPO/locks")"
tmps=$(find "$REPO" -name '.*' | head -n 5)
[[ -z $tmps ]] || check_failed "temporary files left in the repository: $tmps"

step "the repository stays whole; the first snapshot restores exactly"
expect_rc 0 "$REWIND" verify --repo "$REPO" --read-data
# Whether a pack was complete before the disk filled depends on timing (two packs are written
# at once): when one was, verify must say what to do with it.
left=$(cd "$REPO/data" && find . -type f | sort | comm -13 "$WORK/packs-before.txt" -)
if [[ -n $left ]]; then
  note "packs the interrupted backup left: $(echo $left)"
  grep -q "repair index" "$WORK/last.out" "$WORK/last.err" ||
    check_failed "verify does not say what to do with the pack the interrupted backup left"
else
  note "the interrupted backup completed no pack"
fi
expect_rc 0 "$REWIND" restore --repo "$REPO" small --target "$WORK/restored"
diff -r --no-dereference "$WORK/small" "$WORK/restored" >"$WORK/restore.diff" ||
  check_failed "restore of the first snapshot differs: $(head -n 5 "$WORK/restore.diff")"

step "the disk filled to the last byte: verify and restore read without a lock, and say so"
dd if=/dev/zero of="$DISK/filler" bs=64k 2>/dev/null || :
dd if=/dev/zero of="$DISK/filler-tail" bs=1 2>/dev/null || :
note "free on the tmpfs: $(df -k --output=avail "$DISK" | tail -n 1 | tr -d ' ') KiB"
expect_rc 0 "$REWIND" verify --repo "$REPO" --read-data
grep -q "reading the repository without a lock: .*(No space left on device)" "$WORK/last.out" "$WORK/last.err" ||
  check_failed "verify on a full disk does not say it read without a lock, and why"
expect_rc 0 "$REWIND" restore --repo "$REPO" small --target "$WORK/restored-full"
expect_err_contains "reading the repository without a lock"
diff -r --no-dereference "$WORK/small" "$WORK/restored-full" >"$WORK/restore.diff" ||
  check_failed "restore from the full disk differs: $(head -n 5 "$WORK/restore.diff")"
[[ -z $(ls -A "$REPO/locks") ]] || check_failed "a lock was left on the full disk: $(ls "$REPO/locks")"
rm -f "$DISK/filler" "$DISK/filler-tail"

step "with room again, backups work; repair index takes the left pack in"
rm -r "$WORK/big"
mkdir "$WORK/big"
head -c 1M /dev/urandom >"$WORK/big/data.bin"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$WORK/big" --tag big
n=$(snapshot_count "$REPO")
[[ $n == 2 ]] || check_failed "expected 2 snapshots, found $n"
expect_rc 0 "$REWIND" repair index --repo "$REPO"
expect_rc 0 "$REWIND" verify --repo "$REPO" --read-data
! grep -q "no index file names it" "$WORK/last.out" "$WORK/last.err" ||
  check_failed "after repair index, verify still finds an unindexed pack"

step "a restore into a full target (2 MiB tmpfs): stops at the first ENOSPC, says so once"
mount -t tmpfs -o size=2m,mode=0700 rewind-full-target-test "$SMALL_DISK" || fail "cannot mount the second tmpfs"
expect_rc 2 "$REWIND" restore --repo "$REPO" small --target "$SMALL_DISK/out"
expect_err_contains "the target file system is full"
expect_err_contains "restore again into an empty directory"
n=$(grep -c "No space left on device" "$WORK/last.err" || :)
note "$(tail -n 1 "$WORK/last.err" | cut -c1-200)"
[[ $n == 1 ]] || check_failed "$n lines about ENOSPC: expected one, the summary that names the first file"
tmps=$(find "$SMALL_DISK" -name '.rewind-*' | head -n 5)
[[ -z $tmps ]] || check_failed "temporary files left in the target: $tmps"

step "an archive written to the full target: exit 2 naming the cause (libarchive alone says 'Write error')"
rm -rf "$SMALL_DISK/out"
note "\$ rewind restore --repo REPO small --archive - --format tar.zst > SMALL_DISK/small.tar.zst"
if "$REWIND" restore --repo "$REPO" small --archive - --format tar.zst >"$SMALL_DISK/small.tar.zst" 2>"$WORK/last.err"; then
  RC=0
else
  RC=$?
fi
[[ $RC == 2 ]] || check_failed "archive restore to a full disk exited $RC, expected 2"
expect_err_contains "No space left on device"
