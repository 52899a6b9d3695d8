#!/usr/bin/env python3
"""Writes N generated IOCs of mixed types, one per line, with a given share
of exact duplicates, for the import benchmark. Deterministic (seeded).

usage: gen_iocs.py N DUP_SHARE OUT
"""
import random
import sys

n, dup, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
rng = random.Random(1234)
hexd = "0123456789abcdef"
words = ["cdn", "update", "login", "mail", "api", "secure", "files", "sync"]
tlds = ["com", "net", "org", "ru", "cn", "io", "xyz", "top"]


def one(i):
    k = i % 10
    if k == 0:
        return "%d.%d.%d.%d" % (rng.randrange(1, 224), rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))
    if k == 1:
        return "2a0%x:%x:%x::%x" % (rng.randrange(16), rng.randrange(65536), rng.randrange(65536), rng.randrange(1, 65536))
    if k in (2, 3):
        return "%s-%d.%s%d.%s" % (words[i % 8], i, words[(i // 8) % 8], rng.randrange(10**6), tlds[i % 8])
    if k == 4:
        return "http://%s%d.%s/gate.php?id=%d" % (words[i % 8], i, tlds[i % 8], rng.randrange(10**9))
    if k == 5:
        return "".join(rng.choice(hexd) for _ in range(32))
    if k == 6:
        return "".join(rng.choice(hexd) for _ in range(40))
    if k == 7:
        return "".join(rng.choice(hexd) for _ in range(64))
    if k == 8:
        return "user%d@%s%d.%s" % (i, words[i % 8], rng.randrange(10**5), tlds[i % 8])
    return "".join(rng.choice(hexd) for _ in range(128))


uniq = int(n * (1 - dup))
vals = [one(i) for i in range(uniq)]
with open(out, "w") as f:
    for i in range(n):
        v = vals[i] if i < uniq else vals[rng.randrange(uniq)]
        f.write(v + "\n")
