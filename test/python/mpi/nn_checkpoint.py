"""Worker: checkpoints of the parallel optimizer.

``save <dir> <steps> cases...``: runs each case ``steps`` steps, then
``save_checkpoint`` to ``<dir>/<case>.ckpt.npz``.
``resume <dir> <steps> cases...``: builds each case, ``load_checkpoint``
from that file, runs it on to nn_cases.STEPS and writes the gathered state
dict to ``<dir>/<case>.resumed.rank<r>.npz``."""

import os
import sys

import numpy as np

import nn_cases as C
from optim_mlir import nn


def main():
    mode, outdir, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    nn.communication.init()
    rank = nn.communication.get_rank()
    nn.set_auto_parallel_context(parallel_mode="data_parallel",
                                 enable_parallel_optimizer=True)
    for case in sys.argv[4:]:
        opt = C.build(case)
        ckpt = os.path.join(outdir, C.file_name(case) + ".ckpt.npz")
        if mode == "save":
            C.run(opt, case, steps=steps)
            nn.save_checkpoint(opt, ckpt)
            # Every rank returns once the file is whole.
            assert os.path.getsize(ckpt) > 0
        else:
            nn.load_checkpoint(ckpt, opt)
            assert int(opt.global_step) == steps
            C.run(opt, case, start=steps)
            np.savez(os.path.join(outdir, "%s.resumed.rank%d.npz"
                                  % (C.file_name(case), rank)),
                     **C.flat(opt.state_dict()))
        print("CKPT %s %s %d" % (mode, case, rank), flush=True)


if __name__ == "__main__":
    main()
