# Shared helpers for the end-to-end tests; sourced by tests/e2e/*.sh.
#   usage of a test: bash tests/e2e/NAME.sh /path/to/rewind /path/to/rewind-demo-gen
# Every test works in its own mktemp -d (under $TMPDIR or /tmp), removed on exit unless
# KEEP=1. Exit status: 0 pass, 1 fail, 77 skipped (ctest SKIP_RETURN_CODE).
set -euo pipefail

REWIND=${1:?usage: $0 REWIND_BINARY DEMO_GEN_BINARY}
DEMO_GEN=${2:?usage: $0 REWIND_BINARY DEMO_GEN_BINARY}
REWIND=$(realpath "$REWIND")
DEMO_GEN=$(realpath "$DEMO_GEN")
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FIXTURES=$(cd "$E2E_DIR/../fixtures" && pwd)
export LC_ALL=C
unset REWIND_REPO

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rewind-e2e.XXXXXX")
_cleanup() {
  local rc=$?
  trap - ERR
  # Stop background helpers this test started (their pids are in BG_PIDS).
  for pid in ${BG_PIDS:-}; do kill "$pid" 2>/dev/null || :; done
  if [[ ${KEEP:-0} == 1 ]]; then
    echo "(KEEP=1: work directory kept: $WORK)"
  else
    chmod -R u+rwx "$WORK" 2>/dev/null || :
    rm -rf "$WORK"
  fi
  if [[ $rc == 0 && ${#SOFT_FAILS[@]} -gt 0 ]]; then
    echo "FAILED CHECKS (${#SOFT_FAILS[@]}):" >&2
    printf '  - %s\n' "${SOFT_FAILS[@]}" >&2
    rc=1
  fi
  if [[ $rc == 0 ]]; then
    echo "PASS: $(basename "$0")"
  elif [[ $rc == 77 ]]; then
    echo "SKIP: $(basename "$0")"
  else
    echo "FAIL: $(basename "$0") (exit $rc)"
  fi
  exit "$rc"
}
trap _cleanup EXIT
# A command that fails outside an assertion stops the test (set -e); say which one.
set -E
trap 'echo "FAIL: exit $? from \`$BASH_COMMAND\` at $(basename "${BASH_SOURCE[0]}"):$LINENO" >&2' ERR
BG_PIDS=""
SOFT_FAILS=()

step() { printf '\n== %s\n' "$*"; }
note() { printf '   %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}
# check_failed MSG: records a failed comparison and lets the test go on to its other checks;
# the test fails at exit, listing them all. Use fail when later checks would be moot.
check_failed() {
  printf 'FAIL (test continues): %s\n' "$*" >&2
  SOFT_FAILS+=("$*")
}
skip() {
  printf 'SKIP: %s\n' "$*" >&2
  exit 77
}
need_root() { [[ $(id -u) == 0 ]] || skip "needs root"; }
need_tools() {
  local t
  for t in "$@"; do command -v "$t" >/dev/null || skip "needs '$t' (see tests/PACKAGES)"; done
}

# capture CMD...: runs CMD with stdout in $WORK/last.out, stderr in $WORK/last.err and the
# exit status in RC; never aborts the test. OUT and ERR hold the text.
capture() {
  if "$@" >"$WORK/last.out" 2>"$WORK/last.err"; then RC=0; else RC=$?; fi
  OUT=$(cat "$WORK/last.out")
  ERR=$(cat "$WORK/last.err")
}

_show_last() {
  echo "--- stdout (first 40 lines):" >&2
  head -n 40 "$WORK/last.out" | cut -c1-400 >&2
  echo "--- stderr (first 40 lines):" >&2
  head -n 40 "$WORK/last.err" | cut -c1-400 >&2
}

# expect_rc WANT CMD...: runs CMD through capture and fails unless it exits WANT.
expect_rc() {
  local want=$1
  shift
  note "\$ ${*/#$REWIND/rewind}"
  capture "$@"
  if [[ $RC != "$want" ]]; then
    _show_last
    fail "'$*' exited $RC, expected $want"
  fi
}

# expect_err_contains TEXT: the last captured stderr contains TEXT (fixed string, any case).
expect_err_contains() {
  if ! grep -qiF -- "$1" "$WORK/last.err"; then
    _show_last
    fail "stderr of the last command does not mention '$1'"
  fi
}

# flip_byte FILE OFFSET: XORs the byte at OFFSET with 0x5A (one damaged byte, size unchanged).
flip_byte() {
  python3 - "$1" "$2" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0x5A]))
PY
}

# Last non-empty line of the last captured stdout: the snapshot id of a text-mode backup.
last_line() { grep -v '^[[:space:]]*$' "$WORK/last.out" | tail -n 1 | tr -d '[:space:]'; }

# json_get FILTER: applies a jq filter to the last captured stdout.
json_get() {
  jq -r "($1) as \$v | if \$v == null then error(\"null\") else \$v end" "$WORK/last.out" || {
    _show_last
    fail "stdout is not JSON with '$1'"
  }
}

# Number of snapshots in `rewind snapshots --json` output (a list, or {"snapshots": [...]}).
snapshot_count() {
  capture "$REWIND" snapshots --repo "$1" --json
  [[ $RC == 0 ]] || { _show_last; fail "snapshots --json exited $RC"; }
  jq -er 'if type == "array" then length else (.snapshots | length) end' "$WORK/last.out"
}

# The snapshot list as a JSON array, whatever the envelope.
snapshot_list() {
  capture "$REWIND" snapshots --repo "$1" --json
  [[ $RC == 0 ]] || { _show_last; fail "snapshots --json exited $RC"; }
  jq -ec 'if type == "array" then . else .snapshots end' "$WORK/last.out"
}

# mtree DIR [KEYWORDS]: a sorted bsdtar mtree listing of DIR (independent of rewind).
# Directories carry no nlink in bsdtar's mtree output (it writes nlink only for non-dirs).
# Mode is st_mode (see --no-acls below).
MTREE_KEYS='type,mode,uid,gid,uname,gname,time,size,link,sha256,nlink,device'
mtree() {
  local dir=$1 keys=${2:-$MTREE_KEYS}
  # --no-acls: with ACLs read, bsdtar reports the group bits of the ACL's group:: entry instead
  # of st_mode's (which hold the ACL mask); ACLs are compared through getfattr instead.
  (cd "$dir" && bsdtar -cf - --format=mtree --no-acls --options "!all,$keys" .) |
    grep -v '^#' | sort
}

# compare_files WHAT A B: shows the diff and records a failed check when the listings differ.
compare_files() {
  local what=$1 a=$2 b=$3
  note "compare $what: $(wc -l <"$a") vs $(wc -l <"$b") lines"
  if ! diff -u "$a" "$b" >"$WORK/diff.txt"; then
    echo "--- diff of $what (- expected, + actual; first 60 lines):" >&2
    # Long runs of one letter (the deep/ chain's names) shortened for reading.
    head -n 60 "$WORK/diff.txt" | sed -E 's/(.)\1{19,}/\1\1\1…/g' | cut -c1-400 >&2
    check_failed "$what differ ($(grep -c '^[-+][^-+]' "$WORK/diff.txt") lines)"
  fi
  return 0
}

# xattr_dump DIR: every extended attribute (incl. system.posix_acl_*) of every entry under DIR
# except deep/, as sorted "path<TAB>name=hexvalue" lines (getfattr, not rewind).
xattr_dump() {
  local dir=$1
  (
    cd "$dir"
    # getfattr -R cannot descend below PATH_MAX, so deep/ is checked by deep_walk.
    find . -mindepth 1 -maxdepth 1 ! -name deep -print0 |
      xargs -0 -r getfattr -R -P -h -d -m - -e hex --absolute-names 2>"$WORK/getfattr.err" |
      awk '/^# file: /{f=substr($0,9); next} /=/{print f "\t" $0}' || :
    getfattr -h -d -m - -e hex . 2>>"$WORK/getfattr.err" | awk '/=/{print ".\t" $0}' || :
  ) | sort
  # Checked here rather than through the exit status, to say what failed.
  if [[ -s $WORK/getfattr.err ]]; then
    cat "$WORK/getfattr.err" >&2
    fail "getfattr failed under $dir"
  fi
}

# deep_walk DIR: describes DIR/deep (a chain of directories longer than PATH_MAX) by walking
# it with `cd`, one level at a time, so no path is ever longer than one name: per level the
# name, mode, owner and mtime; at the bottom the files' sha256 and xattrs.
deep_walk() {
  (
    cd "$1/deep"
    local level=0 sub
    while :; do
      sub=$(find . -mindepth 1 -maxdepth 1 -type d -printf '%f\n')
      [[ -n $sub ]] || break
      [[ $(wc -l <<<"$sub") == 1 ]] || { echo "more than one directory at level $level"; break; }
      stat -c "level $level %n %f %u:%g %y" "$sub"
      cd "$sub"
      level=$((level + 1))
    done
    echo "depth $level"
    find . -mindepth 1 -maxdepth 1 -type f -printf '%f %m %u:%g %T@\n' | sort
    sha256sum -- * | sort
    getfattr -h -d -m - -e hex -- * 2>&1
  )
}

# compare_root SRC_MTREE DST_MTREE: the backed-up directory's own entry (".": mode, owner,
# mtime) is restored onto the target directory. Checked last, apart from the entries below it.
compare_root() {
  local a b
  a=$(awk '/^\. /' "$1")
  b=$(awk '/^\. /' "$2")
  note "compare the root directory's own entry: $a"
  [[ $a == "$b" ]] || check_failed "the target directory did not get the source root's metadata:
      source : $a
      restore: $b"
}
