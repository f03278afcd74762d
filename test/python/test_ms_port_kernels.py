"""MindSpore's CPU optimizer-kernel tests, run on ``optim_mlir.nn``.

Each MindSpore test runs one kernel (``P.ApplyAdaMax``, ``P.FusedSparseFtrl``,
...) once on given variables and states and compares with expected numbers.
Here the same inputs go through one compiled step of the matching
``optim_mlir.nn`` optimizer: its states are set to the kernel's inputs, the
learning rate and hyper-parameters to the kernel's, and its global step so
that the step's bias correction uses the kernel's ``beta1_power`` /
``beta2_power``.  A vmap test (the kernel mapped over blocks with per-block
hyper-parameters) becomes one parameter per block, in groups where the
learning rate differs.  Expected values and tolerances are MindSpore's; where
MindSpore compares one-sidedly (``np.all(expect - got < eps)``) the check here
is the two-sided ``abs(expect - got) < eps``.

Ported from mindspore-ai/mindspore ``tests/st/ops/cpu/``:
``test_apply_ada_max.py``, ``test_apply_adadelta_op.py``,
``test_apply_adagrad_op.py``, ``test_apply_adagrad_v2_op.py``,
``test_apply_adam_with_amsgrad_op.py``, ``test_apply_ftrl_op.py``,
``test_apply_gradient_descent_op.py``, ``test_apply_power_sign.py``,
``test_apply_proximal_gradient_descent_op.py``,
``test_apply_adagrad_dad_op.py``, ``test_sparse_apply_adam_op.py``,
``test_sparse_apply_ftrl_op.py``, ``test_sparse_apply_proximal_adagrad_op.py``,
``test_rmsprop.py``; and ``tests/st/optimizer/test_lamb_op.py``.
(``test_apply_proximal_adagrad_op.py`` is in test_nn_mindspore_cases.py.)
"""

import math

import numpy as np
import pytest

from optim_mlir import nn


def _param(x, name="var", dtype=np.float32):
    return nn.Parameter(np.array(x, dtype=dtype), name)


# ---------------------------------------------------------------------------
# ApplyAdaMax (test_apply_ada_max.py::test_apply_ada_max) -> nn.AdaMax
# ---------------------------------------------------------------------------

def test_apply_ada_max():
    var = _param([[0.6, 0.4], [0.1, 0.5]])
    m0 = np.array([[0.6, 0.5], [0.2, 0.6]], np.float32)
    v0 = np.array([[0.9, 0.1], [0.7, 0.8]], np.float32)
    grad = np.array([[0.3, 0.7], [0.1, 0.8]], np.float32)
    opt = nn.AdaMax([var], learning_rate=0.001, beta1=0.9, beta2=0.99, eps=1e-10)
    opt.moment1[0].set_data(m0)
    opt.moment2[0].set_data(v0)
    # beta1_power = 0.9 = beta1 ** 1: the first step (t = 1).
    assert opt((grad,))
    np_m = 0.9 * m0.astype(np.float64) + 0.1 * grad
    np_v = np.maximum(0.99 * v0.astype(np.float64), np.abs(grad))
    np_var = (np.array([[0.6, 0.4], [0.1, 0.5]]) -
              (0.001 / (1 - 0.9)) * (np_m / (np_v + 1e-10)))
    eps = 1e-6
    assert np.all(np.abs(np_m - opt.moment1[0].asnumpy()) < eps)
    assert np.all(np.abs(np_v - opt.moment2[0].asnumpy()) < eps)
    assert np.all(np.abs(np_var - var.asnumpy()) < eps)


# ---------------------------------------------------------------------------
# ApplyAdadelta (test_apply_adadelta_op.py) -> nn.Adadelta
# ---------------------------------------------------------------------------

def _adadelta_block(var, accum, accum_update, grad, lr, rho, eps=1e-6):
    p = _param(var)
    opt = nn.Adadelta([p], learning_rate=lr, rho=rho, epsilon=eps)
    opt.accum[0].set_data(np.array(accum, np.float32))
    opt.accum_update[0].set_data(np.array(accum_update, np.float32))
    assert opt((np.array(grad, np.float32),))
    return p.asnumpy(), opt.accum[0].asnumpy(), opt.accum_update[0].asnumpy()


EXPECT_ADADELTA = ([[0.09950764, 0.19942023]], [[0.198, 0.29749998]],
                   [[0.2971212, 0.39680672]])


def test_apply_adadelta():
    out = _adadelta_block([[0.1, 0.2]], [[0.2, 0.3]], [[0.3, 0.4]], [[0.4, 0.5]],
                          lr=0.001, rho=0.95)
    for got, want in zip(out, EXPECT_ADADELTA):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_apply_adadelta_vmap():
    # Two identical rows, lr 0.001 each.
    for _ in range(2):
        out = _adadelta_block([[0.1, 0.2]], [[0.2, 0.3]], [[0.3, 0.4]], [[0.4, 0.5]],
                              lr=0.001, rho=0.95)
        for got, want in zip(out, EXPECT_ADADELTA):
            np.testing.assert_allclose(got, want, rtol=1e-6)


def test_apply_adadelta_vmap2():
    # Block (i, j): lr[i][j], rho[j].
    lr = [[0.01, 0.02], [0.03, 0.04]]
    rho = [0.9, 0.95]
    expect_var = [[[0.09505129, 0.19417778], [0.09015269, 0.18840459]],
                  [[0.08515386, 0.18253334], [0.08030538, 0.17680918]]]
    expect_accum = [[[0.196, 0.29500002], [0.198, 0.2975]],
                    [[0.196, 0.29500002], [0.198, 0.2975]]]
    expect_update = [[[0.29448977, 0.39389828], [0.2971212, 0.39680672]],
                     [[0.29448977, 0.39389828], [0.2971212, 0.39680672]]]
    for i in range(2):
        for j in range(2):
            var, accum, upd = _adadelta_block([0.1, 0.2], [0.2, 0.3], [0.3, 0.4],
                                              [0.4, 0.5], lr=lr[i][j], rho=rho[j])
            np.testing.assert_allclose(var, expect_var[i][j], rtol=1e-6)
            np.testing.assert_allclose(accum, expect_accum[i][j], rtol=1e-6)
            np.testing.assert_allclose(upd, expect_update[i][j], rtol=1e-6)


# ---------------------------------------------------------------------------
# ApplyAdagrad (test_apply_adagrad_op.py) -> nn.Adagrad
# ---------------------------------------------------------------------------

def test_apply_adagrad():
    rng = np.random.default_rng(20200)
    var_np = rng.random((3, 3)).astype(np.float32)
    accum_np = rng.random((3, 3)).astype(np.float32)
    grad_np = rng.random((3, 3)).astype(np.float32)
    expect_accum = accum_np + grad_np * grad_np
    expect_var = var_np - (0.001 * grad_np * (1 / np.sqrt(expect_accum + 1e-6)))
    p = _param(var_np)
    opt = nn.Adagrad([p], learning_rate=0.001)
    opt.accum[0].set_data(accum_np)
    assert opt((grad_np,))
    eps = 1e-6
    assert np.all(np.abs(expect_var - p.asnumpy()) < eps)
    assert np.all(np.abs(expect_accum - opt.accum[0].asnumpy()) < eps)


# ApplyAdagradV2 (epsilon added to sqrt(accum)): nn.Adagrad's rule has no
# epsilon; MindSpore's tolerance 1e-6 absorbs lr * g * 1e-6 / accum here.

def test_apply_adagrad_v2():
    rng = np.random.default_rng(20221)
    var_np = rng.random((3, 3)).astype(np.float32)
    accum_np = rng.random((3, 3)).astype(np.float32)
    grad_np = rng.random((3, 3)).astype(np.float32)
    expect_accum = accum_np + grad_np * grad_np
    dividend = np.sqrt(expect_accum) + 1e-6
    expect_var = var_np - (0.001 * grad_np * (1 / dividend))
    p = _param(var_np)
    opt = nn.Adagrad([p], learning_rate=0.001)
    opt.accum[0].set_data(accum_np)
    assert opt((grad_np,))
    assert np.all(np.abs(expect_var - p.asnumpy()) < 1e-6)
    assert np.all(np.abs(expect_accum - opt.accum[0].asnumpy()) < 1e-6)


def test_vmap_apply_adagrad_v2():
    # Rows mapped with lr [0.001, 0.1, 3]: one group per row.  MindSpore's
    # float16 gradient is given here as float32 (the parameter's dtype).
    start = np.array([[0.59021956, 0.6402413, 0.26803252],
                      [0.64904916, 0.5892827, 0.6982026],
                      [0.4472826, 0.4589515, 0.29412633]], np.float32)
    params = [_param(start[i], "var%d" % i) for i in range(3)]
    lrs = [0.001, 0.1, 3.0]
    opt = nn.Adagrad([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)])
    for i in range(3):
        opt.accum[i].set_data(start[i])
    grad = np.arange(9).reshape(3, 3).astype(np.float16).astype(np.float32)
    assert opt(tuple(grad[i].copy() for i in range(3)))
    expect_var = np.array([[0.59021956, 0.6394605, 0.26706442],
                           [0.55247104, 0.49107486, 0.59957045],
                           [-2.53425217, -2.52709651, -2.69900346]])
    expect_accum = np.array([[0.59021956, 1.64024138, 4.26803255],
                             [9.64904881, 16.58928299, 25.69820213],
                             [36.44728088, 49.45895004, 64.29412842]])
    got_var = np.stack([p.asnumpy() for p in params])
    got_accum = np.stack([opt.accum[i].asnumpy() for i in range(3)])
    assert np.all(abs(got_var - expect_var) < 1.0e-6)
    assert np.all(abs(got_accum - expect_accum) < 1.0e-6)


# ---------------------------------------------------------------------------
# ApplyAdamWithAmsgrad (test_apply_adam_with_amsgrad_op.py) -> Adam(use_amsgrad)
# ---------------------------------------------------------------------------

SHAPE_AMSGRAD = (8, 9, 6, 10, 5)


def _numpy_amsgrad(var, m, v, vhat, grad, beta1=0.9, beta2=0.999, eps=1e-8, lr=0.01):
    new_lr = lr * math.sqrt(1 - beta2) / (1 - beta1)
    m = m * beta1 + grad * (1 - beta1)
    v = v * beta2 + grad * grad * (1 - beta2)
    vhat = np.maximum(vhat, v)
    return var - new_lr * m / (np.sqrt(vhat) + eps)


def _amsgrad_case(seed, error):
    rng = np.random.default_rng(seed)
    var_np, m_np, v_np, vhat_np, grad_np = (
        rng.standard_normal(SHAPE_AMSGRAD).astype(np.float32) for _ in range(5))
    p = _param(var_np)
    opt = nn.Adam([p], learning_rate=0.01, use_amsgrad=True)
    opt.moment1[0].set_data(m_np)
    opt.moment2[0].set_data(v_np)
    opt.vhat[0].set_data(vhat_np)
    # beta1_power = 0.9, beta2_power = 0.999: the first step.
    with np.errstate(invalid="ignore"):
        want = _numpy_amsgrad(var_np, m_np, v_np, vhat_np, grad_np)
    assert opt((grad_np,))
    # MindSpore's random v and vhat can be negative: NaN in both (NaNs compare
    # equal in assert_allclose).
    np.testing.assert_allclose(p.asnumpy(), want, rtol=error, atol=error)


@pytest.mark.parametrize("data_type", ["float32", "float16"])
def test_apply_adam_with_amsgrad_op(data_type):
    # MindSpore's test builds float32 arrays for both cases; float16 only
    # loosens the tolerance.
    _amsgrad_case(2022, 1e-3 if data_type == "float16" else 1e-4)


def test_apply_adam_witm_amsgrad_op_vmap():
    _amsgrad_case(2023, 1e-4)


def test_apply_adam_with_amsgrad_grad_op_vmap2():
    _amsgrad_case(2024, 1e-4)


# ---------------------------------------------------------------------------
# ApplyFtrl (test_apply_ftrl_op.py) -> nn.FTRL
# ---------------------------------------------------------------------------

def _numpy_apply_ftrl(var, accum, linear, grad, lr=0.001, l1=0.0, l2=0.0, lr_power=-0.5):
    accum_update = accum + grad * grad
    accum_update_power = accum_update ** (-lr_power)
    accum_power = accum ** (-lr_power)
    sigma = (accum_update_power - accum_power) / lr
    linear_update = linear + grad - sigma * var
    member = np.sign(linear_update) * l1 - linear_update
    denominator = accum_update_power / lr + 2 * l2
    return np.where(np.abs(linear_update) > l1, member / denominator, 0.0)


def _ftrl_case(var, accum, linear, grad, dtype, error):
    var, accum, linear, grad = (np.array(x).astype(dtype) for x in (var, accum, linear, grad))
    p = nn.Parameter(var.copy(), "var")
    opt = nn.FTRL([p], learning_rate=0.001, lr_power=-0.5, l1=0.0, l2=0.0)
    opt.moments[0].set_data(accum)
    opt.linear[0].set_data(linear)
    assert opt((grad,))
    want = _numpy_apply_ftrl(var, accum, linear, grad)
    np.testing.assert_allclose(p.asnumpy(), want, rtol=error, atol=error)


@pytest.mark.parametrize("data_type", [np.float32, np.float16])
def test_apply_ftrl(data_type):
    _ftrl_case([[0.6, 0.4], [0.1, 0.5]], [[0.6, 0.5], [0.2, 0.6]],
               [[0.9, 0.1], [0.7, 0.8]], [[0.3, 0.7], [0.1, 0.8]],
               data_type, 1e-3 if data_type == np.float16 else 1e-4)


def test_apply_ftrl_op_vmap():
    _ftrl_case([[[0.6, 0.4], [0.1, 0.5]], [[1.6, 1.4], [1.1, 1.5]]],
               [[[0.6, 0.5], [0.2, 0.6]], [[1.6, 1.5], [1.2, 1.6]]],
               [[[0.9, 0.1], [0.7, 0.8]], [[1.9, 1.1], [1.7, 1.8]]],
               [[[0.3, 0.7], [0.1, 0.8]], [[0.3, 0.7], [0.1, 0.8]]],
               np.float32, 1e-4)


def test_apply_ftrl_op_vmap2():
    _ftrl_case([[[[0.6, 0.4], [0.1, 0.5]], [[1.6, 0.4], [0.1, 1.5]]],
                [[[0.6, 1.4], [1.1, 0.5]], [[2.6, 0.4], [0.1, 3.5]]]],
               [[[[0.6, 0.5], [0.2, 0.6]], [[1.6, 0.5], [0.2, 1.6]]],
                [[[0.6, 1.5], [1.2, 0.6]], [[2.6, 0.5], [0.2, 3.6]]]],
               [[[[0.9, 0.1], [0.7, 0.8]], [[1.9, 0.1], [0.7, 1.8]]],
                [[[0.9, 1.1], [1.7, 0.8]], [[3.9, 0.1], [0.7, 3.8]]]],
               [[[[0.3, 0.7], [0.1, 0.8]], [[0.3, 0.7], [0.1, 0.8]]],
                [[[0.3, 0.7], [0.1, 0.8]], [[0.3, 0.7], [0.1, 0.8]]]],
               np.float32, 1e-4)


# ---------------------------------------------------------------------------
# ApplyGradientDescent (test_apply_gradient_descent_op.py) -> nn.SGD
# ---------------------------------------------------------------------------

EXPECT_GD = [[-0.0034, 0.0965, 0.1964, 0.29630002, 0.3962],
             [0.4961, 0.596, 0.69589996, 0.79580003, 0.8957]]


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_apply_gradient_descent(dtype):
    var = nn.Parameter(np.arange(10).reshape(2, 5).astype(dtype) / 10, "var")
    delta = np.arange(34, 44).reshape(2, 5).astype(dtype)
    opt = nn.SGD([var], learning_rate=0.0001)
    assert opt((delta,))
    np.testing.assert_almost_equal(var.asnumpy(), np.array(EXPECT_GD, dtype), decimal=3)


def test_apply_gradient_descent_wrong_dtype():
    # MindSpore: a float64 var with a float16 delta is a TypeError.  (Its other
    # two cases, a NumPy delta or alpha where a Tensor is required, have no
    # counterpart: NumPy arrays are this API's tensors.)
    with pytest.raises(TypeError):
        var = nn.Parameter(np.arange(10).reshape(2, 5).astype(np.float64) / 10, "var")
        opt = nn.SGD([var], learning_rate=0.0001)
        opt((np.arange(34, 44).reshape(2, 5).astype(np.float16),))


def test_vmap_apply_gradient_descent():
    start = np.arange(30).reshape(3, 2, 5).astype(np.float32) / 10
    params = [_param(start[i], "var%d" % i) for i in range(3)]
    alpha = [0.0001, 0.1, 3.0]
    opt = nn.SGD([{"params": [p], "lr": a} for p, a in zip(params, alpha)])
    delta = np.arange(34, 64).reshape(3, 2, 5).astype(np.float32)
    assert opt(tuple(delta[i].copy() for i in range(3)))
    expect = np.array([[[-0.0034, 0.0965, 0.1964, 0.29630002, 0.3962],
                        [0.4961, 0.596, 0.69589996, 0.79580003, 0.8957]],
                       [[-3.4, -3.4, -3.3999999, -3.4000003, -3.4],
                        [-3.4, -3.4, -3.3999999, -3.4000003, -3.4]],
                       [[-160, -162.9, -165.8, -168.7, -171.6],
                        [-174.5, -177.4, -180.3, -183.2, -186.1]]], np.float32)
    got = np.stack([p.asnumpy() for p in params])
    assert np.all(abs(got - expect) < 1.0e-6)


# ---------------------------------------------------------------------------
# Kernels without an optimizer class in mindspore.nn: ApplyPowerSign,
# ApplyProximalGradientDescent, ApplyAdagradDA.  Their rules are
# optimizers of optim_mlir.nn under the op's name (test_ms_op_rules.py).
# ---------------------------------------------------------------------------

def test_apply_power_sign():
    # test_apply_power_sign.py::test_apply_power_assign
    var = _param([[0.6, 0.4], [0.1, 0.5]])
    opt = nn.PowerSign([var], learning_rate=0.001, logbase=np.e, sign_decay=0.99, beta=0.9)
    opt.m[0].set_data(np.array([[0.6, 0.5], [0.2, 0.6]], np.float32))
    assert opt((np.array([[0.3, 0.7], [0.1, 0.8]], np.float32),))
    expect_var = [[5.95575690e-01, 3.89676481e-01], [9.85252112e-02, 4.88201708e-01]]
    expect_m = [[5.70000052e-01, 5.19999981e-01], [1.89999998e-01, 6.20000064e-01]]
    assert np.allclose(var.asnumpy(), expect_var, atol=0.0001, rtol=0.0001, equal_nan=True)
    assert np.allclose(opt.m[0].asnumpy(), expect_m, atol=0.0001, rtol=0.0001, equal_nan=True)


def _proximal_gd(var, alpha, l1, l2, delta, dtype=np.float32):
    p = nn.Parameter(np.array(var).astype(dtype), "var")
    opt = nn.ProximalGradientDescent([p], learning_rate=alpha, l1=l1, l2=l2)
    assert opt((np.array(delta).astype(dtype),))
    return p.asnumpy()


def test_apply_proximal_gradient_descent_float32():
    got = _proximal_gd([[0.1632949, 0.6505809, 0.41898054], [0.6073093, 0.809577, 0.5305462]],
                       0.01, 0.0, 0.0,
                       [[0.58472073, 0.5078854, 0.03992645], [0.58894235, 0.3060052, 0.6934281]])
    np.testing.assert_almost_equal(got, [[0.1574477, 0.64550203, 0.41858128],
                                         [0.60141987, 0.80651695, 0.5236119]], decimal=3)


def test_apply_proximal_gradient_descent_float16():
    got = _proximal_gd([[0.6636, 0.902, 0.574], [0.6167, 0.4993, 0.6987]], 0.01, 0.2, 0.0,
                       [[0.68, 0.749, 0.145], [0.3599, 0.4841, 0.1714]], np.float16)
    np.testing.assert_almost_equal(got, np.array([[0.655, 0.8926, 0.571],
                                                  [0.6113, 0.4924, 0.695]], np.float16),
                                   decimal=3)


def test_apply_proximal_gradient_descent_op_vmap():
    got = _proximal_gd([[0.6, 0.4], [0.1, 0.5]], 0.01, 0.0, 0.0, [[0.3, 0.7], [0.1, 0.8]])
    np.testing.assert_allclose(got, [[0.597, 0.393], [0.099, 0.492]], rtol=1e-3)


def test_apply_proximal_gradient_descent_op_vmap2():
    # MindSpore's test_apply_proximal_adagrad_op_vmap2 (of this file): alpha
    # 0.2, l1 0.1; its check reads output[0], the first two blocks.
    expect = [[[0.52000004, 0.24], [0.05999999, 0.31999996]],
              [[0.62, 0.24], [0.05999999, 0.31999996]]]
    for var, want in zip(([[0.6, 0.4], [0.1, 0.5]], [[0.7, 0.4], [0.1, 0.5]]), expect):
        got = _proximal_gd(var, 0.2, 0.1, 0.0, [[0.3, 0.7], [0.1, 0.8]])
        np.testing.assert_allclose(got, want, rtol=1e-3)


def test_apply_adagrad_da():
    # test_apply_adagrad_dad_op.py::test_apply_adagrad_da (skipped in
    # MindSpore): global_step 2 is the second step.
    var = _param([[0.6, 0.4], [0.1, 0.5]])
    opt = nn.AdagradDA([var], learning_rate=0.001, l1=0.001, l2=0.001)
    acc = np.array([[0.1, 0.3], [0.1, 0.5]])
    sq = np.array([[0.2, 0.1], [0.1, 0.2]])
    opt.gradient_accumulator[0].set_data(acc.astype(np.float32))
    opt.gradient_squared_accumulator[0].set_data(sq.astype(np.float32))
    opt.global_step = 1
    grad = np.array([[0.3, 0.4], [0.1, 0.2]])
    assert opt((grad.astype(np.float32),))
    acc = acc + grad
    sq = sq + grad * grad
    tmp = np.sign(acc) * np.maximum(np.abs(acc) - 0.001 * 2, 0)
    want = (-1 * 0.001 * tmp) / (0.001 * 2 * 0.001 + np.sqrt(sq))
    eps = 1e-6
    assert np.all(np.abs(want - var.asnumpy()) < eps)
    assert np.all(np.abs(acc - opt.gradient_accumulator[0].asnumpy()) < eps)
    assert np.all(np.abs(sq - opt.gradient_squared_accumulator[0].asnumpy()) < eps)


# ---------------------------------------------------------------------------
# FusedSparseAdam (test_sparse_apply_adam_op.py) -> nn.Adam, sparse gradients
# ---------------------------------------------------------------------------

def _sparse_adam(var, m, v):
    p = nn.Parameter(np.array(var, np.float32), "var")
    opt = nn.Adam([p], learning_rate=0.001, beta1=0.9, beta2=0.999, eps=1e-8)
    opt.moment1[0].set_data(np.array(m, np.float32))
    opt.moment2[0].set_data(np.array(v, np.float32))
    return p, opt


def test_fused_sparse_adam_net():
    p, opt = _sparse_adam(np.ones([3, 3, 3]), np.ones([3, 3, 3]), np.ones([3, 3, 3]))
    indices = np.array([0, 1, 2], np.int32)
    assert opt(((indices, np.ones([3, 3, 3], np.float32)),))
    expect_var = np.full([3, 3, 3], 0.9996838, np.float32)
    assert np.all(p.asnumpy() == expect_var)


def test_fused_sparse_adam_invalid_input_shape_var_m_not_match():
    p, opt = _sparse_adam(np.ones([3, 3, 3]), np.ones([3, 3, 3]), np.ones([3, 3, 3]))
    with pytest.raises(ValueError):
        opt.moment1[0].set_data(np.ones([3, 2, 3], np.float32))
        opt(((np.array([0, 1, 2], np.int32), np.ones([3, 3, 3], np.float32)),))


def test_fused_sparse_adam_invalid_input_shape_var_v_not_match():
    p, opt = _sparse_adam(np.ones([3, 3, 3]), np.ones([3, 3, 3]), np.ones([3, 3, 3]))
    with pytest.raises(ValueError):
        opt.moment2[0].set_data(np.ones([3, 2, 3], np.float32))
        opt(((np.array([0, 1, 2], np.int32), np.ones([3, 3, 3], np.float32)),))


SPARSE_BAD_INPUTS = [
    # (name, indices, values, MindSpore's exception)
    ("grad_indices_not_match", np.array([0, 1], np.int32), np.ones([3, 3, 3], np.float32),
     ValueError),
    ("indices_rank_invalid", np.array(0, np.int32), np.ones([3, 3, 3], np.float32), ValueError),
    ("grad_rank_invalid", np.array([0, 1, 2], np.int32), np.array(3, np.float32), ValueError),
    ("indices_grad_not_match", np.array([0, 1, 2], np.int32), np.ones([3, 2, 3], np.float32),
     ValueError),
    ("indices_invalid", np.array([0, 1, 2], np.float32), np.ones([3, 3, 3], np.float32),
     TypeError),
    ("indices_invalid2", [np.array([0, 1, 2], np.int32)] * 2, np.ones([3, 3, 3], np.float32),
     TypeError),
    ("gradient_invalid", np.array([0, 1, 2], np.int32), [np.ones([3, 3, 3], np.float32)] * 2,
     TypeError),
]


@pytest.mark.parametrize("name,indices,values,exc", SPARSE_BAD_INPUTS,
                         ids=[c[0] for c in SPARSE_BAD_INPUTS])
def test_fused_sparse_adam_invalid_input(name, indices, values, exc):
    p, opt = _sparse_adam(np.ones([3, 3, 3]), np.ones([3, 3, 3]), np.ones([3, 3, 3]))
    with pytest.raises(exc):
        opt(((indices, values),))
    np.testing.assert_array_equal(p.asnumpy(), np.ones([3, 3, 3], np.float32))


def test_fused_sparse_adam_dynamic():
    # Unique([0, 1]) gathers rows 0 and 1 of the gradient and of the indices.
    p, opt = _sparse_adam(np.ones([3, 1, 2]), np.ones([3, 1, 2]), np.ones([3, 1, 2]))
    grad = np.full([2, 1, 2], 0.1, np.float32)
    assert opt(((np.array([0, 1], np.int32), grad),))
    expect_var = np.array([[[0.9997121, 0.9997121]], [[0.9997121, 0.9997121]],
                           [[0.99971527, 0.99971527]]], np.float32)
    assert np.allclose(p.asnumpy(), expect_var)


# ---------------------------------------------------------------------------
# FusedSparseFtrl / SparseApplyFtrl (test_sparse_apply_ftrl_op.py) -> nn.FTRL
# ---------------------------------------------------------------------------

def _sparse_ftrl(var, accum, linear, lr=0.001, dtype=np.float32):
    p = nn.Parameter(np.array(var, dtype), "var")
    opt = nn.FTRL([p], learning_rate=lr, l1=0.0, l2=0.0, lr_power=-0.5)
    opt.moments[0].set_data(np.array(accum, dtype))
    opt.linear[0].set_data(np.array(linear, dtype))
    return p, opt


def test_fused_sparse_ftrl_net():
    p, opt = _sparse_ftrl(np.ones([3, 3, 3]), np.ones([3, 3, 3]), np.ones([3, 3, 3]))
    assert opt(((np.array([0, 1, 2], np.int32), np.ones([3, 3, 3], np.float32)),))
    assert np.all(p.asnumpy() == np.full([3, 3, 3], 0.291479, np.float32))


def test_fused_sparse_ftrl_invalid_input_shape_var_accum_not_match():
    p, opt = _sparse_ftrl(np.ones([3, 3, 3]), np.ones([3, 3, 3]), np.ones([3, 3, 3]))
    with pytest.raises(ValueError):
        opt.moments[0].set_data(np.ones([3, 2, 3], np.float32))
        opt(((np.array([0, 1, 2], np.int32), np.ones([3, 3, 3], np.float32)),))


def test_fused_sparse_ftrl_invalid_input_shape_var_linear_not_match():
    p, opt = _sparse_ftrl(np.ones([3, 3, 3]), np.ones([3, 3, 3]), np.ones([3, 3, 3]))
    with pytest.raises(ValueError):
        opt.linear[0].set_data(np.ones([3, 2, 3], np.float32))
        opt(((np.array([0, 1, 2], np.int32), np.ones([3, 3, 3], np.float32)),))


@pytest.mark.parametrize("name,indices,values,exc", SPARSE_BAD_INPUTS,
                         ids=[c[0] for c in SPARSE_BAD_INPUTS])
def test_fused_sparse_ftrl_invalid_input(name, indices, values, exc):
    p, opt = _sparse_ftrl(np.ones([3, 3, 3]), np.ones([3, 3, 3]), np.ones([3, 3, 3]))
    with pytest.raises(exc):
        opt(((indices, values),))
    np.testing.assert_array_equal(p.asnumpy(), np.ones([3, 3, 3], np.float32))


def test_fused_sparse_ftrl_dynamic():
    p, opt = _sparse_ftrl(np.ones([3, 1, 2]), np.ones([3, 1, 2]), np.ones([3, 1, 2]), lr=0.01)
    grad = np.full([2, 1, 2], 0.1, np.float32)
    assert opt(((np.array([0, 1], np.int32), grad),))
    expect_var = np.array([[[-0.00598256, -0.00598256]], [[-0.00598256, -0.00598256]],
                           [[1., 1.]]], np.float32)
    assert np.allclose(p.asnumpy(), expect_var)


@pytest.mark.parametrize("dtype,expect", [(np.float32, 0.291479), (np.float16, 0.2915)],
                         ids=["float32", "float16"])
def test_sparse_apply_ftrl(dtype, expect):
    # Skipped in MindSpore ("Not support on CPU"); the same numbers as
    # FusedSparseFtrl, plus a float16 case.
    p, opt = _sparse_ftrl(np.ones([3, 3, 3]), np.ones([3, 3, 3]), np.ones([3, 3, 3]),
                          dtype=dtype)
    assert opt(((np.array([0, 1, 2], np.int32), np.ones([3, 3, 3], dtype)),))
    assert np.all(p.asnumpy() == np.full([3, 3, 3], expect, dtype))


# ---------------------------------------------------------------------------
# SparseApplyProximalAdagrad (test_sparse_apply_proximal_adagrad_op.py)
# ---------------------------------------------------------------------------

def test_sparse_apply_proximal_adagrad_net():
    p = nn.Parameter(np.ones([3, 3, 3], np.float32), "var")
    opt = nn.ProximalAdagrad([p], learning_rate=0.01, l1=0.0, l2=0.0)
    opt.accum[0].set_data(np.ones([3, 3, 3], np.float32))
    assert opt(((np.array([0, 1, 2], np.int32), np.ones([3, 3, 3], np.float32)),))
    assert np.all(p.asnumpy() == np.full([3, 3, 3], 0.9929289, np.float32))


# ---------------------------------------------------------------------------
# ApplyRMSProp / ApplyCenteredRMSProp (test_rmsprop.py) -> nn.RMSProp
# ---------------------------------------------------------------------------

def _rmsprop_case(learning_rate, decay, momentum, epsilon, centered):
    variable = np.array([1.0, 2.0], np.float32)
    gradients = np.array([0.1, 0.2], np.float32)
    mean_gradients = np.array([0.0, 0.0], np.float32)
    mean_square = np.array([epsilon, epsilon], np.float32)
    moment = np.array([0.0, 0.0], np.float32)

    p = nn.Parameter(variable.copy(), "var")
    opt = nn.RMSProp([p], learning_rate=learning_rate, decay=decay, momentum=momentum,
                     epsilon=epsilon, centered=centered)
    opt.mean_square[0].set_data(mean_square)
    opt.moment[0].set_data(moment)
    if centered:
        opt.mean_grad[0].set_data(mean_gradients)
    g = gradients.copy()
    assert opt((g,))

    if centered:
        mean_gradients = mean_gradients * decay + (1.0 - decay) * gradients
    mean_square = mean_square * decay + (1.0 - decay) * gradients * gradients
    denom = mean_square - mean_gradients * mean_gradients if centered else mean_square
    moment = momentum * moment + learning_rate / np.sqrt(denom + epsilon) * gradients
    variable = variable - moment

    error = 10e-6
    assert np.all(np.abs(p.asnumpy() - variable) < error)
    assert np.all(np.abs(g - gradients) < error)
    if centered:
        assert np.all(np.abs(opt.mean_grad[0].asnumpy() - mean_gradients) < error)
    assert np.all(np.abs(opt.mean_square[0].asnumpy() - mean_square) < error)
    assert np.all(np.abs(opt.moment[0].asnumpy() - moment) < error)


def test_rmsprop():
    # centered
    _rmsprop_case(0.5, 0.8, 0.9, 1e-3, True)


def test_rmspropcenter():
    # not centered (MindSpore's names are swapped)
    _rmsprop_case(0.1, 0.3, 0.9, 1.0, False)


# ---------------------------------------------------------------------------
# Lamb (tests/st/optimizer/test_lamb_op.py::test_gpu_net): the Lamb kernel
# against the original formula (LambGPUOrigin), global step 2.
# ---------------------------------------------------------------------------

def test_lamb_kernel_against_original_formula():
    val = np.array([[1, 1, 2], [3, 4, 5], [5, 6, 7]], np.float32)
    beta1, beta2, eps, lr, wd, step = 0.9, 0.999, 1e-6, 0.01, 0.0, 2
    f = np.float32
    next_m = f(beta1) * val + (f(1) - f(beta1)) * val
    next_v = f(beta2) * val + (f(1) - f(beta2)) * val * val
    next_mm = next_m / (f(1) - f(beta1) ** step)
    next_vv = next_v / (f(1) - f(beta2) ** step)
    w_norm = np.linalg.norm(val)
    g_norm = np.linalg.norm(val)
    g_norm_hat = np.linalg.norm(next_mm / np.sqrt(next_vv + eps) + wd * val)
    trust = w_norm / g_norm_hat if (w_norm > 0 and g_norm > 0) else 1.0
    trust = min(max(trust, 0.0), 10.0)
    update = next_mm / (np.sqrt(next_vv) + eps) + wd * val
    want = val - trust * lr * update

    p = nn.Parameter(val.copy(), "param")
    opt = nn.Lamb([p], learning_rate=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=wd)
    opt.moments1[0].set_data(val)
    opt.moments2[0].set_data(val)
    opt.global_step = step - 1
    assert opt((val.copy(),))
    assert np.allclose(p.asnumpy(), want)
