"""Worker: loss scaling and clipping under the parallel optimizer (the
control cases of nn_cases).

``nn_control.py <outdir> <ckptdir> <spec>...``; a spec is a control case,
called nn_cases.CONTROL_STEPS times, or ``save:<case>``, the same with
``save_checkpoint`` to ``<ckptdir>/<case>.ckpt.npz`` after
nn_cases.CONTROL_CKPT_STEP calls, or ``resume:<case>``: built anew,
``load_checkpoint`` from that file, then called on to
nn_cases.CONTROL_STEPS.  Each writes its gathered state dict after the
last call to ``<outdir>/<case>.<run>.rank<r>.npz`` (run: "run" or
"resumed") and a ``CONTROL`` record (nn_cases.emit): what each call
reported, the IR's digest and the step's kind."""

import os
import sys

import numpy as np

import nn_cases as C
from optim_mlir import nn


def main():
    outdir, ckptdir = sys.argv[1], sys.argv[2]
    rank, size = C.init_parallel()
    for spec in sys.argv[3:]:
        how, _, case = spec.rpartition(":")
        opt, cell = C.build_control(case)
        assert opt.use_parallel and opt.dev_num == size
        ckpt = os.path.join(ckptdir, C.file_name(case) + ".ckpt.npz")
        if how == "resume":
            nn.load_checkpoint(ckpt, opt)
            calls = C.run_control(opt, cell, case,
                                  start=C.CONTROL_CKPT_STEP)
        elif how == "save":
            calls = C.run_control(opt, cell, case,
                                  steps=C.CONTROL_CKPT_STEP)
            nn.save_checkpoint(opt, ckpt)
            assert os.path.getsize(ckpt) > 0
            calls += C.run_control(opt, cell, case,
                                   start=C.CONTROL_CKPT_STEP)
        else:
            assert how == "", spec
            calls = C.run_control(opt, cell, case)
        run = "resumed" if how == "resume" else "run"
        np.savez(os.path.join(outdir, "%s.%s.rank%d.npz"
                              % (C.file_name(case), run, rank)),
                 **C.flat(opt.state_dict()))
        part = opt._parts[0]
        C.emit(outdir, "CONTROL", "%s.%s" % (case, run), rank, {
            "case": case, "run": run, "rank": rank, "size": size,
            "calls": calls, "ir": C.ir_digest(opt),
            # Whether the sharded step checks the gradients itself (dense)
            # or the front end did before it (sparse rows).
            "compiled_control": bool(part.control),
            "has_step_status": bool(part.compiled.has_step_status),
            "optim_filter": list(opt.optim_filter)})


if __name__ == "__main__":
    main()
