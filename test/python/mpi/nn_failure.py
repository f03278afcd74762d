"""Worker: a rank dies in the middle of step 2 of an Adam run under the
parallel optimizer; the others must raise DistributedError within the
communicator's timeout.

``nn_failure.py <outdir> <timeout>``: the test sets ``OPTIM_DIST_FAULT`` so
that the runtime kills a rank (SIGKILL) after its update in step 2, before
the parameter exchange: the others have updated their own parameters and
wait in the exchange.  The first two steps run with the default timeout
(the ranks compile first), step 2 with ``<timeout>`` seconds.  Every other
rank writes a ``FAILED`` record (nn_cases.emit): the error, the seconds the
step took, whether the parameters it does not own kept their values,
whether its own changed, and the global step."""

import os
import sys
import time

import numpy as np

import nn_cases as C
from optim_mlir import nn
from optim_mlir import _optim


def main():
    outdir, timeout = sys.argv[1], float(sys.argv[2])
    nn.communication.init()
    comm = nn.communication.get_communicator()
    rank = nn.communication.get_rank()
    nn.set_auto_parallel_context(parallel_mode="data_parallel",
                                 enable_parallel_optimizer=True)
    case = "Adam/plain"
    opt = C.build(case)
    C.run(opt, case, steps=2)
    comm.timeout = timeout
    before = [p.asnumpy() for p in opt._parameters]
    grads = C.gradients(opt, case, 2)
    start = time.monotonic()
    try:
        opt(grads)
        error = None
    except _optim.DistributedError as e:
        error = str(e)
    elapsed = time.monotonic() - start
    unchanged = all(np.array_equal(b, p.data, equal_nan=True)
                    for i, (b, p) in enumerate(zip(before, opt._parameters))
                    if not opt.optim_filter[i])
    owned_changed = all(
        not np.array_equal(b, p.data) for i, (b, p) in
        enumerate(zip(before, opt._parameters))
        if opt.optim_filter[i] and p.size > 0)
    C.emit(outdir, "FAILED", case, rank, {
        "rank": rank, "error": error, "elapsed": elapsed,
        "timeout": comm.timeout, "failure": comm.failure,
        "non_owned_unchanged": unchanged, "owned_changed": owned_changed,
        "global_step": int(opt.global_step),
        "is_distributed_error": issubclass(_optim.DistributedError,
                                           RuntimeError)})
    # The job is broken: leave without MPI's finalization.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
