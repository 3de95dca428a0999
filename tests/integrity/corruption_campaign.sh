#!/bin/bash
# Corruption campaign: verify --read-data must notice any single damaged file.
# Builds one clean repository (rewind-demo-gen --scale 0.1 --seed 1, three backups with small
# changes between them: 3 snapshots, 3 index files, 3 packs), then runs TRIALS seeded trials.
# Each trial copies the clean repository, damages one file (corrupt.py: config, a pack, an index
# file or a snapshot, chosen category first so every category is hit; one byte XORed with a
# non-zero value, or the file truncated to a shorter length, 0 included) and runs
# `timeout 60 rewind verify --repo COPY --read-data`, which must exit 1 (damage found) or 2
# (could not run) — never 0 (damage missed), never 124 (hang) or >= 128 (crash).
# Failed trials are reported with their seed, file, damage and verify's output; the campaign goes
# on and fails at the end. A per-category summary is printed.
# usage: corruption_campaign.sh REWIND DEMO_GEN
#   TRIALS=N (default 120), SEED=S (first trial's seed, default 1000; trial i uses SEED + i),
#   ONLY=SEED runs the one trial with that seed (to reproduce a failure), KEEP=1 keeps the work dir.
source "$(dirname "$0")/../e2e/lib.sh"
need_tools python3 timeout
INTEG_DIR=$(cd "$(dirname "$0")" && pwd)
TRIALS=${TRIALS:-120}
SEED=${SEED:-1000}

SRC=$WORK/src
CLEAN=$WORK/clean
COPY=$WORK/copy

step "build the clean repository: 3 backups of rewind-demo-gen --scale 0.1 --seed 1"
"$DEMO_GEN" --out "$SRC" --seed 1 --scale 0.1 >/dev/null
expect_rc 0 "$REWIND" init --repo "$CLEAN"
expect_rc 0 "$REWIND" backup --repo "$CLEAN" --source "$SRC"
echo "a line added between backups" >>"$SRC/path.dat"
mkdir -p "$SRC/config/integrity"
head -c 200000 /dev/zero | tr '\0' 'x' >"$SRC/config/integrity/new.txt"
expect_rc 0 "$REWIND" backup --repo "$CLEAN" --source "$SRC"
python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(7).randbytes(300000))' \
  >"$SRC/config/integrity/random.bin"
expect_rc 0 "$REWIND" backup --repo "$CLEAN" --source "$SRC" --tag third
count() { find "$CLEAN/$1" -type f ! -name '.*' | wc -l; }
note "clean repository: $(count data) packs, $(count index) index files, $(count snapshots) snapshots, $(du -sh "$CLEAN" | cut -f1)"
(($(count data) >= 2 && $(count index) >= 2 && $(count snapshots) >= 2)) ||
  fail "the clean repository should hold >= 2 packs, index files and snapshots"
expect_rc 0 "$REWIND" verify --repo "$CLEAN" --read-data
note "the clean repository verifies: $(tail -n 1 "$WORK/last.out")"
[[ -z $(find "$CLEAN/locks" -type f 2>/dev/null) ]] || fail "locks left in the clean repository"

declare -A HITS=() RC1=() RC2=() BAD=() OPS=()
FAILED=()
trial() {
  local seed=$1 desc cat rel op detail size rc
  rm -rf "$COPY"
  cp -a "$CLEAN" "$COPY"
  desc=$(python3 "$INTEG_DIR/corrupt.py" "$seed" "$COPY") || fail "corrupt.py $seed failed"
  IFS=$'\t' read -r cat rel op detail size <<<"$desc"
  HITS[$cat]=$((${HITS[$cat]:-0} + 1))
  OPS[$cat.$op]=$((${OPS[$cat.$op]:-0} + 1))
  if timeout 60 "$REWIND" verify --repo "$COPY" --read-data >"$WORK/v.out" 2>"$WORK/v.err"; then
    rc=0
  else
    rc=$?
  fi
  case $rc in
    1) RC1[$cat]=$((${RC1[$cat]:-0} + 1)) ;;
    2) RC2[$cat]=$((${RC2[$cat]:-0} + 1)) ;;
  esac
  if [[ $rc != 1 && $rc != 2 ]]; then
    BAD[$cat]=$((${BAD[$cat]:-0} + 1))
    local why="exited $rc"
    [[ $rc == 0 ]] && why="exited 0: the damage was NOT detected"
    [[ $rc == 124 ]] && why="timed out after 60 s (hang)"
    ((rc > 128)) && why="killed by signal $((rc - 128)) (crash)"
    FAILED+=("seed $seed: $cat $rel $op $detail (size $size): verify $why")
    {
      echo "FAIL: trial seed=$seed: $cat $rel: $op $detail (file size $size): verify --read-data $why"
      echo "  reproduce: ONLY=$seed bash $0 REWIND DEMO_GEN"
      echo "  --- verify stdout (first 30 lines):"
      head -n 30 "$WORK/v.out" | cut -c1-300 | sed 's/^/  /'
      echo "  --- verify stderr (first 30 lines):"
      head -n 30 "$WORK/v.err" | cut -c1-300 | sed 's/^/  /'
    } >&2
  fi
  printf '   seed %-5s %-8s %-9s %-45s -> %s\n' "$seed" "$cat" "$op" "${detail%% (*}" "$rc"
}

if [[ -n ${ONLY:-} ]]; then
  step "one trial, seed $ONLY"
  trial "$ONLY"
else
  step "$TRIALS trials, seeds $SEED..$((SEED + TRIALS - 1)): damage one file, verify --read-data"
  for ((i = 0; i < TRIALS; i++)); do trial $((SEED + i)); done
fi

step "summary"
printf '   %-9s %6s %6s %8s %10s %10s %7s\n' category trials flips truncates "exit 1" "exit 2" failed
for cat in config pack index snapshot; do
  printf '   %-9s %6s %6s %8s %10s %10s %7s\n' "$cat" "${HITS[$cat]:-0}" "${OPS[$cat.flip]:-0}" \
    "${OPS[$cat.truncate]:-0}" "${RC1[$cat]:-0}" "${RC2[$cat]:-0}" "${BAD[$cat]:-0}"
done
if [[ -z ${ONLY:-} ]]; then
  for cat in config pack index snapshot; do
    ((${HITS[$cat]:-0} > 0)) || check_failed "no trial hit category $cat"
  done
fi
for f in "${FAILED[@]}"; do check_failed "$f"; done
