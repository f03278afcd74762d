"""The sharded step against the unsharded one, under mpirun.

    mpirun -np N python3 bench/bench_distributed.py [--elements 4194304]
        [--tensors 32] [--rounds 20] [--threads 1]

Every rank holds the whole model (AdamWeightDecay, float32, `--tensors`
tensors of `--elements` in all). Implementations, interleaved in an order
shuffled each round (the same order on every rank, as the collectives
require):

- ``unsharded``: CompiledOptimizer.step on the whole model on every rank
  (data parallelism without sharding: every rank repeats the update);
- ``zero``: ShardedOptimizer (ZeRO-1), gradients already reduced;
- ``broadcast_params``: ShardedOptimizer, MindSpore's sharding;
- ``zero+reduce-scatter``: ZeRO with the gradients summed over the ranks
  by the step's reduce-scatter (rank-ordered sums);
- ``allreduce+zero``: MPI's allreduce of the whole gradients, then the ZeRO
  step on the already reduced gradients (the "allreduce and slice" route).

With ``--control``, two more: the same model with dynamic loss scaling and
clipping (``loss_scale ... dynamic<...> max_grad_norm``), ``unsharded+control``
(the control inside the compiled step) and ``zero+control`` (the sharded
step's control on the host: each rank's sum of squares and an allgather).

Rank 0 prints, per implementation, the median step time (the slowest
rank's), its ratio to ``unsharded`` in the same round, the bytes each rank
sent and received per step and the state bytes each rank keeps.
"""

import argparse
import os
import statistics
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402

sys.path.insert(0, os.path.join(benchlib.BUILD, "python"))
from optim_mlir import _optim  # noqa: E402


CONTROL = (" loss_scale 1024.0 dynamic<growth_factor = 2.0, "
           "backoff_factor = 0.5, growth_interval = 2000, min_scale = 1.0> "
           "max_grad_norm 1.0")


def source(shapes, control=""):
    body = "".join('  optim.param "p%d" : tensor<%dxf32>\n' % (i, n)
                   for i, n in enumerate(shapes))
    return ("optim.optimizer @bench rule #optim.rule<adam_weight_decay> "
            "learning_rate 1.0e-03 : f64" + control + " attributes "
            "{weight_decay = 1.0e-02 : f64} {\n" + body + "}\n")


def states_for(params_info):
    return [np.zeros(shape, np.float32) for p in params_info
            for shape in p["state_shapes"]]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--elements", type=int, default=1 << 22)
    parser.add_argument("--tensors", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--control", action="store_true",
                        help="also clipping and dynamic loss scaling")
    args = parser.parse_args()

    comm = _optim.Communicator.world(timeout=300.0)
    n = comm.size
    if comm.rank == 0:
        benchlib.print_header("%d per rank, %d ranks" % (args.threads, n))
    per = args.elements // args.tensors
    shapes = [per] * args.tensors
    text = source(shapes)
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s).astype(np.float32) * 1e-2 for s in shapes]

    impls, stats, state_bytes = {}, {}, {}

    whole = _optim.CompiledOptimizer(text)
    whole.set_num_threads(args.threads)
    w_params = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    w_states = states_for(whole.params)
    whole.init_states(w_states)
    impls["unsharded"] = lambda: whole.step(w_params, grads, w_states)
    state_bytes["unsharded"] = sum(x.nbytes for x in w_states)

    def sharded(name, mode, gradients, allreduce=False, text=text):
        opt = _optim.ShardedOptimizer(text, comm, mode=mode,
                                      gradients=gradients)
        opt.set_num_threads(args.threads)
        params = [x.copy() for x in w_params]
        local = states_for(opt.local_params)
        opt.init_states(local)
        work = [g.copy() for g in grads]

        def run():
            if allreduce:
                received = 0
                for g in work:
                    comm.allreduce_sum(g)
                    received += comm.last_stats["bytes_received"]
                opt.step(params, work, local)
                stats[name] = dict(opt.last_stats)
                stats[name]["bytes_sent"] += received
                stats[name]["bytes_received"] += received
            else:
                opt.step(params, work if gradients != "none" else grads,
                         local)
                stats[name] = opt.last_stats
        impls[name] = run
        state_bytes[name] = sum(x.nbytes for x in local)

    sharded("zero", "zero", "none")
    sharded("broadcast_params", "broadcast_params", "none")
    sharded("zero+reduce-scatter", "zero", "sum")
    sharded("allreduce+zero", "zero", "none", allreduce=True)
    if args.control:
        controlled = source(shapes, CONTROL)
        whole_c = _optim.CompiledOptimizer(controlled)
        whole_c.set_num_threads(args.threads)
        c_params = [x.copy() for x in w_params]
        c_states = states_for(whole_c.params)
        whole_c.init_states(c_states)
        impls["unsharded+control"] = lambda: whole_c.step(c_params, grads,
                                                          c_states)
        state_bytes["unsharded+control"] = state_bytes["unsharded"]
        sharded("zero+control", "zero", "none", text=controlled)

    times = benchlib.interleaved(impls, args.rounds)
    # The step of a job is its slowest rank's.
    gathered = [eval(b.decode()) for b in
                comm.allgather(repr({k: v for k, v in times.items()})
                               .encode())]
    slowest = {k: [max(r[k][i] for r in gathered)
                   for i in range(len(times[k]))] for k in times}
    all_state = [eval(b.decode()) for b in
                 comm.allgather(repr(state_bytes).encode())]
    all_stats = [eval(b.decode()) for b in
                 comm.allgather(repr(stats).encode())]
    if comm.rank != 0:
        return
    total = args.elements * 4
    print("model: AdamWeightDecay, %d float32 elements in %d tensors "
          "(%.1f MB of parameters)" % (args.elements, args.tensors,
                                        total / 1e6))
    print("| implementation | step (median, slowest rank) | x unsharded | "
          "sent / rank / step | received / rank / step | state bytes / rank "
          "(max) |")
    print("|---|---|---|---|---|---|")
    for name in impls:
        ratio = statistics.median(a / b for a, b in
                                  zip(slowest[name], slowest["unsharded"]))
        sent = max(s.get(name, {}).get("bytes_sent", 0) for s in all_stats)
        recv = max(s.get(name, {}).get("bytes_received", 0)
                   for s in all_stats)
        kept = max(s[name] for s in all_state)
        print("| %s | %.2f ms | %.3f | %.2f MB | %.2f MB | %.2f MB (%.2f of "
              "unsharded) |" % (name, 1e3 * benchlib.median(slowest[name]),
                                ratio, sent / 1e6, recv / 1e6, kept / 1e6,
                                kept / state_bytes["unsharded"]))


if __name__ == "__main__":
    main()
