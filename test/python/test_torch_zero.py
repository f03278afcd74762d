"""optim_mlir.torch.ZeroRedundancyOptimizer under mpirun (2 and 3 ranks).

The workers (test/python/mpi/torch_zero_*.py) step the sharded optimizer
and, in the same process, the unsharded one on the same gradients, and
report what they saw as JSON lines; the checks are here. Each mpirun runs
many cases, to keep the number of launches (and compilations) small.
"""

import glob
import json
import math
import os
import shutil
from collections import defaultdict

import pytest

import mpi_launch

pytestmark = pytest.mark.skipif(shutil.which("mpirun") is None,
                                reason="mpirun (OpenMPI) is not installed")

# Every optim_mlir.torch optimizer class.
CLASSES = ["SGD", "Adam", "AdamW", "SparseAdam", "Lamb", "Adafactor", "Lion",
           "Adan", "RAdam", "Adamax", "Adadelta", "Adagrad", "RMSprop",
           "ASGD", "Rprop", "NAdam"]
# Those torch.optim (1.13) has too: the sharded steps are compared with
# torch's eager ones, element by element, to this relative distance (over
# |reference| + 1e-5), after 4 float32 steps.
EAGER = [c for c in CLASSES if c not in ("Lamb", "Adafactor", "Lion",
                                         "Adan")]
EAGER_RTOL = 5e-5
FAILURE_TIMEOUT = 5.0


def run(np, script, *args, recovery=False, env=None, timeout=300):
    """Runs the worker; returns its reports by kind ({kind: [dict]})."""
    out = os.path.join(str(run.tmp.mktemp("zero")), "")
    env = dict(env or {}, ZERO_RESULTS=out)
    proc = mpi_launch.run_mpi(np, script, *args, recovery=recovery, env=env,
                              timeout=timeout)
    reports = defaultdict(list)
    for path in sorted(glob.glob(os.path.join(out, "rank*.jsonl"))):
        with open(path) as f:
            for line in f:
                kind, _, text = line.partition(" ")
                reports[kind].append(json.loads(text))
    return proc, reports


@pytest.fixture(scope="module", autouse=True)
def _tmp(tmp_path_factory):
    run.tmp = tmp_path_factory


def by_class(records):
    out = defaultdict(dict)
    for r in records:
        out[r["cls"]][r["rank"]] = r
    return out


def check_parity(records, size, names):
    got = by_class(records)
    assert sorted(got) == sorted(names)
    for name, ranks in got.items():
        assert sorted(ranks) == list(range(size)), name
        first = ranks[0]
        assert sum(r["owned"] for r in ranks.values()) == first["params"]
        assert sum(r["local_elements"] for r in ranks.values()) == \
            first["total_elements"], name
        base, _, variant = name.partition(":")
        variants = set(variant.split("+"))
        for rank, r in ranks.items():
            where = "%s on rank %d of %d" % (name, rank, size)
            # Bit-identical to the unsharded optimizer, parameters and the
            # states of the parameters the rank owns; the same parameters
            # on every rank; and they moved.
            assert r["same_params"], where
            assert r["same_states"], where
            assert r["checksum"] == first["checksum"], where
            assert r["moved"], where
            if base in EAGER and "bf16" not in variants:
                assert r["eager_rel_diff"] is not None, where
                assert r["eager_rel_diff"] < EAGER_RTOL, (where, r)
            # States only for the owned parameters, and all of them.
            assert r["wrapper_state"] == 0, where
            assert r["local_state_owned"], where
            assert r["local_state_keys"] <= r["owned"], where
            assert r["local_elements_all"] == r["local_elements"] == \
                r["expected_elements"], where
            if size > 1:
                assert 0 < r["local_elements"] < r["total_elements"], where
            # The LR scheduler's values on the wrapper, passed to the local
            # optimizer, which never compiled again after its first step.
            assert r["lrs"] == r["ref_lrs"], where
            compiled = [tuple(c) for c in r["compiled"]]
            if "add" in variants:
                assert compiled[1] == compiled[0], where
                assert compiled[3] == compiled[2], where
            else:
                assert len(set(compiled)) == 1, (where, compiled)
            assert r["losses"] == [4.5], where
            if "bucket" in variants:
                assert r["bucket_views"] is True, where
            # The parameters keep their dtype and strides.
            assert r["layouts_kept"], where
            assert r["dtypes"] == (["torch.bfloat16"] if "bf16" in variants
                                   else ["torch.float32"]), where
            assert r["contiguous"] == ("strided" not in variants), where


def test_two_ranks_every_class_and_refused_arguments():
    # CLASS:VARIANT: see torch_zero_parity.run.
    names = CLASSES + ["torch.Adam", "Adam:bucket", "RMSprop:add",
                       "Adam:bf16", "SGD:strided", "Adam:add+bucket"]
    proc, reports = run(2, "torch_zero_parity.py", *(names + ["errors"]))
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_parity(reports["ZERO"], 2, names)

    errors = defaultdict(dict)
    for r in reports["ERR"]:
        errors[r["case"]][r["rank"]] = r
    expected = {
        "overlap": ("ValueError", "overlap_with_ddp=True"),
        "group": ("ValueError", "process_group must be None"),
        "empty": ("ValueError", "empty parameter list"),
        "mismatch": ("ValueError", "the ranks hold different parameters"),
        "unconsolidated": ("RuntimeError", "consolidate_state_dict(to="),
        "bad_to": ("ValueError", "to must be a rank in [0, 2)"),
        "world": (None, ""),
    }
    assert sorted(errors) == sorted(expected)
    for case, (kind, text) in expected.items():
        assert sorted(errors[case]) == [0, 1], case
        for r in errors[case].values():
            assert r["type"] == kind, (case, r)
            assert text in r["message"], (case, r)
    # Each rank says which shapes differ.
    assert "[3, 2]" in errors["mismatch"][0]["message"]
    assert "[4, 2]" in errors["mismatch"][0]["message"]


def test_three_ranks_every_class():
    names = CLASSES + ["torch.SGD", "SGD:bucket", "Adam:add", "Lamb:bf16",
                       "Adafactor:strided", "SGD:bucket+bf16"]
    proc, reports = run(3, "torch_zero_parity.py", *names)
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_parity(reports["ZERO"], 3, names)


def test_checkpoint_two_ranks_resumes_on_three_and_one(tmp_path):
    proc, saved = run(2, "torch_zero_checkpoint.py", "save", tmp_path,
                      *CLASSES)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = by_class(saved["SAVE"])
    for name in CLASSES:
        # Consolidated on the last rank: the others have no state_dict().
        assert got[name][0]["raised"] is not None and \
            "consolidate_state_dict(to=0)" in got[name][0]["raised"]
        last = got[name][1]
        assert last["raised"] is None
        assert last["state_keys"] == list(range(9))
        assert last["group_params"] == [[0, 1, 2, 3, 4], [5, 6, 7, 8]]

    few = ["Adam", "SGD", "Adafactor", "ASGD", "SparseAdam"]
    for size, names in ((3, CLASSES), (1, few)):
        proc, resumed = run(size, "torch_zero_checkpoint.py", "resume",
                            tmp_path, *names)
        assert proc.returncode == 0, proc.stderr[-3000:]
        got = by_class(resumed["RESUME"])
        assert sorted(got) == sorted(names)
        for name, ranks in got.items():
            assert sorted(ranks) == list(range(size)), name
            assert sum(r["owned"] for r in ranks.values()) == 9
            for rank, r in ranks.items():
                where = "%s on rank %d of %d" % (name, rank, size)
                # Saved at 2 ranks, resumed at `size`: the parameters and
                # states of an unsharded run, bit for bit; so is the
                # unsharded optimizer that loaded the consolidated state.
                assert r["same_params"], where
                assert r["same_states"], where
                assert r["loaded_same"], where
                if name in EAGER:
                    # torch.optim's class loads it too.
                    assert r["eager_rel_diff"] < EAGER_RTOL, (where, r)
                assert r["lrs"] == [r["lrs"][0], r["lrs"][0] * 0.5], where
            # Consolidated again at `size`: the unsharded state_dict.
            assert ranks[0]["consolidated_same"] is True, name


@pytest.mark.parametrize("mode", ["kill", "stall"])
def test_failed_rank_raises_on_the_others(mode):
    size = 3
    proc, reports = run(size, "torch_zero_failure.py", mode, recovery=True,
                        env={"OPTIM_DIST_TIMEOUT": str(FAILURE_TIMEOUT)},
                        timeout=120)
    got = {r["rank"]: r for r in reports["FAIL"]}
    victim = size - 1
    alive = list(range(size)) if mode == "stall" else list(range(victim))
    assert sorted(got) == alive, (proc.stdout[-2000:], proc.stderr[-2000:])
    for rank in alive:
        r = got[rank]
        assert r["timeout"] == FAILURE_TIMEOUT
        assert r["type"] == "DistributedError" and r["distributed"], r
        assert "%g s" % FAILURE_TIMEOUT in r["message"], r
        assert "died or stalled" in r["message"], r
        assert r["failure"] == r["message"]
        # The exchange wrote nothing: the others' parameters as they were.
        assert r["others_unchanged"], r
        # The communicator is broken: the next step fails at once.
        assert r["again_distributed"], r
        assert r["again_elapsed"] < 1.0, r
        if rank != victim:
            # Within the timeout (and not much later).
            assert FAILURE_TIMEOUT * 0.9 <= r["elapsed"] < \
                FAILURE_TIMEOUT + 3.0, r


# ---- clipping and loss scaling (test/python/mpi/torch_zero_control.py)

# CLASS:KIND (see torch_zero_control.py): dynamic loss scaling with infs
# and a NaN, clipping (with no, a static and a dynamic loss scale).
CONTROL_CASES = ["Adam:dynamic", "AdamW:dynamic", "SGD:dynamic",
                 "Lamb:dynamic", "Adam:clip", "AdamW:clip+static",
                 "SGD:clip", "Lamb:clip", "RMSprop:clip+dynamic",
                 "Adam:clip+dynamic"]
# The dynamic scale after each step (init 2**10, growth_interval 3, an inf
# or NaN at steps 3, 7 and 8): GradScaler's rule, worked out by hand.
INF_STEPS = {3, 7, 8}
EXPECTED_SCALES = [1024.0, 1024.0, 2048.0, 1024.0, 1024.0, 1024.0, 2048.0,
                   1024.0, 512.0, 512.0, 512.0, 1024.0]
STATIC_SCALE = 128.0
CLIP_NORMS = (0.5, 1.5, 3)  # max_grad_norm, the value set later, at step
# With clipping, the parameters against the unsharded optimizer's: the clip
# factor comes from the global norm, summed in another order here (torch's
# float64 sums per tensor) than in the unsharded step (the compiled call's
# chunks); relative, element by element (over |reference| + 1e-5).
CLIP_RTOL = 1e-6
# grad_norm against an independent float64 norm and the unsharded
# optimizer's (the same sum in another order), and against
# clip_grad_norm_'s float32 norm.
NORM64_RTOL = 1e-12
NORM32_RTOL = 1e-6


def rel(a, b):
    return abs(a - b) / abs(b)


def check_control(records, size):
    got = by_class(records)
    assert sorted(got) == sorted(CONTROL_CASES)
    for case, ranks in got.items():
        assert sorted(ranks) == list(range(size)), case
        assert sum(r["owned"] for r in ranks.values()) == 9, case
        base, _, kind = case.partition(":")
        kinds = set(kind.split("+"))
        dynamic, clip = "dynamic" in kinds, "clip" in kinds
        for rank, r in ranks.items():
            where = "%s on rank %d of %d" % (case, rank, size)
            assert r["moved"] and r["local_plain"], where
            assert len(r["steps"]) == len(EXPECTED_SCALES), where
            for s, first in zip(r["steps"], ranks[0]["steps"]):
                at = (where, s["step"])
                inf = dynamic and s["step"] in INF_STEPS
                # Every rank saw and decided the same (no communication).
                for key in ("found_inf", "loss_scale", "grad_norm"):
                    assert json.dumps(s[key]) == json.dumps(first[key]), at
                assert s["found_inf"] is inf and \
                    s["ref_found_inf"] is inf, (at, s)
                expected = EXPECTED_SCALES[s["step"]] if dynamic else \
                    STATIC_SCALE if "static" in kinds else 1.0
                assert s["loss_scale"] == s["ref_loss_scale"] == \
                    expected, (at, s)
                assert s["scale_before"][0] == s["scale_before"][1], at
                if clip:
                    assert s["max_grad_norm"] == (
                        CLIP_NORMS[0] if s["step"] < CLIP_NORMS[2]
                        else CLIP_NORMS[1]), at
                    # Clipping is active at every step.
                    assert inf or s["norm64"] > 3 * s["max_grad_norm"], at
                    assert s["ref_rel_diff"] <= CLIP_RTOL, (at, s)
                else:
                    assert s["max_grad_norm"] is None, at
                    # Bit for bit the unsharded optimizer.
                    assert s["same_params"] and s["same_states"], (at, s)
                if inf:
                    # Skipped: parameters, states and step counts as they
                    # were, on every rank (the inf is in one parameter's
                    # gradient, which one rank owns).
                    assert s["unchanged"], at
                    for norm in (s["grad_norm"], s["ref_grad_norm"]):
                        assert math.isnan(norm) if s["step"] == 8 \
                            else norm == math.inf, (at, s)
                else:
                    assert not s["unchanged"], at
                    assert rel(s["grad_norm"], s["norm64"]) <= \
                        NORM64_RTOL, (at, s)
                    assert rel(s["grad_norm"], s["ref_grad_norm"]) <= \
                        NORM64_RTOL, (at, s)
                    if "eager_norm" in s:
                        assert rel(s["grad_norm"], s["eager_norm"]) <= \
                            NORM32_RTOL, (at, s)
                if "eager_rel_diff" in s:
                    # torch's clip_grad_norm_ then torch.optim's step (and
                    # GradScaler's skips).
                    assert s["eager_rel_diff"] < EAGER_RTOL, (at, s)
            if clip and base in EAGER:
                assert "eager_rel_diff" in r["steps"][0], where


@pytest.mark.parametrize("size", [2, 3])
def test_clipping_and_loss_scaling(size):
    args = CONTROL_CASES + (["errors"] if size == 2 else [])
    proc, reports = run(size, "torch_zero_control.py", "steps", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_control(reports["CTRL"], size)
    if size != 2:
        return
    # Bad values: the unsharded class's exception, on construction (and
    # from the max_grad_norm setter).
    errors = defaultdict(dict)
    for r in reports["ERR"]:
        errors[r["case"]][r["rank"]] = r
    same = ["negative_norm", "zero_norm", "inf_norm", "bool_norm",
            "zero_scale", "text_scale", "nan_scale", "set_negative"]
    loads = ["load_scaled_into_plain", "load_plain_into_scaled"]
    assert sorted(errors) == sorted(same + loads + ["torch_class"])
    for case, ranks in errors.items():
        assert sorted(ranks) == [0, 1], case
        for r in ranks.values():
            assert r["type"] is not None and r["type"] == r["ref_type"], r
            if case in same:
                assert r["message"] == r["ref_message"], r
            elif case in loads:
                assert r["message"] == r["ref_message"].replace(
                    "optim_mlir.torch.Adam:",
                    "optim_mlir.torch.ZeroRedundancyOptimizer:"), r
            else:
                assert "need an optim_mlir.torch optimizer_class" in \
                    r["message"], r
    assert errors["negative_norm"][0]["type"] == "ValueError"
    assert "max_grad_norm must be positive, got -1.0" in \
        errors["negative_norm"][0]["message"]
    assert errors["text_scale"][0]["type"] == "TypeError"


# Saved after 4 steps (an inf at step 1): scale 2**10 / 2, 2 clean steps
# since. Resumed for 4 (a NaN at step 5): the count carried over makes the
# first resumed step grow the scale.
CHECKPOINT_CASES = ["Adam", "AdamW", "SGD", "Lamb", "Adam:clip"]
SAVED_CONTROL = {"loss_scale": None,
                 "dynamic": {"init_scale": 1024.0, "growth_factor": 2.0,
                             "backoff_factor": 0.5, "growth_interval": 3},
                 "scale": 512.0, "good_steps": 2}
RESUMED_SCALES = [1024.0, 512.0, 512.0, 512.0]
RESUMED_FOUND = [False, True, False, False]


def test_dynamic_scale_checkpoint_two_ranks_resumes_on_three(tmp_path):
    proc, saved = run(2, "torch_zero_control.py", "save", tmp_path,
                      *CHECKPOINT_CASES)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = by_class(saved["SAVE"])
    assert sorted(got) == sorted(CHECKPOINT_CASES)
    for case in CHECKPOINT_CASES:
        assert sorted(got[case]) == [1], case  # consolidated on rank 1
        r = got[case][1]
        assert r["control"] == dict(
            SAVED_CONTROL, max_grad_norm=5.0 if case.endswith(":clip")
            else None), (case, r)
        assert r["loss_scale"] == 512.0

    proc, resumed = run(3, "torch_zero_control.py", "resume", tmp_path,
                        *CHECKPOINT_CASES)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = by_class(resumed["RES"])
    assert sorted(got) == sorted(CHECKPOINT_CASES)
    for case, ranks in got.items():
        assert sorted(ranks) == [0, 1, 2], case
        for rank, r in ranks.items():
            where = "%s on rank %d of 3" % (case, rank)
            assert r["loaded_scale"] == 512.0, where
            # The wrapper resumed at 3 ranks, the unsharded optimizer that
            # loaded the file, the unsharded run from the start and a
            # wrapper that loaded that run's state_dict: the same scales,
            # the same skipped step, bit for bit the same parameters.
            assert r["scales"] == [[s] * 4 for s in RESUMED_SCALES], where
            assert r["found"] == [[f] * 4 for f in RESUMED_FOUND], where
            if case.endswith(":clip"):
                assert max(r["rel_diffs"]) <= CLIP_RTOL, (where, r)
            else:
                assert r["same_params"] and r["same_states"], where
                assert r["loaded_same"] and r["from_ref_same"], where
                assert r["rel_diffs"] == [0.0] * 4, where
        # Consolidated again at 3 ranks: the unsharded state_dict, control
        # entry included.
        assert ranks[0]["consolidated_same"] is True, case
        mine, theirs = ranks[0]["consolidated_control"]
        assert mine == theirs and mine["scale"] == 512.0, case
