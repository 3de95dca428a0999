#!/bin/bash
# Owner and group names are recorded for every id the system knows, also for a group whose
# entry does not fit a 4 KiB lookup buffer (a group with many members: getgrgid_r answers
# ERANGE), and are left empty, with the numeric id kept, for an id without a name.
# The system's own files are not touched: /etc/passwd and /etc/group are replaced by copies with
# a user and a large group added, bind-mounted in a mount namespace of the backup's own
# (unshare -m). The recorded names are read back through `rewind ls` and, independently, by
# Python's tarfile from the archive `rewind restore --archive` writes.
# usage: owner_names.sh REWIND DEMO_GEN
source "$(dirname "$0")/lib.sh"
need_root
need_tools unshare mount python3

SRC=$WORK/src
REPO=$WORK/repo
mkdir -p "$SRC"
echo "owned by the large group" >"$SRC/big"
echo "owned by ids without a name" >"$SRC/nameless"
echo "owned by root" >"$SRC/rooted"
chown 4242:4242 "$SRC/big"
chown 4243:4243 "$SRC/nameless"

# 3000 members: about 33 KiB on one line of /etc/group.
cp /etc/passwd "$WORK/passwd"
cp /etc/group "$WORK/group"
echo "rwbiguser:x:4242:4242::/nonexistent:/usr/sbin/nologin" >>"$WORK/passwd"
python3 - "$WORK/group" <<'PY'
import sys
members = ",".join(f"rwmember{i:05d}" for i in range(3000))
with open(sys.argv[1], "a") as f:
    f.write(f"rwbiggroup:x:4242:{members}\n")
PY
(( $(tail -n 1 "$WORK/group" | wc -c) > 16384 )) || fail "the test's group line is not larger than 16 KiB"
# Neither id 4243 nor the names added exist on this system (the test would prove nothing).
! getent group 4243 >/dev/null && ! getent passwd 4243 >/dev/null && ! getent group 4242 >/dev/null ||
  skip "ids 4242 or 4243 exist on this system"

# in_namespace CMD...: CMD where /etc/passwd and /etc/group are the test's copies.
in_namespace() {
  unshare -m --propagation private bash -c '
    set -e
    mount --bind "$1/passwd" /etc/passwd
    mount --bind "$1/group" /etc/group
    shift
    exec "$@"
  ' _ "$WORK" "$@"
}
in_namespace getent group 4242 >/dev/null 2>"$WORK/ns.err" ||
  { cat "$WORK/ns.err" >&2; skip "cannot bind-mount /etc/group in a mount namespace here"; }

step "backup in a mount namespace where /etc/passwd and /etc/group are the test's copies"
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 in_namespace "$REWIND" backup --repo "$REPO" --source "$SRC" --tag names
# The namespace is gone: the names are those the backup recorded, not looked up now.
getent group 4242 >/dev/null && fail "the bind mount leaked out of the namespace"

step "rewind ls: the names recorded"
expect_rc 0 "$REWIND" ls --repo "$REPO" names
grep -E ' rwbiguser +rwbiggroup +[0-9]+ .* big$' "$WORK/last.out" >/dev/null ||
  check_failed "ls: big is not owned by rwbiguser:rwbiggroup: $(grep ' big$' "$WORK/last.out")"
grep -E ' 4243 +4243 +[0-9]+ .* nameless$' "$WORK/last.out" >/dev/null ||
  check_failed "ls: nameless is not shown with its numeric ids: $(grep ' nameless$' "$WORK/last.out")"
grep -E ' root +root +[0-9]+ .* rooted$' "$WORK/last.out" >/dev/null ||
  check_failed "ls: rooted is not owned by root:root: $(grep ' rooted$' "$WORK/last.out")"

step "the archive (read by Python's tarfile): uname and gname as recorded, numeric ids kept"
expect_rc 0 "$REWIND" restore --repo "$REPO" names --archive "$WORK/names.tar"
python3 - "$WORK/names.tar" >"$WORK/tar.txt" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    for m in t.getmembers():
        if m.isfile():
            print(m.name.split("/")[-1], m.uid, m.gid, m.uname or "-", m.gname or "-")
PY
cat >"$WORK/tar.want" <<'EOF'
big 4242 4242 rwbiguser rwbiggroup
nameless 4243 4243 - -
rooted 0 0 root root
EOF
sort "$WORK/tar.txt" >"$WORK/tar.sorted"
compare_files "archive members (name uid gid uname gname)" "$WORK/tar.want" "$WORK/tar.sorted"
