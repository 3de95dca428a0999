#!/bin/bash
# Every kind of entry survives backup → restore (to a directory, a tar and a tar.zst), judged by
# tools independent of rewind: bsdtar mtree listings, getfattr dumps, inode groups from find,
# allocated blocks from stat, and a cd-walk of the path longer than PATH_MAX.
# usage: roundtrip_every_kind.sh REWIND DEMO_GEN
source "$(dirname "$0")/lib.sh"
need_root
need_tools bsdtar getfattr setfattr setfacl python3 jq zstd mkfifo mknod

SRC=$WORK/src
REPO=$WORK/repo
DST=$WORK/restore

step "fixture: every kind of entry (tests/fixtures/make_every_kind.sh)"
bash "$FIXTURES/make_every_kind.sh" "$SRC"

step "init + backup"
expect_rc 0 "$REWIND" init --repo "$REPO"
expect_rc 0 "$REWIND" backup --repo "$REPO" --source "$SRC" --json
cp "$WORK/last.out" "$WORK/backup.json"
SNAP=$(json_get .snapshot_id)
note "snapshot $SNAP: $(jq -c '{files, dirs, bytes_read, bytes_added, incomplete, errors}' "$WORK/backup.json")"
[[ $(jq -r .incomplete "$WORK/backup.json") == false ]] || fail "snapshot marked incomplete"
# The socket cannot be backed up: rewind skips it with a note naming it.
expect_err_contains sock

step "restore --target"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --target "$DST"
[[ ! -e $DST/sock && ! -L $DST/sock ]] || check_failed "the socket was restored as something"

step "mtree (bsdtar) of source minus the socket vs restore"
note "keywords: $MTREE_KEYS"
mtree "$SRC" >"$WORK/src-all.mtree"
awk '!/^\.\/sock /' "$WORK/src-all.mtree" >"$WORK/src.mtree"
mtree "$DST" >"$WORK/dst.mtree"
grep -q '^\./files/huge4g .*size=4296015872 ' "$WORK/src.mtree" || fail "fixture lacks huge4g"
grep -q '^\./deep/.*/bottom\.txt ' "$WORK/src.mtree" || fail "bsdtar did not list the deep file"
awk '!/^\. /' "$WORK/src.mtree" >"$WORK/src-noroot.mtree"
awk '!/^\. /' "$WORK/dst.mtree" >"$WORK/dst-noroot.mtree"
compare_files "mtree listings (source vs restore; root aside)" \
  "$WORK/src-noroot.mtree" "$WORK/dst-noroot.mtree"

step "extended attributes and ACLs (getfattr -R -d -m - -e hex)"
xattr_dump "$SRC" >"$WORK/src-all.xattr"
xattr_dump "$DST" >"$WORK/dst-all.xattr"
# The root's own xattrs are checked with its metadata at the end.
awk -F'\t' '$1 != "."' "$WORK/dst-all.xattr" >"$WORK/dst.xattr"
awk -F'\t' '$1 != "."' "$WORK/src-all.xattr" >"$WORK/src.xattr"
grep -q 'system.posix_acl_default' "$WORK/src.xattr" || fail "fixture lacks a default ACL"
grep -q 'user.binary=0x00ff7f80fe0a0d00' "$WORK/src.xattr" || fail "fixture lacks binary xattr"
for node in links/relative links/absolute special/fifo special/chardev; do
  grep -q "^\./$node"$'\t'"\(trusted.rewind\|security.selinux\)=" "$WORK/src.xattr" ||
    fail "fixture lacks the xattr on $node"
done
compare_files "xattr dumps" "$WORK/src.xattr" "$WORK/dst.xattr"

step "hardlink groups (names sharing one inode)"
link_groups() {
  (cd "$1" && find . -type f -links +1 -printf '%i %p\n') | sort -k1,1 -k2 |
    awk '{ if ($1 != prev && NR > 1) { print line; line = "" } prev = $1; line = line " " $2 }
         END { if (line != "") print line }' | sort
}
link_groups "$SRC" >"$WORK/src.links"
link_groups "$DST" >"$WORK/dst.links"
cat "$WORK/src.links" | sed 's/^/   /'
[[ $(wc -l <"$WORK/src.links") == 2 ]] || fail "fixture should hold 2 hardlink groups"
compare_files "hardlink groups" "$WORK/src.links" "$WORK/dst.links"

step "sparse files: allocated size of the restore vs the source"
# Restore leaves holes for all-zero chunks; chunks that mix data and zeros are written whole,
# so allow two maximum-size chunks (2 x 8 MiB) plus 1 MiB over the source's allocation.
for f in files/sparse64m files/huge4g; do
  src_kb=$(( $(stat -c '%b * %B' "$SRC/$f") / 1024 ))
  dst_kb=$(( $(stat -c '%b * %B' "$DST/$f") / 1024 ))
  size=$(stat -c %s "$DST/$f")
  note "$f: size $size, allocated: source ${src_kb} KiB, restore ${dst_kb} KiB"
  (( dst_kb <= src_kb + 17 * 1024 )) || check_failed "$f: holes were filled (${dst_kb} KiB allocated)"
done
[[ $(stat -c %s "$DST/files/huge4g") == 4296015872 ]] || check_failed "huge4g has the wrong size"

step "path longer than PATH_MAX, walked with cd one level at a time"
deep_walk "$SRC" >"$WORK/src.deep"
deep_walk "$DST" >"$WORK/dst.deep"
grep -q '^depth 26$' "$WORK/src.deep" || fail "fixture's deep chain is not 26 levels"
grep -q 'user.deep' "$WORK/src.deep" || fail "fixture's deep file has no xattr"
compare_files "deep chain" "$WORK/src.deep" "$WORK/dst.deep"

# What the archives keep: everything the mtree keywords cover except nlink (file types incl.
# devices and FIFOs, modes incl. setuid/sticky, numeric and named owners, nanosecond mtimes,
# hardlinks as links, symlink targets, contents) plus xattrs and ACLs. Neither bsdtar 3.6 nor GNU
# tar can extract below PATH_MAX, so deep/ is extracted by neither: its entries are compared
# from bsdtar's mtree of the archive itself (@archive). The archive's own root entry (".") is
# not compared: extracting into an existing directory need not change that directory.
awk '!/^\. / && !/^\.\/deep\//' "$WORK/src.mtree" >"$WORK/src-shallow.mtree"
awk '/^\.\/deep\// { gsub(/ nlink=[0-9]+/, ""); print }' "$WORK/src.mtree" >"$WORK/src-deep.mtree"
for fmt in tar tar.zst; do
  step "restore --archive ($fmt) → bsdtar -xpS → compare"
  X=$WORK/extract-$fmt
  mkdir "$X"
  if [[ $fmt == tar ]]; then
    # Streamed, so a plain tar of the 4 GiB file need not be stored: tee feeds one bsdtar that
    # extracts and one that lists the archive as mtree.
    note "\$ rewind restore --repo R $SNAP --archive - --format tar | tee >(bsdtar -x) | bsdtar mtree @-"
    {
      "$REWIND" restore --repo "$REPO" "$SNAP" --archive - --format tar 2>"$WORK/archive.err" |
        tee >(bsdtar -xpS -f - -C "$X" --exclude 'deep/?*' 2>"$WORK/bsdtar.err"
              echo $? >"$WORK/bsdtar.rc") |
        bsdtar -cf - --format=mtree --no-acls --options "!all,$MTREE_KEYS" @- >"$WORK/arc-all.mtree" \
          2>"$WORK/arc.err"
      rcs=("${PIPESTATUS[@]}")
    } || :
    # The extracting bsdtar runs in a process substitution: wait for its status file.
    for _ in $(seq 600); do [[ -s $WORK/bsdtar.rc ]] && break; sleep 0.1; done
    if [[ ${rcs[0]} != 0 ]]; then
      head -c 2000 "$WORK/archive.err" >&2
      check_failed "restore --archive - --format tar exited ${rcs[0]}"
      continue
    fi
    [[ ${rcs[2]} == 0 ]] || { cat "$WORK/arc.err" >&2; fail "bsdtar could not read the archive"; }
    [[ $(cat "$WORK/bsdtar.rc" 2>/dev/null) == 0 ]] || { head -c 2000 "$WORK/bsdtar.err" >&2; fail "bsdtar -x failed"; }
  else
    A=$WORK/snap.tar.zst
    note "\$ rewind restore --repo R $SNAP --archive $A --format tar.zst"
    capture "$REWIND" restore --repo "$REPO" "$SNAP" --archive "$A" --format tar.zst
    if [[ $RC != 0 ]]; then
      _show_last
      check_failed "restore --archive FILE --format tar.zst exited $RC"
      continue
    fi
    zstd -t -q "$A" || fail "$A is not a valid zstd stream"
    note "$A: $(stat -c %s "$A") bytes; bsdtar -tvf (first lines):"
    bsdtar -tvf "$A" >"$WORK/listing" 2>&1 || { head "$WORK/listing" >&2; fail "bsdtar -tvf failed"; }
    head -n 5 "$WORK/listing" | cut -c1-110 | sed 's/^/     /'
    n_src=$(awk '!/^\. /' "$WORK/src.mtree" | wc -l)
    n_arc=$(wc -l <"$WORK/listing")
    note "entries: source $n_src (without the root and the socket), archive $n_arc"
    (( n_arc == n_src || n_arc == n_src + 1 )) || fail "archive holds $n_arc entries, source $n_src"
    bsdtar -xpS -f "$A" -C "$X" --exclude 'deep/?*' 2>"$WORK/bsdtar.err" ||
      { head -c 2000 "$WORK/bsdtar.err" >&2; fail "bsdtar -x failed"; }
    bsdtar -cf - --format=mtree --no-acls --options "!all,$MTREE_KEYS" "@$A" >"$WORK/arc-all.mtree" ||
      fail "bsdtar could not read $A"
  fi
  mtree "$X" >"$WORK/x-all.mtree"
  # The archive's "./" entry gives the extraction directory the source root's metadata.
  compare_root "$WORK/src.mtree" "$WORK/x-all.mtree"
  awk '!/^\. /' "$WORK/x-all.mtree" >"$WORK/x.mtree"
  compare_files "mtree listings (source vs $fmt, extracted; deep/ contents aside)" \
    "$WORK/src-shallow.mtree" "$WORK/x.mtree"
  awk '/^\.\/deep\// { gsub(/ nlink=[0-9]+/, ""); print }' "$WORK/arc-all.mtree" >"$WORK/arc-deep.mtree"
  compare_files "deep/ entries (source vs mtree of the $fmt archive, without nlink)" \
    "$WORK/src-deep.mtree" "$WORK/arc-deep.mtree"
  xattr_dump "$X" >"$WORK/x-all.xattr"
  awk -F'\t' '$1 != "."' "$WORK/x-all.xattr" >"$WORK/x.xattr"
  compare_files "xattr dumps (source vs $fmt)" "$WORK/src.xattr" "$WORK/x.xattr"
  link_groups "$X" >"$WORK/x.links"
  compare_files "hardlink groups (source vs $fmt)" "$WORK/src.links" "$WORK/x.links"
  rm -rf "$X"
done

step "the restore target got the source root's own metadata"
compare_root "$WORK/src.mtree" "$WORK/dst.mtree"
compare_files "root xattrs" <(awk -F'\t' '$1 == "."' "$WORK/src-all.xattr") \
  <(awk -F'\t' '$1 == "."' "$WORK/dst-all.xattr")

step "--include of hardlinks whose first name is left out: the first selected name gets the content"
# hardlinks/h3a is the group's first name (content); h3b and other/h3c are selected, h3a not:
# h3b must hold the content and other/h3c be linked to it; other/h2b (first name h2a, left out)
# holds its content alone. To a directory, and through a tar extracted by bsdtar.
check_rerouted() {  # check_rerouted DIR WHAT
  local d=$1 what=$2
  [[ ! -e $d/hardlinks/h3a && ! -e $d/hardlinks/h2a ]] || check_failed "$what: a name outside --include was restored"
  [[ $(cat "$d/hardlinks/h3b" 2>/dev/null) == "three names" ]] || check_failed "$what: hardlinks/h3b lacks the content"
  [[ $(cat "$d/hardlinks/other/h2b" 2>/dev/null) == "two names" ]] || check_failed "$what: other/h2b lacks the content"
  [[ -e $d/hardlinks/other/h3c && $(stat -c %i "$d/hardlinks/h3b") == $(stat -c %i "$d/hardlinks/other/h3c") ]] ||
    check_failed "$what: other/h3c is not linked to h3b"
}
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --target "$WORK/inc-links" \
  --include hardlinks/h3b --include hardlinks/other
check_rerouted "$WORK/inc-links" "restore --include"
expect_rc 0 "$REWIND" restore --repo "$REPO" "$SNAP" --archive "$WORK/inc-links.tar" \
  --include hardlinks/h3b --include hardlinks/other
mkdir "$WORK/inc-links-tar"
bsdtar -xpf "$WORK/inc-links.tar" -C "$WORK/inc-links-tar" || check_failed "bsdtar could not extract the --include tar"
check_rerouted "$WORK/inc-links-tar" "restore --include --archive"
# The directories on the way to what --include selects are in the archive, with their metadata.
bsdtar -tf "$WORK/inc-links.tar" | grep -qx 'hardlinks/\?' || check_failed "the --include tar has no hardlinks/ entry"
[[ $(stat -c '%a %Y' "$WORK/inc-links-tar/hardlinks") == "$(stat -c '%a %Y' "$SRC/hardlinks")" ]] ||
  check_failed "hardlinks/ extracted from the --include tar lacks the source's mode or mtime"
