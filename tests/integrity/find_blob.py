#!/usr/bin/env python3
"""Finds blobs in the packs of a rewind repository by reading the pack trailers
(docs/format.md §4) directly, independently of rewind.

usage: find_blob.py REPO --id BLOB_ID_HEX
         every pack location of that blob
       find_blob.py REPO --file PATH
         the chunks of the file at PATH (a file that was backed up), in order: the first blob
         whose raw bytes hash to its id when taken from the current file position, then the next
         (ids are SHA-256 of the raw bytes, §2), so chunk boundaries need not be computed
Prints one line per location: "data/<xx>/<pack id><TAB>frame offset<TAB>compressed length
<TAB>raw length<TAB>blob id". Exits 1 when the blob (or a chunk of the file) is in no pack.
"""
import hashlib
import os
import struct
import sys


def trailer_entries(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8 or data[-4:] != b"RWPT":
        return
    (s,) = struct.unpack_from("<I", data, len(data) - 8)
    p = len(data) - s  # payload start: trailer offset + 8
    if p < 8:
        return
    magic, s2 = struct.unpack_from("<II", data, p - 8)
    if magic != 0x184D2A5E or s2 != s:
        return
    _version, n = struct.unpack_from("<II", data, p)
    for i in range(n):
        e = p + 8 + 49 * i
        blob_type = data[e]
        blob_id = data[e + 1 : e + 33].hex()
        offset, clen, rlen = struct.unpack_from("<QII", data, e + 33)
        yield blob_type, blob_id, offset, clen, rlen


def all_entries(repo):
    for sub in sorted(os.listdir(os.path.join(repo, "data"))):
        d = os.path.join(repo, "data", sub)
        for name in sorted(os.listdir(d)):
            if name.startswith("."):
                continue
            for t, blob_id, offset, clen, rlen in trailer_entries(os.path.join(d, name)):
                yield f"data/{sub}/{name}", t, blob_id, offset, clen, rlen


def main():
    repo, mode, arg = sys.argv[1], sys.argv[2], sys.argv[3]
    entries = list(all_entries(repo))
    if mode == "--id":
        hits = [e for e in entries if e[2] == arg.lower()]
        for pack, _t, blob_id, offset, clen, rlen in hits:
            print(f"{pack}\t{offset}\t{clen}\t{rlen}\t{blob_id}")
        sys.exit(0 if hits else 1)
    with open(arg, "rb") as f:
        content = f.read()
    by_id = {}
    for e in entries:
        if e[1] == 1:
            by_id.setdefault(e[2], e)
    lengths = sorted({e[5] for e in by_id.values()})
    pos = 0
    while pos < len(content):
        for rlen in lengths:
            if rlen == 0 or pos + rlen > len(content):
                continue
            e = by_id.get(hashlib.sha256(content[pos : pos + rlen]).hexdigest())
            if e is not None and e[5] == rlen:
                pack, _t, blob_id, offset, clen, _r = e
                print(f"{pack}\t{offset}\t{clen}\t{rlen}\t{blob_id}")
                pos += rlen
                break
        else:
            sys.exit(f"find_blob.py: no blob holds {arg} from byte {pos}")


if __name__ == "__main__":
    main()
