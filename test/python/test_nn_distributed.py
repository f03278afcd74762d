"""``optim_mlir.nn``'s parallel optimizer (MindSpore's
``enable_parallel_optimizer`` in ``data_parallel`` mode,
``broadcast_params``) under ``mpirun``: every optimizer class of
``optim_mlir.nn`` over 2 ranks, and the configurations (groups, values set
between steps, sparse rows, flattened parameters, float16 with master
weights) on a few classes over 3 ranks (test/python/mpi/nn_cases.py), give
the parameters, (gathered) states and learning rates of the
single-process step, bit for bit, compiling the same IR; a
DynamicLossScaleUpdateCell with inf/NaN gradients and clipping by the
global norm (test/python/mpi/nn_control.py) give one process's flags,
scales, norms and results over 2 and 3 ranks; checkpoints, the dynamic
scale included, move from 2 ranks to 3 and to one process; a rank that
dies makes the others raise DistributedError within the timeout, without
writing the parameters they would have received.  Optimizer weight
sharding (``semi_auto_parallel``, the runtime's ZeRO pieces;
test/python/mpi/nn_zero.py) gives one process's parameters after every
step over 2 and 3 ranks with about 1/N of the states per rank, and its
checkpoints move to 3 ranks, to data_parallel and to one process.

The settings (``set_auto_parallel_context``, ``communication``) are checked
in this process where they need no MPI job.  The workers write their
results to files (one per case and rank), never parsed from the output."""

import math
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
    this process (no parallel optimizer), its learning rates after each
    step and its IR's digest."""
    nn.reset_auto_parallel_context()
    out = {}
    for case in C.cases():
        C.check_case(case)
        opt = C.build(case)
        assert not opt.use_parallel
        lrs = []
        C.run(opt, case, lrs=lrs)
        out[case] = C.flat(opt.state_dict())
        out[case]["lrs"] = lrs
        out[case]["ir"] = C.ir_digest(opt)
    return out


def _bits(a):
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def assert_same(expected, path, what):
    expected = {k: v for k, v in expected.items() if k not in ("lrs", "ir")}
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
        # Taken (optimizer weight sharding): it needs the job.
        nn.set_auto_parallel_context(parallel_mode=mode)
        with pytest.raises(RuntimeError, match="has not been initialized"):
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
    # Clipping and a dynamic loss scale are taken (test_control_*).
    assert one("max_grad_norm") == {"value": True}
    assert one("dynamic_loss_scale") == {"value": True}
    flag, norm, overflow = one("max_grad_norm_later")["value"]
    assert flag is True and overflow is False
    assert abs(norm - math.sqrt(12 * 2)) <= 1e-15 * norm
    assert one("max_grad_norm_on_off")["error"] == "RuntimeError"
    assert "turn it on or off before the first step" in \
        one("max_grad_norm_on_off")["message"]
    assert one("sparse_gradients_differ")["error"] == "RuntimeError"
    assert "the ranks' gradients differ" in \
        one("sparse_gradients_differ")["message"]
    assert "ranks 0..1" in one("sparse_gradients_differ")["message"]
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
@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """One job over 2 ranks (every rule once; the checkpoint cases saved
    after nn_cases.CKPT_STEP steps), then one over 3 ranks (the
    configurations; the checkpoint cases resumed from the 2-rank files):
    {ranks: output directory}."""
    out = {}
    ckpt = tmp_path_factory.mktemp("ckpt")
    for ranks, specs in (
            (2, ["save:" + c if c in C.CKPT_CASES else c
                 for c in C.TWO_RANK_CASES]),
            (3, list(C.THREE_RANK_CASES) +
             ["resume:" + c for c in C.CKPT_CASES])):
        outdir = tmp_path_factory.mktemp("ranks%d" % ranks)
        check_run(mpi_launch.run_mpi(ranks, "nn_parity.py", outdir, ckpt,
                                     *specs, timeout=300))
        out[ranks] = outdir
    out["ckpt"] = ckpt
    return out


def test_case_lists():
    assert sorted(c.split("/")[0] for c in C.TWO_RANK_CASES) == \
        sorted(C.RULE_IDS)
    assert {c.split("/")[1] for c in C.THREE_RANK_CASES} == \
        set(C.CONFIGS) - {"plain"}
    assert set(C.CKPT_CASES) <= set(C.TWO_RANK_CASES) & \
        set(C.THREE_RANK_CASES)
    assert C.CKPT_STEP < C.STEPS


def check_infos(infos, cases, ranks, run, single):
    assert sorted(k for k in infos if k[0].endswith("." + run)) == \
        sorted(("%s.%s" % (c, run), r) for c in cases for r in range(ranks))
    for (name, rank), info in infos.items():
        case = info["case"]
        if info["run"] != run:
            continue
        what = "%s (%s) on rank %d of %d" % (case, run, rank, ranks)
        n = len(info["param_rank"])
        assert info["rank"] == rank and info["size"] == ranks
        assert info["use_parallel"] is True and info["dev_num"] == ranks
        assert info["param_rank"] == [i % ranks for i in range(n)], what
        assert info["optim_filter"] == [i % ranks == rank for i in range(n)]
        # Parameter i (step order) whole on rank i % N; this rank's pieces
        # in the order of its states, the same pieces.
        assert info["pieces"] == [[[i, 0, info["sizes"][i], True]
                                   for i in range(r, n, ranks)]
                                  for r in range(ranks)], what
        assert sorted(info["local_pieces"]) == info["pieces"][rank], what
        assert info["states_ok"], what
        first = C.CKPT_STEP if run == "resumed" else 0
        assert info["flags"] == [True] * (C.STEPS - first), what
        assert info["global_step"] == C.STEPS, what
        if run == "run":
            # The same IR text as the single-process step.
            assert info["ir"] == single[case]["ir"], what
        # The learning rates of every step, bit for bit.
        assert np.array_equal(np.array(info["lrs"], np.float64).view(
            np.uint64), np.array(single[case]["lrs"][first:],
                                 np.float64).view(np.uint64)), \
            (what, info["lrs"], single[case]["lrs"])


@pytest.mark.parametrize("ranks", [2, 3])
def test_cases_match_single_process(ranks, single, jobs):
    """Each case on ``ranks`` ranks: each rank's parameters and gathered
    states equal the single-process step's bit for bit, and its learning
    rates after each step; each rank keeps the states of the parameters
    ``i % ranks == rank`` only."""
    cases = C.TWO_RANK_CASES if ranks == 2 else C.THREE_RANK_CASES
    outdir = jobs[ranks]
    check_infos(C.read_records(outdir, "INFO"), cases, ranks, "run", single)
    for case in cases:
        for rank in range(ranks):
            assert_same(single[case], outdir / ("%s.run.rank%d.npz" % (
                C.file_name(case), rank)), "%s on rank %d of %d"
                % (case, rank, ranks))


def test_grouped_pieces_follow_the_groups(jobs):
    """order_params: the groups do not list the parameters in step order.
    Rank 0 of 3 updates parameters 0 (group 2) and 3 (group 0); its states
    follow its groups, the exchange the step."""
    info = C.read_records(jobs[3], "INFO")[("Adam/groups.run", 0)]
    assert [p[0] for p in info["local_pieces"]] == [3, 0]
    assert [p[0] for p in info["pieces"][0]] == [0, 3]


# ---------------------------------------------------------- checkpoints
def test_checkpoint_moves_between_world_sizes(single, jobs):
    """Saved over 2 ranks after 2 steps; resumed over 3 ranks and, without
    the parallel optimizer, in this process: the end state equals the
    uninterrupted single-process run's."""
    outdir = jobs[3]
    infos = C.read_records(outdir, "INFO")
    check_infos(infos, C.CKPT_CASES, 3, "resumed", single)
    for case in C.CKPT_CASES:
        for rank in range(3):
            assert_same(single[case], outdir / ("%s.resumed.rank%d.npz" % (
                C.file_name(case), rank)), "%s resumed on rank %d of 3"
                % (case, rank))
        # The single-process optimizer loads the same file (N=2 -> N=1).
        ckpt = jobs["ckpt"] / (C.file_name(case) + ".ckpt.npz")
        opt = C.build(case)
        nn.load_checkpoint(str(ckpt), opt)
        assert int(opt.global_step) == C.CKPT_STEP
        C.run(opt, case, start=C.CKPT_STEP)
        # Compiled after the load: the same IR on every rank as here.
        for rank in range(3):
            assert infos[("%s.resumed" % case, rank)]["ir"] == \
                C.ir_digest(opt), (case, rank)
        np.savez(outdir / "one.npz", **C.flat(opt.state_dict()))
        assert_same(single[case], outdir / "one.npz",
                    "%s resumed in one process" % case)


# ------------------------------------------------ loss scaling and clipping
@pytest.fixture(scope="module")
def control_single():
    """Each control case in this process (no parallel optimizer): its
    gathered-format state dict after nn_cases.CONTROL_STEPS calls, what
    each call reported (nn_cases.run_control) and its IR's digest; for the
    checkpoint cases also the cell's state after CONTROL_CKPT_STEP calls."""
    nn.reset_auto_parallel_context()
    out = {}
    for case in C.control_cases():
        opt, cell = C.build_control(case)
        assert not opt.use_parallel
        if case.endswith("/flat"):
            # The buffers are the parameters dealt out to the ranks.
            assert opt._use_flattened_params and len(opt._parameters) == 3
        calls = C.run_control(opt, cell, case)
        out[case] = {"state": C.flat(opt.state_dict()), "calls": calls,
                     "ir": C.ir_digest(opt)}
    return out


@pytest.fixture(scope="module")
def control_jobs(tmp_path_factory):
    """The control cases over 2 ranks (the checkpoint cases saved after
    CONTROL_CKPT_STEP calls), then over 3 ranks (and the checkpoint cases
    resumed from the 2-rank files): {ranks: output directory}."""
    out = {}
    ckpt = tmp_path_factory.mktemp("control_ckpt")
    cases = C.control_cases()
    for ranks, specs in (
            (2, ["save:" + c if c in C.CONTROL_CKPT_CASES else c
                 for c in cases]),
            (3, cases + ["resume:" + c for c in C.CONTROL_CKPT_CASES])):
        outdir = tmp_path_factory.mktemp("control%d" % ranks)
        check_run(mpi_launch.run_mpi(ranks, "nn_control.py", outdir, ckpt,
                                     *specs, timeout=300))
        out[ranks] = outdir
    out["ckpt"] = ckpt
    return out


def test_control_case_lists(control_single):
    """The control cases cover what the tests claim: every control, Adam,
    AdamWeightDecay, Momentum and Lamb, an overflow, a NaN and a growth of
    the scale, and clipping active in every clipped call."""
    assert {c.split("/")[1] for c in C.CONTROL_CASES} == set(C.CONTROLS)
    assert {c.split("/")[0] for c in C.CONTROL_CASES} >= {
        "Adam", "AdamWeightDecay", "Momentum", "Lamb"}
    assert set(C.CONTROL_CKPT_CASES) <= set(C.control_cases())
    assert 0 < C.CONTROL_CKPT_STEP < C.CONTROL_STEPS
    for case in C.control_cases():
        calls = control_single[case]["calls"]
        assert len(calls) == C.CONTROL_STEPS
        if C.is_dynamic(case):
            assert [c["overflow"] for c in calls] == \
                [k in C.BAD for k in range(C.CONTROL_STEPS)], case
            assert [c["flag"] for c in calls] == \
                [k not in C.BAD for k in range(C.CONTROL_STEPS)], case
            scales = [c["cell"][0] for c in calls]
            assert scales == [1024.0, 512.0, 512.0, 1024.0, 512.0, 256.0,
                              256.0], case
            assert any(math.isnan(c["grad_norm"]) for c in calls), case
        else:
            assert all(c["flag"] and not c["overflow"] for c in calls)
        if C.clips(case):
            # Active: every finite norm above max_grad_norm.
            assert all(c["grad_norm"] > 2 * C.MAX_GRAD_NORM for c in calls
                       if math.isfinite(c["grad_norm"])), case


def _control_calls_match(got, want, what):
    """The calls' flags, overflows, scales, cell counters, global steps and
    learning rates bit for bit; the norms within 1e-12 (relative: the
    sharded step sums the ranks' squares in another order), inf and NaN
    where one process has them."""
    assert len(got) == len(want), what
    for k, (g, w) in enumerate(zip(got, want)):
        for key in ("flag", "overflow", "loss_scale", "cell", "global_step",
                    "lr"):
            assert g[key] == w[key], (what, k, key, g[key], w[key])
        assert np.array_equal(np.array(g["lr"], np.float64).view(np.uint64),
                              np.array(w["lr"], np.float64).view(np.uint64))
        gn, wn = g["grad_norm"], w["grad_norm"]
        if math.isfinite(wn):
            assert abs(gn - wn) <= 1e-12 * wn, (what, k, gn, wn)
        else:
            assert repr(gn) == repr(wn), (what, k, gn, wn)


def _control_state_matches(case, expected, path, what):
    """Bit for bit without clipping and on sparse rows (checked in NumPy by
    the same code as in one process); with clipping by the sharded step,
    within 1e-6 relative (its norm's order of summation)."""
    if not C.clips(case) or case.endswith("/sparse"):
        assert_same(expected, path, what)
        return
    with np.load(path) as got:
        assert sorted(got.files) == sorted(expected), what
        for key, want in expected.items():
            value = got[key]
            assert value.dtype == want.dtype and \
                value.shape == want.shape, (what, key)
            if want.dtype.kind != "f":
                assert np.array_equal(value, want), (what, key)
                continue
            v, w = value.astype(np.float64), want.astype(np.float64)
            assert np.all(np.isfinite(v) == np.isfinite(w)), (what, key)
            assert np.all(np.abs(v - w) <= 1e-6 * np.abs(w)), \
                (what, key, np.max(np.abs(v - w)))


@pytest.mark.parametrize("ranks", [2, 3])
def test_control_matches_single_process(ranks, control_single, control_jobs):
    """A DynamicLossScaleUpdateCell with an inf or NaN in some calls'
    gradients, and clipping by the global norm, on ``ranks`` ranks: every
    rank's overflow flags, scales, global steps and learning rates equal
    one process's bit for bit, its norms within 1e-12; its parameters and
    gathered states bit for bit (within 1e-6 with clipping).  Dense
    gradients are checked by the sharded step itself (the same IR as one
    process), sparse rows in NumPy before it."""
    outdir = control_jobs[ranks]
    records = C.read_records(outdir, "CONTROL")
    cases = C.control_cases()
    assert sorted(k for k in records if k[0].endswith(".run")) == sorted(
        (c + ".run", r) for c in cases for r in range(ranks))
    for case in cases:
        single = control_single[case]
        for rank in range(ranks):
            what = "%s on rank %d of %d" % (case, rank, ranks)
            info = records[(case + ".run", rank)]
            assert info["size"] == ranks and info["rank"] == rank
            n = len(info["optim_filter"])
            assert info["optim_filter"] == [i % ranks == rank
                                            for i in range(n)], what
            sparse = case.endswith("/sparse")
            assert info["compiled_control"] is not sparse, what
            assert info["has_step_status"] is not sparse, what
            assert info["ir"] == single["ir"], what
            _control_calls_match(info["calls"], single["calls"], what)
            _control_state_matches(
                case, single["state"], outdir / ("%s.run.rank%d.npz" % (
                    C.file_name(case), rank)), what)


def test_control_checkpoint_moves_between_world_sizes(control_single,
                                                      control_jobs):
    """The dynamic scale saved with the states over 2 ranks after
    CONTROL_CKPT_STEP calls (one skipped); resumed over 3 ranks and in this
    process, the calls report and end as one uninterrupted process."""
    outdir = control_jobs[3]
    records = C.read_records(outdir, "CONTROL")
    first = C.CONTROL_CKPT_STEP
    for case in C.CONTROL_CKPT_CASES:
        single = control_single[case]
        ckpt = control_jobs["ckpt"] / (C.file_name(case) + ".ckpt.npz")
        # The checkpoint holds the scale after the saved calls.
        opt, cell = C.build_control(case)
        nn.load_checkpoint(str(ckpt), opt)
        saved = single["calls"][first - 1]
        assert [cell.get_loss_scale(), cell.good_steps, cell.cur_iter,
                cell.last_overflow_iter] == saved["cell"], case
        assert int(opt.global_step) == saved["global_step"] < first
        for rank in range(3):
            what = "%s resumed on rank %d of 3" % (case, rank)
            info = records[(case + ".resumed", rank)]
            _control_calls_match(info["calls"], single["calls"][first:],
                                 what)
            _control_state_matches(
                case, single["state"], outdir / ("%s.resumed.rank%d.npz" % (
                    C.file_name(case), rank)), what)
        # One process loads the 2-rank file (N=2 -> N=1) and continues.
        calls = C.run_control(opt, cell, case, start=first)
        _control_calls_match(calls, single["calls"][first:],
                             "%s resumed in one process" % case)
        np.savez(outdir / "one.npz", **C.flat(opt.state_dict()))
        assert_same(single["state"], outdir / "one.npz",
                    "%s resumed in one process" % case)


# -------------------------------------------------------------- failures
def test_dead_rank_raises_distributed_error(tmp_path):
    """Rank 1 of 3 dies (SIGKILL, by the runtime's OPTIM_DIST_FAULT) after
    its update and before the exchange, in step 2: every other rank raises
    DistributedError within the timeout; the parameters it would have
    received keep their values, its own hold the update, and its global
    step stays 2.  (A stalled rank: the runtime's tests.)"""
    timeout = 2.0
    env = {"OPTIM_DIST_FAULT": "rank=1,step=2,action=kill"}
    try:
        result = mpi_launch.run_mpi(3, "nn_failure.py", tmp_path, timeout,
                                    timeout=120, recovery=True, env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail("the job hung: %s" % (e.stdout,))
    failed = list(C.read_records(tmp_path, "FAILED").values())
    assert sorted(f["rank"] for f in failed) == [0, 2], \
        result.stdout + result.stderr
    for f in failed:
        assert f["is_distributed_error"]
        assert f["error"] is not None, f
        assert "did not complete within 2 s" in f["error"], f
        assert f["failure"], f
        assert f["timeout"] == timeout
        # Within the timeout (failed in the exchange), not hung.
        assert f["elapsed"] < 5 * timeout, f
        assert f["non_owned_unchanged"], f
        # Failed in the exchange: its own update was done.
        assert f["owned_changed"], f
        assert f["global_step"] == 2, f


# ------------------------------------------- optimizer weight sharding
import nn_zero as Z  # noqa: E402


def test_parallel_optimizer_config_checked_as_mindspore():
    """parallel_optimizer_config: MindSpore's keys and checks; each key
    given is set, the others keep their values; optimizer_weight_shard_size
    <= 1 is ignored with a warning."""
    assert nn.get_auto_parallel_context("parallel_optimizer_config") == {
        "gradient_accumulation_shard": False,
        "parallel_optimizer_threshold": 64,
        "optimizer_weight_shard_size": -1}
    with pytest.raises(ValueError, match=r"Unknown config: \['foo'\]"):
        nn.set_auto_parallel_context(parallel_optimizer_config={"foo": 1})
    with pytest.raises(TypeError, match="'parallel_optimizer_config' must"):
        nn.set_auto_parallel_context(parallel_optimizer_config=[1])
    with pytest.raises(TypeError, match="gradient_accumulation_shard"):
        nn.set_auto_parallel_context(
            parallel_optimizer_config={"gradient_accumulation_shard": 1})
    with pytest.raises(TypeError, match="parallel_optimizer_threshold"):
        nn.set_auto_parallel_context(
            parallel_optimizer_config={"parallel_optimizer_threshold": 1.5})
    with pytest.raises(ValueError, match="non-negative"):
        nn.set_auto_parallel_context(
            parallel_optimizer_config={"parallel_optimizer_threshold": -1})
    with pytest.raises(TypeError, match="optimizer_weight_shard_size"):
        nn.set_auto_parallel_context(
            parallel_optimizer_config={"optimizer_weight_shard_size": True})
    # A refused call sets nothing.
    with pytest.raises(ValueError):
        nn.set_auto_parallel_context(
            parallel_mode="semi_auto_parallel",
            parallel_optimizer_config={"parallel_optimizer_threshold": -1})
    assert nn.get_auto_parallel_context("parallel_mode") == "stand_alone"
    nn.set_auto_parallel_context(
        parallel_optimizer_config={"parallel_optimizer_threshold": 0})
    nn.set_auto_parallel_context(
        parallel_optimizer_config={"gradient_accumulation_shard": True})
    with pytest.warns(UserWarning, match="optimizer_weight_shard_size"):
        nn.set_auto_parallel_context(
            parallel_optimizer_config={"optimizer_weight_shard_size": 1})
    assert nn.get_auto_parallel_context("parallel_optimizer_config") == {
        "gradient_accumulation_shard": True,
        "parallel_optimizer_threshold": 0,
        "optimizer_weight_shard_size": -1}
    nn.reset_auto_parallel_context()
    assert nn.get_auto_parallel_context(
        "parallel_optimizer_config")["parallel_optimizer_threshold"] == 64


@pytest.fixture(scope="module")
def zero_single():
    """Each ZeRO case in this process (no parallel optimizer): the
    parameters after every step and the state dict at the end, and what
    each step reported."""
    nn.reset_auto_parallel_context()
    out = {}
    for case in Z.CASES:
        opt, _ = Z.build(case)
        assert not opt.use_parallel and opt.state_pieces is None
        record = {}
        calls = Z.run(opt, case, record=record)
        record.update(C.flat(opt.state_dict()))
        out[case] = {"record": record, "calls": calls}
    return out


@pytest.fixture(scope="module")
def zero_jobs(tmp_path_factory):
    """The ZeRO cases over 2 ranks (the checkpoint cases saved after
    nn_zero.CKPT_STEP steps), then over 3 ranks with the checkpoint cases
    resumed under ZeRO and under data_parallel's parallel optimizer:
    {ranks: output directory}."""
    out = {}
    ckpt = tmp_path_factory.mktemp("zero_ckpt")
    for ranks, specs in (
            (2, ["zero:%s:%s" % ("save" if c in Z.CKPT_CASES else "run", c)
                 for c in Z.CASES] + ["checks"]),
            (3, ["zero:run:" + c for c in Z.CASES] +
             ["%s:resume:%s" % (m, c) for c in Z.CKPT_CASES
              for m in ("zero", "dp")])):
        outdir = tmp_path_factory.mktemp("zero%d" % ranks)
        check_run(mpi_launch.run_mpi(ranks, "nn_zero.py", outdir, ckpt,
                                     *specs, timeout=300))
        out[ranks] = outdir
    out["ckpt"] = ckpt
    return out


def _zero_files(outdir, case, run, rank):
    name = "%s.%s" % (case, run)
    return (C.read_records(outdir, "ZERO")[(name, rank)],
            outdir / ("%s.rank%d.npz" % (C.file_name(name), rank)))


def test_zero_case_list(zero_single):
    """The cases cover what the tests claim: Adam, AdamWeightDecay,
    Momentum, Lamb, float16 with master weights, groups, a skipped step of
    a DynamicLossScaleUpdateCell."""
    assert {c.split("/")[0] for c in Z.CASES} >= {
        "Adam", "AdamWeightDecay", "Momentum", "Lamb"}
    assert {c.split("/")[1] for c in Z.CASES} == {
        "plain", "amp", "groups", "dynamic", "sparse"}
    flags = [c[0] for c in zero_single["Adam/dynamic"]["calls"]]
    assert flags == [True, False, True]
    assert set(Z.CKPT_CASES) <= set(Z.CASES) and 0 < Z.CKPT_STEP < Z.STEPS


@pytest.mark.parametrize("ranks", [2, 3])
def test_zero_matches_single_process(ranks, zero_single, zero_jobs):
    """semi_auto_parallel with enable_parallel_optimizer on ``ranks``
    ranks: every rank's parameters after every step, its gathered states,
    flags, learning rates and loss scales equal one process's bit for bit;
    each rank's state Parameters hold its pieces only (a 1-D slice of a
    split parameter's state, a whole state, or an empty array), the ranks'
    state elements add up to the whole and no rank holds much more than
    1/N (the whole-tensor Lamb: its parameters go whole, largest first)."""
    outdir = zero_jobs[ranks]
    for case in Z.CASES:
        run = "zero-save" if ranks == 2 and case in Z.CKPT_CASES \
            else "zero-run"
        single = zero_single[case]
        held = []
        for rank in range(ranks):
            what = "%s on rank %d of %d" % (case, rank, ranks)
            info, path = _zero_files(outdir, case, run, rank)
            assert info["size"] == ranks and info["rank"] == rank
            assert info["mode"] == "zero", what
            # MindSpore's attributes: not data_parallel's optimizer.
            assert info["use_parallel"] is False, what
            assert all(info["optim_filter"]), what
            assert info["calls"] == single["calls"], what
            assert_same(single["record"], path, what)
            assert info["shapes_ok"], what
            # The states are laid out at the first compilation.
            assert info["held_before_step"] == 0, what
            pieces = {tuple(p[:3]) for p in info["pieces"][rank]}
            assert len(pieces) == len(info["state_pieces"]), what
            held.append(info["held"])
            whole = info["whole"]
        assert sum(held) == whole, (case, held, whole)
        if case in Z.WHOLE_CASES:
            # Whole parameters only.
            assert max(held) <= 0.55 * whole, (case, held, whole)
            assert min(held) > 0, (case, held)
        else:
            # Near-equal ranges at multiples of 16 elements.
            assert max(held) <= whole / ranks * 1.05 + 64, \
                (case, held, whole)
        if ranks == 3 and case in ("Adam/plain", "Adam/groups"):
            assert max(held) < 0.34 * whole, (case, held, whole)


def test_zero_splits_parameters(zero_jobs):
    """Elementwise rules split parameters between ranks (the runtime's
    pieces, which cover each parameter once); the whole-tensor rules (Lamb,
    LARS, AdaFactor) and a compiled sparse step's rows give every parameter
    whole."""
    info, _ = _zero_files(zero_jobs[2], "Adam/plain", "zero-run", 0)
    every = [tuple(p) for r in info["pieces"] for p in r]
    assert any(not p[3] for p in every)
    total = {}
    for param, offset, count, whole in every:
        total[param] = total.get(param, 0) + count
    sizes = [math.prod(shape) for _, shape in Z.PARAMS]
    assert sorted(total.values()) == sorted(sizes)
    for case in Z.CASES:
        info, _ = _zero_files(zero_jobs[3], case, "zero-run", 0)
        every = [p for r in info["pieces"] for p in r]
        assert all(p[3] for p in every) is (case in Z.WHOLE_CASES), case


def test_zero_refusals_on_two_ranks(zero_jobs):
    """Sparse rows stepped through buffers of whole states (FTRL) are
    refused; an optimizer_weight_shard_size other than the job's size is
    refused, the job's size taken; fewer parameters than ranks are taken
    (one parameter split between the ranks), with one process's result."""
    got = C.read_records(zero_jobs[2], "CHECK")
    assert sorted(got) == sorted(
        (n, r) for n in ("rows_refused", "shard_size_other",
                         "shard_size_world", "fewer_parameters")
        for r in range(2))
    for rank in range(2):
        refused = got[("rows_refused", rank)]
        assert refused["error"] == "NotImplementedError"
        assert "buffers of whole states" in refused["message"]
        other = got[("shard_size_other", rank)]
        assert other["error"] == "NotImplementedError"
        assert "optimizer_weight_shard_size is 3" in other["message"]
        # Built: the pieces are not known before the first compilation.
        assert got[("shard_size_world", rank)] == {"value": None}
        same, piece, held, small_same, small_pieces, small_held, shape = \
            got[("fewer_parameters", rank)]["value"]
        assert same is True
        assert piece == [[0, 160], [160, 160]][rank] + [False]
        assert held == 160
        # One parameter of 16 elements: rank 1 holds it whole, rank 0 no
        # piece (an empty state); the gathered state is whole on both.
        assert small_same is True
        assert small_pieces == [{}, {"q": [0, 16, True]}][rank]
        assert small_held == [0, 16][rank]
        assert shape == [4, 4]


def test_zero_checkpoint_moves(zero_single, zero_jobs):
    """A checkpoint saved under ZeRO on 2 ranks after CKPT_STEP steps (the
    canonical per-parameter checkpoint) resumes under ZeRO on 3 ranks,
    under data_parallel's parallel optimizer on 3 ranks and in one
    process, each ending as the uninterrupted single-process run."""
    outdir = zero_jobs[3]
    first = Z.CKPT_STEP
    for case in Z.CKPT_CASES:
        single = zero_single[case]
        later = {k: v for k, v in single["record"].items()
                 if not k.startswith("step") or
                 int(k[4:].split("/")[0]) >= first}
        for mode in ("zero", "dp"):
            for rank in range(3):
                what = "%s resumed (%s) on rank %d of 3" % (case, mode, rank)
                info, path = _zero_files(outdir, case, mode + "-resume",
                                         rank)
                assert info["calls"] == single["calls"][first:], what
                assert info["use_parallel"] is (mode == "dp"), what
                assert info["shapes_ok"], what
                assert_same(later, path, what)
        ckpt = zero_jobs["ckpt"] / (C.file_name(case) + ".ckpt.npz")
        opt, cell = Z.build(case)
        nn.load_checkpoint(str(ckpt), opt)
        record = {}
        calls = Z.run(opt, case, start=first, record=record)
        assert calls == single["calls"][first:], case
        record.update(C.flat(opt.state_dict()))
        np.savez(outdir / "one.npz", **record)
        assert_same(later, outdir / "one.npz",
                    "%s resumed in one process" % case)
