"""The multi-tensor step's phases against the NumPy reference.

Centralized parameters and Lamb/LARS run as two phases over chunks (see
docs/Step-structure.md): a reduction phase writing row sums and partial
squared norms into a scratch table, then the update phase. These tests cut
tensors into many small chunks (``chunk-size=64``): rows longer than a chunk,
tensors of many chunks, odd lengths (vector remainders), empty tensors; every
rule that reduces runs 12 steps against the float64 reference with the
tolerances of test_cpu_numerics (``rtol=2e-4, atol=2e-5``).
"""

import numpy as np
import pytest

import optim_mlir
from optim_mlir import ir
from test_cpu_numerics import Harness

OPTIONS = "chunk-size=64"
STEPS = 12

# Centralizable: rows longer than a chunk (1600), rows of 96 (one per
# chunk), 16-wide rows (4 per chunk); not centralizable; flat tensors of
# many chunks and odd lengths; an empty one.
SHAPES = [("long.weight", (3, 1600)), ("conv.weight", (40, 32, 3)),
          ("dense.weight", (70, 16)), ("proj.weight", (9, 7)),
          ("emb.weight", (1013,)), ("dense.bias", (37,)),
          ("norm.gamma", (1,)), ("empty.weight", (0, 16))]

CASES = [
    ("lamb", dict(beta1=0.9, beta2=0.99, eps=1e-6)),
    ("lars", dict(momentum=0.9, epsilon=1e-5, coefficient=0.01)),
    ("lars", dict(momentum=0.9, use_nesterov=True)),
    ("momentum", dict(momentum=0.9)),
    ("adam_weight_decay", dict(beta1=0.85, beta2=0.99, eps=1e-6)),
]


@pytest.mark.parametrize("centralize", [False, True],
                         ids=["plain", "centralized"])
@pytest.mark.parametrize("case", CASES,
                         ids=lambda c: c[0] + "".join(
                             "-" + k for k, v in c[1].items() if v is True))
def test_phases_match_reference(case, centralize):
    rule, hyper = case
    groups = [{"params": SHAPES[:4], "grad_centralization": centralize,
               "weight_decay": 0.01},
              {"params": SHAPES[4:], "lr": 0.02}]
    h = Harness(rule, hyper, groups=groups, learning_rate=0.01,
                weight_decay=0.0, loss_scale=2.0, seed=3, options=OPTIONS)
    for step in range(STEPS):
        h.step()
        h.check("step %d" % step)


def _lamb_text(shapes):
    return ir.optimizer_ir(
        "lamb", dict(beta1=0.9, beta2=0.99, eps=1e-6),
        groups=[{"params": [(n, s, "float32") for n, s in shapes],
                 "grad_centralization": True, "weight_decay": 0.01}],
        learning_rate=0.01)


def _run(compiled, seed, steps=3):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(p["shape"]).astype(np.float32)
              for p in compiled.params]
    states = [np.zeros_like(p) for p in params
              for _ in compiled.state_names]
    compiled.init_states(states)
    for _ in range(steps):
        grads = [rng.standard_normal(p.shape).astype(np.float32)
                 for p in params]
        compiled.step(params, grads, states)
    return params + states


def test_norms_do_not_depend_on_threads():
    """Every chunk adds up its tensor's partial sums in chunk order: the
    results are bitwise the same with one thread and with two, on a step
    large enough to use threads."""
    shapes = [("a.weight", (600, 512)), ("b.weight", (3, 40000))]
    text = _lamb_text(shapes)
    one = _run(optim_mlir.CompiledOptimizer(text, "chunk-size=4096 num-threads=1"), 5)
    two = _run(optim_mlir.CompiledOptimizer(text, "chunk-size=4096 num-threads=2"), 5)
    for x, y in zip(one, two):
        np.testing.assert_array_equal(x, y)


def test_code_does_not_depend_on_sizes():
    """Two optimizers whose parameters differ only in size lower to the same
    code, operation for operation: only constants (the chunk count, the
    scratch size) and the chunk table differ."""
    import os
    import re
    import subprocess
    opt = os.path.join(os.environ.get("OPTIM_BUILD_DIR", "build"), "bin",
                       "optim-opt")

    def normalized(text):
        lines = []
        for line in text.splitlines():
            if "llvm.mlir.constant" in line or "llvm.mlir.global" in line:
                continue
            line = re.sub(r"%[\w#]+", "%v", line)
            lines.append(re.sub(r"\d+", "N", line))
        return lines

    outputs = []
    for rows in (256, 2048):
        text = _lamb_text([("w.weight", (rows, 64, 3, 3)), ("b", (rows,))])
        result = subprocess.run([opt, "--optim-lower-to-cpu"], input=text,
                                capture_output=True, text=True, check=True)
        outputs.append(normalized(result.stdout))
    assert outputs[0] == outputs[1]


def _carve(rng, n, offset):
    """n float32 values `offset` elements past a 64-byte boundary."""
    raw = np.empty(n + 32, np.float32)
    start = ((-raw.ctypes.data) % 64) // 4 + offset
    view = raw[start:start + n]
    view[:] = rng.standard_normal(n).astype(np.float32)
    return view


def test_results_do_not_depend_on_alignment():
    """The vector loop starts on a vector boundary of the written buffer
    (a scalar head before it): buffers at every offset from a cache line
    give bitwise the same results as aligned ones, for lengths shorter
    and longer than a vector."""
    lengths = [1, 3, 7, 15, 16, 17, 31, 33, 64, 100, 257]
    text = ir.optimizer_ir(
        "adam_weight_decay", dict(beta1=0.9, beta2=0.99, eps=1e-6),
        params=[("w%d" % i, (n,), "float32") for i, n in enumerate(lengths)],
        learning_rate=0.01, weight_decay=0.01)
    compiled = optim_mlir.CompiledOptimizer(text, "chunk-size=64")
    order = [int(p["name"][1:]) for p in compiled.params]
    results = []
    for offset in range(16):
        rng = np.random.default_rng(7)
        params = [_carve(rng, lengths[i], offset) for i in order]
        states = [_carve(rng, lengths[i], (offset * 5) % 16)
                  for i in order for _ in compiled.state_names]
        for s in states:
            s[:] = np.abs(s)
        grads = [_carve(rng, lengths[i], (offset * 3) % 16) for i in order]
        compiled.global_step = 0
        compiled.step(params, grads, states)
        results.append([np.array(a) for a in params + states])
    for other in results[1:]:
        for x, y in zip(results[0], other):
            np.testing.assert_array_equal(x, y)
