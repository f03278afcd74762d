#!/usr/bin/env python3
"""CPU step benchmark: compiled optim-mlir steps against torch 1.13.

Runs the candidates interleaved, step by step, in one process, and prints
each one's median time, its effective bandwidth (the bytes the update must
move: e.g. 28 bytes a parameter for fp32 AdamW) and its time as a ratio of
the compiled step's. Absolute times drift with the shared machine; the
ratios are what to compare.

    PYTHONPATH=build/python /usr/bin/python3 bench/bench_cpu.py \
        [--params 16777216] [--tensors 64] [--steps 30] [--threads 2]
"""

import argparse
import statistics
import time

import numpy as np
import torch

import optim_mlir
from optim_mlir import ir

# (rule, hyper, torch factory, bytes moved per parameter in fp32)
CASES = {
    "adamw": ("adam_weight_decay", dict(beta1=0.9, beta2=0.999, eps=1e-6),
              lambda ps, fe: torch.optim.AdamW(ps, lr=1e-3, weight_decay=0.01,
                                               foreach=fe), 28),
    "adam": ("adam", dict(beta1=0.9, beta2=0.999, eps=1e-8),
             lambda ps, fe: torch.optim.Adam(ps, lr=1e-3, foreach=fe), 28),
    "momentum": ("momentum", dict(momentum=0.9),
                 lambda ps, fe: torch.optim.SGD(ps, lr=1e-3, momentum=0.9,
                                                foreach=fe), 20),
    "sgd": ("sgd", dict(momentum=0.0),
            lambda ps, fe: torch.optim.SGD(ps, lr=1e-3, foreach=fe), 12),
}


def shapes_for(total, tensors):
    """`tensors` 2-D shapes of about total/tensors elements (row length 256,
    a multiple of the vector width) plus one odd-length vector."""
    per = max(256, total // tensors)
    rows = max(1, per // 256)
    shapes = [(rows, 256)] * (tensors - 1)
    shapes.append((total - rows * 256 * (tensors - 1),))
    return [s for s in shapes if int(np.prod(s)) > 0]


def compile_with_buffers(rule, hyper, shapes, options):
    """Compiles one group of fp32 `shapes` and makes random parameters and
    gradients and initialised states for it; returns the compiled
    optimizer, its compile time and the buffers."""
    params = [("p%d" % i, s, "float32") for i, s in enumerate(shapes)]
    text = ir.optimizer_ir(rule, hyper, groups=[{"params": params}],
                           learning_rate=1e-3, weight_decay=0.01)
    t0 = time.perf_counter()
    compiled = optim_mlir.CompiledOptimizer(text, options)
    compile_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    ps = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    gs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ss = [np.zeros(s, np.float32) for s in shapes for _ in compiled.state_names]
    compiled.init_states(ss)
    return compiled, compile_s, ps, gs, ss


def torch_copies(ps, gs):
    """torch parameters holding copies of `ps`, with `gs` as gradients."""
    tp = [torch.from_numpy(p.copy()).requires_grad_() for p in ps]
    for t, g in zip(tp, gs):
        t.grad = torch.from_numpy(g.copy())
    return tp


def run_case(name, shapes, steps, options, threads):
    rule, hyper, make_torch, bytes_per = CASES[name]
    compiled, compile_s, ps, gs, ss = compile_with_buffers(rule, hyper, shapes,
                                                           options)
    torch.set_num_threads(threads)
    tparams = {}
    for fe in (False, True):
        tp = torch_copies(ps, gs)
        tparams[fe] = (tp, make_torch(tp, fe))

    times = {"compiled": [], "torch": [], "torch-foreach": []}
    for _ in range(steps):  # interleaved
        t0 = time.perf_counter()
        compiled.step(ps, gs, ss)
        times["compiled"].append(time.perf_counter() - t0)
        for fe, key in ((False, "torch"), (True, "torch-foreach")):
            opt = tparams[fe][1]
            t0 = time.perf_counter()
            opt.step()
            times[key].append(time.perf_counter() - t0)
    n = sum(int(np.prod(s)) for s in shapes)
    base = statistics.median(times["compiled"][2:])
    print("%-9s %9d params in %3d tensors, compiled in %.3f s" %
          (name, n, len(shapes), compile_s))
    for key, ts in times.items():
        med = statistics.median(ts[2:])
        print("  %-14s %9.3f ms  %6.1f GB/s  %5.2fx compiled" %
              (key, med * 1e3, bytes_per * n / med / 1e9, med / base))


def run_scaling(steps, options, threads):
    """Compile time and step time as the tensor count grows, at a fixed
    total size: what a model with many small tensors pays per step."""
    torch.set_num_threads(threads)
    total = 1 << 20
    print("adamw, %d parameters in total, by tensor count:" % total)
    for count in (16, 256, 1024, 4096):
        size = total // count
        shapes = [(size,)] * count
        compiled, compile_s, ps, gs, ss = compile_with_buffers(
            "adam_weight_decay", {}, shapes, options)
        topt = torch.optim.AdamW(torch_copies(ps, gs), lr=1e-3,
                                 weight_decay=0.01, foreach=True)
        ours, theirs = [], []
        for _ in range(steps):
            t0 = time.perf_counter()
            compiled.step(ps, gs, ss)
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            topt.step()
            theirs.append(time.perf_counter() - t0)
        a, b = statistics.median(ours[2:]), statistics.median(theirs[2:])
        print("  %5d tensors: compile %.3f s, step %.3f ms (torch foreach "
              "%.3f ms, %.2fx)" % (count, compile_s, a * 1e3, b * 1e3, b / a))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=1 << 24)
    parser.add_argument("--tensors", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cases", default="adamw,adam,momentum,sgd")
    parser.add_argument("--scaling", action="store_true",
                        help="compile and step time by tensor count")
    args = parser.parse_args()
    options = "num-threads=%d" % args.threads
    if args.scaling:
        run_scaling(args.steps, options, args.threads)
        return
    shapes = shapes_for(args.params, args.tensors)
    for name in args.cases.split(","):
        run_case(name, shapes, args.steps, options, args.threads)


if __name__ == "__main__":
    main()
