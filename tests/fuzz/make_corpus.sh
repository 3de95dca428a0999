#!/bin/bash
# Regenerates the seed corpora of the format fuzz targets, tests/fuzz/corpus/{pack_trailer,index},
# from a tiny real repository written by rewind (two backups: two packs, two index files), plus
# damaged variants. Names and ids change from run to run (trees hold ctimes), the shapes do not.
# usage: make_corpus.sh REWIND [OUT_DIR (default: corpus/ next to this script)]
set -euo pipefail
REWIND=$(realpath "${1:?usage: $0 REWIND [OUT_DIR]}")
OUT=${2:-$(cd "$(dirname "$0")" && pwd)/corpus}
export LC_ALL=C
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rewind-corpus.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

mkdir -p "$WORK/src/sub"
printf 'hello\n' >"$WORK/src/a.txt"
printf '%s\n' {1..300} >"$WORK/src/sub/numbers.txt"
python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(1).randbytes(3000))' >"$WORK/src/sub/random.bin"
ln -s a.txt "$WORK/src/link"
"$REWIND" init --repo "$WORK/repo" >/dev/null
"$REWIND" backup --repo "$WORK/repo" --source "$WORK/src" >/dev/null 2>&1
first_pack=$(find "$WORK/repo/data" -type f ! -name '.*')
first_index=$(find "$WORK/repo/index" -type f ! -name '.*')
printf 'second\n' >"$WORK/src/b.txt"
"$REWIND" backup --repo "$WORK/repo" --source "$WORK/src" >/dev/null 2>&1
second_pack=$(find "$WORK/repo/data" -type f ! -name '.*' | grep -vxF "$first_pack")
second_index=$(find "$WORK/repo/index" -type f ! -name '.*' | grep -vxF "$first_index")

# flip FILE OFFSET_FROM_END OUT: a copy with the byte at size - OFFSET_FROM_END XORed with 0x01.
flip() {
  python3 - "$@" <<'PY'
import sys
src, back, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
b = bytearray(open(src, "rb").read())
b[len(b) - back] ^= 0x01
open(out, "wb").write(bytes(b))
PY
}

rm -rf "$OUT/pack_trailer" "$OUT/index"
mkdir -p "$OUT/pack_trailer" "$OUT/index"
P=$OUT/pack_trailer
cp "$first_pack" "$P/pack_first"
cp "$second_pack" "$P/pack_second"
size=$(stat -c %s "$first_pack")
s=$(od -An -tu4 -j $((size - 8)) -N4 "$first_pack" | tr -d ' ')
tail -c $((8 + s)) "$first_pack" >"$P/trailer_only"          # the trailer as the tail of a pack
head -c $((size - 1)) "$first_pack" >"$P/truncated_last_byte"
tail -c 8 "$first_pack" >"$P/footer_only"
flip "$first_pack" 1 "$P/bad_magic"                             # "RWPT" → "RWPU"
flip "$first_pack" 8 "$P/bad_size"                              # S changed
flip "$first_pack" 30 "$P/bad_trailer_checksum"                 # inside the checksums
flip "$first_pack" $((s - 8)) "$P/bad_entry_type"               # entry 0's type byte
: >"$P/empty"

I=$OUT/index
cp "$first_index" "$I/index_first"
cp "$second_index" "$I/index_second"
isize=$(stat -c %s "$first_index")
head -c $((isize - 1)) "$first_index" >"$I/truncated_last_byte"
head -c 16 "$first_index" >"$I/header_only"
flip "$first_index" 1 "$I/bad_checksum"
flip "$first_index" 12 "$I/bad_entry"                          # last entry's raw length
flip "$first_index" $((isize - 12)) "$I/bad_reserved"           # byte 12: reserved field
: >"$I/empty"
python3 - "$first_index" "$I/bad_magic" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[0] ^= 0x20  # "RWIX" → "rWIX"
open(sys.argv[2], "wb").write(bytes(b))
PY
ls -l "$P" "$I"
du -sb "$OUT"
