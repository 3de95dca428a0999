#!/usr/bin/env python3
"""Damages one file of a rewind repository, chosen and damaged deterministically from a seed.

usage: corrupt.py SEED REPO

Lists every regular file of REPO except temporaries (names beginning with '.') and locks,
groups them by category (config, pack = data/<2 hex>/<id>, index, snapshot), picks a category
uniformly, then a file uniformly within it (so every category is hit about as often, however
many packs there are), and either
  flip      XORs the byte at a random offset with a random non-zero value, or
  truncate  cuts the file to a random shorter length, 0 included (0 on 1 trial in 8).
Prints one line: "category<TAB>path relative to REPO<TAB>operation<TAB>detail<TAB>size".
The same SEED on the same repository gives the same damage (Python's random.Random is stable
across versions for randrange/choice on the same inputs).
"""
import os
import random
import sys


def categorize(rel):
    parts = rel.split("/")
    if rel == "config":
        return "config"
    if parts[0] == "data" and len(parts) == 3:
        return "pack"
    if parts[0] == "index" and len(parts) == 2:
        return "index"
    if parts[0] == "snapshots" and len(parts) == 2:
        return "snapshot"
    return None  # locks, anything unexpected: not a target


def main():
    seed, repo = int(sys.argv[1]), sys.argv[2]
    by_cat = {}
    for root, dirs, files in os.walk(repo):
        dirs.sort()
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            if not os.path.isfile(path) or os.path.islink(path):
                continue
            rel = os.path.relpath(path, repo)
            cat = categorize(rel)
            if cat is not None:
                by_cat.setdefault(cat, []).append(rel)
    rng = random.Random(seed)
    cat = rng.choice(sorted(by_cat))
    rel = rng.choice(by_cat[cat])
    path = os.path.join(repo, rel)
    size = os.path.getsize(path)
    if size == 0:
        sys.exit(f"corrupt.py: {rel} is empty; nothing to damage")
    if rng.random() < 0.5:
        offset = rng.randrange(size)
        xor = rng.randrange(1, 256)
        with open(path, "r+b") as f:
            f.seek(offset)
            old = f.read(1)[0]
            f.seek(offset)
            f.write(bytes([old ^ xor]))
        detail = f"offset={offset} xor=0x{xor:02x} (0x{old:02x}->0x{old ^ xor:02x})"
        op = "flip"
    else:
        length = 0 if rng.randrange(8) == 0 else rng.randrange(size)
        os.truncate(path, length)
        detail = f"length={length}"
        op = "truncate"
    print(f"{cat}\t{rel}\t{op}\t{detail}\t{size}")


if __name__ == "__main__":
    main()
