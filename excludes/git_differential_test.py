#!/usr/bin/env python3
"""Differential test: rewind's exclusion rules against `git check-ignore`, an independent
implementation of the same syntax. Builds a random tree of files and directories in a
scratch git repository, then for random rule sets compares, for every path whose parents are
not excluded, whether rewind and git exclude it. Rules that rewind rejects are skipped (git
accepts some of them silently). Exit status 0 when they agree everywhere.

Usage: git_differential_test.py EXCLUDES_MATCH [--seed N] [--trials N]
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

NAMES = [b'a', b'b', b'ab', b'ba', b'foo', b'x.log', b'keep.log', b'mail', b'logs', b'a.b',
         b'c1', b'#h', b'!b', b'q z', b'caf\xc3\xa9', b'\xff']
PIECES = [b'a', b'b', b'foo', b'*', b'?', b'**', b'[ab]', b'[!a]', b'*.log', b'keep.log',
          b'mail', b'a*', b'*b', b'[a-c]1', b'\\#h', b'\\!b', b'q\\ z', b'x.*', b'caf?',
          b'caf??', b'[\x80-\xff]', b'[[:alpha:]]*']


def make_tree(rng, root):
    paths = {}  # bytes path -> is_dir
    for _ in range(400):
        parts = [rng.choice(NAMES) for _ in range(rng.randint(1, 4))]
        if any(paths.get(b'/'.join(parts[:i])) is False for i in range(1, len(parts))):
            continue
        for i in range(1, len(parts)):
            paths[b'/'.join(parts[:i])] = True
        paths.setdefault(b'/'.join(parts), rng.random() < 0.4)
    for p, is_dir in sorted(paths.items()):
        if is_dir:
            os.makedirs(os.path.join(root, p), exist_ok=True)
    for p, is_dir in sorted(paths.items()):
        if not is_dir:
            open(os.path.join(root, p), 'wb').close()
    return sorted(paths.items())


def random_rules(rng):
    rules = []
    for _ in range(rng.randint(1, 4)):
        r = b'/'.join(rng.choice(PIECES) for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.3:
            r = b'/' + r
        if rng.random() < 0.3:
            r += b'/'
        if rng.random() < 0.25:
            r = b'!' + r
        rules.append(r)
    return b'\n'.join(rules) + b'\n'


def git_excluded(root, paths, env):
    out = subprocess.run(['git', '-C', root, 'check-ignore', '--no-index', '-v', '-n', '-z',
                          '--stdin'], input=b''.join(p + b'\0' for p, _ in paths),
                         capture_output=True, env=env).stdout.split(b'\0')
    result = {}
    for i in range(0, len(out) - 3, 4):  # source, line, pattern, path
        pattern, path = out[i + 2], out[i + 3]
        result[path] = bool(pattern) and not pattern.startswith(b'!')
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('tool')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--trials', type=int, default=100)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    env = dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM='1')
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, 'repo')
        subprocess.run(['git', 'init', '-q', root], check=True, env=env)
        paths = make_tree(rng, root.encode())
        rules_file = os.path.join(tmp, 'rules')
        compared = mismatches = 0
        for _ in range(args.trials):
            text = random_rules(rng)
            with open(rules_file, 'wb') as f:
                f.write(text)
            with open(os.path.join(root, '.git', 'info', 'exclude'), 'wb') as f:
                f.write(text)
            stdin = b''.join((b'd ' if d else b'f ') + p + b'\n' for p, d in paths)
            out = subprocess.run([args.tool, rules_file], input=stdin, capture_output=True,
                                 check=True).stdout.split(b'\n')
            if out[0].startswith(b'ERR'):
                continue
            ours = {p: o == b'1' for (p, _), o in zip(paths, out)}
            git = git_excluded(root, paths, env)
            for p, d in paths:
                parts = p.split(b'/')
                if any(ours[b'/'.join(parts[:i])] for i in range(1, len(parts))):
                    continue  # inside an excluded directory: never asked
                compared += 1
                if ours[p] != git.get(p, False):
                    mismatches += 1
                    if mismatches <= 10:
                        print('MISMATCH rules=%r path=%r dir=%s rewind=%s git=%s'
                              % (text, p, d, ours[p], git.get(p, False)))
    print('compared %d paths, %d mismatches' % (compared, mismatches))
    return 1 if mismatches or compared == 0 else 0


if __name__ == '__main__':
    sys.exit(main())
