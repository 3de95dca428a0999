#!/bin/bash
# Rollback end to end on the demo installation (rewind-demo-gen), with bsdtar mtree listings
# (sha256, mode, owner, mtime, size, link target, nlink) as the independent oracle:
#   1. backup --profile icewarp (pre), then a simulated upgrade (lib_rollback.sh: content,
#      same-size change with the old mtime put back, added, deleted, file→dir, symlink→dir,
#      dir→file, metadata-only changes, new mail and logs)
#   2. diff pre --live and diff pre UPGRADED-SNAPSHOT report exactly the simulated changes
#   3. rollback --dry-run changes nothing (mtree, snapshot count, no journal); without --yes and
#      without a terminal rollback refuses (exit 2) and changes nothing
#   4. rollback --yes (stop/start commands recorded): mtree outside the excluded folders equals
#      the one before the upgrade; the excluded folders are exactly as the upgrade left them;
#      diff --live is empty; the stop command ran before, the start command after
#   5. the safety snapshot undoes the rollback: rollback to it gives the upgraded tree back
# usage: rollback_e2e.sh REWIND DEMO_GEN
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/lib_rollback.sh"
need_root
need_tools bsdtar jq python3 setfattr

SRC=$WORK/opt/icewarp
REPO=$WORK/repo

step "demo installation (scale 0.2), backup --profile icewarp --tag pre"
"$DEMO_GEN" --out "$SRC" --seed 11 --scale 0.2 >/dev/null
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --profile icewarp --tag pre --json
PRE=$(json_get .snapshot_id)
mtree_kept "$SRC" "$WORK/pre-kept.mtree"
note "snapshot ${PRE:0:12}; $(wc -l <"$WORK/pre-kept.mtree") entries outside the excluded folders"

step "simulated upgrade"
simulate_upgrade "$SRC"
note "$(wc -l <"$WORK/expected.diff") changes expected by diff"
mtree "$SRC" >"$WORK/upgraded-all.mtree"
mtree_excluded "$SRC" "$WORK/upgraded-excluded.mtree"
mtree_kept "$SRC" "$WORK/upgraded-kept.mtree"
cmp -s "$WORK/pre-kept.mtree" "$WORK/upgraded-kept.mtree" && fail "the upgrade changed nothing mtree sees"

step "diff pre --live: exactly the simulated changes"
expect_rc 0 "$REWIND" diff --repo "$REPO" pre --live "$SRC"
cp "$WORK/last.out" "$WORK/diff-live.txt"
diff_lines "$WORK/diff-live.txt" >"$WORK/diff-live.lines"
compare_files "diff --live vs the simulated changes" "$WORK/expected.diff" "$WORK/diff-live.lines"
grep -E '^[-+MmT] (mail|logs)(/| |$)' "$WORK/diff-live.txt" && check_failed "diff --live reports excluded folders"
expect_rc 0 "$REWIND" diff --repo "$REPO" pre --live "$SRC" --json
n=$(json_get '.changes | length')
[[ $n == $(wc -l <"$WORK/expected.diff") ]] || check_failed "diff --json lists $n changes, expected $(wc -l <"$WORK/expected.diff")"
[[ $(json_get '.summary.total') == "$n" ]] || check_failed "diff --json summary.total disagrees with changes"
note "diff --json: $(jq -c .summary "$WORK/last.out")"

step "diff pre UPGRADED (two snapshots): the same changes"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --profile icewarp --tag upgraded --json
UPG=$(json_get .snapshot_id)
expect_rc 0 "$REWIND" diff --repo "$REPO" pre upgraded
diff_lines "$WORK/last.out" >"$WORK/diff-snap.lines"
compare_files "diff of two snapshots vs the simulated changes" "$WORK/expected.diff" "$WORK/diff-snap.lines"
expect_rc 0 "$REWIND" diff --repo "$REPO" pre pre --json
[[ $(json_get '.summary.total') == 0 ]] || check_failed "diff of a snapshot with itself is not empty"
[[ $(json_get '.summary.trees_skipped') -ge 1 ]] || check_failed "diff of equal snapshots did not skip by tree id"

step "rollback --dry-run changes nothing"
nsnap=$(snapshot_count "$REPO")
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --dry-run --json
cp "$WORK/last.out" "$WORK/dry.json"
note "plan: $(jq -c '.plan | {steps, create: (.create|length), rewrite: (.rewrite|length), delete: (.delete|length), replace: (.replace|length), fix: (.fix|length)}' "$WORK/dry.json")"
mtree "$SRC" >"$WORK/after-dry.mtree"
compare_files "mtree before and after --dry-run" "$WORK/upgraded-all.mtree" "$WORK/after-dry.mtree"
[[ $(snapshot_count "$REPO") == "$nsnap" ]] || check_failed "--dry-run added a snapshot"
[[ -z $(ls -A "$REPO/rollback" 2>/dev/null) ]] || check_failed "--dry-run left a journal"
# The plan names the changes: replaced, created, deleted, rewritten, fixed.
[[ $(jq '.plan.replace | length' "$WORK/dry.json") == 3 ]] || check_failed "dry-run plan: not 3 replacements"
for q in '.plan.delete | index("html/epos")' '.plan.rewrite | index("config/license.dat")' \
         '.plan.fix | index("upgrade.sh")' '.plan.create | length > 2'; do
  [[ $(jq "$q" "$WORK/dry.json") != null ]] || check_failed "dry-run plan: $q is null"
done
# What a deleted or replaced directory takes with it, as find(1) counts it: every directory of
# .plan.delete and .plan.replace once in *_below, with its entries and the bytes of its files.
for kind in delete replace; do
  : >"$WORK/below-expected"
  while IFS= read -r p; do
    [[ -d $SRC/$p && ! -L $SRC/$p ]] || continue
    printf '%s %s %s\n' "$p" "$(find "$SRC/$p" -mindepth 1 | wc -l)" \
      "$(find "$SRC/$p" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')" >>"$WORK/below-expected"
  done < <(jq -r ".plan.$kind[]" "$WORK/dry.json")
  jq -r ".plan.${kind}_below[] | \"\(.path) \(.entries) \(.bytes)\"" "$WORK/dry.json" >"$WORK/below-actual"
  [[ -s $WORK/below-expected ]] || check_failed "the upgrade left no directory to $kind (fixture changed?)"
  compare_files "dry-run plan: ${kind}_below vs find" "$WORK/below-expected" "$WORK/below-actual"
done
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --dry-run
grep -qE '^  html/epos/ \(directory: 2 entries inside, 7 B\)$' "$WORK/last.out" ||
  check_failed "dry-run text does not say what html/epos/ holds"
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --dry-run
grep -q 'dry run: nothing was changed' "$WORK/last.out" || check_failed "dry-run text does not say nothing changed"

step "without --yes and without a terminal: refused, nothing changed"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre </dev/null
expect_err_contains "--yes"
mtree "$SRC" >"$WORK/after-refuse.mtree"
compare_files "mtree after a refused rollback" "$WORK/upgraded-all.mtree" "$WORK/after-refuse.mtree"

step "rollback pre --yes, with stop and start commands"
LOG=$WORK/services.log
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --yes --json \
  --stop-cmd "echo stop >>'$LOG'; test ! -e '$SRC/var/must-not-exist'" \
  --start-cmd "echo start >>'$LOG'; ls '$SRC/config/settings.cfg' >/dev/null"
cp "$WORK/last.out" "$WORK/rollback.json"
note "$(jq -c '{steps_applied, verified, safety_snapshot_id, start_cmd_run, duration_s}' "$WORK/rollback.json")"
[[ $(json_get .verified) == true ]] || check_failed "rollback did not verify"
[[ $(cat "$LOG" | tr '\n' ' ') == "stop start " ]] || check_failed "services log is '$(cat "$LOG")', expected stop then start"
SAFETY=$(json_get .safety_snapshot_id)
mtree_kept "$SRC" "$WORK/rolled-kept.mtree"
compare_files "mtree outside the excluded folders: before the upgrade vs after the rollback" \
  "$WORK/pre-kept.mtree" "$WORK/rolled-kept.mtree"
mtree_excluded "$SRC" "$WORK/rolled-excluded.mtree"
compare_files "excluded folders: as the upgrade left them vs after the rollback" \
  "$WORK/upgraded-excluded.mtree" "$WORK/rolled-excluded.mtree"
[[ -f $SRC/mail/domain0.example/newuser/inbox/1.imap ]] || check_failed "new mail is gone"
[[ -z $(getfattr -h -d -m - --absolute-names "$SRC/config/cert.pem" 2>/dev/null | grep user.epos) ]] ||
  check_failed "the xattr the upgrade added is still there"
[[ -z $(find "$SRC" -name '.rewind-*' -print -quit) ]] || check_failed "temporary files left in the target"
expect_rc 0 "$REWIND" diff --repo "$REPO" pre --live "$SRC"
[[ ! -s $WORK/last.out ]] || { cat "$WORK/last.out" >&2; check_failed "diff --live after the rollback is not empty"; }
[[ -z $(ls -A "$REPO/rollback" 2>/dev/null) ]] || check_failed "the journal was not removed"
expect_rc 0 "$REWIND" snapshots --repo "$REPO" --json
jq -e --arg id "$SAFETY" '[.[] | select(.id == $id) | .tags] | first | index("rollback-safety") != null' \
  "$WORK/last.out" >/dev/null || check_failed "safety snapshot ${SAFETY:0:12} is not tagged rollback-safety"
expect_rc 0 "$REWIND" verify --repo "$REPO"

step "a second rollback to pre has nothing to do"
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --yes --no-safety-snapshot --json
[[ $(json_get .plan.steps) == 0 ]] || check_failed "second rollback planned $(json_get .plan.steps) steps"

step "the safety snapshot undoes the rollback"
expect_rc 0 "$REWIND" rollback --repo "$REPO" "$SAFETY" --yes --json
[[ $(json_get .verified) == true ]] || check_failed "rollback to the safety snapshot did not verify"
mtree "$SRC" >"$WORK/undone-all.mtree"
compare_files "mtree: the upgraded tree vs after rolling back to the safety snapshot" \
  "$WORK/upgraded-all.mtree" "$WORK/undone-all.mtree"
getfattr -h -n user.epos --absolute-names "$SRC/config/cert.pem" >/dev/null 2>&1 ||
  check_failed "the upgrade's xattr did not come back"

step "a --target that is not the installation (nothing in common with the snapshot): refused, nothing deleted"
mkdir -p "$WORK/unrelated/sub"
echo important >"$WORK/unrelated/db.dump"
echo also >"$WORK/unrelated/sub/kept"
mtree "$WORK/unrelated" >"$WORK/unrelated-before.mtree"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --target "$WORK/unrelated" --yes --no-safety-snapshot
expect_err_contains "is not the snapshot's source ($SRC) and none of the 2 entries at its top (db.dump, sub) is in the snapshot"
expect_err_contains "nothing was changed"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --target "$WORK/unrelated" --dry-run
expect_err_contains "the rollback would be refused: the target"
mtree "$WORK/unrelated" >"$WORK/unrelated-after.mtree"
compare_files "mtree of the unrelated directory before and after" "$WORK/unrelated-before.mtree" "$WORK/unrelated-after.mtree"
[[ -z $(ls -A "$REPO/rollback" 2>/dev/null) ]] || check_failed "the refused rollback left a journal"
# The installation moved since the backup (its names are the snapshot's), and an empty directory:
# rolled back.
cp -a "$SRC" "$WORK/moved"
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --target "$WORK/moved" --yes --no-safety-snapshot
expect_rc 0 "$REWIND" diff --repo "$REPO" pre --live "$WORK/moved"
[[ ! -s $WORK/last.out ]] || check_failed "diff --live of the moved installation after its rollback is not empty"
mkdir "$WORK/empty"
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --target "$WORK/empty" --yes --no-safety-snapshot
rm -rf "$WORK/moved" "$WORK/empty"

step "usage errors exit 2"
expect_rc 2 "$REWIND" rollback --repo "$REPO" --resume --yes
expect_err_contains "no interrupted rollback"
expect_rc 2 "$REWIND" diff --repo "$REPO" pre
expect_rc 2 "$REWIND" diff --repo "$REPO" pre upgraded --live "$SRC"
expect_rc 2 "$REWIND" rollback --repo "$REPO" no-such-tag --yes

step "a tag on two snapshots: the rollback says which one it takes"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --profile icewarp --tag pre --json
NEWEST=$(json_get .snapshot_id)
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --dry-run
expect_err_contains "tag \"pre\" is on 2 snapshots: the newest, ${NEWEST:0:12} ("

step "rewind snapshots: the columns stay aligned with a safety snapshot's two tags"
expect_rc 0 "$REWIND" snapshots --repo "$REPO"
python3 - "$WORK/last.out" "$SRC" <<'PY' || check_failed "snapshots: the source column is not aligned: $(cat "$WORK/last.out")"
import sys
lines = open(sys.argv[1]).read().splitlines()
col = lines[0].index("SOURCE / DATABASES")
rows = [l for l in lines[1:] if sys.argv[2] in l]
sys.exit(0 if rows and any("rollback-safety" in r for r in rows) and all(r.index(sys.argv[2]) == col for r in rows) else 1)
PY
