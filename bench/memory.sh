#!/usr/bin/env bash
# Peak memory of `rewind backup` against the number of files (issue: memory bounded by the
# pipeline's tokens plus the index, not by the size of the tree).
#
#   bench/memory.sh --rewind PATH [--work DIR] [--counts 10000,100000,1000000]
#
# For each count N: a tree of N small files (100 to 4 KiB each, all different, 1000 per
# directory) is generated once under WORK/files-N, backed up into a new repository under
# GNU time, and a second time (parent reuse). Prints N, wall time, peak RSS, the number of
# blobs the backup added and the repository size; the table also goes to
# bench/results/memory-<UTC date-time>.txt.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REWIND=
WORK=/var/tmp/rewind-bench/memory
COUNTS=10000,100000,1000000

while [[ $# -gt 0 ]]; do
    case $1 in
        --rewind) REWIND=${2:?}; shift 2 ;;
        --work)   WORK=${2:?}; shift 2 ;;
        --counts) COUNTS=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "memory.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ -x $REWIND ]] || { echo "memory.sh: --rewind PATH to the rewind binary is required" >&2; exit 2; }
[[ -x /usr/bin/time ]] || apt-get install -y -q time >&2
REWIND=$(cd "$(dirname "$REWIND")" && pwd -P)/$(basename "$REWIND")
mkdir -p "$WORK" "$BENCH_DIR/results"
OUT=$BENCH_DIR/results/memory-$(date -u +%Y-%m-%dT%H%M%SZ).txt

# gen DIR N: N files of 100..4195 bytes with distinct content, 1000 per directory.
gen() {
    [[ -f $1/.done ]] && return 0
    rm -rf "$1"
    python3 - "$1" "$2" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(n)
base = rnd.randbytes(8192)
for i in range(n):
    d = os.path.join(root, f"d{i // 1000:05d}")
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    size = 100 + (i * 7919) % 4096
    off = (i * 131) % 4096
    # a unique header makes every file a distinct blob; the rest compresses like text would
    data = f"file {i} of {n}\n".encode() + base[off:off + size]
    with open(os.path.join(d, f"f{i:07d}.dat"), "wb") as f:
        f.write(data)
open(os.path.join(root, ".done"), "w").close()
PY
}

printf '%-9s %-8s %8s %9s %11s %10s\n' files backup "wall s" "RSS MiB" "blobs added" "repo MiB" | tee "$OUT"
IFS=, read -r -a counts <<<"$COUNTS"
for n in "${counts[@]}"; do
    tree=$WORK/files-$n repo=$WORK/repo-$n
    echo "[memory] generating $n files in $tree" >&2
    gen "$tree" "$n"
    rm -rf "$repo"
    "$REWIND" init --repo "$repo" >/dev/null
    for pass in first second; do
        sync
        /usr/bin/time -f '%e %M' -o "$WORK/time" "$REWIND" backup --repo "$repo" --source "$tree" --json \
            >"$WORK/json" 2>"$WORK/log" || { echo "backup failed:" >&2; tail -5 "$WORK/log" >&2; exit 1; }
        read -r wall rss <"$WORK/time"
        blobs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["blobs_added"])' "$WORK/json")
        repo_bytes=$(du -sb "$repo" | cut -f1)
        awk -v n="$n" -v p="$pass" -v w="$wall" -v r="$rss" -v b="$blobs" -v s="$repo_bytes" \
            'BEGIN { printf "%-9s %-8s %8.2f %9.1f %11s %10.1f\n", n, p, w, r / 1024, b, s / 1048576 }' |
            tee -a "$OUT"
    done
    rm -rf "$repo"
done
echo "table: $OUT" >&2
