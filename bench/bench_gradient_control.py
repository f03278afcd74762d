"""The cost of global-norm clipping and dynamic loss scaling in the compiled
step, against the plain step and against what users run today.

Implementations, timed in the same process, order shuffled each round, on
the same float32 buffers (NumPy arrays; torch tensors share their memory):
  plain      the compiled AdamWeightDecay step
  clip       the same with max_grad_norm
  clip+dyn   with max_grad_norm and dynamic loss scaling
  clip+dyn/no-prefetch
             the same compiled without the read-only loops' software
             prefetch (pipeline option prefetch-bytes=0)
  torch      torch's unfused sequence: unscale the gradients
             and check them for infs (foreach mul and norms, what GradScaler's
             unscale_ does), clip_grad_norm_, then foreach AdamW
Floor of clip+dyn over plain: one more read of the gradients. AdamW reads
p, g, m, v and writes p, m, v: 7 streams; the extra read makes 8, a floor
of 8/7 = 1.14x when memory-bound.

Usage: python3 bench/bench_gradient_control.py [--elements N] [--tensors K]
       [--rounds R]
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402

sys.path.insert(0, os.path.join(benchlib.BUILD, "python"))
import optim_mlir  # noqa: E402
from optim_mlir import ir  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--elements", type=int, default=32 * 1024 * 1024)
    parser.add_argument("--tensors", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    benchlib.print_header("the runtime's default (every core)")
    n = args.elements // args.tensors
    shapes = [(n,)] * args.tensors
    rng = np.random.default_rng(0)
    hyper = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    params = [("p%d" % i, s, "float32") for i, s in enumerate(shapes)]
    dyn = {"growth_factor": 2.0, "backoff_factor": 0.5,
           "growth_interval": 10 ** 9, "min_scale": 0.0}
    both = {"max_grad_norm": 1.0, "dynamic_loss_scale": dyn}
    variants = {
        "plain": ({}, ""),
        "clip": ({"max_grad_norm": 1.0}, ""),
        "clip+dyn": (both, ""),
        "clip+dyn/no-prefetch": (both, "prefetch-bytes=0"),
    }
    impls = {}
    for name, (options, pipeline) in variants.items():
        src = ir.optimizer_ir("adam_weight_decay", hyper, params=params,
                              learning_rate=1e-3, weight_decay=0.01,
                              loss_scale=1024.0, **options)
        opt = optim_mlir.CompiledOptimizer(src, pipeline)
        p = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        g = [(rng.standard_normal(s) * 1024).astype(np.float32)
             for s in shapes]
        st = [np.zeros(s, np.float32) for s in shapes for _ in range(2)]
        impls[name] = (lambda o=opt, p=p, g=g, st=st: o.step(p, g, st))
    torch.set_num_threads(os.cpu_count() or 1)
    tp = [torch.randn(s) for s in shapes]
    tg = [torch.randn(s) * 1024 for s in shapes]
    for t, g in zip(tp, tg):
        t.grad = g
    adamw = torch.optim.AdamW(tp, lr=1e-3, weight_decay=0.01, foreach=True)
    adamw.step()
    found = torch.zeros(1)

    def torch_sequence():
        grads = [t.grad for t in tp]
        # GradScaler.unscale_: unscale, and check for infs (torch 1.13 has
        # no CPU kernel of _amp_foreach_non_finite_check_and_unscale_).
        torch._foreach_mul_(grads, 1.0 / 1024)
        found.copy_(~torch.stack(torch._foreach_norm(grads)).isfinite().all())
        torch.nn.utils.clip_grad_norm_(tp, 1.0)
        adamw.step()
        for t in tp:  # the next step's scaled gradients
            t.grad.mul_(1024.0)
    impls["torch"] = torch_sequence
    times = benchlib.interleaved(impls, args.rounds)
    print("elements: %d in %d tensors; rounds: %d; torch threads: %d" % (
        args.elements, args.tensors, args.rounds, torch.get_num_threads()))
    for name in impls:
        print("%-20s median %8.2f ms" % (name,
                                        1e3 * benchlib.median(times[name])))
    for name in ("clip", "clip+dyn", "clip+dyn/no-prefetch"):
        print("%s / plain: %.3fx" % (name, benchlib.ratio(times, name,
                                                           "plain")))
    print("torch / clip+dyn: %.2fx" % benchlib.ratio(times, "torch",
                                                       "clip+dyn"))


if __name__ == "__main__":
    main()
