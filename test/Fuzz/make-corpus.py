#!/usr/bin/env python3
"""Writes optim-fuzz's seed corpus and dictionary.

Seeds: every .mlir file under test/ and examples/, split at `// -----` (as
--split-input-file does), each piece behind an 8-byte header (see
tools/optim-fuzz/optim-fuzz.cpp) that selects the pipeline and the options
of the file's RUN lines. A piece is seeded once per distinct option set of
its file (the CPU pipeline with its defaults when no RUN line names one) and
once for the GPU pipeline (sm_90).

Dictionary: the dialect's op names, attribute and keyword spellings (from
the ODS files and the custom parsers), the rule mnemonics, and the names of
the upstream ops and types the lit inputs use.

Usage: make-corpus.py SOURCE_ROOT CORPUS_DIR DICT_FILE
"""

import hashlib
import os
import re
import sys

# The header's tables, as in optim-fuzz.cpp (index 0: the default). Only
# values found here can be seeded; others fall back to the default.
CHUNK_SIZES = [None, 64, 16, 1024, 4096, 1, 2, 3, 7, 0, -1, -64, 255,
               1 << 20, 1 << 31]
VECTOR_BYTES = [None, 64, 16, 8, 4, 2, 1, 0, -1, -32, 3, 12, 48, 128, 1024]
UNROLLS = [None, 1, 4, 8, 3, 0, -1, 16, 1024]
NUM_THREADS = [None, 1, 2, 4, 64, 1000000]
BLOCK_SIZES = [None, 128, 32, 64, 1024, 1, 0, -1, 2048, 33, 100000]
CHIPS = ["sm_90", "sm_80", "sm_70", "sm_60", "sm_50", "sm_100", "sm_90a"]
FEATURES = [None, "+ptx80", "+ptx70", "+ptx60", "+ptx87"]

SPLIT = re.compile(r"^// -----\s*$", re.M)
PIPELINE = re.compile(
    r"--?(optim-lower-to-cpu|optim-lower-to-gpu|optim-build-step|"
    r"optim-tile-and-vectorize|optim-schedule-step|optim-build-step-boundary)"
    r"(?:=\"([^\"]*)\"|=(\S+))?")


def index_of(table, value):
    try:
        return table.index(value)
    except ValueError:
        return 0


def header(gpu, options):
    """The 8 header bytes for a pipeline and a dict of option strings."""
    def num(name):
        value = options.get(name)
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    def flag(name):
        return options.get(name) in ("1", "true")

    def off(name):
        return options.get(name) in ("0", "false")

    flags = 1 if gpu else 0
    flags |= 2 if flag("constant-hyper-params") else 0
    flags |= 4 if (not gpu and off("share-update-functions")) else 0
    flags |= 8 if (gpu and off("lower-host")) else 0
    return bytes([
        flags,
        index_of(CHUNK_SIZES, num("chunk-size")),
        index_of(VECTOR_BYTES, num("vector-bytes")),
        index_of(UNROLLS, num("unroll")),
        index_of(NUM_THREADS, num("num-threads")),
        index_of(BLOCK_SIZES, num("block-size")),
        index_of(CHIPS, options.get("chip", "sm_90")),
        index_of(FEATURES, options.get("features")),
    ])


def run_line_headers(text):
    """One header per distinct pipeline option set of the RUN lines."""
    headers = []
    for line in text.splitlines():
        if "RUN:" not in line:
            continue
        for match in PIPELINE.finditer(line):
            name, quoted, bare = match.groups()
            spec = quoted if quoted is not None else (bare or "")
            options = dict(item.split("=", 1) for item in spec.split()
                           if "=" in item)
            headers.append(header(name == "optim-lower-to-gpu", options))
    if not headers:
        headers.append(header(False, {}))
    headers.append(header(True, {}))
    return list(dict.fromkeys(headers))


def mlir_files(root):
    for top in ("test", "examples"):
        for directory, subdirs, files in os.walk(os.path.join(root, top)):
            # Reproducers of open findings crash by design.
            subdirs[:] = sorted(d for d in subdirs if d != "pending")
            for name in sorted(files):
                if name.endswith(".mlir"):
                    yield os.path.join(directory, name)


def write_corpus(root, corpus):
    os.makedirs(corpus, exist_ok=True)
    count = 0
    for path in mlir_files(root):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        headers = run_line_headers(text)
        for piece in SPLIT.split(text):
            # Comments (RUN and CHECK lines) carry nothing for the parser.
            body = "\n".join(line for line in piece.splitlines()
                             if not line.lstrip().startswith("//")).strip()
            if not body:
                continue
            for head in headers:
                data = head + body.encode() + b"\n"
                name = hashlib.sha1(data).hexdigest()
                with open(os.path.join(corpus, name), "wb") as f:
                    f.write(data)
                count += 1
    return count


def dictionary_words(root):
    words = set()
    td_dir = os.path.join(root, "include", "optim", "Dialect", "Optim", "IR")
    for name in sorted(os.listdir(td_dir)):
        if not name.endswith(".td"):
            continue
        with open(os.path.join(td_dir, name), encoding="utf-8") as f:
            td = f.read()
        words.update("optim." + m for m in
                     re.findall(r'Optim_Op<"([a-z_0-9]+)"', td))
        # Rules: #optim.rule<mnemonic>, optim.<mnemonic>_update/_norms.
        for mnemonic in re.findall(
                r'Optim_Rule<\s*\d+\s*,\s*"[^"]*"\s*,\s*"([a-z_0-9]+)"', td):
            words.update({mnemonic, "optim." + mnemonic + "_update",
                          "optim." + mnemonic + "_norms"})
        words.update(re.findall(r"`([a-z_][a-z_0-9]*)`", td))
        words.update(re.findall(r'mnemonic\s*=\s*"([a-z_0-9]+)"', td))
        words.update(re.findall(r'I32EnumAttrCase<"[^"]*",\s*\d+,\s*"([a-z_0-9]+)"',
                                td))
    for directory, _, files in os.walk(os.path.join(root, "lib", "Dialect")):
        for name in files:
            if name.endswith(".cpp"):
                with open(os.path.join(directory, name), encoding="utf-8") as f:
                    words.update(re.findall(
                        r'parse(?:Optional)?Keyword\("([a-z_0-9]+)"', f.read()))
    # What the lit inputs spell: dialect attributes, ops and types.
    for path in mlir_files(root):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        words.update(re.findall(r"#optim\.[a-z_0-9]+", text))
        words.update(re.findall(r"\b(?:optim|func|arith|math|tensor|memref|"
                                r"linalg|scf|vector)\.[a-z_0-9.]+", text))
        words.update(re.findall(r"\b(?:tensor|memref|vector)<", text))
    words.update({"f16", "bf16", "f32", "f64", "i1", "i32", "i64", "index",
                  "dense<", "array<i64:", "-> ", "{", "}", "[", "]", "%",
                  "@", "0x7FC00000", "1.0e+38", "-0.0", "nan", "inf"})
    return sorted(w for w in words if w)


def write_dictionary(root, path):
    words = dictionary_words(root)
    with open(path, "w", encoding="utf-8") as f:
        for word in words:
            escaped = word.replace("\\", "\\\\").replace('"', '\\"')
            f.write('"%s"\n' % escaped)
    return len(words)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    root, corpus, dictionary = sys.argv[1:]
    seeds = write_corpus(root, corpus)
    words = write_dictionary(root, dictionary)
    print("optim-fuzz: %d seeds in %s, %d dictionary entries in %s"
          % (seeds, corpus, words, dictionary))


if __name__ == "__main__":
    main()
