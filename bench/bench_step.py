#!/usr/bin/env python3
"""Compiled optimizer steps against hand-written baselines, as ratios.

Each subcommand times its implementations in one process, one step each a
round, in an order shuffled every round, and prints medians over the rounds
(per-round ratios for the ratio columns). Absolute times drift with the
shared machine's memory bandwidth; compare the ratios.

    PYTHONPATH=build/python /usr/bin/python3 bench/bench_step.py SUBCOMMAND

adamw16m
    AdamWeightDecay over 16 Mi fp32 parameters, flat (one tensor) and in
    about 200 tensors, at 1 and 2 threads, against the floor kernel (28 B a
    parameter) and a hand-written fused C++ loop at the same thread count.
lamb-bert
    Lamb over BERT-base's 199 tensors: the compiled step against its floor
    (44 B a parameter) and the compile time of a never-seen source.
momentum-resnet-gc
    Momentum over ResNet-50's 161 tensors, the conv weights with gradient
    centralization: the step against its floor (28 B a centralized
    parameter, 20 B the others) and the compile time. ``--timeout`` bounds
    the compile: past it the run prints "did not compile in N s".
torch-loop
    A small CNN trained on random CIFAR-sized batches with AdamW, OneCycleLR
    and clip_grad_norm_: epochs with optim_mlir.torch.AdamW and with
    torch.optim.AdamW, interleaved; epoch time ours/torch, and the process
    CPU time burnt in a 0.5 s sleep after a step.

The baselines (bench/kernels.cpp) run on the very arrays the compiled step
updates (NumPy-allocated, as the step's callers allocate them), with the
same chunking (64 Ki elements) and OpenMP runtime (LLVM's libomp).
"""

import argparse
import os
import queue
import statistics
import subprocess
import sys
import threading
import time

# Compile times are measured on sources the runtime has never seen.
os.environ["OPTIM_MLIR_DISABLE_DISK_CACHE"] = "1"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

try:
    import optim_mlir  # noqa: E402
except ImportError:
    sys.path.insert(0, os.path.join(benchlib.BUILD, "python"))
    import optim_mlir  # noqa: E402
from optim_mlir import ir  # noqa: E402

import numpy as np  # noqa: E402

import models  # noqa: E402

ADAMW_HYPER = dict(beta1=0.9, beta2=0.999, eps=1e-6)
ADAMW_LR, ADAMW_WD = 1e-3, 0.01
COMPILE_MARK = "compile-start"
_fresh = [0]


def fresh_symbol():
    """A symbol name never used before in any process, so neither the
    in-process cache nor any disk cache can hold the source."""
    _fresh[0] += 1
    return "bench_%d_%d_%d" % (os.getpid(), time.time_ns(), _fresh[0])


def compile_for(source, threads, extra):
    """CompiledOptimizer at `threads` OpenMP threads (set_num_threads when
    the runtime has it, else the num-threads pipeline option)."""
    cls = optim_mlir.CompiledOptimizer
    opts = [o for o in extra.split(",") if o]
    if hasattr(cls, "set_num_threads"):
        compiled = cls(source, " ".join(opts))
        compiled.set_num_threads(threads)
        return compiled
    return cls(source, " ".join(opts + ["num-threads=%d" % threads]))


def make_buffers(shapes, compiled, seed=0):
    """Parameters and gradients as bench_cpu.py makes them (NumPy's
    allocator), states zero-allocated and initialised by the optimizer."""
    rng = np.random.default_rng(seed)
    ps = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    gs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ss = [np.zeros(s, np.float32) for s in shapes
          for _ in compiled.state_names]
    compiled.init_states(ss)
    return ps, gs, ss


def flush():
    sys.stdout.flush()


# -------------------------------------------------------------- adamw16m --

def layout_shapes(total, tensors):
    """One flat tensor, or `tensors` 2-D tensors of rows of 256 plus one
    vector holding the rest (as bench_cpu.py's shapes_for)."""
    if tensors <= 1:
        return [(total,)]
    per = max(256, total // tensors)
    rows = max(1, per // 256)
    shapes = [(rows, 256)] * (tensors - 1)
    shapes.append((total - rows * 256 * (tensors - 1),))
    return [s for s in shapes if int(np.prod(s)) > 0]


def cmd_adamw16m(args):
    threads = [int(t) for t in args.threads.split(",")]
    benchlib.print_header("compiled, floor and C++ each at %s" %
                          " and ".join(map(str, threads)))
    lib = benchlib.load_kernels()
    print("adamw (adam_weight_decay), %d fp32 parameters, %d rounds, "
          "floor 28 B/param, kernels' libomp blocktime %d ms" %
          (args.params, args.rounds, lib.bench_omp_blocktime()))
    print("%-8s %7s %7s %11s %9s %9s %9s %13s %9s" %
          ("layout", "tensors", "threads", "compiled ms", "floor ms",
           "C++ ms", "floor GB/s", "compiled/floor", "compiled/C++"))
    flush()
    for tensors in (1, args.tensors):
        shapes = layout_shapes(args.params, tensors)
        params = [("p%d" % i, s, "float32") for i, s in enumerate(shapes)]
        buffers = None
        for nt in threads:
            text = ir.optimizer_ir("adam_weight_decay", ADAMW_HYPER,
                                   groups=[{"params": params}],
                                   learning_rate=ADAMW_LR,
                                   weight_decay=ADAMW_WD,
                                   symbol=fresh_symbol())
            compiled = compile_for(text, nt, args.options)
            if buffers is None:
                ps, gs, ss = make_buffers(shapes, compiled)
                nstate = len(compiled.state_names)
                tab = benchlib.Tensors({"p": ps, "g": gs,
                                        "m": ss[0::nstate],
                                        "v": ss[1::nstate]})
                buffers = (ps, gs, ss, tab)
            else:
                ps, gs, ss, tab = buffers
            P, G, M, V = (tab.ptr(k) for k in "pgmv")

            def run_compiled(c=compiled):
                c.step(ps, gs, ss)

            def run_floor(nt=nt):
                lib.floor_adamw(P, G, M, V, *tab.table(), 0.0, nt)

            def run_cpp(nt=nt):
                lib.adamw_fused(P, G, M, V, *tab.table(), ADAMW_LR,
                                ADAMW_HYPER["beta1"], ADAMW_HYPER["beta2"],
                                ADAMW_HYPER["eps"], ADAMW_WD, nt)

            times = benchlib.interleaved(
                {"compiled": run_compiled, "floor": run_floor,
                 "C++": run_cpp}, args.rounds, warmup=args.warmup,
                seed=nt * 1000 + tensors)
            med = {k: benchlib.median(v) for k, v in times.items()}
            print("%-8s %7d %7d %11.3f %9.3f %9.3f %9.1f %13.2f %9.2f" % (
                "flat" if tensors == 1 else "tensors", len(shapes), nt,
                med["compiled"] * 1e3, med["floor"] * 1e3, med["C++"] * 1e3,
                28 * args.params / med["floor"] / 1e9,
                benchlib.ratio(times, "compiled", "floor"),
                benchlib.ratio(times, "compiled", "C++")))
            flush()
        del buffers
    print("libomp mapped: %s" % ", ".join(benchlib.libomp_copies()))


# ------------------------------------------------ lamb-bert, resnet-gc --

MODEL_OF = {"lamb-bert": "bert-base-lamb",
            "momentum-resnet-gc": "resnet50-momentum-gc"}


def run_with_compile_timeout(args):
    """Runs this subcommand in a worker process, relaying its output; kills
    it if its compile has not finished `args.timeout` s after it starts."""
    benchlib.print_header("compiled step and floor at %d" % args.threads)
    cmd = [sys.executable, os.path.abspath(__file__)] + sys.argv[1:] + \
        ["--worker"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                            bufsize=1)
    lines = queue.Queue()

    def reader():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    deadline = None
    while True:
        try:
            wait = None if deadline is None else max(
                0.0, deadline - time.monotonic())
            line = lines.get(timeout=wait)
        except queue.Empty:
            proc.kill()
            proc.wait()
            print("did not compile in %g s" % args.timeout)
            flush()
            return 0
        if line is None:
            break
        if line.startswith(COMPILE_MARK):
            # The worker's clock (CLOCK_MONOTONIC is system-wide).
            deadline = float(line.split()[1]) + args.timeout
            continue
        if line.startswith("compile:"):
            deadline = None
            if float(line.split()[1]) > args.timeout:  # read late
                proc.kill()
                proc.wait()
                print("did not compile in %g s" % args.timeout)
                flush()
                return 0
        sys.stdout.write(line)
        flush()
    return proc.wait()


def cmd_model(args):
    """Worker of lamb-bert / momentum-resnet-gc."""
    model = MODEL_OF[args.command]
    lib = benchlib.load_kernels()
    source, _ = models.optimizer_source(model, args.cut, fresh_symbol(),
                                        args.scale)
    print("%s%s%s: compiling (fresh source, caches disabled)" %
          (model, "" if args.cut is None else " (first %d parameters)" %
           args.cut, "" if args.scale == 1 else
           " (dimensions / %d)" % args.scale))
    t0 = time.monotonic()
    print("%s %r" % (COMPILE_MARK, t0))
    flush()
    try:
        compiled = compile_for(source, args.threads, args.options)
    except RuntimeError as error:
        print("compile failed after %.3f s: %s" %
              (time.monotonic() - t0, str(error).splitlines()[0][:300]))
        flush()
        return 1
    compile_s = time.monotonic() - t0
    print("compile: %.3f s (first compile in this process)" % compile_s)
    flush()
    extra = []
    reps = args.compile_reps - 1 if compile_s < 5.0 else 0
    if reps < args.compile_reps - 1:
        print("(no further compiles: the first took over 5 s)")
    for _ in range(reps):
        again, _ = models.optimizer_source(model, args.cut, fresh_symbol(),
                                           args.scale)
        t0 = time.perf_counter()
        compile_for(again, args.threads, args.options)
        extra.append(time.perf_counter() - t0)
    if extra:
        print("compile again, %d other fresh sources: median %.3f s" %
              (len(extra), statistics.median(extra)))

    infos = compiled.params
    shapes = [tuple(i["shape"]) for i in infos]
    n = sum(int(np.prod(s)) for s in shapes)
    ps, gs, ss = make_buffers(shapes, compiled)
    nstate = len(compiled.state_names)
    if model == "bert-base-lamb":
        tab = benchlib.Tensors({"p": ps, "g": gs, "m": ss[0::nstate],
                                "v": ss[1::nstate]})
        P, G, M, V = (tab.ptr(k) for k in "pgmv")
        partial, total = tab.scratch()
        nbytes = 44 * n
        floor_desc = "norm pass p,g,m,v + update p,g,m,v -> p,m,v: 44 B/param"

        def run_floor():
            lib.floor_lamb(P, G, M, V, *tab.table(),
                           benchlib.Tensors.i64(tab.first), tab.ntensors,
                           partial, total, 0.0, args.threads)
    else:
        # Centralized: the conv weights (4-d), the grad_centralization
        # group of models.resnet50_momentum_gc.
        central = np.array([1 if len(i["shape"]) == 4 else 0
                            for i in infos], np.int32)
        tab = benchlib.Tensors({"p": ps, "g": gs, "v": ss[0::nstate]})
        P, G, V = (tab.ptr(k) for k in "pgv")
        partial, total = tab.scratch()
        sizes = np.array([int(np.prod(s)) for s in shapes])
        nbytes = int(20 * n + 8 * sizes[central == 1].sum())
        floor_desc = ("reduction g + wd p (centralized only: decay comes "
                      "first) + update p,g,v -> p,v: 28 B/param centralized, "
                      "20 B others, %d of %d "
                      "params centralized" % (sizes[central == 1].sum(), n))
        cptr = central.ctypes.data_as(benchlib._I32P)

        def run_floor():
            lib.floor_momentum_gc(P, G, V, *tab.table(),
                                  benchlib.Tensors.i64(tab.first), cptr,
                                  tab.ntensors, partial, total, 0.0,
                                  args.threads)

    def run_compiled():
        compiled.step(ps, gs, ss)

    times = benchlib.interleaved({"compiled": run_compiled,
                                  "floor": run_floor}, args.rounds,
                                 warmup=args.warmup)
    med = {k: benchlib.median(v) for k, v in times.items()}
    print("floor: %s" % floor_desc)
    print("%-22s %7s %11s %11s %9s %10s %14s %10s" % (
        "model", "tensors", "params", "compiled ms", "floor ms",
        "floor GB/s", "compiled/floor", "compile s"))
    print("%-22s %7d %11d %11.3f %9.3f %10.1f %14.2f %10.3f" % (
        model, len(shapes), n, med["compiled"] * 1e3, med["floor"] * 1e3,
        nbytes / med["floor"] / 1e9,
        benchlib.ratio(times, "compiled", "floor"), compile_s))
    print("libomp mapped: %s" % ", ".join(benchlib.libomp_copies()))
    flush()
    return 0


# ------------------------------------------------------------ torch-loop --

def cmd_torch_loop(args):
    import copy
    import random

    import torch
    import torch.nn as nn
    import optim_mlir.torch as omt

    benchlib.print_header("torch intra-op %d, compiled step %d" %
                          (args.threads, args.threads))
    torch.set_num_threads(args.threads)
    if hasattr(omt, "COMPILE_OPTIONS"):
        omt.COMPILE_OPTIONS = "num-threads=%d" % args.threads
    torch.manual_seed(0)

    def net():
        w = args.width
        return nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, 10))

    base = net()
    nparams = sum(p.numel() for p in base.parameters())
    xs = torch.randn(args.steps, args.batch, 3, args.image, args.image)
    ys = torch.randint(0, 10, (args.steps, args.batch))
    # Warm-up epoch + timed epochs + the sleep probes.
    total_steps = (args.epochs + 1) * args.steps + 2 * args.sleep_reps
    runs = {}
    for name, cls in (("optim_mlir", omt.AdamW),
                      ("torch", torch.optim.AdamW)):
        model = copy.deepcopy(base)
        opt = cls(model.parameters(), lr=1e-3)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=1e-3, total_steps=total_steps)
        runs[name] = (model, opt, sched)
    loss_fn = nn.CrossEntropyLoss()
    step_times = {name: [] for name in runs}

    def train_step(name, i, schedule=True):
        model, opt, sched = runs[name]
        opt.zero_grad()
        loss = loss_fn(model(xs[i]), ys[i])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        t0 = time.perf_counter()
        opt.step()
        step_times[name].append(time.perf_counter() - t0)
        if schedule:
            sched.step()
        return loss

    def epoch(name):
        for i in range(args.steps):
            train_step(name, i)

    for name in runs:  # warm-up (and the compile)
        epoch(name)
    for name in runs:
        step_times[name].clear()
    times = benchlib.interleaved(
        {name: (lambda n=name: epoch(n)) for name in runs}, args.epochs,
        warmup=0, seed=1)

    rng = random.Random(2)
    burnt = {name: [] for name in runs}
    for _ in range(args.sleep_reps):
        order = list(runs)
        rng.shuffle(order)
        for name in order:
            train_step(name, 0)
            t0 = time.process_time()
            time.sleep(args.sleep)
            burnt[name].append(time.process_time() - t0)

    print("small CNN: %d parameters in %d tensors, batch %d of 3x%dx%d, "
          "%d steps an epoch, %d timed epochs each (1 warm-up), AdamW "
          "lr 1e-3 + OneCycleLR + clip_grad_norm_(1.0)" %
          (nparams, len(list(base.parameters())), args.batch, args.image,
           args.image, args.steps, args.epochs))
    print("%-12s %10s %12s %22s" % ("optimizer", "epoch s", "step ms",
                                    "CPU s in %g s sleep" % args.sleep))
    for name in runs:
        print("%-12s %10.3f %12.3f %22.3f" % (
            name, benchlib.median(times[name]),
            benchlib.median(step_times[name]) * 1e3,
            benchlib.median(burnt[name])))
    print("epoch time ours/torch: %.3f (median of per-round ratios)" %
          benchlib.ratio(times, "optim_mlir", "torch"))
    print("step time ours/torch: %.3f (ratio of median optimizer.step())" %
          (benchlib.median(step_times["optim_mlir"]) /
           benchlib.median(step_times["torch"])))
    flush()
    return 0


# ------------------------------------------------------------------ main --

def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, rounds):
        p.add_argument("--rounds", type=int, default=rounds,
                       help="timed rounds (medians over them)")
        p.add_argument("--warmup", type=int, default=2,
                       help="untimed rounds first")
        p.add_argument("--options", default="",
                       help="extra pipeline options, comma-separated, "
                            "e.g. vector-bytes=64")

    p = sub.add_parser("adamw16m", help="AdamW at 16 Mi fp32 parameters")
    p.add_argument("--params", type=int, default=1 << 24)
    p.add_argument("--tensors", type=int, default=200)
    p.add_argument("--threads", default="1,2",
                   help="comma-separated thread counts")
    common(p, 30)

    for name, help_text in (("lamb-bert", "Lamb over BERT-base"),
                            ("momentum-resnet-gc",
                             "Momentum + centralization over ResNet-50")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--cut", type=int, default=None,
                       help="only the model's first N parameters")
        p.add_argument("--scale", type=int, default=1,
                       help="divide every dimension by S (quick checks)")
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--timeout", type=float, default=600.0,
                       help="seconds the compile may take")
        p.add_argument("--compile-reps", type=int, default=2,
                       help="fresh-source compiles (the first is the one "
                            "stepped)")
        p.add_argument("--worker", action="store_true",
                       help=argparse.SUPPRESS)
        common(p, 15)

    p = sub.add_parser("torch-loop", help="a small CNN training loop")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--image", type=int, default=32)
    p.add_argument("--width", type=int, default=16,
                   help="channels of the first conv")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sleep", type=float, default=0.5)
    p.add_argument("--sleep-reps", type=int, default=3)

    args = parser.parse_args(argv)
    if args.command == "adamw16m":
        return cmd_adamw16m(args)
    if args.command in MODEL_OF:
        if args.cut is not None and args.cut < 1:
            parser.error("--cut must be at least 1")
        if args.scale < 1:
            parser.error("--scale must be at least 1")
        if args.worker:
            return cmd_model(args)
        return run_with_compile_timeout(args)
    return cmd_torch_loop(args)


if __name__ == "__main__":
    sys.exit(main())
