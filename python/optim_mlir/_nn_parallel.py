"""``optim_mlir.nn``'s parallel optimizer (docs/Distributed.md,
"optim_mlir.nn"): MindSpore's auto-parallel context
(``set_auto_parallel_context``, ``get_auto_parallel_context``,
``reset_auto_parallel_context``, ``ParallelMode``), its ``communication``
namespace (``init``, ``get_rank``, ``get_group_size``) over MPI, and the
plan an optimizer built under ``enable_parallel_optimizer=True`` follows:
in ``data_parallel`` mode parameter ``i`` (step order) is updated by rank
``i % N`` and broadcast to the others, rank by rank (MindSpore's
``broadcast_params``); in ``semi_auto_parallel`` and ``auto_parallel``
mode the optimizer states are sharded (ZeRO-1: each class of parameters
cut into near-equal element ranges, the runtime's mode ``zero``).  Both run
on the runtime's ``ShardedOptimizer``, which also checks and clips dense
gradients over every rank (a DynamicLossScaleUpdateCell, max_grad_norm;
docs/Distributed-nn.md)."""

import io
import sys
import types
import warnings

import numpy as np


class ParallelMode:
    """MindSpore's ``ParallelMode``: the values of ``parallel_mode``."""
    STAND_ALONE = "stand_alone"
    DATA_PARALLEL = "data_parallel"
    HYBRID_PARALLEL = "hybrid_parallel"
    SEMI_AUTO_PARALLEL = "semi_auto_parallel"
    AUTO_PARALLEL = "auto_parallel"
    MODE_LIST = [STAND_ALONE, DATA_PARALLEL, HYBRID_PARALLEL,
                 SEMI_AUTO_PARALLEL, AUTO_PARALLEL]


# The settings of the context, their types (checked as MindSpore's
# args_type_check checks them) and defaults.
_TYPES = {"device_num": int, "global_rank": int, "gradients_mean": bool,
          "parallel_mode": str, "enable_parallel_optimizer": bool,
          "parameter_broadcast": bool, "full_batch": bool,
          "parallel_optimizer_config": dict}
_DEFAULTS = {"device_num": 1, "global_rank": 0, "gradients_mean": False,
             "parallel_mode": ParallelMode.STAND_ALONE,
             "enable_parallel_optimizer": False,
             "parameter_broadcast": False, "full_batch": False,
             "parallel_optimizer_config": None}

# The keys of ``parallel_optimizer_config`` and their defaults (MindSpore's):
# gradient_accumulation_shard (bool), parallel_optimizer_threshold (KB, an
# int >= 0), optimizer_weight_shard_size (an int; -1: every rank).
_OPT_CONFIG_DEFAULTS = {"gradient_accumulation_shard": False,
                        "parallel_optimizer_threshold": 64,
                        "optimizer_weight_shard_size": -1}

_context = dict(_DEFAULTS)
_opt_config = dict(_OPT_CONFIG_DEFAULTS)
# Whether device_num / global_rank were set (else they come from the
# communicator, as MindSpore's _get_device_num / _get_global_rank).
_is_set = {"device_num": False, "global_rank": False}


def _check_setting(key, value):
    if key not in _TYPES:
        raise ValueError("Set context keyword %s is not recognized!" % key)
    want = _TYPES[key]
    if value is not None and not isinstance(value, want):
        raise TypeError("The parameter '%s' must be %s, but got %s"
                        % (key, want, type(value)))
    if key == "device_num" and not 1 <= value <= 4096:
        raise ValueError("The context configuration parameter 'device_num' "
                         "must be in [1, 4096], but got the value of "
                         "device_num : %d." % value)
    if key == "global_rank" and not 0 <= value <= 4095:
        raise ValueError("The context configuration parameter 'global_rank' "
                         "must be in [0, 4095], but got the value of "
                         "global_rank : %d." % value)
    if key == "parallel_mode" and value not in ParallelMode.MODE_LIST:
        raise ValueError("The context configuration parameter "
                         "'parallel_mode' only support 'stand_alone', "
                         "'data_parallel', 'hybrid_parallel', "
                         "'semi_auto_parallel' and 'auto_parallel', but got "
                         "the value : %s." % value)
    if key == "enable_parallel_optimizer" and not isinstance(value, bool):
        raise TypeError("For 'set_auto_parallel_context', the argument "
                        "'enable_parallel_optimizer' must be bool, but got "
                        "the type : %s." % type(value))
    if key == "parallel_optimizer_config" and value is not None:
        _check_optimizer_config(value)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_optimizer_config(config):
    """MindSpore's checks of ``parallel_optimizer_config`` (a dict): its
    keys, then each value's type and range."""
    unknown = [k for k in config if k not in _OPT_CONFIG_DEFAULTS]
    if unknown:
        raise ValueError("Unknown config: %s" % unknown)
    name = "gradient_accumulation_shard"
    if name in config and not isinstance(config[name], bool):
        raise TypeError("For '%s', the '%s' must be bool, but got %s."
                        % (name, name, type(config[name]).__name__))
    name = "parallel_optimizer_threshold"
    if name in config:
        value = config[name]
        if not _is_int(value):
            raise TypeError("The '%s' must be int, but got %s."
                            % (name, type(value).__name__))
        if value < 0:
            raise ValueError("The '%s' must be a non-negative int, but got "
                             "%d." % (name, value))
    name = "optimizer_weight_shard_size"
    if name in config and not _is_int(config[name]):
        raise TypeError("The type of optimizer_weight_shard_size must be "
                        "int, but got %s." % type(config[name]))


def set_auto_parallel_context(**kwargs):
    """MindSpore's ``set_auto_parallel_context``: ``parallel_mode``
    (``"stand_alone"``, ``"data_parallel"``, ...),
    ``enable_parallel_optimizer``, ``device_num``, ``global_rank``,
    ``gradients_mean``, ``parameter_broadcast``, ``full_batch``,
    ``parallel_optimizer_config`` (a dict: ``gradient_accumulation_shard``,
    ``parallel_optimizer_threshold``, ``optimizer_weight_shard_size``;
    docs/Distributed-nn.md says what each does here).  Every value is
    checked before any is set; an optimizer reads the context when it is
    built."""
    for key, value in kwargs.items():
        _check_setting(key, value)
    for key, value in kwargs.items():
        if value is None:
            continue
        if key == "parallel_optimizer_config":
            # Each key given is set; the others keep their values.
            # optimizer_weight_shard_size <= 1 is ignored (MindSpore warns).
            for name, v in value.items():
                if name == "optimizer_weight_shard_size" and v <= 1:
                    warnings.warn("The setting 'optimizer_weight_shard_size' "
                                  "is invalid. Please use the integer larger "
                                  "than 1.")
                    continue
                _opt_config[name] = v
            continue
        _context[key] = value
        if key in _is_set:
            _is_set[key] = True


def get_auto_parallel_context(attr_key):
    """The value of one setting of ``set_auto_parallel_context``."""
    if attr_key not in _TYPES:
        raise ValueError("Get context keyword %s is not recognized!"
                         % attr_key)
    if attr_key == "parallel_optimizer_config":
        return dict(_opt_config)
    return _context[attr_key]


def reset_auto_parallel_context():
    """Every setting back to its default (``stand_alone``, the parallel
    optimizer off, ``device_num`` 1, ``global_rank`` 0)."""
    _context.clear()
    _context.update(_DEFAULTS)
    _opt_config.clear()
    _opt_config.update(_OPT_CONFIG_DEFAULTS)
    for key in _is_set:
        _is_set[key] = False


# ------------------------------------------------------------ communication
HCCL_WORLD_COMM_GROUP = "hccl_world_group"
NCCL_WORLD_COMM_GROUP = "nccl_world_group"
MCCL_WORLD_COMM_GROUP = "mccl_world_group"
# The names of the world group: every process of the MPI job.
_WORLD_GROUPS = (HCCL_WORLD_COMM_GROUP, NCCL_WORLD_COMM_GROUP,
                 MCCL_WORLD_COMM_GROUP)
_BACKENDS = (None, "mpi", "mccl")
_world = [None]


def init(backend_name=None):
    """MindSpore's ``communication.init``: joins the MPI job
    (``_optim.Communicator.world()``; started with ``mpirun``, or one
    process alone).  ``backend_name``: None, ``"mpi"`` or ``"mccl"``
    (MindSpore's CPU backend, here MPI).  The timeout of every collective
    is 60 s, or ``OPTIM_DIST_TIMEOUT`` seconds; ``get_communicator()``
    changes it."""
    if backend_name is not None and not isinstance(backend_name, str):
        raise TypeError("For 'init', the argument 'backend_name' must be a "
                        "string, but got the type : %s"
                        % type(backend_name))
    if backend_name not in _BACKENDS:
        raise RuntimeError("For 'init', the argument 'backend_name' must be "
                           "None, 'mpi' or 'mccl' (optim_mlir.nn "
                           "communicates over MPI), but got %r."
                           % backend_name)
    if _world[0] is None:
        from ._optim import Communicator
        _world[0] = Communicator.world()
    return None


def _communicator(what):
    if _world[0] is None:
        raise RuntimeError("For '%s', the distributed communication has not "
                           "been initialized: call "
                           "optim_mlir.nn.communication.init() first." % what)
    return _world[0]


def _check_group(group, what):
    if not isinstance(group, str):
        raise TypeError("For '%s', the argument 'group' must be type of "
                        "string, but got 'group' type : %s."
                        % (what, type(group)))
    if group not in _WORLD_GROUPS:
        raise ValueError("For '%s', only the world group (%s) is supported, "
                         "but got %r." % (what, ", ".join(_WORLD_GROUPS),
                                          group))


def get_rank(group=MCCL_WORLD_COMM_GROUP):
    """The rank of this process in the world group (after ``init``)."""
    _check_group(group, "get_rank")
    return _communicator("get_rank").rank


def get_group_size(group=MCCL_WORLD_COMM_GROUP):
    """The number of processes of the world group (after ``init``)."""
    _check_group(group, "get_group_size")
    return _communicator("get_group_size").size


def get_communicator():
    """The ``_optim.Communicator`` of the world group (after ``init``): its
    ``timeout`` (seconds, read/write), ``barrier()``, ``failure``."""
    return _communicator("get_communicator")


def _make_communication_module():
    """``optim_mlir.nn.communication`` (importable as a module, as
    ``mindspore.communication``)."""
    module = types.ModuleType(
        "optim_mlir.nn.communication",
        "MindSpore's ``communication`` API over MPI (docs/Distributed.md).")
    for name in ("init", "get_rank", "get_group_size", "get_communicator",
                 "HCCL_WORLD_COMM_GROUP", "NCCL_WORLD_COMM_GROUP",
                 "MCCL_WORLD_COMM_GROUP"):
        setattr(module, name, globals()[name])
    module.__all__ = ["init", "get_rank", "get_group_size",
                      "get_communicator", "HCCL_WORLD_COMM_GROUP",
                      "NCCL_WORLD_COMM_GROUP", "MCCL_WORLD_COMM_GROUP"]
    sys.modules[module.__name__] = module
    return module


communication = _make_communication_module()


# ---------------------------------------------------------- the optimizer
class Plan:
    """The parallel optimizer of one nn optimizer: the communicator, the
    number of ranks (``dev_num``), this rank, and the mode:
    ``"broadcast_params"`` (data_parallel: parameter ``i`` whole on rank
    ``i % N``, ``param_rank``) or ``"zero"`` (semi_auto_parallel and
    auto_parallel: optimizer weight sharding, the runtime's pieces)."""

    def __init__(self, comm, size, rank, param_length,
                 mode="broadcast_params"):
        self.comm, self.size, self.rank, self.mode = comm, size, rank, mode
        self.param_rank = tuple(i % size for i in range(param_length)) \
            if mode == "broadcast_params" else None

    @property
    def sharded(self):
        """Whether the step is divided among several ranks."""
        return self.size > 1

    @property
    def zero(self):
        """Whether the optimizer states are sharded in pieces (ZeRO-1)."""
        return self.mode == "zero"

    def owns(self, i):
        return self.param_rank is not None and self.param_rank[i] == self.rank


def plan_for(opt):
    """The Plan of optimizer ``opt`` under the current context, None when
    the parallel optimizer is off; raises as MindSpore's
    ``_use_parallel_optimizer`` does for settings it refuses."""
    if not _context["enable_parallel_optimizer"]:
        return None
    mode = _context["parallel_mode"]
    if mode in (ParallelMode.STAND_ALONE, ParallelMode.HYBRID_PARALLEL):
        raise RuntimeError("For 'Optimizer', parallel optimizer is not "
                           "supported in %s, you should set parallel mode to "
                           "'data_parallel', 'semi_auto_parallel' or "
                           "'auto_parallel'." % mode)
    zero = mode != ParallelMode.DATA_PARALLEL
    name = opt.cls_name
    if opt.target != "CPU":
        raise RuntimeError("For \"Optimizer\", parallel optimizer only "
                           "supports \"CPU\" in %s mode, but got %s."
                           % (mode.replace("_", " "), opt.target))
    from ._nn_optimizer import Optimizer
    if type(opt).construct is not Optimizer.construct:
        raise RuntimeError("For 'Optimizer', parallel optimizer only supports "
                           "the optimizers of optim_mlir.nn with a compiled "
                           "step, but got %s (a user-defined construct)."
                           % name)
    comm = _communicator("Optimizer")
    size, rank = comm.size, comm.rank
    if _is_set["device_num"] and _context["device_num"] != size:
        raise RuntimeError("For '%s', the auto-parallel context's device_num "
                           "is %d, but the job has %d ranks "
                           "(communication.get_group_size())."
                           % (name, _context["device_num"], size))
    if _is_set["global_rank"] and _context["global_rank"] != rank:
        raise RuntimeError("For '%s', the auto-parallel context's global_rank "
                           "is %d, but this process is rank %d "
                           "(communication.get_rank())."
                           % (name, _context["global_rank"], rank))
    if zero:
        shard = _opt_config["optimizer_weight_shard_size"]
        if shard > 1 and shard != size:
            raise NotImplementedError(
                "For '%s', parallel_optimizer_config's "
                "optimizer_weight_shard_size is %d, but optim_mlir.nn shards "
                "the optimizer states over every rank of the job (%d): use "
                "-1 or %d." % (name, shard, size, size))
        return Plan(comm, size, rank, opt.param_length, mode="zero")
    if size > opt.param_length:
        raise RuntimeError("Parallel optimizer can not be applied when the "
                           "number of parameters %d is less than the number "
                           "of devices %d" % (opt.param_length, size))
    return Plan(comm, size, rank, opt.param_length)


def compile_sharded(source, plan, options):
    """The ShardedOptimizer of ``source`` in the plan's mode
    (broadcast_params or zero)."""
    from ._optim import ShardedOptimizer
    return ShardedOptimizer(source, plan.comm, mode=plan.mode,
                            options=options)


def agree_on_control(plan, status, name):
    """The checks of the gradients made in NumPy before a sharded step
    (sparse rows: ``Optimizer._front_control``, on every parameter's
    gradients, the same on every rank): every rank must have found the same
    overflow and norm, else one rank would skip the step or clip by another
    factor than the others.  A collective call (every rank calls it);
    raises RuntimeError on every rank when they differ."""
    mine = np.array([status["found_inf"], status["grad_norm"],
                     status["clip_factor"]], np.float64)
    found = [np.frombuffer(data, np.float64)
             for data in plan.comm.allgather(mine.tobytes())]
    # Bit for bit (a NaN norm equals a NaN norm of the same bits).
    if any(f.tobytes() != found[0].tobytes() for f in found):
        raise RuntimeError(
            "For '%s', the ranks' gradients differ: the checks of the sparse "
            "gradients before the step (overflow, global norm, clip factor) "
            "found %s on ranks 0..%d; the parallel optimizer takes the same "
            "gradients on every rank." % (
                name, [f.tolist() for f in found], plan.size - 1))


def _pack(arrays):
    """``{key: array}`` as bytes (NumPy's .npz format)."""
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def _unpack(data):
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def gather_states(plan, local):
    """``local``: ``{(attr, index): array}`` of this rank's states; returns
    every rank's, merged (a collective call: every rank calls it)."""
    keyed = {"%s.%d" % key: value for key, value in local.items()}
    merged = {}
    for data in plan.comm.allgather(_pack(keyed)):
        for k, v in _unpack(data).items():
            attr, _, index = k.rpartition(".")
            merged[(attr, int(index))] = v
    return merged


def gather_pieces(plan, local):
    """``local``: ``{(attr, index, offset): flat array}``, the slices of
    this rank's pieces (ZeRO); returns every rank's, merged (a collective
    call: every rank calls it)."""
    keyed = {"%s.%d.%d" % key: value for key, value in local.items()}
    merged = {}
    for data in plan.comm.allgather(_pack(keyed)):
        for k, v in _unpack(data).items():
            rest, _, offset = k.rpartition(".")
            attr, _, index = rest.rpartition(".")
            merged[(attr, int(index), int(offset))] = v
    return merged
