#!/usr/bin/env bash
# Databases benchmark: rewind's dump and restore beside `mariadb-dump | zstd -3` and
# mydumper/myloader, on sysbench data, on a private MariaDB server (tests/db/mariadb.sh).
#
#   bench/db.sh --rewind build/cli/rewind [--threads N] [--tables 8] [--rows 400000]
#               [--work DIR] [--keep] [--dump-only]
#
# Steps (each under GNU time: wall, user+sys cpu, peak RSS of the largest process):
#   rewind backup --databases sbtest --db-threads N        (first, then again: bytes added)
#   mariadb-dump --single-transaction sbtest | zstd -3      (one thread, as the vendor guide does)
#   mydumper -t N -B sbtest (plain SQL files, no compression; its own consistent snapshot), and
#   mydumper -c (its gzip compression), dump only
#   restore of each into a dropped database: rewind restore --databases-only --db-threads N,
#   myloader -t N, zstd -dc | mariadb; CHECKSUM TABLE of every table checked after each.
# The server's CPU during each step is read from /proc. Last, the floor: the least time on this
# machine of any dump that, like rewind's, hashes and compresses every byte of the SQL (see the
# comment above it).
# Prints a table and writes bench/results/db-<UTC date>.tsv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
REWIND="" THREADS=2 TABLES=8 ROWS=400000 WORK=/var/tmp/rewind-bench/db KEEP=0 RESTORE=1
while (($#)); do
  case $1 in
    --rewind) REWIND=$(realpath "$2"); shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --tables) TABLES=$2; shift 2 ;;
    --rows) ROWS=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --dump-only) RESTORE=0; shift ;;
    *) echo "usage: $0 --rewind PATH [--threads N] [--tables N] [--rows N] [--work DIR] [--keep]" >&2; exit 2 ;;
  esac
done
[[ -x $REWIND ]] || { echo "db.sh: --rewind PATH to the rewind binary is required" >&2; exit 2; }
for t in mariadbd mariadb mariadb-dump sysbench mydumper myloader zstd g++ /usr/bin/time; do
  command -v "$t" >/dev/null || [[ -x /usr/sbin/$t ]] || { echo "db.sh: needs $t (apt-get install mariadb-server sysbench mydumper zstd time)" >&2; exit 2; }
done
export LC_ALL=C
source "$here/../tests/db/mariadb.sh"
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'mariadb_stop_all; [[ $KEEP == 1 ]] || rm -rf "$WORK"' EXIT

echo "== private MariaDB server in $WORK/server"
mariadb_start "$WORK/server" --innodb-buffer-pool-size=1G --innodb-flush-log-at-trx-commit=2
PASSWORD=$(sed -n 's/^password=//p' "$MDB_CNF")
mdb -e "CREATE DATABASE sbtest"
echo "== sysbench oltp_read_write prepare: $TABLES tables x $ROWS rows"
sysbench oltp_read_write --db-driver=mysql --mysql-socket="$MDB_SOCK" --mysql-user=root \
  --mysql-password="$PASSWORD" --mysql-db=sbtest --tables="$TABLES" --table-size="$ROWS" \
  --threads="$THREADS" prepare >"$WORK/sysbench.log"
mdb -N -B -e "SELECT ROUND(SUM(DATA_LENGTH+INDEX_LENGTH)/1048576) FROM information_schema.TABLES WHERE TABLE_SCHEMA='sbtest'" |
  sed 's/^/   data+index MiB: /'

checksums() {
  local sql="" t
  for ((t = 1; t <= TABLES; t++)); do sql+="CHECKSUM TABLE sbtest.sbtest$t EXTENDED;"; done
  mdb -N -B -e "$sql"
}
checksums >"$WORK/orig.sum"

ROWS_OUT=()
# The server's own CPU seconds so far (user + system), from /proc.
server_cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$MDB_PID/stat"; }
# run NAME STEP SIZE_PATH CMD: times CMD (bash -c), records wall cpu rss size and the server's CPU.
run() {
  local name=$1 step=$2 size_path=$3 cmd=$4
  echo "== $name: $step"
  local server_before
  server_before=$(server_cpu)
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" bash -c "$cmd" >"$WORK/$name.$step.out" 2>"$WORK/$name.$step.err" || {
    echo "   FAILED: $cmd" >&2
    tail -n 5 "$WORK/$name.$step.err" >&2
    exit 1
  }
  local wall user sys rss size="" server
  read -r wall user sys rss <"$WORK/time"
  server=$(echo "$(server_cpu) - $server_before" | bc)
  [[ -n $size_path ]] && size=$(du -sb "$size_path" | cut -f1)
  ROWS_OUT+=("$name	$step	$wall	$(echo "$user + $sys" | bc)	$((rss / 1024))	$size	$server")
  echo "   wall ${wall}s, cpu $(echo "$user + $sys" | bc)s (server ${server}s), RSS $((rss / 1024)) MiB${size:+, size $((size / 1048576)) MiB}"
}
check_restored() {
  checksums >"$WORK/$1.sum"
  if cmp -s "$WORK/orig.sum" "$WORK/$1.sum"; then echo "   CHECKSUM TABLE: identical"; else echo "   CHECKSUM TABLE: DIFFERS" >&2; exit 1; fi
}
sync_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || :; }

REPO=$WORK/repo
"$REWIND" init --repo "$REPO" >/dev/null
sync_caches
run rewind dump "$REPO" "'$REWIND' backup --repo '$REPO' --databases sbtest --mysql-defaults-file '$MDB_CNF' --db-threads $THREADS --json"
first_added=$(jq -r .bytes_added "$WORK/rewind.dump.out")
run rewind dump2 "$REPO" "'$REWIND' backup --repo '$REPO' --databases sbtest --mysql-defaults-file '$MDB_CNF' --db-threads $THREADS --json"
second_added=$(jq -r .bytes_added "$WORK/rewind.dump2.out")
echo "   second backup added $second_added bytes ($(echo "scale=3; 100 * $second_added / $first_added" | bc) % of the first)"

sync_caches
run mariadb-dump dump "$WORK/dump.sql.zst" "mariadb-dump --defaults-file='$MDB_CNF' --single-transaction --skip-dump-date --databases sbtest | zstd -3 -q -o '$WORK/dump.sql.zst'"
sync_caches
run mydumper dump "$WORK/mydumper" "mydumper --defaults-file='$MDB_CNF' -S '$MDB_SOCK' -u root -t $THREADS -B sbtest -o '$WORK/mydumper'"
sync_caches
# mydumper with its own compression (gzip in 0.10): compressed output like the others'.
run mydumper-c dump "$WORK/mydumper-c" "mydumper --defaults-file='$MDB_CNF' -S '$MDB_SOCK' -u root -t $THREADS -c -B sbtest -o '$WORK/mydumper-c'"

if ((RESTORE)); then
mdb -e "DROP DATABASE sbtest"
run rewind restore "" "'$REWIND' restore --repo '$REPO' latest --databases-only --mysql-defaults-file '$MDB_CNF' --db-threads $THREADS"
check_restored rewind
mdb -e "DROP DATABASE sbtest"
run myloader restore "" "myloader --defaults-file='$MDB_CNF' -S '$MDB_SOCK' -u root -t $THREADS -d '$WORK/mydumper' -o"
check_restored myloader
mdb -e "DROP DATABASE sbtest"
run mariadb-dump restore "" "zstd -dc '$WORK/dump.sql.zst' | mariadb --defaults-file='$MDB_CNF'"
check_restored mariadb-dump
fi

# Table with ratios.
get() { printf '%s\n' "${ROWS_OUT[@]}" | awk -F'\t' -v n="$1" -v s="$2" -v c="$3" '$1==n && $2==s {print $c}'; }

# The floor: the least time any dump can take on this machine if, like rewind's, it gives every
# byte of the SQL a SHA-256 (DESIGN: a blob's id) and compresses it with zstd, with the same
# server. It is all CPU work on the machine's cores, shared with the server (both rewind's and
# mydumper's dumps keep every core busy), so no dump of that kind finishes before
#   (server CPU + zstd CPU for the SQL + SHA-256 CPU for the SQL) / cores,
# whatever its pipeline. bench/floor.cc measures the zstd and SHA-256 CPU time on rewind's own
# SQL with the libraries rewind uses, in 1 MiB frames: at level 1 (rewind's database level) and
# at zstd's fast level -20 with the literals still Huffman-coded (about the fastest setting that
# still compresses: on sysbench's random digits it loses little, on text much more). The
# chunker, the SQL escaping, the client protocol and the writes are left out: the true floor is
# higher. The last line is a dump that hashes but does not compress.
echo "== the floor for a dump that hashes and compresses every byte"
"$REWIND" dump --repo "$REPO" latest --db sbtest >"$WORK/rewind.sql"
sql_bytes=$(stat -c %s "$WORK/rewind.sql")
g++ -O2 -std=c++17 -o "$WORK/floor" "$here/floor.cc" -lzstd -lcrypto
"$WORK/floor" "$WORK/rewind.sql" 1 -20 >"$WORK/floor.out"
rm -f "$WORK/rewind.sql"
sha_cpu=$(awk '$1 == "sha256" { print $2 }' "$WORK/floor.out")
server_min=$(printf '%s\n' "$(get rewind dump 7)" "$(get mydumper dump 7)" | sort -n | head -n 1)
cores=$(nproc)
FLOOR_OUT=()
floor_line() {  # floor_line WHAT ZSTD_CPU
  local f
  f=$(awk -v s="$server_min" -v z="$2" -v h="$sha_cpu" -v c="$cores" 'BEGIN { printf "%.2f", (s + z + h) / c }')
  FLOOR_OUT+=("$1: no such dump can finish before $f s; mydumper took $(get mydumper dump 3) s")
  echo "   ${FLOOR_OUT[-1]}"
}
echo "   SQL: $((sql_bytes / 1000000)) MB; SHA-256: $sha_cpu CPU-s; server CPU during a dump: ${server_min} s (the smaller of rewind's and mydumper's); $cores cores"
while read -r _ level zratio zcpu; do
  floor_line "zstd level $level (x$zratio, $zcpu CPU-s)" "$zcpu"
done < <(awk '$1 == "zstd"' "$WORK/floor.out")
floor_line "no compression (hashing only)" 0
ratio() { [[ -n $1 && -n $2 ]] && echo "scale=2; $1 / $2" | bc || echo "-"; }
mkdir -p "$here/results"
tsv="$here/results/db-$(date -u +%Y%m%dT%H%M%SZ).tsv"
{
  echo "# bench/db.sh: $TABLES tables x $ROWS rows (sysbench), $THREADS threads, $(nproc) cores, $(mariadbd --version | awk '{print $3}')"
  printf 'tool\tstep\twall_s\tcpu_s\trss_mib\tsize_bytes\tserver_cpu_s\n'
  printf '%s\n' "${ROWS_OUT[@]}"
  printf 'rewind\tsecond_backup_bytes_added\t%s\t\t\t\t\n' "$second_added"
  echo "# floor: SQL $sql_bytes bytes, SHA-256 $sha_cpu CPU-s, server CPU $server_min s, $cores cores"
  printf '# floor: %s\n' "${FLOOR_OUT[@]}"
} >"$tsv"
echo
echo "$TABLES tables x $ROWS rows, $THREADS threads ($(nproc) cores); results in $tsv"
printf '%-14s %-8s %8s %8s %8s %10s %14s %14s\n' tool step wall_s cpu_s RSS_MiB size_MiB "wall/mariadb-dump" "wall/my(dumper,loader)"
for r in "${ROWS_OUT[@]}"; do
  IFS='|' read -r n s w c m z _ <<<"${r//$'\t'/|}"  # '|', not a tab: empty fields stay fields
  base_step=$s
  [[ $s == dump2 ]] && base_step=dump
  printf '%-14s %-8s %8s %8s %8s %10s %14s %14s\n' "$n" "$s" "$w" "$c" "$m" "${z:+$((z / 1048576))}" \
    "$(ratio "$w" "$(get mariadb-dump "$base_step" 3)")" \
    "$(ratio "$w" "$(get "$([[ $base_step == dump ]] && echo mydumper || echo myloader)" "$base_step" 3)")"
done
echo "second rewind backup of the unchanged databases added $second_added bytes ($(echo "scale=3; 100 * $second_added / $first_added" | bc) % of the first)"
echo "the floor on $cores cores (the server's ${server_min} CPU-s, SHA-256 of the SQL $sha_cpu CPU-s, bench/floor.cc):"
printf '  %s\n' "${FLOOR_OUT[@]}"
