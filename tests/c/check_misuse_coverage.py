#!/usr/bin/env python3
"""Fails when an exported symbol is never called by test_api_misuse.c.

Every symbol listed in abi/symbols.txt must appear as a call (`NAME(`) in
tests/c/test_api_misuse.c, so that a new export cannot land without a
misuse check (NULL arguments, bad values, wrong states).

Usage: check_misuse_coverage.py [SYMBOLS_TXT [TEST_C]]
(defaults: the repository's abi/symbols.txt and tests/c/test_api_misuse.c)
"""
import os
import re
import sys


def symbols(path):
    names = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line.split()[0])
    return names


def strip_comments(src):
    # A name mentioned only in a comment is not a call.
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    return re.sub(r"//[^\n]*", " ", src)


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    syms_path = argv[1] if len(argv) > 1 else os.path.join(root, "abi", "symbols.txt")
    test_path = argv[2] if len(argv) > 2 else os.path.join(here, "test_api_misuse.c")
    names = symbols(syms_path)
    if not names:
        print(f"{syms_path}: no symbols found", file=sys.stderr)
        return 1
    with open(test_path, encoding="utf-8", errors="replace") as f:
        src = strip_comments(f.read())
    missing = [n for n in names if not re.search(r"\b" + re.escape(n) + r"\s*\(", src)]
    if missing:
        print(f"{test_path} never calls {len(missing)} of the {len(names)} exported symbols "
              f"of {syms_path}; add misuse checks (NULL arguments, bad values, wrong states) for:",
              file=sys.stderr)
        for n in missing:
            print(f"  {n}", file=sys.stderr)
        return 1
    print(f"all {len(names)} exported symbols are called by {os.path.basename(test_path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
