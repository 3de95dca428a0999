#!/bin/bash
# A repository on a read-only mount (the backup disk mounted ro to keep it safe, a read-only NFS
# export or LVM snapshot): a real read-only bind mount, not a fault injected into the storage.
#   - the commands that only read (verify, verify --read-data, restore, restore --archive,
#     rollback --dry-run) work without a lock, exit 0, and say once that they took none;
#     what they produce is what the same commands give on the writable repository;
#   - the commands that write (backup, rollback) exit 2 saying the repository cannot be locked
#     and why ("Read-only file system"), and change nothing: the target's mtree is unchanged;
#   - an exclusive lock found in the read-only repository (a rollback killed, or running
#     elsewhere) still keeps readers out, naming it.
# usage: readonly_repo.sh REWIND DEMO_GEN
source "$(dirname "$0")/lib.sh"
need_root
need_tools mount umount mountpoint bsdtar diff jq

SRC=$WORK/inst
REPO=$WORK/repo
RO=$WORK/ro
mkdir -p "$RO"

step "a demo installation (scale 0.1), backed up into a repository, then changed a little"
"$DEMO_GEN" --out "$SRC" --seed 9 --scale 0.1 >/dev/null
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --tag pre
mtree "$SRC" >"$WORK/pre.mtree"
CHANGED=$(find "$SRC/config" -type f | LC_ALL=C sort | head -n 1)
[[ -n $CHANGED ]] || fail "the demo has no file under config/"
echo "changed after the backup" >>"$CHANGED"
mtree "$SRC" >"$WORK/changed.mtree"
# The oracle for the dry run: the same plan from the writable repository.
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --dry-run --json
jq -c '.plan' "$WORK/last.out" >"$WORK/plan-rw.json"

mount --bind "$REPO" "$RO" || skip "cannot bind-mount here"
trap 'rc=$?; mountpoint -q "$RO" && { umount "$RO" 2>/dev/null || umount -l "$RO"; }; (exit $rc); _cleanup' EXIT
mount -o remount,ro,bind "$RO" || fail "cannot remount the bind mount read-only"
touch "$RO/probe" 2>/dev/null && fail "the read-only mount accepted a write"
repo_listing() { (cd "$REPO" && find . -printf '%p %s %T@\n' | LC_ALL=C sort); }
repo_listing >"$WORK/repo-before.txt"

ONE_NOTE="reading the repository without a lock"
expect_one_note() {  # the note is printed once (verify's notes go to stdout), and says why
  local n
  n=$(cat "$WORK/last.out" "$WORK/last.err" | grep -ciF -- "$ONE_NOTE" || :)
  [[ $n == 1 ]] || check_failed "$1: the no-lock note appears $n times, expected once"
  cat "$WORK/last.out" "$WORK/last.err" | grep -qF "(Read-only file system)" ||
    check_failed "$1: the no-lock note does not say why"
}

step "verify and verify --read-data read it without a lock"
expect_rc 0 "$REWIND" verify --repo "$RO"
expect_one_note "verify"
expect_rc 0 "$REWIND" verify --repo "$RO" --read-data --json
[[ $(json_get '.notes | map(select(test("without a lock"))) | length') == 1 ]] ||
  check_failed "verify --json does not carry the no-lock note in its notes"

step "restore into a new directory gives the backed-up tree"
expect_rc 0 "$REWIND" restore --repo "$RO" pre --target "$WORK/restored"
expect_one_note "restore"
mtree "$WORK/restored" >"$WORK/restored.mtree"
compare_files "mtree of the restore from the read-only repository" "$WORK/pre.mtree" "$WORK/restored.mtree"

step "restore --archive gives the same tree (read back by bsdtar)"
expect_rc 0 "$REWIND" restore --repo "$RO" pre --archive "$WORK/pre.tar"
expect_one_note "restore --archive"
mkdir "$WORK/from-tar"
bsdtar -xpf "$WORK/pre.tar" -C "$WORK/from-tar"
mtree "$WORK/from-tar" type,mode,size,link,sha256 >"$WORK/from-tar.mtree"
mtree "$WORK/restored" type,mode,size,link,sha256 >"$WORK/restored-short.mtree"
compare_files "archive from the read-only repository vs the restore" "$WORK/restored-short.mtree" "$WORK/from-tar.mtree"

step "rollback --dry-run: the same plan as from the writable repository, nothing changed"
expect_rc 0 "$REWIND" rollback --repo "$RO" pre --dry-run --json
[[ $(jq -c '.notes | map(select(test("without a lock"))) | length' "$WORK/last.out") == 1 ]] ||
  check_failed "rollback --dry-run --json does not carry the no-lock note"
jq -c '.plan' "$WORK/last.out" >"$WORK/plan-ro.json"
compare_files "dry-run plan, read-only vs writable repository" "$WORK/plan-rw.json" "$WORK/plan-ro.json"
REL=${CHANGED#"$SRC"/}
[[ $(jq -r --arg p "$REL" '.plan.rewrite | index($p) != null' "$WORK/last.out") == true ]] ||
  check_failed "the dry-run plan does not rewrite $REL: $(jq -c .plan.rewrite "$WORK/last.out")"
mtree "$SRC" >"$WORK/now.mtree"
compare_files "target after the dry run" "$WORK/changed.mtree" "$WORK/now.mtree"

step "backup and rollback need to write: refused, saying why, nothing changed"
expect_rc 2 "$REWIND" backup --repo "$RO" --source "$SRC"
expect_err_contains "cannot lock the repository"
expect_err_contains "Read-only file system"
expect_rc 2 "$REWIND" rollback --repo "$RO" pre --yes
expect_err_contains "cannot lock the repository"
expect_err_contains "Read-only file system"
mtree "$SRC" >"$WORK/now.mtree"
compare_files "target after the refused rollback" "$WORK/changed.mtree" "$WORK/now.mtree"
repo_listing >"$WORK/repo-after.txt"
compare_files "repository listing before and after every command" "$WORK/repo-before.txt" "$WORK/repo-after.txt"

step "an exclusive lock in the read-only repository keeps readers out"
umount "$RO"
cat >"$REPO/locks/0123456789abcdef0123456789abcdef" <<EOF
{"hostname":"other-host","pid":4242,"since_ns":1764633600000000000,"command":"rollback","exclusive":true}
EOF
mount --bind "$REPO" "$RO"
mount -o remount,ro,bind "$RO"
expect_rc 2 "$REWIND" verify --repo "$RO"
expect_err_contains "repository is in use"
expect_err_contains "other-host"
expect_rc 2 "$REWIND" restore --repo "$RO" pre --target "$WORK/restored2"
expect_err_contains "repository is in use"
[[ ! -e $WORK/restored2 || -z $(ls -A "$WORK/restored2") ]] || check_failed "the refused restore wrote files"
