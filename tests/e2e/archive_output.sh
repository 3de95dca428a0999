#!/bin/bash
# restore --archive, judged by the programs that read archives (bsdtar, GNU tar, zstd, gzip,
# unzip):
# in every format, the archive written to a named file, to standard output redirected into a
# file and to standard output through a pipe is the same bytes, which every reader takes whole:
# every entry listed, no error, nothing after the end (no padding after a compressed stream).
# A restore that fails half-way exits 2 and leaves a stream that every reader reports as broken,
# and nothing at the name of a named file. Without --format, the name's extension says the format
# (.tgz and .tar.gz are gzip); names of formats rewind does not write are refused (bad_input.sh).
# usage: archive_output.sh REWIND DEMO_GEN
source "$(dirname "$0")/lib.sh"
need_tools bsdtar tar zstd gzip unzip python3 jq

SRC=$WORK/src
REPO=$WORK/repo
FORMATS=(tar tar.zst tar.gz zip)

step "fixture: small files, a 3 MiB incompressible file, subdirectories, a symlink"
# Entries come out in name order: small files first, then the large one (more than the
# compressors hold back before writing anything), then directories, then a last file.
mkdir -p "$SRC/d-sub/deeper" "$SRC/e-empty"
printf 'small\n' >"$SRC/a-small.txt"
seq 100000 104000 >"$SRC/b-victim.txt"
python3 -c 'import random, sys; sys.stdout.buffer.write(random.Random(7).randbytes(3 << 20))' \
  >"$SRC/c-big.bin"
seq 1 500 >"$SRC/d-sub/one.txt"
printf 'deeper\n' >"$SRC/d-sub/deeper/two.txt"
ln -s a-small.txt "$SRC/f-link"
seq 1 300 >"$SRC/z-last.txt"
(cd "$SRC" && find . -mindepth 1 | sed 's|^\./||' | sort) >"$WORK/expected.list"
# Tar formats begin with the source directory's own entry, "./" (its mode, owner and times).
(echo .; cat "$WORK/expected.list") | sort >"$WORK/expected-tar.list"
note "$(wc -l <"$WORK/expected.list") entries"

expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --json
SNAP=$(json_get .snapshot_id)

# sorted_list: the names on stdin, without a directory's trailing slash, sorted.
sorted_list() { sed 's|/$||' | sort; }

# check_whole FMT FILE: FILE is a whole archive of format FMT for each reader, listing exactly
# the source's entries.
check_whole() {
  local fmt=$1 f=$2 what="$1 archive $(basename "$2")" expected=$WORK/expected-tar.list
  [[ $fmt != zip ]] || expected=$WORK/expected.list
  case $fmt in
    tar) tar -tf "$f" >"$WORK/gnu.list" 2>"$WORK/reader.err" ;;
    tar.zst)
      zstd -tq "$f" 2>"$WORK/reader.err" || { cat "$WORK/reader.err" >&2; check_failed "zstd -t: $what is not a valid zstd stream"; }
      tar --zstd -tf "$f" >"$WORK/gnu.list" 2>"$WORK/reader.err" ;;
    tar.gz)
      gzip -tq "$f" 2>"$WORK/reader.err" || { cat "$WORK/reader.err" >&2; check_failed "gzip -t: $what is not a valid gzip stream"; }
      tar -tzf "$f" >"$WORK/gnu.list" 2>"$WORK/reader.err" ;;
    zip)
      unzip -tq "$f" >"$WORK/reader.err" 2>&1 || { cat "$WORK/reader.err" >&2; check_failed "unzip -t: $what is damaged"; }
      unzip -Z1 "$f" >"$WORK/gnu.list" 2>"$WORK/reader.err" ;;
  esac || { head -c 1000 "$WORK/reader.err" >&2; check_failed "GNU tar / unzip could not list $what"; }
  # Not a word from the reader. GNU tar 1.34 does not know the pax keyword hdrcharset
  # (POSIX.1-2008) and warns for each entry that has it: only names that are not ASCII may carry
  # it, and this fixture's names are ASCII.
  if [[ -s $WORK/reader.err ]]; then
    head -c 1000 "$WORK/reader.err" >&2
    check_failed "GNU tar / unzip complained about $what"
  fi
  sorted_list <"$WORK/gnu.list" >"$WORK/gnu.sorted"
  compare_files "entries of $what (GNU tar / unzip)" "$expected" "$WORK/gnu.sorted"
  bsdtar -tf "$f" >"$WORK/bsd.list" 2>"$WORK/reader.err" ||
    { head -c 1000 "$WORK/reader.err" >&2; check_failed "bsdtar -tf failed on $what"; }
  sorted_list <"$WORK/bsd.list" >"$WORK/bsd.sorted"
  compare_files "entries of $what (bsdtar)" "$expected" "$WORK/bsd.sorted"
}

for fmt in "${FORMATS[@]}"; do
  step "$fmt: to a named file, to a redirected standard output, through a pipe: same bytes, whole"
  NAMED=$WORK/named.$fmt
  expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --archive "$NAMED" --format "$fmt"
  note "\$ rewind restore ... --archive - --format $fmt > redirected.$fmt"
  "$REWIND" restore --repo "$REPO" "$SNAP" --archive - --format "$fmt" >"$WORK/redirected.$fmt" 2>"$WORK/redirect.err" ||
    { cat "$WORK/redirect.err" >&2; fail "restore --archive - --format $fmt > FILE exited $?"; }
  note "\$ rewind restore ... --archive - --format $fmt | cat > piped.$fmt"
  "$REWIND" restore --repo "$REPO" "$SNAP" --archive - --format "$fmt" 2>"$WORK/pipe.err" |
    cat >"$WORK/piped.$fmt"
  [[ ${PIPESTATUS[0]} == 0 ]] || { cat "$WORK/pipe.err" >&2; fail "restore --archive - | cat exited ${PIPESTATUS[0]}"; }
  note "sizes: named $(stat -c %s "$NAMED"), redirected $(stat -c %s "$WORK/redirected.$fmt"), piped $(stat -c %s "$WORK/piped.$fmt")"
  for out in redirected piped; do
    cmp "$NAMED" "$WORK/$out.$fmt" >/dev/null 2>&1 ||
      check_failed "$fmt: the $out standard output differs from the named file ($(cmp "$NAMED" "$WORK/$out.$fmt" 2>&1 || :))"
  done
  for out in "$NAMED" "$WORK/redirected.$fmt" "$WORK/piped.$fmt"; do
    check_whole "$fmt" "$out"
  done
done

# A restore that fails half-way exits 2 and must leave a stream that every reader reports as
# broken: no end-of-archive marker, no end of the compression frame, never a well-formed archive
# with a file zero-filled to its size and the entries after it missing. Three failures: a damaged
# chunk of b-victim.txt (second entry: the compressors have written nothing yet, and a tar ends
# inside that file's data), a damaged tree of d-sub/ (after 3 MiB: the compressors are mid-frame,
# and a tar is between two entries, which tar readers accept as an end) and a damaged root tree
# (nothing written at all: an empty output is an empty archive to bsdtar).
FIND_BLOB=$E2E_DIR/../integrity/find_blob.py
python3 "$FIND_BLOB" "$REPO" --file "$SRC/b-victim.txt" >"$WORK/chunk.txt" ||
  fail "find_blob.py found no chunk of b-victim.txt"
[[ $(wc -l <"$WORK/chunk.txt") == 1 ]] || fail "b-victim.txt should be one chunk: $(cat "$WORK/chunk.txt")"
IFS=$'\t' read -r PACK OFF CLEN _ _ <"$WORK/chunk.txt"
mkdir "$WORK/damaged"
cp -a "$REPO" "$WORK/damaged/chunk"
flip_byte "$WORK/damaged/chunk/$PACK" "$((OFF + CLEN / 2))"
# The tree of d-sub/: its id is in the root tree (a zstd frame of canonical JSON, docs/format.md §6).
ROOT=$(jq -r .tree "$REPO/snapshots/$SNAP")
python3 "$FIND_BLOB" "$REPO" --id "$ROOT" | head -n 1 >"$WORK/root.txt" || fail "find_blob.py does not find the root tree"
IFS=$'\t' read -r RPACK ROFF RCLEN _ _ <"$WORK/root.txt"
SUB=$(dd if="$REPO/$RPACK" iflag=skip_bytes,count_bytes skip="$ROFF" count="$RCLEN" status=none | zstd -dcq |
  jq -r '.entries[] | select(.name == "d-sub") | .subtree')
python3 "$FIND_BLOB" "$REPO" --id "$SUB" | head -n 1 >"$WORK/sub.txt" || fail "find_blob.py does not find the tree of d-sub ($SUB)"
IFS=$'\t' read -r SPACK SOFF SCLEN _ _ <"$WORK/sub.txt"
cp -a "$REPO" "$WORK/damaged/tree"
flip_byte "$WORK/damaged/tree/$SPACK" "$((SOFF + SCLEN / 2))"
cp -a "$REPO" "$WORK/damaged/root"
flip_byte "$WORK/damaged/root/$RPACK" "$((ROFF + RCLEN / 2))"

# check_broken FMT FILE: every reader of FMT fails on FILE.
check_broken() {
  local fmt=$1 f=$2 what="$1 archive $(basename "$2") of a failed restore ($(stat -c %s "$2") bytes)" x=$WORK/x
  rm -rf "$x" && mkdir "$x"
  if bsdtar -xf "$f" -C "$x" 2>"$WORK/reader.err"; then
    check_failed "bsdtar -xf took the $what without an error (extracted: $(cd "$x" && find . -mindepth 1 | sort | tr '\n' ' '))"
  else
    note "bsdtar -xf: $(grep -v 'Error exit delayed' "$WORK/reader.err" | tail -n 1 || :)"
  fi
  case $fmt in
    tar.zst)
      if zstd -tq "$f" 2>"$WORK/reader.err"; then check_failed "zstd -t took the $what"; else note "zstd -t: $(tail -n 1 "$WORK/reader.err")"; fi ;;
    tar.gz)
      if gzip -tq "$f" 2>"$WORK/reader.err"; then check_failed "gzip -t took the $what"; else note "gzip -t: $(tail -n 1 "$WORK/reader.err")"; fi ;;
    zip)
      if unzip -tq "$f" >"$WORK/reader.err" 2>&1; then check_failed "unzip -t took the $what"; else note "unzip -t: exit $?"; fi ;;
  esac
  if [[ $fmt != zip ]]; then
    rm -rf "$x" && mkdir "$x"
    if tar -xf "$f" -C "$x" 2>"$WORK/reader.err"; then
      check_failed "GNU tar -xf took the $what"
    else
      note "GNU tar -xf: $(grep -v hdrcharset "$WORK/reader.err" | head -n 1 || :)"
    fi
  fi
}

for damage in chunk tree root; do
  DREPO=$WORK/damaged/$damage
  for fmt in "${FORMATS[@]}"; do
    step "damaged $damage, $fmt: exit 2, and what was written is broken for every reader"
    note "\$ rewind restore ... --archive - --format $fmt > broken.$fmt"
    rc=0
    "$REWIND" restore --repo "$DREPO" "$SNAP" --archive - --format "$fmt" >"$WORK/broken.$fmt" 2>"$WORK/restore.err" || rc=$?
    note "exit $rc: $(tail -n 1 "$WORK/restore.err")"
    [[ $rc == 2 ]] || check_failed "damaged $damage, $fmt to standard output: exit $rc, expected 2"
    check_broken "$fmt" "$WORK/broken.$fmt"

    note "\$ rewind restore ... --archive - --format $fmt | bsdtar -xf -"
    rm -rf "$WORK/x" && mkdir "$WORK/x"
    "$REWIND" restore --repo "$DREPO" "$SNAP" --archive - --format "$fmt" 2>"$WORK/restore.err" |
      bsdtar -xf - -C "$WORK/x" 2>"$WORK/reader.err" && :
    rcs=("${PIPESTATUS[@]}")
    note "exits: rewind ${rcs[0]}, bsdtar ${rcs[1]}: $(grep -v 'Error exit delayed' "$WORK/reader.err" | tail -n 1 || :)"
    [[ ${rcs[0]} == 2 ]] || check_failed "damaged $damage, $fmt through a pipe: rewind exited ${rcs[0]}, expected 2"
    [[ ${rcs[1]} != 0 ]] || check_failed "damaged $damage, $fmt: bsdtar -xf - at the end of the pipe exited 0"

    NAMED=$WORK/failed.$fmt
    expect_rc 2 "$REWIND" restore --repo "$DREPO" "$SNAP" --archive "$NAMED" --format "$fmt"
    leftovers=$(find "$WORK" -maxdepth 1 -name "failed.$fmt*")
    [[ -z $leftovers ]] || check_failed "a failed restore --archive FILE left $leftovers"
  done
done

step "without --format, the name says the format: .tgz and .tar.gz are gzip, others tar.zst, zip, tar"
for name in snap.tgz snap.tar.gz SNAP.TGZ snap.tar.zst snap.tzst snap.zip snap.tar snap noext.backup; do
  expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --archive "$WORK/$name"
  head=$(head -c 4 "$WORK/$name" | od -An -tx1 | tr -d ' \n')
  ustar=$(dd if="$WORK/$name" iflag=skip_bytes,count_bytes skip=257 count=5 status=none)
  case ${name,,} in
    *.tgz | *.tar.gz) want=1f8b fmt=tar.gz ;;
    *.tar.zst | *.tzst) want=28b52ffd fmt=tar.zst ;;
    *.zip) want=504b0304 fmt=zip ;;
    *) want=ustar fmt=tar ;;
  esac
  note "$name: starts with $head; ustar at 257: '$ustar'"
  if [[ $want == ustar ]]; then
    [[ $ustar == ustar ]] || check_failed "$name is not a plain tar (starts with $head)"
  else
    [[ $head == "$want"* ]] || check_failed "$name does not start with the $fmt magic $want but $head"
  fi
  check_whole "$fmt" "$WORK/$name"
  expect_err_contains "wrote $fmt archive"
done
