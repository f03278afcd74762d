"""What both front ends (``optim_mlir.nn``, ``optim_mlir.torch``) do to get
a compiled step: compile it for the CPU or a GPU, counted per front end
(tests check that changing a hyper-parameter never recompiles); the chip
name of a device; the element types the runtime takes; the shapes of the
states; and the check that a compiled step lays out the parameters and
states it was built from."""

import threading

from ._optim import CompiledOptimizer, GPUOptimizer, rule_specs
from ._optim import state_shape as _state_shape

# The element types of the runtime's parameters, by NumPy / IR name.
FLOAT_DTYPE_NAMES = ("float32", "float64")

# The shape kind of every state ("param", "factored_rows", ...), from the
# rule table: rule -> state name -> kind.
_STATE_SHAPE_KINDS = {rule: {s["name"]: s["shape"] for s in spec["states"]}
                      for rule, spec in rule_specs().items()}


def state_shape(rule, state, param_shape):
    """The shape of state `state` of rule `rule` for a parameter of shape
    `param_shape`: its record's shape kind applied to it
    (``_optim.state_shape``); the parameter's own for most states."""
    shape = tuple(int(d) for d in param_shape)
    kind = _STATE_SHAPE_KINDS[rule][state]
    return shape if kind == "param" else tuple(_state_shape(kind, shape))


def step_lock(optimizer):
    """The lock every step of a front-end optimizer holds, kept in its
    ``__dict__``: steps from several threads run one after the other
    (docs/Threads-and-caches.md)."""
    lock = optimizer.__dict__.get("_step_lock_")
    if lock is None:
        # setdefault is atomic: two threads get the same lock.
        lock = optimizer.__dict__.setdefault("_step_lock_", threading.RLock())
    return lock


class Compiler:
    """Compiles steps for one front end and counts what it compiled."""

    def __init__(self):
        self.cpu_count = 0
        self.gpu_count = 0

    def cpu(self, source, options="", num_threads=None):
        """A CompiledOptimizer (cached by the runtime by source and
        options); ``num_threads``: the threads of its large steps."""
        compiled = CompiledOptimizer(source, options)
        if num_threads is not None:
            compiled.set_num_threads(num_threads)
        self.cpu_count += 1
        return compiled

    def gpu(self, source, chip, options=""):
        """A GPUOptimizer compiled for ``chip`` (e.g. "sm_90")."""
        compiled = GPUOptimizer.compile(source, chip, options)
        self.gpu_count += 1
        return compiled


def chip_name(capability):
    """The NVIDIA chip of a compute capability: (9, 0) -> "sm_90"."""
    major, minor = capability
    return "sm_%d%d" % (major, minor)


def check_layout(compiled, expected_names, expected_states, where):
    """Raises RuntimeError unless the compiled step orders its parameters as
    ``expected_names`` and has exactly the states ``expected_states`` (any
    order)."""
    names = [info["name"] for info in compiled.params]
    if names != list(expected_names):
        raise RuntimeError("%s: internal error: the compiled step orders the "
                           "parameters %s, expected %s"
                           % (where, names, list(expected_names)))
    states = list(compiled.state_names)
    if sorted(states) != sorted(expected_states):
        raise RuntimeError("%s: internal error: the compiled step has states "
                           "%s, expected %s"
                           % (where, states, sorted(expected_states)))
