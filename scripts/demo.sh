#!/bin/bash
# scripts/demo.sh BUILD_DIR — a guided tour of rewind on a generated IceWarp installation:
# back up before "the upgrade", let the upgrade change files, restore the snapshot, and prove
# with diff -r that the restore is the installation as it was before.
#
# Works in a fresh temp directory (removed at the end unless KEEP=1). The binaries are found
# in BUILD_DIR, or given by $REWIND and $REWIND_DEMO_GEN.
set -euo pipefail

BUILD=${1:-build}
find_bin() {  # find_bin NAME: the executable NAME under BUILD_DIR
  local c
  for c in "$BUILD/$1" "$BUILD/cli/$1" "$BUILD/tests/$1" "$BUILD/bin/$1"; do
    [[ -x $c && -f $c ]] && { echo "$c"; return; }
  done
  find "$BUILD" -maxdepth 3 -type f -name "$1" -perm -u+x -print -quit 2>/dev/null
}
REWIND=${REWIND:-$(find_bin rewind)}
GEN=${REWIND_DEMO_GEN:-$(find_bin rewind-demo-gen)}
if [[ ! -x ${REWIND:-} || ! -x ${GEN:-} ]]; then
  echo "demo.sh: cannot find rewind and rewind-demo-gen under '$BUILD' (build first:" >&2
  echo "         cmake -S . -B build -G Ninja && ninja -C build)" >&2
  exit 2
fi
REWIND=$(realpath "$REWIND")
GEN=$(realpath "$GEN")

DEMO=$(mktemp -d "${TMPDIR:-/tmp}/rewind-demo.XXXXXX")
cleanup() {
  if [[ ${KEEP:-0} == 1 ]]; then echo "(KEEP=1: demo files kept in $DEMO)"; else rm -rf "$DEMO"; fi
}
trap cleanup EXIT

ROOT=$DEMO/opt/icewarp          # the installation
ETC=$DEMO/etc/icewarp           # its /etc/icewarp
export REWIND_REPO=$DEMO/backup # the repository; --repo is not needed while this is set
EXCLUDED=(mail logs archive mailqueue temp php var)
n=0
step() {
  n=$((n + 1))
  printf '\n\033[1m%d. %s\033[0m\n' "$n" "$1"
  [[ $# -gt 1 ]] && printf '   %s\n' "${@:2}"
  return 0
}
run() {  # run CMD...: show the command as a user would type it, then run it
  local shown=("$@")
  shown[0]=${shown[0]/#$REWIND/rewind}
  shown[0]=${shown[0]/#$GEN/rewind-demo-gen}
  printf '   $ %s\n' "${shown[*]//$DEMO/\$DEMO}"
  "$@" 2>&1 | sed 's/^/     /'
  return "${PIPESTATUS[0]}"
}

echo "rewind demo — working in DEMO=$DEMO"

step "An IceWarp server to protect" \
  "rewind-demo-gen writes an IceWarp-like installation root (config/, html/, lib64/, mail/, …)."
run "$GEN" --out "$ROOT" --etc "$ETC" --scale 0.2 --seed 42
run ls -C "$ROOT"

step "Create a repository" "REWIND_REPO=$REWIND_REPO stands for --repo in every command."
run "$REWIND" init --repo "$REWIND_REPO"

step "Back up just before the upgrade" \
  "--profile icewarp skips what the upgrade does not touch and what is volatile:" \
  "${EXCLUDED[*]} (each folder itself is kept, empty)."
printf '   $ rewind backup --source $DEMO/opt/icewarp --profile icewarp --tag pre-epos\n'
"$REWIND" backup --source "$ROOT" --profile icewarp --tag pre-epos >"$DEMO/backup.out" \
  2>"$DEMO/backup.err" || { cat "$DEMO/backup.err" >&2; exit 1; }
sed 's/^/     /' "$DEMO/backup.err" "$DEMO/backup.out"
SNAP=$(grep -v '^[[:space:]]*$' "$DEMO/backup.out" | tail -n 1 | tr -d '[:space:]')
echo "   (the last line on stdout is the new snapshot's id: $SNAP)"

# ---- BEGIN MariaDB part (to be added): dump the IceWarp databases with
# ---- `rewind backup --databases all` and show `rewind ls pre-epos` of the databases tree.
# ---- END MariaDB part

step "The snapshots in the repository"
run "$REWIND" snapshots

step "What the snapshot holds in config/"
run "$REWIND" ls pre-epos config

step "Keep a copy of the installation as it is now, to compare at the end"
run cp -a "$ROOT" "$DEMO/before-upgrade"

step "\"The upgrade\": files change, appear and disappear; new mail arrives"
(
  cd "$ROOT"
  printf 'Version=14.0.0.1 EPOS\n' >>config/settings.cfg
  printf '<epos enabled="1"/>\n' >config/_webmail/server.xml
  head -c 3000000 /dev/urandom >lib64/libiwcore.so
  rm -f html/index.html
  printf 'console.log("EPOS");\n' >html/epos.js
  chmod 0700 upgrade.sh
  user_inbox=$(find mail -type d -name inbox -print -quit)
  printf 'Subject: arrived after the backup\r\n\r\nhello\r\n' >"$user_inbox/new-after-backup.imap"
)
run diff -rq "$DEMO/before-upgrade" "$ROOT" || :

step "Roll back: restore the pre-epos snapshot into a new directory"
run "$REWIND" restore pre-epos --target "$DEMO/restored"

step "Compare the restore with the installation before the upgrade (diff -r)" \
  "Excluded folders are compared as empty directories: their contents were never backed up."
same=1
for entry in "$DEMO/before-upgrade"/* "$DEMO/before-upgrade"/.[!.]*; do
  [[ -e $entry || -L $entry ]] || continue
  name=${entry##*/}
  if [[ " ${EXCLUDED[*]} " == *" $name "* ]]; then
    if [[ -d $DEMO/restored/$name && -z $(ls -A "$DEMO/restored/$name") ]]; then
      printf '     %-12s excluded: restored as an empty directory\n' "$name/"
    else
      printf '     %-12s excluded: NOT restored as an empty directory\n' "$name/"
      same=0
    fi
  elif diff -r --no-dereference "$entry" "$DEMO/restored/$name" >"$DEMO/diff.out" 2>&1; then
    printf '     %-12s identical\n' "$name"
  else
    printf '     %-12s DIFFERS:\n' "$name"
    sed 's/^/       /' "$DEMO/diff.out" | head -n 20
    same=0
  fi
done
extra=$(comm -13 <(ls -A "$DEMO/before-upgrade") <(ls -A "$DEMO/restored"))
if [[ -n $extra ]]; then
  echo "     unexpected entries in the restore: $extra"
  same=0
fi

modes="before $(stat -c %a "$DEMO/before-upgrade/upgrade.sh"), after the upgrade $(stat -c %a "$ROOT/upgrade.sh"), restored $(stat -c %a "$DEMO/restored/upgrade.sh")"
echo "     upgrade.sh mode: $modes"
[[ $(stat -c %a "$DEMO/restored/upgrade.sh") == "$(stat -c %a "$DEMO/before-upgrade/upgrade.sh")" ]] || same=0

if [[ $same == 1 ]]; then
  printf '\n\033[1mThe restored installation is identical to the one before the upgrade.\033[0m\n'
  echo "(diff -r compares contents; the end-to-end tests in tests/e2e also compare modes, owners,"
  echo " times, xattrs and ACLs with bsdtar mtree listings and getfattr.)"
else
  printf '\n\033[1mThe restore differs from the installation before the upgrade.\033[0m\n'
  exit 1
fi
