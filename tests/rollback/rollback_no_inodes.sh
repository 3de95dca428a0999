#!/bin/bash
# A rollback that cannot create the files it must write (the file system has no inodes left)
# is refused before it changes anything: every file it rewrites needs a new inode before the
# old one is freed, so it checks the file systems' free inodes and space before the first step
# (and creates the files of the plan, unnamed, while their data is read and checked).
#   - the installation lives on its own tmpfs with few inodes, the repository on the ordinary
#     disk;
#   - after the upgrade, empty files take every inode left;
#   - the rollback must exit 2 naming the cause (no inode free) and a directory, say nothing
#     was changed, leave the installation's mtree as it was, no journal, no lock, no temporary;
#   - once the fillers are gone the same rollback works and the installation (excluded folders
#     aside) is as before the upgrade.
# usage: rollback_no_inodes.sh REWIND DEMO_GEN
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/lib_rollback.sh"
need_root
need_tools bsdtar python3 setfattr mount umount

DISK=$WORK/disk
SRC=$DISK/icewarp
REPO=$WORK/repo
mount_test_tmpfs "$DISK" size=256m,nr_inodes=20000

step "demo installation (scale 0.1) on a tmpfs of 20000 inodes, backup --tag pre, simulated upgrade"
"$DEMO_GEN" --out "$SRC" --seed 13 --scale 0.1 >/dev/null
mtree_kept "$SRC" "$WORK/before.mtree"
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --profile icewarp --tag pre
simulate_upgrade "$SRC"

step "every inode left taken by empty files"
fill_inodes "$DISK/fill"
note "inodes free: $(df --output=iavail "$DISK" | tail -n 1 | tr -d ' ')"
mtree "$SRC" >"$WORK/upgraded.mtree"

step "rollback: refused before anything changes"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --yes
expect_err_contains "no inode is free on the file system holding"
expect_err_contains "nothing of the target was changed"
note "$(grep -m1 'no inode' "$WORK/last.err" | cut -c1-200)"
mtree "$SRC" >"$WORK/now.mtree"
compare_files "installation mtree: as the upgrade left it" "$WORK/upgraded.mtree" "$WORK/now.mtree"
[[ -z $(ls -A "$REPO/rollback" 2>/dev/null) ]] || check_failed "a journal was left: $(ls "$REPO/rollback")"
[[ -z $(ls -A "$REPO/locks" 2>/dev/null) ]] || check_failed "the refused rollback left a lock: $(ls "$REPO/locks")"
tmps=$(find "$SRC" -name '.rewind-*' | head -n 5)
[[ -z $tmps ]] || check_failed "temporary files left beside the files: $tmps"

step "inodes freed: the same rollback works"
rm -r "$DISK/fill"
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --yes
mtree_kept "$SRC" "$WORK/after.mtree"
compare_files "installation mtree (excluded folders aside): before the upgrade vs after the rollback" \
  "$WORK/before.mtree" "$WORK/after.mtree"

step "few inodes, not none: 300 files to rewrite, 150 inodes free: the rollback works"
# Each file rewritten takes a new inode before the old one is freed. The files written while
# the data is checked are limited to half the free inodes (all 300 at once were refused); the
# apply writes the rest as the old ones are freed, and a write that finds no inode free waits
# for the old files being freed in the background, then tries again.
SRC2=$DISK/many REPO2=$WORK/repo2
mkdir -p "$SRC2"
python3 - "$SRC2" <<'PY'
import os, sys
for i in range(300):
    with open(os.path.join(sys.argv[1], f"f{i:03d}.conf"), "w") as f:
        f.write(f"setting {i} = old\n")
PY
expect_rc 0 "$REWIND" init --repo "$REPO2"
expect_rc 0 "$REWIND" backup --repo "$REPO2" --source "$SRC2" --tag pre
mtree "$SRC2" >"$WORK/many-before.mtree"
python3 - "$SRC2" <<'PY'
import os, sys
for i in range(300):
    with open(os.path.join(sys.argv[1], f"f{i:03d}.conf"), "r+") as f:  # in place: same inode
        f.write(f"setting {i} = NEW\n")
PY
fill_inodes "$DISK/fill2" 150
note "inodes free: $(df --output=iavail "$DISK" | tail -n 1 | tr -d ' ')"
expect_rc 0 "$REWIND" rollback --repo "$REPO2" pre --yes --no-safety-snapshot
mtree "$SRC2" >"$WORK/many-after.mtree"
compare_files "300 files: before the upgrade vs after the rollback" "$WORK/many-before.mtree" "$WORK/many-after.mtree"
