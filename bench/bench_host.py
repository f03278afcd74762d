#!/usr/bin/env python3
"""Host cost per tensor: what a step costs beyond its compiled call.

Over N tiny tensors (default 2,000 tensors of 10 to 100 fp32 elements) it
times, in one process, interleaved with the order shuffled every round:

* ``torch-foreach``: ``torch.optim.AdamW(foreach=True).step()``;
* ``torch``: ``optim_mlir.torch.AdamW.step()`` (the bound, revalidated path);
* ``nn``: ``optim_mlir.nn.AdamWeightDecay(gradients)`` (NumPy);
* ``c-api``: ``optimBoundStepRun`` (through ctypes: one foreign call);
* ``compiled-*``: the compiled call alone on each path's own tables
  (``stepCompiledOnly``), the baseline of each path's host cost.

It prints the median of each, torch-foreach's time over ours, and per path
``(step - compiled call) / N``: the host cost per tensor.

    PYTHONPATH=build/python /usr/bin/python3 bench/bench_host.py \\
        [--tensors 2000] [--min-size 10] [--max-size 100] [--rounds 30]
"""

import argparse
import ctypes
import os
import random
import statistics
import time

import numpy as np
import torch

import optim_mlir
import optim_mlir.nn as onn
import optim_mlir.torch as ot
from optim_mlir import ir


def load_runtime():
    lib = ctypes.CDLL(os.path.join(os.path.dirname(optim_mlir.__file__), "..",
                                   "..", "lib", "libOptimRuntime.so"))
    vp, pp = ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)
    lib.optimCompile.restype = vp
    lib.optimCompile.argtypes = [ctypes.c_char_p, ctypes.c_size_t,
                                 ctypes.c_char_p, vp]
    lib.optimBoundStepCreate.restype = vp
    lib.optimBoundStepCreate.argtypes = [vp, vp]
    lib.optimBoundStepAllocateStates.argtypes = [vp, vp]
    for name in ("Params", "Grads"):
        f = getattr(lib, "optimBoundStep" + name)
        f.restype, f.argtypes = pp, [vp]
    lib.optimBoundStepRun.argtypes = [vp, vp]
    lib.optimBoundStepRunCompiledOnly.argtypes = [vp, vp]
    return lib


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tensors", type=int, default=2000)
    parser.add_argument("--min-size", type=int, default=10)
    parser.add_argument("--max-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--reps", type=int, default=5,
                        help="calls of each candidate per round")
    args = parser.parse_args()

    rng = np.random.RandomState(0)
    sizes = [int(n) for n in rng.randint(args.min_size, args.max_size + 1,
                                         args.tensors)]
    n = len(sizes)
    values = [rng.randn(s).astype(np.float32) * 0.1 for s in sizes]
    grads = [rng.randn(s).astype(np.float32) * 0.01 for s in sizes]

    # torch: theirs and ours on equal tensors and gradients.
    def torch_params():
        ps = [torch.from_numpy(v.copy()).requires_grad_() for v in values]
        for p, g in zip(ps, grads):
            p.grad = torch.from_numpy(g.copy())
        return ps

    theirs = torch.optim.AdamW(torch_params(), lr=1e-3, weight_decay=0.01,
                               foreach=True)
    ours = ot.AdamW(torch_params(), lr=1e-3, weight_decay=0.01)
    ours.step()
    ours.step()
    plan = ours._plan.native
    assert plan.num_buckets == 1, plan.num_buckets

    # nn: MindSpore's AdamWeightDecay on NumPy arrays.
    nn_opt = onn.AdamWeightDecay(
        [onn.Parameter(v, "p%d" % i) for i, v in enumerate(values)],
        learning_rate=1e-3, weight_decay=0.01)
    nn_grads = tuple(g.copy() for g in grads)
    nn_opt(nn_grads)
    nn_bound = nn_opt._parts[0].bound

    # C API: a bound step with runtime-owned states.
    lib = load_runtime()
    source = ir.optimizer_ir(
        "adam_weight_decay", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
        params=[("p%d" % i, (s,), "float32") for i, s in enumerate(sizes)],
        learning_rate=1e-3, weight_decay=0.01).encode()
    c_opt = lib.optimCompile(source, len(source), None, None)
    c_bound = lib.optimBoundStepCreate(c_opt, None)
    assert lib.optimBoundStepAllocateStates(c_bound, None) == 0
    c_params = [v.copy() for v in values]
    c_grads = [g.copy() for g in grads]
    table_p = lib.optimBoundStepParams(c_bound)
    table_g = lib.optimBoundStepGrads(c_bound)
    for i in range(n):
        table_p[i] = c_params[i].ctypes.data
        table_g[i] = c_grads[i].ctypes.data
    assert lib.optimBoundStepRun(c_bound, None) == 0

    def c_run():
        if lib.optimBoundStepRun(c_bound, None):
            raise RuntimeError("optimBoundStepRun failed")

    def c_compiled():
        if lib.optimBoundStepRunCompiledOnly(c_bound, None):
            raise RuntimeError("optimBoundStepRunCompiledOnly failed")

    def nn_step():
        nn_opt(nn_grads)

    def torch_compiled():
        plan.run_bucket_compiled_only(0)

    def nn_compiled():
        nn_bound.run_compiled_only()

    # The compiled-only calls follow their path's own step in each round
    # (they need the tables of that path's last step).
    candidates = {
        "torch-foreach": [theirs.step],
        "torch": [ours.step, torch_compiled],
        "nn": [nn_step, nn_compiled],
        "c-api": [c_run, c_compiled],
    }
    names = {"torch": "compiled-torch", "nn": "compiled-nn",
             "c-api": "compiled-c-api"}
    times = {}
    order = list(candidates)
    for _ in range(args.rounds):
        random.shuffle(order)
        for key in order:
            funcs = candidates[key]
            for f, label in zip(funcs, [key, names.get(key)]):
                for _ in range(args.reps):
                    start = time.perf_counter()
                    f()
                    times.setdefault(label, []).append(
                        time.perf_counter() - start)
    assert ours._plan is not None and ours._plan.native is plan
    med = {k: statistics.median(v) for k, v in times.items()}

    print("host cost over %d tensors of %d..%d fp32 elements (AdamW), "
          "%d rounds x %d calls, medians" % (n, args.min_size, args.max_size,
                                             args.rounds, args.reps))
    for key in ("torch-foreach", "torch", "compiled-torch", "nn",
                "compiled-nn", "c-api", "compiled-c-api"):
        print("  %-15s %9.3f ms" % (key, med[key] * 1e3))
    print("torch foreach AdamW / optim_mlir.torch AdamW: %.1fx"
          % (med["torch-foreach"] / med["torch"]))
    for key, label in (("c-api", "C API"), ("torch", "optim_mlir.torch"),
                       ("nn", "optim_mlir.nn")):
        host = (med[key] - med[names[key]]) / n
        print("host cost per tensor, %-17s %6.3f us (compiled call %.3f us "
              "per tensor)" % (label + ":", host * 1e6,
                               med[names[key]] / n * 1e6))


if __name__ == "__main__":
    main()
