#!/usr/bin/env python3
"""Checks every json_pack() call in the given C files: the number of
arguments must match what its format consumes. jansson reads the varargs
blindly, so a missing key crashes and an extra value is silently ignored;
both happened in this project. Exit 1 listing the mismatches, 0 when none.

  scripts/check-json-pack.py daemon/*.c daemon/methods/*.c
"""
import re
import sys


def call_args(src, start):
    """The top-level arguments of the call whose '(' is at start."""
    depth, i, args, cur = 1, start, [], ""
    while depth:
        ch = src[i]
        if ch == '"':
            j = i + 1
            while src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            cur += src[i:j + 1]
            i = j + 1
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                break
        if ch == "," and depth == 1:
            args.append(cur.strip())
            cur = ""
        else:
            cur += ch
        i += 1
    args.append(cur.strip())
    return args


def consumed(fmt):
    """How many varargs a json_pack format takes (s, s#/s%, b, i, I, f, o, O, n)."""
    n, i = 0, 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "s":
            n += 1
            if i + 1 < len(fmt) and fmt[i + 1] in "#%":
                n += 1
                i += 1
        elif ch in "biIfoO":
            n += 1
        i += 1
    return n


def main(paths):
    bad = 0
    for path in paths:
        src = open(path, encoding="utf-8").read()
        for m in re.finditer(r"\bjson_pack\(", src):
            args = call_args(src, m.end())
            literals = re.findall(r'"((?:[^"\\]|\\.)*)"', args[0])
            if not literals or not args[0].lstrip().startswith('"'):
                continue  # a format that is not a literal: can't check
            fmt = "".join(literals)
            want, got = consumed(fmt), len(args) - 1
            if want != got:
                line = src.count("\n", 0, m.start()) + 1
                print(f"{path}:{line}: json_pack(\"{fmt}\") takes {want} arguments, {got} given")
                bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
