#!/bin/bash
# A restore into a new directory by a user who may not set some of the snapshot's extended
# attributes (trusted.* needs CAP_SYS_ADMIN; security.* labels such as SELinux's, recorded on a
# RHEL server, are refused the same way) keeps every file and directory, with its content and
# the attributes it may set (user.*), leaves the others off and says so once per attribute
# name, and exits 0. As root, the same restore sets them all. (A rollback, which puts the
# installation back exactly, still stops at such an attribute.)
# usage: restore_xattrs_not_root.sh REWIND DEMO_GEN
source "$(dirname "$0")/lib.sh"
need_root
need_tools setfattr getfattr setpriv

SRC=$WORK/src
REPO=$WORK/repo
mkdir -p "$SRC/conf" "$WORK/out"
echo "settings" >"$SRC/conf/settings.cfg"
echo "no attributes" >"$SRC/plain.txt"
ln -s conf/settings.cfg "$SRC/link"
setfattr -n trusted.rewind-test -v marked "$SRC/conf/settings.cfg" 2>"$WORK/setfattr.err" ||
  skip "this file system refuses trusted.* attributes: $(cat "$WORK/setfattr.err")"
setfattr -n user.note -v kept "$SRC/conf/settings.cfg" 2>"$WORK/setfattr.err" ||
  skip "this file system refuses user.* attributes: $(cat "$WORK/setfattr.err")"
setfattr -n trusted.rewind-test -v dir "$SRC/conf"
setfattr -h -n trusted.rewind-test -v symlink "$SRC/link"
# Read-only, with a user.* attribute: the restore sets it before the mode (user.* needs write
# permission when not root).
mkdir "$SRC/ro"
echo "read-only" >"$SRC/ro/locked.txt"
setfattr -n user.note -v ro-file "$SRC/ro/locked.txt"
setfattr -n user.note -v ro-dir "$SRC/ro"
chmod 0444 "$SRC/ro/locked.txt"
chmod 0555 "$SRC/ro"

step "backup as root: the attributes are recorded"
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --tag x
chmod -R a+rX "$REPO"
chmod a+rwx "$WORK/out"
chmod a+x "$WORK"

step "restore as nobody: every entry restored, trusted.* left off with one note, user.* set"
expect_rc 0 setpriv --reuid=nobody --regid=nogroup --clear-groups \
  "$REWIND" restore --repo "$REPO" x --target "$WORK/out/nobody"
[[ $(cat "$WORK/out/nobody/conf/settings.cfg") == settings ]] || fail "settings.cfg not restored"
[[ $(cat "$WORK/out/nobody/plain.txt") == "no attributes" ]] || fail "plain.txt not restored"
[[ $(readlink "$WORK/out/nobody/link") == conf/settings.cfg ]] || fail "the symlink not restored"
[[ $(getfattr --absolute-names --only-values -n user.note "$WORK/out/nobody/conf/settings.cfg") == kept ]] ||
  fail "user.note was not set on settings.cfg"
[[ $(getfattr --absolute-names --only-values -n user.note "$WORK/out/nobody/ro/locked.txt") == ro-file ]] ||
  fail "user.note was not set on the read-only ro/locked.txt"
[[ $(getfattr --absolute-names --only-values -n user.note "$WORK/out/nobody/ro") == ro-dir ]] ||
  fail "user.note was not set on the read-only directory ro/"
[[ $(stat -c %a "$WORK/out/nobody/ro/locked.txt") == 444 && $(stat -c %a "$WORK/out/nobody/ro") == 555 ]] ||
  fail "the read-only modes were not restored"
grep -q "user.note" "$WORK/last.err" && { _show_last; fail "a note about user.note: it could be set"; }
notes=$(grep -c "extended attribute trusted.rewind-test" "$WORK/last.err" || :)
[[ $notes == 1 ]] || { _show_last; fail "expected one note about trusted.rewind-test, got $notes"; }
grep -qi "not running as root" "$WORK/last.err" || { _show_last; fail "the note does not say why"; }
getfattr -n trusted.rewind-test "$WORK/out/nobody/conf/settings.cfg" >/dev/null 2>&1 &&
  fail "trusted.rewind-test is on settings.cfg: set by nobody?"

step "restore as root: every attribute set"
expect_rc 0 "$REWIND" restore --repo "$REPO" x --target "$WORK/out/root"
[[ $(getfattr --absolute-names --only-values -n trusted.rewind-test "$WORK/out/root/conf/settings.cfg") == marked ]] ||
  fail "trusted.rewind-test not restored on settings.cfg as root"
[[ $(getfattr --absolute-names --only-values -n trusted.rewind-test "$WORK/out/root/conf") == dir ]] ||
  fail "trusted.rewind-test not restored on conf/ as root"
[[ $(getfattr --absolute-names -h --only-values -n trusted.rewind-test "$WORK/out/root/link") == symlink ]] ||
  fail "trusted.rewind-test not restored on the symlink as root"
grep -q "extended attribute" "$WORK/last.err" && { _show_last; fail "a note about attributes as root"; }
exit 0
