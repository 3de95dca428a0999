#!/usr/bin/env bash
# Rollback after an "upgrade" that touched about 5 % of the tree, beside a full restore of the
# same snapshot into an empty directory (target: rollback <= 0.2 x restore).
#
#   bench/rollback.sh --rewind PATH [--tree DIR] [--work DIR] [--percent 5] [--rounds 3]
#
# The tree (default /var/tmp/rewind-bench/tree, from prepare-tree.sh) is copied to WORK/inst
# and backed up. Then ROUNDS rounds (this VM's disk drifts by half within half an hour: each
# ratio is of a restore and a rollback measured a minute apart; the median is reported), each:
# under GNU time, `rewind restore --target EMPTY` of that snapshot (a new directory each round);
# the upgrade rewrites every 20th regular file (by sorted path) with new content of the same
# size, deletes every 97th and adds one new file per 100 directories, and, under GNU time,
# `rewind rollback --yes` (safety snapshot included, as an administrator runs it). Both read the
# backup's data packs from disk (the clean page cache is dropped before each), with the
# installation in the page cache. Both results are checked with diff -r against the original tree.
# After each, a timed `sync`: what the job left for the disk to write (a restore leaves its
# files in the page cache; a rollback syncs what it changed before it removes its journal).
# Prints one table; raw figures in bench/results/.
#
# Nothing is deleted before the measurements (the restored trees stay until the end): on
# ext4 without a journal (this VM's root) every inode allocation skips the inodes deleted in
# the last 1 to 6 minutes, so a restore made soon after a mass deletion takes twice as long or
# more. Run it when nothing has deleted many files for 6 minutes (compare.sh deletes its
# restored trees when it ends, this script its work directory).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REWIND=
TREE=/var/tmp/rewind-bench/tree
WORK=/var/tmp/rewind-bench/rollback
PERCENT=5
ROUNDS=3
while [[ $# -gt 0 ]]; do
    case $1 in
        --rewind)  REWIND=${2:?}; shift 2 ;;
        --tree)    TREE=${2:?}; shift 2 ;;
        --work)    WORK=${2:?}; shift 2 ;;
        --percent) PERCENT=${2:?}; shift 2 ;;
        --rounds)  ROUNDS=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,/^set /{/^#/p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "rollback.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ -x $REWIND ]] || { echo "rollback.sh: --rewind PATH is required" >&2; exit 2; }
[[ -d $TREE ]] || { echo "rollback.sh: $TREE missing: run bench/prepare-tree.sh" >&2; exit 2; }
REWIND=$(cd "$(dirname "$REWIND")" && pwd -P)/$(basename "$REWIND")
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [[ -e $WORK ]]; then
    log "removing the work directory of an earlier run: the restore measured next may be slowed by it"
fi
rm -rf "$WORK"; mkdir -p "$WORK" "$BENCH_DIR/results"
INST=$WORK/inst REPO=$WORK/repo
log "copying the tree to $INST"
cp -a "$TREE" "$INST"
"$REWIND" init --repo "$REPO" >/dev/null
log "backup"
"$REWIND" backup --repo "$REPO" --source "$INST" --tag before >/dev/null 2>"$WORK/backup.log"

measure() {  # measure NAME CMD...: wall and CPU seconds into $NAME_wall $NAME_cpu
    local name=$1; shift
    sync
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/$name.time" "$@" >"$WORK/$name.log" 2>&1 ||
        { echo "$name failed:" >&2; tail -5 "$WORK/$name.log" >&2; exit 1; }
    read -r w u s m <"$WORK/$name.time"
    printf -v "${name}_wall" '%s' "$w"
    printf -v "${name}_cpu" '%s' "$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')"
    printf -v "${name}_rss" '%s' "$(awk -v m="$m" 'BEGIN { printf "%.1f", m / 1024 }')"
    log "$name: wall ${w}s"
    # What the job left unwritten: a restore leaves its files in the page cache (as restic,
    # borg extract and tar do), a rollback syncs what it changed before it removes its journal.
    local t0 t1 synced
    t0=$(date +%s.%N); sync; t1=$(date +%s.%N)
    synced=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    printf -v "${name}_sync" '%s' "$synced"
    log "$name: sync afterwards ${synced}s"
}
evict_packs() {  # the data packs out of the page cache, as right after the backup wrote them
    python3 - "$REPO/data" <<'PY'
import os, sys
for d, _, names in os.walk(sys.argv[1]):
    for n in names:
        fd = os.open(os.path.join(d, n), os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
PY
}
warm_inst() { tar -C "$INST" -cf - . | cat >/dev/null; }
# Before each measurement: everything written back, the clean page cache dropped (as compare.sh
# does before restores; without it the restore, which fills 2.2 GB of new page cache, paid
# 7-10 s of system time on this VM for fresh memory against 2 s after a drop, while the
# rollback writes 193 MiB), the data packs out of the cache, the installation in it.
settle() {
    sync
    if [[ -w /proc/sys/vm/drop_caches ]]; then echo 1 >/proc/sys/vm/drop_caches; fi
    evict_packs
    warm_inst
}

# upgrade: the same kind of change each round (new random content, so a different plan)
upgrade() {
    python3 - "$INST" "$step" <<'PY'
import os, sys
root, step = sys.argv[1], int(sys.argv[2])
files = []
for d, dirs, names in os.walk(root):
    dirs.sort()
    for n in sorted(names):
        p = os.path.join(d, n)
        if os.path.isfile(p) and not os.path.islink(p):
            files.append(p)
changed = bytes_changed = 0
for i, p in enumerate(files):
    if i % 97 == 0:
        os.unlink(p)
    elif i % step == 0:
        size = os.path.getsize(p)
        with open(p, "r+b") as f:
            f.write(os.urandom(min(size, 4096)))   # new content, same size
        changed += 1
        bytes_changed += size
dirs = sorted({os.path.dirname(p) for p in files})
for j, d in enumerate(dirs[::100]):
    with open(os.path.join(d, f"upgrade-new-{j}.txt"), "w") as f:
        f.write("added by the upgrade\n")
print(f"{len(files)} files: {changed} rewritten ({bytes_changed / 2**20:.0f} MiB), "
      f"{len(files[::97])} deleted, {len(dirs[::100])} added", file=sys.stderr)
PY
}
step=$((100 / PERCENT))
for ((k = 1; k <= ROUNDS; k++)); do
    log "round $k of $ROUNDS"
    mkdir -p "$WORK/restore$k"  # a new directory each round: nothing is deleted before the end
    settle
    measure "restore$k" "$REWIND" restore --repo "$REPO" before --target "$WORK/restore$k"
    diff -r --no-dereference "$TREE" "$WORK/restore$k" >"$WORK/restore$k.diff" &&
        printf -v "restore${k}_check" OK || printf -v "restore${k}_check" DIFFERS
    log "the upgrade: about $PERCENT % of the files rewritten, some deleted, some added"
    upgrade
    settle
    measure "rollback$k" "$REWIND" rollback --repo "$REPO" before --yes
    diff -r --no-dereference "$TREE" "$INST" >"$WORK/rollback$k.diff" &&
        printf -v "rollback${k}_check" OK || printf -v "rollback${k}_check" DIFFERS
done

OUT=$BENCH_DIR/results/rollback-$(date -u +%Y-%m-%dT%H%M%SZ).txt
{
    echo "tree $TREE ($(du -sb "$TREE" | cut -f1) bytes); upgrade touched about $PERCENT % of the files;" \
        "$ROUNDS rounds (restore, then upgrade and rollback)"
    printf '%-24s %8s %8s %8s %12s  %s\n' job "wall s" "cpu s" "RSS MiB" "sync after s" "diff -r vs the tree"
    ratios=() synced=()
    for ((k = 1; k <= ROUNDS; k++)); do
        for job in restore rollback; do
            v=$job$k
            w=${v}_wall c=${v}_cpu r=${v}_rss y=${v}_sync ok=${v}_check
            label="full restore, round $k"
            [[ $job == rollback ]] && label="rollback, round $k"
            printf '%-24s %8s %8s %8s %12s  %s\n' "$label" "${!w}" "${!c}" "${!r}" "${!y}" "${!ok}"
        done
        a=rollback${k}_wall b=restore${k}_wall as=rollback${k}_sync bs=restore${k}_sync
        ratios+=("$(awk -v a="${!a}" -v b="${!b}" 'BEGIN { printf "%.2f", a / b }')")
        # The rollback's wall time includes its syncfs; the restore's does not include writing
        # its 2.4 GB to the disk. Both until on the disk, for comparison (not the target's measure).
        synced+=("$(awk -v a="${!a}" -v as="${!as}" -v b="${!b}" -v bs="${!bs}" 'BEGIN { printf "%.2f", (a + as) / (b + bs) }')")
    done
    median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
    m=$(median "${ratios[@]}")
    echo "rollback / restore by round: ${ratios[*]}; median $m (target <= 0.20):" \
        "$(awk -v m="$m" 'BEGIN { print (m <= 0.2) ? "MET" : "NOT MET" }')"
    echo "both until on the disk (wall + sync after), by round: ${synced[*]}; median $(median "${synced[@]}")"
    echo "the rollback's phases, as it printed them (round $ROUNDS):"
    grep -E '^rollback: .*: [0-9.]+ s$' "$WORK/rollback$ROUNDS.log" | sed 's/^/  /' || :
} | tee "$OUT"
rm -rf "$WORK"
