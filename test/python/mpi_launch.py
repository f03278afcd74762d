"""Runs a Python script under ``mpirun`` for the distributed tests.

Each worker imports the package from the build tree as the tests do
(``OPTIM_BUILD_DIR``), and gets the test directory on its path. Workers print
their results (checksums, JSON lines); the test in the parent process checks
them.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("OPTIM_BUILD_DIR", os.path.join(ROOT, "build"))
MPI_DIR = os.path.join(HERE, "mpi")


def mpi_env(extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(BUILD, "python"), HERE, MPI_DIR,
         env.get("PYTHONPATH", "")])
    env.setdefault("OPTIM_MLIR_CACHE_DIR", os.path.join(BUILD, "test-cache"))
    # The tests run as root in containers; OpenMPI refuses that unless told.
    env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    # No ssh or remote launch agents: every rank runs on this machine, over
    # shared memory.
    env["OMPI_MCA_plm_rsh_agent"] = ""
    env["OMPI_MCA_btl"] = "self,vader"
    env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"
    # One OpenMP thread per rank: ranks must not oversubscribe the cores.
    env.setdefault("OMP_NUM_THREADS", "1")
    if extra:
        env.update(extra)
    return env


def mpirun_command(np, args, recovery=False):
    cmd = ["mpirun", "-np", str(np), "--oversubscribe", "--bind-to", "none"]
    if recovery:
        # Keep the other ranks running when one dies, so that they report
        # the failure themselves.
        cmd.append("--enable-recovery")
    return cmd + list(args)


def run_mpi(np, script, *args, timeout=300, recovery=False, env=None):
    """Runs ``python3 mpi/<script> args...`` on ``np`` ranks; returns the
    CompletedProcess (text output, stdout and stderr apart)."""
    cmd = mpirun_command(np, [sys.executable, os.path.join(MPI_DIR, script)]
                         + [str(a) for a in args], recovery=recovery)
    return subprocess.run(cmd, env=mpi_env(env), capture_output=True,
                          text=True, timeout=timeout)


def lines_with(output, prefix):
    """The lines of ``output`` starting with ``prefix``, prefix removed."""
    return [line[len(prefix):].strip() for line in output.splitlines()
            if line.startswith(prefix)]
