"""Worker: ZeroRedundancyOptimizer against the unsharded optimizer.

``torch_zero_parity.py CLASS...`` steps, for each class (an
``optim_mlir.torch`` class name, or ``torch.X`` for a torch.optim class),
ZeroRedundancyOptimizer and, in the same process, the unsharded optimizer
(and torch.optim's eager class where there is one) on the same random
gradients (the same on every rank), with two parameter groups and a StepLR
scheduler. ``CLASS:VARIANT`` changes one thing (``run`` lists the
variants). Each rank reports one line ``ZERO {json}`` per case: what the
test checks (bit-identity, distances, element counts, compile counts).
``errors`` as a class name runs the argument checks instead (``ERR`` lines).

Reports are printed, and appended to ``$ZERO_RESULTS/rank<r>.jsonl`` when
that variable is set (the ranks' printed lines may interleave).
"""

import hashlib
import inspect
import json
import os
import sys

import torch

import optim_mlir.torch as ot
from optim_mlir._optim import Communicator

ZeRO = ot.ZeroRedundancyOptimizer

# Shapes of the two groups: sizes chosen so that the greedy partition mixes
# groups and ranks (ties, a scalar-like (1,), 2-D and 3-D tensors).
SHAPES = ([(6, 5), (7,), (3, 4), (30,), (4, 3)],
          [(5, 5), (2, 3, 4), (1,), (11,)])
STEPS = 4

ARGS = {"SGD": dict(lr=0.1, momentum=0.9, weight_decay=0.01),
        "Adafactor": dict(lr=1e-2, relative_step=False),
        "Adam": dict(lr=0.01, weight_decay=0.01),
        "AdamW": dict(lr=0.01),
        "Adagrad": dict(lr=0.1),
        "Rprop": dict(lr=0.01)}


def report(kind, result):
    line = "%s %s" % (kind, json.dumps(result))
    print(line, flush=True)
    directory = os.environ.get("ZERO_RESULTS")
    if directory:
        path = os.path.join(directory, "rank%d.jsonl" % result["rank"])
        with open(path, "a") as f:
            f.write(line + "\n")


def initial_params():
    g = torch.Generator().manual_seed(7)
    return [[torch.randn(s, generator=g) for s in shapes]
            for shapes in SHAPES]


def gradients(step, sparse):
    g = torch.Generator().manual_seed(1000 + step)
    grads = [[torch.randn(s, generator=g) for s in shapes]
             for shapes in SHAPES]
    if sparse:
        # Rows with a zero gradient stay out of the sparse tensor.
        grads = [[(x * (x.abs() > 0.3)).to_sparse() for x in group]
                 for group in grads]
    return grads


def groups_of(params, lr):
    return [{"params": params[0]},
            {"params": params[1], "lr": lr * 0.5}]


def make_params(variants=()):
    """The parameters; variant "bf16": in bfloat16; "strided": the 2-D ones
    transposed views (dense, not C-contiguous)."""
    def make(t):
        if "bf16" in variants:
            t = t.to(torch.bfloat16)
        if "strided" in variants and t.dim() == 2:
            t = t.t().contiguous().t()
        return torch.nn.Parameter(t.clone() if t.is_contiguous() else t)
    return [[make(t) for t in group] for group in initial_params()]


def flat(params):
    return [p for group in params for p in group]


def set_grads(params, step, sparse):
    for ps, gs in zip(params, gradients(step, sparse)):
        for p, g in zip(ps, gs):
            p.grad = g.to(p.dtype)


def state_elements(state, params):
    return sum(v.numel() for p in params for v in state.get(p, {}).values()
               if torch.is_tensor(v))


def checksum(params):
    h = hashlib.sha256()
    for p in params:
        h.update(p.detach().contiguous().reshape(-1).view(torch.uint8)
                 .numpy().tobytes())
    return h.hexdigest()


def run(name, comm):
    name, _, variant = name.partition(":")
    variants = set(variant.split("+"))
    if name.startswith("torch."):
        cls = getattr(torch.optim, name[len("torch."):])
        short = name[len("torch."):]
    else:
        cls = getattr(ot, name)
        short = name
    kwargs = dict(ARGS.get(short, {}))
    lr = kwargs.get("lr", inspect.signature(cls).parameters["lr"].default)
    kwargs["lr"] = lr
    sparse = short == "SparseAdam"

    # Variants (joined by "+"): "bucket" (parameters_as_bucket_view=True), "add" (the
    # second group added by add_param_group before the third step, no
    # scheduler), "bf16" (bfloat16 parameters with float32 master weights),
    # "strided" (transposed parameters).
    zp, rp = make_params(variants), make_params(variants)
    if "bf16" in variants:
        kwargs["master_weights"] = True
    added = "add" in variants
    zgroups, rgroups = groups_of(zp, lr), groups_of(rp, lr)
    zero = ZeRO(zgroups[:1] if added else zgroups, cls,
                parameters_as_bucket_view="bucket" in variants, **kwargs)
    ref = cls(rgroups[:1] if added else rgroups, **kwargs)
    eager = None
    ep = None
    if not name.startswith("torch.") and hasattr(torch.optim, name) and \
            "bf16" not in variants:
        ep = make_params(variants)
        egroups = groups_of(ep, lr)
        eager = getattr(torch.optim, name)(
            egroups[:1] if added else egroups, **kwargs)
    optimizers = [o for o in (zero, ref, eager) if o is not None]
    schedulers = [] if added else [
        torch.optim.lr_scheduler.StepLR(o, 1, gamma=0.7) for o in optimizers]
    compiled_after = []
    losses = []
    for step in range(STEPS):
        if added and step == 2:
            zero.add_param_group(zgroups[1])
            ref.add_param_group(rgroups[1])
            if eager is not None:
                eager.add_param_group(egroups[1])
        for params in (zp, rp, ep):
            if params is not None:
                set_grads(params, step, sparse)
        if step == 1:
            # A closure's loss comes back from step().
            loss = zero.step(lambda: torch.tensor(3.5 + step))
            losses.append(float(loss))
        else:
            zero.step()
        ref.step()
        if eager is not None:
            eager.step()
        for s in schedulers:
            s.step()
        compiled_after.append(
            (getattr(zero.optim, "num_compiled", None), ot.compile_count))

    owned = [p for g in zero._partition_parameters()[comm.rank]
             for p in g["params"]]
    owned_ref = [rp[gi][pi] for gi, group in enumerate(zp)
                 for pi, p in enumerate(group) if any(p is q for q in owned)]
    same_params = all(torch.equal(a, b) for a, b in zip(flat(zp), flat(rp)))
    same_states = True
    for p, q in zip(flat(zp), flat(rp)):
        if not any(p is o for o in owned):
            continue
        sa, sb = zero.optim.state.get(p, {}), ref.state.get(q, {})
        if set(sa) != set(sb):
            same_states = False
        for key, vb in sb.items():
            va = sa.get(key)
            if torch.is_tensor(vb):
                if not (torch.is_tensor(va) and va.dtype == vb.dtype and
                        torch.equal(va, vb)):
                    same_states = False
            elif va != vb:
                same_states = False
    eager_diff = None
    if eager is not None:
        eager_diff = max(float(((a - b).abs() / (1e-5 + b.abs())).max())
                         for a, b in zip(flat(zp), flat(ep)))
    layouts = [tuple(p.stride()) for p in flat(zp)] == \
        [tuple(p.stride()) for p in flat(make_params(variants))]
    views = None
    if "bucket" in variants:
        # Every parameter a view of its rank's bucket.
        views = all(
            p.data.storage().data_ptr() ==
            zero._buckets[r].storage().data_ptr()
            for r, groups in enumerate(zero._partition_parameters())
            for g in groups for p in g["params"])
    result = dict(
        cls=name + (":" + variant if variant else ""), rank=comm.rank,
        size=comm.size, bucket_views=views, layouts_kept=layouts,
        contiguous=all(p.is_contiguous() for p in flat(zp)),
        dtypes=sorted({str(p.dtype) for p in flat(zp)}),
        same_params=same_params, same_states=same_states,
        eager_rel_diff=eager_diff,
        checksum=checksum(flat(zp)),
        moved=not all(torch.equal(a, b) for a, b in
                      zip(flat(zp), flat(make_params(variants)))),
        owned=len(owned), params=len(flat(zp)),
        local_state_keys=len(zero.optim.state),
        local_state_owned=all(any(p is o for o in owned)
                              for p in zero.optim.state),
        wrapper_state=len(zero.state),
        local_elements=state_elements(zero.optim.state, owned),
        local_elements_all=sum(v.numel() for s in zero.optim.state.values()
                               for v in s.values() if torch.is_tensor(v)),
        expected_elements=state_elements(ref.state, owned_ref),
        total_elements=state_elements(ref.state, flat(rp)),
        lrs=[g["lr"] for g in zero.param_groups],
        local_lrs=[g["lr"] for g in zero.optim.param_groups],
        ref_lrs=[g["lr"] for g in ref.param_groups],
        compiled=compiled_after, losses=losses)
    report("ZERO", result)


def errors(comm):
    """Each refused argument: ERR {case, type, message}."""
    def attempt(case, fn):
        try:
            fn()
            out = dict(case=case, type=None, message="")
        except Exception as e:  # reported to the test
            out = dict(case=case, type=type(e).__name__, message=str(e))
        out["rank"] = comm.rank
        report("ERR", out)

    def params():
        return [torch.nn.Parameter(torch.randn(3, 2)),
                torch.nn.Parameter(torch.randn(5))]
    attempt("overlap", lambda: ZeRO(params(), ot.Adam,
                                    overlap_with_ddp=True))
    attempt("group", lambda: ZeRO(params(), ot.Adam, process_group="g"))
    attempt("empty", lambda: ZeRO([], ot.Adam))
    # Rank 1 passes a parameter of another shape: every rank refuses.
    attempt("mismatch", lambda: ZeRO(
        [torch.nn.Parameter(torch.randn(3 + (comm.rank == 1), 2))],
        ot.Adam))
    zero = ZeRO(params(), ot.Adam, lr=0.1)
    attempt("unconsolidated", zero.state_dict)
    attempt("bad_to", lambda: zero.consolidate_state_dict(to=comm.size))
    attempt("world", lambda: ZeRO(params(), ot.Adam, process_group=comm))


def main():
    comm = Communicator.world()
    for name in sys.argv[1:]:
        if name == "errors":
            errors(comm)
        else:
            run(name, comm)
    comm.barrier()


if __name__ == "__main__":
    main()
