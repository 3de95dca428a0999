#!/bin/bash
# A rollback onto a full disk (the upgrade grew the installation; the admin rolls back at 3 a.m.)
# stops with a clear error and loses nothing; after space is freed, `rollback --resume` finishes
# the same plan and the installation is exactly as before the upgrade.
#   - the installation lives on its own small tmpfs (a real file system that really fills up),
#     the repository on the ordinary disk;
#   - after the upgrade, a filler file takes all but a few KiB of the tmpfs: the files the
#     rollback must create (the upgrade deleted them) do not fit, and it is refused before
#     anything changes (its --dry-run says it would be);
#   - with 1 MiB more free they fit, but the 9 MiB library it rewrites does not: the rollback
#     must fail naming the cause (ENOSPC) and telling to resume, leave its journal and no
#     temporary file beside the files, and release its lock;
#   - the filler is removed; `rollback --resume` succeeds; mtree of the installation (excluded
#     folders aside) equals the one before the upgrade; the excluded folders are as the upgrade
#     left them.
# usage: rollback_full_disk.sh REWIND DEMO_GEN
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/lib_rollback.sh"
need_root
need_tools bsdtar python3 setfattr mount umount

DISK=$WORK/disk
SRC=$DISK/icewarp
REPO=$WORK/repo
mount_test_tmpfs "$DISK" size=48m

step "demo installation (scale 0.1) on a 48 MiB tmpfs, backup --tag pre, simulated upgrade"
"$DEMO_GEN" --out "$SRC" --seed 11 --scale 0.1 >/dev/null
mtree_kept "$SRC" "$WORK/before.mtree"
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --profile icewarp --tag pre
simulate_upgrade "$SRC"
mtree_excluded "$SRC" "$WORK/excluded-upgraded.mtree"

step "the disk fills up: a filler takes all but a few KiB"
# Written in 1 MiB blocks until ENOSPC, then the last 8 KiB given back.
dd if=/dev/zero of="$DISK/filler" bs=1M status=none 2>/dev/null || :
truncate -s -8K "$DISK/filler"
note "free on the tmpfs: $(df -k --output=avail "$DISK" | tail -n 1 | tr -d ' ') KiB"
mtree "$SRC" >"$WORK/full.mtree"

step "rollback on the full disk: the files it creates do not fit: refused before anything changes"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --yes
expect_err_contains "of files that $SRC does not have now, and its file system has"
expect_err_contains "nothing was changed"
[[ -z $(ls -A "$REPO/rollback" 2>/dev/null) ]] || check_failed "the refused rollback left a journal"
mtree "$SRC" >"$WORK/refused.mtree"
compare_files "mtree before and after the refused rollback" "$WORK/full.mtree" "$WORK/refused.mtree"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --dry-run
expect_err_contains "the rollback would be refused: the rollback creates"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --yes --json
jq -e '.exit_code == 2 and .resume_pending == false and .journal_id == null' "$WORK/last.out" >/dev/null ||
  check_failed "--json of the refusal does not say nothing is pending: $(cat "$WORK/last.out")"

step "1 MiB more free: the files it creates fit, the 9 MiB library it rewrites does not: stops part way"
# What it rewrites is not counted beforehand (its old file frees about as much): the apply finds
# out, names the cause, keeps its journal and leaves nothing half-written.
truncate -s -1M "$DISK/filler"
note "free on the tmpfs: $(df -k --output=avail "$DISK" | tail -n 1 | tr -d ' ') KiB"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --yes --json
jq -e '.resume_pending == true and (.journal_id | type == "string")' "$WORK/last.out" >/dev/null ||
  check_failed "--json of the part-way stop does not name the journal to resume: $(cat "$WORK/last.out")"
expect_err_contains "stopped part way"
expect_err_contains "No space left on device"
expect_err_contains "--resume"
note "$(grep -m1 -i 'space' "$WORK/last.err" | cut -c1-200)"
[[ -n $(ls -A "$REPO/rollback" 2>/dev/null) ]] || check_failed "no journal was kept for --resume"
[[ -z $(ls -A "$REPO/locks" 2>/dev/null) ]] || check_failed "the failed rollback left a lock: $(ls "$REPO/locks")"
tmps=$(find "$SRC" -name '.rewind-*' | head -n 5)
[[ -z $tmps ]] || check_failed "temporary files left beside the files: $tmps"

step "space freed: rollback --resume finishes the same plan"
rm "$DISK/filler"
expect_rc 0 "$REWIND" rollback --repo "$REPO" --resume --yes
[[ -z $(ls -A "$REPO/rollback" 2>/dev/null) ]] || check_failed "the journal is still there after --resume"
mtree_kept "$SRC" "$WORK/after.mtree"
compare_files "installation mtree (excluded folders aside): before the upgrade vs after resume" \
  "$WORK/before.mtree" "$WORK/after.mtree"
mtree_excluded "$SRC" "$WORK/excluded-after.mtree"
compare_files "excluded folders: as the upgrade left them" \
  "$WORK/excluded-upgraded.mtree" "$WORK/excluded-after.mtree"

