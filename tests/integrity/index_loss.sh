#!/bin/bash
# Index loss and a damaged blob: the index can be rebuilt from the packs alone (docs/format.md §4,
# §5), and a restore whose blobs are damaged fails loudly for that file and restores the rest.
#  1. backup; rm R/index/*; verify exits 1 (the snapshot's blobs are not in the index); repair
#     index exits 0; verify --read-data exits 0; the restore equals the source.
#  2. one byte of the LAST chunk of config/victim/victim.bin (2.5 MB of random bytes: 3 chunks,
#     found by reading the pack trailers here, not with rewind) is flipped, so a restore that
#     streamed the file would have written its first chunks before meeting the damage:
#     verify --read-data exits 1 and names the file; restore (the damaged blob still indexed)
#     exits non-zero, names the file on stderr, leaves nothing under its name (no half-written
#     file) and restores every other entry exactly. Then rm R/index/* and repair index: the
#     damaged blob is left out and reported; verify exits 1 and names the file; restore behaves
#     as before.
# usage: index_loss.sh REWIND DEMO_GEN
source "$(dirname "$0")/../e2e/lib.sh"
need_tools bsdtar python3 sha256sum
INTEG_DIR=$(cd "$(dirname "$0")" && pwd)

SRC=$WORK/src
REPO=$WORK/repo
VICTIM=config/victim/victim.bin

step "source: rewind-demo-gen --scale 0.1 --seed 2 + config/victim/{victim.bin,sibling.txt}"
"$DEMO_GEN" --out "$SRC" --seed 2 --scale 0.1 >/dev/null
mkdir "$SRC/config/victim"
# 2.5 MB of random bytes: 3 chunks (FastCDC, 512 KiB..8 MiB), stored nowhere else.
python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(11).randbytes(2500000))' \
  >"$SRC/$VICTIM"
echo "the victim's neighbour" >"$SRC/config/victim/sibling.txt"
touch -d '2023-01-02 03:04:05.5' "$SRC/$VICTIM" "$SRC/config/victim/sibling.txt" "$SRC/config/victim"
mtree "$SRC" >"$WORK/src.mtree"

# check_damaged_restore TARGET WHEN: restore SNAP into TARGET must exit non-zero, name $VICTIM on
# stderr, leave nothing under its name, and restore every other entry exactly.
check_damaged_restore() {
  local T=$1 when=$2
  capture "$REWIND" restore --repo "$REPO" "$SNAP" --target "$T"
  sed 's/^/     /' "$WORK/last.err" | head -n 10
  [[ $RC != 0 ]] || check_failed "restore ($when) exited 0 although $VICTIM could not be restored"
  ((RC < 124)) || check_failed "restore ($when) exited $RC (crash or signal)"
  grep -qF "$VICTIM" "$WORK/last.err" || check_failed "restore's stderr ($when) does not name $VICTIM"
  if [[ -e $T/$VICTIM || -L $T/$VICTIM ]]; then
    if cmp -s "$SRC/$VICTIM" "$T/$VICTIM"; then
      check_failed "restore ($when) created $VICTIM with the right bytes from a damaged blob (?)"
    else
      check_failed "restore ($when) left $VICTIM in the target with WRONG bytes ($(stat -c %s "$T/$VICTIM") bytes): a corrupt or half-written file under its final name"
    fi
  fi
  mtree "$T" >"$T.mtree"
  grep -vF "./$VICTIM " "$WORK/src.mtree" >"$WORK/src-novictim.mtree"
  compare_files "mtree (source without $VICTIM vs restore of the damaged snapshot, $when)" \
    "$WORK/src-novictim.mtree" "$T.mtree"
}

step "1. backup, then lose every index file"
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC"
SNAP=$(last_line)
note "snapshot $SNAP; index files: $(ls "$REPO/index" | wc -l)"
rm -rf "${REPO:?}"/index/*

step "verify without an index: exit 1, the snapshot's blobs are not in the index"
expect_rc 1 "$REWIND" verify --repo "$REPO"
grep -q '^DAMAGE' "$WORK/last.out" || { _show_last; check_failed "verify exited 1 but printed no DAMAGE line"; }
grep -F "${SNAP:0:12}" "$WORK/last.out" | head -n 3 | sed 's/^/     /'

step "repair index: exit 0, then verify --read-data: exit 0"
expect_rc 0 "$REWIND" repair index --repo "$REPO"
sed 's/^/     /' "$WORK/last.out" "$WORK/last.err"
n=$(find "$REPO/index" -type f ! -name '.*' | wc -l)
((n >= 1)) || check_failed "repair index wrote no index file"
expect_rc 0 "$REWIND" verify --repo "$REPO" --read-data
note "$(tail -n 1 "$WORK/last.out")"

step "restore after the repair equals the source"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --target "$WORK/restore1"
mtree "$WORK/restore1" >"$WORK/restore1.mtree"
compare_files "mtree (source vs restore after repair index)" "$WORK/src.mtree" "$WORK/restore1.mtree"

step "2. flip one byte inside the last chunk of victim.bin"
python3 "$INTEG_DIR/find_blob.py" "$REPO" --file "$SRC/$VICTIM" >"$WORK/chunks" ||
  fail "the pack trailers do not hold $VICTIM"
note "$VICTIM is $(wc -l <"$WORK/chunks") chunks (pack, offset, compressed, raw, blob id):"
cut -c1-150 "$WORK/chunks" | sed 's/^/     /'
(($(wc -l <"$WORK/chunks") >= 2)) || note "(only one chunk: the half-written-file case is not exercised)"
IFS=$'\t' read -r PACK OFF CLEN RLEN BLOB < <(tail -n 1 "$WORK/chunks")
n=$(python3 "$INTEG_DIR/find_blob.py" "$REPO" --id "$BLOB" | wc -l)
[[ $n == 1 ]] || fail "blob $BLOB is stored $n times; the test needs it once"
POS=$((OFF + CLEN / 2))
python3 - "$REPO/$PACK" "$POS" <<'EOF'
import sys
path, pos = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(pos)
    b = f.read(1)[0]
    f.seek(pos)
    f.write(bytes([b ^ 0x40]))
EOF
note "flipped byte $POS of $PACK (XOR 0x40)"

step "verify --read-data with the old index: exit 1, names $VICTIM"
expect_rc 1 "$REWIND" verify --repo "$REPO" --read-data
grep -E '^(DAMAGE|  blob)' "$WORK/last.out" | head -n 6 | cut -c1-200 | sed 's/^/     /'
grep -qF "$VICTIM" "$WORK/last.out" || { _show_last; check_failed "verify --read-data does not name $VICTIM"; }

step "restore with the damaged blob still indexed: fails loudly for $VICTIM, restores the rest"
check_damaged_restore "$WORK/restore2" "damaged blob in the index"

step "lose the index again; repair index leaves the damaged blob out and says so"
rm -rf "${REPO:?}"/index/*
capture "$REWIND" repair index --repo "$REPO"
sed 's/^/     /' "$WORK/last.out" "$WORK/last.err"
# Exit 0 (index rebuilt, problems listed) or 1 (rebuilt, damage found) are both fair; not 2+.
[[ $RC == 0 || $RC == 1 ]] || { _show_last; check_failed "repair index exited $RC, want 0 or 1"; }
note "repair index exited $RC"
grep -qiE "${BLOB:0:12}|damaged" "$WORK/last.out" "$WORK/last.err" ||
  check_failed "repair index does not report the damaged blob ${BLOB:0:12}"
n=$(find "$REPO/index" -type f ! -name '.*' | wc -l)
((n >= 1)) || fail "repair index wrote no index file"

step "verify --read-data after the repair: exit 1, names $VICTIM"
expect_rc 1 "$REWIND" verify --repo "$REPO" --read-data
grep -E '^(DAMAGE|  blob)' "$WORK/last.out" | head -n 6 | cut -c1-200 | sed 's/^/     /'
grep -qF "$VICTIM" "$WORK/last.out" || { _show_last; check_failed "verify does not name $VICTIM, the file that needs the damaged blob"; }
capture "$REWIND" verify --repo "$REPO" --read-data --json
if jq -e . "$WORK/last.out" >/dev/null 2>&1; then
  jq -e --arg b "$BLOB" --arg f "$VICTIM" '[.damaged_blobs[] | select(.blob == $b) | .needed_by[]
      | select(contains($f))] | length > 0' "$WORK/last.out" >/dev/null ||
    check_failed "verify --json: damaged_blobs has no entry for ${BLOB:0:12} needed by $VICTIM"
else
  check_failed "verify --read-data --json did not print JSON"
fi

step "restore after the repair: fails loudly for $VICTIM, restores the rest"
check_damaged_restore "$WORK/restore3" "blob left out of the index"
