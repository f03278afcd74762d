"""Worker: ZeroRedundancyOptimizer checkpoints across world sizes.

``torch_zero_checkpoint.py save DIR CLASS...``: for each class, SAVED steps
of ZeroRedundancyOptimizer, then ``consolidate_state_dict(to=last rank)``;
that rank saves the parameters and ``state_dict()`` to ``DIR/CLASS.pt``
and reports ``SAVE {json}`` (what the other ranks' state_dict() raised
too).

``torch_zero_checkpoint.py resume DIR CLASS...``: at another world size,
each rank loads the file into a new ZeroRedundancyOptimizer and steps
RESUMED more times; the unsharded optimizer steps SAVED + RESUMED times from
the start in the same process. Each rank reports ``RESUME {json}``: whether
parameters and owned states are bit-identical, whether the unsharded
optimizer resumed from the file is too, the distance of torch.optim's eager
class resumed from the file, and whether the state consolidated again
equals the unsharded optimizer's.
"""

import os
import sys

import torch

import optim_mlir.torch as ot
from optim_mlir._optim import Communicator
from torch_zero_parity import (ARGS, flat, groups_of, make_params,
                               report, set_grads)

ZeRO = ot.ZeroRedundancyOptimizer
SAVED, RESUMED = 3, 2


def setup(name):
    import inspect
    cls = getattr(ot, name)
    kwargs = dict(ARGS.get(name, {}))
    kwargs.setdefault("lr", inspect.signature(cls).parameters["lr"].default)
    return cls, kwargs, name == "SparseAdam"


def regroup(tensors, like):
    out, k = [], 0
    for group in like:
        out.append([torch.nn.Parameter(t.clone())
                    for t in tensors[k:k + len(group)]])
        k += len(group)
    return out


def same_state(a, b):
    if set(a) != set(b):
        return False
    for key, vb in b.items():
        va = a[key]
        if torch.is_tensor(vb):
            if not (torch.is_tensor(va) and va.dtype == vb.dtype and
                    torch.equal(va, vb)):
                return False
        elif va != vb:
            return False
    return True


def save(comm, directory, name):
    cls, kwargs, sparse = setup(name)
    zp = make_params()
    zero = ZeRO(groups_of(zp, kwargs["lr"]), cls, **kwargs)
    for step in range(SAVED):
        set_grads(zp, step, sparse)
        zero.step()
    to = comm.size - 1
    zero.consolidate_state_dict(to=to)
    if comm.rank != to:
        try:
            zero.state_dict()
            raised = None
        except RuntimeError as e:
            raised = str(e)
        report("SAVE", dict(cls=name, rank=comm.rank, raised=raised))
        return
    sd = zero.state_dict()
    torch.save({"state_dict": sd,
                "params": [p.detach().clone() for p in flat(zp)]},
               os.path.join(directory, name + ".pt"))
    report("SAVE", dict(
        cls=name, rank=comm.rank, raised=None,
        state_keys=sorted(sd["state"]),
        group_params=[g["params"] for g in sd["param_groups"]]))


def resume(comm, directory, name):
    cls, kwargs, sparse = setup(name)
    lr = kwargs["lr"]
    saved = torch.load(os.path.join(directory, name + ".pt"))
    sd = saved["state_dict"]
    like = make_params()

    zp = regroup(saved["params"], like)
    zero = ZeRO(groups_of(zp, lr), cls, **kwargs)
    zero.load_state_dict(sd)

    # The unsharded optimizer from the start, and from the file.
    rp = make_params()
    ref = cls(groups_of(rp, lr), **kwargs)
    for step in range(SAVED):
        set_grads(rp, step, sparse)
        ref.step()
    lp = regroup(saved["params"], like)
    loaded = cls(groups_of(lp, lr), **kwargs)
    loaded.load_state_dict(sd)
    ep = eager = None
    if hasattr(torch.optim, name):
        ep = regroup(saved["params"], like)
        eager = getattr(torch.optim, name)(groups_of(ep, lr), **kwargs)
        eager.load_state_dict(sd)

    for step in range(SAVED, SAVED + RESUMED):
        for params in (zp, rp, lp, ep):
            if params is not None:
                set_grads(params, step, sparse)
        zero.step()
        ref.step()
        loaded.step()
        if eager is not None:
            eager.step()

    owned = {id(p) for g in zero._partition_parameters()[comm.rank]
             for p in g["params"]}
    states_same = all(same_state(zero.optim.state.get(p, {}),
                                 ref.state.get(q, {}))
                      for p, q in zip(flat(zp), flat(rp)) if id(p) in owned)
    zero.consolidate_state_dict(to=0)
    again_same = None
    if comm.rank == 0:
        mine, theirs = zero.state_dict(), ref.state_dict()
        again_same = sorted(mine["state"]) == sorted(theirs["state"]) and \
            all(same_state(mine["state"][k], theirs["state"][k])
                for k in theirs["state"]) and \
            [g["params"] for g in mine["param_groups"]] == \
            [g["params"] for g in theirs["param_groups"]]
    report("RESUME", dict(
        cls=name, rank=comm.rank, size=comm.size, owned=len(owned),
        same_params=all(torch.equal(a, b)
                        for a, b in zip(flat(zp), flat(rp))),
        same_states=states_same,
        loaded_same=all(torch.equal(a, b)
                        for a, b in zip(flat(lp), flat(rp))),
        eager_rel_diff=None if eager is None else max(
            float(((a - b).abs() / (1e-5 + b.abs())).max())
            for a, b in zip(flat(ep), flat(rp))),
        consolidated_same=again_same,
        lrs=[g["lr"] for g in zero.param_groups]))


def main():
    comm = Communicator.world()
    mode, directory = sys.argv[1], sys.argv[2]
    for name in sys.argv[3:]:
        (save if mode == "save" else resume)(comm, directory, name)
    comm.barrier()


if __name__ == "__main__":
    main()
