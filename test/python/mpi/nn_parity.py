"""Worker: cases of nn_cases under the parallel optimizer.

``nn_parity.py <outdir> <ckptdir> <spec>...``; a spec is a case, run for
nn_cases.STEPS steps, or ``save:<case>``, the same with
``save_checkpoint`` to ``<ckptdir>/<case>.ckpt.npz`` after
nn_cases.CKPT_STEP steps, or ``resume:<case>``: built anew,
``load_checkpoint`` from that file, then run on to nn_cases.STEPS.  Each
writes its gathered state dict after the last step to
``<outdir>/<case>.<run>.rank<r>.npz`` (run: "run" or "resumed") and an
``INFO`` record (nn_cases.emit) of what this rank sees."""

import os
import sys

import numpy as np

import nn_cases as C
from optim_mlir import nn


def info_of(opt, case, run, rank, size, flags, lrs):
    compiled = opt._parts[0].compiled
    return {
        "case": case, "run": run, "rank": rank, "size": size,
        "use_parallel": opt.use_parallel, "dev_num": opt.dev_num,
        "param_rank": list(opt.param_rank),
        "sizes": [int(p.size) for p in opt._parameters],
        "optim_filter": list(opt.optim_filter),
        "flags": flags, "global_step": int(opt.global_step),
        # The learning rates after each step (every rank the same).
        "lrs": lrs,
        "ir": C.ir_digest(opt),
        # The states this rank keeps: whole for its own parameters,
        # empty for the others'.
        "states_ok": all(
            (s.shape == tuple(opt._full_state_spec(c, i)[0])
             if opt.optim_filter[i] else s.size == 0)
            for c, attr in opt._state_attrs
            for i, s in enumerate(getattr(opt, attr))),
        # Every rank's pieces in step order, and this rank's in the order
        # of its states.
        "pieces": [[list(p) for p in compiled.pieces(r)]
                   for r in range(size)],
        "local_pieces": [list(p) for p in compiled.pieces()],
    }


def main():
    outdir, ckptdir = sys.argv[1], sys.argv[2]
    rank, size = C.init_parallel()
    for spec in sys.argv[3:]:
        how, _, case = spec.rpartition(":")
        opt = C.build(case)
        ckpt = os.path.join(ckptdir, C.file_name(case) + ".ckpt.npz")
        lrs = []
        if how == "resume":
            nn.load_checkpoint(ckpt, opt)
            assert int(opt.global_step) == C.CKPT_STEP
            flags = C.run(opt, case, start=C.CKPT_STEP, lrs=lrs)
        elif how == "save":
            flags = C.run(opt, case, steps=C.CKPT_STEP, lrs=lrs)
            nn.save_checkpoint(opt, ckpt)
            # Every rank returns once the file is whole.
            assert os.path.getsize(ckpt) > 0
            flags += C.run(opt, case, start=C.CKPT_STEP, lrs=lrs)
        else:
            assert how == "", spec
            flags = C.run(opt, case, lrs=lrs)
        run = "resumed" if how == "resume" else "run"
        np.savez(os.path.join(outdir, "%s.%s.rank%d.npz"
                              % (C.file_name(case), run, rank)),
                 **C.flat(opt.state_dict()))
        C.emit(outdir, "INFO", "%s.%s" % (case, run), rank,
               info_of(opt, case, run, rank, size, flags, lrs))


if __name__ == "__main__":
    main()
