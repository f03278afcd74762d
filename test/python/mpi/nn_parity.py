"""Worker: every case of nn_cases under the parallel optimizer; writes each
rank's gathered state dict after the last step to
``<outdir>/<case>.rank<r>.npz`` and prints one ``INFO`` JSON line per case
(the parallel attributes this rank sees)."""

import os
import sys

import numpy as np

import nn_cases as C
from optim_mlir import nn


def main():
    outdir = sys.argv[1]
    selected = sys.argv[2:] or C.cases()
    nn.communication.init()
    rank = nn.communication.get_rank()
    size = nn.communication.get_group_size()
    nn.set_auto_parallel_context(parallel_mode="data_parallel",
                                 enable_parallel_optimizer=True)
    for case in selected:
        opt = C.build(case)
        flags = C.run(opt, case)
        info = {
            "case": case, "rank": rank, "size": size,
            "use_parallel": opt.use_parallel, "dev_num": opt.dev_num,
            "param_rank": list(opt.param_rank),
            "optim_filter": list(opt.optim_filter),
            "flags": flags, "global_step": int(opt.global_step),
            # The learning rates of the next step (every rank the same).
            "lr": opt.get_lr(),
            # The states this rank keeps: whole for its own parameters,
            # empty for the others'.
            "states_ok": all(
                (s.shape == tuple(opt._full_state_spec(c, i)[0])
                 if opt.optim_filter[i] else s.size == 0)
                for c, attr in opt._state_attrs
                for i, s in enumerate(getattr(opt, attr))),
            "pieces": [list(p)[:1] for p in opt._parts[0].compiled.pieces()],
        }
        sd = opt.state_dict()
        np.savez(os.path.join(outdir, "%s.rank%d.npz"
                              % (C.file_name(case), rank)), **C.flat(sd))
        C.emit(outdir, "INFO", case, rank, info)
    print("DONE %d" % rank, flush=True)


if __name__ == "__main__":
    main()
