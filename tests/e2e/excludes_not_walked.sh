#!/bin/bash
# Excluded folders are never listed nor opened by a backup — two independent proofs:
#  1. inotify watches on every excluded folder (and everything below) see no event while
#     `rewind backup --profile icewarp` runs (and do see one when we read a file ourselves);
#  2. as an unprivileged user, with mail/ at mode 0000, the backup succeeds without a word about
#     mail/ (and the same backup without the profile does trip over it).
# usage: excludes_not_walked.sh REWIND DEMO_GEN
source "$(dirname "$0")/lib.sh"
need_root
need_tools inotifywait setpriv jq

SRC=$WORK/icewarp
REPO=$WORK/repo
EXCLUDED=(mail logs archive mailqueue temp php var)
EXTRA=html/webmail/client/m1   # excluded by an --exclude rule on top of the profile

step "generate the demo installation (scale 0.1)"
"$DEMO_GEN" --out "$SRC" --scale 0.1 --seed 3
[[ -d $SRC/$EXTRA ]] || fail "generator did not make $EXTRA"
expect_rc 0 "$REWIND" init --repo "$REPO"

step "proof 1: inotify watches on the excluded folders see nothing during the backup"
watched=()
for d in "${EXCLUDED[@]}" "$EXTRA"; do watched+=("$SRC/$d"); done
note "watching (recursively, events open,access,close_nowrite): ${EXCLUDED[*]} $EXTRA"
inotifywait -m -r -e open,access,close_nowrite --format '%w%f %e' "${watched[@]}" \
  >"$WORK/events" 2>"$WORK/inotify.err" &
IPID=$!
BG_PIDS+=" $IPID"
for _ in $(seq 100); do
  grep -q 'Watches established' "$WORK/inotify.err" && break
  kill -0 "$IPID" 2>/dev/null || { cat "$WORK/inotify.err" >&2; fail "inotifywait died"; }
  sleep 0.1
done
grep -q 'Watches established' "$WORK/inotify.err" || fail "inotifywait did not set up its watches"
sleep 1  # let the events of inotifywait's own directory scan arrive; they are not counted
base=$(wc -l <"$WORK/events")
note "watches established ($base events from inotifywait's own scan ignored)"

expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --profile icewarp \
  --exclude "$EXTRA/" --json
cp "$WORK/last.out" "$WORK/backup.json"
sleep 1
tail -n +$((base + 1)) "$WORK/events" >"$WORK/backup.events"
if [[ -s $WORK/backup.events ]]; then
  echo "--- inotify events during the backup ($(wc -l <"$WORK/backup.events"), first 20):" >&2
  head -n 20 "$WORK/backup.events" >&2
  # Events on an excluded folder itself with OPEN/CLOSE only: it was opened (e.g. to fstat or
  # fgetxattr it) but not listed (listing raises ACCESS). lstat/lgetxattr by path or an O_PATH
  # descriptor raise no event.
  roots=$(printf '%s/\n' "${watched[@]}")
  if grep -q ACCESS "$WORK/backup.events" ||
     awk '{ print $1 }' "$WORK/backup.events" | grep -vxF -- "$roots" | grep -q .; then
    fail "the backup listed or read inside excluded folders"
  fi
  fail "the backup opened excluded folders themselves (not listed); use lstat/lgetxattr or O_PATH"
fi
note "no event during the backup"

# Control: the watch does see a reader, so the silence above means something.
first_mail=$(find "$SRC/mail" -name '*.imap' -print -quit)
cat "$first_mail" >/dev/null
ls "$SRC/logs" >/dev/null
sleep 1
after=$(wc -l <"$WORK/events")
(( after > base )) || fail "control: reading $first_mail produced no inotify event"
note "control: our own read of mail/ and logs/ produced $((after - base)) events"
kill "$IPID"
wait "$IPID" 2>/dev/null || :

step "--json 'excluded': each excluded folder with its rule, origin and count"
jq -c '.excluded[]' "$WORK/backup.json" | sed 's/^/     /'
for d in "${EXCLUDED[@]}" "$EXTRA"; do
  hit=$(jq -c --arg d "$d" '[.excluded[] | select(([.rule] + (.examples // []) | map(tostring)
        | any(test("(^|/)" + $d + "(/|$)"))))] | first // empty' "$WORK/backup.json")
  if [[ -z $hit ]]; then
    check_failed "no 'excluded' entry names $d/"
    continue
  fi
  [[ $(jq '.count' <<<"$hit") -ge 1 ]] || check_failed "excluded entry for $d/ has count < 1: $hit"
done
jq -e '[.excluded[] | select(.origin | test("exclude"; "i"))] | length >= 1' \
  "$WORK/backup.json" >/dev/null || fail "no 'excluded' entry with origin --exclude"
jq -e '[.excluded[] | select(.origin | test("icewarp"))] | length >= 1' \
  "$WORK/backup.json" >/dev/null || fail "no 'excluded' entry with origin profile icewarp"

step "proof 2: as nobody, mail/ at mode 0000 is not touched"
SRC2=$WORK/icewarp2
REPO2=$WORK/repo2
"$DEMO_GEN" --out "$SRC2" --scale 0.05 --seed 4
chmod 0755 "$WORK"
chown -R nobody:nogroup "$SRC2"
chmod 0000 "$SRC2/mail"
mkdir "$REPO2"
chown nobody:nogroup "$REPO2"
AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$WORK")
BIN=$REWIND
if ! "${AS_NOBODY[@]}" test -x "$BIN"; then
  mkdir -p "$WORK/bin" && cp "$REWIND" "$WORK/bin/rewind" && chmod 0755 "$WORK/bin" "$WORK/bin/rewind"
  BIN=$WORK/bin/rewind
fi
if "${AS_NOBODY[@]}" ls "$SRC2/mail" >/dev/null 2>&1; then
  fail "control: nobody can list $SRC2/mail despite mode 0000"
fi
note "control: nobody cannot list mail/ (mode 0000, $(find "$SRC2/mail" -type f | wc -l) files inside)"
expect_rc 0 "${AS_NOBODY[@]}" "$BIN" init --repo "$REPO2"
expect_rc 0 "${AS_NOBODY[@]}" "$BIN" backup --repo "$REPO2" --source "$SRC2" --profile icewarp --json
if grep -i 'mail' "$WORK/last.err" | grep -iqE 'denied|permission|error|cannot|fail|unreadable'; then
  _show_last
  fail "the backup as nobody complained about mail/"
fi
[[ $(json_get .incomplete) == false ]] || fail "backup as nobody is incomplete"
note "exit 0, complete, no complaint about mail/"

# Control: without the profile the same backup must trip over mail/ (exit 3, names it).
expect_rc 3 "${AS_NOBODY[@]}" "$BIN" backup --repo "$REPO2" --source "$SRC2"
grep -qE "(^|[/ \"'])mail([/ :\"']|\$)" "$WORK/last.err" || { _show_last; fail "stderr does not name mail"; }
note "control: without --profile icewarp, exit 3 naming mail/"
