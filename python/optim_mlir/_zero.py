"""``optim_mlir.torch.ZeroRedundancyOptimizer``: torch's ZeRO stage 1 wrapper
(``torch.distributed.optim.ZeroRedundancyOptimizer``, torch 1.13) over MPI.

Each rank owns a part of the parameters (torch's greedy partition) and keeps
a local optimizer, and so optimizer states, for those only; after its local
step the ranks exchange the updated parameters through
``optim_mlir._optim.Communicator`` instead of ``torch.distributed``. The user
manual is ``docs/Distributed-torch.md``.
"""

import copy
import pickle
from itertools import chain

import torch
from torch.optim import Optimizer

from .torch import (_CONTROL_KEY, _CompiledTorchOptimizer, _GradientControl,
                    _check_max_grad_norm)

__all__ = ["ZeroRedundancyOptimizer"]

# Keyword arguments of the optim_mlir.torch classes that act on all the
# gradients together (a global norm, a found inf or NaN): the wrapper runs
# them over every parameter's gradient, and each local optimizer steps at
# the scale that results (`ZeroRedundancyOptimizer.step`).
_GLOBAL_OPTIONS = ("max_grad_norm", "loss_scale")


def _communicator(process_group):
    """The communicator that stands for `process_group`: None (and
    ``torch.distributed.group.WORLD``) is MPI_COMM_WORLD; a Communicator is
    taken as it is."""
    from ._optim import Communicator
    if isinstance(process_group, Communicator):
        return process_group
    if process_group is None or _is_torch_world(process_group):
        comm = Communicator.world()
        if process_group is not None:
            import torch.distributed as dist
            if dist.get_world_size() != comm.size or \
                    dist.get_rank() != comm.rank:
                raise ValueError(
                    "optim_mlir.torch.ZeroRedundancyOptimizer: "
                    "torch.distributed's world (rank %d of %d) is not "
                    "MPI_COMM_WORLD (rank %d of %d); pass "
                    "process_group=None" % (dist.get_rank(),
                                            dist.get_world_size(),
                                            comm.rank, comm.size))
        return comm
    raise ValueError(
        "optim_mlir.torch.ZeroRedundancyOptimizer: process_group must be "
        "None (MPI_COMM_WORLD), torch.distributed.group.WORLD or an "
        "optim_mlir._optim.Communicator, got %r; the parameters are "
        "exchanged over MPI_COMM_WORLD only (sub-groups are not supported)"
        % (process_group,))


def _is_torch_world(group):
    try:
        import torch.distributed as dist
        return dist.is_available() and dist.is_initialized() and \
            group is dist.group.WORLD
    except Exception:  # torch.distributed missing or not set up
        return False


# ---- state dicts between ranks: pickled, tensors as NumPy arrays

class _PortableTensor:
    """A tensor in a pickled state dict: its dtype's name and its values as
    a NumPy array (bfloat16 as int16 bits)."""

    __slots__ = ("dtype", "array")

    def __init__(self, dtype, array):
        self.dtype = dtype
        self.array = array

    def __getstate__(self):
        return (self.dtype, self.array)

    def __setstate__(self, state):
        self.dtype, self.array = state


def _to_portable(value):
    if isinstance(value, torch.Tensor):
        t = value.detach().to("cpu")
        if t.layout != torch.strided:
            t = t.to_dense()
        name = str(t.dtype).replace("torch.", "")
        if t.dtype == torch.bfloat16:
            t = t.view(torch.int16)
        return _PortableTensor(name, t.contiguous().numpy().copy())
    if isinstance(value, dict):
        return {k: _to_portable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_to_portable(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    return value


def _from_portable(value):
    if isinstance(value, _PortableTensor):
        array = value.array
        if not (array.flags.c_contiguous and array.flags.writeable):
            array = array.copy()  # (keeps 0-d arrays 0-d)
        t = torch.from_numpy(array)
        if value.dtype == "bfloat16":
            t = t.view(torch.bfloat16)
        return t
    if isinstance(value, dict):
        return {k: _from_portable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_from_portable(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    return value


def _byte_view(t):
    """A writeable NumPy view of the bytes of the CPU C-contiguous `t`."""
    return t.detach().reshape(-1).view(torch.uint8).numpy()


class ZeroRedundancyOptimizer(Optimizer):
    r"""Wraps ``optimizer_class`` and shards its states over the MPI ranks,
    as ``torch.distributed.optim.ZeroRedundancyOptimizer`` (torch 1.13)
    does over a torch.distributed process group.

    Every rank passes the same parameters (same groups, shapes and dtypes,
    checked at construction) and, before ``step()``, the same gradients (as
    after DistributedDataParallel's allreduce). The parameters of each group
    are partitioned as torch partitions them: sorted by size, largest
    first, each to the rank with the fewest elements so far (counted over
    all groups). Each rank builds ``optimizer_class(its groups,
    **defaults)`` (``self.optim``: any ``optim_mlir.torch`` class or a
    ``torch.optim`` class), which keeps states for its parameters only.
    ``step()`` runs that local step, then every rank receives the updated
    parameters of the others (``Communicator.exchange``).

    ``param_groups`` hold every parameter; edits of their hyper-parameters
    (an LR scheduler's lr) reach the local optimizer at the next
    ``step()``. ``consolidate_state_dict(to)`` gathers the states on rank
    ``to``, whose ``state_dict()`` is then torch's format for all the
    parameters; ``load_state_dict()`` takes such a dict, saved at any number
    of ranks, and keeps this rank's part.

    Arguments:
        params: an iterable of tensors or of parameter groups (dicts).
        optimizer_class: the class of the local optimizers.
        process_group: None, ``torch.distributed.group.WORLD`` (when
            torch.distributed is initialized over the same ranks) or an
            ``optim_mlir._optim.Communicator``: MPI_COMM_WORLD.
        parameters_as_bucket_view: the parameters of each rank become views
            of one flat buffer per rank, exchanged as one array; all the
            parameters must then be CPU tensors of one dtype.
        overlap_with_ddp: must be False (ValueError otherwise).
        **defaults: the local optimizers' arguments (``lr``, ...).
            ``max_grad_norm`` and ``loss_scale`` (an ``optim_mlir.torch``
            ``optimizer_class`` only) are the wrapper's: see below.

    Clipping and loss scaling (``max_grad_norm=``, ``loss_scale=`` a float
    or a ``DynamicLossScale``) act as in the unsharded ``optim_mlir.torch``
    class, over the gradients of every parameter: each rank computes the
    global norm and the inf/NaN check over all the gradients it holds (the
    same on every rank, as after DistributedDataParallel's allreduce), in
    the front end (``_GradientControl.front``: float64 squares), with no
    communication, and then either skips its local step (dynamic scaling
    found an inf or NaN: no parameter, state or step count changes, the
    scale backs off; the exchange runs on the unchanged parameters) or
    runs it at the static scale ``loss scale * clip factor``.
    ``found_inf``, ``loss_scale``, ``grad_norm`` and ``max_grad_norm``
    (settable) are the unsharded class's attributes, and ``state_dict()``
    / ``load_state_dict()`` carry its ``"gradient_control"`` entry. The
    gradients must be the same on every rank: the ranks' decisions agree
    only because they compute the same numbers from the same gradients.
    Gradients that differ between ranks are an error this wrapper does not
    detect: each rank's parameters are then stepped at the scale (and
    skipped or not) as that rank decided, the ranks' loss scales, counts,
    ``grad_norm`` and ``found_inf`` part ways, and the result matches no
    unsharded run.

    Raises ``optim_mlir._optim.DistributedError`` from ``step()`` (and from
    the collective methods) when a rank fails or stalls past the
    communicator's timeout; the ranks' parameters and states may then
    differ, and the run resumes from a checkpoint.
    """

    def __init__(self, params, optimizer_class, process_group=None,
                 parameters_as_bucket_view=False, overlap_with_ddp=False,
                 **defaults):
        if overlap_with_ddp:
            raise ValueError(
                "optim_mlir.torch.ZeroRedundancyOptimizer does not support "
                "overlap_with_ddp=True (no DistributedDataParallel "
                "communication hook runs the step); call step() after "
                "backward()")
        if not callable(optimizer_class):
            raise TypeError(
                "optim_mlir.torch.ZeroRedundancyOptimizer: optimizer_class "
                "must be an optimizer class, got %r" % (optimizer_class,))
        # The same checks and errors as the unsharded classes'.
        control_args = {name: defaults.pop(name) for name in _GLOBAL_OPTIONS
                        if name in defaults}
        self._gradient_control = _GradientControl(**control_args)
        self._compiled_local = isinstance(optimizer_class, type) and \
            issubclass(optimizer_class, _CompiledTorchOptimizer)
        if self._controlled() and not self._compiled_local:
            raise TypeError(
                "optim_mlir.torch.ZeroRedundancyOptimizer: max_grad_norm "
                "and loss_scale need an optim_mlir.torch optimizer_class, "
                "got %r" % (optimizer_class,))
        params = self._verify_and_init_params(params)
        self.initialized = False
        Optimizer.__init__(self, params, defaults)
        self._clear_cache()
        self._comm = _communicator(process_group)
        self.process_group = self._comm
        self.world_size = self._comm.size
        self.rank = self._comm.rank
        self.global_rank = self.rank
        self._overlap_with_ddp = False
        self._optim_defaults = defaults
        self._optim_constructor = optimizer_class
        self.parameters_as_bucket_view = bool(parameters_as_bucket_view)
        self._buckets = []
        self._all_state_dicts = []
        self._check_same_parameters()
        self._init_local_optimizer()
        self._build_param_buckets()
        self.initialized = True

    # ---- checks
    def _verify_and_init_params(self, params):
        """`params` as a list (torch's checks); sets ``_all_params``."""
        if isinstance(params, torch.Tensor):
            raise TypeError("params argument should be an iterable of "
                            "Tensors, but got %s" % torch.typename(params))
        try:
            all_params = list(params)
        except TypeError:
            raise TypeError("params argument should be an iterable of "
                            "Tensors or dicts, but got %s"
                            % torch.typename(params)) from None
        if not all_params:
            raise ValueError("ZeroRedundancyOptimizer got an empty parameter "
                             "list")
        if all(isinstance(p, torch.Tensor) for p in all_params):
            self._all_params = list(all_params)
        elif all(isinstance(g, dict) for g in all_params):
            self._all_params = []
            for group in all_params:
                if "params" not in group:
                    raise ValueError(
                        "Each parameter group passed-in via params must "
                        "have a 'params' key mapping to the parameters in "
                        "the group")
                ps = group["params"]
                self._all_params.extend(
                    [ps] if isinstance(ps, torch.Tensor) else list(ps))
        else:
            raise TypeError("params argument should be an iterable of "
                            "Tensors or dicts")
        for p in self._all_params:
            if isinstance(p, torch.Tensor) and p.layout != torch.strided:
                raise ValueError("ZeroRedundancyOptimizer only supports "
                                 "dense parameters, got layout %s"
                                 % p.layout)
        return all_params

    def _structure(self):
        """(shape, dtype) of every parameter and the size of every group."""
        return ([(tuple(p.shape), str(p.dtype).replace("torch.", ""))
                 for p in self._index_to_param],
                [len(g["params"]) for g in self.param_groups])

    def _check_same_parameters(self):
        """Every rank must hold parameters of the same groups, shapes and
        dtypes (the exchange copies them by position)."""
        mine = pickle.dumps(self._structure())
        every = self._comm.allgather(mine)
        for r, theirs in enumerate(every):
            if theirs != mine:
                raise ValueError(
                    "optim_mlir.torch.ZeroRedundancyOptimizer: the ranks "
                    "hold different parameters (rank %d: %s; rank %d: %s); "
                    "every rank must pass the same groups of parameters of "
                    "the same shapes and dtypes"
                    % (self.rank, _describe(self._structure()), r,
                       _describe(pickle.loads(theirs))))

    # ---- partition (torch's)
    def _clear_cache(self):
        self._partition_parameters_cache = []
        self._param_to_rank_cache = {}
        self._param_to_index_cache = {}
        self._index_to_param_cache = []

    @staticmethod
    def _get_min_index(values):
        return min(range(len(values)), key=values.__getitem__)

    def _partition_parameters(self):
        """Per rank, its parameter groups: copies of ``param_groups`` with
        the rank's parameters of each (torch's greedy partition)."""
        if not self._partition_parameters_cache:
            per_rank = [[] for _ in range(self.world_size)]
            sizes = [0] * self.world_size
            for group in self.param_groups:
                mine = [[] for _ in range(self.world_size)]
                for p in sorted(group["params"], key=lambda t: t.numel(),
                                reverse=True):
                    r = self._get_min_index(sizes)
                    mine[r].append(p)
                    sizes[r] += p.numel()
                for r, ps in enumerate(mine):
                    rank_group = copy.copy(group)
                    rank_group["params"] = ps
                    per_rank[r].append(rank_group)
            self._partition_parameters_cache = per_rank
        return self._partition_parameters_cache

    @property
    def _param_to_rank(self):
        if not self._param_to_rank_cache:
            for r, groups in enumerate(self._partition_parameters()):
                for group in groups:
                    for p in group["params"]:
                        self._param_to_rank_cache[p] = r
        return self._param_to_rank_cache

    @property
    def _param_to_index(self):
        if not self._param_to_index_cache:
            self._param_to_index_cache = {
                p: i for i, p in enumerate(self._index_to_param)}
        return self._param_to_index_cache

    @property
    def _index_to_param(self):
        if not self._index_to_param_cache:
            self._index_to_param_cache = list(
                chain(*(g["params"] for g in self.param_groups)))
        return self._index_to_param_cache

    def _init_local_optimizer(self):
        groups = self._partition_parameters()[self.rank]
        self.optim = self._optim_constructor(groups, **self._optim_defaults)
        self._sync_param_groups(self.optim.param_groups, self.param_groups)

    @staticmethod
    def _sync_param_groups(src_groups, dst_groups):
        """Copies every key but "params" of each group of `src_groups` into
        the group of `dst_groups` at the same position."""
        if len(src_groups) != len(dst_groups):
            raise RuntimeError("optim_mlir.torch.ZeroRedundancyOptimizer: "
                               "%d parameter groups against %d"
                               % (len(src_groups), len(dst_groups)))
        for src, dst in zip(src_groups, dst_groups):
            for key, value in src.items():
                if key != "params":
                    dst[key] = value

    def add_param_group(self, param_group):
        """Adds a group (on every rank, with the same parameters): its
        parameters are partitioned after those of the other groups, which
        keep their ranks, and this rank's part joins the local optimizer."""
        super().add_param_group(param_group)
        if not self.initialized:
            return
        try:
            self._clear_cache()
            self._check_same_parameters()
            groups = self._partition_parameters()[self.rank]
            self.optim.add_param_group(groups[-1])
        except Exception:
            self.param_groups.pop()
            self._clear_cache()
            raise
        self._sync_param_groups(self.optim.param_groups[-1:],
                                self.param_groups[-1:])
        self._build_param_buckets()

    # ---- parameters as views of one buffer per rank
    def _build_param_buckets(self):
        if not self.parameters_as_bucket_view:
            return
        params = self._index_to_param
        dtypes = {p.dtype for p in params}
        devices = {p.device.type for p in params}
        if len(dtypes) != 1 or devices != {"cpu"}:
            raise ValueError(
                "optim_mlir.torch.ZeroRedundancyOptimizer: "
                "parameters_as_bucket_view=True needs CPU parameters of one "
                "dtype, got dtypes %s on %s"
                % (sorted(str(d) for d in dtypes), sorted(devices)))
        (dtype,) = dtypes
        buckets = []
        with torch.no_grad():
            for groups in self._partition_parameters():
                ps = [p for g in groups for p in g["params"]]
                bucket = torch.empty(sum(p.numel() for p in ps),
                                     dtype=dtype)
                offset = 0
                for p in ps:
                    n = p.numel()
                    bucket[offset:offset + n].copy_(p.data.reshape(-1))
                    p.data = bucket[offset:offset + n].view(p.shape)
                    offset += n
                buckets.append(bucket)
        self._buckets = buckets

    # ---- clipping and loss scaling (the unsharded classes' attributes)
    def _controlled(self):
        """Whether a step runs the wrapper's clipping or loss scaling."""
        return self._gradient_control.configured

    @property
    def max_grad_norm(self):
        """The global norm the gradients are clipped to (None: no
        clipping); settable, checked as the unsharded class checks it."""
        return self._gradient_control.max_grad_norm

    @max_grad_norm.setter
    def max_grad_norm(self, value):
        value = _check_max_grad_norm(value)
        if value is not None and not self._compiled_local:
            raise TypeError(
                "optim_mlir.torch.ZeroRedundancyOptimizer: max_grad_norm "
                "needs an optim_mlir.torch optimizer_class, got %r"
                % (self._optim_constructor,))
        self._gradient_control.max_grad_norm = value

    @property
    def loss_scale(self):
        """The scale to multiply the next loss by: the dynamic scale, the
        static one, or 1.0 without loss scaling."""
        return self._gradient_control.scale

    @property
    def found_inf(self):
        """Whether the last step's gradients held an inf or NaN (always
        False without clipping and dynamic scaling); with dynamic scaling
        that step changed nothing on any rank."""
        return self._gradient_control.found_inf

    @property
    def grad_norm(self):
        """The global L2 norm of the last step's unscaled gradients of
        every parameter (before clipping), or None without clipping and
        dynamic scaling (or before the first step)."""
        return self._gradient_control.grad_norm

    # ---- step
    def step(self, closure=None, **kwargs):
        """The local optimizer's step on this rank's parameters (with the
        hyper-parameters of ``param_groups``), then the exchange that gives
        every rank every updated parameter. Returns the closure's loss (as
        the local step returns it). With clipping or loss scaling, the
        closure runs first, then the control over every gradient, which
        may skip the local step (the exchange still runs, on unchanged
        parameters, so that every rank's calls pair up)."""
        self._sync_param_groups(self.param_groups, self.optim.param_groups)
        if self._controlled():
            loss = self._controlled_step(closure, kwargs)
        elif closure is None:
            loss = self.optim.step(**kwargs)
        else:
            loss = self.optim.step(closure=closure, **kwargs)
        self._sync_param_groups(self.optim.param_groups, self.param_groups)
        self._sync_params()
        return loss

    def _controlled_step(self, closure, kwargs):
        """The local step under the wrapper's control: the unsharded
        front-end path (`_GradientControl.front` over the gradients of all
        the parameters, then the local optimizer's calls at the static
        scale it returns, `_step_at_scale`), or nothing when the step is
        skipped."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        control = self._gradient_control
        # A failing local step leaves the control as it was (as the
        # unsharded class's step does).
        saved = dict(control.__dict__)
        try:
            with torch.no_grad():
                grads = [p.grad.detach() for g in self.param_groups
                         for p in g["params"] if p.grad is not None]
                if grads:
                    scale = control.front(
                        [g.coalesce()._values() if g.is_sparse else g
                         for g in grads])
                else:
                    # Nothing to step, nothing checked (as unsharded).
                    scale = control.unscale()
            if scale is not None:
                self.optim._step_at_scale(scale, **kwargs)
        except BaseException:
            control.__dict__.clear()
            control.__dict__.update(saved)
            raise
        return loss

    def _sync_params(self):
        """Every rank's updated parameters on every rank (one exchange)."""
        if self.parameters_as_bucket_view:
            arrays, owners = [], []
            for r, bucket in enumerate(self._buckets):
                if bucket.numel():
                    arrays.append(_byte_view(bucket))
                    owners.append(r)
            if arrays:
                self._comm.exchange(arrays, owners)
            return
        arrays, owners, staged = [], [], []
        owner_of = self._param_to_rank
        for p in self._index_to_param:
            if p.numel() == 0:
                continue
            t = p.detach()
            if t.device.type != "cpu" or not t.is_contiguous():
                # The exchange reads and writes C-contiguous host memory:
                # such a parameter goes through a copy.
                stage = t.to("cpu").contiguous()
                if stage.data_ptr() == t.data_ptr():
                    stage = stage.clone()
                staged.append((p, stage))
                t = stage
            arrays.append(_byte_view(t))
            owners.append(owner_of[p])
        if not arrays:
            return
        self._comm.exchange(arrays, owners)
        with torch.no_grad():
            for p, stage in staged:
                if owner_of[p] != self.rank:
                    p.copy_(stage)

    # ---- checkpoints
    def consolidate_state_dict(self, to=0):
        """Gathers the local optimizers' state dicts on rank `to` (every
        rank calls it); ``state_dict()`` then works there."""
        if isinstance(to, bool) or not isinstance(to, int) or \
                not 0 <= to < self.world_size:
            raise ValueError("optim_mlir.torch.ZeroRedundancyOptimizer: "
                             "consolidate_state_dict(to=%r): to must be a "
                             "rank in [0, %d)" % (to, self.world_size))
        self._sync_param_groups(self.param_groups, self.optim.param_groups)
        mine = pickle.dumps(_to_portable(self.optim.state_dict()),
                            protocol=pickle.HIGHEST_PROTOCOL)
        every = self._comm.allgather(mine)
        self._all_state_dicts = [] if self.rank != to else [
            _from_portable(pickle.loads(data)) for data in every]

    def state_dict(self):
        """The state dict of every parameter in torch's format (state by
        global parameter index, ``param_groups`` with index lists), from
        the last ``consolidate_state_dict()`` to this rank; RuntimeError on
        another rank."""
        if not self._all_state_dicts:
            raise RuntimeError(
                "Optimizer state has not been consolidated on this rank. "
                "Please call `consolidate_state_dict(to=%d)` on all ranks "
                "beforehand if you meant to save the global state."
                % self.rank)
        index = self._param_to_index
        param_groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index[p] for p in group["params"]]
            param_groups.append(packed)
        state = {}
        partition = self._partition_parameters()
        for r, local in enumerate(self._all_state_dicts):
            local_groups = local["param_groups"]
            if len(local_groups) != len(partition[r]):
                raise RuntimeError(
                    "optim_mlir.torch.ZeroRedundancyOptimizer: rank %d sent "
                    "%d parameter groups, expected %d (consolidate again "
                    "after add_param_group)"
                    % (r, len(local_groups), len(partition[r])))
            for lg, gg in zip(local_groups, partition[r]):
                if len(lg["params"]) != len(gg["params"]):
                    raise RuntimeError(
                        "optim_mlir.torch.ZeroRedundancyOptimizer: rank %d "
                        "sent a group of %d parameters, expected %d"
                        % (r, len(lg["params"]), len(gg["params"])))
                for li, p in zip(lg["params"], gg["params"]):
                    if li in local["state"]:
                        state[index[p]] = local["state"][li]
        out = {"state": dict(sorted(state.items())),
               "param_groups": param_groups}
        if self._controlled():
            # The unsharded class's entry: the settings, the dynamic scale
            # and its count (the same on every rank).
            out[_CONTROL_KEY] = self._gradient_control.entry()
        return out

    def load_state_dict(self, state_dict):
        """Loads a state dict of all the parameters (``state_dict()``'s
        format, saved at any number of ranks, or a single optimizer's):
        this rank's local optimizer takes the states of its parameters, and
        every group its saved hyper-parameters. The ``"gradient_control"``
        entry restores the clipping and loss scaling settings' values and
        the dynamic scale, as the unsharded class restores them: its kinds
        must be this wrapper's (ValueError otherwise, before anything
        changes). `state_dict` is not changed."""
        entry = state_dict.get(_CONTROL_KEY)
        loaded = None if entry is None else \
            _GradientControl.from_entry(entry)
        self._gradient_control.check_loaded(loaded,
                                            "ZeroRedundancyOptimizer")
        groups = self.param_groups
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(groups):
            raise ValueError("loaded state dict has a different number of "
                             "parameter groups")
        if any(len(s["params"]) != len(g["params"])
               for s, g in zip(saved_groups, groups)):
            raise ValueError("loaded state dict contains a parameter group "
                             "that doesn't match the size of optimizer's "
                             "group")
        # Saved ids map to the parameters by position, as torch maps them.
        id_map = dict(zip(chain(*(s["params"] for s in saved_groups)),
                          chain(*(g["params"] for g in groups))))
        local_index = {p: i for i, p in enumerate(
            chain(*(g["params"] for g in self.optim.param_groups)))}
        owner_of = self._param_to_rank
        local_state = {}
        for key, value in state_dict["state"].items():
            p = id_map.get(key)
            # (torch's wrapper leaves None for other ranks' parameters in
            # the dicts it loaded)
            if p is not None and value is not None and \
                    owner_of[p] == self.rank:
                local_state[local_index[p]] = value
        local_groups = []
        for saved, lg in zip(saved_groups, self.optim.param_groups):
            g = {k: v for k, v in saved.items() if k != "params"}
            g["params"] = [local_index[p] for p in lg["params"]]
            local_groups.append(g)
        local = {k: v for k, v in state_dict.items()
                 if k not in ("state", "param_groups", _CONTROL_KEY)}
        local.update(state=local_state, param_groups=local_groups)
        self.optim.load_state_dict(local)
        self._sync_param_groups(self.optim.param_groups, self.param_groups)
        if loaded is not None:
            self._gradient_control = loaded

    def __getstate__(self):
        raise TypeError("optim_mlir.torch.ZeroRedundancyOptimizer is not "
                        "picklable (it holds a communicator); save "
                        "state_dict() after consolidate_state_dict()")


def _describe(structure):
    params, sizes = structure
    text = ", ".join("%s %s" % (dtype, list(shape))
                     for shape, dtype in params[:8])
    if len(params) > 8:
        text += ", ..."
    return "groups of %s parameters: %s" % (sizes, text)
