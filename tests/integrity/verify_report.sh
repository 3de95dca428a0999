#!/bin/bash
# What verify --read-data says about each damaged blob: who needs it. One byte is flipped in the
# frame of a file's chunk; verify names the blob and the snapshot path that needs it (exit 1).
# Then the snapshot's root tree is damaged too: verify names the tree as needed by the whole
# snapshot, and for the chunk — below the damaged tree, so no snapshot can be listed down to
# it — it says that what is below a damaged tree is not known, not that no snapshot needs it.
# usage: verify_report.sh REWIND DEMO_GEN
source "$(dirname "$0")/../e2e/lib.sh"
need_tools python3 jq
FIND_BLOB=$(dirname "$0")/find_blob.py

SRC=$WORK/src
REPO=$WORK/repo
"$DEMO_GEN" --out "$SRC" --seed 4 --scale 0.1 >/dev/null
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --json
SNAP=$(json_get .snapshot_id)

step "one byte of the chunk of config/settings.cfg: verify names the blob and the path that needs it"
python3 "$FIND_BLOB" "$REPO" --file "$SRC/config/settings.cfg" | head -n 1 >"$WORK/chunk.txt" ||
  fail "find_blob.py found no chunk of config/settings.cfg"
IFS=$'\t' read -r PACK OFF CLEN _RLEN BLOB <"$WORK/chunk.txt"
flip_byte "$REPO/$PACK" "$((OFF + CLEN / 2))"
expect_rc 1 "$REWIND" verify --repo "$REPO" --read-data --json
LINE=$(jq -r --arg b "${BLOB:0:12}" '.damage[] | select(startswith("blob " + $b))' "$WORK/last.out")
note "$LINE"
[[ $LINE == *"needed by 1 entry"* ]] || check_failed "the damaged chunk's line does not say one entry needs it: $LINE"
jq -e --arg b "$BLOB" --arg p "snapshot ${SNAP:0:12}: config/settings.cfg" \
  '.damaged_blobs[] | select(.blob == $b) | .needed_by | index($p) != null' "$WORK/last.out" >/dev/null ||
  check_failed "damaged_blobs does not name config/settings.cfg of snapshot ${SNAP:0:12} for blob ${BLOB:0:12}"

step "the root tree damaged too: the chunk below it is not said to be needed by no snapshot"
DOC=$REPO/snapshots/$SNAP
[[ -f $DOC ]] || DOC=$(grep -l "$SNAP" "$REPO"/snapshots/* | head -n 1)
ROOT=$(jq -r .tree "$DOC")
[[ $ROOT =~ ^[0-9a-f]{64}$ ]] || fail "no root tree id in the snapshot document $DOC"
python3 "$FIND_BLOB" "$REPO" --id "$ROOT" | head -n 1 >"$WORK/tree.txt" || fail "find_blob.py does not find the root tree"
IFS=$'\t' read -r TPACK TOFF TCLEN _ _ <"$WORK/tree.txt"
flip_byte "$REPO/$TPACK" "$((TOFF + TCLEN / 2))"
expect_rc 1 "$REWIND" verify --repo "$REPO" --read-data --json
TLINE=$(jq -r --arg b "${ROOT:0:12}" '.damage[] | select(startswith("blob " + $b))' "$WORK/last.out")
LINE=$(jq -r --arg b "${BLOB:0:12}" '.damage[] | select(startswith("blob " + $b))' "$WORK/last.out")
note "$TLINE"
note "$LINE"
[[ $TLINE == *"needed by 1 entry"* ]] || check_failed "the root tree's line does not say the snapshot needs it: $TLINE"
[[ $LINE == *"what is below a damaged tree is not known"* ]] ||
  check_failed "the chunk below the damaged root tree: '$LINE'"
