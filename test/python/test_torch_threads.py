"""The torch front end's step threads follow torch's intra-op setting."""

import torch

import optim_mlir
import optim_mlir.torch as otorch


def test_threads_follow_torch():
    before = torch.get_num_threads()
    try:
        p = torch.nn.Parameter(torch.randn(64, 16))
        opt = otorch.AdamW([p], lr=1e-3)
        p.grad = torch.randn_like(p)
        torch.set_num_threads(1)
        opt.step()
        compiled = [entry[0] for entry in opt._compiled_cache().values()]
        assert compiled and all(c.num_threads == 1 for c in compiled)
        torch.set_num_threads(2)
        opt.step()
        # Never more than the cores this process may run on.
        import os
        cores = len(os.sched_getaffinity(0))
        assert all(c.num_threads == min(2, cores) for c in compiled)
    finally:
        torch.set_num_threads(before)


def test_set_num_threads_checks_its_argument():
    text = ('optim.optimizer @o rule #optim.rule<sgd> learning_rate 0.1 {\n'
            '  optim.param "w" : tensor<4xf32>\n}\n')
    compiled = optim_mlir.CompiledOptimizer(text, "")
    compiled.set_num_threads(1)
    assert compiled.num_threads == 1
    try:
        compiled.set_num_threads(-1)
    except ValueError as error:
        assert "thread" in str(error)
    else:
        raise AssertionError("a negative thread count was accepted")
    info = optim_mlir.cache_info()
    assert set(info) >= {"compilations", "memory_hits", "disk_hits"}
    assert compiled.code_origin in ("compiled", "memory cache", "disk cache")
