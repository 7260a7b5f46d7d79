#!/usr/bin/env python3
"""Checks a file's SHA-256: `sha256-check.py HEX FILE`. Exits non-zero, naming both digests, when
they differ. Portable (Python's hashlib): coreutils' checker is missing on macOS and Perl's shasum
on minimal Debian images; the build scripts need Python anyway."""
import hashlib
import sys


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: sha256-check.py HEX FILE")
    expected, path = argv[1].lower(), argv[2]
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        sys.exit(f"{path}: SHA-256 {digest.hexdigest()}, expected {expected}")


if __name__ == "__main__":
    main(sys.argv)
