"""Worker: the settings and refusals of the parallel optimizer on a job of
several ranks: one ``CHECK`` record per check and rank (nn_cases.emit into
the directory given), the value or the error's type and message."""

import sys

import numpy as np

import nn_cases as C
from optim_mlir import nn


def params(n, shape=(4, 3)):
    rng = np.random.default_rng(5)
    return [nn.Parameter(rng.standard_normal(shape).astype(np.float32),
                         "w%d" % i) for i in range(n)]


def outcome(fn):
    try:
        value = fn()
    except Exception as e:  # the test checks the type and message
        return {"error": type(e).__name__, "message": str(e)}
    return {"value": value}


RANK = [0]


def check(name, fn):
    C.emit(sys.argv[1], "CHECK", name, RANK[0], outcome(fn))


class UserOptimizer(nn.Optimizer):
    def construct(self, gradients):
        return True


def main():
    import os
    # The rank before init(): from the launcher.
    RANK[0] = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
    check("rank_before_init", lambda: nn.communication.get_rank())
    nn.communication.init()
    RANK[0] = nn.communication.get_rank()
    check("rank", lambda: nn.communication.get_rank())
    check("size", lambda: nn.communication.get_group_size())
    check("rank_group_type", lambda: nn.communication.get_rank(group=0))
    check("init_backend", lambda: nn.communication.init("hccl"))
    size = nn.communication.get_group_size()
    nn.set_auto_parallel_context(parallel_mode="data_parallel",
                                 enable_parallel_optimizer=True)
    check("too_few_parameters",
          lambda: nn.Adam(params(size - 1)).use_parallel)
    check("max_grad_norm",
          lambda: nn.Adam(params(size), max_grad_norm=1.0).use_parallel)

    def max_grad_norm_later():
        # Clipping turned on before the first step (the classes generated
        # from records take no max_grad_norm argument): every rank clips by
        # the global norm, sqrt(12 * size) = 2 * sqrt(3 * size).
        opt = nn.Lion(params(size))
        opt.max_grad_norm = 1.0
        flag = opt(tuple(np.ones((4, 3), np.float32) for _ in range(size)))
        return [flag, opt.grad_norm, opt.overflow]
    check("max_grad_norm_later", max_grad_norm_later)

    def max_grad_norm_on_off():
        opt = nn.Adam(params(size))
        opt(tuple(np.ones((4, 3), np.float32) for _ in range(size)))
        opt.max_grad_norm = 1.0
    check("max_grad_norm_on_off", max_grad_norm_on_off)
    check("dynamic_loss_scale",
          lambda: nn.Adam(params(size),
                          loss_scale=nn.DynamicLossScaleUpdateCell(
                              1024.0, 2.0, 100)).use_parallel)

    def sparse_gradients_differ():
        # Sparse rows are checked in NumPy before the sharded step: ranks
        # whose gradients differ would clip by different factors (or one
        # skip the step alone); every rank raises before anything changes.
        ps = params(size)
        before = [p.data.copy() for p in ps]
        opt = nn.LazyAdam(ps, max_grad_norm=1.0)
        grads = tuple((np.array([0, 2], np.int32),
                       np.full((2, 3), 1.0 + RANK[0], np.float32))
                      for _ in range(size))
        try:
            opt(grads)
        finally:
            assert all(np.array_equal(p.data, b)
                       for p, b in zip(ps, before))
            assert int(opt.global_step) == 0
    check("sparse_gradients_differ", sparse_gradients_differ)
    check("user_construct", lambda: UserOptimizer(0.1, params(size))
          .use_parallel)

    def mixed_sparse():
        opt = nn.LazyAdam(params(size + 1))
        grads = [np.ones((4, 3), np.float32) for _ in range(size + 1)]
        grads[0] = (np.array([1, 1], np.int32), np.ones((2, 3), np.float32))
        return opt(tuple(grads))
    check("mixed_sparse", mixed_sparse)

    def lars_two_parts():
        # The default lars_filter leaves 'bias' to plain Momentum: two parts.
        ps = params(size) + [nn.Parameter(np.ones(3, np.float32), "b.bias")]
        opt = nn.LARS(nn.Momentum(ps, 0.1, 0.9))
        return opt(tuple(np.ones(p.shape, np.float32) for p in ps))
    check("lars_two_parts", lars_two_parts)
    nn.set_auto_parallel_context(device_num=size + 1)
    check("device_num_mismatch", lambda: nn.Adam(params(8)).use_parallel)
    nn.set_auto_parallel_context(device_num=size)
    check("device_num_match", lambda: nn.Adam(params(8)).dev_num)
    # Off: MindSpore's attributes of an optimizer without it.
    nn.set_auto_parallel_context(enable_parallel_optimizer=False)
    opt = nn.Adam(params(3))
    check("off", lambda: [opt.use_parallel, list(opt.optim_filter),
                          opt.param_rank, hasattr(opt, "dev_num")])
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
