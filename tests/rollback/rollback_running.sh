#!/bin/bash
# DESIGN: a rollback refuses while IceWarp's services run. A process that runs an executable
# from the installation, or has one of its files open, makes rollback (and its --dry-run, and
# --resume) refuse with exit 2, naming the process, before anything is changed: no safety
# snapshot, no journal, the tree as it was. Files open in an excluded folder (a log in logs/)
# do not count. --stop-cmd that stops them lets it go on (what it leaves running is waited for
# 10 s); so does --allow-running. A --resume
# of a killed rollback refuses the same way and keeps its journal. A start command that fails
# after a complete, verified rollback: exit 3, with the report.
# usage: rollback_running.sh REWIND DEMO_GEN
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/lib_rollback.sh"
need_tools bsdtar

SRC=$WORK/inst
REPO=$WORK/repo
mkdir -p "$SRC/config" "$SRC/logs/smtp"
echo "v1" >"$SRC/config/settings.cfg"
cp "$(command -v sleep)" "$SRC/smtp"  # an IceWarp service: its executable is in the installation
echo "log" >"$SRC/logs/smtp/2026.log"
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --exclude logs --tag pre
echo "v2, after the upgrade" >"$SRC/config/settings.cfg"
mtree_kept "$SRC" "$WORK/upgraded.mtree"
n=$(snapshot_count "$REPO")

# wait_for PID PATTERN: until /proc/PID shows PATTERN in its exe or open files (2 s at most).
wait_for() {
  local i
  for ((i = 0; i < 40; i++)); do
    local seen
    seen=$(readlink "/proc/$1/exe" 2>/dev/null; ls -l "/proc/$1/fd" 2>/dev/null) || :
    [[ $seen == *"$2"* ]] && return 0
    sleep 0.05
  done
  fail "process $1 never showed $2"
}
# started PATTERN: the job just put in the background is stopped at exit; its pid is in BG once
# /proc shows PATTERN in its executable or open files.
started() {
  BG=$!
  BG_PIDS+=" $BG"
  wait_for "$BG" "$1"
}
unchanged() {  # unchanged WHAT: the target and the repository as before the refusal
  mtree_kept "$SRC" "$WORK/now.mtree"
  compare_files "target after $1" "$WORK/upgraded.mtree" "$WORK/now.mtree"
  [[ $(snapshot_count "$REPO") == "$n" ]] || check_failed "$1 left a snapshot (a safety snapshot was taken)"
  [[ -z $(ls "$REPO/rollback" 2>/dev/null | grep journal) ]] || check_failed "$1 left a journal"
}

step "a service runs from the installation: refused, nothing changed"
"$SRC/smtp" 600 &
started "$SRC/smtp"
SVC=$BG
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --yes
expect_err_contains "pid $SVC smtp (runs $SRC/smtp)"
expect_err_contains "--allow-running"
unchanged "the refusal"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --dry-run --json
[[ $(jq -r .refused "$WORK/last.out") == *"pid $SVC smtp (runs $SRC/smtp)"* ]] ||
  check_failed "--dry-run --json does not say why it would refuse: $(jq -r .refused "$WORK/last.out")"
unchanged "the dry run"

step "the stop command stops it: rolled back"
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --yes --stop-cmd "kill $SVC; while kill -0 $SVC 2>/dev/null; do sleep 0.05; done"
[[ $(cat "$SRC/config/settings.cfg") == v1 ]] || check_failed "settings.cfg not rolled back"

step "a start command that fails after a complete, verified rollback: exit 3, the report, the failure last"
echo "v2s" >"$SRC/config/settings.cfg"
expect_rc 3 "$REWIND" rollback --repo "$REPO" pre --yes --start-cmd "echo services down >&2; exit 7"
[[ $(cat "$SRC/config/settings.cfg") == v1 ]] || check_failed "settings.cfg not rolled back"
expect_err_contains "safety snapshot "  # the way back is still named
expect_err_contains "and verified it in"
[[ $(tail -n 1 "$WORK/last.err") == *"complete and verified, but the start command failed ("*"exit"*"7"*"): the services are still stopped: start them by hand" ]] ||
  check_failed "the start command's failure is not the last line: $(tail -n 1 "$WORK/last.err")"
[[ -z $(ls "$REPO"/rollback/*.journal 2>/dev/null) ]] || check_failed "a journal is left after a complete rollback"
echo "v2j" >"$SRC/config/settings.cfg"
expect_rc 3 "$REWIND" rollback --repo "$REPO" pre --yes --json --start-cmd "exit 7"
jq -e '.verified == true and .start_cmd_run == false and (.start_cmd_failed | test("exit"))' "$WORK/last.out" >/dev/null ||
  check_failed "--json does not report the start command's failure: $(cat "$WORK/last.out")"
[[ $(cat "$SRC/config/settings.cfg") == v1 ]] || check_failed "settings.cfg not rolled back (--json)"

step "a stop command that returns before the service has exited: waited for, then rolled back"
echo "v2b" >"$SRC/config/settings.cfg"
"$SRC/smtp" 600 &
started "$SRC/smtp"
SVC1=$BG
# As an init script that only signals: the service goes 1.5 s after the command returned.
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --yes --stop-cmd "(sleep 1.5; kill $SVC1) >/dev/null 2>&1 &"
grep -q "waiting for the services to exit" "$WORK/last.err" || check_failed "no 'waiting for the services to exit' phase"
[[ $(cat "$SRC/config/settings.cfg") == v1 ]] || check_failed "settings.cfg not rolled back after the wait"

step "a file of the installation held open (not a log): refused; a log held open: not"
echo "v3" >"$SRC/config/settings.cfg"
mtree_kept "$SRC" "$WORK/upgraded.mtree"
n=$(snapshot_count "$REPO")
(exec 3<"$SRC/config/settings.cfg"; exec sleep 600) &
started "$SRC/config/settings.cfg"
HOLDER=$BG
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --yes
expect_err_contains "pid $HOLDER sleep (has $SRC/config/settings.cfg open)"
unchanged "the refusal for an open file"
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null || :
(exec 3>>"$SRC/logs/smtp/2026.log"; exec sleep 600) &
started "$SRC/logs/smtp/2026.log"
LOGGER=$BG
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --yes
[[ $(cat "$SRC/config/settings.cfg") == v1 ]] || check_failed "settings.cfg not rolled back with a log open"

step "--allow-running rolls back under a running service"
echo "v4" >"$SRC/config/settings.cfg"
"$SRC/smtp" 600 &
started "$SRC/smtp"
SVC2=$BG
expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --yes --allow-running
[[ $(cat "$SRC/config/settings.cfg") == v1 ]] || check_failed "--allow-running did not roll back"
kill "$SVC2"
wait "$SVC2" 2>/dev/null || :

step "--resume refuses while a service runs, keeps the journal, and finishes once it is stopped"
for i in $(seq 1 60); do echo "file $i v1" >"$SRC/config/f$i.cfg"; done
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --exclude logs --tag many
for i in $(seq 1 60); do echo "file $i v2" >"$SRC/config/f$i.cfg"; done
# Slowed to 100 ms a step (60 writes on 2 threads: 3 s), killed 0.5 s into the apply.
REWIND_TEST_ROLLBACK_STEP_DELAY_US=100000 "$REWIND" rollback --repo "$REPO" many --yes --no-safety-snapshot \
  >"$WORK/killed.out" 2>&1 &
RB=$!
for ((i = 0; i < 200; i++)); do
  grep -q "applying the plan" "$WORK/killed.out" && break
  sleep 0.05
done
sleep 0.5
kill -KILL "$RB"
wait "$RB" 2>/dev/null || :
[[ -n $(ls "$REPO/rollback" 2>/dev/null | grep journal) ]] || fail "the killed rollback left no journal"
expect_rc 0 "$REWIND" unlock --repo "$REPO"
"$SRC/smtp" 600 &
started "$SRC/smtp"
SVC3=$BG
expect_rc 2 "$REWIND" rollback --repo "$REPO" --resume --yes
expect_err_contains "pid $SVC3 smtp (runs $SRC/smtp)"
expect_err_contains "rollback --resume"
[[ -n $(ls "$REPO/rollback" 2>/dev/null | grep journal) ]] || check_failed "the refused resume dropped the journal"
# Its start command fails: exit 3 through --resume too, the failure last, no journal left.
expect_rc 3 "$REWIND" rollback --repo "$REPO" --resume --yes --stop-cmd "kill $SVC3; while kill -0 $SVC3 2>/dev/null; do sleep 0.05; done" \
  --start-cmd "exit 5"
for i in 1 30 60; do
  [[ $(cat "$SRC/config/f$i.cfg") == "file $i v1" ]] || check_failed "f$i.cfg not rolled back by the resume"
done
[[ $(tail -n 1 "$WORK/last.err") == *"complete and verified, but the start command failed ("*"5"*"): the services are still stopped: start them by hand" ]] ||
  check_failed "the resume's start command failure is not the last line: $(tail -n 1 "$WORK/last.err")"
[[ -z $(ls "$REPO"/rollback/*.journal 2>/dev/null) ]] || check_failed "a journal is left after a complete resume"
expect_rc 2 "$REWIND" rollback --repo "$REPO" --resume --yes
expect_err_contains "no interrupted rollback to resume"

# Review: what the check used to get wrong (each confirmed against 29e5479).
# stopped PID: kills a helper and waits for it.
stopped() { kill "$1" 2>/dev/null || :; wait "$1" 2>/dev/null || :; }

step "a folder the snapshot excludes, itself held open (\`find logs/\` holds logs/): not counted; a kept folder: refused"
mkdir -p "$SRC/logs/smtp/2026"
# The icewarp profile's rules match directories only ("/logs/"): logs/ itself is one.
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --profile icewarp --tag prof
(exec 3<"$SRC/logs"; exec sleep 600) &
started "$SRC/logs"
H=$BG
expect_rc 0 "$REWIND" rollback --repo "$REPO" prof --dry-run
stopped "$H"
find "$SRC/logs" -name 2026 -exec sleep 600 \; &
started "$SRC/logs/smtp"
H=$BG
expect_rc 0 "$REWIND" rollback --repo "$REPO" prof --dry-run
for c in $(cat "/proc/$H/task/$H/children" 2>/dev/null); do stopped "$c"; done  # find's sleep
stopped "$H"
(exec 3<"$SRC/config"; exec sleep 600) &
started "$SRC/config"
H=$BG
expect_rc 2 "$REWIND" rollback --repo "$REPO" prof --dry-run
expect_err_contains "pid $H sleep (has $SRC/config open)"
stopped "$H"

step "a script of the installation that runs rewind (its shell holds the script open): not counted"
printf '#!/bin/bash\nexec 9<"$0"\n"$1" rollback --repo "$2" pre --dry-run\n' >"$SRC/rollback.sh"
chmod +x "$SRC/rollback.sh"
expect_rc 0 "$SRC/rollback.sh" "$REWIND" "$REPO"
rm "$SRC/rollback.sh"

step "a service whose main thread exited while its other threads run: refused"
if command -v cc >/dev/null; then
  printf '#include <pthread.h>\n#include <unistd.h>\nstatic void* run(void* a) { (void)a; sleep(600); return 0; }\nint main(void) { pthread_t t; pthread_create(&t, 0, run, 0); pthread_exit(0); }\n' >"$WORK/leader.c"
  cc -pthread -o "$SRC/leader" "$WORK/leader.c"
  "$SRC/leader" &
  H=$!
  BG_PIDS+=" $H"
  for ((i = 0; i < 40; i++)); do
    grep -q '^State:.*Z' "/proc/$H/status" 2>/dev/null && break
    sleep 0.05
  done
  grep -q '^State:.*Z' "/proc/$H/status" || fail "the leader's main thread did not exit"
  expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --dry-run
  expect_err_contains "pid $H leader (runs $SRC/leader)"
  stopped "$H"
  rm "$SRC/leader"
else
  note "(no cc: step left out)"
fi

step "another mount namespace: the installation bind-mounted elsewhere counts, another file at the same path does not"
if [[ $(id -u) == 0 ]] && unshare -m --propagation private true 2>/dev/null; then
  mkdir -p "$WORK/alias"
  unshare -m --propagation private sh -c \
    "mount --bind '$SRC' '$WORK/alias' && exec sleep 600 3<'$WORK/alias/config/settings.cfg'" &
  started "$WORK/alias/config/settings.cfg"
  H=$BG
  expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --dry-run
  expect_err_contains "pid $H sleep (has $WORK/alias/config/settings.cfg open)"
  stopped "$H"
  unshare -m --propagation private sh -c \
    "mount -t tmpfs other '$SRC' && mkdir '$SRC/config' && echo other >'$SRC/config/other.db' && exec sleep 600 3<'$SRC/config/other.db'" &
  started "$SRC/config/other.db"
  H=$BG
  [[ ! -e $SRC/config/other.db ]] || fail "the tmpfs shows in this namespace"
  expect_rc 0 "$REWIND" rollback --repo "$REPO" pre --dry-run
  stopped "$H"
else
  note "(not root, or no unshare: step left out)"
fi

step "a file bind-mounted over a file of the installation, held open through its own path: refused"
# Its directory entry shows the inode of the file it covers: the walk stats mount points.
if [[ $(id -u) == 0 ]] && unshare -m --propagation private true 2>/dev/null; then
  echo "shared settings" >"$WORK/shared.cfg"
  echo "covered" >"$SRC/config/shared.cfg"
  unshare -m --propagation private bash -c "
    mount --bind '$WORK/shared.cfg' '$SRC/config/shared.cfg' || exit 9
    exec 3<'$WORK/shared.cfg'
    sleep 600 &
    exec 3<&-
    for i in \$(seq 40); do ls -l /proc/\$!/fd 2>/dev/null | grep -q shared.cfg && break; sleep 0.05; done
    '$REWIND' rollback --repo '$REPO' pre --dry-run >'$WORK/bind.out' 2>'$WORK/bind.err'
    echo \$? >'$WORK/bind.rc'
    kill \$! 2>/dev/null; wait 2>/dev/null
    exit 0" || fail "the bind-mount namespace could not be set up"
  note "$(head -c 300 "$WORK/bind.err")"
  [[ $(cat "$WORK/bind.rc") == 2 ]] || check_failed "rollback --dry-run exited $(cat "$WORK/bind.rc"), expected 2"
  grep -q "has $WORK/shared.cfg open" "$WORK/bind.err" ||
    check_failed "the refusal does not name the process holding $WORK/shared.cfg"
  rm "$SRC/config/shared.cfg"
else
  note "(not root, or no unshare: step left out)"
fi

step "another rewind on the installation (a rollback from another repository): named as such, not as a service"
expect_rc 0 "$REWIND" init --repo "$WORK/repo2"
expect_rc 0 "$REWIND" backup --repo "$WORK/repo2" --source "$SRC" --tag here
# Its stop command keeps it on the installation (the target open) for a while.
"$REWIND" rollback --repo "$WORK/repo2" here --yes --allow-running --stop-cmd 'sleep 4' >"$WORK/other.out" 2>"$WORK/other.err" &
OTHER=$!
BG_PIDS+=" $OTHER"
for ((i = 0; i < 100; i++)); do
  pgrep -P "$OTHER" >/dev/null && break  # its stop command runs
  sleep 0.05
done
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre --dry-run
expect_err_contains "another rewind works on $SRC: pid $OTHER rewind ("
expect_err_contains "Wait for it to end"
wait "$OTHER" || { tail -n 3 "$WORK/other.err" >&2; check_failed "the other rollback failed"; }
