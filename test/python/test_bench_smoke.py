"""Smoke test of bench/models.py and bench/bench_step.py: every subcommand
runs at tiny sizes with few rounds and prints its header and table. Checks
structure only, never timing. The baseline kernels are also checked against
the compiled step's numerics (the hand-written AdamW loop computes the same
update, the floor kernels leave the values alone)."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import BUILD, ROOT

BENCH = os.path.join(ROOT, "bench")
sys.path.insert(0, BENCH)

import benchlib  # noqa: E402
import models  # noqa: E402

NUM = r"[-+]?\d+(?:\.\d+)?"


def run(*args, timeout=120):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(BUILD, "python")] +
        ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["OPTIM_BUILD_DIR"] = BUILD
    proc = subprocess.run([sys.executable] + list(args), env=env,
                          capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def check_header(out):
    lines = out.splitlines()
    assert re.match(r"cpu: .+, avx512f: (yes|no)$", lines[0]), out
    assert lines[1].startswith("threads: "), out
    assert lines[3].startswith("source: "), out
    assert lines[4].startswith("command: ") and "bench_step.py" in lines[4]


def test_model_shapes():
    resnet = models.resnet50_params()
    assert len(resnet) == 161
    assert sum(models.num_elements(s) for _, s in resnet) == 25557032
    assert sum(len(s) == 4 for _, s in resnet) == 53
    bert = models.bert_base_params()
    assert len(bert) == 199
    assert sum(models.num_elements(s) for _, s in bert) == 109482240


def test_models_cli():
    out = run(os.path.join(BENCH, "models.py"), "resnet50-momentum-gc",
              "--cut", "4")
    assert out.startswith("optim.optimizer @opt rule #optim.rule<momentum")
    assert out.count("optim.param ") == 4
    assert "optim.group grad_centralization {" in out
    assert 'optim.param "conv1.weight" : tensor<64x3x7x7xf32>' in out
    out = run(os.path.join(BENCH, "models.py"), "bert-base-lamb")
    assert "#optim.rule<lamb" in out and out.count("optim.param ") == 199


def test_kernels_match_compiled_step():
    import optim_mlir
    from optim_mlir import ir

    lib = benchlib.load_kernels()
    shapes = [(3, 100), (70001,)]
    params = [("p%d" % i, s, "float32") for i, s in enumerate(shapes)]
    text = ir.optimizer_ir("adam_weight_decay",
                           dict(beta1=0.9, beta2=0.999, eps=1e-6),
                           params=params, learning_rate=1e-3,
                           weight_decay=0.01, symbol="bench_smoke")
    compiled = optim_mlir.CompiledOptimizer(text, "num-threads=2")
    assert list(compiled.state_names) == ["moment1", "moment2"]
    rng = np.random.default_rng(1)
    ps = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    gs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ss = [np.zeros(s, np.float32) for s in shapes for _ in range(2)]
    compiled.init_states(ss)
    ps2, ss2 = [p.copy() for p in ps], [s.copy() for s in ss]
    tab = benchlib.Tensors({"p": ps2, "g": gs, "m": ss2[0::2],
                            "v": ss2[1::2]}, chunk=4096)
    P, G, M, V = (tab.ptr(k) for k in "pgmv")
    for _ in range(3):
        compiled.step(ps, gs, ss)
        lib.adamw_fused(P, G, M, V, *tab.table(), 1e-3, 0.9, 0.999, 1e-6,
                        0.01, 2)
    for a, b in zip(ps + ss, ps2 + ss2):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    before = [a.copy() for a in ps2 + ss2]
    lib.floor_adamw(P, G, M, V, *tab.table(), 0.0, 2)
    partial, total = tab.scratch()
    first = benchlib.Tensors.i64(tab.first)
    lib.floor_lamb(P, G, M, V, *tab.table(), first, tab.ntensors, partial,
                   total, 0.0, 1)
    central = np.array([1, 0], np.int32)
    lib.floor_momentum_gc(P, G, V, *tab.table(), first,
                          central.ctypes.data_as(benchlib._I32P),
                          tab.ntensors, partial, total, 0.0, 2)
    for a, b in zip(ps2 + ss2, before):
        np.testing.assert_array_equal(a, b)
    assert len(benchlib.libomp_copies()) == 1


def test_adamw16m():
    out = run(os.path.join(BENCH, "bench_step.py"), "adamw16m",
              "--params", "70000", "--tensors", "3", "--threads", "1,2",
              "--rounds", "2", "--warmup", "1")
    check_header(out)
    assert "compiled/floor" in out and "compiled/C++" in out
    rows = re.findall(r"^(flat|tensors)\s+(\d+)\s+(\d+)((?:\s+%s){6})$"
                      % NUM, out, re.M)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("flat", "1", "1"), ("flat", "1", "2"), ("tensors", "3", "1"),
        ("tensors", "3", "2")], out


def test_lamb_bert():
    out = run(os.path.join(BENCH, "bench_step.py"), "lamb-bert",
              "--scale", "16", "--rounds", "2", "--warmup", "1",
              "--compile-reps", "2", "--timeout", "60")
    check_header(out)
    assert re.search(r"^compile: %s s" % NUM, out, re.M), out
    assert "compiled/floor" in out
    assert re.search(r"^bert-base-lamb\s+199\s+\d+((?:\s+%s){5})$" % NUM,
                     out, re.M), out


def test_momentum_resnet_gc():
    out = run(os.path.join(BENCH, "bench_step.py"), "momentum-resnet-gc",
              "--cut", "2", "--scale", "8", "--rounds", "2", "--warmup", "1",
              "--compile-reps", "1", "--timeout", "120")
    check_header(out)
    assert re.search(r"^resnet50-momentum-gc\s+2\s+\d+((?:\s+%s){5})$" %
                     NUM, out, re.M), out


def test_compile_timeout():
    # No compile finishes in a millisecond: the run reports it and stops.
    out = run(os.path.join(BENCH, "bench_step.py"), "momentum-resnet-gc",
              "--cut", "2", "--scale", "8", "--timeout", "0.001")
    check_header(out)
    assert re.search(r"^did not compile in 0.001 s$", out, re.M), out
    assert "compiled/floor" not in out


def test_torch_loop():
    pytest.importorskip("torch")
    out = run(os.path.join(BENCH, "bench_step.py"), "torch-loop",
              "--epochs", "2", "--steps", "2", "--batch", "4", "--width", "4",
              "--image", "16", "--sleep", "0.05", "--sleep-reps", "1")
    check_header(out)
    for name in ("optim_mlir", "torch"):
        assert re.search(r"^%s\s+%s\s+%s\s+%s$" % (name, NUM, NUM, NUM),
                         out, re.M), out
    assert re.search(r"^epoch time ours/torch: %s" % NUM, out, re.M), out
