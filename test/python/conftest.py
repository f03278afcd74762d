"""pytest setup: make the built package and the NumPy reference importable.

The package is imported from the build tree (``$OPTIM_BUILD_DIR/python``,
default ``build/python`` next to this checkout).
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("OPTIM_BUILD_DIR", os.path.join(ROOT, "build"))
sys.path.insert(0, os.path.join(BUILD, "python"))
sys.path.insert(0, HERE)
# Compiled code cached on disk by the tests stays in the build tree (tests
# that check the disk cache set their own directory).
os.environ.setdefault("OPTIM_MLIR_CACHE_DIR",
                      os.path.join(BUILD, "test-cache"))


@pytest.fixture
def float32_default_dtype():
    """torch's default dtype set to float32 for the test, then restored."""
    import torch
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_default_dtype(saved)
