#!/bin/bash
# verify --read-data-subset: the slices n/m, n = 1..m, together read every pack exactly once;
# a percentage runs; bad values are refused with exit 2.
# The repository gets 9 packs cheaply: one backup of rewind-demo-gen --scale 0.05, then 8 more
# that each add a ~200 kB random file (every backup writes its own pack).
# Checks (verify --json: packs, packs_read, blobs_read):
#   - --read-data reads every pack (packs_read == packs);
#   - for m = 3: the packs_read of n = 1..3 sum to packs, and their blobs_read sum to the
#     blobs_read of --read-data (a pack read twice and another never would break one of them);
#   - each slice reads the packs engine/ops/verify.h assigns it (first 8 bytes of the pack id,
#     big-endian, mod m == n - 1), counted here from the file names in data/;
#   - --read-data-subset P% reads a random P % of the packs, rounded up: 50% reads ceil(P/2),
#     1.5% still reads one (never none);
#   - --read-data with --read-data-subset is refused (exit 2): one or the other;
#   - "0/3", "4/3", "abc", "0%", "150%" (and "1/0", "-5%", "1/3/3", "50") exit 2.
# usage: verify_subset.sh REWIND DEMO_GEN
source "$(dirname "$0")/../e2e/lib.sh"
need_tools jq python3

SRC=$WORK/src
REPO=$WORK/repo
M=3

step "a repository with 9 packs"
"$DEMO_GEN" --out "$SRC" --seed 4 --scale 0.05 >/dev/null
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC"
for i in 1 2 3 4 5 6 7 8; do
  python3 -c "import random,sys; sys.stdout.buffer.write(random.Random($i).randbytes(200000 + $i * 1000))" \
    >"$SRC/extra$i.bin"
  capture "$REWIND" backup --repo "$REPO" --source "$SRC"
  [[ $RC == 0 ]] || { _show_last; fail "backup $i exited $RC"; }
done
PACK_IDS=$(find "$REPO/data" -type f ! -name '.*' -printf '%f\n' | sort)
P=$(wc -l <<<"$PACK_IDS")
note "$P packs in data/"
((P >= 6)) || fail "want at least 6 packs, got $P"

step "verify --read-data --json reads every pack"
expect_rc 0 "$REWIND" verify --repo "$REPO" --read-data --json
[[ $(json_get .packs) == "$P" ]] || check_failed "verify counts $(json_get .packs) packs, data/ holds $P"
[[ $(json_get .packs_read) == "$P" ]] || check_failed "--read-data read $(json_get .packs_read) of $P packs"
BLOBS_ALL=$(json_get .blobs_read)
note "packs=$P packs_read=$(json_get .packs_read) blobs_read=$BLOBS_ALL"

step "--read-data-subset n/$M for n = 1..$M"
sum_packs=0
sum_blobs=0
for ((n = 1; n <= M; n++)); do
  expect_rc 0 "$REWIND" verify --repo "$REPO" --read-data-subset "$n/$M" --json
  got=$(json_get .packs_read)
  blobs=$(json_get .blobs_read)
  [[ $(json_get .packs) == "$P" ]] || check_failed "$n/$M: verify counts $(json_get .packs) packs, want $P"
  # The rule of engine/ops/verify.h, computed from the names: u64 big-endian of the id's first
  # 8 bytes, mod m.
  want=$(python3 -c '
import sys
n, m = int(sys.argv[1]), int(sys.argv[2])
print(sum(1 for line in sys.stdin if line.strip() and int(line[:16], 16) % m == n - 1))' \
    "$n" "$M" <<<"$PACK_IDS")
  note "$n/$M: packs_read=$got (by the id rule: $want) blobs_read=$blobs"
  [[ $got == "$want" ]] ||
    check_failed "$n/$M read $got packs; the packs whose id's first 8 bytes mod $M == $((n - 1)) are $want"
  sum_packs=$((sum_packs + got))
  sum_blobs=$((sum_blobs + blobs))
done
note "sum over n: packs_read=$sum_packs (packs=$P), blobs_read=$sum_blobs (--read-data: $BLOBS_ALL)"
[[ $sum_packs == "$P" ]] || check_failed "the slices 1..$M/$M read $sum_packs packs in all, the repository has $P"
[[ $sum_blobs == "$BLOBS_ALL" ]] ||
  check_failed "the slices 1..$M/$M read $sum_blobs blobs in all, --read-data reads $BLOBS_ALL"

step "--read-data-subset 50% on the clean repository"
expect_rc 0 "$REWIND" verify --repo "$REPO" --read-data-subset 50% --json
got=$(json_get .packs_read)
note "50%: packs_read=$got of $P"
((got == (P + 1) / 2)) || check_failed "50% read $got packs of $P, not $(((P + 1) / 2))"
expect_rc 0 "$REWIND" verify --repo "$REPO" --read-data-subset 1.5% --json
got=$(json_get .packs_read)
[[ $got == 1 ]] || check_failed "1.5% of $P packs read $got packs, not 1"
expect_rc 2 "$REWIND" verify --repo "$REPO" --read-data --read-data-subset 1/2

step "bad subsets exit 2"
for bad in 0/3 4/3 abc 0% 150% 1/0 -5% 1/3/3 50; do
  capture "$REWIND" verify --repo "$REPO" --read-data-subset "$bad"
  note "--read-data-subset '$bad' -> exit $RC: $(head -n 1 "$WORK/last.err" | cut -c1-120)"
  [[ $RC == 2 ]] || { _show_last; check_failed "--read-data-subset '$bad' exited $RC, want 2"; }
done
