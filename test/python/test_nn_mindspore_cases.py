"""MindSpore's own test cases, run on ``optim_mlir.nn``.

* ``ApplyProximalAdagrad``: the inputs and expected outputs of MindSpore's
  CPU kernel test, ``tests/st/ops/cpu/test_apply_proximal_adagrad_op.py``
  (``test_apply_proximal_adagrad_op`` and the blocks of
  ``test_apply_proximal_adagrad_op_vmap2``, whose ``l1 = 0.1`` blocks check
  that the shrink uses ``lr / sqrt(accum)`` as the kernel does).
* The base class: ``tests/ut/python/nn/optim/test_optimizer.py``.
"""

import numpy as np
import pytest

from optim_mlir import nn

# ---------------------------------------------------------------------------
# ApplyProximalAdagrad (tests/st/ops/cpu/test_apply_proximal_adagrad_op.py)
# ---------------------------------------------------------------------------

GRAD = np.array([[0.3, 0.7], [0.1, 0.8]], np.float32)


def _proximal_adagrad_step(var, accum, lr, l1, l2):
    param = nn.Parameter(np.array(var, np.float32), "var")
    opt = nn.ProximalAdagrad([param], learning_rate=lr, l1=l1, l2=l2)
    opt.accum[0].set_data(np.array(accum, np.float32))
    assert opt((GRAD.copy(),))
    return param.asnumpy(), opt.accum[0].asnumpy()


def test_proximal_adagrad_mindspore_cpu_kernel_case():
    # test_apply_proximal_adagrad_op, float32: rtol 1e-6 there.
    var, accum = _proximal_adagrad_step([[0.6, 0.4], [0.1, 0.5]],
                                        [[0.6, 0.5], [0.2, 0.6]],
                                        lr=0.01, l1=0.0, l2=0.0)
    np.testing.assert_allclose(
        var, [[5.96388459e-01, 3.92964751e-01],
              [9.78178233e-02, 4.92815793e-01]], rtol=1e-6)
    np.testing.assert_allclose(
        accum, [[6.90000057e-01, 9.90000010e-01],
                [2.10000008e-01, 1.24000001e+00]], rtol=1e-6)


# test_apply_proximal_adagrad_op_vmap2: block (i, j) runs the kernel with
# lr[i][j], l1[j] and l2 = 0 on its own var and accum (rtol 1e-3 there).
VMAP2_BLOCKS = [
    # var, accum, lr, l1, expected var, expected accum
    ([[0.6, 0.4], [0.1, 0.5]], [[0.6, 0.5], [0.2, 0.6]], 0.01, 0.0,
     [[5.96388459e-01, 3.92964751e-01], [9.78178233e-02, 4.92815793e-01]],
     [[6.90000057e-01, 9.90000010e-01], [2.10000008e-01, 1.24000001e+00]]),
    ([[0.7, 0.4], [0.1, 0.5]], [[0.7, 0.5], [0.2, 0.6]], 0.02, 0.1,
     [[0.69099927, 0.3839194], [0.09127129, 0.48383552]],
     [[0.78999996, 0.99], [0.21000001, 1.24]]),
    ([[0.8, 0.4], [0.1, 0.5]], [[0.8, 0.5], [0.2, 0.6]], 0.03, 0.0,
     [[0.79046005, 0.3788942], [0.09345347, 0.47844738]],
     [[0.89, 0.99], [0.21000001, 1.24]]),
    ([[0.9, 0.4], [0.1, 0.5]], [[0.9, 0.5], [0.2, 0.6]], 0.04, 0.1,
     [[0.88391936, 0.3678388], [0.08254258, 0.46767104]],
     [[0.99, 0.99], [0.21000001, 1.24]]),
]


@pytest.mark.parametrize("var,accum,lr,l1,expect_var,expect_accum",
                         VMAP2_BLOCKS, ids=["b00", "b01", "b10", "b11"])
def test_proximal_adagrad_mindspore_vmap_cases(var, accum, lr, l1,
                                               expect_var, expect_accum):
    got_var, got_accum = _proximal_adagrad_step(var, accum, lr, l1, 0.0)
    # Tighter than MindSpore's 1e-3: these are float32 results of the same
    # arithmetic.
    np.testing.assert_allclose(got_var, expect_var, rtol=1e-6)
    np.testing.assert_allclose(got_accum, expect_accum, rtol=1e-6)


def test_proximal_adagrad_shrink_uses_the_per_element_step():
    # The kernel's formula with l1 and l2 both set (MindSpore's tests keep
    # l2 = 0): lr_t = lr / sqrt(accum) in the shrink and in the divisor.
    var = np.array([[0.6, -0.4], [0.001, 0.5]], np.float64)
    accum = np.array([[0.6, 0.5], [0.2, 0.6]], np.float64)
    lr, l1, l2 = 0.05, 0.2, 0.3
    got_var, _ = _proximal_adagrad_step(var, accum, lr, l1, l2)
    a = accum + GRAD.astype(np.float64) ** 2
    lr_t = lr / np.sqrt(a)
    v = var - lr_t * GRAD
    want = np.sign(v) * np.maximum(np.abs(v) - lr_t * l1, 0) / (1 + lr_t * l2)
    np.testing.assert_allclose(got_var, want, rtol=1e-6, atol=1e-7)
    # The element whose |v| is below lr_t * l1 is shrunk to zero.
    assert got_var[1, 0] == 0.0
    # The op's docstring form (plain lr) gives other numbers.
    docstring = np.sign(v) * np.maximum(np.abs(v) - lr * l1, 0) / (1 + lr * l2)
    assert not np.allclose(got_var, docstring, rtol=1e-3)


# ---------------------------------------------------------------------------
# The base class (tests/ut/python/nn/optim/test_optimizer.py)
# ---------------------------------------------------------------------------

class IterableObjc:
    """Three scalar Parameters from an iterable that is not a list.  Named
    apart: unlike MindSpore's test (three 'cont'), parameter names must be
    unique here, as state and checkpoint entries are keyed by them."""

    def __iter__(self):
        cont = 0
        while cont < 3:
            cont += 1
            yield nn.Parameter(np.array(cont), name="cont%d" % cont)


params = IterableObjc()


class TestOptimizer:
    def test_init(self):
        nn.Optimizer(0.5, params)
        with pytest.raises(ValueError):
            nn.Optimizer(-0.5, params)

    def test_construct(self):
        opt_2 = nn.Optimizer(0.5, params)
        with pytest.raises(NotImplementedError):
            opt_2.construct()


class TestAdam:
    def test_init(self):
        nn.Adam(params, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                use_locking=False, use_nesterov=False, weight_decay=0.0,
                loss_scale=1.0)

    def test_construct(self):
        with pytest.raises(RuntimeError):
            gradient = np.zeros([1, 2, 3], np.float32)
            adam = nn.Adam(params, learning_rate=1e-3, beta1=0.9, beta2=0.999,
                           eps=1e-8, use_locking=False, use_nesterov=False,
                           weight_decay=0.0, loss_scale=1.0)
            adam(gradient)


class TestSGD:
    def test_init(self):
        with pytest.raises(ValueError):
            nn.SGD(params, learning_rate=0.1, momentum=-0.1, dampening=0,
                   weight_decay=0, nesterov=False)
        with pytest.raises(ValueError):
            nn.SGD(params, learning_rate=0.12, momentum=-0.1, dampening=0,
                   weight_decay=0, nesterov=False)
        nn.SGD(params)


class TestNullParam:
    def test_optim_init(self):
        with pytest.raises(ValueError):
            nn.Optimizer(0.1, None)

    def test_AdamWightDecay_init(self):
        with pytest.raises(ValueError):
            nn.AdamWeightDecay(None)

    def test_Sgd_init(self):
        with pytest.raises(ValueError):
            nn.SGD(None)


class TestUnsupportParam:
    def test_optim_init(self):
        with pytest.raises(TypeError):
            nn.Optimizer(0.1, (1, 2, 3))

    def test_AdamWightDecay_init(self):
        with pytest.raises(TypeError):
            nn.AdamWeightDecay(9)

    def test_Sgd_init(self):
        with pytest.raises(TypeError):
            params_tensor = nn.Parameter(np.zeros([1, 2, 3]), "x")
            nn.SGD(params_tensor)


# Beyond MindSpore's file: the same contract on the other ways in.

def test_user_defined_optimizer_without_construct_raises():
    class NoRule(nn.Optimizer):
        pass

    p = nn.Parameter(np.ones(3, np.float32), "w")
    opt = NoRule(0.1, [p])
    with pytest.raises(NotImplementedError, match="no update rule"):
        opt((np.ones(3, np.float32),))
    assert opt.global_step == 0


def test_compiled_optimizer_construct_without_gradients_raises():
    p = nn.Parameter(np.ones(3, np.float32), "w")
    opt = nn.Adam([p])
    with pytest.raises(NotImplementedError):
        opt.construct()
    assert opt.construct((np.ones(3, np.float32),))
    assert opt.global_step == 1


@pytest.mark.parametrize("one", [
    lambda p: np.zeros(p.shape, np.float32),
    lambda p: nn.Parameter(np.zeros(p.shape, np.float32), "g"),
], ids=["ndarray", "Parameter"])
def test_one_gradient_instead_of_a_tuple_raises_runtime_error(one):
    p = nn.Parameter(np.ones(3, np.float32), "w")
    for opt in (nn.Adam([p]), nn.Optimizer(0.1, [p])):
        with pytest.raises(RuntimeError, match="must be a tuple or list"):
            opt(one(p))
        assert opt.global_step == 0
    np.testing.assert_array_equal(p.data, np.ones(3, np.float32))
