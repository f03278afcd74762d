"""pytest setup: make the built package and the NumPy reference importable.

The package is imported from the build tree (``$OPTIM_BUILD_DIR/python``,
default ``build/python`` next to this checkout).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("OPTIM_BUILD_DIR", os.path.join(ROOT, "build"))
sys.path.insert(0, os.path.join(BUILD, "python"))
sys.path.insert(0, HERE)
# Compiled code cached on disk by the tests stays in the build tree (tests
# that check the disk cache set their own directory).
os.environ.setdefault("OPTIM_MLIR_CACHE_DIR",
                      os.path.join(BUILD, "test-cache"))
