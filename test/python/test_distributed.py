"""The runtime's distributed step under mpirun (docs/Distributed.md):
every rule sharded over 2 and 3 ranks gives parameters and states
bit-identical to one process, gradients reduced over the ranks match the
rank-ordered sum, a step refused on one rank changes nothing on any rank,
and a rank that stops mid-step gives the others an error within the
timeout without a half-written parameter."""

import json
import re

import pytest

from mpi_launch import run_mpi


def results(proc):
    """The JSON objects the ranks printed after "RESULT " (lines of
    different ranks may run together)."""
    decoder = json.JSONDecoder()
    found = [decoder.raw_decode(proc.stdout, m.end())[0]
             for m in re.finditer(r"RESULT ", proc.stdout)]
    assert found, proc.stdout[-3000:] + proc.stderr[-3000:]
    return found


def by_rank(found):
    return {r["rank"]: r for r in found}


@pytest.mark.parametrize("np_, mode", [(3, "zero"), (2, "broadcast_params")])
def test_every_rule_matches_one_process(np_, mode):
    proc = run_mpi(np_, "sharded_worker.py", "rules", mode)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = results(proc)
    from optim_mlir import _optim
    rules = set(_optim.rule_specs())
    assert {r["rule"] for r in found} == rules
    assert len(found) == len(rules) * np_
    for r in found:
        assert "error" not in r, r
        assert r["params_equal"] and r["states_equal"], r
        assert r["mode"] == mode and r["global_step"] == 4
    # Every state element is kept by exactly one rank.
    for rule in rules:
        mine = [r for r in found if r["rule"] == rule]
        total = mine[0]["total_state_elements"]
        assert sum(r["state_elements"] for r in mine) == total
        if mode == "zero" and rule == "adam":
            # The centralized group's parameters go whole, the others are
            # split by elements: no rank keeps half of the states here.
            for r in mine:
                assert 0 < r["state_elements"] < 0.5 * total, r


@pytest.mark.parametrize("np_", [2, 3])
def test_gradient_reductions_sum_in_rank_order(np_):
    proc = run_mpi(np_, "sharded_worker.py", "reductions")
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = results(proc)
    assert len(found) == 8 * np_
    assert {(r["gradients"], r["mode"]) for r in found} == {
        (g, m) for g in ("sum", "mean") for m in ("zero", "broadcast_params")}
    for r in found:
        assert r["params_equal"] and r["states_equal"], r


def test_mixed_precision_masters_start_from_the_parameters():
    proc = run_mpi(3, "sharded_worker.py", "amp")
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = results(proc)
    assert len(found) == 6
    for r in found:
        assert r["params_equal"] and r["states_equal"], r
    # ZeRO splits the bfloat16 parameters with their masters.
    assert any(r["split"] for r in found if r["mode"] == "zero")


def test_refused_step_changes_nothing_on_any_rank():
    proc = run_mpi(3, "sharded_worker.py", "refused")
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = by_rank(results(proc))
    assert set(ranks) == {0, 1, 2}
    for rank, r in ranks.items():
        alias, dtype = r["messages"]
        if rank == 1:
            assert dtype.startswith("TypeError: ") and "float16" in dtype, r
        else:
            assert dtype.startswith("ValueError: the step failed on rank 1, "
                                    "and nothing changed: "), r
            assert "float32" in dtype, r
        assert alias.startswith("ValueError: the step failed on rank 1, and "
                                "nothing changed: "), r
        assert "overlap" in alias, r
        assert r["unchanged"] and r["global_step_after_refusal"] == 0
        assert r["global_step"] == 1 and r["changed_after"]


@pytest.mark.parametrize("np_", [2, 3])
def test_communicator_collectives_and_timeout(np_):
    proc = run_mpi(np_, "sharded_worker.py", "communicator")
    ranks = by_rank(results(proc))
    assert set(ranks) == set(range(np_))
    for rank, r in ranks.items():
        assert r["size"] == np_
        assert r["allgather"] == [("r%d" % k) * (k + 1) for k in range(np_)]
        assert r["broadcast"] == "from root"
        assert r["in_order"] == [0.0, None, float(2 % np_), float(3 % np_)]
        assert r["allgathered"] == [10.0 + np_ - 1, 10.0]
        assert "different buffer sizes or owners" in r["mismatch"]
        if rank == 0:
            continue
        assert "a barrier did not complete within 1 s on rank %d" % rank \
            in r["timeout"], r
        assert "failed earlier and cannot be used again" in r["broken"]
        assert r["failure"] in r["timeout"]


@pytest.mark.parametrize("action", ["kill", "stall"])
def test_rank_stopping_mid_step(action):
    proc = run_mpi(3, "sharded_worker.py", "failure",
                   recovery=(action == "kill"),
                   env={"OPTIM_DIST_TIMEOUT": "2",
                        "OPTIM_DIST_FAULT":
                            "rank=2,step=1,action=" + action})
    ranks = by_rank(results(proc))
    # The stopped rank reports nothing; the two others report the failure.
    assert set(ranks) == {0, 1}, proc.stdout
    for rank, r in ranks.items():
        assert "the broadcast of rank 2's parameters" in r["error"], r
        assert "did not complete within 2 s on rank %d" % rank in r["error"]
        assert 2.0 <= r["elapsed"] < 10.0, r
        assert r["others_unchanged"] and r["own_updated"], r
        assert r["failure"] == r["error"]


def grad_scaler_scales(init, growth, backoff, interval, min_scale, found,
                       restore=None):
    """The loss scale after each step of torch GradScaler's update (with
    MindSpore's floor `min_scale`), from the steps' found-inf flags;
    `restore` = (step, scale, good) sets the state before that step."""
    scale, good, out = init, 0, []
    for step, inf in enumerate(found):
        if restore and step == restore[0]:
            scale, good = restore[1], restore[2]
        if inf:
            scale, good = max(scale * backoff, min_scale), 0
        else:
            good += 1
            if good >= interval:
                scale, good = scale * growth, 0
        out.append(scale)
    return out


@pytest.mark.parametrize("np_", [2, 3])
def test_clipping_and_dynamic_loss_scaling_over_the_ranks(np_):
    """The global norm spans every rank's gradients (after the reduction):
    dynamic loss scaling is bit-identical to one process, skipped steps
    (an inf, a NaN on one rank) included; clipping to a relative 1e-6 (the
    norm is added up in another order)."""
    proc = run_mpi(np_, "sharded_worker.py", "control")
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = results(proc)
    # dynamic and clip: 3 rules x 2 modes x 2 reductions; dynamic_amp: 2.
    assert len(found) == (12 + 2 + 12) * np_, [r.get("error") for r in found]
    flags = [False, False, True, False, True, False, False, False]
    expected = {
        "dynamic": grad_scaler_scales(1024.0, 2.0, 0.5, 2, 1.0, flags,
                                      restore=(5, 512.0, 1)),
        "dynamic_amp": grad_scaler_scales(256.0, 2.0, 0.25, 3, 0.0, flags,
                                          restore=(5, 512.0, 1)),
    }
    for r in found:
        assert "error" not in r, r
        assert r["status_equal"], r
        assert r["norm_relative"] < 1e-12, r
        if r["name"] in expected:
            assert r["params_equal"] and r["states_equal"], r
            assert r["found_inf"] == flags, r
            assert r["loss_scale"] == expected[r["name"]], r
            # Two skipped steps.
            assert r["global_step"] == 6, r
        else:
            # Clipping acts on every clean step; the inf gives a factor of
            # inf (and NaN where it was), as in one process.
            assert r["params_close"] and r["states_close"], r
            assert r["worst_relative"] < 1e-6, r
            assert r["found_inf"] == [False, False, True] + [False] * 5, r
            factors = r["clip_factor"]
            assert factors[2] == float("inf"), r
            assert all(f > 10.0 for i, f in enumerate(factors) if i != 2), r
            assert r["global_step"] == 8, r
    # Every rank reports the same status.
    cases = {}
    for r in found:
        key = (r["name"], r["rule"], r["mode"], r["gradients"])
        cases.setdefault(key, []).append(
            (r["loss_scale"], r["clip_factor"]))
    assert len(cases) == 26
    for key, seen in cases.items():
        assert len(seen) == np_ and all(s == seen[0] for s in seen), key
