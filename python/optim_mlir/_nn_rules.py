"""``optim_mlir.nn``'s optimizers: one class per rule, with MindSpore's
constructor arguments (docs/Python-nn.md, docs/Rules.md); the classes of
rules defined by their records alone are built from the rule table
(``RECORD_CLASSES``)."""

import inspect

import numpy as np

from . import _mindspore_validator as _v
from . import _record_classes
from ._nn_groups import _Group, _Part
from ._nn_tensors import Parameter, ParameterTuple
from ._nn_optimizer import (Optimizer, DynamicLossScaleUpdateCell,
                            _RULE_RANGES, _SPARSE_REASON)


def _cell_loss_scale(loss_scale, prim_name):
    """The keyword-only ``loss_scale`` of the optimizers MindSpore builds
    without one (AdamWeightDecay, Lamb, ASGD, Rprop): only a
    DynamicLossScaleUpdateCell (MindSpore scales them through
    ``TrainOneStepWithLossScaleCell``); None is no scaling."""
    if loss_scale is None:
        return 1.0
    if not isinstance(loss_scale, DynamicLossScaleUpdateCell):
        raise TypeError(
            "For '%s', 'loss_scale' must be a DynamicLossScaleUpdateCell, but "
            "got %s: MindSpore's %s takes no static loss_scale."
            % (prim_name, type(loss_scale).__name__, prim_name))
    return loss_scale


def _check_betas(beta1, beta2, eps, prim_name):
    beta1 = _v.check_float("beta1", beta1, prim_name, _v.OPEN_UNIT)
    beta2 = _v.check_float("beta2", beta2, prim_name, _v.OPEN_UNIT)
    eps = _v.check_float("eps", eps, prim_name, _v.POSITIVE)
    return beta1, beta2, eps


def _check_adam_kernel_args(opt, beta1, beta2, eps, use_locking,
                            use_nesterov):
    """The checks of MindSpore's Adam-kernel optimizers (AdamOffload,
    LazyAdam); sets ``use_locking``; returns the checked betas and eps."""
    name = opt.cls_name
    beta1, beta2, eps = _check_betas(beta1, beta2, eps, name)
    _v.check_bool("use_locking", use_locking, name)
    _v.check_bool("use_nesterov", use_nesterov, name)
    opt.use_locking = use_locking
    return beta1, beta2, eps


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (``nn.SGD``).

    State ``accum``.  Raises ValueError for nesterov without momentum > 0 and
    dampening == 0, TypeError for a dynamic weight decay (as MindSpore).
    """

    def __init__(self, params, learning_rate=0.1, momentum=0.0, dampening=0.0,
                 weight_decay=0.0, nesterov=False, loss_scale=1.0,
                 *, target="CPU",
                 max_grad_norm=None,
                 master_weights=False):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target, max_grad_norm=max_grad_norm,
                         master_weights=master_weights)
        name = self.cls_name
        momentum = _v.check_float("momentum", momentum, name, _v.NON_NEGATIVE,
                                  allow_int=True)
        dampening = _v.check_float("dampening", dampening, name,
                                   _v.NON_NEGATIVE, allow_int=True)
        _v.check_bool("nesterov", nesterov, name)
        self._check_nesterov(nesterov, momentum, dampening)
        if self.dynamic_weight_decay:
            raise TypeError("For 'SGD', dynamic weight decay is currently not "
                            "supported, the argument 'weight_decay' or "
                            "'weight_decay' set in grouped 'params' must be "
                            "float or int type.")
        self._setup_rule("sgd", {"momentum": momentum, "dampening": dampening},
                         {"nesterov": nesterov})
        self._init_states([("accum", "accum", "accum", 0.0)])

    @staticmethod
    def _check_nesterov(nesterov, momentum, dampening):
        if nesterov and (momentum <= 0.0 or dampening != 0.0):
            raise ValueError("For 'SGD', if 'nesterov' is true, 'momentum' must "
                             "be > 0.0 and 'dampening' must equal to 0.0, but "
                             "got 'momentum' %r, 'dampening' %r"
                             % (momentum, dampening))

    def _check_hyper_consistency(self, hyper):
        self._check_nesterov(self._options["nesterov"], hyper["momentum"],
                             hyper["dampening"])

    def _extra_wd_check(self, wd):
        if wd.is_dynamic:
            raise TypeError("For 'SGD', dynamic weight decay is currently not "
                            "supported.")


class Momentum(Optimizer):
    """Momentum (``nn.Momentum``): ``v = momentum * v + g``, ``p -= lr * v``
    (nesterov: ``p -= lr * (g + momentum * v)``).  State ``moments``."""

    def __init__(self, params, learning_rate, momentum, weight_decay=0.0,
                 loss_scale=1.0, use_nesterov=False, *, target="CPU",
                 max_grad_norm=None,
                 master_weights=False):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target, max_grad_norm=max_grad_norm,
                         master_weights=master_weights)
        name = self.cls_name
        momentum = _v.check_float("momentum", momentum, name, _v.NON_NEGATIVE)
        _v.check_bool("use_nesterov", use_nesterov, name)
        self._setup_rule("momentum", {"momentum": momentum},
                         {"use_nesterov": use_nesterov})
        self._init_states([("moments", "moments", "moments", 0.0)])


class _BetaPowers:
    """``beta1_power`` and ``beta2_power``: ``beta ** global_step``
    (MindSpore keeps them as Parameters)."""

    @property
    def beta1_power(self):
        return self._hyper["beta1"] ** self._counter.value

    @property
    def beta2_power(self):
        return self._hyper["beta2"] ** self._counter.value


class Adam(_BetaPowers, Optimizer):
    """Adam (``nn.Adam``), MindSpore's form: bias correction folded into the
    step size, ``eps`` added to the uncorrected ``sqrt(v)``.  States
    ``moment1``, ``moment2`` (and ``vhat`` with ``use_amsgrad``).

    ``use_lazy=True`` (a keyword argument, as in MindSpore) is the same update
    for dense gradients.  ``use_offload=True`` is MindSpore's host-offloaded
    Adam (``AdamNoUpdateParam`` on the CPU, as ``AdamOffload``): the same
    update without gradient centralization, float32 parameters only; the
    compiled step already runs on the host.
    """

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999,
                 eps=1e-8, use_locking=False, use_nesterov=False,
                 weight_decay=0.0, loss_scale=1.0, use_amsgrad=False, *,
                 target="CPU", max_grad_norm=None,
                 master_weights=False, **kwargs):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target, max_grad_norm=max_grad_norm,
                         master_weights=master_weights)
        name = self.cls_name
        unknown = sorted(set(kwargs) - {"use_lazy", "use_offload"})
        if unknown:
            raise TypeError("For 'Adam', unexpected keyword arguments %s."
                            % unknown)
        use_lazy = kwargs.get("use_lazy", False)
        use_offload = kwargs.get("use_offload", False)
        beta1, beta2, eps = _check_betas(beta1, beta2, eps, name)
        for arg, value in (("use_locking", use_locking),
                           ("use_nesterov", use_nesterov),
                           ("use_amsgrad", use_amsgrad),
                           ("use_lazy", use_lazy),
                           ("use_offload", use_offload)):
            _v.check_bool(arg, value, name)
        if use_lazy and use_offload:
            raise ValueError("For 'Adam', 'use_lazy' and 'use_offload' can not "
                             "both be True.")
        if use_amsgrad and (use_lazy or use_offload):
            raise ValueError("For lazy Adam and Adam with offload, there is no "
                             "parameter named 'use_amsgrad'.")
        if use_offload:
            _setup_offload(self)
        # Sparse gradients: FusedSparseLazyAdam (only the given rows) with
        # use_lazy, else FusedSparseAdam (every row steps, zero gradient
        # outside the given rows); MindSpore has no sparse form of the
        # offloaded or the AMSGrad Adam.
        if not (use_amsgrad or use_offload):
            self._sparse_mode = "rows" if use_lazy else "dense"
        self.use_locking = use_locking
        self.use_lazy = use_lazy
        self.use_offload = use_offload
        self._setup_rule("adam", {"beta1": beta1, "beta2": beta2, "eps": eps},
                         {"use_nesterov": use_nesterov,
                          "use_amsgrad": use_amsgrad})
        states = [("moment1", "moment1", "moment1", 0.0),
                  ("moment2", "moment2", "moment2", 0.0)]
        if use_amsgrad:
            states.append(("vhat", "vhat", "vhat", 0.0))
        self._init_states(states)

    def _sparse_reason(self):
        what = "use_amsgrad=True" if self._options.get("use_amsgrad") \
            else "the offloaded Adam"
        return "%s (MindSpore has no sparse kernel for %s)" % (
            _SPARSE_REASON, what)


def _setup_offload(opt):
    """MindSpore's offloaded Adam (``AdamOffload``, ``Adam(use_offload=
    True)``): its CPU kernel ``AdamNoUpdateParam`` takes float32 only, and
    its step skips gradient centralization."""
    for p in opt.parameters:
        if p.dtype != "float32":
            raise TypeError(
                "For '%s', the offloaded Adam (MindSpore's CPU kernel "
                "AdamNoUpdateParam) takes float32 parameters only, but '%s' "
                "is %s." % (opt.cls_name, p.name, p.dtype))
    opt._centralize = False


class AdamOffload(_BetaPowers, Optimizer):
    """Adam offloaded to the host (``nn.AdamOffload``): MindSpore runs the
    moments and the step on the CPU (``AdamNoUpdateParam``) and adds the
    returned delta to the parameters; here every compiled step runs on the
    host, so it is Adam's compiled rule: ``m = beta1 * m + (1 - beta1) *
    g``, ``v = beta2 * v + (1 - beta2) * g^2``, ``p += -lr_t * m / (sqrt(v)
    + eps)`` with ``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)``
    (``use_nesterov``: ``beta1 * m + (1 - beta1) * g`` in place of ``m``),
    after ``decay_weight`` and ``scale_grad`` and without gradient
    centralization.  float32 parameters only (the kernel's type).  States
    ``moment1``, ``moment2``."""

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999,
                 eps=1e-8, use_locking=False, use_nesterov=False,
                 weight_decay=0.0, loss_scale=1.0, *, target="CPU",
                 max_grad_norm=None,
                 master_weights=False):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target, max_grad_norm=max_grad_norm,
                         master_weights=master_weights)
        beta1, beta2, eps = _check_adam_kernel_args(
            self, beta1, beta2, eps, use_locking, use_nesterov)
        _setup_offload(self)
        self._setup_rule("adam", {"beta1": beta1, "beta2": beta2, "eps": eps},
                         {"use_nesterov": use_nesterov, "use_amsgrad": False})
        self._init_states([("moment1", "moment1", "moment1", 0.0),
                           ("moment2", "moment2", "moment2", 0.0)])


class _MomentAliases:
    """``moment1`` / ``moment2`` as aliases of MindSpore's ``moments1`` /
    ``moments2`` state names (AdamWeightDecay, Lamb)."""

    @property
    def moment1(self):
        """Alias of ``moments1`` (the Adam family's first moments)."""
        return self.moments1

    @property
    def moment2(self):
        """Alias of ``moments2``."""
        return self.moments2


class AdamWeightDecay(_MomentAliases, Optimizer):
    """Adam with decoupled weight decay (``nn.AdamWeightDecay``): no bias
    correction, ``p -= lr * (m / (sqrt(v) + eps) + weight_decay * p)``.
    States ``moments1``, ``moments2``."""

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999,
                 eps=1e-6, weight_decay=0.0, *, loss_scale=None, target="CPU",
                 max_grad_norm=None,
                 master_weights=False):
        super().__init__(learning_rate, params, weight_decay,
                         _cell_loss_scale(loss_scale, type(self).__name__),
                         target=target, max_grad_norm=max_grad_norm,
                         master_weights=master_weights)
        beta1, beta2, eps = _check_betas(beta1, beta2, eps, self.cls_name)
        self._setup_rule("adam_weight_decay",
                         {"beta1": beta1, "beta2": beta2, "eps": eps})
        self._init_states([("moment1", "moments1", "adam_m", 0.0),
                           ("moment2", "moments2", "adam_v", 0.0)])


class Lamb(_MomentAliases, Optimizer):
    """LAMB (``nn.Lamb``): bias-corrected Adam direction plus weight decay,
    scaled by the trust ratio ``|p| / |u|``.  States ``moments1``,
    ``moments2``."""

    def __init__(self, params, learning_rate, beta1=0.9, beta2=0.999, eps=1e-6,
                 weight_decay=0.0, *, loss_scale=None, target="CPU",
                 max_grad_norm=None,
                 master_weights=False):
        super().__init__(learning_rate, params, weight_decay,
                         _cell_loss_scale(loss_scale, type(self).__name__),
                         target=target, max_grad_norm=max_grad_norm,
                         master_weights=master_weights)
        beta1, beta2, eps = _check_betas(beta1, beta2, eps, self.cls_name)
        self._setup_rule("lamb", {"beta1": beta1, "beta2": beta2, "eps": eps})
        self._init_states([("moment1", "moments1", "lamb_m", 0.0),
                           ("moment2", "moments2", "lamb_v", 0.0)])


def _default_lars_filter(x):
    return "LayerNorm" not in x.name and "bias" not in x.name


class LARS(Optimizer):
    """LARS around a ``Momentum`` optimizer (``nn.LARS``), compiled as the
    ``lars`` rule.

    ``LARS(optimizer, epsilon=1e-05, coefficient=0.001, use_clip=False,
    lars_filter=lambda x: 'LayerNorm' not in x.name and 'bias' not in
    x.name)``.  It takes over the wrapped optimizer's parameters, groups,
    learning rates, weight decays, loss scale, global step and ``moments``
    states.  Parameters the filter rejects get plain Momentum without weight
    decay (as in MindSpore), compiled as a second part.  Wrapping another
    optimizer raises NotImplementedError.

    ``use_clip=True`` clips the trust ratio by the learning rate
    (MindSpore's ``LARSUpdate`` with ``use_clip``): ``ratio = min(ratio /
    lr, 1)``.  That step has no compiled rule: the gradients of the LARS
    parameters are transformed in NumPy (``_clip_gradients``) and stepped
    by a compiled Momentum without weight decay or loss scale.

    Over a flattened ``Momentum`` (``flatten_weights``), LARS steps the
    parameters one by one, as MindSpore's LARS turns the wrapped optimizer's
    flattening off; its ``moments`` are views into the Momentum's buffers.
    """

    def __init__(self, optimizer, epsilon=1e-05, coefficient=0.001,
                 use_clip=False, lars_filter=_default_lars_filter):
        name = self.cls_name
        _v.check_value_type("optimizer", optimizer, [Optimizer], name)
        epsilon = _v.check_float("epsilon", epsilon, name, _v.NON_NEGATIVE)
        coefficient = _v.check_float("coefficient", coefficient, name,
                                     _v.POSITIVE)
        _v.check_bool("use_clip", use_clip, name)
        if not callable(lars_filter):
            raise TypeError("For 'LARS', the 'lars_filter' must be callable, "
                            "but got %s." % type(lars_filter))
        if not isinstance(optimizer, Momentum) or isinstance(optimizer, LARS):
            raise NotImplementedError(
                "For 'LARS', only a wrapped 'Momentum' optimizer can be "
                "compiled (the 'lars' rule is LARS around Momentum); got '%s'."
                % optimizer.cls_name)
        if optimizer.loss_scale_cell is not None or \
                optimizer.max_grad_norm is not None:
            raise NotImplementedError(
                "For 'LARS', the wrapped optimizer has a "
                "DynamicLossScaleUpdateCell or max_grad_norm: LARS steps "
                "with a static loss scale and without clipping; clip the "
                "gradients before the step, and check them for inf/NaN.")
        if use_clip and optimizer.is_group_lr and optimizer.dynamic_lr:
            raise ValueError("For 'LARS', if the argument 'use_clip' is set to "
                             "True, then the dynamic learning rate and group "
                             "learning rate cannot both be true.")
        # Take over the wrapped optimizer's configuration (shared objects:
        # parameters, learning rates, states and the step counter).
        for attr in ("loss_scale", "dynamic_lr", "dynamic_weight_decay",
                     "is_group", "is_group_lr", "is_group_params_ordered",
                     "_counter", "_target", "compile_options", "_global_lr",
                     "_global_wd", "_groups", "_parameters", "_param_group",
                     "decay_flags", "exec_weight_decay", "_unique",
                     "param_length", "init_learning_rate"):
            setattr(self, attr, getattr(optimizer, attr))
        moments = optimizer.moments
        if optimizer._use_flattened_params:
            self._unflatten(optimizer)
            moments = self.moments_views
        if self.is_group:
            self.grad_centralization_flags = optimizer.grad_centralization_flags
        self.opt = optimizer
        self.epsilon = epsilon
        self.coefficient = coefficient
        self.use_clip = use_clip
        self.lars_flag = tuple(bool(lars_filter(p)) for p in self._parameters)
        self._state_params = {"moments": moments}
        self._state_attrs = [("moments", "moments")]
        self.moments = moments
        momentum = optimizer.get_hyper_param("momentum")
        use_nesterov = optimizer._options["use_nesterov"]
        self._rule = "lars"
        self._hyper = {"momentum": momentum, "epsilon": epsilon,
                       "coefficient": coefficient}
        self._options = {"use_nesterov": use_nesterov}
        lars_idx = [i for i, f in enumerate(self.lars_flag) if f]
        plain_idx = [i for i, f in enumerate(self.lars_flag) if not f]
        parts = []
        if lars_idx and use_clip:
            # The clipped ratio is applied in Python (_clip_gradients), the
            # loss scale with it.
            parts.append(_Part("momentum", {"momentum": momentum,
                                            "use_nesterov": use_nesterov},
                               ["momentum"], lars_idx, zero_decay=True,
                               unscaled=True))
            self._gradient_transform = self._clip_gradients
        elif lars_idx:
            parts.append(_Part("lars", dict(self._hyper, **self._options),
                               ["momentum", "epsilon", "coefficient"],
                               lars_idx))
        if plain_idx:
            parts.append(_Part("momentum", {"momentum": momentum,
                                            "use_nesterov": use_nesterov},
                               ["momentum"], plain_idx, zero_decay=True))
        self._parts = parts


    def _unflatten(self, optimizer):
        """Per-parameter steps over a flattened Momentum: its parameters as
        given, one group, the default decay filter, and ``moments_views``
        (each parameter's part of its buffer's moments)."""
        from ._optim import default_decay_filter
        params = list(optimizer.parameters)
        group = _Group(0, optimizer._global_lr, optimizer._global_wd, False,
                       False, False, params)
        group.indices = list(range(len(params)))
        self._groups = [group]
        self._param_group = [group] * len(params)
        self._parameters = ParameterTuple(params)
        self.param_length = len(params)
        self.decay_flags = tuple(default_decay_filter(p.name) for p in params)
        self._unique = True
        chunk_index = {id(c): k for k, c in
                       enumerate(optimizer._flat_chunks)}
        views = []
        for p in params:
            buf = optimizer.moments[chunk_index[id(p._chunk)]].data
            view = buf[p._chunk_offset:p._chunk_offset + p.size]
            views.append(Parameter._wrap(view.reshape(p.shape),
                                         "moments.%s" % p.name,
                                         requires_grad=False))
        self.moments_views = ParameterTuple(views)

    def _clip_gradients(self, grads):
        """``use_clip``: MindSpore's ``LARSUpdate`` for the LARS parameters,
        computed in float64 and rounded to the parameter's dtype: ``g /=
        loss_scale``; ``w = |param|``, ``n = |g|``; ``ratio = coefficient * w
        / (n + weight_decay * w + epsilon)`` when both norms are positive
        (else 1), then ``min(ratio / lr, 1)``; ``g' = ratio * (g +
        weight_decay * param)`` (weight decay where the decay flag is
        set)."""
        step = self._counter.value
        lrs = self.get_lr()
        eps = self._hyper["epsilon"]
        coefficient = self._hyper["coefficient"]
        out = list(grads)
        for i, p in enumerate(self._parameters):
            if not self.lars_flag[i]:
                continue
            g = grads[i]
            if self.loss_scale != 1.0:
                g = g * np.asarray(1.0 / self.loss_scale, g.dtype)
            wd = 0.0
            if self.exec_weight_decay and self.decay_flags[i]:
                wd = self._param_group[i].wd.value_at(step, self.cls_name)
            w64 = p.data.astype(np.float64)
            g64 = g.astype(np.float64)
            w_norm = float(np.sqrt(np.sum(w64 * w64)))
            g_norm = float(np.sqrt(np.sum(g64 * g64)))
            ratio = 1.0
            if w_norm > 0.0 and g_norm > 0.0:
                ratio = coefficient * w_norm / (g_norm + wd * w_norm + eps)
                lr = lrs[i] if self.is_group_lr else lrs
                ratio = min(ratio / lr, 1.0) if lr > 0.0 else 1.0
            out[i] = (ratio * (g64 + wd * w64)).astype(p.dtype)
        return out


class Adagrad(Optimizer):
    """Adagrad (``nn.Adagrad``): ``accum += g^2``, ``p -= lr * g /
    sqrt(accum)``.  State ``accum`` (starts at ``accum``)."""

    def __init__(self, params, accum=0.1, learning_rate=0.001,
                 update_slots=True, loss_scale=1.0, weight_decay=0.0,
                 *, target="CPU",
                 max_grad_norm=None,
                 master_weights=False):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target, max_grad_norm=max_grad_norm,
                         master_weights=master_weights)
        name = self.cls_name
        accum = _v.check_float("accum", accum, name, _v.NON_NEGATIVE)
        _v.check_bool("update_slots", update_slots, name)
        self._setup_rule("adagrad", {}, {"update_slots": update_slots},
                         {"accum": accum})
        self._init_states([("accum", "accum", "accum", accum)])


class RMSProp(Optimizer):
    """RMSProp (``nn.RMSProp``); ``mean_square`` starts at one.  States
    ``mean_square``, ``moment`` and, with ``centered``, ``mean_grad``."""

    def __init__(self, params, learning_rate=0.1, decay=0.9, momentum=0.0,
                 epsilon=1e-10, use_locking=False, centered=False,
                 loss_scale=1.0, weight_decay=0.0, *, target="CPU",
                 max_grad_norm=None,
                 master_weights=False):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target, max_grad_norm=max_grad_norm,
                         master_weights=master_weights)
        name = self.cls_name
        decay = _v.check_float("decay", decay, name, _v.NON_NEGATIVE)
        momentum = _v.check_float("momentum", momentum, name, _v.NON_NEGATIVE)
        epsilon = _v.check_float("epsilon", epsilon, name, _v.POSITIVE)
        _v.check_bool("use_locking", use_locking, name)
        _v.check_bool("centered", centered, name)
        self.use_locking = use_locking
        self._setup_rule("rmsprop", {"decay": decay, "momentum": momentum,
                                     "epsilon": epsilon},
                         {"centered": centered})
        states = []
        if centered:
            states.append(("mean_grad", "mean_grad", "mean_grad", 0.0))
        states += [("mean_square", "mean_square", "mean_square", 1.0),
                   ("moment", "moment", "moment", 0.0)]
        self._init_states(states)


class FTRL(Optimizer):
    """FTRL-proximal (``nn.FTRL``).  States ``moments`` (the accumulator,
    starts at ``initial_accum``) and ``linear``.  The learning rate must be a
    positive constant float (ValueError for a dynamic or group lr).

    Sparse gradients step as MindSpore's ``SparseApplyFtrl`` /
    ``FusedSparseFtrl``: duplicate indices summed, only the given rows of
    the parameter and its states change (docs/Python-nn.md)."""

    _sparse_mode = "rows"

    def __init__(self, params, initial_accum=0.1, learning_rate=0.001,
                 lr_power=-0.5, l1=0.0, l2=0.0, use_locking=False,
                 loss_scale=1.0, weight_decay=0.0, *, target="CPU",
                 max_grad_norm=None,
                 master_weights=False):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target, max_grad_norm=max_grad_norm,
                         master_weights=master_weights)
        name = self.cls_name
        if self.dynamic_lr or self.is_group_lr:
            raise ValueError("For 'FTRL', dynamic learning rate and group "
                             "learning rate are currently not supported in "
                             "FTRL, they should all be false, but got dynamic "
                             "learning rate %s and group learning rate %s."
                             % (self.dynamic_lr, self.is_group_lr))
        initial_accum = _v.check_float("initial_accum", initial_accum, name,
                                       _v.NON_NEGATIVE)
        _v.check_float("learning_rate", learning_rate, name, _v.POSITIVE)
        lr_power = _v.check_float("lr_power", lr_power, name, _v.NON_POSITIVE)
        l1 = _v.check_float("l1", l1, name, _v.NON_NEGATIVE)
        l2 = _v.check_float("l2", l2, name, _v.NON_NEGATIVE)
        _v.check_bool("use_locking", use_locking, name)
        self.use_locking = use_locking
        self._setup_rule("ftrl", {"lr_power": lr_power, "l1": l1, "l2": l2},
                         init_only={"initial_accum": initial_accum})
        self._init_states([("accum", "moments", "moments", initial_accum),
                           ("linear", "linear", "linear", 0.0)])

    def _check_runtime_lr(self, value):
        if not value > 0.0:
            raise ValueError("For 'FTRL', the learning rate must be > 0, but "
                             "got %r." % value)


class ProximalAdagrad(Optimizer):
    """Proximal Adagrad (``nn.ProximalAdagrad``).  State ``accum`` (starts
    at ``accum``).  As MindSpore's ``ApplyProximalAdagrad`` kernels compute
    it, the shrink by ``l1`` and the divisor ``1 + l2 * ...`` use the
    per-element step ``lr / sqrt(accum)``, not ``lr`` as the op's docstring
    writes (docs/Rules.md).  Sparse gradients step as
    ``SparseApplyProximalAdagrad``: duplicate indices summed, only the given
    rows change."""

    _sparse_mode = "rows"

    def __init__(self, params, accum=0.1, learning_rate=0.001, l1=0.0, l2=0.0,
                 use_locking=False, loss_scale=1.0, weight_decay=0.0,
                 *, target="CPU",
                 max_grad_norm=None,
                 master_weights=False):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target, max_grad_norm=max_grad_norm,
                         master_weights=master_weights)
        name = self.cls_name
        accum = _v.check_float("accum", accum, name, _v.NON_NEGATIVE)
        l1 = _v.check_float("l1", l1, name, _v.NON_NEGATIVE)
        l2 = _v.check_float("l2", l2, name, _v.NON_NEGATIVE)
        _v.check_bool("use_locking", use_locking, name)
        self.use_locking = use_locking
        self._setup_rule("proximal_adagrad", {"l1": l1, "l2": l2},
                         init_only={"accum": accum})
        self._init_states([("accum", "accum", "accum", accum)])


class AdaMax(Optimizer):
    """AdaMax (``nn.AdaMax``).  States ``moment1``, ``moment2``."""

    def __init__(self, params, learning_rate=0.001, beta1=0.9, beta2=0.999,
                 eps=1e-08, weight_decay=0.0, loss_scale=1.0, *, target="CPU",
                 max_grad_norm=None,
                 master_weights=False):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target, max_grad_norm=max_grad_norm,
                         master_weights=master_weights)
        beta1, beta2, eps = _check_betas(beta1, beta2, eps, self.cls_name)
        self._setup_rule("adamax", {"beta1": beta1, "beta2": beta2, "eps": eps})
        self._init_states([("moment1", "moment1", "moment1", 0.0),
                           ("moment2", "moment2", "moment2", 0.0)])

    @property
    def beta1_power(self):
        return self._hyper["beta1"] ** self._counter.value


class Adadelta(Optimizer):
    """Adadelta (``nn.Adadelta``).  States ``accum``, ``accum_update``."""

    def __init__(self, params, learning_rate=1.0, rho=0.9, epsilon=1e-6,
                 loss_scale=1.0, weight_decay=0.0, *, target="CPU",
                 max_grad_norm=None,
                 master_weights=False):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target, max_grad_norm=max_grad_norm,
                         master_weights=master_weights)
        name = self.cls_name
        rho = _v.check_float("rho", rho, name, _v.CLOSED_UNIT)
        epsilon = _v.check_float("epsilon", epsilon, name, _v.POSITIVE)
        self._setup_rule("adadelta", {"rho": rho, "epsilon": epsilon})
        self._init_states([("accum", "accum", "accum", 0.0),
                           ("accum_update", "accum_update", "accum_update",
                            0.0)])


class ASGD(Optimizer):
    """Averaged SGD (``nn.ASGD``).  State ``ax``."""

    def __init__(self, params, learning_rate=0.1, lambd=1e-4, alpha=0.75,
                 t0=1e6, weight_decay=0.0, *, loss_scale=None, target="CPU",
                 max_grad_norm=None,
                 master_weights=False):
        super().__init__(learning_rate, params, weight_decay,
                         _cell_loss_scale(loss_scale, type(self).__name__),
                         target=target, max_grad_norm=max_grad_norm,
                         master_weights=master_weights)
        name = self.cls_name
        lambd = _v.check_float("lambd", lambd, name, _v.NON_NEGATIVE)
        alpha = _v.check_float("alpha", alpha, name)
        t0 = _v.check_float("t0", t0, name)
        self._setup_rule("asgd", {"lambd": lambd, "alpha": alpha, "t0": t0})
        self._init_states([("ax", "ax", "ax_", 0.0)])


class Rprop(Optimizer):
    """Rprop (``nn.Rprop``).  States ``prev`` and ``step_size`` (starts at
    the parameter's learning rate at step 0; MindSpore fills it at step 1)."""

    def __init__(self, params, learning_rate=0.1, etas=(0.5, 1.2),
                 step_sizes=(1e-6, 50.), weight_decay=0., *, loss_scale=None,
                 target="CPU", max_grad_norm=None,
                 master_weights=False):
        super().__init__(learning_rate, params, weight_decay,
                         _cell_loss_scale(loss_scale, type(self).__name__),
                         target=target, max_grad_norm=max_grad_norm,
                         master_weights=master_weights)
        name = self.cls_name
        if not isinstance(etas, tuple):
            raise TypeError("For Rprop, etas must be a tuple, but got %s."
                            % type(etas))
        if len(etas) != 2:
            raise ValueError("For Rprop, etas must be a tuple with the size of "
                             "2, but got %d." % len(etas))
        if not isinstance(step_sizes, tuple):
            raise TypeError("For Rprop, step_sizes must be a tuple, but got %s."
                            % type(step_sizes))
        if len(step_sizes) != 2:
            raise ValueError("For Rprop, step_sizes must be a tuple with the "
                             "size of 2, but got %d." % len(step_sizes))
        etaminus = _v.check_float("etaminus", etas[0], name, _v.OPEN_UNIT)
        etaplus = _v.check_float("etaplus", etas[1], name, _v.GREATER_THAN_ONE)
        min_step = _v.check_float("min_step_sizes", step_sizes[0], name,
                                  _v.NON_NEGATIVE)
        max_step = _v.check_float("max_step_sizes", step_sizes[1], name,
                                  _v.POSITIVE)
        if min_step > max_step:
            raise ValueError("For Rprop, maximal step size should not be less "
                             "than minimal step size, but got %r > %r."
                             % (min_step, max_step))
        self.etas = etas
        self.step_sizes = step_sizes
        self._setup_rule("rprop", {"etaminus": etaminus, "etaplus": etaplus,
                                   "min_step": min_step, "max_step": max_step})
        self._init_states([("prev", "prev", "prev", 0.0),
                           ("step_size", "step_size", "step_size",
                            self._initial_lr)])

    def _check_hyper_consistency(self, hyper):
        if hyper["min_step"] > hyper["max_step"]:
            raise ValueError("For Rprop, maximal step size should not be less "
                             "than minimal step size, but got %r > %r."
                             % (hyper["min_step"], hyper["max_step"]))


class LazyAdam(_BetaPowers, Optimizer):
    """LazyAdam (``nn.LazyAdam``): with dense gradients, Adam (MindSpore's
    form); with sparse gradients (``RowTensor`` or ``(indices, values)``),
    MindSpore's ``SparseApplyLazyAdam``: only the named rows of the parameter
    and its states change, duplicate indices summed when ``unique`` is True.
    Whether a parameter is sparse is fixed by its gradient on the first step
    (see the module docstring).  States ``moment1``, ``moment2``."""

    _sparse_mode = "compiled"

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999,
                 eps=1e-8, use_locking=False, use_nesterov=False,
                 weight_decay=0.0, loss_scale=1.0, *, target="CPU",
                 max_grad_norm=None,
                 master_weights=False):
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target, max_grad_norm=max_grad_norm,
                         master_weights=master_weights)
        beta1, beta2, eps = _check_adam_kernel_args(
            self, beta1, beta2, eps, use_locking, use_nesterov)
        self._setup_rule("lazy_adam", {"beta1": beta1, "beta2": beta2,
                                       "eps": eps},
                         {"use_nesterov": use_nesterov})
        self._init_states([("moment1", "moment1", "moment1", 0.0),
                           ("moment2", "moment2", "moment2", 0.0)])


class AdaFactor(Optimizer):
    """Adafactor (``nn.AdaFactor``; Shazeer and Stern 2018), as MindSpore's
    CPU kernel ``FusedAdaFactor`` computes it (rule ``adafactor``,
    docs/Adafactor.md).

    ``eps`` is ``(eps1, eps2)``; ``beta1`` None or 0 turns the first moment
    off (``first_moment = beta1 > 0``); without ``learning_rate`` the
    relative step ``min(1e-2, 1 / sqrt(t))`` (``1e-6 * t`` with
    ``warmup_init``) replaces it, and a learning rate that is not a number
    (a schedule, a per-step list) turns ``scale_parameter`` off, as in
    MindSpore.  States ``exp_avg`` (with the first moment; the parameter's
    shape), ``exp_avg_sq_row`` (``shape[:-1]``; ``(1,)`` for a vector or
    scalar) and ``exp_avg_sq_col`` (``shape[:-2] + shape[-1:]``; a vector's
    or scalar's whole second moment, MindSpore's ``exp_avg_sq``, with the
    parameter's shape).  ``compression=True`` stores ``exp_avg`` in float16
    as MindSpore does: its values are rounded to float16 after every step
    (MindSpore's results; the array itself keeps the parameter's dtype, so
    the memory is not saved, and target 'GPU' refuses it).
    """

    _NO_MASTER_REASON = "Adafactor's factored statistics take whole " \
        "tensors, which the compiled step keeps in the parameter's dtype"

    def __init__(self, params, learning_rate=None, eps=(1e-30, 1e-3),
                 clip_threshold=1.0, decay_rate=0.8, beta1=0.9,
                 weight_decay=0.0, scale_parameter=True, relative_step=True,
                 warmup_init=False, compression=False, loss_scale=1.0,
                 *, target="CPU",
                 max_grad_norm=None,
                 master_weights=False):
        if learning_rate is not None and relative_step:
            raise ValueError("For 'AdaFactor', a manual 'learning_rate' (got "
                             "%r) cannot be combined with relative_step=True."
                             % (learning_rate,))
        if warmup_init and not relative_step:
            raise ValueError("For 'AdaFactor', warmup_init=True requires "
                             "relative_step=True.")
        if learning_rate is None and not relative_step:
            raise ValueError("For 'AdaFactor', relative_step=False requires a "
                             "'learning_rate', but got None.")
        # MindSpore scales the learning rate (relative step, parameter
        # scale) only when it is a number.
        self.scale_lr = learning_rate is None or (
            isinstance(learning_rate, (float, int)) and
            not isinstance(learning_rate, bool))
        if learning_rate is None:
            learning_rate = 0.0
        if beta1 is None:
            beta1 = 0.0
        super().__init__(learning_rate, params, weight_decay, loss_scale,
                         target=target, max_grad_norm=max_grad_norm,
                         master_weights=master_weights)
        name = self.cls_name
        ranges = _RULE_RANGES["adafactor"]
        _v.check_value_type("eps", eps, [list, tuple], name)
        if len(eps) != 2:
            raise ValueError("For 'AdaFactor', 'eps' must hold 2 values "
                             "(eps1, eps2), but got %d." % len(eps))
        eps1 = _v.check_float("eps1", eps[0], name, ranges["eps1"])
        eps2 = _v.check_float("eps2", eps[1], name, ranges["eps2"])
        clip_threshold = _v.check_float("clip_threshold", clip_threshold,
                                        name, ranges["clip_threshold"])
        decay_rate = _v.check_float("decay_rate", decay_rate, name,
                                    ranges["decay_rate"])
        if self.dynamic_weight_decay:
            raise TypeError("For 'AdaFactor', the argument 'weight_decay' "
                            "must be float, but got %s."
                            % type(weight_decay).__name__)
        _v.check_float("weight_decay", weight_decay, name, _v.HALF_OPEN_UNIT,
                       allow_int=True)
        for arg, value in (("scale_parameter", scale_parameter),
                           ("relative_step", relative_step),
                           ("warmup_init", warmup_init),
                           ("compression", compression)):
            _v.check_bool(arg, value, name)
        beta1 = _v.check_float("beta1", beta1, name, ranges["beta1"],
                               allow_int=True)
        if compression and target == "GPU":
            raise NotImplementedError(
                "For 'AdaFactor', compression=True (float16 first moments) "
                "is not supported with target 'GPU'.")
        self.compression = compression
        self.use_first_moment = beta1 > 0.0
        if not self.scale_lr:
            scale_parameter = False
        self._setup_rule("adafactor",
                         {"eps1": eps1, "eps2": eps2,
                          "clip_threshold": clip_threshold,
                          "decay_rate": decay_rate, "beta1": beta1},
                         {"first_moment": self.use_first_moment,
                          "scale_parameter": scale_parameter,
                          "relative_step": relative_step,
                          "warmup_init": warmup_init})
        states = [("exp_avg", "exp_avg", "exp_avg", 0.0)] \
            if self.use_first_moment else []
        states += [("exp_avg_sq_row", "exp_avg_sq_row", "exp_avg_sq_row", 0.0),
                   ("exp_avg_sq_col", "exp_avg_sq_col", "exp_avg_sq_col", 0.0)]
        self._init_states(states)

    def _compiled_step(self, gradients):
        result = super()._compiled_step(gradients)
        if self.compression and self.use_first_moment:
            # MindSpore's exp_avg is a float16 Parameter: each step's new
            # value is stored rounded to float16.
            for state in self.exp_avg:
                array = state.data
                array[...] = array.astype(np.float16)
        return result

    @property
    def eps(self):
        """``(eps1, eps2)``, MindSpore's ``eps``."""
        return (self._hyper["eps1"], self._hyper["eps2"])

    def _check_hyper_consistency(self, hyper):
        if not self.use_first_moment and hyper["beta1"] != 0.0:
            raise ValueError("For 'AdaFactor', the optimizer was built without "
                             "the first moment (beta1 None or 0), so 'beta1' "
                             "must stay 0, but got %r." % hyper["beta1"])


def _check_rule_hypers(rule, values, cls_name):
    """Checks hyper-parameter values against the ranges of the rule's record
    (OptimRules.td); returns them as floats."""
    return {name: _v.check_float(name, value, cls_name,
                                 _RULE_RANGES[rule][name], allow_int=True)
            for name, value in values.items()}


def _record_class(rule, spec):
    """The ``optim_mlir.nn`` class of a rule whose record asks for one:
    ``Name(params, learning_rate=<default>, <hyper-parameter>=<default>,
    ..., weight_decay=0.0, loss_scale=1.0, *, target="CPU")``, each
    hyper-parameter checked against its record's range, each state of the
    record an attribute of that name starting at its ``init``.  The
    signature is the record's: clipping is set as ``opt.max_grad_norm``."""
    P = inspect.Parameter
    hypers = [h["name"] for h in spec["hyper_params"]]
    states = [(s["name"], s["init"]) for s in spec["states"]]
    parameters = (
        [P("params", P.POSITIONAL_OR_KEYWORD),
         P("learning_rate", P.POSITIONAL_OR_KEYWORD,
           default=spec["default_learning_rate"])] +
        [P(h["name"], P.POSITIONAL_OR_KEYWORD, default=h["default"])
         for h in spec["hyper_params"]] +
        [P("weight_decay", P.POSITIONAL_OR_KEYWORD, default=0.0),
         P("loss_scale", P.POSITIONAL_OR_KEYWORD, default=1.0),
         P("target", P.KEYWORD_ONLY, default="CPU")])

    def construct(self, arg):
        Optimizer.__init__(self, arg["learning_rate"], arg["params"],
                           arg["weight_decay"], arg["loss_scale"],
                           target=arg["target"])
        self._setup_rule(rule, _check_rule_hypers(
            rule, {name: arg[name] for name in hypers}, self.cls_name))
        self._init_states([(name, name, name, init)
                           for name, init in states])

    return _record_classes.make_class(
        rule, spec, "optim_mlir.nn", Optimizer, parameters, construct,
        "States " + ", ".join("``%s``" % name for name, _ in states)
        if states else "No states")


# The classes of the rules defined by their records alone, by class name.
RECORD_CLASSES = {spec["class_name"]: _record_class(rule, spec)
                  for rule, spec in _record_classes.record_rules()
                  if spec["gen_nn_class"]}
