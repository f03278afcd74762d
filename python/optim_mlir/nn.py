"""``optim_mlir.nn``: MindSpore's ``nn.Optimizer`` API on compiled steps.

The names, argument names, defaults and argument order follow
``mindspore.nn``; tensors are NumPy arrays. The user manual (parameters,
optimizers, groups, learning rates, checkpoints, targets, the differences
to MindSpore) is ``docs/Python-nn.md``; the parallel optimizer
(``set_auto_parallel_context``, ``communication``) is in
``docs/Distributed.md``.
"""

from ._mindspore_lr import (
    LearningRateSchedule, ExponentialDecayLR, NaturalExpDecayLR,
    InverseDecayLR, CosineDecayLR, PolynomialDecayLR, WarmUpLR,
    piecewise_constant_lr, exponential_decay_lr, natural_exp_decay_lr,
    inverse_decay_lr, cosine_decay_lr, polynomial_decay_lr, warmup_lr)
from ._nn_tensors import Parameter, ParameterTuple, RowTensor, flatten_weights
from ._nn_optimizer import (Optimizer, DynamicLossScaleUpdateCell,
                            _COMPILER)
from ._nn_rules import (SGD, Momentum, Adam, AdamOffload, AdamWeightDecay,
                        Lamb, LARS,
                        Adagrad, RMSProp, FTRL, ProximalAdagrad, AdaMax,
                        Adadelta, ASGD, Rprop, LazyAdam, AdaFactor,
                        RECORD_CLASSES as _RECORD_CLASSES)
from ._nn_checkpoint import save_checkpoint, load_checkpoint
from ._nn_parallel import (ParallelMode, set_auto_parallel_context,
                           get_auto_parallel_context,
                           reset_auto_parallel_context, communication)

# The classes of the rules defined by their records alone (Lion, Adan, ...),
# built from the rule table at import.
globals().update(_RECORD_CLASSES)

__all__ = [
    "Parameter", "ParameterTuple", "RowTensor", "flatten_weights",
    "Optimizer", "DynamicLossScaleUpdateCell",
    "SGD", "Momentum", "Adam", "AdamOffload", "AdamWeightDecay",
    "Lamb", "LARS",
    "Adagrad", "RMSProp", "FTRL", "ProximalAdagrad", "AdaMax", "Adadelta",
    "ASGD", "Rprop", "LazyAdam", "AdaFactor", *_RECORD_CLASSES,
    "LearningRateSchedule", "ExponentialDecayLR", "NaturalExpDecayLR",
    "InverseDecayLR", "CosineDecayLR", "PolynomialDecayLR", "WarmUpLR",
    "piecewise_constant_lr", "exponential_decay_lr", "natural_exp_decay_lr",
    "inverse_decay_lr", "cosine_decay_lr", "polynomial_decay_lr", "warmup_lr",
    "save_checkpoint", "load_checkpoint",
    "ParallelMode", "set_auto_parallel_context", "get_auto_parallel_context",
    "reset_auto_parallel_context", "communication",
]

# Pipeline options handed to CompiledOptimizer (e.g. "chunk-size=256"); an
# optimizer copies this at construction into ``compile_options``.
DEFAULT_COMPILE_OPTIONS = ""

# target='GPU': the CUDA device the steps run on and the options of the GPU
# pipeline (optim-lower-to-gpu, e.g. "block-size=128").
GPU_DEVICE = 0
GPU_COMPILE_OPTIONS = ""


def __getattr__(name):
    # What this module compiled: CompiledOptimizer objects (one per
    # optimizer part; tests use it to check that runtime changes never
    # recompile) and GPUOptimizer objects.
    if name == "_COMPILE_COUNT":
        return _COMPILER.cpu_count
    if name == "_GPU_COMPILE_COUNT":
        return _COMPILER.gpu_count
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
