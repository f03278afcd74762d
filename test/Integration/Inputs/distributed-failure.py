"""A rank that stalls or dies in the middle of a sharded step (after its
update, before the parameter exchange; OPTIM_DIST_FAULT): every other rank
must report an error within the timeout instead of hanging.

Usage: distributed-failure.py MPIRUN ACTION TIMEOUT FILE
Prints what the surviving ranks reported and whether it came in time.
"""

import os
import re
import subprocess
import sys
import time


def main():
    mpirun, action, timeout, path = sys.argv[1].split(), sys.argv[2], \
        float(sys.argv[3]), sys.argv[4]
    env = dict(os.environ, OPTIM_DIST_FAULT="rank=2,step=1,action=" + action)
    # Under the sanitizers this script runs with their runtime preloaded;
    # mpirun and its daemons must not (optim-run carries its own).
    env.pop("LD_PRELOAD", None)
    # A dead rank: --enable-recovery keeps mpirun from killing the others
    # at once, so that they report the failure themselves. A stalled rank
    # is ended by mpirun once the others have exited with their error.
    extra = ["--enable-recovery"] if action == "kill" else []
    start = time.monotonic()
    run = subprocess.run(
        mpirun + extra + ["-np", "3", "optim-run", path, "--steps", "3",
                          "--distributed", "--timeout", str(timeout)],
        env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    # Each surviving rank's error (lines of ranks may run together).
    errors = sorted(set(
        "error: " + m.group(0) for m in re.finditer(
            r"[^:\n]*? did not complete within [0-9.]+ s on rank [0-9]+: "
            r"a rank has died or stalled", run.stdout + run.stderr)))
    steps = [line for line in run.stdout.splitlines()
             if line.startswith("step ")]
    print("steps completed: %d" % len(steps))
    for line in errors:
        print(line)
    print("ranks reporting: %d" % len(errors))
    # mpirun's own start-up and shut-down add a few seconds to the timeout.
    limit = timeout + 30
    print("in time: %s" % (elapsed < limit))
    if elapsed >= limit:
        print("elapsed %.1f s, limit %.1f s" % (elapsed, limit))


if __name__ == "__main__":
    main()
