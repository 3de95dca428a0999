#!/bin/bash
# A damaged snapshot is refused before anything is touched: the target's mtree (excluded folders
# included) is unchanged, the exit status is 2, no safety snapshot is left half-made, the stop
# command's refusal path runs the start command again, and no journal remains. Damage:
#   1. the pack holding a chunk of a file the rollback must rewrite is deleted
#      (found independently with tests/integrity/find_blob.py);
#   2. that pack is back, but one byte inside that chunk's zstd frame is flipped (the trailer
#      and the index still agree: only reading the blob finds it); --dry-run, which reads the
#      same data, prints the plan and says the rollback would be refused (exit 2);
#   3. a tree blob's pack is deleted (the snapshot's structure is broken).
# After the pack is restored, the same rollback works (the refusals left nothing behind).
# usage: rollback_damaged.sh REWIND DEMO_GEN
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/lib_rollback.sh"
need_root
need_tools bsdtar jq python3 setfattr
FIND_BLOB=$(dirname "$0")/../integrity/find_blob.py

SRC=$WORK/opt/icewarp
REPO=$WORK/repo

step "demo installation (scale 0.1), backup --tag pre, simulated upgrade"
"$DEMO_GEN" --out "$SRC" --seed 5 --scale 0.1 >/dev/null
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --profile icewarp --tag pre
# Where the old content of a file the upgrade rewrites lives (read before the upgrade).
python3 "$FIND_BLOB" "$REPO" --file "$SRC/config/settings.cfg" >"$WORK/chunk.txt" ||
  fail "find_blob.py found no chunk of config/settings.cfg"
IFS=$'\t' read -r PACK OFF CLEN _RLEN BLOB <"$WORK/chunk.txt"
note "config/settings.cfg: blob ${BLOB:0:12} in $PACK at $OFF ($CLEN bytes)"
simulate_upgrade "$SRC"
mtree "$SRC" >"$WORK/upgraded.mtree"
cp "$REPO/$PACK" "$WORK/pack.bak"

check_untouched() {  # check_untouched WHAT
  mtree "$SRC" >"$WORK/now.mtree"
  compare_files "target mtree after the refused rollback ($1)" "$WORK/upgraded.mtree" "$WORK/now.mtree"
  [[ -z $(ls -A "$REPO/rollback" 2>/dev/null) ]] || check_failed "$1: a journal was left"
  [[ -z $(ls -A "$REPO/locks" 2>/dev/null) ]] || check_failed "$1: a lock was left"
}

step "1. the pack of a needed blob is deleted: refused, nothing touched"
rm "$REPO/$PACK"
LOG=$WORK/services.log
: >"$LOG"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --yes --stop-cmd "echo stop >>'$LOG'" \
  --start-cmd "echo start >>'$LOG'"
expect_err_contains "not whole"
expect_err_contains "pack $(basename "$PACK" | cut -c1-12)"
expect_err_contains "an index file lost or damaged: \`rewind repair index\`"
[[ ! -s $LOG ]] || check_failed "the stop command ran although the snapshot was refused first: $(cat "$LOG")"
check_untouched "pack deleted"

step "1b. the pack of a needed blob holds another pack's bytes (its trailer is valid): refused, nothing touched"
OTHER=$(find "$REPO/data" -type f ! -name "$(basename "$PACK")" | LC_ALL=C sort | head -n 1)
[[ -n $OTHER ]] || fail "no other pack in the repository"
cp "$OTHER" "$REPO/$PACK"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --yes --no-safety-snapshot
expect_err_contains "not whole"
expect_err_contains "pack $(basename "$PACK" | cut -c1-12) does not hold blob"
check_untouched "pack swapped"
cp "$WORK/pack.bak" "$REPO/$PACK"

step "2. one byte of the needed blob's frame is flipped: refused after reading it, nothing touched"
cp "$WORK/pack.bak" "$REPO/$PACK"
flip_byte "$REPO/$PACK" "$((OFF + CLEN / 2))"
nsnap=$(snapshot_count "$REPO")
# The dry run reads the same data: it shows the plan, says the rollback would be refused, and
# exits as the rollback would.
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --dry-run
expect_err_contains "the rollback would be refused"
expect_err_contains "damaged"
expect_err_contains "(needed by config/settings.cfg)"
grep -q "to rewrite" "$WORK/last.out" || check_failed "the refused dry run did not print its plan"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --dry-run --json
[[ $(json_get .refused) == *damaged* ]] || check_failed "dry run --json: .refused does not say damaged"
check_untouched "blob corrupted, dry run"
: >"$LOG"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --yes --stop-cmd "echo stop >>'$LOG'" \
  --start-cmd "echo start >>'$LOG'"
expect_err_contains "damaged"
note "$(tail -n 1 "$WORK/last.err" | cut -c1-200)"
cp "$WORK/last.err" "$WORK/refused.err"
[[ $(tr '\n' ' ' <"$LOG") == "stop start " ]] ||
  check_failed "services log '$(cat "$LOG")': expected the stop command, then the start command again"
check_untouched "blob corrupted"
note "snapshots: $nsnap before, $(snapshot_count "$REPO") after (the safety snapshot may stay: it is whole)"
# The refusal came after the safety snapshot: it says that one stays, and names it.
SAFETY=$("$REWIND" snapshots --repo "$REPO" --json | jq -r '[.[] | select(.tags | index("rollback-safety"))][-1].id // empty')
[[ -n $SAFETY ]] || check_failed "no safety snapshot after the refusal"
grep -qF "the safety snapshot ${SAFETY:0:12} taken before stays in the repository" "$WORK/refused.err" ||
  check_failed "the refusal does not say that the safety snapshot ${SAFETY:0:12} stays"

step "3. the pack of a tree is deleted: refused, nothing touched"
cp "$WORK/pack.bak" "$REPO/$PACK"
ROOT_TREE=$("$REWIND" snapshots --repo "$REPO" --json | jq -r '[.[] | select(.tags | index("pre"))][0].tree // empty')
if [[ -n $ROOT_TREE ]]; then
  TPACK=$(python3 "$FIND_BLOB" "$REPO" --id "$ROOT_TREE" | head -n 1 | cut -f1)
else
  # snapshots --json does not show the tree: take the snapshot document's.
  DOC=$(grep -l '"pre"' "$REPO"/snapshots/* | head -n 1)
  TPACK=$(python3 "$FIND_BLOB" "$REPO" --id "$(jq -r .tree "$DOC")" | head -n 1 | cut -f1)
fi
[[ -n $TPACK ]] || fail "cannot find the pack of the root tree"
cp "$REPO/$TPACK" "$WORK/tpack.bak"
rm "$REPO/$TPACK"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --yes --no-safety-snapshot
expect_err_contains "not whole"
check_untouched "tree pack deleted"
cp "$WORK/tpack.bak" "$REPO/$TPACK"

step "with the packs repaired, the same rollback works"
expect_rc 0 "$REWIND" verify --repo "$REPO" --read-data
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --yes --no-safety-snapshot --json
[[ $(json_get .verified) == true ]] || check_failed "rollback after repair did not verify"
