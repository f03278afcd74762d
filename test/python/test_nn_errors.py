"""The error contract of ``optim_mlir.nn`` (docs/Python-nn.md, "Optimizers" and
MindSpore's constructors): one test per error, asserting the exception type
and a fragment of its message; errors are raised before anything is compiled
or changed.
"""

import numpy as np
import pytest

from optim_mlir import nn


def P(name="w", shape=(4, 16), dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return nn.Parameter(rng.standard_normal(shape).astype(dtype), name)


def two():
    return [P("a"), P("b", (3,))]


def expect(exc, match, fn):
    before = nn._COMPILE_COUNT
    with pytest.raises(exc, match=match):
        fn()
    assert nn._COMPILE_COUNT == before, "an error path compiled something"


# ---------------------------------------------------------------------------
# Base-class constructor checks
# ---------------------------------------------------------------------------

CONSTRUCTOR_ERRORS = [
    ("params-None", ValueError, "can not be None",
     lambda: nn.SGD(None)),
    ("params-empty", ValueError, "must not be empty",
     lambda: nn.SGD([])),
    ("params-empty-generator", ValueError, "must not be empty",
     lambda: nn.SGD(x for x in [])),
    ("params-not-iterable", TypeError, "must be Iterable",
     lambda: nn.SGD(42)),
    ("params-a-dict", TypeError, "must be Iterable",
     lambda: nn.SGD({"params": [P()]})),
    ("params-mixed", TypeError, "'Parameter' or 'dict'",
     lambda: nn.SGD([P(), {"params": [P("b")]}])),
    ("params-arrays", TypeError, "'Parameter' or 'dict'",
     lambda: nn.SGD([np.zeros(3)])),
    ("params-duplicate-names", ValueError, "used more than once",
     lambda: nn.SGD([P("w"), P("w", (3,))])),
    ("params-same-object-twice", ValueError, "used more than once",
     lambda: (lambda p: nn.SGD([p, p]))(P())),
    ("loss_scale-str", TypeError, "'loss_scale' must be float",
     lambda: nn.SGD(two(), loss_scale="2")),
    ("loss_scale-bool", TypeError, "'loss_scale' must be float",
     lambda: nn.SGD(two(), loss_scale=True)),
    ("loss_scale-zero", ValueError, "'loss_scale' must be in \\(0.0, inf\\)",
     lambda: nn.SGD(two(), loss_scale=0)),
    ("loss_scale-negative", ValueError, "'loss_scale' must be in",
     lambda: nn.SGD(two(), loss_scale=-1.0)),
    ("loss_scale-nan", ValueError, "finite",
     lambda: nn.SGD(two(), loss_scale=float("nan"))),
    ("weight_decay-negative", ValueError, "'weight_decay' must be >= 0",
     lambda: nn.SGD(two(), weight_decay=-0.1)),
    ("weight_decay-str", TypeError, "'Weight_decay' must be int, float",
     lambda: nn.SGD(two(), weight_decay="0.1")),
    ("weight_decay-None", TypeError, "'Weight_decay' must be int, float",
     lambda: nn.SGD(two(), weight_decay=None)),
    ("weight_decay-bool", TypeError, "'Weight_decay' must be int, float",
     lambda: nn.SGD(two(), weight_decay=True)),
    ("weight_decay-inf", ValueError, "finite",
     lambda: nn.SGD(two(), weight_decay=float("inf"))),
    ("lr-negative", ValueError, "'learning rate' must be >= 0",
     lambda: nn.SGD(two(), learning_rate=-0.1)),
    ("lr-negative-0d", ValueError, "must be >= 0",
     lambda: nn.SGD(two(), learning_rate=np.array(-1.0))),
    ("lr-rank-2", ValueError, "dimension of it should be 0 or 1",
     lambda: nn.SGD(two(), learning_rate=np.ones((2, 2)))),
    ("lr-nested-list", ValueError, "one-dimensional",
     lambda: nn.SGD(two(), learning_rate=[[0.1, 0.2]])),
    ("lr-str", TypeError, "'learning_rate' must be int, float",
     lambda: nn.SGD(two(), learning_rate="0.1")),
    ("lr-object", TypeError, "'learning_rate' must be int, float",
     lambda: nn.SGD(two(), learning_rate=object())),
    ("lr-None", TypeError, "'learning_rate' must be int, float",
     lambda: nn.Momentum(two(), None, 0.9)),
    ("lr-bool", TypeError, "but got bool",
     lambda: nn.SGD(two(), learning_rate=True)),
    ("lr-list-negative", ValueError, "values must be >= 0",
     lambda: nn.SGD(two(), learning_rate=[0.1, -0.1])),
    ("lr-list-strings", TypeError, "must be numbers",
     lambda: nn.SGD(two(), learning_rate=["a", "b"])),
    ("lr-list-empty", ValueError, "must not be empty",
     lambda: nn.SGD(two(), learning_rate=[])),
    ("lr-nan", ValueError, "finite",
     lambda: nn.SGD(two(), learning_rate=float("nan"))),
    ("lr-list-inf", ValueError, "finite",
     lambda: nn.SGD(two(), learning_rate=[0.1, float("inf")])),
]


@pytest.mark.parametrize("case", CONSTRUCTOR_ERRORS,
                         ids=[c[0] for c in CONSTRUCTOR_ERRORS])
def test_constructor_error(case):
    _, exc, match, fn = case
    expect(exc, match, fn)


# ---------------------------------------------------------------------------
# Group checks
# ---------------------------------------------------------------------------

def _groups_same_param_twice():
    p = P("shared")
    return nn.SGD([{"params": [p]}, {"params": [p]}])


def _groups_same_name_twice():
    return nn.SGD([{"params": [P("x")]}, {"params": [P("x", (3,))]}])


def _order(n_extra=0, bad=None):
    a, b = P("a"), P("b", (3,))
    order = [b, a] + [P("c%d" % i) for i in range(n_extra)]
    if bad is not None:
        order = bad(a, b)
    return nn.SGD([{"params": [a]}, {"params": [b]}, {"order_params": order}])


GROUP_ERRORS = [
    ("unknown-key", KeyError, "the key in group params must be one of",
     lambda: nn.SGD([{"params": [P()], "momentum": 0.9}])),
    ("order_params-with-other-keys", ValueError, "should only include",
     lambda: nn.SGD([{"params": [P("a")]},
                     {"order_params": [P("a")], "lr": 0.1}])),
    ("order_params-not-iterable", TypeError, "'order_params' in group",
     lambda: nn.SGD([{"params": [P("a")]}, {"order_params": 3}])),
    ("params-missing", KeyError, "must hold the key 'params'",
     lambda: nn.SGD([{"lr": 0.1}])),
    ("group-params-None", ValueError, "group `params` can not be None",
     lambda: nn.SGD([{"params": None}])),
    ("group-params-empty", ValueError, "group `params` must not be empty",
     lambda: nn.SGD([{"params": []}])),
    ("group-params-not-iterable", TypeError, "group `params` must be Iterable",
     lambda: nn.SGD([{"params": 5}])),
    ("group-params-element", TypeError, "must be Parameter type",
     lambda: nn.SGD([{"params": [P("a"), "b"]}])),
    ("grad_centralization-not-bool", TypeError, "must be bool type",
     lambda: nn.SGD([{"params": [P()], "grad_centralization": 1}])),
    ("same-parameter-in-two-groups", RuntimeError, "already exists",
     _groups_same_param_twice),
    ("same-name-in-two-groups", RuntimeError, "already exists",
     _groups_same_name_twice),
    ("group-lr-lists-differ", ValueError, "must be the same size",
     lambda: nn.SGD([{"params": [P("a")], "lr": [0.1, 0.2]},
                     {"params": [P("b")], "lr": [0.1, 0.2, 0.3]}])),
    ("group-lr-list-vs-global-list", ValueError, "must be the same size",
     lambda: nn.SGD([{"params": [P("a")], "lr": [0.1, 0.2]}],
                    learning_rate=[0.1, 0.2, 0.3])),
    ("group-lr-negative", ValueError, "must be >= 0",
     lambda: nn.SGD([{"params": [P("a")], "lr": -1.0}])),
    ("group-lr-type", TypeError, "'learning_rate' must be int, float",
     lambda: nn.SGD([{"params": [P("a")], "lr": "0.1"}])),
    ("group-weight_decay-negative", ValueError, "'weight_decay' must be >= 0",
     lambda: nn.SGD([{"params": [P("a")], "weight_decay": -1.0}])),
    ("group-weight_decay-type", TypeError, "'Weight_decay' must be",
     lambda: nn.SGD([{"params": [P("a")], "weight_decay": "x"}])),
    ("order_params-too-long", ValueError, "length of order parameters",
     lambda: _order(n_extra=1)),
    ("order_params-unknown-parameter", ValueError, "must name every grouped",
     lambda: _order(bad=lambda a, b: [a, P("zzz")])),
    ("order_params-duplicate", ValueError, "must name every grouped",
     lambda: _order(bad=lambda a, b: [a, a])),
    ("order_params-element-type", TypeError, "must be Parameter type",
     lambda: _order(bad=lambda a, b: [a, "b"])),
]


@pytest.mark.parametrize("case", GROUP_ERRORS, ids=[c[0] for c in GROUP_ERRORS])
def test_group_error(case):
    _, exc, match, fn = case
    expect(exc, match, fn)


# ---------------------------------------------------------------------------
# Optimizer-class checks
# ---------------------------------------------------------------------------

class NotAnOptimizer:
    pass


CLASS_ERRORS = [
    ("SGD-momentum-negative", ValueError, "'momentum' must be in \\[0.0, inf\\)",
     lambda: nn.SGD(two(), momentum=-0.1)),
    ("SGD-momentum-str", TypeError, "'momentum' must be one of float, int",
     lambda: nn.SGD(two(), momentum="0.9")),
    ("SGD-dampening-negative", ValueError, "'dampening' must be in",
     lambda: nn.SGD(two(), dampening=-1)),
    ("SGD-nesterov-not-bool", TypeError, "'nesterov' must be bool",
     lambda: nn.SGD(two(), momentum=0.9, nesterov=1)),
    ("SGD-nesterov-without-momentum", ValueError,
     "'momentum' must be > 0.0 and 'dampening' must equal to 0.0",
     lambda: nn.SGD(two(), nesterov=True)),
    ("SGD-nesterov-with-dampening", ValueError, "'dampening' must equal",
     lambda: nn.SGD(two(), momentum=0.9, dampening=0.1, nesterov=True)),
    ("SGD-dynamic-weight-decay", TypeError, "dynamic weight decay",
     lambda: nn.SGD(two(), weight_decay=nn.WarmUpLR(0.1, 2))),
    ("Momentum-int-momentum", TypeError, "'momentum' must be float",
     lambda: nn.Momentum(two(), 0.1, 1)),
    ("Momentum-negative", ValueError, "'momentum' must be in",
     lambda: nn.Momentum(two(), 0.1, -0.5)),
    ("Momentum-use_nesterov-not-bool", TypeError, "'use_nesterov' must be bool",
     lambda: nn.Momentum(two(), 0.1, 0.9, use_nesterov="yes")),
    ("Momentum-missing-momentum", TypeError, "momentum",
     lambda: nn.Momentum(two(), 0.1)),
    ("Adam-beta1-one", ValueError, "'beta1' must be in \\(0.0, 1.0\\)",
     lambda: nn.Adam(two(), beta1=1.0)),
    ("Adam-beta2-zero", ValueError, "'beta2' must be in \\(0.0, 1.0\\)",
     lambda: nn.Adam(two(), beta2=0.0)),
    ("Adam-eps-zero", ValueError, "'eps' must be in \\(0.0, inf\\)",
     lambda: nn.Adam(two(), eps=0.0)),
    ("Adam-beta1-int", TypeError, "'beta1' must be float",
     lambda: nn.Adam(two(), beta1=1)),
    ("Adam-use_nesterov-not-bool", TypeError, "'use_nesterov' must be bool",
     lambda: nn.Adam(two(), use_nesterov=0)),
    ("Adam-use_amsgrad-not-bool", TypeError, "'use_amsgrad' must be bool",
     lambda: nn.Adam(two(), use_amsgrad="no")),
    ("Adam-use_locking-not-bool", TypeError, "'use_locking' must be bool",
     lambda: nn.Adam(two(), use_locking=None)),
    ("Adam-lazy-and-offload", ValueError, "can not both be True",
     lambda: nn.Adam(two(), use_lazy=True, use_offload=True)),
    ("Adam-amsgrad-and-lazy", ValueError, "no parameter named 'use_amsgrad'",
     lambda: nn.Adam(two(), use_amsgrad=True, use_lazy=True)),
    ("Adam-offload-float64", TypeError, "float32 parameters only",
     lambda: nn.Adam([P("a", dtype=np.float64)], use_offload=True)),
    ("Adam-offload-and-amsgrad", ValueError, "no parameter named 'use_amsgrad'",
     lambda: nn.Adam(two(), use_amsgrad=True, use_offload=True)),
    ("Adam-unknown-kwarg", TypeError, "unexpected keyword",
     lambda: nn.Adam(two(), use_fused=True)),
    ("AdamWeightDecay-eps", ValueError, "'eps' must be in",
     lambda: nn.AdamWeightDecay(two(), eps=-1e-6)),
    ("AdamWeightDecay-no-loss_scale-argument", TypeError, "loss_scale",
     lambda: nn.AdamWeightDecay(two(), loss_scale=2.0)),
    ("Lamb-beta2", ValueError, "'beta2' must be in",
     lambda: nn.Lamb(two(), 0.1, beta2=1.5)),
    ("Lamb-missing-lr", TypeError, "learning_rate",
     lambda: nn.Lamb(two())),
    ("AdaMax-beta1", ValueError, "'beta1' must be in",
     lambda: nn.AdaMax(two(), beta1=0.0)),
    ("LazyAdam-eps-type", TypeError, "'eps' must be float",
     lambda: nn.LazyAdam(two(), eps="1e-8")),
    ("LazyAdam-use_nesterov", TypeError, "'use_nesterov' must be bool",
     lambda: nn.LazyAdam(two(), use_nesterov=1)),
    ("LARS-not-an-optimizer", TypeError, "'optimizer' must be Optimizer",
     lambda: nn.LARS(NotAnOptimizer())),
    ("LARS-wraps-Adam", NotImplementedError, "only a wrapped 'Momentum'",
     lambda: nn.LARS(nn.Adam(two()))),
    ("LARS-use_clip-group-and-dynamic-lr", ValueError,
     "dynamic learning rate and group learning rate",
     lambda: nn.LARS(nn.Momentum([{"params": [P("a")], "lr": [0.1, 0.2]},
                                  {"params": [P("b", (3,))]}], 0.1, 0.9),
                     use_clip=True)),
    ("LARS-use_clip-not-bool", TypeError, "'use_clip' must be bool",
     lambda: nn.LARS(nn.Momentum(two(), 0.1, 0.9), use_clip=1)),
    ("LARS-epsilon-int", TypeError, "'epsilon' must be float",
     lambda: nn.LARS(nn.Momentum(two(), 0.1, 0.9), epsilon=0)),
    ("LARS-coefficient-zero", ValueError, "'coefficient' must be in",
     lambda: nn.LARS(nn.Momentum(two(), 0.1, 0.9), coefficient=0.0)),
    ("LARS-filter-not-callable", TypeError, "'lars_filter' must be callable",
     lambda: nn.LARS(nn.Momentum(two(), 0.1, 0.9), lars_filter=True)),
    ("Adagrad-accum-negative", ValueError, "'accum' must be in",
     lambda: nn.Adagrad(two(), accum=-0.1)),
    ("Adagrad-accum-int", TypeError, "'accum' must be float",
     lambda: nn.Adagrad(two(), accum=1)),
    ("Adagrad-update_slots", TypeError, "'update_slots' must be bool",
     lambda: nn.Adagrad(two(), update_slots=1)),
    ("RMSProp-decay-negative", ValueError, "'decay' must be in",
     lambda: nn.RMSProp(two(), decay=-0.9)),
    ("RMSProp-epsilon-zero", ValueError, "'epsilon' must be in \\(0.0, inf\\)",
     lambda: nn.RMSProp(two(), epsilon=0.0)),
    ("RMSProp-centered-not-bool", TypeError, "'centered' must be bool",
     lambda: nn.RMSProp(two(), centered="yes")),
    ("FTRL-dynamic-lr", ValueError, "dynamic learning rate and group",
     lambda: nn.FTRL(two(), learning_rate=[0.1, 0.2])),
    ("FTRL-schedule-lr", ValueError, "dynamic learning rate and group",
     lambda: nn.FTRL(two(), learning_rate=nn.WarmUpLR(0.1, 3))),
    ("FTRL-group-lr", ValueError, "dynamic learning rate and group",
     lambda: nn.FTRL([{"params": two(), "lr": 0.1}])),
    ("FTRL-lr-int", TypeError, "'learning_rate' must be float",
     lambda: nn.FTRL(two(), learning_rate=1)),
    ("FTRL-lr-zero", ValueError, "'learning_rate' must be in \\(0.0, inf\\)",
     lambda: nn.FTRL(two(), learning_rate=0.0)),
    ("FTRL-lr_power-positive", ValueError, "'lr_power' must be in",
     lambda: nn.FTRL(two(), lr_power=0.5)),
    ("FTRL-l1-negative", ValueError, "'l1' must be in",
     lambda: nn.FTRL(two(), l1=-1.0)),
    ("FTRL-initial_accum-negative", ValueError, "'initial_accum' must be in",
     lambda: nn.FTRL(two(), initial_accum=-0.1)),
    ("FTRL-use_locking", TypeError, "'use_locking' must be bool",
     lambda: nn.FTRL(two(), use_locking=1)),
    ("ProximalAdagrad-l2-negative", ValueError, "'l2' must be in",
     lambda: nn.ProximalAdagrad(two(), l2=-0.1)),
    ("ProximalAdagrad-accum-str", TypeError, "'accum' must be float",
     lambda: nn.ProximalAdagrad(two(), accum="0.1")),
    ("Adadelta-rho", ValueError, "'rho' must be in \\[0.0, 1.0\\]",
     lambda: nn.Adadelta(two(), rho=1.5)),
    ("Adadelta-epsilon-zero", ValueError, "'epsilon' must be in",
     lambda: nn.Adadelta(two(), epsilon=0.0)),
    ("ASGD-lambd-int", TypeError, "'lambd' must be float",
     lambda: nn.ASGD(two(), lambd=0)),
    ("ASGD-lambd-negative", ValueError, "'lambd' must be in",
     lambda: nn.ASGD(two(), lambd=-1e-4)),
    ("ASGD-t0-str", TypeError, "'t0' must be float",
     lambda: nn.ASGD(two(), t0="1e6")),
    ("Rprop-etas-list", TypeError, "etas must be a tuple",
     lambda: nn.Rprop(two(), etas=[0.5, 1.2])),
    ("Rprop-etas-size", ValueError, "etas must be a tuple with the size of 2",
     lambda: nn.Rprop(two(), etas=(0.5, 1.2, 2.0))),
    ("Rprop-step_sizes-list", TypeError, "step_sizes must be a tuple",
     lambda: nn.Rprop(two(), step_sizes=[1e-6, 50.0])),
    ("Rprop-step_sizes-size", ValueError, "step_sizes must be a tuple with",
     lambda: nn.Rprop(two(), step_sizes=(1e-6,))),
    ("Rprop-min-above-max", ValueError, "maximal step size should not be less",
     lambda: nn.Rprop(two(), step_sizes=(1.0, 0.5))),
    ("Rprop-etaminus", ValueError, "'etaminus' must be in \\(0.0, 1.0\\)",
     lambda: nn.Rprop(two(), etas=(1.0, 1.2))),
    ("Rprop-etaplus", ValueError, "'etaplus' must be in \\(1.0, inf\\)",
     lambda: nn.Rprop(two(), etas=(0.5, 1.0))),
    ("Rprop-etaplus-int", TypeError, "'etaplus' must be float",
     lambda: nn.Rprop(two(), etas=(0.5, 2))),
]


@pytest.mark.parametrize("case", CLASS_ERRORS, ids=[c[0] for c in CLASS_ERRORS])
def test_optimizer_class_error(case):
    _, exc, match, fn = case
    expect(exc, match, fn)


# ---------------------------------------------------------------------------
# Methods and properties
# ---------------------------------------------------------------------------

def test_get_lr_parameter_wrong_type():
    opt = nn.SGD(two())
    expect(TypeError, "must be 'Parameter' or 'list'",
           lambda: opt.get_lr_parameter("a"))


def test_get_lr_parameter_list_of_non_parameters():
    opt = nn.SGD(two())
    expect(TypeError, "'parameter' must be Parameter",
           lambda: opt.get_lr_parameter(["a"]))


def test_get_lr_parameter_not_held():
    opt = nn.SGD(two())
    expect(ValueError, "is not in optimizer",
           lambda: opt.get_lr_parameter(P("other")))


def test_target_not_a_string():
    opt = nn.SGD(two())
    with pytest.raises(TypeError, match="'target' must be string"):
        opt.target = 1
    assert opt.target == "CPU"


def test_target_unknown_device():
    opt = nn.SGD(two())
    with pytest.raises(ValueError, match="must be one of"):
        opt.target = "TPU"


def test_target_incompatible_device():
    opt = nn.FTRL(two())
    with pytest.raises(ValueError, match="in the 'CPU' environment"):
        opt.target = "GPU"
    assert opt.target == "CPU"


def test_unique_not_bool():
    opt = nn.SGD(two())
    with pytest.raises(TypeError, match="'unique' must be bool"):
        opt.unique = 1
    assert opt.unique is True


def test_global_step_negative():
    opt = nn.SGD(two())
    with pytest.raises(ValueError, match="'global_step' must be >= 0"):
        opt.global_step = -1


def test_global_step_not_int():
    opt = nn.SGD(two())
    with pytest.raises(TypeError, match="'global_step' must be int"):
        opt.global_step = 1.5


def test_set_hyper_param_unknown_name():
    opt = nn.Adam(two())
    expect(KeyError, "unknown hyper-parameter 'gamma'",
           lambda: opt.set_hyper_param("gamma", 0.1))


def test_set_hyper_param_out_of_range():
    opt = nn.Adam(two())
    expect(ValueError, "'beta1' must be in \\(0.0, 1.0\\)",
           lambda: opt.set_hyper_param("beta1", 1.0))
    assert opt.beta1 == 0.9


def test_set_hyper_param_wrong_type():
    opt = nn.Adam(two())
    expect(TypeError, "'eps' must be one of float, int",
           lambda: opt.set_hyper_param("eps", "1e-8"))


def test_set_hyper_param_init_only_is_not_runtime():
    opt = nn.Adagrad(two())
    expect(KeyError, "unknown hyper-parameter 'accum'",
           lambda: opt.set_hyper_param("accum", 0.2))


def test_set_hyper_param_breaks_sgd_nesterov_constraint():
    opt = nn.SGD(two(), momentum=0.9, nesterov=True)
    expect(ValueError, "if 'nesterov' is true",
           lambda: opt.set_hyper_param("momentum", 0.0))
    assert opt.momentum == 0.9


def test_set_hyper_param_breaks_rprop_step_sizes():
    opt = nn.Rprop(two())
    expect(ValueError, "maximal step size should not be less",
           lambda: opt.set_hyper_param("min_step", 100.0))


def test_get_hyper_param_unknown():
    expect(KeyError, "unknown hyper-parameter",
           lambda: nn.SGD(two()).get_hyper_param("beta1"))


def test_set_weight_decay_when_compiled_without_decay():
    opt = nn.Adam(two())
    expect(RuntimeError, "built with weight_decay=0",
           lambda: opt.set_weight_decay(0.01))
    assert opt.get_weight_decay() == 0.0 and not opt.dynamic_weight_decay


def test_set_weight_decay_negative():
    opt = nn.Adam(two(), weight_decay=0.1)
    expect(ValueError, "'weight_decay' must be >= 0",
           lambda: opt.set_weight_decay(-0.1))
    assert opt.get_weight_decay() == pytest.approx(0.1)


def test_set_weight_decay_bad_group():
    opt = nn.Adam([{"params": two()}])
    expect(ValueError, "'group' must be an index",
           lambda: opt.set_weight_decay(0.1, group=3))


def test_set_weight_decay_group_on_ungrouped():
    opt = nn.Adam(two(), weight_decay=0.1)
    expect(ValueError, "not grouped", lambda: opt.set_weight_decay(0.1, group=0))


def test_sgd_set_dynamic_weight_decay():
    opt = nn.SGD(two(), weight_decay=0.1)
    expect(TypeError, "dynamic weight decay",
           lambda: opt.set_weight_decay(nn.WarmUpLR(0.1, 2)))


def test_assign_learning_rate_when_dynamic():
    opt = nn.SGD(two(), learning_rate=[0.1, 0.2])
    with pytest.raises(RuntimeError, match="only a constant learning rate"):
        opt.learning_rate = 0.1


def test_assign_learning_rate_wrong_type():
    opt = nn.SGD(two())
    with pytest.raises(TypeError, match="must be a number"):
        opt.learning_rate = "0.1"


def test_assign_learning_rate_negative():
    opt = nn.SGD(two(), learning_rate=0.1)
    with pytest.raises(ValueError, match="must be >= 0"):
        opt.learning_rate = -0.5
    assert float(opt.learning_rate.data) == np.float32(0.1)


def test_per_step_lr_parameter_is_read_only():
    opt = nn.SGD(two(), learning_rate=[0.1, 0.2])
    with pytest.raises(ValueError, match="read-only"):
        opt.learning_rate.set_data(np.array([0.3, 0.4]))


def test_negative_lr_parameter_fails_the_step_before_it_runs():
    params = two()
    opt = nn.SGD(params, learning_rate=0.1)
    opt.learning_rate.set_data(-1.0)
    before = [p.asnumpy() for p in params]
    with pytest.raises(ValueError, match="learning rate must be >= 0"):
        opt(tuple(np.ones(p.shape, np.float32) for p in params))
    assert opt.global_step == 0
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)


def test_user_schedule_returning_negative_fails_the_step_before_it_runs():
    class Bad(nn.LearningRateSchedule):
        def construct(self, global_step):
            return 0.1 - 0.2 * global_step

    params = two()
    opt = nn.SGD(params, learning_rate=Bad())
    g = tuple(np.ones(p.shape, np.float32) for p in params)
    opt(g)
    before = [p.asnumpy() for p in params]
    with pytest.raises(ValueError, match="learning rate must be >= 0"):
        opt(g)
    assert opt.global_step == 1
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)


def test_ftrl_learning_rate_set_to_zero_fails_the_step():
    params = two()
    opt = nn.FTRL(params, learning_rate=0.1)
    opt.learning_rate = 0.0
    with pytest.raises(ValueError, match="'FTRL', the learning rate must be > 0"):
        opt(tuple(np.ones(p.shape, np.float32) for p in params))


# ---------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------

def _opt_and_grads():
    params = two()
    return nn.Adam(params), [np.ones(p.shape, np.float32) for p in params]


STEP_ERRORS = [
    ("gradients-an-array", RuntimeError, "must be a tuple or list",
     lambda o, g: o(g[0])),
    ("gradients-None", TypeError, "must be a tuple or list",
     lambda o, g: o(None)),
    ("too-few", ValueError, "expected 2 gradients",
     lambda o, g: o(tuple(g[:1]))),
    ("too-many", ValueError, "expected 2 gradients",
     lambda o, g: o(tuple(g + g))),
    ("wrong-dtype", TypeError, "must have dtype float32, but got float64",
     lambda o, g: o((g[0], g[1].astype(np.float64)))),
    ("wrong-shape", ValueError, "must have shape \\(3,\\), but got \\(4,\\)",
     lambda o, g: o((g[0], np.ones(4, np.float32)))),
    ("not-an-array", TypeError, "must be a numpy.ndarray, but got list",
     lambda o, g: o((g[0], [1.0, 2.0, 3.0]))),
    # Whether a parameter's gradient is sparse is fixed by its first step.
    ("sparse-RowTensor", TypeError, "first step",
     lambda o, g: o((nn.RowTensor([0], np.ones((1, 16), np.float32), (4, 16)),
                     g[1]))),
    ("sparse-pair", TypeError, "first step",
     lambda o, g: o(((np.array([0]), np.ones((1, 16), np.float32)), g[1]))),
]


@pytest.mark.parametrize("case", STEP_ERRORS, ids=[c[0] for c in STEP_ERRORS])
def test_step_error_changes_nothing(case):
    _, exc, match, fn = case
    opt, g = _opt_and_grads()
    opt(tuple(g))  # compiled and stepped once
    params = [p.asnumpy() for p in opt.parameters]
    states = [s.asnumpy() for s in opt.moment1 + opt.moment2]
    expect(exc, match, lambda: fn(opt, g))
    assert opt.global_step == 1
    for p, b in zip(opt.parameters, params):
        np.testing.assert_array_equal(p.data, b)
    for s, b in zip(opt.moment1 + opt.moment2, states):
        np.testing.assert_array_equal(s.data, b)


def test_base_optimizer_has_no_rule():
    opt = nn.Optimizer(0.1, two())
    expect(NotImplementedError, "has no update rule",
           lambda: opt(tuple(np.ones(p.shape, np.float32)
                             for p in opt.parameters)))
    assert opt.global_step == 0


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------

PARAMETER_ERRORS = [
    ("name-not-str", TypeError, "must be a str",
     lambda: nn.Parameter(np.zeros(2), 3)),
    ("name-empty", ValueError, "must be non-empty",
     lambda: nn.Parameter(np.zeros(2), "")),
    ("name-quote", ValueError, "hold no quotes",
     lambda: nn.Parameter(np.zeros(2), 'a"b')),
    ("complex", TypeError, "float16, float32 or float64",
     lambda: nn.Parameter(np.zeros(2, np.complex64), "c")),
    ("strings", TypeError, "float32 or float64",
     lambda: nn.Parameter(["a", "b"], "s")),
    ("requires_grad-not-bool", TypeError, "'requires_grad' must be bool",
     lambda: nn.Parameter(np.zeros(2), "r", requires_grad=1)),
    ("set_data-shape", ValueError, "set_data got shape",
     lambda: nn.Parameter(np.zeros(2), "x").set_data(np.zeros(3))),
    ("rename-invalid", ValueError, "hold no quotes",
     lambda: setattr(nn.Parameter(np.zeros(2), "x"), "name", "a\nb")),
    ("clone-bad-init", ValueError, "init must be",
     lambda: nn.Parameter(np.zeros(2), "x").clone("normal")),
    ("ParameterTuple-element", TypeError, "holds Parameters",
     lambda: nn.ParameterTuple([np.zeros(2)])),
]


@pytest.mark.parametrize("case", PARAMETER_ERRORS,
                         ids=[c[0] for c in PARAMETER_ERRORS])
def test_parameter_error(case):
    _, exc, match, fn = case
    expect(exc, match, fn)


# ---------------------------------------------------------------------------
# Schedules and list helpers
# ---------------------------------------------------------------------------

SCHEDULE_ERRORS = [
    ("Exponential-lr-int", TypeError, "'learning_rate' must be float",
     lambda: nn.ExponentialDecayLR(1, 0.9, 4)),
    ("Exponential-lr-zero", ValueError, "'learning_rate' must be in \\(0.0",
     lambda: nn.ExponentialDecayLR(0.0, 0.9, 4)),
    ("Exponential-decay_rate-negative", ValueError, "'decay_rate' must be in",
     lambda: nn.ExponentialDecayLR(0.1, -0.9, 4)),
    ("Exponential-decay_steps-zero", ValueError, "'decay_steps' must be a positive int",
     lambda: nn.ExponentialDecayLR(0.1, 0.9, 0)),
    ("Exponential-decay_steps-float", TypeError, "'decay_steps' must be int",
     lambda: nn.ExponentialDecayLR(0.1, 0.9, 4.0)),
    ("Exponential-is_stair", TypeError, "'is_stair' must be bool",
     lambda: nn.ExponentialDecayLR(0.1, 0.9, 4, 1)),
    ("NaturalExp-decay_rate-int", TypeError, "'decay_rate' must be float",
     lambda: nn.NaturalExpDecayLR(0.1, 1, 4)),
    ("Inverse-decay_steps-bool", TypeError, "'decay_steps' must be int",
     lambda: nn.InverseDecayLR(0.1, 0.9, True)),
    ("Cosine-min-above-max", ValueError, "'max_lr' must be greater than the",
     lambda: nn.CosineDecayLR(0.1, 0.1, 4)),
    ("Cosine-min_lr-int", TypeError, "'min_lr' must be float",
     lambda: nn.CosineDecayLR(0, 0.1, 4)),
    ("Cosine-min_lr-negative", ValueError, "'min_lr' must be in \\[0.0",
     lambda: nn.CosineDecayLR(-0.1, 0.1, 4)),
    ("Polynomial-power-zero", ValueError, "'power' must be in \\(0.0",
     lambda: nn.PolynomialDecayLR(0.1, 0.01, 4, 0.0)),
    ("Polynomial-end-int", TypeError, "'end_learning_rate' must be float",
     lambda: nn.PolynomialDecayLR(0.1, 0, 4, 1.0)),
    ("Polynomial-update-not-bool", TypeError, "'update_decay_steps' must be bool",
     lambda: nn.PolynomialDecayLR(0.1, 0.01, 4, 1.0, "yes")),
    ("WarmUp-lr-int", TypeError, "'learning_rate' must be float",
     lambda: nn.WarmUpLR(1, 4)),
    ("WarmUp-steps-zero", ValueError, "'warmup_steps' must be a positive int",
     lambda: nn.WarmUpLR(0.1, 0)),
    ("call-negative-step", ValueError, "global_step must be >= 0",
     lambda: nn.WarmUpLR(0.1, 4)(-1)),
    ("call-float-step", TypeError, "global_step must be an integer",
     lambda: nn.WarmUpLR(0.1, 4)(1.5)),
    ("call-array-step", TypeError, "one-element integer array",
     lambda: nn.WarmUpLR(0.1, 4)(np.array([1, 2]))),
    ("base-construct", NotImplementedError, "must override construct",
     lambda: nn.LearningRateSchedule()(0)),
]

LIST_ERRORS = [
    ("piecewise-milestone-type", TypeError, "'milestone' must be one of",
     lambda: nn.piecewise_constant_lr(3, [0.1])),
    ("piecewise-sizes", ValueError, "must be same with the size",
     lambda: nn.piecewise_constant_lr([2, 5], [0.1])),
    ("piecewise-decreasing", ValueError, "must be greater than milestone",
     lambda: nn.piecewise_constant_lr([5, 2], [0.1, 0.2])),
    ("piecewise-milestone-zero", ValueError, "'milestone\\[0\\]' must be a positive",
     lambda: nn.piecewise_constant_lr([0, 2], [0.1, 0.2])),
    ("piecewise-lr-int", TypeError, "'learning_rates\\[1\\]' must be float",
     lambda: nn.piecewise_constant_lr([1, 2], [0.1, 1])),
    ("exponential-total_step-zero", ValueError, "'total_step' must be a positive",
     lambda: nn.exponential_decay_lr(0.1, 0.9, 0, 2, 1)),
    ("exponential-step_per_epoch-float", TypeError, "'step_per_epoch' must be int",
     lambda: nn.exponential_decay_lr(0.1, 0.9, 6, 2.0, 1)),
    ("exponential-lr-int", TypeError, "'learning_rate' must be float",
     lambda: nn.exponential_decay_lr(1, 0.9, 6, 2, 1)),
    ("exponential-decay_rate-zero", ValueError, "'decay_rate' must be in",
     lambda: nn.exponential_decay_lr(0.1, 0.0, 6, 2, 1)),
    ("exponential-is_stair", TypeError, "'is_stair' must be bool",
     lambda: nn.exponential_decay_lr(0.1, 0.9, 6, 2, 1, 0)),
    ("natural-decay_epoch-zero", ValueError, "'decay_epoch' must be a positive",
     lambda: nn.natural_exp_decay_lr(0.1, 0.9, 6, 2, 0)),
    ("inverse-lr-negative", ValueError, "'learning_rate' must be in",
     lambda: nn.inverse_decay_lr(-0.1, 0.5, 6, 1, 1)),
    ("cosine-min-above-max", ValueError, "'max_lr' must be greater",
     lambda: nn.cosine_decay_lr(0.2, 0.1, 6, 2, 2)),
    ("cosine-min_lr-int", TypeError, "'min_lr' must be float",
     lambda: nn.cosine_decay_lr(0, 0.1, 6, 2, 2)),
    ("polynomial-power-zero", ValueError, "'power' must be in",
     lambda: nn.polynomial_decay_lr(0.1, 0.01, 6, 2, 2, 0.0)),
    ("polynomial-update-not-bool", TypeError, "'update_decay_epoch' must be bool",
     lambda: nn.polynomial_decay_lr(0.1, 0.01, 6, 2, 2, 0.5, 1)),
    ("warmup-lr-negative", ValueError, "'learning_rate' must be in \\[0.0",
     lambda: nn.warmup_lr(-0.1, 6, 2, 2)),
    ("warmup-lr-int", TypeError, "'learning_rate' must be float",
     lambda: nn.warmup_lr(1, 6, 2, 2)),
    ("warmup-epoch-zero", ValueError, "'warmup_epoch' must be a positive",
     lambda: nn.warmup_lr(0.1, 6, 2, 0)),
]


@pytest.mark.parametrize("case", SCHEDULE_ERRORS + LIST_ERRORS,
                         ids=[c[0] for c in SCHEDULE_ERRORS + LIST_ERRORS])
def test_learning_rate_helper_error(case):
    _, exc, match, fn = case
    expect(exc, match, fn)


# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------

def _trained():
    params = two()
    opt = nn.Adam(params, learning_rate=0.01, weight_decay=0.01)
    opt(tuple(np.ones(p.shape, np.float32) for p in params))
    return opt


def _mutated(fn):
    sd = _trained().state_dict()
    fn(sd)
    return sd


CHECKPOINT_ERRORS = [
    ("not-a-dict", TypeError, "must be a dict", lambda sd: [1, 2]),
    ("missing-key", KeyError, "lacks \\['states'\\]",
     lambda sd: {k: v for k, v in sd.items() if k != "states"}),
    ("format", ValueError, "unknown checkpoint format",
     lambda sd: dict(sd, format="v0")),
    ("other-optimizer", ValueError, "saved from a 'SGD'",
     lambda sd: dict(sd, optimizer="SGD")),
    ("global_step-negative", ValueError, "global_step must be a non-negative",
     lambda sd: dict(sd, global_step=-1)),
    ("global_step-float", ValueError, "global_step must be a non-negative",
     lambda sd: dict(sd, global_step=1.0)),
    ("parameter-names", KeyError, "checkpoint's parameters hold",
     lambda sd: dict(sd, parameters={"zzz": np.zeros(3, np.float32)})),
    ("parameter-shape", ValueError, "has shape \\(5,\\), expected \\(3,\\)",
     lambda sd: dict(sd, parameters=dict(sd["parameters"],
                                         b=np.zeros(5, np.float32)))),
    ("parameter-dtype", TypeError, "has dtype float64, expected float32",
     lambda sd: dict(sd, parameters=dict(sd["parameters"],
                                         b=np.zeros(3, np.float64)))),
    ("parameter-not-array", TypeError, "must be a numpy.ndarray",
     lambda sd: dict(sd, parameters=dict(sd["parameters"], b=[0.0] * 3))),
    ("state-names", KeyError, "checkpoint's states are",
     lambda sd: dict(sd, states={"moment1": sd["states"]["moment1"]})),
    ("state-shape", ValueError, "state 'moment2' 'a' has shape",
     lambda sd: dict(sd, states=dict(sd["states"], moment2=dict(
         sd["states"]["moment2"], a=np.zeros((2, 2), np.float32))))),
    ("learning-rate-unknown", KeyError, "are not constant learning rates",
     lambda sd: dict(sd, learning_rate={"learning_rate_group_7": 0.1})),
    ("learning-rate-negative", ValueError, "learning rate must be >= 0",
     lambda sd: dict(sd, learning_rate={"learning_rate": -0.1})),
    ("weight-decay-unknown", KeyError, "are not constant weight decays",
     lambda sd: dict(sd, weight_decay={"weight_decay_group_0": 0.1})),
    ("hyper-unknown", KeyError, "hyper-parameters \\['rho'\\] are unknown",
     lambda sd: dict(sd, hyper_params={"rho": 0.9})),
    ("hyper-out-of-range", ValueError, "'beta2' must be in",
     lambda sd: dict(sd, hyper_params={"beta2": 2.0})),
]


@pytest.mark.parametrize("case", CHECKPOINT_ERRORS,
                         ids=[c[0] for c in CHECKPOINT_ERRORS])
def test_load_state_dict_error_changes_nothing(case):
    _, exc, match, mutate = case
    bad = mutate(_trained().state_dict())
    target = nn.Adam([P("a", seed=5), P("b", (3,), seed=6)], learning_rate=0.02,
                     weight_decay=0.01)
    before = target.state_dict()
    with pytest.raises(exc, match=match):
        target.load_state_dict(bad)
    after = target.state_dict()
    assert after["global_step"] == before["global_step"]
    assert after["hyper_params"] == before["hyper_params"]
    assert after["learning_rate"] == before["learning_rate"]
    for name in before["parameters"]:
        np.testing.assert_array_equal(after["parameters"][name],
                                      before["parameters"][name])
    for state in before["states"]:
        for name in before["states"][state]:
            np.testing.assert_array_equal(after["states"][state][name],
                                          before["states"][state][name])


def test_load_positive_weight_decay_into_optimizer_without_decay():
    sd = _trained().state_dict()
    target = nn.Adam(two(), learning_rate=0.01)  # weight_decay=0: none compiled
    expect(ValueError, "has none compiled in", lambda: target.load_state_dict(sd))


def test_load_checkpoint_not_a_checkpoint(tmp_path):
    path = str(tmp_path / "x.npz")
    np.savez(path, foo=np.zeros(2))
    expect(ValueError, "not an optim_mlir.nn checkpoint",
           lambda: nn.load_checkpoint(path))


def test_save_checkpoint_needs_an_optimizer(tmp_path):
    expect(TypeError, "expects an Optimizer",
           lambda: nn.save_checkpoint({"a": 1}, str(tmp_path / "x.npz")))
