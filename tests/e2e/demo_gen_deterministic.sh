#!/bin/bash
# rewind-demo-gen is deterministic: the same seed gives the same names, bytes, modes and
# mtimes (bsdtar mtree listings equal); another seed gives another tree; it refuses a
# non-empty --out. usage: demo_gen_deterministic.sh DEMO_GEN
set -euo pipefail
source "$(dirname "$0")/lib.sh" /bin/true "$1"
need_tools bsdtar

KEYS='type,mode,time,size,link,sha256,nlink'
step "generate twice with seed 5, once with seed 6 (scale 0.1)"
"$DEMO_GEN" --out "$WORK/a" --seed 5 --scale 0.1 --etc "$WORK/etc"
"$DEMO_GEN" --out "$WORK/b" --seed 5 --scale 0.1
"$DEMO_GEN" --out "$WORK/c" --seed 6 --scale 0.1
mtree "$WORK/a" "$KEYS" >"$WORK/a.mtree"
mtree "$WORK/b" "$KEYS" >"$WORK/b.mtree"
mtree "$WORK/c" "$KEYS" >"$WORK/c.mtree"
compare_files "mtree (seed 5 vs seed 5)" "$WORK/a.mtree" "$WORK/b.mtree"
cmp -s "$WORK/a.mtree" "$WORK/c.mtree" && fail "seed 5 and seed 6 gave the same tree"
note "seed 6 differs"

step "layout from ICEWARP.md"
for p in config/settings.cfg config/cert.pem config/_webmail/server.xml config/mail html/temp \
  lib64/libiwcore.so spam/antispam.db spam/rules/local.cf calendar/groupware.db path.dat \
  storage.dat provisioned.dat php/php.ini php/tmp logs/setup/setup.log mailqueue var temp \
  archive; do
  [[ -e $WORK/a/$p ]] || fail "missing $p"
done
for x in icewarpd control tool.sh icewarpd.sh upgrade.sh; do
  [[ $(stat -c %a "$WORK/a/$x") == 755 ]] || fail "$x is not mode 0755"
done
(( $(stat -c %s "$WORK/a/lib64/libiwcore.so") >= 9 * 1024 * 1024 )) || fail "libiwcore.so < 9 MiB"
[[ $(sed -n 1p "$WORK/a/path.dat") == */config/ ]] || fail "path.dat line 1 is not the config path"
(( $(find "$WORK/a/mail" -name '*.imap' | wc -l) > 50 )) || fail "too few messages in mail/"
grep -q '^IWS_INSTALL_DIR=' "$WORK/etc/icewarp.conf" || fail "--etc wrote no IWS_INSTALL_DIR"
note "all present; executables 0755; libiwcore.so $(stat -c %s "$WORK/a/lib64/libiwcore.so") bytes"

step "refuses a non-empty --out"
capture "$DEMO_GEN" --out "$WORK/a"
[[ $RC == 2 ]] || fail "rewind-demo-gen into a non-empty dir exited $RC, expected 2"
note "exit 2: $ERR"
