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
        opt = nn.Lion(params(size))
        opt.max_grad_norm = 1.0
        return opt(tuple(np.ones((4, 3), np.float32) for _ in range(size)))
    check("max_grad_norm_later", max_grad_norm_later)
    check("dynamic_loss_scale",
          lambda: nn.Adam(params(size),
                          loss_scale=nn.DynamicLossScaleUpdateCell(
                              1024.0, 2.0, 100)).use_parallel)
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
