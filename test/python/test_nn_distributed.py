"""``optim_mlir.nn``'s parallel optimizer (MindSpore's
``enable_parallel_optimizer`` in ``data_parallel`` mode,
``broadcast_params``) under ``mpirun``: every optimizer class of
``optim_mlir.nn`` in several configurations (test/python/mpi/nn_cases.py)
on 2 and 3 ranks gives the parameters and (gathered) states of the
single-process step, bit for bit; checkpoints move between world sizes;
a rank that stalls or dies makes the others raise DistributedError within
the timeout, without writing the parameters they would have received.

The settings (``set_auto_parallel_context``, ``communication``) are checked
in this process where they need no MPI job."""

import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import mpi_launch

sys.path.insert(0, mpi_launch.MPI_DIR)
import nn_cases as C  # noqa: E402

from optim_mlir import nn  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("mpirun") is None,
                                reason="mpirun (OpenMPI) is not installed")

RECORD = re.compile(r"\b(INFO|CHECK|FAILED|CKPT|DONE)\b")


def records(output, prefix):
    """The ``prefix`` records of the workers' output (lines of several
    ranks may run together)."""
    parts = RECORD.split(output)
    return [body.strip() for kind, body in zip(parts[1::2], parts[2::2])
            if kind == prefix]


def check_run(result):
    assert result.returncode == 0, \
        result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(autouse=True)
def _fresh_context():
    nn.reset_auto_parallel_context()
    yield
    nn.reset_auto_parallel_context()


@pytest.fixture(scope="module")
def single():
    """Each case's gathered-format state dict after nn_cases.STEPS steps in
    this process (no parallel optimizer)."""
    nn.reset_auto_parallel_context()
    out = {}
    for case in C.cases():
        opt = C.build(case)
        assert not opt.use_parallel
        C.run(opt, case)
        out[case] = C.flat(opt.state_dict())
        out[case]["lr"] = np.array(opt.get_lr(), np.float64)
    return out


def _bits(a):
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def assert_same(expected, path, what):
    expected = {k: v for k, v in expected.items() if k != "lr"}
    with np.load(path) as got:
        assert sorted(got.files) == sorted(expected), what
        for key, want in expected.items():
            value = got[key]
            assert value.dtype == want.dtype, (what, key)
            assert value.shape == want.shape, (what, key)
            # Bit for bit (NaN where NaN).
            assert np.array_equal(_bits(value), _bits(want)), \
                "%s: %s differs from the single-process step" % (what, key)


# ------------------------------------------------------------ settings
def test_context_settings_and_errors():
    assert nn.get_auto_parallel_context("parallel_mode") == "stand_alone"
    assert nn.get_auto_parallel_context("enable_parallel_optimizer") is False
    assert nn.get_auto_parallel_context("device_num") == 1
    nn.set_auto_parallel_context(parallel_mode=nn.ParallelMode.DATA_PARALLEL,
                                 enable_parallel_optimizer=True,
                                 gradients_mean=True, device_num=8)
    assert nn.get_auto_parallel_context("parallel_mode") == "data_parallel"
    assert nn.get_auto_parallel_context("enable_parallel_optimizer") is True
    assert nn.get_auto_parallel_context("device_num") == 8
    with pytest.raises(ValueError, match="keyword foo is not recognized"):
        nn.set_auto_parallel_context(foo=1)
    with pytest.raises(ValueError, match="keyword bar is not recognized"):
        nn.get_auto_parallel_context("bar")
    with pytest.raises(ValueError, match="'parallel_mode' only support"):
        nn.set_auto_parallel_context(parallel_mode="model_parallel")
    with pytest.raises(TypeError, match="'enable_parallel_optimizer' must be"):
        nn.set_auto_parallel_context(enable_parallel_optimizer=1)
    with pytest.raises(TypeError, match="'parallel_mode' must be"):
        nn.set_auto_parallel_context(parallel_mode=3)
    with pytest.raises(ValueError,
                       match=r"'device_num' must be in \[1, 4096\]"):
        nn.set_auto_parallel_context(device_num=0)
    with pytest.raises(ValueError, match=r"'global_rank' must be in"):
        nn.set_auto_parallel_context(global_rank=5000)
    # A refused call changes nothing, not even its valid settings.
    with pytest.raises(ValueError):
        nn.set_auto_parallel_context(gradients_mean=False, device_num=-1)
    assert nn.get_auto_parallel_context("gradients_mean") is True
    nn.reset_auto_parallel_context()
    assert nn.get_auto_parallel_context("parallel_mode") == "stand_alone"
    assert nn.get_auto_parallel_context("device_num") == 1


def _params(n=4):
    return [nn.Parameter(np.ones((3, 2), np.float32), "w%d" % i)
            for i in range(n)]


def test_optimizer_settings_refused_as_mindspore():
    """The checks before any communication: the modes MindSpore refuses, a
    GPU target, a user-defined construct, no communication.init()."""
    nn.set_auto_parallel_context(enable_parallel_optimizer=True)
    for mode in ("stand_alone", "hybrid_parallel"):
        nn.set_auto_parallel_context(parallel_mode=mode)
        with pytest.raises(RuntimeError, match="parallel optimizer is not "
                           "supported in %s" % mode):
            nn.Adam(_params())
    for mode in ("semi_auto_parallel", "auto_parallel"):
        nn.set_auto_parallel_context(parallel_mode=mode)
        with pytest.raises(NotImplementedError, match="graph compiler"):
            nn.Adam(_params())
    nn.set_auto_parallel_context(parallel_mode="data_parallel")

    class Mine(nn.Optimizer):
        def construct(self, gradients):
            return True
    with pytest.raises(RuntimeError, match="user-defined construct"):
        Mine(0.1, _params())
    with pytest.raises(RuntimeError, match="has not been initialized"):
        nn.Adam(_params())
    with pytest.raises(RuntimeError, match="has not been initialized"):
        nn.communication.get_rank()
    # MindSpore's import form.
    from optim_mlir.nn.communication import get_group_size
    assert get_group_size is nn.communication.get_group_size
    with pytest.raises(TypeError, match="'backend_name' must be a string"):
        nn.communication.init(backend_name=3)
    with pytest.raises(TypeError, match="'group' must be type of string"):
        nn.communication.get_group_size(group=None)
    # Off (the default): MindSpore's attributes.
    nn.reset_auto_parallel_context()
    opt = nn.Adam(_params(3))
    assert opt.use_parallel is False
    assert opt.optim_filter == (True, True, True)
    assert opt.param_rank is None
    assert not hasattr(opt, "dev_num")
    assert opt.broadcast_params(True) is True


def test_refusals_on_two_ranks(tmp_path):
    result = mpi_launch.run_mpi(2, "nn_errors.py", tmp_path, timeout=120)
    check_run(result)
    got = {}
    for (name, rank), value in sorted(C.read_records(tmp_path,
                                                     "CHECK").items()):
        got.setdefault(name, []).append(value)
    assert len(got["rank"]) == 2
    assert sorted(r["value"] for r in got["rank"]) == [0, 1]

    def one(name):
        outcomes = got[name]
        assert len(outcomes) == 2 and outcomes[0].keys() == outcomes[1].keys()
        return outcomes[0]
    assert one("rank_before_init")["error"] == "RuntimeError"
    assert one("size") == {"value": 2}
    assert one("rank_group_type")["error"] == "TypeError"
    assert one("init_backend")["error"] == "RuntimeError"
    assert one("too_few_parameters") == {
        "error": "RuntimeError",
        "message": "Parallel optimizer can not be applied when the number of "
                   "parameters 1 is less than the number of devices 2"}
    for name in ("max_grad_norm", "dynamic_loss_scale", "max_grad_norm_later"):
        assert one(name)["error"] == "NotImplementedError", name
        assert "max_grad_norm" in one(name)["message"]
    assert one("user_construct")["error"] == "RuntimeError"
    assert one("mixed_sparse")["error"] == "NotImplementedError"
    assert "sparse gradients for every parameter or for none" in \
        one("mixed_sparse")["message"]
    assert one("lars_two_parts")["error"] == "NotImplementedError"
    assert "2 compiled parts" in one("lars_two_parts")["message"]
    assert one("device_num_mismatch")["error"] == "RuntimeError"
    assert "device_num is 3" in one("device_num_mismatch")["message"]
    assert one("device_num_match") == {"value": 2}
    assert one("off") == {"value": [False, [True, True, True], None, False]}


# -------------------------------------------------------------- parity
# On 3 ranks: every rule grouped (own learning-rate lists and schedules,
# weight decays, centralization, order_params), and the sparse, flattened
# and float16 configurations; on 2 ranks every case.
THREE_RANK_CONFIGS = ("groups", "sparse", "flat", "amp")


def _cases(ranks):
    return [c for c in C.cases()
            if ranks == 2 or c.split("/")[1] in THREE_RANK_CONFIGS]


@pytest.mark.parametrize("ranks", [2, 3])
def test_every_rule_matches_single_process(ranks, single, tmp_path):
    """Every case on ``ranks`` ranks: each rank's parameters and gathered
    states equal the single-process step's bit for bit; each rank keeps
    the states of the parameters ``i % ranks == rank`` only."""
    cases = _cases(ranks)
    assert {c.split("/")[0] for c in cases} == set(C.RULE_IDS)
    result = mpi_launch.run_mpi(ranks, "nn_parity.py", tmp_path, *cases,
                                timeout=600)
    check_run(result)
    infos = C.read_records(tmp_path, "INFO")
    assert sorted(infos) == sorted((c, r) for c in cases
                                   for r in range(ranks))
    for info in infos.values():
        case, rank = info["case"], info["rank"]
        n = len(info["param_rank"])
        assert info["use_parallel"] is True and info["dev_num"] == ranks
        assert info["param_rank"] == [i % ranks for i in range(n)], case
        assert info["optim_filter"] == [i % ranks == rank for i in range(n)]
        assert info["pieces"] == [[i] for i in range(rank, n, ranks)], case
        assert info["states_ok"], case
        assert info["flags"] == [True] * C.STEPS
        assert info["global_step"] == C.STEPS
        assert np.array_equal(np.array(info["lr"], np.float64),
                              single[case]["lr"]), (case, rank, info["lr"])
    for case in cases:
        for rank in range(ranks):
            assert_same(single[case], tmp_path / ("%s.rank%d.npz" % (
                C.file_name(case), rank)), "%s on rank %d of %d"
                % (case, rank, ranks))


# ---------------------------------------------------------- checkpoints
CKPT_CASES = ["Adam/plain", "Adam/groups", "LazyAdam/sparse", "FTRL/sparse",
              "Rprop/set", "AdaFactor/plain", "LARS/groups", "Lion/set",
              "RMSProp-centered/groups", "SGD/set"]


def test_checkpoint_moves_between_world_sizes(single, tmp_path):
    """Saved at N=2 after 2 steps; resumed at N=3 and, without the
    parallel optimizer, in this process: the end state equals the
    uninterrupted single-process run's."""
    check_run(mpi_launch.run_mpi(2, "nn_checkpoint.py", "save", tmp_path, 2,
                                 *CKPT_CASES, timeout=300))
    check_run(mpi_launch.run_mpi(3, "nn_checkpoint.py", "resume", tmp_path, 2,
                                 *CKPT_CASES, timeout=300))
    for case in CKPT_CASES:
        ckpt = tmp_path / (C.file_name(case) + ".ckpt.npz")
        for rank in range(3):
            assert_same(single[case], tmp_path / ("%s.resumed.rank%d.npz" % (
                C.file_name(case), rank)), "%s resumed on rank %d of 3"
                % (case, rank))
        # The single-process optimizer loads the same file (N=2 -> N=1).
        opt = C.build(case)
        nn.load_checkpoint(str(ckpt), opt)
        assert int(opt.global_step) == 2
        C.run(opt, case, start=2)
        np.savez(tmp_path / "one.npz", **C.flat(opt.state_dict()))
        assert_same(single[case], tmp_path / "one.npz",
                    "%s resumed in one process" % case)


# -------------------------------------------------------------- failures
@pytest.mark.parametrize("mode,ranks", [("stall", 2), ("kill", 3)])
def test_failed_rank_raises_distributed_error(mode, ranks, tmp_path):
    """Rank 1 stalls (sleeps twice the 5 s timeout) before its compiled
    step, or dies (SIGKILL, by the runtime's OPTIM_DIST_FAULT) after its
    update and before the exchange, in step 2: every other rank raises
    DistributedError within the timeout and prints it; the parameters it
    would have received keep their values and its global step stays 2."""
    timeout = 5.0
    env = {"OPTIM_DIST_TIMEOUT": str(timeout)}
    if mode == "kill":
        env["OPTIM_DIST_FAULT"] = "rank=1,step=2,action=kill"
    try:
        result = mpi_launch.run_mpi(
            ranks, "nn_failure.py", tmp_path, mode, 1, timeout=120,
            recovery=(mode == "kill"), env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail("the job hung: %s" % (e.stdout,))
    failed = list(C.read_records(tmp_path, "FAILED").values())
    # The survivors print the error too.
    assert "FAILED {" in result.stdout
    assert sorted(f["rank"] for f in failed) == \
        [r for r in range(ranks) if r != 1], result.stdout + result.stderr
    for f in failed:
        assert f["is_distributed_error"]
        assert f["error"] is not None, f
        assert f["failure"], f
        assert f["timeout"] == timeout
        # Within the timeout (and the agreement before the exchange).
        assert f["elapsed"] < 2 * timeout + 2.0, f
        if mode == "stall":
            assert f["elapsed"] >= timeout * 0.9, f
            assert "did not complete within 5 s" in f["error"], f
            assert "died or stalled" in f["error"], f
        assert f["non_owned_unchanged"], f
        if mode == "kill":
            # Failed in the exchange: its own update was done.
            assert f["owned_changed"], f
        assert f["global_step"] == 2, f
