#!/bin/bash
# A rollback of an installation with file systems mounted on its folders (data volumes on
# config/ and calendar/, here tmpfs): the files in them are rolled back like the others, and the
# writes there are made durable too: syncfs of the target's descriptor writes back the
# target's own file system only, so the rollback must sync the mounted one itself before a
# checkpoint or the removal of its journal counts those steps done. strace (the oracle) shows
# which file systems were synced: the mounted folder's must be among them, before the journal
# is removed.
# usage: rollback_mounts.sh REWIND DEMO_GEN
source "$(dirname "$0")/../e2e/lib.sh"
need_root
need_tools bsdtar mount umount mountpoint strace

SRC=$WORK/inst
REPO=$WORK/repo
MOUNTS=("$SRC/config" "$SRC/calendar")
unmount_all() {
  local d
  for d in "${MOUNTS[@]}"; do
    if mountpoint -q "$d"; then umount "$d" 2>/dev/null || umount -l "$d" 2>/dev/null || :; fi
  done
}
trap 'rc=$?; unmount_all; (exit $rc); _cleanup' EXIT
for d in "${MOUNTS[@]}"; do
  mkdir -p "$d"
  mount -t tmpfs -o size=16m,mode=0755 rewind-rollback-mounts "$d" || skip "cannot mount a tmpfs here"
done
strace -f -qq -o /dev/null true 2>/dev/null || skip "strace cannot trace here"

step "an installation whose config/ is another file system; backup --tag pre"
mkdir -p "$SRC/config/domains" "$SRC/html"
for i in $(seq 1 20); do
  printf 'setting %d\n' "$i" >"$SRC/config/domains/d$i.cfg"
  printf '<p>page %d</p>\n' "$i" >"$SRC/html/p$i.html"
done
printf 'main\n' >"$SRC/config/settings.cfg"
printf 'BEGIN:VCALENDAR\n' >"$SRC/calendar/user.ics"
for d in "${MOUNTS[@]}"; do
  [[ $(stat -c %d "$d") != $(stat -c %d "$SRC") ]] || fail "$d is not another file system"
done
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --tag pre
mtree "$SRC" >"$WORK/pre.mtree"

step "the upgrade changes files on both file systems"
for i in 1 2 3 4 5; do printf 'upgraded %d\n' "$i" >"$SRC/config/domains/d$i.cfg"; done
rm "$SRC/config/domains/d20.cfg"
printf 'new\n' >"$SRC/config/epos.cfg"
printf '<p>new page</p>\n' >"$SRC/html/p1.html"
chmod 0700 "$SRC/calendar"  # on calendar/'s file system only its root's mode changes
! cmp -s <(mtree "$SRC") "$WORK/pre.mtree" || fail "the upgrade changed nothing"

step "rollback (under strace): both file systems back and synced"
STRACE=$WORK/strace.txt
expect_rc 0 strace -f -qq -y -e trace=syncfs,unlink,unlinkat -o "$STRACE" \
  "$REWIND" rollback --repo "$REPO" pre --yes --json
[[ $(json_get .verified) == true ]] || check_failed "the rollback did not verify"
mtree "$SRC" >"$WORK/after.mtree"
compare_files "mtree after the rollback vs before the upgrade" "$WORK/pre.mtree" "$WORK/after.mtree"
# strace -y prints each descriptor with its path: syncfs(7</tmp/…/inst/config/domains>) = 0
grep -E "syncfs\\([0-9]+<$SRC>\\) = 0" "$STRACE" >/dev/null ||
  check_failed "the target's file system was not synced: $(grep syncfs "$STRACE" | head -n 5)"
line_config=$(grep -nE "syncfs\\([0-9]+<$SRC/config(/[^>]*)?>\\) = 0" "$STRACE" | tail -n 1 | cut -d: -f1 || :)
[[ -n $line_config ]] ||
  check_failed "the file system mounted on config/ was never synced: $(grep syncfs "$STRACE" | head -n 5)"
# calendar/: the one step there sets the mode of its file system's root (the mount point).
grep -E "syncfs\\([0-9]+<$SRC/calendar>\\) = 0" "$STRACE" >/dev/null ||
  check_failed "the file system mounted on calendar/ (its root's mode rolled back) was never synced"
# The journal goes after the last sync of config/'s file system.
line_journal=$(grep -nE 'unlink(at)?\(.*\.journal"' "$STRACE" | tail -n 1 | cut -d: -f1 || :)
[[ -n $line_journal ]] || check_failed "no removal of the journal in the trace"
if [[ -n $line_config && -n $line_journal ]]; then
  ((line_config < line_journal)) ||
    check_failed "config/'s file system was synced (trace line $line_config) after the journal was removed (line $line_journal)"
fi
note "syncfs calls: $(grep -c 'syncfs(' "$STRACE"), of them on config/: $(grep -cE "syncfs\\([0-9]+<$SRC/config" "$STRACE" || :)"
