#!/usr/bin/env python3
"""A mutation campaign over the lit inputs, through the tools themselves.

Each mutant is a lit input (split at `// -----`) changed by one to three
random edits: a byte flipped, a line dropped or repeated, two lines
swapped, a number replaced by an extreme one (0, -1, 2^31, 2^63, 1e400,
nan, a 2^32 dimension...), a type changed (f32 to bf16, index, i64, a
dynamic dimension...), a dialect keyword or attribute inserted, the text cut
short, or two inputs spliced. It then runs through `optim-opt` with one of:
parse and verify only, `--optim-lower-to-cpu` with random pipeline options
(some out of range), or `--optim-lower-to-gpu` down to PTX.

A run that ends in a diagnostic is fine. A signal, an abort, an LLVM fatal
error, a stack dump or a run past the time limit is a finding: its input is
written to OUT/findings/ with the command. The exit status is 1 when there
is a finding.

Usage: test/Fuzz/mutate.py BUILD_DIR [--mutants N] [--seed S] [--jobs J]
                            [--timeout SECONDS] [--out DIR]
(docs/Fuzzing-and-sanitizers.md)
"""
import argparse
import concurrent.futures
import os
import random
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

NUMBERS = ["0", "-1", "1", "2147483648", "4294967296", "9223372036854775807",
           "9223372036854775808", "-9223372036854775808", "1e400", "-1e400",
           "1e-400", "nan", "inf", "0x7fc00000", "65536", "1048577", "3.5",
           "-0.0", "18446744073709551616"]
TYPES = ["f32", "f16", "bf16", "f64", "i64", "i32", "index", "i1", "f8E4M3FN",
         "complex<f32>", "none", "tensor<4xf32>", "vector<4xf32>"]
SHAPES = ["?", "0", "1", "4294967296", "?x?", "65537x65537", "1x1x1x1x1x1"]
TOKENS = [
    "array<index: 1>", "array<i64: 1, 2>", "array<f32: 1.0>", "dense<0.1>",
    "dense<[0.1, 0.2]> : tensor<2xf64>", "dense<0.1> : tensor<4294967296xf64>",
    "sparse", "master f32", "states bf16", "states f32", "unique false",
    "grad_centralization", "weight_decay 0.01", "loss_scale 1024",
    "loss_scale 1e-300", "dynamic<growth_factor = 2.0, backoff_factor = 0.5, "
    "growth_interval = 3, min_scale = 1.0>", "max_grad_norm 1",
    "max_grad_norm 0", "learning_rate 1e300",
    "#optim.per_step<[0.1, 0.2]>", "#optim.piecewise<[1, 2], [0.1, 0.2, 0.3]>",
    "optim.group {", "}", "{", "optim.param \"x\" : tensor<4xf32>",
    "optim.param \"\" : tensor<4xf32>", "optim.param \"x\" : tensor<?xf32>",
    "#optim.rule<adam>", "#optim.rule<lamb>", "#optim.rule<adafactor>",
    "#optim.rule<lars>", "#optim.rule<momentum, momentum = 1.0>",
    "{optim.sequential}", "{optim.vector_loop}", "attributes {a = 1}",
    "optim.optimizer @o", "func.func @f() { return }", "%0", "^bb1:",
    "tensor<?x?xf32>", "memref<?xf32>", "loc(\"x\":1:1)", "\"\\\"\"", "//",
    "<", ">", "(", ")", "[", "]", ",", ":", "=", "->",
]
CPU_OPTIONS = ["", "chunk-size=1", "chunk-size=0", "chunk-size=7",
               "chunk-size=1073741825", "vector-bytes=4", "vector-bytes=0",
               "vector-bytes=257", "vector-bytes=64", "unroll=1", "unroll=17",
               "unroll=0", "num-threads=3", "num-threads=100000",
               "constant-hyper-params=1", "share-update-functions=0",
               "prefetch-bytes=0", "prefetch-bytes=2097152",
               "prefetch-bytes=64"]
GPU_OPTIONS = ["chip=sm_90", "chip=sm_80 block-size=128", "chip=sm_90 "
               "chunk-size=4096", "chip=sm_90 block-size=0", "chip=sm_9",
               "chip=sm_90 lower-host=0", "chip=sm_75 block-size=2048"]
FATAL = re.compile(r"LLVM ERROR|Stack dump|PLEASE submit a bug report|"
                   r"UNREACHABLE|Assertion .* failed|terminate called|"
                   r"AddressSanitizer|runtime error:|OMP: Error")


def seeds():
    """The lit inputs and examples, split at `// -----`."""
    pieces = []
    for base in ("test", "examples"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, base)):
            for name in sorted(files):
                if not name.endswith(".mlir"):
                    continue
                with open(os.path.join(dirpath, name),
                          errors="replace") as f:
                    text = f.read()
                for piece in re.split(r"^// -----.*$", text, flags=re.M):
                    lines = [l for l in piece.splitlines()
                             if not l.lstrip().startswith("// ")]
                    if any(l.strip() for l in lines):
                        pieces.append("\n".join(lines) + "\n")
    return pieces


def mutate(rng, text, pool):
    """One random edit of `text`."""
    kind = rng.randrange(10)
    lines = text.splitlines(keepends=True) or ["\n"]
    if kind == 0 and text:  # flip a byte
        i = rng.randrange(len(text))
        return text[:i] + chr(rng.randrange(32, 127)) + text[i + 1:]
    if kind == 1:  # drop a line
        del lines[rng.randrange(len(lines))]
        return "".join(lines)
    if kind == 2:  # repeat a line
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
        return "".join(lines)
    if kind == 3 and len(lines) > 1:  # swap two lines
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return "".join(lines)
    if kind == 4:  # an extreme number
        numbers = list(re.finditer(r"-?\d+(\.\d+)?(e-?\d+)?", text))
        if numbers:
            m = rng.choice(numbers)
            return text[:m.start()] + rng.choice(NUMBERS) + text[m.end():]
    if kind == 5:  # another element type
        found = list(re.finditer(r"\b(f16|f32|f64|bf16|i32|i64|index)\b",
                                 text))
        if found:
            m = rng.choice(found)
            return text[:m.start()] + rng.choice(TYPES) + text[m.end():]
    if kind == 6:  # another shape
        found = list(re.finditer(r"<(\d+(x\d+)*)x", text))
        if found:
            m = rng.choice(found)
            return (text[:m.start(1)] + rng.choice(SHAPES) +
                    text[m.end(1):])
    if kind == 7:  # insert a token
        i = rng.randrange(len(text) + 1)
        return text[:i] + " " + rng.choice(TOKENS) + " " + text[i:]
    if kind == 8 and text:  # cut short
        return text[:rng.randrange(len(text))]
    # splice with another input
    other = rng.choice(pool)
    return text[:rng.randrange(len(text) + 1)] + \
        other[rng.randrange(len(other) + 1):]


def command(rng, opt, path):
    choice = rng.random()
    if choice < 0.2:
        return [opt, path, "-o", os.devnull]
    if choice < 0.85:
        options = " ".join(rng.sample(CPU_OPTIONS, rng.randrange(0, 3)))
        return [opt, path, "--optim-lower-to-cpu=" + options.strip(), "-o",
                os.devnull]
    return [opt, path, "--optim-lower-to-gpu=" + rng.choice(GPU_OPTIONS),
            "-o", os.devnull]


def run_one(args):
    index, text, cmd, timeout = args
    start = time.monotonic()
    try:
        result = subprocess.run(cmd, capture_output=True, text=True,
                                errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        return index, "hang", "", time.monotonic() - start
    out = result.stdout[-4000:] + result.stderr[-4000:]
    if result.returncode < 0 or result.returncode >= 128 or FATAL.search(out):
        return index, "crash", out, time.monotonic() - start
    return index, ("ok" if result.returncode == 0 else "error"), "", \
        time.monotonic() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build")
    parser.add_argument("--mutants", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    opt = os.path.join(os.path.abspath(args.build), "bin", "optim-opt")
    out = os.path.abspath(args.out or os.path.join(args.build, "mutants"))
    os.makedirs(os.path.join(out, "inputs"), exist_ok=True)
    os.makedirs(os.path.join(out, "findings"), exist_ok=True)
    rng = random.Random(args.seed)
    pool = seeds()
    jobs = []
    for index in range(args.mutants):
        text = rng.choice(pool)
        for _ in range(rng.randrange(1, 4)):
            text = mutate(rng, text, pool)
        path = os.path.join(out, "inputs", "m%05d.mlir" % index)
        with open(path, "w") as f:
            f.write(text)
        jobs.append((index, text, command(rng, opt, path), args.timeout))
    counts = {"ok": 0, "error": 0, "crash": 0, "hang": 0}
    slowest = 0.0
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool_:
        for index, outcome, output, seconds in pool_.map(run_one, jobs):
            counts[outcome] += 1
            slowest = max(slowest, seconds)
            cmd = jobs[index][2]
            if outcome in ("crash", "hang"):
                name = os.path.join(out, "findings",
                                    "%s-%05d" % (outcome, index))
                with open(name + ".mlir", "w") as f:
                    f.write(jobs[index][1])
                with open(name + ".txt", "w") as f:
                    f.write(" ".join(cmd) + "\n" + output)
                print("%s: %s" % (outcome, " ".join(cmd)), flush=True)
            else:
                os.remove(cmd[1])
    print("mutants: %d of %d seeds (seed %d), %.0f s on %d jobs; "
          "diagnostics: %d, compiled: %d, crashes: %d, hangs (> %g s): %d; "
          "slowest run %.1f s" % (
              args.mutants, len(pool), args.seed, time.monotonic() - start,
              args.jobs, counts["error"], counts["ok"], counts["crash"],
              args.timeout, counts["hang"], slowest))
    return 1 if counts["crash"] or counts["hang"] else 0


if __name__ == "__main__":
    sys.exit(main())
