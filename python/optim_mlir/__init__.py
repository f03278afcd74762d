"""optim-mlir: compiled deep-learning optimizer steps.

`CompiledOptimizer` compiles an optimizer written in the optim MLIR dialect
for the host CPU and runs its steps in place on NumPy arrays.
"""

from ._optim import CompiledOptimizer, cache_info

__all__ = ["CompiledOptimizer", "cache_info"]
