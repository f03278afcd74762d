"""Optimizer weight sharding of optim_mlir.nn (``semi_auto_parallel`` with
``enable_parallel_optimizer=True``: the states cut into pieces, the
runtime's mode ``zero``): the cases of test_nn_distributed.py's ZeRO tests,
built and stepped the same way by this worker under ``mpirun`` and by the
test in one process.

``nn_zero.py <outdir> <ckptdir> <spec>...``; a spec is ``<mode>:<how>:<case>``
with mode ``zero`` (semi_auto_parallel) or ``dp`` (data_parallel), how
``run`` (STEPS steps), ``save`` (the same, with ``save_checkpoint`` to
``<ckptdir>/<case>.ckpt.npz`` after CKPT_STEP steps) or ``resume`` (built
anew, that file loaded, run on to STEPS).  Each writes
``<outdir>/<case>.<mode>-<how>.rank<r>.npz``: the parameters after each
step (``step<k>/<name>``) and the gathered state dict at the end
(nn_cases.flat), and a ``ZERO`` record of what this rank holds."""

import math
import os
import sys

import numpy as np

import nn_cases as C
from optim_mlir import nn

STEPS = 3
CKPT_STEP = 2

PARAMS = [("dense.weight", (40, 24)), ("conv.weight", (4, 8, 9)),
          ("proj.weight", (33, 7)), ("dense.bias", (24,)),
          ("norm.gamma", (24,)), ("norm.beta", (24,)),
          ("head.weight", (17, 19))]
GROUPS = [
    {"params": ["dense.weight", "conv.weight"], "lr": "list",
     "weight_decay": 0.02, "grad_centralization": True},
    {"params": ["proj.weight", "norm.gamma", "head.weight"],
     "weight_decay": 0.0},
    {"params": ["dense.bias", "norm.beta"], "lr": "schedule",
     "weight_decay": 0.05},
]
ORDER = ["head.weight", "dense.bias", "conv.weight", "norm.gamma",
         "dense.weight", "proj.weight", "norm.beta"]

# "<rule id of nn_cases.RULES>/<config>": plain (float32, WarmUpLR or a
# constant rate, weight decay, a static loss scale), amp (float16
# parameters with float32 master weights), groups (own rates: a list and a
# schedule, own weight decays, centralization, order_params), dynamic (a
# DynamicLossScaleUpdateCell; an inf in step 1's gradients), sparse (row
# gradients, duplicate rows included; get_lr() before the first step
# compiles the step for dense gradients first, and the first step again for
# the rows, with other pieces).
CASES = ("Adam/plain", "AdamWeightDecay/plain", "Momentum/plain",
         "Lamb/plain", "AdaFactor/plain", "LARS/plain", "AdamWeightDecay/amp",
         "Adam/groups", "Adam/dynamic", "LazyAdam/sparse", "Adam/sparse")
# The cases whose every parameter goes whole (whole-tensor rules, rows of
# a compiled sparse step); Adam's sparse rows step as dense gradients.
WHOLE_CASES = ("Lamb/plain", "AdaFactor/plain", "LARS/plain",
               "LazyAdam/sparse")
CKPT_CASES = ("Adam/groups", "AdamWeightDecay/amp", "Adam/dynamic")
SCALE = 256.0


def build(case):
    """The optimizer of ``case`` over new parameters (the same values in
    every process) and its cell (None without one)."""
    rule_id, config = case.split("/")
    _, factory, takes_ls, dynamic, _, _ = C.RULES[C.RULE_IDS.index(rule_id)]
    rng = np.random.default_rng(77 + C.RULE_IDS.index(rule_id) * 10 +
                                len(config))
    params = [nn.Parameter(rng.standard_normal(shape).astype(np.float32),
                           name) for name, shape in PARAMS]
    kw = {"weight_decay": 0.01}
    cell = None
    if config == "amp":
        params = [nn.Parameter(p.data.astype(np.float16), p.name)
                  for p in params]
        kw["master_weights"] = True
    if config == "groups":
        by_name = {p.name: p for p in params}
        groups = []
        for g in GROUPS:
            group = {"params": [by_name[n] for n in g["params"]],
                     "weight_decay": g["weight_decay"]}
            if g.get("grad_centralization"):
                group["grad_centralization"] = True
            if g.get("lr") == "list":
                group["lr"] = np.array(C.GROUP_LIST)
            elif g.get("lr") == "schedule":
                group["lr"] = nn.ExponentialDecayLR(0.02, 0.9, 3)
            groups.append(group)
        groups.append({"order_params": [by_name[n] for n in ORDER]})
        params = groups
        kw["learning_rate"] = C.GLOBAL_LIST
    else:
        kw["learning_rate"] = nn.WarmUpLR(0.01, 3) if dynamic else 0.01
    if config == "dynamic":
        cell = nn.DynamicLossScaleUpdateCell(SCALE, 2.0, 2)
        kw["loss_scale"] = cell
    elif takes_ls:
        kw["loss_scale"] = 2.0
    return factory(params, **kw), cell


def gradients(opt, case, step):
    rule_id, config = case.split("/")
    rng = np.random.default_rng(2000 + step * 7 + C.RULE_IDS.index(rule_id))
    scale = SCALE if config == "dynamic" else 1.0
    if config == "sparse":
        out = []
        for p in opt.parameters:
            idx = rng.integers(0, p.shape[0], size=p.shape[0] // 2 + 2)
            vals = rng.standard_normal((idx.size,) + p.shape[1:])
            out.append((idx.astype(np.int32), vals.astype(p.dtype)))
        return tuple(out)
    out = [(rng.standard_normal(p.shape) * scale).astype(p.dtype)
           for p in opt.parameters]
    if config == "dynamic" and step == 1:
        out[2].reshape(-1)[5] = np.inf
    return tuple(out)


def run(opt, case, steps=STEPS, start=0, record=None):
    """Steps ``opt`` from ``start`` to ``steps``; returns each step's flag,
    learning rate and loss scale; ``record``: a dict that gets the
    parameters after each step."""
    out = []
    if case.endswith("/sparse") and start == 0:
        opt.get_lr()
    for step in range(start, steps):
        flag = opt.broadcast_params(opt(gradients(opt, case, step)))
        lr = opt.get_lr()
        out.append([bool(flag), list(lr) if isinstance(lr, tuple) else [lr],
                    float(opt.loss_scale), int(opt.global_step)])
        if record is not None:
            for p in opt.parameters:
                record["step%d/%s" % (step, p.name)] = p.asnumpy()
    return out


def state_elements(opt):
    """The elements of the state arrays this rank holds, and of every
    state whole."""
    held = whole = 0
    for c, attr in opt._state_attrs:
        for i, s in enumerate(getattr(opt, attr)):
            held += int(s.size)
            whole += math.prod(opt._full_state_spec(c, i)[0])
    return held, whole


def set_mode(mode):
    nn.reset_auto_parallel_context()
    nn.set_auto_parallel_context(
        parallel_mode="semi_auto_parallel" if mode == "zero"
        else "data_parallel", enable_parallel_optimizer=True,
        parallel_optimizer_config={"parallel_optimizer_threshold": 0})


def _outcome(fn):
    try:
        return {"value": fn()}
    except Exception as e:  # recorded for the test
        return {"error": type(e).__name__, "message": str(e)}


def checks(outdir, rank, size):
    """What optimizer weight sharding refuses and takes, recorded for the
    test (CHECK records)."""
    def params(n, size_=6):
        rng = np.random.default_rng(5)
        return [nn.Parameter(rng.standard_normal((size_, 5)).astype(
            np.float32), "p%d" % i) for i in range(n)]

    def rows_refused():
        set_mode("zero")
        opt = nn.FTRL(params(4))
        grads = tuple((np.array([0, 2], np.int32),
                       np.ones((2, 5), np.float32)) for _ in range(4))
        return opt(grads)

    def shard_size(value):
        def build():
            set_mode("zero")
            nn.set_auto_parallel_context(parallel_optimizer_config={
                "optimizer_weight_shard_size": value})
            return nn.Adam(params(4)).state_pieces
        return build

    def fewer_parameters():
        # One parameter split over the ranks: allowed here (data_parallel
        # refuses fewer parameters than ranks); the result of one process.
        nn.reset_auto_parallel_context()
        ref = nn.AdamWeightDecay(params(1, 64), weight_decay=0.1)
        set_mode("zero")
        opt = nn.AdamWeightDecay(params(1, 64), weight_decay=0.1)
        for step in range(2):
            g = (np.full((64, 5), 0.5 + step, np.float32),)
            ref(g)
            opt(g)
        same = np.array_equal(ref.parameters[0].data, opt.parameters[0].data)
        # 16 elements: the cut between ranks 0 and 1 falls at 0 (multiples
        # of 16), so rank 0 holds no piece.
        nn.reset_auto_parallel_context()
        ref = nn.Adam([nn.Parameter(
            np.arange(16, dtype=np.float32).reshape(4, 4), "q")])
        set_mode("zero")
        small = nn.Adam([nn.Parameter(
            np.arange(16, dtype=np.float32).reshape(4, 4), "q")])
        for step in range(2):
            g = (np.full((4, 4), 1.0 - step, np.float32),)
            ref(g)
            small(g)
        small_same = np.array_equal(ref.parameters[0].data,
                                    small.parameters[0].data)
        sd = small.state_dict()["states"]["moment1"]["q"]
        return [same, list(opt.state_pieces["p0"]),
                int(opt.moment1[0].size), small_same,
                {k: list(v) for k, v in small.state_pieces.items()},
                int(small.moment1[0].size), list(sd.shape)]

    for name, fn in (("rows_refused", rows_refused),
                     ("shard_size_other", shard_size(size + 1)),
                     ("shard_size_world", shard_size(size)),
                     ("fewer_parameters", fewer_parameters)):
        C.emit(outdir, "CHECK", name, rank, _outcome(fn))


def main():
    outdir, ckptdir = sys.argv[1], sys.argv[2]
    nn.communication.init()
    rank = nn.communication.get_rank()
    size = nn.communication.get_group_size()
    for spec in sys.argv[3:]:
        if spec == "checks":
            checks(outdir, rank, size)
            continue
        mode, how, case = spec.split(":")
        set_mode(mode)
        opt, cell = build(case)
        before = state_elements(opt)[0]
        ckpt = os.path.join(ckptdir, C.file_name(case) + ".ckpt.npz")
        record = {}
        if how == "resume":
            nn.load_checkpoint(ckpt, opt)
            calls = run(opt, case, start=CKPT_STEP, record=record)
        elif how == "save":
            calls = run(opt, case, steps=CKPT_STEP, record=record)
            nn.save_checkpoint(opt, ckpt)
            assert os.path.getsize(ckpt) > 0
            calls += run(opt, case, start=CKPT_STEP, record=record)
        else:
            assert how == "run", spec
            calls = run(opt, case, record=record)
        held, whole = state_elements(opt)
        compiled = opt._parts[0].compiled
        # What each state Parameter holds here: its piece (a 1-D slice, or
        # whole), or nothing.
        pieces = opt.state_pieces or {}
        shapes_ok = True
        for c, attr in opt._state_attrs:
            for i, (p, s) in enumerate(zip(opt._parameters,
                                           getattr(opt, attr))):
                full = tuple(opt._full_state_spec(c, i)[0])
                piece = pieces.get(p.name)
                if mode == "dp":
                    want = full if opt.optim_filter[i] else (0,)
                elif piece is None:
                    want = (0,)
                elif piece[2] or math.prod(full) == 0:
                    want = full
                else:
                    want = (piece[1],)
                shapes_ok &= s.shape == want
        record.update(C.flat(opt.state_dict()))
        name = "%s.%s-%s" % (case, mode, how)
        np.savez(os.path.join(outdir, "%s.rank%d.npz"
                              % (C.file_name(name), rank)), **record)
        C.emit(outdir, "ZERO", name, rank, {
            "rank": rank, "size": size, "calls": calls,
            "use_parallel": opt.use_parallel,
            "optim_filter": list(opt.optim_filter),
            "held": held, "whole": whole, "held_before_step": before,
            "shapes_ok": bool(shapes_ok),
            "state_pieces": None if opt.state_pieces is None else
            {k: list(v) for k, v in opt.state_pieces.items()},
            "mode": compiled.mode,
            "pieces": [[list(p) for p in compiled.pieces(r)]
                       for r in range(size)],
            "cell": None if cell is None else [
                cell.get_loss_scale(), cell.good_steps, cell.cur_iter]})


if __name__ == "__main__":
    main()
