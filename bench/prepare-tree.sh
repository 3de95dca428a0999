#!/usr/bin/env bash
# Prepare the benchmark tree: Debian's linux-source-6.1 unpacked plus a copy of
# /usr/lib/x86_64-linux-gnu (about 2.4 GB, 90k entries).
#
#   bench/prepare-tree.sh [DIR]        default DIR: /var/tmp/rewind-bench/tree
#
# Idempotent: a stamp file (DIR/.prepared) marks a finished tree; a half-made tree
# (no stamp) is removed and made again.
set -euo pipefail

DIR=${1:-/var/tmp/rewind-bench/tree}
SRC_TARBALL=/usr/src/linux-source-6.1.tar.xz
LIBDIR=/usr/lib/x86_64-linux-gnu
STAMP="$DIR/.prepared"

log() { printf '[prepare-tree] %s\n' "$*" >&2; }

summary() {
    local bytes entries
    bytes=$(du -sb "$DIR" | cut -f1)
    entries=$(find "$DIR" | wc -l)
    printf 'tree:    %s\n' "$DIR"
    printf 'size:    %s bytes (%s MiB)\n' "$bytes" "$((bytes / 1048576))"
    printf 'entries: %s\n' "$entries"
}

if [[ -f "$STAMP" ]]; then
    log "already prepared ($STAMP exists); delete it to rebuild"
    summary
    exit 0
fi

if [[ ! -f "$SRC_TARBALL" ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        log "$SRC_TARBALL missing and not root: run 'apt-get install -y linux-source-6.1' first"
        exit 1
    fi
    log "installing linux-source-6.1"
    DEBIAN_FRONTEND=noninteractive apt-get install -y linux-source-6.1 >&2
fi
[[ -f "$SRC_TARBALL" ]] || { log "$SRC_TARBALL still missing"; exit 1; }

if [[ -e "$DIR" ]]; then
    log "removing incomplete tree $DIR"
    rm -rf -- "$DIR"
fi
mkdir -p "$DIR/linux"

log "unpacking $SRC_TARBALL into $DIR/linux"
tar -C "$DIR/linux" -xJf "$SRC_TARBALL"

log "copying $LIBDIR into $DIR/usrlib"
cp -a "$LIBDIR" "$DIR/usrlib"

# The stamp lives inside the tree (so it is backed up too); it is tiny and written
# once, so every tool sees the same file.
date -u +%Y-%m-%dT%H:%M:%SZ > "$STAMP"
log "done"
summary
