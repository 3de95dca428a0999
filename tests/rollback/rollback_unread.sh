#!/bin/bash
# A rollback never deletes what its snapshot could not read. A backup run as a user who cannot
# read some entries (a root-only file, a root-only directory) saves an incomplete snapshot (exit
# 3) that lists those entries; they are absent from its tree, so without that list a rollback
# would take them for new and delete them. Checked:
#   1. the snapshot document lists both entries under "unread";
#   2. rollback --dry-run --json plans no deletion of them and names them in plan.kept_unread;
#   3. the rollback (as root) puts the rest back, leaves both exactly as they are (content,
#      owner, mode), verifies clean and says why it left them;
#   4. an incomplete snapshot without the list (as older rewinds wrote them) is refused before
#      anything is touched (exit 2, target unchanged, no journal).
# usage: rollback_unread.sh REWIND DEMO_GEN
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/lib_rollback.sh"
need_root
need_tools bsdtar jq python3 setpriv

SRC=$WORK/inst
REPO=$WORK/repo
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

step "a tree owned by nobody with a root-only file and a root-only directory"
mkdir -p "$SRC/config" "$SRC/secretdir"
echo "server settings" >"$SRC/config/settings.cfg"
echo "license" >"$SRC/license.key"
echo "root only" >"$SRC/secret.txt"
echo "root only, inside" >"$SRC/secretdir/inner.txt"
chown -R nobody:nogroup "$SRC"
chown root:root "$SRC/secret.txt" "$SRC/secretdir" "$SRC/secretdir/inner.txt"
chmod 0600 "$SRC/secret.txt"
chmod 0700 "$SRC/secretdir"
chmod 0755 "$WORK"
expect_rc 0 "$REWIND" init --repo "$REPO"
chown -R nobody:nogroup "$REPO"

step "backup as nobody: incomplete (exit 3), the unreadable entries listed"
expect_rc 3 as_nobody "$REWIND" backup --repo "$REPO" --source "$SRC" --tag pre
expect_err_contains "secret.txt"
doc=$(ls "$REPO/snapshots")
jq -e '.incomplete == true and .unread == ["secret.txt", "secretdir"]' "$REPO/snapshots/$doc" >/dev/null ||
  check_failed "the snapshot document does not list the unread entries: $(jq -c '{incomplete, unread}' "$REPO/snapshots/$doc")"

step "the upgrade changes a file; the rollback plan leaves the unread entries alone"
echo "server settings v2" >"$SRC/config/settings.cfg"
mtree "$SRC" >"$WORK/upgraded.mtree"
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --dry-run --json
jq -e '.plan.delete == [] and .plan.kept_unread == ["secret.txt", "secretdir"] and .plan.rewrite == ["config/settings.cfg"]' \
  "$WORK/last.out" >/dev/null || check_failed "dry-run plan: $(jq -c .plan "$WORK/last.out")"
mtree "$SRC" >"$WORK/now.mtree"
compare_files "mtree before and after --dry-run" "$WORK/upgraded.mtree" "$WORK/now.mtree"

step "rollback as root: the rest put back, the unread entries kept as they are"
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --yes
expect_err_contains "could not be read when the snapshot was taken"
[[ $(cat "$SRC/config/settings.cfg") == "server settings" ]] || check_failed "config/settings.cfg not rolled back"
[[ $(cat "$SRC/secret.txt" 2>/dev/null) == "root only" ]] || check_failed "secret.txt was deleted or changed"
[[ $(cat "$SRC/secretdir/inner.txt" 2>/dev/null) == "root only, inside" ]] || check_failed "secretdir was deleted or changed"
[[ $(stat -c '%U %a' "$SRC/secret.txt") == "root 600" ]] || check_failed "secret.txt owner or mode changed"
[[ $(stat -c '%U %a' "$SRC/secretdir") == "root 700" ]] || check_failed "secretdir owner or mode changed"
expect_rc 0 "$REWIND" diff --repo "$REPO" pre --live "$SRC"
# What the snapshot lacks shows as added, with a note saying why.
printf '+ secret.txt\n+ secretdir/\n+ secretdir/inner.txt\n' >"$WORK/expected.diff"
compare_files "diff --live after the rollback" "$WORK/expected.diff" "$WORK/last.out"
expect_err_contains "is incomplete"

step "an incomplete snapshot that does not list its unread entries is refused"
# The same document without "unread", stored under the SHA-256 of its new bytes (its id).
python3 - "$REPO/snapshots/$doc" "$REPO/snapshots" <<'PY'
import hashlib, json, os, sys
path, folder = sys.argv[1], sys.argv[2]
d = json.load(open(path, encoding="utf-8"))
del d["unread"]
d["tags"] = ["old"]
data = json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
with open(os.path.join(folder, hashlib.sha256(data).hexdigest()), "wb") as f:
    f.write(data)
PY
echo "server settings v3" >"$SRC/config/settings.cfg"
rm -rf "$SRC/secretdir"
mtree "$SRC" >"$WORK/before-refusal.mtree"
expect_rc 2 "$REWIND" rollback --repo "$REPO" old --yes
expect_err_contains "does not record which"
mtree "$SRC" >"$WORK/now.mtree"
compare_files "mtree before and after the refused rollback" "$WORK/before-refusal.mtree" "$WORK/now.mtree"
[[ -z $(ls -A "$REPO/rollback" 2>/dev/null) ]] || check_failed "the refused rollback left a journal"
