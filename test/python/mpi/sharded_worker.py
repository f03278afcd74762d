"""Worker of test_distributed.py, run on every rank by mpirun.

Each case compiles one optimizer twice in this process: sharded over the
job (ShardedOptimizer) and whole (CompiledOptimizer, the reference), steps
both on the same data, and prints one JSON line per case and rank.
"""

import json
import sys

import numpy as np

from optim_mlir import _optim

STEPS = 4


def optimizer_ir(rule, sparse):
    lr = "learning_rate 1.0e-02 : f64"
    if sparse:
        return ("optim.optimizer @o rule #optim.rule<%s> %s {\n"
                '  optim.param "emb" : tensor<50x8xf32> sparse\n'
                '  optim.param "w" : tensor<37x5xf32>\n'
                '  optim.param "b" : tensor<300xf32>\n'
                "}\n" % (rule, lr))
    return ("optim.optimizer @o rule #optim.rule<%s> %s "
            "attributes {weight_decay = 1.0e-02 : f64} {\n"
            "  optim.group weight_decay 1.0e-02 {\n"
            '    optim.param "a" : tensor<37x5xf32>\n'
            '    optim.param "b.gamma" : tensor<100xf32>\n'
            '    optim.param "f" : tensor<2x3x4xf64>\n'
            "  }\n"
            "  optim.group learning_rate 5.0e-03 : f64 weight_decay 0.0 "
            "grad_centralization {\n"
            '    optim.param "c" : tensor<3x7xf32>\n'
            '    optim.param "d" : tensor<1000xf32>\n'
            '    optim.param "e" : tensor<12x40xf32>\n'
            "  }\n"
            # The step's order is not the groups' (the local steps order
            # their pieces by group; the exchange must not).
            '  optim.order_params ["c", "a", "d", "b.gamma", "e", "f"]\n'
            "}\n" % (rule, lr))


def dtype_of(name):
    # bfloat16 travels as its 16 bits.
    return {"float32": np.float32, "float64": np.float64,
            "bfloat16": np.uint16}[name]


AMP_IR = """optim.optimizer @amp rule #optim.rule<adam_weight_decay> learning_rate 1.0e-02 : f64 attributes {weight_decay = 1.0e-02 : f64} {
  optim.param "w" : tensor<40x33xbf16> master f32 states f32
  optim.param "b" : tensor<77xbf16> master f32 states bf16
  optim.param "c" : tensor<300xf32>
}
"""


def bf16_bits(rng, shape):
    """Random bfloat16 values as their bits (float32 rounded down)."""
    values = rng.standard_normal(shape).astype(np.float32)
    return (values.view(np.uint32) >> 16).astype(np.uint16)


def mixed_precision(comm, mode):
    """bfloat16 parameters with float32 masters: the masters start from the
    parameters (init_states(params=)) and every piece's states and master
    match one process."""
    sharded = _optim.ShardedOptimizer(AMP_IR, comm, mode=mode)
    whole = _optim.CompiledOptimizer(AMP_IR)
    rng = np.random.default_rng(11)

    def draw(p):
        if p["dtype"] == "bfloat16":
            return bf16_bits(rng, p["shape"])
        return rng.standard_normal(p["shape"]).astype(np.float32)
    params = [draw(p) for p in whole.params]
    ref = [x.copy() for x in params]
    ref_states = make_states(whole.params)
    whole.init_states(ref_states, params=ref)
    local = make_states(sharded.local_params)
    sharded.init_states(local, params=params)
    for _ in range(STEPS):
        grads = [draw(p) for p in whole.params]
        sharded.step(params, grads, local)
        whole.step(ref, grads, ref_states)
    states_equal = states_match(sharded, whole, ref_states, local)
    return {"rank": comm.rank, "mode": sharded.mode,
            "params_equal": all(np.array_equal(a, b)
                                for a, b in zip(params, ref)),
            "states_equal": bool(states_equal),
            "split": any(not w for _, _, _, w in sharded.pieces(comm.rank))}


def states_match(sharded, whole, ref_states, local):
    """Whether each local state equals the reference state's slice (a
    state of 0 elements, a piece's absent master, matches an empty one)."""
    nstates = len(whole.state_names)
    equal = True
    for k, (param, offset, count, entire) in enumerate(sharded.pieces()):
        for s in range(nstates):
            expected = ref_states[param * nstates + s].reshape(-1)
            if expected.size and not entire:
                expected = expected[offset:offset + count]
            equal &= np.array_equal(local[k * nstates + s].reshape(-1),
                                    expected)
    return bool(equal)


def make_states(params):
    return [np.zeros(shape, dtype_of(dt)) for p in params
            for shape, dt in zip(p["state_shapes"], p["state_dtypes"])]


def gradient(rng, p, rank_seed=None):
    if p["sparse"]:
        rows = p["shape"][0]
        idx = rng.integers(0, rows, size=rows // 2).astype(np.int32)
        values = rng.standard_normal((len(idx),) + tuple(p["shape"][1:]))
        return (idx, values.astype(dtype_of(p["dtype"])))
    return rng.standard_normal(p["shape"]).astype(dtype_of(p["dtype"]))


def run_case(comm, rule, sparse, mode, gradients):
    source = optimizer_ir(rule, sparse)
    sharded = _optim.ShardedOptimizer(source, comm, mode=mode,
                                      gradients=gradients)
    whole = _optim.CompiledOptimizer(source)
    rng = np.random.default_rng(7)
    params = [rng.standard_normal(p["shape"]).astype(dtype_of(p["dtype"]))
              for p in whole.params]
    ref = [x.copy() for x in params]
    ref_states = make_states(whole.params)
    whole.init_states(ref_states)
    local = make_states(sharded.local_params)
    sharded.init_states(local)
    # Hyper-parameters are run-time values: change one on both.
    sharded.set_hyper_param(0, "learning_rate", 2.0e-2)
    whole.set_hyper_param(0, "learning_rate", 2.0e-2)
    for _ in range(STEPS):
        per_rank = [[gradient(rng, p) for p in whole.params]
                    for _ in range(comm.size)]
        if gradients == "none":
            mine = reduced = per_rank[0]
        else:
            mine = per_rank[comm.rank]
            reduced = []
            for i in range(len(params)):
                total = per_rank[0][i].copy()
                for r in range(1, comm.size):
                    total = total + per_rank[r][i]
                if gradients == "mean":
                    total = total / total.dtype.type(comm.size)
                reduced.append(total)
        sharded.step(params, mine, local)
        whole.step(ref, reduced, ref_states)
    params_equal = all(np.array_equal(a, b) for a, b in zip(params, ref))
    states_equal = states_match(sharded, whole, ref_states, local)
    state_elements = sum(x.size for x in local)
    total_elements = sum(x.size for x in ref_states)
    return {"rule": rule, "mode": sharded.mode, "gradients": gradients,
            "rank": comm.rank, "params_equal": bool(params_equal),
            "states_equal": bool(states_equal),
            "state_elements": int(state_elements),
            "total_state_elements": int(total_elements),
            "global_step": sharded.global_step}


def refused_step(comm):
    """Rank 1 passes wrong arguments, found by the runtime (a gradient that
    aliases the parameter of one of its pieces) or by the binding (a
    gradient of the wrong dtype): every rank's step raises ValueError
    naming rank 1 (rank 1 its own error), no rank changes anything, and the
    next step works."""
    source = optimizer_ir("adam", False)
    sharded = _optim.ShardedOptimizer(source, comm, mode="zero")
    rng = np.random.default_rng(3)
    params = [rng.standard_normal(p["shape"]).astype(dtype_of(p["dtype"]))
              for p in sharded.params]
    local = make_states(sharded.local_params)
    sharded.init_states(local)
    grads = [gradient(rng, p) for p in sharded.params]
    before = [x.copy() for x in params + local]
    out = {"rank": comm.rank, "messages": []}
    mine = sharded.pieces()[0][0]
    for kind in ("alias", "dtype"):
        bad = list(grads)
        if comm.rank == 1 and kind == "alias":
            bad[mine] = params[mine]
        if comm.rank == 1 and kind == "dtype":
            bad[0] = grads[0].astype(np.float16)
        try:
            sharded.step(params, bad, local)
            out["messages"].append("")
        except (ValueError, TypeError) as e:
            out["messages"].append("%s: %s" % (type(e).__name__, e))
    out["unchanged"] = all(np.array_equal(a, b)
                           for a, b in zip(params + local, before))
    out["global_step_after_refusal"] = sharded.global_step
    sharded.step(params, grads, local)
    out["global_step"] = sharded.global_step
    out["changed_after"] = not all(np.array_equal(a, b)
                                   for a, b in zip(params, before))
    return out


def communicator(comm):
    """The collectives the front ends build on."""
    out = {"rank": comm.rank, "size": comm.size}
    out["allgather"] = [x.decode() for x in
                        comm.allgather(("r%d" % comm.rank).encode() *
                                       (comm.rank + 1))]
    out["broadcast"] = comm.broadcast(
        b"from root" if comm.rank == comm.size - 1 else None,
        comm.size - 1).decode()
    arrays = [np.full(n, comm.rank, np.float32) for n in (5, 0, 17, 3)]
    owners = [i % comm.size for i in range(len(arrays))]
    comm.exchange(arrays, owners, in_order=True)
    out["in_order"] = [float(a[0]) if a.size else None for a in arrays]
    arrays = [np.full(n, 10 + comm.rank, np.float64) for n in (4, 9)]
    comm.exchange(arrays, [comm.size - 1, 0])
    out["allgathered"] = [float(a[-1]) for a in arrays]
    out["stats"] = comm.last_stats
    try:
        comm.exchange([np.zeros(3 + comm.rank, np.float32)], [0])
        out["mismatch"] = ""
    except ValueError as e:
        out["mismatch"] = str(e)
    # A rank that does not come: the others time out, and the communicator
    # is broken from then on.
    comm.timeout = 1.0
    if comm.rank == 0:
        # Rank 0 stays away from the barrier until the others have given
        # up on it (and printed), then leaves.
        import time
        print("RESULT " + json.dumps(dict(out, timeout="")), flush=True)
        time.sleep(4)
        sys.exit(0)
    try:
        comm.barrier()
    except _optim.DistributedError as e:
        out["timeout"] = str(e)
    try:
        comm.allgather(b"x")
    except _optim.DistributedError as e:
        out["broken"] = str(e)
    out["failure"] = comm.failure
    return out


def exchange_failure(comm):
    """OPTIM_DIST_FAULT stops the last rank in step 1, after its update:
    every other rank raises DistributedError; its own pieces hold step 1's
    update and every other parameter is still step 0's result."""
    import time
    source = optimizer_ir("momentum", False)
    sharded = _optim.ShardedOptimizer(source, comm, mode="broadcast_params")
    rng = np.random.default_rng(5)
    params = [rng.standard_normal(p["shape"]).astype(dtype_of(p["dtype"]))
              for p in sharded.params]
    local = make_states(sharded.local_params)
    sharded.init_states(local)
    sharded.step(params, [gradient(rng, p) for p in sharded.params], local)
    after_first = [x.copy() for x in params]
    grads = [gradient(rng, p) for p in sharded.params]
    start = time.monotonic()
    try:
        sharded.step(params, grads, local)
        error = ""
    except _optim.DistributedError as e:
        error = str(e)
    elapsed = time.monotonic() - start
    owned = {piece[0] for piece in sharded.pieces()}
    others_unchanged = all(np.array_equal(params[i], after_first[i])
                           for i in range(len(params)) if i not in owned)
    own_updated = all(not np.array_equal(params[i], after_first[i])
                      for i in owned)
    return {"rank": comm.rank, "error": error, "elapsed": elapsed,
            "timeout": comm.timeout, "others_unchanged": others_unchanged,
            "own_updated": own_updated, "failure": comm.failure}


def main():
    comm = _optim.Communicator.world(timeout=60.0)
    if sys.argv[1] == "amp":
        for mode in ("zero", "broadcast_params"):
            print("RESULT " + json.dumps(mixed_precision(comm, mode)),
                  flush=True)
        return
    if sys.argv[1] in ("refused", "communicator", "failure"):
        run = {"refused": refused_step, "communicator": communicator,
               "failure": exchange_failure}[sys.argv[1]]
        print("RESULT " + json.dumps(run(comm)), flush=True)
        return
    specs = _optim.rule_specs()
    cases = []
    what = sys.argv[1]
    if what == "rules":
        mode = sys.argv[2]
        for rule in sorted(specs):
            cases.append((rule, specs[rule]["sparse_grad"], mode, "none"))
    elif what == "reductions":
        for rule in ("adam_weight_decay", "momentum"):
            for gradients in ("sum", "mean"):
                cases.append((rule, False, "zero", gradients))
                cases.append((rule, False, "broadcast_params", gradients))
    for rule, sparse, mode, gradients in cases:
        try:
            result = run_case(comm, rule, sparse, mode, gradients)
        except Exception as e:  # reported to the test, which fails on it
            result = {"rule": rule, "mode": mode, "rank": comm.rank,
                      "error": "%s: %s" % (type(e).__name__, e)}
        print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
