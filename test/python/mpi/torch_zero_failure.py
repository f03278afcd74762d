"""Worker: a rank fails in the middle of ZeroRedundancyOptimizer.step().

``torch_zero_failure.py kill|stall``: after one good step, the last rank
runs its local step of the second and then kills itself (SIGKILL) or
sleeps two timeouts before its exchange. Every rank that is still alive
reports ``FAIL {json}``: the exception of its second step, how long that
step took, the communicator's ``failure``, whether the parameters owned by
other ranks were left as they were, and what a third step raised. Run under
``mpirun --enable-recovery`` with a small ``OPTIM_DIST_TIMEOUT``.
"""

import os
import signal
import sys
import time

import torch

import optim_mlir.torch as ot
from optim_mlir._optim import Communicator, DistributedError
from torch_zero_parity import flat, groups_of, make_params, report, set_grads


def attempt(fn):
    start = time.monotonic()
    try:
        fn()
        error = None
    except Exception as e:  # reported to the test
        error = e
    return error, time.monotonic() - start


def describe(error):
    if error is None:
        return None, ""
    return type(error).__name__, str(error)


def finished(path):
    """Whether the report file `path` holds a whole line."""
    try:
        with open(path) as f:
            return f.read().endswith("\n")
    except OSError:
        return False


def main():
    mode = sys.argv[1]
    comm = Communicator.world()
    # The first step compiles, each rank at its own pace: the small timeout
    # (OPTIM_DIST_TIMEOUT) applies from the failing step on.
    timeout = comm.timeout
    comm.timeout = 300.0
    params = make_params()
    zero = ot.ZeroRedundancyOptimizer(groups_of(params, 0.01), ot.Adam,
                                      lr=0.01)
    set_grads(params, 0, False)
    zero.step()
    comm.barrier()
    comm.timeout = timeout
    victim = comm.size - 1
    if comm.rank == victim:
        local_step = zero.optim.step

        def failing_step(*args, **kwargs):
            zero.optim.step = local_step  # (once)
            loss = local_step(*args, **kwargs)
            if mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(2 * comm.timeout)
            return loss
        zero.optim.step = failing_step
    owned = {id(p) for g in zero._partition_parameters()[comm.rank]
             for p in g["params"]}
    before = [p.detach().clone() for p in flat(params)]
    set_grads(params, 1, False)
    error, elapsed = attempt(zero.step)
    unchanged = all(torch.equal(p, b) for p, b in zip(flat(params), before)
                    if id(p) not in owned)
    again, again_elapsed = attempt(zero.step)
    kind, message = describe(error)
    again_kind, again_message = describe(again)
    report("FAIL", dict(
        rank=comm.rank, victim=victim, mode=mode, timeout=comm.timeout,
        type=kind, distributed=isinstance(error, DistributedError),
        message=message, elapsed=elapsed, failure=comm.failure,
        others_unchanged=unchanged, again_type=again_kind,
        again_distributed=isinstance(again, DistributedError),
        again_message=again_message, again_elapsed=again_elapsed))
    if mode == "stall" and comm.rank != victim:
        # mpirun may end the job once a rank has left: wait (a while) for
        # the stalled rank's report first.
        done = os.path.join(os.environ.get("ZERO_RESULTS", ""),
                            "rank%d.jsonl" % victim)
        deadline = time.monotonic() + 4 * comm.timeout
        while not finished(done) and time.monotonic() < deadline:
            time.sleep(0.1)
    # A peer is gone: MPI_Finalize could wait for it.
    os._exit(0)


if __name__ == "__main__":
    main()
