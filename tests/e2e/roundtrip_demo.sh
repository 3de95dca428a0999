#!/bin/bash
# An IceWarp-like installation (rewind-demo-gen) backed up with --profile icewarp and restored:
# the restore equals the source minus the contents of the 7 excluded folders, which come back
# empty with their own mode, owner and mtime. Then: a second backup adds little, ls, snapshot
# selectors (tag, id prefix, latest, REWIND_REPO), restore --include, and a zip archive.
# usage: roundtrip_demo.sh REWIND DEMO_GEN
source "$(dirname "$0")/lib.sh"
need_tools bsdtar jq

SRC=$WORK/opt/icewarp
REPO=$WORK/repo
DST=$WORK/restore
EXCLUDED=(mail logs archive mailqueue temp php var)

step "generate the demo installation (scale 0.2)"
"$DEMO_GEN" --out "$SRC" --seed 7 --scale 0.2
for d in "${EXCLUDED[@]}"; do
  [[ -n $(ls -A "$SRC/$d") ]] || fail "generator left $d/ empty; the test needs content there"
done

step "init + backup --profile icewarp --tag first"
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --profile icewarp --tag first --json
cp "$WORK/last.out" "$WORK/backup1.json"
SNAP1=$(json_get .snapshot_id)
ADDED1=$(json_get .bytes_added)
note "snapshot $SNAP1: $(jq -c '{files, dirs, bytes_read, bytes_added, duration_s, incomplete}' "$WORK/backup1.json")"
[[ $(json_get .incomplete) == false ]] || fail "first backup is incomplete"
(( ADDED1 > 0 )) || fail "first backup added $ADDED1 bytes"

step "--json 'excluded' names each excluded folder with a count"
for d in "${EXCLUDED[@]}"; do
  hit=$(jq -c --arg d "$d" '[.excluded[] | select(([.rule] + (.examples // []) | map(tostring)
        | any(test("(^|/)" + $d + "(/|$)"))))] | first // empty' "$WORK/backup1.json")
  if [[ -z $hit ]]; then
    jq -c '.excluded' "$WORK/backup1.json" >&2
    check_failed "no 'excluded' entry names $d/"
    continue
  fi
  [[ $(jq '.count' <<<"$hit") -ge 1 ]] || check_failed "excluded entry for $d/ has count < 1: $hit"
  note "$d/: $hit"
done

step "restore latest --target"
expect_rc 0 "$REWIND" restore --repo "$REPO" latest --target "$DST"

step "restore with only 64 descriptors (ulimit -n 64): the same tree"
# Restore holds each batch's files open; with few descriptors the batches are smaller.
expect_rc 0 bash -c 'ulimit -n 64 && exec "$0" restore --repo "$1" latest --target "$2"' "$REWIND" "$REPO" "$WORK/dst-few-fds"
diff -r --no-dereference "$DST" "$WORK/dst-few-fds" >&2 || check_failed "restore with 64 descriptors differs"
rm -rf "$WORK/dst-few-fds"

step "mtree of the source minus excluded contents vs mtree of the restore"
# Directories carry no nlink in bsdtar's mtree, so emptied folders compare equal.
pattern=$(IFS='|'; echo "^\\./(${EXCLUDED[*]})/")
mtree "$SRC" >"$WORK/src-all.mtree"
grep -Ev "$pattern" "$WORK/src-all.mtree" >"$WORK/src.mtree"
mtree "$DST" >"$WORK/dst.mtree"
note "source: $(wc -l <"$WORK/src-all.mtree") entries, $(wc -l <"$WORK/src.mtree") outside excluded folders"
awk '!/^\. /' "$WORK/src.mtree" >"$WORK/src-noroot.mtree"
awk '!/^\. /' "$WORK/dst.mtree" >"$WORK/dst-noroot.mtree"
compare_files "mtree listings (source minus excluded contents vs restore; root aside)" \
  "$WORK/src-noroot.mtree" "$WORK/dst-noroot.mtree"
for d in "${EXCLUDED[@]}"; do
  [[ -d $DST/$d && -z $(ls -A "$DST/$d") ]] || check_failed "$d/ is not restored as an empty directory"
done
note "the 7 excluded folders are restored empty, with their own mode/owner/mtime"
for d in config/mail html/temp; do
  n=$(grep -c "^\\./$d/" "$WORK/dst.mtree" || :)
  (( n > 0 )) || check_failed "$d/ contents are missing from the restore (not an excluded folder)"
  note "$d/: $n entries restored"
done

step "second backup of the unchanged source adds little"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --profile icewarp --json
cp "$WORK/last.out" "$WORK/backup2.json"
SNAP2=$(json_get .snapshot_id)
ADDED2=$(json_get .bytes_added)
note "snapshot $SNAP2: $(jq -c '{files, bytes_read, bytes_added, duration_s}' "$WORK/backup2.json")"
[[ $SNAP2 != "$SNAP1" ]] || fail "second backup returned the first snapshot id"
(( ADDED2 * 20 <= ADDED1 )) || check_failed "second backup added $ADDED2 bytes, first $ADDED1 (want <= 5%)"
[[ $(snapshot_count "$REPO") == 2 ]] || check_failed "snapshots --json does not list 2 snapshots"

step "snapshots with REWIND_REPO instead of --repo"
note "\$ REWIND_REPO=R rewind snapshots"
capture env REWIND_REPO="$REPO" "$REWIND" snapshots
[[ $RC == 0 ]] || { _show_last; fail "REWIND_REPO=R rewind snapshots exited $RC"; }
sed 's/^/     /' "$WORK/last.out"
grep -qF "${SNAP1:0:8}" "$WORK/last.out" || check_failed "snapshots does not show ${SNAP1:0:8}"
grep -qF "${SNAP2:0:8}" "$WORK/last.out" || check_failed "snapshots does not show ${SNAP2:0:8}"
grep -qF first "$WORK/last.out" || check_failed "snapshots does not show the tag 'first'"

step "ls by tag and by id prefix"
expect_rc 0 "$REWIND" ls --repo "$REPO" first config
grep -q 'settings\.cfg' "$WORK/last.out" || { _show_last; check_failed "ls first config: no settings.cfg"; }
grep -q '_webmail' "$WORK/last.out" || { _show_last; check_failed "ls first config: no _webmail"; }
note "ls first config: $(wc -l <"$WORK/last.out") lines, lists settings.cfg and _webmail"
expect_rc 0 "$REWIND" ls --repo "$REPO" "${SNAP2:0:8}"
for name in config html mail path.dat icewarpd; do
  grep -qE "(^|[ /])$name(/)?\$" "$WORK/last.out" ||
    { _show_last; check_failed "ls ${SNAP2:0:8} (root) does not list $name"; }
done
note "ls of the root lists config, html, mail (excluded, kept empty), path.dat, icewarpd"

step "restore --include 'config/**' restores only config"
DST2=$WORK/restore-config
expect_rc 0 "$REWIND" restore --repo "$REPO" "${SNAP1:0:12}" --target "$DST2" --include 'config/**'
mtree "$DST2" >"$WORK/dst2-all.mtree"
awk '!/^\. / && !/^\.\/config /' "$WORK/dst2-all.mtree" >"$WORK/dst2.mtree"
grep '^\./config/' "$WORK/src.mtree" >"$WORK/src-config.mtree"
compare_files "mtree of config/** (source vs include-restore)" \
  "$WORK/src-config.mtree" "$WORK/dst2.mtree"
[[ -d $DST2/config ]] || check_failed "config is not a directory in the include-restore"
if ! grep -qxF "$(grep '^\./config ' "$WORK/src.mtree")" "$WORK/dst2-all.mtree"; then
  note "WARNING: config/ itself was restored with other metadata than the source's:"
  note "  source : $(grep '^\./config ' "$WORK/src.mtree")"
  note "  restore: $(grep '^\./config ' "$WORK/dst2-all.mtree")"
fi

step "restore --archive (zip) holds the same contents as the directory restore"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP1" --archive "$WORK/snap.zip" --format zip
X=$WORK/extract-zip
mkdir "$X"
bsdtar -xf "$WORK/snap.zip" -C "$X" || fail "bsdtar cannot extract the zip"
note "diff -r --no-dereference restore extract-zip"
diff -r --no-dereference "$DST" "$X" >"$WORK/zipdiff" 2>&1 || {
  head -n 30 "$WORK/zipdiff" >&2
  check_failed "zip contents differ from the directory restore"
}

step "the restore target got the source root's own metadata"
compare_root "$WORK/src.mtree" "$WORK/dst.mtree"
