"""The Python blocks of docs/User-guide.md run as written."""

import os
import re

import pytest

GUIDE = os.path.join(os.path.dirname(__file__), "..", "..", "docs",
                     "User-guide.md")


def _python_blocks():
    with open(GUIDE) as f:
        text = f.read()
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_the_guide_has_python_quick_starts():
    assert len(_python_blocks()) == 2


@pytest.mark.parametrize("index", range(2))
def test_python_quick_start_runs(index, float32_default_dtype):
    block = _python_blocks()[index]
    exec(compile(block, "User-guide.md block %d" % index, "exec"), {})


def test_ir_quick_start_compiles():
    import optim_mlir
    with open(GUIDE) as f:
        (block,) = re.findall(r"```mlir\n(.*?)```", f.read(), re.S)
    compiled = optim_mlir.CompiledOptimizer(block)
    assert [p["name"] for p in compiled.params] == ["dense.weight",
                                                    "dense.bias"]
    assert compiled.state_names == ["moment1", "moment2"]
