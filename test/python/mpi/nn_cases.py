"""The optimizers of the parallel-optimizer tests (test_nn_distributed.py):
every optim_mlir.nn class in one configuration over 2 ranks, the
configurations on a few classes over 3 ranks, built and stepped the same
way by the MPI workers (under the parallel optimizer) and by the test
itself (one process).  Everything is a function of the case and the step:
the parameters, the gradients and the hyper-parameter changes."""

import hashlib
import json
import os

import numpy as np

from optim_mlir import nn

STEPS = 3

UNGROUPED = [("dense.weight", (6, 16)), ("conv.weight", (2, 16, 3)),
             ("proj.weight", (5, 3)), ("dense.bias", (7,)),
             ("norm.gamma", (1,)), ("norm.beta", (3,)), ("empty", (0,))]

GROUPS = [
    {"params": [("dense.weight", (6, 16)), ("conv.weight", (2, 16, 3))],
     "lr": "list", "weight_decay": 0.02, "grad_centralization": True},
    {"params": [("proj.weight", (5, 3)), ("norm.gamma", (1,)),
                ("rank1", (16,))],
     "weight_decay": 0.0, "grad_centralization": True},
    {"params": [("dense.bias", (7,))], "lr": "schedule"},
]
ORDER = ["dense.bias", "conv.weight", "norm.gamma", "dense.weight",
         "proj.weight", "rank1"]

# Sparse (row) gradients: every parameter's, duplicate rows included.
SPARSE = [("emb.a", (9, 4)), ("emb.b", (7, 16)), ("emb.c", (5,)),
          ("dense.weight", (6, 3)), ("emb.gamma", (8, 2))]

GLOBAL_LIST = [0.01, 0.008, 0.006, 0.004]
GROUP_LIST = [0.02, 0.015, 0.01, 0.005]


class PythonLR(nn.LearningRateSchedule):
    """A schedule without a compiled form: evaluated in Python, written
    into the step's table every step."""

    def construct(self, global_step):
        return 0.02 / (1.0 + global_step)


def _lars(ps, **kw):
    return nn.LARS(nn.Momentum(ps, momentum=0.9, **kw), coefficient=0.01,
                   lars_filter=lambda p: True)


# (id, factory(params, **kw), takes loss_scale, takes dynamic / group lr,
#  hyper-parameter changed at step 2 (name, value) or None, sparse rows).
RULES = [
    ("SGD", lambda ps, **kw: nn.SGD(ps, momentum=0.9, dampening=0.1, **kw),
     True, True, ("momentum", 0.8), False),
    ("SGD-nesterov", lambda ps, **kw: nn.SGD(ps, momentum=0.9, nesterov=True,
                                             **kw),
     True, True, None, False),
    ("Momentum", lambda ps, **kw: nn.Momentum(ps, momentum=0.9, **kw),
     True, True, ("momentum", 0.7), False),
    ("Momentum-nesterov",
     lambda ps, **kw: nn.Momentum(ps, momentum=0.8, use_nesterov=True, **kw),
     True, True, None, False),
    ("Adam", lambda ps, **kw: nn.Adam(ps, beta1=0.8, beta2=0.95, eps=1e-6,
                                      **kw),
     True, True, ("beta2", 0.9), True),
    ("Adam-lazy", lambda ps, **kw: nn.Adam(ps, use_lazy=True, **kw),
     True, True, None, True),
    ("Adam-amsgrad", lambda ps, **kw: nn.Adam(ps, use_amsgrad=True, eps=1e-6,
                                              **kw),
     True, True, ("eps", 1e-5), False),
    ("AdamOffload", lambda ps, **kw: nn.AdamOffload(ps, **kw),
     True, True, None, False),
    ("AdamWeightDecay",
     lambda ps, **kw: nn.AdamWeightDecay(ps, beta1=0.85, beta2=0.99, **kw),
     False, True, ("beta1", 0.8), False),
    ("Lamb", lambda ps, **kw: nn.Lamb(ps, beta1=0.9, beta2=0.99, **kw),
     False, True, ("eps", 1e-5), False),
    ("LARS", _lars, True, True, None, False),
    ("Adagrad", lambda ps, **kw: nn.Adagrad(ps, accum=0.1, **kw),
     True, True, None, False),
    ("RMSProp", lambda ps, **kw: nn.RMSProp(ps, decay=0.9, momentum=0.5,
                                            epsilon=1e-6, **kw),
     True, True, ("decay", 0.8), False),
    ("RMSProp-centered",
     lambda ps, **kw: nn.RMSProp(ps, decay=0.8, epsilon=1e-6, centered=True,
                                 **kw),
     True, True, None, False),
    ("FTRL", lambda ps, **kw: nn.FTRL(ps, initial_accum=0.1, l1=0.001,
                                      l2=0.01, **kw),
     True, False, ("l2", 0.02), True),
    ("ProximalAdagrad",
     lambda ps, **kw: nn.ProximalAdagrad(ps, accum=0.1, l1=0.001, l2=0.01,
                                         **kw),
     True, True, ("l1", 0.002), True),
    ("LazyAdam", lambda ps, **kw: nn.LazyAdam(ps, **kw),
     True, True, ("beta1", 0.85), True),
    ("AdaMax", lambda ps, **kw: nn.AdaMax(ps, beta1=0.9, beta2=0.99,
                                          eps=1e-6, **kw),
     True, True, None, False),
    ("Adadelta", lambda ps, **kw: nn.Adadelta(ps, rho=0.9, epsilon=1e-6,
                                              **kw),
     True, True, ("rho", 0.8), False),
    ("ASGD", lambda ps, **kw: nn.ASGD(ps, lambd=1e-3, alpha=0.75, t0=5.0,
                                      **kw),
     False, True, None, False),
    ("Rprop", lambda ps, **kw: nn.Rprop(ps, etas=(0.5, 1.2),
                                        step_sizes=(1e-6, 0.5), **kw),
     False, True, None, False),
    ("AdaFactor", lambda ps, **kw: nn.AdaFactor(
        ps, relative_step=False, scale_parameter=False, **kw),
     True, True, ("decay_rate", 0.7), False),
] + [(name, (lambda cls: lambda ps, **kw: cls(ps, **kw))(cls), True, True,
      None, False)
     for name, cls in sorted(nn._RECORD_CLASSES.items())]

RULE_IDS = [r[0] for r in RULES]
CONFIGS = ("plain", "groups", "set", "sparse", "flat", "amp")
# The rules also run over flattened parameters (flatten_weights with small
# buffers: the buffers are the parameters dealt out to the ranks).
FLAT_RULES = ("SGD", "Adam", "AdamWeightDecay", "Lamb", "AdaFactor",
              "Rprop", "Lion")
# The rules also run over float16 parameters with float32 master weights.
AMP_RULES = ("Momentum", "Adam", "AdamWeightDecay", "Lamb")


# The cases ("<rule id>/<configuration>") of each job.  Over 2 ranks every
# rule once; the checkpoint cases are saved there after CKPT_STEP steps.
CKPT_CASES = ("Adam/groups", "LazyAdam/sparse", "Lion/set")
CKPT_STEP = 2
TWO_RANK_CASES = tuple(
    next((c for c in CKPT_CASES if c.split("/")[0] == rule), rule + "/plain")
    for rule in RULE_IDS)
# Over 3 ranks, each configuration on a few rules (the checkpoint cases
# resume there too): groups with their own learning-rate list and schedule,
# weight decays, centralization and order_params; values set between steps
# (a constant rate, a group's weight decay, a hyper-parameter, a Python
# schedule); sparse rows; flattened parameters; float16 parameters with
# float32 master weights.
THREE_RANK_CASES = ("Adam/groups", "RMSProp-centered/groups", "LARS/groups",
                    "SGD/set", "Lion/set", "Rprop/set", "LazyAdam/sparse",
                    "FTRL/sparse", "AdaFactor/flat", "Lamb/flat",
                    "AdamWeightDecay/amp", "Momentum/amp")


def cases():
    """Every case the tests run (each once)."""
    out = []
    for case in TWO_RANK_CASES + THREE_RANK_CASES:
        if case not in out:
            out.append(case)
    return out


def check_case(case):
    """Raises unless the rule takes the configuration of ``case``."""
    rule_id, config = case.split("/")
    rule = RULES[RULE_IDS.index(rule_id)]
    assert config in CONFIGS, case
    assert config != "sparse" or rule[5], case
    assert config != "flat" or rule_id in FLAT_RULES, case
    assert config != "amp" or rule_id in AMP_RULES, case


def _params(specs, rng):
    return [nn.Parameter(rng.standard_normal(shape).astype(np.float32), name)
            for name, shape in specs]


def build(case):
    """The optimizer of ``case`` ("<rule>/<config>") over new parameters
    (the same values in every process)."""
    rule_id, config = case.split("/")
    _, factory, takes_ls, dynamic, _, _ = RULES[RULE_IDS.index(rule_id)]
    rng = np.random.default_rng(RULE_IDS.index(rule_id) * 10 +
                                CONFIGS.index(config))
    kw = {}
    if config == "plain":
        params = _params(UNGROUPED, rng)
        kw["learning_rate"] = nn.WarmUpLR(0.01, 3) if dynamic else 0.01
        kw["weight_decay"] = 0.01
        if takes_ls:
            kw["loss_scale"] = 4.0
        return factory(params, **kw)
    if config == "flat":
        params = _params(UNGROUPED[:-1], rng)
        # Buffers of at most 200 bytes: 3 buffers for 6 parameters.
        nn.flatten_weights(params, fusion_size=200)
        kw["learning_rate"] = nn.WarmUpLR(0.01, 3) if dynamic else 0.01
        kw["weight_decay"] = 0.01
        if takes_ls:
            kw["loss_scale"] = 2.0
        opt = factory(params, **kw)
        assert opt._use_flattened_params and len(opt._parameters) >= 3
        return opt
    if config == "amp":
        params = [nn.Parameter(p.data.astype(np.float16), p.name)
                  for p in _params(UNGROUPED, rng)]
        kw["learning_rate"] = 0.01
        kw["weight_decay"] = 0.01
        if takes_ls:
            kw["loss_scale"] = 2.0
        return factory(params, master_weights=True, **kw)
    if config == "sparse":
        params = _params(SPARSE, rng)
        kw["learning_rate"] = nn.WarmUpLR(0.01, 3) if dynamic else 0.01
        kw["weight_decay"] = 0.01
        if takes_ls:
            kw["loss_scale"] = 2.0
        return factory(params, **kw)
    groups, by_name = [], {}
    for k, g in enumerate(GROUPS):
        ps = _params(g["params"], rng)
        by_name.update({p.name: p for p in ps})
        group = {"params": ps}
        for key in ("weight_decay", "grad_centralization"):
            if key in g:
                group[key] = g[key]
        if rule_id == "AdaFactor":
            # Adafactor's factored update takes no centralization.
            group.pop("grad_centralization", None)
        if dynamic and config == "groups":
            if g.get("lr") == "list":
                group["lr"] = np.array(GROUP_LIST)
            elif g.get("lr") == "schedule":
                group["lr"] = nn.ExponentialDecayLR(0.02, 0.9, 3)
        elif dynamic and config == "set":
            if k == 0:
                group["lr"] = 0.02
            elif k == 2:
                group["lr"] = PythonLR()
        groups.append(group)
    groups.append({"order_params": [by_name[n] for n in ORDER]})
    if config == "groups":
        kw["learning_rate"] = GLOBAL_LIST if dynamic else 0.01
    else:
        kw["learning_rate"] = 0.01
    kw["weight_decay"] = 0.01
    if takes_ls:
        kw["loss_scale"] = 2.0
    return factory(groups, **kw)


def change(opt, case, step):
    """The runtime changes of configuration "set" before step ``step``: a
    constant learning rate, a group's weight decay, a hyper-parameter."""
    rule_id, config = case.split("/")
    if config != "set" or step != 2:
        return
    hyper = RULES[RULE_IDS.index(rule_id)][4]
    if isinstance(opt, nn.LARS):
        opt.opt.learning_rate = 0.004
    else:
        opt.learning_rate = 0.004
        opt.set_weight_decay(0.03, group=0)
    if hyper is not None:
        opt.set_hyper_param(*hyper)


def gradients(opt, case, step):
    """The gradients of ``step`` (dense, or (indices, values) rows)."""
    rule_id, config = case.split("/")
    rng = np.random.default_rng(1000 + step * 7 + RULE_IDS.index(rule_id))
    out = []
    for p in opt.parameters:
        if config == "sparse":
            idx = rng.integers(0, p.shape[0], size=p.shape[0] // 2 + 2)
            vals = rng.standard_normal((idx.size,) + p.shape[1:])
            out.append((idx.astype(np.int32), vals.astype(p.dtype)))
        else:
            out.append(rng.standard_normal(p.shape).astype(p.dtype))
    return tuple(out)


def run(opt, case, steps=STEPS, start=0, lrs=None):
    """Steps ``opt`` from step ``start`` to ``steps``; returns the flags.
    ``lrs``: a list that gets ``get_lr()`` after each step."""
    flags = []
    for step in range(start, steps):
        change(opt, case, step)
        flags.append(opt.broadcast_params(opt(gradients(opt, case, step))))
        if lrs is not None:
            lr = opt.get_lr()
            lrs.append(list(lr) if isinstance(lr, tuple) else [lr])
    return flags


def ir_digest(opt):
    """The SHA-256 of the optimizer's compiled IR text."""
    return hashlib.sha256("\n".join(opt.compiled_ir()).encode()).hexdigest()


def flat(state_dict):
    """A state dict's arrays and numbers as one flat dict (for .npz files
    and comparisons)."""
    out = {"global_step": np.array(state_dict["global_step"])}
    for k, v in state_dict["parameters"].items():
        out["param/" + k] = v
    for state, entries in state_dict["states"].items():
        for k, v in entries.items():
            out["state/%s/%s" % (state, k)] = v
    for key in ("learning_rate", "weight_decay", "hyper_params",
                "loss_scale"):
        for k, v in state_dict.get(key, {}).items():
            out["%s/%s" % (key, k)] = np.array(v)
    return out


def init_parallel():
    """MindSpore's data-parallel set-up with the parallel optimizer over the
    job; returns (rank, size)."""
    nn.communication.init()
    nn.set_auto_parallel_context(parallel_mode="data_parallel",
                                 enable_parallel_optimizer=True)
    return nn.communication.get_rank(), nn.communication.get_group_size()


def file_name(case):
    return case.replace("/", "__")


def emit(outdir, kind, name, rank, record):
    """Writes the record to ``<outdir>/<kind>.<name>.rank<rank>.json`` (the
    test reads the files, not the output, whose lines of several ranks may
    run together)."""
    text = json.dumps(record)
    with open(os.path.join(outdir, "%s.%s.rank%d.json"
                           % (kind, file_name(name), rank)), "w") as f:
        f.write(text)


def read_records(outdir, kind):
    """The records ``emit`` wrote: {(name, rank): record}."""
    out = {}
    for entry in os.listdir(outdir):
        if entry.startswith(kind + ".") and entry.endswith(".json"):
            name, _, rank = entry[len(kind) + 1:-5].rpartition(".rank")
            with open(os.path.join(outdir, entry)) as f:
                out[(name.replace("__", "/"), int(rank))] = json.load(f)
    return out


# ------------------------------------------------ loss scaling and clipping
# The control cases ("<rule id>/<control>"): a DynamicLossScaleUpdateCell
# with an inf and a NaN in some steps' gradients ("dynamic"), clipping by
# the global norm, active in every step ("clip"), both ("both"), both on
# sparse rows ("sparse": checked in NumPy before the step), on float16
# parameters with master weights ("amp") and on flattened parameters
# ("flat").  CONTROL_STEPS calls; the
# gradients of call k hold BAD[k] (parameter index, value).
CONTROL_STEPS = 7
CONTROL_CKPT_STEP = 3
BAD = {1: (0, np.inf), 4: (3, np.nan), 5: (1, -np.inf)}
CONTROLS = ("dynamic", "clip", "both", "sparse", "amp", "flat")
CONTROL_RULES = ("Adam", "AdamWeightDecay", "Momentum", "Lamb", "Lion",
                 "LazyAdam")
CONTROL_CASES = ("Adam/dynamic", "AdamWeightDecay/dynamic",
                 "Momentum/dynamic", "Lamb/dynamic",
                 "Adam/clip", "AdamWeightDecay/clip", "Momentum/clip",
                 "Lamb/clip", "Lion/both", "AdamWeightDecay/both",
                 "LazyAdam/sparse", "Momentum/amp", "Lamb/flat")
# Saved over 2 ranks after CONTROL_CKPT_STEP calls (one skipped), resumed
# over 3 ranks and in one process.
CONTROL_CKPT_CASES = ("Adam/dynamic", "Lamb/both")
MAX_GRAD_NORM = 0.5
# The scale of the gradients of the cases with a cell (scaled gradients).
SCALE = 1024.0


def control_cases():
    out = list(CONTROL_CASES)
    out += [c for c in CONTROL_CKPT_CASES if c not in out]
    return out


def is_dynamic(case):
    return case.split("/")[1] != "clip"


def clips(case):
    return case.split("/")[1] != "dynamic"


def build_control(case):
    """The optimizer of control case ``case`` over new parameters (the same
    values in every process); its cell (None for "clip")."""
    rule_id, control = case.split("/")
    assert rule_id in CONTROL_RULES and control in CONTROLS, case
    _, factory, takes_ls, dynamic, _, sparse = RULES[RULE_IDS.index(rule_id)]
    assert control != "sparse" or sparse, case
    rng = np.random.default_rng(500 + RULE_IDS.index(rule_id) * 10 +
                                CONTROLS.index(control))
    specs = SPARSE if control == "sparse" else UNGROUPED
    params = _params(specs, rng)
    if control == "flat":
        params = params[:-1]
        # Buffers of at most 200 bytes: 3 buffers for 6 parameters.
        nn.flatten_weights(params, fusion_size=200)
    kw = {"weight_decay": 0.01}
    if control == "amp":
        params = [nn.Parameter(p.data.astype(np.float16), p.name)
                  for p in params]
        kw["master_weights"] = True
    kw["learning_rate"] = nn.WarmUpLR(0.01, 3) if dynamic else 0.01
    cell = None
    if is_dynamic(case):
        # Grows after 2 clean steps: down at calls 1, 4 and 5, up at 3.
        cell = nn.DynamicLossScaleUpdateCell(SCALE, 2.0, 2)
        kw["loss_scale"] = cell
    elif takes_ls:
        kw["loss_scale"] = 2.0
    if rule_id == "Lion":
        # A class generated from its record: clipping set before the
        # first step.
        opt = factory(params, **kw)
        if clips(case):
            opt.max_grad_norm = MAX_GRAD_NORM
        return opt, cell
    if clips(case):
        kw["max_grad_norm"] = MAX_GRAD_NORM
    return factory(params, **kw), cell


def control_gradients(opt, case, step):
    """The (scaled) gradients of call ``step``: dense or (indices, values)
    rows, an inf or NaN where BAD says (dynamic cases)."""
    rule_id, control = case.split("/")
    rng = np.random.default_rng(3000 + step * 7 + RULE_IDS.index(rule_id))
    scale = SCALE if is_dynamic(case) else 2.0
    out = []
    for p in opt.parameters:
        if control == "sparse":
            idx = rng.integers(0, p.shape[0], size=p.shape[0] // 2 + 2)
            vals = rng.standard_normal((idx.size,) + p.shape[1:]) * scale
            out.append((idx.astype(np.int32), vals.astype(p.dtype)))
        else:
            g = rng.standard_normal(p.shape) * scale
            out.append(g.astype(p.dtype))
    if is_dynamic(case) and step in BAD:
        i, value = BAD[step]
        g = out[i]
        if isinstance(g, tuple):
            g[1].reshape(-1)[-1] = value
        else:
            g.reshape(-1)[g.size // 2] = value
    return tuple(out)


def run_control(opt, cell, case, steps=CONTROL_STEPS, start=0):
    """Calls ``opt`` from call ``start`` to ``steps``; returns what each
    call reports: the flag, ``overflow``, ``grad_norm``, ``loss_scale``,
    the cell's scale and counters, ``global_step`` and ``get_lr()``."""
    out = []
    for step in range(start, steps):
        flag = opt.broadcast_params(opt(control_gradients(opt, case, step)))
        lr = opt.get_lr()
        out.append({
            "flag": bool(flag), "overflow": opt.overflow,
            "grad_norm": opt.grad_norm, "loss_scale": float(opt.loss_scale),
            "cell": None if cell is None else [
                cell.get_loss_scale(), cell.good_steps, cell.cur_iter,
                cell.last_overflow_iter],
            "global_step": int(opt.global_step),
            "lr": list(lr) if isinstance(lr, tuple) else [lr]})
    return out
