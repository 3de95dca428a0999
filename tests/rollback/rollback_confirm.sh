#!/bin/bash
# Without --yes, on a terminal, rollback shows the plan and asks; only "y" goes on. Run under
# script(1), which gives it a pseudo-terminal, with the answer typed after a pause (the
# progress line runs meanwhile and must not draw over the question). Checked:
#   - "n": exit 2 "not confirmed", the target and the repository unchanged (no safety snapshot);
#   - the plan (the file to rewrite) and the question are on the screen, after the last
#     progress line drawn;
#   - "y": rolled back, verified, a safety snapshot taken;
#   - without a terminal and without --yes: refused, nothing changed.
# usage: rollback_confirm.sh REWIND DEMO_GEN
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/lib_rollback.sh"
need_tools script bsdtar

SRC=$WORK/inst
REPO=$WORK/repo
mkdir -p "$SRC/config"
echo "v1" >"$SRC/config/settings.cfg"
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --tag pre
echo "v2, after the upgrade" >"$SRC/config/settings.cfg"
mtree "$SRC" >"$WORK/upgraded.mtree"
n=$(snapshot_count "$REPO")

answer() {  # answer TEXT: runs the rollback on a pseudo-terminal and types TEXT after 1.5 s
  (sleep 1.5; printf '%s\n' "$1") | script -qec "'$REWIND' rollback --repo '$REPO' pre; echo \"rc=\$?\"" /dev/null \
    >"$WORK/screen.txt" 2>&1 || :
  tr -d '\r' <"$WORK/screen.txt" >"$WORK/screen.clean"
}

step "answer n: nothing changed"
answer n
grep -q '^rc=2$' "$WORK/screen.clean" || { cat "$WORK/screen.clean" >&2; fail "rollback answered n did not exit 2"; }
grep -q "not confirmed: nothing was changed" "$WORK/screen.clean" || check_failed "no 'not confirmed' message"
grep -q "^  config/settings.cfg$" "$WORK/screen.clean" || check_failed "the plan on the screen does not name the file"
# The question is the last thing drawn before the answer: no progress line over it.
question=$(grep -o 'Roll .* now? A safety snapshot is taken first. \[y/N\] .*' "$WORK/screen.clean" | head -n 1)
[[ $question == *"[y/N] n" || $question == *"[y/N] " ]] ||
  check_failed "something was drawn over the question: '$question'"
mtree "$SRC" >"$WORK/now.mtree"
compare_files "target after answering n" "$WORK/upgraded.mtree" "$WORK/now.mtree"
[[ $(snapshot_count "$REPO") == "$n" ]] || check_failed "answering n left a snapshot"

step "no terminal and no --yes: refused, nothing changed"
expect_rc 2 "$REWIND" rollback --repo "$REPO" pre </dev/null
mtree "$SRC" >"$WORK/now.mtree"
compare_files "target after the refusal" "$WORK/upgraded.mtree" "$WORK/now.mtree"

step "answer y: rolled back"
answer y
grep -q '^rc=0$' "$WORK/screen.clean" || { cat "$WORK/screen.clean" >&2; fail "rollback answered y did not exit 0"; }
[[ $(cat "$SRC/config/settings.cfg") == v1 ]] || check_failed "config/settings.cfg not rolled back"
grep -q "safety snapshot .* undoes this rollback" "$WORK/screen.clean" || check_failed "no safety snapshot reported"
[[ $(snapshot_count "$REPO") == $((n + 1)) ]] || check_failed "no safety snapshot saved"
