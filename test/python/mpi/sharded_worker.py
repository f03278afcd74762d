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


def optimizer_ir(rule, sparse, control=""):
    lr = "learning_rate 1.0e-02 : f64" + control
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


def states_match(sharded, whole, ref_states, local, equal=np.array_equal):
    """Whether each local state equals the reference state's slice (a
    state of 0 elements, a piece's absent master, matches an empty one)."""
    nstates = len(whole.state_names)
    same = True
    for k, (param, offset, count, entire) in enumerate(sharded.pieces()):
        for s in range(nstates):
            expected = ref_states[param * nstates + s].reshape(-1)
            if expected.size and not entire:
                expected = expected[offset:offset + count]
            same &= bool(equal(local[k * nstates + s].reshape(-1),
                               expected))
    return bool(same)


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


def reduce_over_ranks(per_rank, gradients, comm):
    """This rank's gradients and the reference's: every rank's own and
    their sum in rank order (or mean) with a reduction, else rank 0's."""
    if gradients == "none":
        return per_rank[0], per_rank[0]
    reduced = []
    for i in range(len(per_rank[0])):
        total = per_rank[0][i].copy()
        for r in range(1, comm.size):
            total = total + per_rank[r][i]
        if gradients == "mean":
            total = total / total.dtype.type(comm.size)
        reduced.append(total)
    return per_rank[comm.rank], reduced


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
        mine, reduced = reduce_over_ranks(per_rank, gradients, comm)
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


# Gradient control: (name, the optimizer's control, a mixed-precision
# step, bit-identical to one process). Clipping that acts depends on the
# global norm, which the ranks add up in another order than one process's
# chunks (a relative difference of about 1e-16 in the clip factor); the
# others are bit for bit.
CONTROLS = [
    ("dynamic", " loss_scale 1024.0 dynamic<growth_factor = 2.0, "
     "backoff_factor = 0.5, growth_interval = 2, min_scale = 1.0>"
     " max_grad_norm 1.0e+06", False, True),
    ("dynamic_amp", " loss_scale 256.0 dynamic<growth_factor = 2.0, "
     "backoff_factor = 0.25, growth_interval = 3, min_scale = 0.0>", True,
     True),
    ("clip", " loss_scale 8.0 max_grad_norm 0.05", False, False),
]


def controlled(comm, rule, control, amp, mode, gradients):
    """Clipping and dynamic loss scaling: steps with an inf and a NaN in
    one rank's gradient, a max_grad_norm changed at run time, and a
    restored loss scale, against one process."""
    if amp:
        source = AMP_IR.replace("learning_rate 1.0e-02 : f64",
                                "learning_rate 1.0e-02 : f64" + control)
    else:
        source = optimizer_ir(rule, False, control)
    sharded = _optim.ShardedOptimizer(source, comm, mode=mode,
                                      gradients=gradients)
    whole = _optim.CompiledOptimizer(source)
    rng = np.random.default_rng(5)

    def draw(p, scale=1.0):
        if p["dtype"] == "bfloat16":
            return bf16_bits(rng, p["shape"])
        return (scale * rng.standard_normal(p["shape"])).astype(
            dtype_of(p["dtype"]))
    params = [draw(p) for p in whole.params]
    ref = [x.copy() for x in params]
    ref_states = make_states(whole.params)
    local = make_states(sharded.local_params)
    if amp:
        whole.init_states(ref_states, params=ref)
        sharded.init_states(local, params=params)
    else:
        whole.init_states(ref_states)
        sharded.init_states(local)
    statuses, worst = [], 0.0
    for step in range(8):
        if step == 5:
            for o in (sharded, whole):
                if "max_grad_norm 0.05" in control:
                    o.set_hyper_param(0, "max_grad_norm", 0.02)
                if "dynamic" in control:
                    o.set_loss_scale_state(512.0, 1)
        per_rank = [[draw(p, 4.0) for p in whole.params]
                    for _ in range(comm.size)]
        # An inf (step 2) and, with dynamic scaling, a NaN (step 4) in the
        # last rank's gradient. (Clipping alone steps with them: a factor
        # of inf, and NaN where the inf was, as torch's clip_grad_norm_.)
        bad = {2: np.inf, 4: np.nan}.get(step)
        if "dynamic" not in control and step == 4:
            bad = None
        if bad is not None:
            g = per_rank[-1 if gradients != "none" else 0][1]
            if g.dtype == np.uint16:
                g.reshape(-1)[3] = 0x7f80 if bad == np.inf else 0x7fc0
            else:
                g.reshape(-1)[3] = bad
        mine, reduced = reduce_over_ranks(per_rank, gradients, comm)
        sharded.step(params, mine, local)
        whole.step(ref, reduced, ref_states)
        a, b = sharded.step_status(), whole.step_status()
        statuses.append((a, b, sharded.global_step, whole.global_step))
        for x, y in zip(params, ref):
            if x.dtype != np.uint16:
                both = np.isfinite(x) & np.isfinite(y)
                scale = max(float(np.max(np.abs(y[both]), initial=0)), 1e-30)
                worst = max(worst, float(np.max(np.abs(x - y)[both],
                                                initial=0)) / scale)
    exact = all(np.array_equal(a, b, equal_nan=True)
                for a, b in zip(params, ref))

    def close(a, b):
        """Bit for bit for bfloat16 bits; else to a relative 1e-6, with
        NaNs and infs in the same places."""
        if a.dtype == np.uint16:
            return np.array_equal(a, b)
        return np.allclose(a, b, rtol=1e-6, atol=1e-30, equal_nan=True)
    return {"case": "control", "control": control, "rule": rule,
            "mode": sharded.mode, "gradients": gradients,
            "rank": comm.rank, "params_equal": bool(exact),
            "states_equal": bool(states_match(
                sharded, whole, ref_states, local,
                lambda a, b: np.array_equal(a, b, equal_nan=True))),
            "params_close": all(close(a, b) for a, b in zip(params, ref)),
            "states_close": bool(states_match(sharded, whole, ref_states,
                                              local, close)),
            "nonfinite": int(sum(np.count_nonzero(~np.isfinite(x))
                                 for x in params if x.dtype != np.uint16)),
            "worst_relative": worst,
            # The loss scale, its count, the flag and the global step are
            # exact; the norm and the clip factor to a relative 1e-12.
            "status_equal": all(
                a[k] == b[k] for a, b, _, _ in statuses
                for k in ("loss_scale", "good_steps", "found_inf")) and
            all(x == y for _, _, x, y in statuses),
            "norm_relative": max(relative(a[k], b[k])
                                 for a, b, _, _ in statuses
                                 for k in ("grad_norm", "clip_factor")),
            "found_inf": [a["found_inf"] for a, _, _, _ in statuses],
            "loss_scale": [a["loss_scale"] for a, _, _, _ in statuses],
            "clip_factor": [a["clip_factor"] for a, _, _, _ in statuses],
            "global_step": sharded.global_step}


def relative(x, y):
    """|x - y| / |y|, 0 for equal values (infs and NaNs included)."""
    if x == y or (x != x and y != y):
        return 0.0
    return abs(x - y) / abs(y) if y not in (0.0,) else float("inf")


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
    if sys.argv[1] == "control":
        for name, control, amp, _ in CONTROLS:
            for rule in (("adam_weight_decay",) if amp else
                         ("adam_weight_decay", "lamb", "momentum")):
                for mode in ("zero", "broadcast_params"):
                    # (A reduction takes float32 and float64 gradients.)
                    for gradients in (("none",) if amp else
                                      ("none", "sum")):
                        try:
                            result = controlled(comm, rule, control, amp,
                                                mode, gradients)
                            result["name"] = name
                        except Exception as e:  # the test fails on it
                            result = {"name": name, "rule": rule,
                                      "mode": mode, "rank": comm.rank,
                                      "error": "%s: %s" % (
                                          type(e).__name__, e)}
                        print("RESULT " + json.dumps(result), flush=True)
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
