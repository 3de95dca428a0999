#!/usr/bin/env bash
# Compare rewind with restic, borg and `tar | zstd -3 -T0` on one tree.
#
#   bench/compare.sh --rewind PATH_TO_REWIND [--tree DIR] [--work DIR]
#                    [--only rewind,restic,borg,tar] [--baseline OLD.tsv] [--keep]
#                    [--repeat N] [--quiet-wait SECONDS]
#
# For each tool: first backup, second backup of the unchanged tree, restore of the
# latest snapshot into an empty directory, then a full check of the repository's data
# (rewind verify --read-data, restic check --read-data, borg check --verify-data,
# zstd -t for tar). Each step runs under GNU time
# (wall, user+sys CPU, peak RSS); the repository is measured with `du -sb`.
# Each restore is checked with `diff -r --no-dereference` (content, symlink targets,
# file types) plus a metadata listing (mode, owner, size, mtime in seconds, symlink
# target), then deleted.
#
# Output: a fixed-width table on stdout, and the same rows as TSV in
# bench/results/<UTC date-time>.tsv. Ratios are "tool / restic" for the same step.
# --baseline OLD.tsv takes the rows of tools not run this time (e.g. restic) from an
# earlier TSV made on the same machine, so `--only rewind --baseline X.tsv` still
# prints ratios.
# The machine may be shared: before each step the script waits (at most --quiet-wait
# seconds, default 60) until other processes use less than 10% of the CPUs, and the
# "other" column reports the CPU seconds that other processes used during the step.
# --repeat N runs every tool N times and reports, per step, the run with the least wall
# time (restore checks: the worst of the N).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TREE=/var/tmp/rewind-bench/tree
WORK=/var/tmp/rewind-bench/work
ONLY=rewind,restic,borg,tar
REWIND=
BASELINE=
KEEP=0
REPEAT=1
QUIET_WAIT=60

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
die() { printf 'compare.sh: %s\n' "$*" >&2; exit 1; }
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --rewind)   REWIND=${2:?}; shift 2 ;;
        --tree)     TREE=${2:?}; shift 2 ;;
        --work)     WORK=${2:?}; shift 2 ;;
        --only)     ONLY=${2:?}; shift 2 ;;
        --baseline) BASELINE=${2:?}; shift 2 ;;
        --keep)     KEEP=1; shift ;;
        --repeat)   REPEAT=${2:?}; shift 2 ;;
        --quiet-wait) QUIET_WAIT=${2:?}; shift 2 ;;
        -h|--help)  usage 0 ;;
        *)          printf 'unknown argument: %s\n\n' "$1" >&2; usage 1 ;;
    esac
done

# ---------------------------------------------------------------- checks, setup
IFS=, read -r -a TOOLS <<<"$ONLY"
for t in "${TOOLS[@]}"; do
    case $t in rewind|restic|borg|tar) ;; *) die "--only: unknown tool '$t'" ;; esac
done
want() { local t; for t in "${TOOLS[@]}"; do [[ $t == "$1" ]] && return 0; done; return 1; }

[[ -d $TREE ]] || die "tree $TREE missing: run bench/prepare-tree.sh first"
TREE=$(cd "$TREE" && pwd -P)
if want rewind; then
    [[ -n $REWIND ]] || die "--rewind PATH is required unless --only excludes rewind"
    [[ -x $REWIND ]] || die "rewind binary '$REWIND' is not executable"
    REWIND=$(cd "$(dirname "$REWIND")" && pwd -P)/$(basename "$REWIND")
fi
[[ -z $BASELINE || -f $BASELINE ]] || die "baseline $BASELINE not found"
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "--repeat needs a positive integer"
[[ $QUIET_WAIT =~ ^[0-9]+$ ]] || die "--quiet-wait needs a number of seconds"

need_pkgs=()
[[ -x /usr/bin/time ]] || need_pkgs+=(time)
want restic && ! command -v restic >/dev/null && need_pkgs+=(restic)
want borg && ! command -v borg >/dev/null && need_pkgs+=(borgbackup)
want tar && ! command -v zstd >/dev/null && need_pkgs+=(zstd)
if [[ ${#need_pkgs[@]} -gt 0 ]]; then
    [[ $(id -u) -eq 0 ]] || die "missing packages ${need_pkgs[*]}: install them (apt-get install -y ...)"
    log "installing ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_pkgs[@]}" >&2
fi

mkdir -p "$WORK" "$BENCH_DIR/results"
WORK=$(cd "$WORK" && pwd -P)
case $WORK/ in "$TREE"/*) die "--work must not be inside --tree" ;; esac
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
TSV=$BENCH_DIR/results/$STAMP.tsv
LOGDIR=$WORK/logs-$STAMP
mkdir -p "$LOGDIR"
# raw rows of this run: tool job wall user sys rss_kib repo_bytes content meta rc other_cpu runs
ROWS=$WORK/rows-$STAMP.tsv
: >"$ROWS"

# Restored trees are not deleted during the run but moved aside (one rename) and deleted at
# the end: deleting 90k inodes makes the next restores on ext4 without a journal (this VM's
# root) slow for minutes, and the tool measured next paid for it (see settle_before_restore).
# That needs room for every restore of the run; without it they are deleted as they go.
TRASH=$WORK/trash-$STAMP
mkdir -p "$TRASH"
tree_bytes=$(du -sb "$TREE" | cut -f1)
free_bytes=$(($(df --output=avail -k "$WORK" | tail -n 1) * 1024))
KEEP_RESTORES=1
if ((free_bytes < (4 * REPEAT + 2) * tree_bytes)); then
    KEEP_RESTORES=0
    log "only $((free_bytes >> 30)) GiB free in $WORK: restores are deleted as they go (later restores may be slowed)"
fi
discard_restore() {  # discard_restore DIR NAME
    if ((KEEP_RESTORES)); then mv "$1" "$TRASH/$2"; else rm -rf "$1"; fi
}
trap 'rm -rf "$TRASH"' EXIT

# ---------------------------------------------------------------- measurement
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
# Busy CPU time of the whole machine in clock ticks (user nice system irq softirq steal).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

# Wait until the other processes leave the machine (almost) idle, at most QUIET_WAIT s.
wait_quiet() {
    local waited=0 b0 b1 pct
    while :; do
        b0=$(busy_ticks); sleep 2; b1=$(busy_ticks)
        pct=$(( (b1 - b0) * 100 / (2 * HZ * NCPU) ))
        if [[ $pct -lt 10 ]]; then
            [[ $waited -eq 0 ]] || log "machine quiet after ${waited}s"
            return 0
        fi
        if [[ $waited -ge $QUIET_WAIT ]]; then
            log "machine still ${pct}% busy after ${waited}s of waiting; measuring anyway"
            return 0
        fi
        [[ $waited -gt 0 ]] || log "machine ${pct}% busy with other work; waiting (at most ${QUIET_WAIT}s)"
        waited=$((waited + 2))
    done
}
# measure TOOL JOB CMD...: run CMD under GNU time;
# sets M_WALL M_USER M_SYS M_RSS M_RC and M_OTHER (CPU s used by other processes meanwhile).
measure() {
    local tool=$1 job=$2; shift 2
    local tf=$LOGDIR/$tool-$job.time lf=$LOGDIR/$tool-$job.log
    sync    # earlier steps' dirty pages are written back outside the measurement
    wait_quiet
    log "$tool $job: $*"
    M_RC=0
    local b0 b1
    b0=$(busy_ticks)
    /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" >"$lf" 2>&1 || M_RC=$?
    b1=$(busy_ticks)
    # On failure GNU time writes "Command exited with non-zero status N" first.
    M_WALL=- M_USER=- M_SYS=- M_RSS=-
    read -r M_WALL M_USER M_SYS M_RSS < <(tail -n 1 "$tf") || true
    if [[ $M_RC -ne 0 ]]; then
        log "$tool $job: exit status $M_RC; last lines of $lf:"
        tail -n 5 "$lf" | sed 's/^/    /' >&2
    fi
    M_OTHER=$(awk -v d=$((b1 - b0)) -v hz="$HZ" -v u="$M_USER" -v s="$M_SYS" \
        'BEGIN { o = d / hz - u - s; if (o < 0) o = 0; printf "%.1f", o }')
    log "$tool $job: wall ${M_WALL}s user ${M_USER}s sys ${M_SYS}s rss ${M_RSS}KiB; others used ${M_OTHER} CPU s"
}

# Restores create about 90k inodes. On ext4 without a journal (the development VM), allocating
# an inode skips every inode deleted in the last 30 s to 3 min, looking each one up in the buffer
# cache (recently_deleted()), so a restore made soon after another restore was deleted pays for
# those deletions: rewind, measured after tar, paid for tar's (7-8 s of system time instead of
# 2-2.5 s; perf: a third of its samples in recently_deleted() and its buffer-cache lookups). So restored trees are moved aside, not
# deleted, until the end of the run (discard_restore), and before every restore: write
# everything back, drop the clean caches, and read the tool's repository (or archives) and the
# tree into the page cache again.
settle_before_restore() {
    sync
    if [[ -w /proc/sys/vm/drop_caches ]]; then echo 1 >/proc/sys/vm/drop_caches; fi
    find "$1" -type f -print0 | xargs -0 -r cat >/dev/null
    warm_tree
}
# Not `tar cf - DIR >/dev/null`: GNU tar notices /dev/null and then skips reading file contents.
warm_tree() { tar -C "$TREE" -cf - . | cat >/dev/null; }

dusize() { if [[ -e $1 ]]; then du -sb "$1" | cut -f1; else echo 0; fi; }

# meta_list DIR: one line per entry, sorted: type mode uid gid size(files only) mtime(s) link path
meta_list() {
    (cd "$1" && find . -mindepth 1 -printf '%y %m %U %G %s %Ts %l|%P\n') |
        awk '{ if ($1 != "f") $5 = "-"; print }' | LC_ALL=C sort
}
TREE_META=$WORK/tree-meta-$STAMP.txt

# verify TREE_COPY: compares with $TREE; sets V_CONTENT V_META
verify() {
    local copy=$1 tool=$2
    if [[ ! -d $copy ]]; then
        V_CONTENT="MISSING"; V_META="-"; log "$tool restore: $copy does not exist"; return
    fi
    if diff -r --no-dereference "$TREE" "$copy" >"$LOGDIR/$tool-diff.txt" 2>&1; then
        V_CONTENT=OK
    else
        V_CONTENT=DIFFERS
        log "$tool restore: content DIFFERS ($(wc -l <"$LOGDIR/$tool-diff.txt") lines in $LOGDIR/$tool-diff.txt)"
    fi
    [[ -f $TREE_META ]] || meta_list "$TREE" >"$TREE_META"
    meta_list "$copy" >"$LOGDIR/$tool-meta.txt"
    local n
    n=$(diff "$TREE_META" "$LOGDIR/$tool-meta.txt" | grep -c '^[<>]' || true)
    if [[ $n -eq 0 ]]; then V_META=OK; else
        V_META="DIFFERS:$n"
        diff "$TREE_META" "$LOGDIR/$tool-meta.txt" >"$LOGDIR/$tool-meta.diff" || true
        log "$tool restore: metadata differs ($n lines, see $LOGDIR/$tool-meta.diff)"
    fi
}

row() {  # tool job repo_bytes content meta
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t1\n' "$1" "$2" \
        "$M_WALL" "$M_USER" "$M_SYS" "$M_RSS" "$3" "$4" "$5" "$M_RC" "$M_OTHER" >>"$ROWS"
}

# ---------------------------------------------------------------- the tools
run_restic() {
    local W=$WORK/restic R=$WORK/restic/repo T=$WORK/restic/restore
    rm -rf "$W"; mkdir -p "$W"
    export RESTIC_PASSWORD=x RESTIC_CACHE_DIR=$W/cache
    unset GOMAXPROCS RESTIC_REPOSITORY
    restic init --repo "$R" --repository-version 2 >"$LOGDIR/restic-init.log" 2>&1 ||
        die "restic init failed, see $LOGDIR/restic-init.log"
    measure restic first  restic backup --repo "$R" --compression auto "$TREE"
    row restic first "$(dusize "$R")" - -
    measure restic second restic backup --repo "$R" --compression auto "$TREE"
    row restic second "$(dusize "$R")" - -
    mkdir -p "$T"
    settle_before_restore "$R"
    measure restic restore restic restore --repo "$R" latest --target "$T"
    verify "$T$TREE" restic          # restic restores the absolute path under the target
    row restic restore - "$V_CONTENT" "$V_META"
    discard_restore "$T" "restic-$round"
    measure restic verify restic check --repo "$R" --read-data
    row restic verify - - -
    unset RESTIC_PASSWORD RESTIC_CACHE_DIR
}

run_borg() {
    local W=$WORK/borg R=$WORK/borg/repo T=$WORK/borg/restore
    rm -rf "$W"; mkdir -p "$W"
    export BORG_BASE_DIR=$W/base BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
    unset BORG_REPO BORG_PASSPHRASE
    borg init -e none "$R" >"$LOGDIR/borg-init.log" 2>&1 ||
        die "borg init failed, see $LOGDIR/borg-init.log"
    measure borg first  borg create --compression zstd,3 "$R::a" "$TREE"
    row borg first "$(dusize "$R")" - -
    measure borg second borg create --compression zstd,3 "$R::b" "$TREE"
    row borg second "$(dusize "$R")" - -
    mkdir -p "$T"
    # borg extracts into the current directory, the absolute path without its leading /.
    settle_before_restore "$R"
    measure borg restore bash -c 'cd "$1" && exec borg extract "$2::b"' _ "$T" "$R"
    verify "$T$TREE" borg
    row borg restore - "$V_CONTENT" "$V_META"
    discard_restore "$T" "borg-$round"
    measure borg verify borg check --verify-data "$R"
    row borg verify - - -
    unset BORG_BASE_DIR BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK
}

run_tar() {
    # No deduplication: the "repository" after the second backup holds two archives.
    local W=$WORK/tar R=$WORK/tar/repo T=$WORK/tar/restore
    rm -rf "$W"; mkdir -p "$R"
    local pipe='set -o pipefail; tar -C "$1" -cf - . | zstd -3 -T0 -q -f -o "$2"'
    measure tar first  bash -c "$pipe" _ "$TREE" "$R/t1.tar.zst"
    row tar first "$(dusize "$R")" - -
    measure tar second bash -c "$pipe" _ "$TREE" "$R/t2.tar.zst"
    row tar second "$(dusize "$R")" - -
    mkdir -p "$T"
    settle_before_restore "$R"
    measure tar restore bash -c 'set -o pipefail; zstd -dc -q "$1" | tar -C "$2" -xf -' _ "$R/t2.tar.zst" "$T"
    verify "$T" tar
    row tar restore - "$V_CONTENT" "$V_META"
    discard_restore "$T" "tar-$round"
    # tar has no repository check: zstd's frame checksums of both archives stand in.
    measure tar verify zstd -tq "$R/t1.tar.zst" "$R/t2.tar.zst"
    row tar verify - - -
}

run_rewind() {
    local W=$WORK/rewind R=$WORK/rewind/repo T=$WORK/rewind/restore
    rm -rf "$W"; mkdir -p "$W"
    unset REWIND_REPO
    "$REWIND" init --repo "$R" >"$LOGDIR/rewind-init.log" 2>&1 || {
        log "rewind init failed: $REWIND init --repo $R"; cat "$LOGDIR/rewind-init.log" >&2
        return 1
    }
    measure rewind first  "$REWIND" backup --repo "$R" --source "$TREE"
    row rewind first "$(dusize "$R")" - -
    measure rewind second "$REWIND" backup --repo "$R" --source "$TREE"
    row rewind second "$(dusize "$R")" - -
    mkdir -p "$T"
    settle_before_restore "$R"
    measure rewind restore "$REWIND" restore --repo "$R" latest --target "$T"
    if [[ -d $T$TREE ]]; then
        verify "$T$TREE" rewind      # in case rewind restores the absolute path
    else
        verify "$T" rewind
    fi
    row rewind restore - "$V_CONTENT" "$V_META"
    discard_restore "$T" "rewind-$round"
    measure rewind verify "$REWIND" verify --repo "$R" --read-data
    row rewind verify - - -
}

# ---------------------------------------------------------------- run
TREE_BYTES=$(du -sb "$TREE" | cut -f1)
TREE_ENTRIES=$(find "$TREE" | wc -l)
log "tree $TREE: $TREE_BYTES bytes, $TREE_ENTRIES entries; work $WORK; tools ${TOOLS[*]}"

log "warming the page cache"
warm_tree

versions=$WORK/versions-$STAMP.txt
{
    echo "# date $STAMP"
    echo "# host $(uname -srm); $(nproc) cpus; $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
    echo "# tree $TREE $TREE_BYTES bytes $TREE_ENTRIES entries"
    echo "# runs per tool: $REPEAT (each row: fastest run)"
    if want restic; then echo "# $(restic version 2>/dev/null | head -n 1)"; fi
    if want borg; then echo "# borg $(borg --version 2>/dev/null | awk '{print $2}')"; fi
    if want tar; then echo "# $(tar --version | head -n 1); $(zstd --version 2>/dev/null | head -n 1)"; fi
    if want rewind; then echo "# rewind $REWIND $("$REWIND" --version 2>/dev/null | head -n 1 || true)"; fi
} >"$versions"

for ((round = 1; round <= REPEAT; round++)); do
    [[ $REPEAT -eq 1 ]] || log "round $round of $REPEAT"
    for t in restic borg tar rewind; do
        want "$t" || continue
        "run_$t" || log "$t: aborted"
        if [[ $KEEP -eq 0 || $round -lt $REPEAT ]]; then
            rm -rf "${WORK:?}/$t/repo" "${WORK:?}/$t/cache" "${WORK:?}/$t/base"
        fi
    done
done

# One row per tool and step: the run with the least wall time; restore checks and exit
# status: the worst of the runs.
awk -F'\t' 'BEGIN { OFS = "\t" }
    {
        k = $1 SUBSEP $2
        if (!(k in best)) { order[++n] = k; best[k] = $0; w[k] = $3; bad[k] = ""; rc[k] = 0; runs[k] = 0 }
        else if ($3 != "-" && (w[k] == "-" || $3 + 0 < w[k] + 0)) { best[k] = $0; w[k] = $3 }
        runs[k]++
        if ($8 != "OK" && $8 != "-") bad8[k] = $8
        if ($9 != "OK" && $9 != "-") bad9[k] = $9
        if ($10 != 0) rc[k] = $10
    }
    END {
        for (i = 1; i <= n; i++) {
            k = order[i]; split(best[k], f, "\t")
            if (k in bad8) f[8] = bad8[k]
            if (k in bad9) f[9] = bad9[k]
            if (rc[k] != 0) f[10] = rc[k]
            print f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11], runs[k]
        }
    }' "$ROWS" >"$ROWS.best"
mv "$ROWS.best" "$ROWS"

# Rows of tools not run now, from the baseline TSV (restic first: it is the reference).
if [[ -n $BASELINE ]]; then
    awk -F'\t' -v ran=",$ONLY," 'BEGIN { OFS = "\t" }
        /^#/ || $1 == "tool" { next }
        index(ran, "," $1 ",") == 0 {
            # TSV: tool job wall user sys cpu rss_kib rss_mib repo_bytes repo_mib
            #      wall/r rss/r repo/r content meta rc other_cpu runs
            print $1 " (baseline)", $2, $3, $4, $5, $7, $9, $14, $15, $16, $17, $18
        }' "$BASELINE" >>"$ROWS"
    echo "# rows marked (baseline) come from $BASELINE" >>"$versions"
fi

# ---------------------------------------------------------------- report
# Table + TSV from the raw rows. Ratios are tool/restic for the same job.
report() {
    awk -F'\t' -v mode="$1" '
    function r2(x) { return sprintf("%.2f", x) }
    function ratio(a, b) { return (a == "-" || b == "" || b == "-" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b) }
    {
        n++; tool[n] = $1; job[n] = $2; wall[n] = $3; usr[n] = $4; sys[n] = $5
        rssk[n] = $6; repob[n] = $7
        rss[n] = $6 / 1024; repo[n] = ($7 == "-" ? "-" : $7 / 1048576)
        content[n] = $8; meta[n] = $9; rc[n] = $10; other[n] = $11; runs[n] = $12
        base = $1; sub(/ \(baseline\)$/, "", base)
        if (base == "restic") { rwall[$2] = $3; rrss[$2] = rss[n]; rrepo[$2] = repo[n] }
    }
    END {
        if (mode == "tsv") {
            print "tool\tjob\twall_s\tuser_s\tsys_s\tcpu_s\tpeak_rss_kib\tpeak_rss_mib\trepo_bytes\trepo_mib\twall_vs_restic\trss_vs_restic\trepo_vs_restic\tcontent_check\tmeta_check\trc\tother_cpu_s\truns"
        } else {
            printf "%-18s %-7s %8s %8s %8s %9s %7s %7s %7s  %-8s %-9s %3s %6s\n",
                "tool", "job", "wall s", "cpu s", "RSS MiB", "repo MiB",
                "wall/r", "RSS/r", "repo/r", "content", "meta", "rc", "other"
            printf "%s\n", "-------------------------------------------------------------------------------------------------------------------"
        }
        for (i = 1; i <= n; i++) {
            cpu = usr[i] + sys[i]
            rp = (repo[i] == "-" ? "-" : sprintf("%.1f", repo[i]))
            wr = ratio(wall[i], rwall[job[i]]); mr = ratio(rss[i], rrss[job[i]])
            pr = (repo[i] == "-" ? "-" : ratio(repo[i], rrepo[job[i]]))
            if (mode == "tsv")
                printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
                    tool[i], job[i], wall[i], usr[i], sys[i], r2(cpu), rssk[i], rss[i], repob[i], rp,
                    wr, mr, pr, content[i], meta[i], rc[i], other[i], runs[i]
            else
                printf "%-18s %-7s %8s %8s %8.1f %9s %7s %7s %7s  %-8s %-9s %3s %6s\n",
                    tool[i], job[i], r2(wall[i]), r2(cpu), rss[i], rp, wr, mr, pr,
                    content[i], meta[i], rc[i], other[i]
        }
    }' "$ROWS"
}

{ cat "$versions"; report tsv; } >"$TSV"

echo
sed 's/^# //' "$versions"
echo "restic encrypts and authenticates everything (AES-256-CTR + Poly1305; it cannot be turned off);"
echo "borg runs with -e none, tar | zstd and rewind do not encrypt. Page cache warm; /usr/bin/time peak"
echo "RSS is the largest single process (for tar | zstd: zstd). Ratios are tool / restic for the same job."
echo "repo = du -sb of the repository after that backup (tar: all .tar.zst files kept, no dedup)."
echo "content = diff -r --no-dereference; meta = type, mode, uid, gid, file size, mtime (s), link target."
echo "Restored trees are deleted only at the end of the run (ext4 without a journal slows inode allocation"
echo "for minutes after deletions); before each restore: sync, clean caches dropped, then the tool's"
echo "repository and the tree read into the page cache again."
echo "other = CPU seconds used by other processes on the machine during the step (noise; 0 is clean)."
[[ $REPEAT -eq 1 ]] || echo "each row: the fastest of $REPEAT runs (checks: the worst)."
echo
report table

# Targets for rewind (issues 2-4): wall-time ratios to restic, repository size and RSS.
awk -F'\t' '
    { base = $1; sub(/ \(baseline\)$/, "", base); k = base SUBSEP $2
      wall[k] = $3; rss[k] = $6; repo[k] = $7; rc[k] = $10 }
    function has(t, j) { return ((t SUBSEP j) in wall) && wall[t SUBSEP j] != "-" }
    function line(what, t, j, f, ref, refj, val, refv) {
        if (!has(t, j) || !has(ref, refj)) { printf "  %-44s -        (no figures)\n", what; return }
        val = wall[t SUBSEP j]; refv = wall[ref SUBSEP refj] * f
        printf "  %-44s %-8s (%.2f s vs %.2f s)%s\n", what, (val + 0 <= refv + 0) ? "MET" : "NOT MET",
            val, refv, (rc[t SUBSEP j] != 0 ? "  [exit " rc[t SUBSEP j] "]" : "")
    }
    function le(what, arr, t, j, ref, scale, unit, a, b) {
        if (!((t SUBSEP j) in arr) || !((ref SUBSEP j) in arr)) { printf "  %-44s -        (no figures)\n", what; return }
        a = arr[t SUBSEP j]; b = arr[ref SUBSEP j]
        printf "  %-44s %-8s (%.1f %s vs %.1f %s)\n", what, (a + 0 <= b + 0) ? "MET" : "NOT MET", a / scale, unit, b / scale, unit
    }
    END {
        print "\ntargets (rewind vs the others, same run):"
        line("first backup <= 0.5 x restic", "rewind", "first", 0.5, "restic", "first")
        line("first backup <= tar | zstd -3 -T0", "rewind", "first", 1, "tar", "first")
        line("second backup <= 0.2 x restic", "rewind", "second", 0.2, "restic", "second")
        line("restore <= 0.67 x restic", "rewind", "restore", 0.67, "restic", "restore")
        line("verify --read-data <= 0.5 x restic check", "rewind", "verify", 0.5, "restic", "verify")
        le("repository after 1st backup <= restic", repo, "rewind", "first", "restic", 1048576, "MiB")
        le("peak RSS, first backup <= restic", rss, "rewind", "first", "restic", 1024, "MiB")
        le("peak RSS, restore <= restic", rss, "rewind", "restore", "restic", 1024, "MiB")
    }' "$ROWS"

echo
echo "TSV: $TSV"
echo "logs: $LOGDIR"
