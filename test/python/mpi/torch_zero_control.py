"""Worker: ZeroRedundancyOptimizer with clipping and loss scaling.

``torch_zero_control.py steps CASE...`` steps, for each case, the wrapper
and, in the same process, the unsharded ``optim_mlir.torch`` optimizer with
the same ``max_grad_norm`` / ``loss_scale`` on the same gradients (the same
on every rank; the gradients are the unscaled random ones times the
optimizer's ``loss_scale``), and torch.optim's eager class after
``torch.nn.utils.clip_grad_norm_`` where the case clips (skipping the
steps with an inf, as GradScaler does, where it scales dynamically). A
case is
``CLASS:KIND``:

- ``dynamic``: ``DynamicLossScale(2**10, growth_interval=3)``; an inf in
  one parameter's gradient at steps 3 and 7, a NaN at step 8;
- ``clip``: ``max_grad_norm=0.5`` (the gradients' norm is about 12), set
  to 1.5 before step 3;
- ``clip+static``: the same with ``loss_scale=128.0``;
- ``clip+dynamic``: ``max_grad_norm=0.5`` and the dynamic scale of
  ``dynamic``, with its infs.

Each rank reports ``CTRL {json}`` per case: per step the wrapper's and the
unsharded optimizer's ``found_inf``, ``loss_scale`` and ``grad_norm``,
whether a skipped step left the parameters and the rank's states as they
were, whether parameters and owned states are bit-identical to the
unsharded optimizer's, and distances to it and to the eager class.

``torch_zero_control.py save DIR CLASS[:clip]...`` steps SAVED times with
a dynamic scale (an inf at step 1), consolidates on the last rank and saves
``DIR/CASE.pt``; ``resume DIR CASE...`` loads it at another world size into
the wrapper and into the unsharded optimizer, and steps RESUMED more times
next to an unsharded run from the start (``RES`` lines). ``errors`` runs the
argument checks (``ERR`` lines: the wrapper's and the unsharded class's
exception).
"""

import copy
import inspect
import os
import sys

import torch

import optim_mlir.torch as ot
from optim_mlir._optim import Communicator
from torch_zero_checkpoint import same_state
from torch_zero_parity import (ARGS, flat, gradients, groups_of, make_params,
                               report)

ZeRO = ot.ZeroRedundancyOptimizer
STEPS = 12
# Where the non-finite gradients go: (step, value); always parameter
# INF_PARAM (flat index), element 5.
INFS = {3: float("inf"), 7: float("-inf"), 8: float("nan")}
INF_PARAM = 3
CLIP, CLIP_LATER, CLIP_CHANGE_AT = 0.5, 1.5, 3
STATIC = 128.0
SAVED, RESUMED = 4, 4
SAVE_INFS = {1: float("inf"), 5: float("nan")}
# The state_dict entry of the control (docs/Python-torch.md).
CONTROL_KEY = "gradient_control"


def dynamic():
    return ot.DynamicLossScale(init_scale=2.0 ** 10, growth_factor=2.0,
                               backoff_factor=0.5, growth_interval=3)


def setup(name):
    cls = getattr(ot, name)
    kwargs = dict(ARGS.get(name, {}))
    if name == "SGD":
        kwargs["momentum"] = 0.9
    kwargs.setdefault("lr", inspect.signature(cls).parameters["lr"].default)
    return cls, kwargs


def control_args(kinds):
    out = {}
    if "clip" in kinds:
        out["max_grad_norm"] = CLIP
    if "static" in kinds:
        out["loss_scale"] = STATIC
    if "dynamic" in kinds:
        out["loss_scale"] = dynamic()
    return out


def unscaled(step, infs):
    """The step's unscaled gradients (flat), with the non-finite value of
    `infs` at that step."""
    grads = [g for group in gradients(step, False) for g in group]
    if step in infs:
        grads[INF_PARAM].view(-1)[5] = infs[step]
    return grads


def set_scaled(params, grads, scale):
    for p, g in zip(flat(params), grads):
        p.grad = g * scale


def snapshot_states(state):
    return {id(p): {k: v.clone() if torch.is_tensor(v) else copy.copy(v)
                    for k, v in s.items()} for p, s in state.items()}


def rel_diff(xs, refs):
    return max(float(((a.double() - b.double()).abs() /
                      (1e-5 + b.double().abs())).max())
               for a, b in zip(xs, refs))


def owned_pairs(zero, zp, rp, comm):
    owned = {id(p) for g in zero._partition_parameters()[comm.rank]
             for p in g["params"]}
    return [(p, q) for p, q in zip(flat(zp), flat(rp)) if id(p) in owned]


def states_same(zero, zp, ref, rp, comm):
    return all(same_state(zero.optim.state.get(p, {}), ref.state.get(q, {}))
               for p, q in owned_pairs(zero, zp, rp, comm))


def steps(comm, case):
    name, _, kind = case.partition(":")
    kinds = set(kind.split("+"))
    cls, kwargs = setup(name)
    lr = kwargs["lr"]
    zp, rp = make_params(), make_params()
    zero = ZeRO(groups_of(zp, lr), cls, **kwargs, **control_args(kinds))
    ref = cls(groups_of(rp, lr), **kwargs, **control_args(kinds))
    clip = "clip" in kinds
    eager = ep = None
    if clip and hasattr(torch.optim, name):
        ep = make_params()
        eager = getattr(torch.optim, name)(groups_of(ep, lr), **kwargs)
    infs = INFS if "dynamic" in kinds else {}
    per_step = []
    for step in range(STEPS):
        if clip and step == CLIP_CHANGE_AT:
            zero.max_grad_norm = CLIP_LATER
            ref.max_grad_norm = CLIP_LATER
        grads = unscaled(step, infs)
        scales = (zero.loss_scale, ref.loss_scale)
        set_scaled(zp, grads, zero.loss_scale)
        set_scaled(rp, grads, ref.loss_scale)
        before = [p.detach().clone() for p in flat(zp)]
        before_states = snapshot_states(zero.optim.state)
        zero.step()
        ref.step()
        record = dict(
            step=step, scale_before=scales,
            found_inf=zero.found_inf, ref_found_inf=ref.found_inf,
            loss_scale=zero.loss_scale, ref_loss_scale=ref.loss_scale,
            grad_norm=zero.grad_norm, ref_grad_norm=ref.grad_norm,
            # An independent float64 norm of the unscaled gradients.
            norm64=float(torch.stack([g.double().square().sum()
                                      for g in grads]).sum().sqrt()),
            max_grad_norm=zero.max_grad_norm,
            same_params=all(torch.equal(a, b)
                            for a, b in zip(flat(zp), flat(rp))),
            same_states=states_same(zero, zp, ref, rp, comm),
            ref_rel_diff=rel_diff(flat(zp), flat(rp)),
            unchanged=all(torch.equal(a, b)
                          for a, b in zip(before, flat(zp))) and
            snapshot_states(zero.optim.state).keys() ==
            before_states.keys() and all(
                same_state(s, before_states[id(p)])
                for p, s in zero.optim.state.items()))
        if eager is not None:
            for p, g in zip(flat(ep), grads):
                p.grad = g.clone()
            norm = torch.nn.utils.clip_grad_norm_(
                flat(ep), CLIP if step < CLIP_CHANGE_AT else CLIP_LATER)
            if step not in infs:
                # (GradScaler skips a step whose gradients hold an inf.)
                eager.step()
            record["eager_norm"] = float(norm)
            record["eager_rel_diff"] = rel_diff(flat(zp), flat(ep))
        per_step.append(record)
    local_sd = zero.optim.state_dict()
    report("CTRL", dict(
        cls=case, rank=comm.rank, size=comm.size, steps=per_step,
        moved=not all(torch.equal(a, b)
                      for a, b in zip(flat(zp), flat(make_params()))),
        # The local optimizer keeps no control of its own.
        local_plain=CONTROL_KEY not in local_sd and
        zero.optim.max_grad_norm is None and zero.optim.loss_scale == 1.0,
        local_state_count=len(zero.optim.state),
        owned=len(owned_pairs(zero, zp, rp, comm))))


# ---- checkpoints

def save_case(name):
    base, _, kind = name.partition(":")
    cls, kwargs = setup(base)
    extra = {"loss_scale": dynamic()}
    if kind == "clip":
        extra["max_grad_norm"] = 5.0
    return cls, kwargs, extra


def save(comm, directory, case):
    cls, kwargs, extra = save_case(case)
    zp = make_params()
    zero = ZeRO(groups_of(zp, kwargs["lr"]), cls, **kwargs, **extra)
    for step in range(SAVED):
        set_scaled(zp, unscaled(step, SAVE_INFS), zero.loss_scale)
        zero.step()
    to = comm.size - 1
    zero.consolidate_state_dict(to=to)
    if comm.rank != to:
        return
    sd = zero.state_dict()
    torch.save({"state_dict": sd,
                "params": [p.detach().clone() for p in flat(zp)]},
               os.path.join(directory, case.replace(":", "_") + ".pt"))
    report("SAVE", dict(cls=case, rank=comm.rank,
                        control=sd[CONTROL_KEY],
                        loss_scale=zero.loss_scale))


def regroup(tensors):
    out, k = [], 0
    for group in make_params():
        out.append([torch.nn.Parameter(t.clone())
                    for t in tensors[k:k + len(group)]])
        k += len(group)
    return out


def resume(comm, directory, case):
    cls, kwargs, extra = save_case(case)
    lr = kwargs["lr"]
    saved = torch.load(os.path.join(directory,
                                    case.replace(":", "_") + ".pt"))
    sd = saved["state_dict"]
    key = CONTROL_KEY

    zp = regroup(saved["params"])
    zero = ZeRO(groups_of(zp, lr), cls, **kwargs, **extra)
    zero.load_state_dict(sd)
    loaded_scale = zero.loss_scale
    # The unsharded optimizer from the file, and from the start.
    lp = regroup(saved["params"])
    loaded = cls(groups_of(lp, lr), **kwargs, **extra)
    loaded.load_state_dict(sd)
    rp = make_params()
    ref = cls(groups_of(rp, lr), **kwargs, **extra)
    for step in range(SAVED):
        set_scaled(rp, unscaled(step, SAVE_INFS), ref.loss_scale)
        ref.step()
    # The wrapper resumed from the unsharded optimizer's state_dict.
    up = regroup([p.detach() for p in flat(rp)])
    from_ref = ZeRO(groups_of(up, lr), cls, **kwargs, **extra)
    from_ref.load_state_dict(ref.state_dict())

    runs = [(zero, zp), (loaded, lp), (ref, rp), (from_ref, up)]
    scales, found = [], []
    for step in range(SAVED, SAVED + RESUMED):
        grads = unscaled(step, SAVE_INFS)
        for opt, params in runs:
            set_scaled(params, grads, opt.loss_scale)
            opt.step()
        scales.append([opt.loss_scale for opt, _ in runs])
        found.append([opt.found_inf for opt, _ in runs])

    zero.consolidate_state_dict(to=0)
    again_same = again_control = None
    if comm.rank == 0:
        mine, theirs = zero.state_dict(), ref.state_dict()
        again_same = sorted(mine["state"]) == sorted(theirs["state"]) and \
            all(same_state(mine["state"][k], theirs["state"][k])
                for k in theirs["state"])
        again_control = [mine.get(key), theirs.get(key)]
    report("RES", dict(
        cls=case, rank=comm.rank, size=comm.size,
        loaded_scale=loaded_scale,
        saved_control=sd[key],
        scales=scales, found=found,
        same_params=all(torch.equal(a, b)
                        for a, b in zip(flat(zp), flat(rp))),
        same_states=states_same(zero, zp, ref, rp, comm),
        loaded_same=all(torch.equal(a, b)
                        for a, b in zip(flat(lp), flat(rp))),
        from_ref_same=all(torch.equal(a, b)
                          for a, b in zip(flat(up), flat(rp))),
        rel_diffs=[rel_diff(flat(params), flat(rp))
                   for _, params in runs],
        consolidated_same=again_same, consolidated_control=again_control))


# ---- argument checks

def errors(comm):
    """ERR {case, type, message, ref_type, ref_message}: the wrapper's
    exception and the unsharded Adam's for the same arguments."""
    def outcome(fn):
        try:
            fn()
            return None, ""
        except Exception as e:  # reported to the test
            return type(e).__name__, str(e)

    def attempt(case, zero_fn, ref_fn):
        kind, message = outcome(zero_fn)
        ref_kind, ref_message = outcome(ref_fn)
        report("ERR", dict(case=case, rank=comm.rank, type=kind,
                           message=message, ref_type=ref_kind,
                           ref_message=ref_message))

    def params():
        return [torch.nn.Parameter(torch.randn(3, 2)),
                torch.nn.Parameter(torch.randn(5))]
    for case, args in (("negative_norm", dict(max_grad_norm=-1)),
                       ("zero_norm", dict(max_grad_norm=0.0)),
                       ("inf_norm", dict(max_grad_norm=float("inf"))),
                       ("bool_norm", dict(max_grad_norm=True)),
                       ("zero_scale", dict(loss_scale=0.0)),
                       ("text_scale", dict(loss_scale="8")),
                       ("nan_scale", dict(loss_scale=float("nan")))):
        attempt(case, lambda: ZeRO(params(), ot.Adam, lr=0.1, **args),
                lambda: ot.Adam(params(), lr=0.1, **args))

    # The setter, checked the same way; the value stays.
    zero = ZeRO(params(), ot.Adam, lr=0.1, max_grad_norm=1.0)
    ref = ot.Adam(params(), lr=0.1, max_grad_norm=1.0)

    def set_norm(opt):
        def run():
            try:
                opt.max_grad_norm = -2.0
            finally:
                assert opt.max_grad_norm == 1.0
        return run
    attempt("set_negative", set_norm(zero), set_norm(ref))

    # torch.optim's class has no such arguments: TypeError both ways.
    attempt("torch_class",
            lambda: ZeRO(params(), torch.optim.Adam, lr=0.1,
                         max_grad_norm=1.0),
            lambda: torch.optim.Adam(params(), lr=0.1, max_grad_norm=1.0))

    # A state_dict with the control entry into an optimizer without it
    # (and the reverse): ValueError, nothing loaded.
    scaled = ot.Adam(params(), lr=0.1, loss_scale=dynamic())
    plain = ot.Adam(params(), lr=0.1)
    attempt("load_scaled_into_plain",
            lambda: ZeRO(params(), ot.Adam, lr=0.1).load_state_dict(
                scaled.state_dict()),
            lambda: ot.Adam(params(), lr=0.1).load_state_dict(
                scaled.state_dict()))
    attempt("load_plain_into_scaled",
            lambda: ZeRO(params(), ot.Adam, lr=0.1,
                         loss_scale=dynamic()).load_state_dict(
                plain.state_dict()),
            lambda: ot.Adam(params(), lr=0.1,
                            loss_scale=dynamic()).load_state_dict(
                plain.state_dict()))


def main():
    comm = Communicator.world()
    mode = sys.argv[1]
    if mode == "steps":
        for case in sys.argv[2:]:
            if case == "errors":
                errors(comm)
            else:
                steps(comm, case)
    else:
        directory = sys.argv[2]
        for case in sys.argv[3:]:
            (save if mode == "save" else resume)(comm, directory, case)
    comm.barrier()


if __name__ == "__main__":
    main()
