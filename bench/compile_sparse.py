#!/usr/bin/env python3
"""Compile time of a step with many sparse parameters.

Writes a LazyAdam optimizer of N sparse parameters (embedding tables,
`--shape`, all of one class) and compiles it with
`optim-opt --optim-lower-to-cpu --mlir-timing`, once per N, printing the
wall time and the slowest passes. The code of the step must not grow with N
beyond one call per parameter (docs/Step-structure.md), so neither should
the time beyond the calls.

    /usr/bin/python3 bench/compile_sparse.py [--counts 20 40 80 160]
        [--shape 1000x64] [--distinct] [--object] [--top 5]

`--distinct` gives every parameter another row count (the same row length):
one class still, and one update function. `--object` times the pipeline
followed by LLVM (mlir-translate, clang -O3 to an object file), as the JIT
compiles a step; wall time only.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("OPTIM_BUILD_DIR", os.path.join(HERE, "..", "build"))


def optimizer_text(count, shape, distinct):
    rows, cols = shape
    lines = ["optim.optimizer @sp rule #optim.rule<lazy_adam> "
             "learning_rate 0.01 {"]
    for i in range(count):
        r = rows + i if distinct else rows
        lines.append(f'  optim.param "e{i}" : tensor<{r}x{cols}xf32> sparse')
    lines.append("}")
    return "\n".join(lines) + "\n"


def compile_object(opt, path):
    """The pipeline, then LLVM: translation to LLVM IR and clang -O3 to an
    object file (what the JIT does: optimization at O3, aggressive code
    generation)."""
    llvm_bin = "/usr/lib/llvm-22/bin"
    start = time.perf_counter()
    done = subprocess.run(
        f"{opt} {path} --optim-lower-to-cpu"
        f" | {llvm_bin}/mlir-translate --mlir-to-llvmir"
        f" | {llvm_bin}/clang -O3 -c -x ir - -o {path}.o",
        shell=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"compiling to an object failed:\n{done.stderr}")
    return wall, []


def compile_once(opt, path):
    start = time.perf_counter()
    done = subprocess.run(
        [opt, path, "--optim-lower-to-cpu", "--mlir-timing",
         "-o", os.devnull], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"optim-opt failed:\n{done.stderr}")
    # --mlir-timing's rows: "user (pct)  wall (pct)  name"; nested passes
    # are indented. The top-level passes' wall times, summed by name.
    passes = {}
    row = re.compile(r"\s*[0-9.]+\s+\(\s*[0-9.]+%\)\s+([0-9.]+)"
                     r"\s+\(\s*[0-9.]+%\)  (\S.*)$")
    for line in done.stderr.splitlines():
        match = row.match(line)
        if match and match.group(2) != "Total":
            name = match.group(2)
            passes[name] = passes.get(name, 0.0) + float(match.group(1))
    passes = sorted(((t, name) for name, t in passes.items()), reverse=True)
    return wall, passes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+",
                        default=[20, 40, 80, 160])
    parser.add_argument("--shape", default="1000x64")
    parser.add_argument("--distinct", action="store_true")
    parser.add_argument("--object", action="store_true")
    parser.add_argument("--top", type=int, default=3)
    args = parser.parse_args()
    shape = tuple(int(d) for d in args.shape.split("x"))
    if len(shape) != 2 or min(shape) < 1:
        parser.error("--shape must be ROWSxCOLS")
    opt = os.path.join(BUILD, "bin", "optim-opt")
    print(f"{'N':>5} {'compile s':>10}  slowest passes (s)")
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.counts:
            path = os.path.join(tmp, f"sparse{count}.mlir")
            with open(path, "w") as f:
                f.write(optimizer_text(count, shape, args.distinct))
            if args.object:
                wall, passes = compile_object(opt, path)
            else:
                wall, passes = compile_once(opt, path)
            slowest = ", ".join(f"{name} {t:.2f}"
                                for t, name in passes[:args.top])
            print(f"{count:>5} {wall:>10.2f}  {slowest}", flush=True)


if __name__ == "__main__":
    main()
