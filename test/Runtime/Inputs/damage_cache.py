"""Overwrites the first 64 bytes of every entry of a cache directory."""
import glob
import sys

for path in glob.glob(sys.argv[1] + "/*.o"):
    with open(path, "r+b") as f:
        f.write(b"\0" * 64)
