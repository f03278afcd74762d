"""float16 parameters in ``optim_mlir.nn`` (MindSpore's optimizer kernels
take float16 parameters and gradients).

The compiled steps load float16 parameters, gradients and states (the
states have the parameter's dtype), compute in float32 and store float16.
The reference does the same in NumPy: each step it widens the float16
arrays to float32, applies the rule of ``reference.py`` in float32 and
rounds parameters and states back to float16.  Each optimizer runs
``STEPS`` steps of random gradients on three parameters and is compared
after every step.  Tolerance: ``rtol=4e-3, atol=2e-4`` (float16 has an
11-bit significand: 4e-3 is two units in its last place; the float32
intermediate results of the compiled step and of NumPy may round to
neighbouring float16 values and drift by that much over the steps).
"""

import numpy as np
import pytest

from optim_mlir import nn
import reference as R

STEPS = 20
RTOL, ATOL = 4e-3, 2e-4
SHAPES = {"w1": (6, 5), "w2": (17,), "w3": (2, 3, 4)}

# (class, constructor arguments, reference rule, reference arguments,
#  MindSpore state attribute -> reference state name)
CASES = {
    "SGD": (nn.SGD, dict(learning_rate=0.05, momentum=0.9, dampening=0.1),
            "sgd", dict(momentum=0.9, dampening=0.1), {"accum": "accum"}),
    "SGD-nesterov": (nn.SGD, dict(learning_rate=0.05, momentum=0.9,
                                  nesterov=True),
                     "sgd", dict(momentum=0.9, nesterov=True),
                     {"accum": "accum"}),
    "Momentum": (nn.Momentum, dict(learning_rate=0.05, momentum=0.9),
                 "momentum", dict(momentum=0.9), {"moments": "moments"}),
    "Adam": (nn.Adam, dict(learning_rate=0.01, beta1=0.8, beta2=0.95,
                           eps=1e-4),
             "adam", dict(beta1=0.8, beta2=0.95, eps=1e-4),
             {"moment1": "moment1", "moment2": "moment2"}),
    "AdamWeightDecay": (nn.AdamWeightDecay,
                        dict(learning_rate=0.01, beta1=0.8, beta2=0.95,
                             eps=1e-4, weight_decay=0.1),
                        "adam_weight_decay",
                        dict(beta1=0.8, beta2=0.95, eps=1e-4,
                             weight_decay=0.1),
                        {"moments1": "moment1", "moments2": "moment2"}),
    "Adagrad": (nn.Adagrad, dict(learning_rate=0.05, accum=0.1),
                "adagrad", dict(), {"accum": "accum"}),
    "RMSProp": (nn.RMSProp, dict(learning_rate=0.01, decay=0.9, momentum=0.5,
                                 epsilon=1e-4),
                "rmsprop", dict(decay=0.9, momentum=0.5, epsilon=1e-4),
                {"mean_square": "mean_square", "moment": "moment"}),
}


def _f16_reference_step(rule, param, grad, states, lr, t, kw):
    """One step in float32 from float16 inputs, rounded back to float16."""
    f32 = lambda a: np.asarray(a, np.float32)
    args = dict(kw, learning_rate=lr)
    if rule in ("sgd", "adam"):
        args["t"] = t
    new_p, new_s = R.RULES[rule](f32(param), f32(grad),
                                 {k: f32(v) for k, v in states.items()},
                                 **args)
    return (np.asarray(new_p, np.float32).astype(np.float16),
            {k: np.asarray(v, np.float32).astype(np.float16)
             for k, v in new_s.items()})


@pytest.mark.parametrize("case", sorted(CASES))
def test_float16_step_matches_float32_reference_rounded(case):
    cls, kwargs, rule, ref_kw, state_map = CASES[case]
    rng = np.random.default_rng(sorted(CASES).index(case))
    init = {k: rng.standard_normal(s).astype(np.float16)
            for k, s in SHAPES.items()}
    params = [nn.Parameter(v.copy(), k) for k, v in init.items()]
    assert all(p.dtype == np.float16 for p in params)
    opt = cls(params, **kwargs)
    lr = float(np.float32(kwargs["learning_rate"]))
    ref_p = dict(init)
    ref_s = {k: R.init_states(rule, v.astype(np.float32), **ref_kw)
             for k, v in init.items()}
    ref_s = {k: {n: a.astype(np.float16) for n, a in s.items()}
             for k, s in ref_s.items()}
    for attr in state_map:
        for s in getattr(opt, attr):
            assert s.dtype == np.float16
    for t in range(1, STEPS + 1):
        grads = {k: rng.standard_normal(s).astype(np.float16)
                 for k, s in SHAPES.items()}
        assert opt(tuple(grads[p.name] for p in params)) is True
        for k in SHAPES:
            ref_p[k], ref_s[k] = _f16_reference_step(
                rule, ref_p[k], grads[k], ref_s[k], lr, t, ref_kw)
        for i, p in enumerate(params):
            assert p.dtype == np.float16
            np.testing.assert_allclose(
                p.data.astype(np.float32), ref_p[p.name].astype(np.float32),
                rtol=RTOL, atol=ATOL, err_msg="%s %s step %d" % (case, p.name, t))
            for attr, name in state_map.items():
                np.testing.assert_allclose(
                    getattr(opt, attr)[i].data.astype(np.float32),
                    ref_s[p.name][name].astype(np.float32), rtol=RTOL,
                    atol=ATOL, err_msg="%s %s.%s step %d"
                    % (case, p.name, attr, t))
    # Training moved the parameters well beyond the tolerance.
    assert max(float(np.max(np.abs(p.data.astype(np.float32) -
                                   init[p.name].astype(np.float32))))
               for p in params) > 50 * ATOL


def test_float16_parameter_storage_and_set_data():
    p = nn.Parameter(np.arange(6, dtype=np.float16).reshape(2, 3), "h")
    assert p.dtype == np.float16 and p.data.flags.c_contiguous
    p.set_data(np.full((2, 3), 1.5, np.float32))  # cast to the dtype
    assert p.dtype == np.float16 and np.all(p.asnumpy() == np.float16(1.5))


def test_float16_gradient_dtype_checked():
    p = nn.Parameter(np.ones((3,), np.float16), "h")
    opt = nn.Momentum([p], 0.1, 0.9)
    before = p.asnumpy()
    with pytest.raises(TypeError, match="dtype float16"):
        opt((np.ones(3, np.float32),))
    assert np.array_equal(p.data, before)


def test_float16_and_float32_parameters_together():
    # One optimizer over both dtypes: each parameter keeps its dtype and
    # steps as its own rule does (float32 exactly as a float32-only run).
    rng = np.random.default_rng(5)
    h = nn.Parameter(rng.standard_normal((4, 4)).astype(np.float16), "h")
    w = nn.Parameter(rng.standard_normal((5,)).astype(np.float32), "w")
    w_alone = nn.Parameter(w.asnumpy(), "w")
    opt = nn.Adam([h, w], learning_rate=0.01)
    alone = nn.Adam([w_alone], learning_rate=0.01)
    for _ in range(5):
        gh = rng.standard_normal((4, 4)).astype(np.float16)
        gw = rng.standard_normal((5,)).astype(np.float32)
        opt((gh, gw))
        alone((gw,))
    assert h.dtype == np.float16 and w.dtype == np.float32
    assert np.array_equal(w.data, w_alone.data)
