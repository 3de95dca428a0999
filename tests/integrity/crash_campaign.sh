#!/bin/bash
# Crash campaign (docs/format.md §9, I3): a backup killed with SIGKILL at any moment leaves a
# repository whose every snapshot is whole.
# Source: rewind-demo-gen --scale 0.3 plus a 40 MiB random file (3 packs of ~16 MiB). A clean
# backup is timed first (D, the shorter of two); then RUNS seeded runs, each on a fresh
# repository: start `rewind backup` in the background and SIGKILL it after a delay spread over
# [0, 1.2 D] (run i draws its delay inside the i-th of RUNS equal slices, so the kills land all
# over the backup and the last ones after it finished). After each kill:
#   - `rewind verify --read-data` exits 0: packs no index names are notes, not damage, and the
#     stale lock the killed process left must not make verify fail;
#   - the next backup of the same source exits 0;
#   - the newest snapshot restores into an empty directory identical to the source (bsdtar
#     mtree listings: type, mode, owner, mtime, size, sha256, link target);
#   - `rewind unlock` exits 0 and leaves locks/ empty (the killed backup's lock is stale).
# Each run prints the kill time and what was on disk (packs, temporaries, index files,
# snapshots, locks) to show the kills landed at different moments.
# usage: crash_campaign.sh REWIND DEMO_GEN
#   RUNS=N (default 20), SEED=S (default 1; run i uses seed S + i), ONLY=I runs run I only,
#   KEEP=1 keeps the work directory.
source "$(dirname "$0")/../e2e/lib.sh"
need_tools bsdtar jq python3
RUNS=${RUNS:-20}
SEED=${SEED:-1}

SRC=$WORK/src
REPO=$WORK/repo
DST=$WORK/restore

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# Counts regular files under REPO/$1 (temporaries apart), and temporaries (names starting with .).
nfiles() { find "$REPO/$1" -type f ! -name '.*' 2>/dev/null | wc -l; }
ntemps() { find "$REPO" -type f -name '.*' 2>/dev/null | wc -l; }

step "source: rewind-demo-gen --scale 0.3 --seed 3 + a 40 MiB random file"
"$DEMO_GEN" --out "$SRC" --seed 3 --scale 0.3 >/dev/null
python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(3).randbytes(40 << 20))' \
  >"$SRC/random-40MiB.bin"
touch -d '2024-05-01 12:00:00.123456789' "$SRC/random-40MiB.bin"
mtree "$SRC" >"$WORK/src.mtree"
note "$(wc -l <"$WORK/src.mtree") entries, $(du -sh "$SRC" | cut -f1)"

# The shorter counts: a run slowed by a neighbour (ctest -j2 on 2 cores once took 3318 ms
# against 250 ms for the other) spread the kills over 4 s of a backup of 0.25 s, and most came
# after its end.
step "time a clean backup (twice; the shorter counts)"
D=0
for i in 1 2; do
  rm -rf "$REPO"
  expect_rc 0 "$REWIND" init --repo "$REPO"
  t0=$(now_ms)
  expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC"
  t=$(($(now_ms) - t0))
  ((D == 0 || t < D)) && D=$t
  note "clean backup: $t ms; $(nfiles data) packs, $(nfiles index) index files, $(nfiles snapshots) snapshots"
done
((D >= 1)) || D=1
SPAN=$((D * 12 / 10))
note "kill delays spread over 0..$SPAN ms"

declare -a SUMMARY=()
FINISHED=0
KILLED=0
run() {
  local i=$1 seed=$((SEED + $1)) delay_ms delay pid rc at_kill verdict notes
  RANDOM=$seed
  # Stratified: run i draws its delay uniformly inside slice i of RUNS slices of [0, SPAN).
  delay_ms=$(((i * 1000 + RANDOM % 1000) * SPAN / (RUNS * 1000)))
  # A kill meant to land inside the backup (delay < D) that came too late because this backup
  # ran faster than the timed ones (the machine's load changes) is tried again sooner: at most
  # 3 retries, each halving the delay. Kills meant for after the end (delay >= D) are not retried.
  local attempt
  for ((attempt = 0; ; attempt++)); do
    delay=$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))
    rm -rf "$REPO" "$DST"
    "$REWIND" init --repo "$REPO" >/dev/null
    "$REWIND" backup --repo "$REPO" --source "$SRC" >"$WORK/bg.out" 2>"$WORK/bg.err" &
    pid=$!
    BG_PIDS="$pid"
    sleep "$delay"
    kill -KILL "$pid" 2>/dev/null || :
    # (wait's stderr: bash's "Killed" job message)
    if { wait "$pid"; } 2>/dev/null; then rc=0; else rc=$?; fi
    BG_PIDS=""
    if [[ $rc == 0 && $delay_ms -lt $D && $attempt -lt 3 && $delay_ms -gt 0 ]]; then
      note "run $i: the backup finished before the kill at $delay s; trying again at half the delay"
      delay_ms=$((delay_ms / 2))
      continue
    fi
    break
  done
  if [[ $rc == 0 ]]; then
    FINISHED=$((FINISHED + 1))
  elif [[ $rc == 137 ]]; then
    KILLED=$((KILLED + 1))
  else
    cat "$WORK/bg.err" >&2
    check_failed "run $i (seed $seed): the backup exited $rc before it was killed"
  fi
  at_kill="packs=$(nfiles data) temps=$(ntemps) index=$(nfiles index) snapshots=$(nfiles snapshots) locks=$(nfiles locks)"
  verdict=ok

  capture "$REWIND" verify --repo "$REPO" --read-data
  notes=$(grep -c '^note:' "$WORK/last.out" || :)
  if [[ $RC != 0 ]]; then
    verdict="verify-exit-$RC"
    echo "--- run $i (seed $seed, kill after $delay s, backup exit $rc; on disk: $at_kill)" >&2
    _show_last
    ls -la "$REPO/locks" >&2 2>/dev/null || :
    check_failed "run $i (seed $seed, kill after $delay s; $at_kill): verify --read-data exited $RC after the killed backup, want 0"
  fi

  capture "$REWIND" backup --repo "$REPO" --source "$SRC"
  if [[ $RC != 0 ]]; then
    verdict="$verdict backup-exit-$RC"
    _show_last
    check_failed "run $i (seed $seed, kill after $delay s; $at_kill): the next backup exited $RC, want 0"
  else
    capture "$REWIND" restore --repo "$REPO" latest --target "$DST"
    if [[ $RC != 0 ]]; then
      verdict="$verdict restore-exit-$RC"
      _show_last
      check_failed "run $i (seed $seed, kill after $delay s): restore latest exited $RC"
    else
      mtree "$DST" >"$WORK/dst.mtree"
      if ! diff -u "$WORK/src.mtree" "$WORK/dst.mtree" >"$WORK/diff.txt"; then
        verdict="$verdict restore-differs"
        head -n 40 "$WORK/diff.txt" | cut -c1-300 >&2
        check_failed "run $i (seed $seed, kill after $delay s): the restore of the newest snapshot differs from the source ($(grep -c '^[-+][^-+]' "$WORK/diff.txt") lines)"
      fi
    fi
  fi
  # The killed process's lock is stale (its pid is gone): unlock removes it, and only it.
  capture "$REWIND" unlock --repo "$REPO"
  if [[ $RC != 0 || $(nfiles locks) != 0 ]]; then
    verdict="$verdict unlock-exit-$RC-left-$(nfiles locks)"
    _show_last
    check_failed "run $i (seed $seed): rewind unlock exited $RC and left $(nfiles locks) lock files"
  fi
  local line
  line=$(printf 'run %2d seed %3d kill %6s s  backup %-8s  on disk: %-50s verify notes=%s  %s' \
    "$i" "$seed" "$delay" "$([[ $rc == 0 ]] && echo finished || echo killed)" "$at_kill" "$notes" "$verdict")
  note "$line"
  SUMMARY+=("$line")
}

if [[ -n ${ONLY:-} ]]; then
  step "run $ONLY only"
  run "$ONLY"
else
  step "$RUNS runs: backup, SIGKILL after a seeded delay, verify, backup again, restore"
  for ((i = 0; i < RUNS; i++)); do run "$i"; done
  step "summary: $KILLED backups killed, $FINISHED finished before the kill"
  # What the kills left differed from run to run (else the delays did not spread).
  distinct=$(printf '%s\n' "${SUMMARY[@]}" | sed -E 's/.*on disk: ([^v]*)verify.*/\1/' | sort -u | wc -l)
  note "$distinct distinct on-disk states after the kill"
  ((KILLED >= RUNS / 2)) || check_failed "only $KILLED of $RUNS backups were killed: the delays are too long"
  ((distinct >= 3)) || check_failed "only $distinct distinct on-disk states: the kills did not spread over the backup"
fi
