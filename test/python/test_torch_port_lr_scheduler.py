"""torch 1.13's LR-scheduler and SWA tests, run against optim_mlir.torch.

Origin: pytorch/pytorch ``test/test_optim.py`` (the 1.13 file, classes
``TestLRScheduler`` and ``TestSWAUtils``). Every case runs torch's
schedulers (``torch.optim.lr_scheduler``, ``torch.optim.swa_utils``) on
``optim_mlir.torch`` optimizers in place of ``torch.optim`` ones, with torch's
expected learning-rate (and momentum / beta1) sequences and tolerance
(``atol=1e-5, rtol=0``).

One addition to torch's file: the parameters of the scheduled optimizer hold
small gradients, so that every ``optimizer.step()`` of a case runs a compiled
step at the hyper-parameters the scheduler has just written (torch's
parameters have no gradients and its steps do nothing), and a
``torch.optim`` twin of the same class, given the same hyper-parameters,
steps clones of the parameters alongside: after every step the parameters
must agree within torch's float32 tolerance (``rtol=1.3e-6, atol=1e-5``).
"""

import gc
import math
import types
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import (EPOCH_DEPRECATION_WARNING,
                                      ChainedScheduler, ConstantLR,
                                      CosineAnnealingLR,
                                      CosineAnnealingWarmRestarts, CyclicLR,
                                      ExponentialLR, LambdaLR, LinearLR,
                                      MultiplicativeLR, MultiStepLR,
                                      OneCycleLR, PolynomialLR,
                                      ReduceLROnPlateau, SequentialLR, StepLR,
                                      _LRScheduler)
from torch.optim.swa_utils import SWALR, AveragedModel

import optim_mlir.torch as ot

pytestmark = pytest.mark.usefixtures("float32_default_dtype")

ATOL = 1e-5


def _close(expected, actual, what):
    assert abs(expected - actual) <= ATOL, (
        "%s: expected %r, got %r" % (what, expected, actual))


class SchedulerTestNet(torch.nn.Module):
    # torch: test/test_optim.py SchedulerTestNet
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 1, 1)
        self.conv2 = torch.nn.Conv2d(1, 1, 1)

    def forward(self, x):
        return self.conv2(F.relu(self.conv1(x)))


class LambdaLRTestObject:
    # torch: test/test_optim.py LambdaLRTestObject
    def __init__(self, value):
        self.value = value

    def __call__(self, epoch):
        return self.value * epoch

    def __eq__(self, other):
        if isinstance(other, self.__class__):
            return self.__dict__ == other.__dict__
        return False


def _with_grads(params):
    for p in params:
        p.grad = torch.full_like(p, 1e-3)


def _assert_all_finite(opt):
    for group in opt.param_groups:
        for p in group["params"]:
            assert torch.isfinite(p).all()


class TestLRScheduler:
    # torch: test/test_optim.py TestLRScheduler

    def setup_method(self, method=None):
        self.net = SchedulerTestNet()
        _with_grads(self.net.parameters())
        self.opt = ot.SGD(
            [{"params": self.net.conv1.parameters()},
             {"params": self.net.conv2.parameters(), "lr": 0.5}],
            lr=0.05)

    def _step(self, opt=None):
        """`opt.step()` (self.opt by default); for self.opt, a torch.optim
        twin of the same class, on clones of the parameters and gradients,
        steps with the hyper-parameters the scheduler left in self.opt's
        groups, and the parameters must agree (torch's float32 tolerance)."""
        opt = self.opt if opt is None else opt
        if opt is not self.opt:
            opt.step()
            return
        if getattr(self, "_twin_of", None) is not opt:
            groups = []
            for g in opt.param_groups:
                params = []
                for p in g["params"]:
                    t = p.detach().clone().requires_grad_()
                    t.grad = None if p.grad is None else p.grad.clone()
                    params.append(t)
                groups.append(dict(g, params=params))
            self._twin = getattr(torch.optim, type(opt).__name__)(
                groups, lr=groups[0]["lr"])
            self._twin_of = opt
        opt.step()
        for tg, g in zip(self._twin.param_groups, opt.param_groups):
            tg.update((k, v) for k, v in g.items() if k != "params")
        self._twin.step()
        for tg, g in zip(self._twin.param_groups, opt.param_groups):
            for t, p in zip(tg["params"], g["params"]):
                torch.testing.assert_close(p.detach(), t.detach())

    def _adam(self):
        return ot.Adam(
            [{"params": self.net.conv1.parameters()},
             {"params": self.net.conv2.parameters(), "lr": 0.5}],
            lr=0.05)

    # --- torch's helpers ---------------------------------------------------

    @staticmethod
    def _check_epoch_deprecation(w, num_warnings=1):
        assert len(w) == num_warnings
        for warning in w:
            assert len(warning.message.args) == 1
            assert warning.message.args[0] == EPOCH_DEPRECATION_WARNING

    def _test(self, schedulers, targets, epochs=10):
        if isinstance(schedulers, _LRScheduler):
            schedulers = [schedulers]
        for epoch in range(epochs):
            for group, target in zip(self.opt.param_groups, targets):
                _close(target[epoch], group["lr"], "lr in epoch %d" % epoch)
            self._step()
            for s in schedulers:
                s.step()
        _assert_all_finite(self.opt)

    def _test_with_epoch(self, schedulers, targets, epochs=10):
        if isinstance(schedulers, _LRScheduler):
            schedulers = [schedulers]
        optimizers = {s.optimizer for s in schedulers}
        for epoch in range(epochs):
            for opt in optimizers:
                self._step(opt)
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                for s in schedulers:
                    s.step(epoch)
                self._check_epoch_deprecation(w, len(schedulers))
            for group, target in zip(self.opt.param_groups, targets):
                _close(target[epoch], group["lr"], "lr in epoch %d" % epoch)

    def _test_get_last_lr(self, schedulers, targets, epochs=10):
        if isinstance(schedulers, _LRScheduler):
            schedulers = [schedulers]
        optimizers = {s.optimizer for s in schedulers}
        for epoch in range(epochs):
            result = [s.get_last_lr() for s in schedulers]
            for opt in optimizers:
                self._step(opt)
            for s in schedulers:
                s.step()
            target = [t[epoch] for t in targets]
            for r in result:
                assert len(r) == len(target)
                for x, y in zip(target, r):
                    _close(x, y, "last lr in epoch %d" % epoch)

    def _test_against_closed_form(self, scheduler_fn, epochs=10):
        # torch builds both schedulers on one optimizer before its setUp()
        # calls replace self.opt, so its comparison reads the learning rates
        # of untouched optimizers. Here each run schedules its own optimizer,
        # and the closed form at epoch e + 1 is compared with the chainable
        # form after e + 1 steps.
        self.setup_method()
        closed_form = scheduler_fn(self.opt)
        targets = []
        for epoch in range(epochs):
            self._step()
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                closed_form.step(epoch + 1)
                self._check_epoch_deprecation(w)
            targets.append([g["lr"] for g in self.opt.param_groups])
        self.setup_method()
        scheduler = scheduler_fn(self.opt)
        for epoch in range(epochs):
            self._step()
            scheduler.step()
            for i, group in enumerate(self.opt.param_groups):
                _close(targets[epoch][i], group["lr"],
                       "lr in epoch %d" % epoch)

    def _test_reduce_lr_on_plateau(self, schedulers, targets, metrics,
                                   epochs=10):
        if isinstance(schedulers, (_LRScheduler, ReduceLROnPlateau)):
            schedulers = [schedulers]
        for epoch in range(epochs):
            self._step()
            for s in schedulers:
                if isinstance(s, ReduceLROnPlateau):
                    s.step(metrics[epoch])
                else:
                    s.step()
            for group, target in zip(self.opt.param_groups, targets):
                _close(target[epoch], group["lr"], "lr in epoch %d" % epoch)

    def _test_cycle_lr(self, scheduler, lr_targets, momentum_targets,
                       batch_iterations, use_beta1=False):
        for batch in range(batch_iterations):
            for group, lr_t, m_t in zip(self.opt.param_groups, lr_targets,
                                        momentum_targets):
                _close(lr_t[batch], group["lr"], "lr in batch %d" % batch)
                if use_beta1 and "betas" in group:
                    _close(m_t[batch], group["betas"][0],
                           "beta1 in batch %d" % batch)
                elif "momentum" in group:
                    _close(m_t[batch], group["momentum"],
                           "momentum in batch %d" % batch)
            self._step()
            scheduler.step()
        _assert_all_finite(self.opt)

    def _test_CosineAnnealingWarmRestarts(self, scheduler, targets,
                                          epochs=10):
        for index, epoch in enumerate(torch.arange(0, epochs, 0.1)):
            epoch = round(epoch.item(), 1)
            scheduler.step(epoch)
            for group, target in zip(self.opt.param_groups, targets):
                _close(target[index], group["lr"], "lr in epoch %s" % epoch)

    def _test_interleaved_CosineAnnealingWarmRestarts(self, scheduler,
                                                      targets, epochs):
        for index, epoch in enumerate(epochs):
            scheduler.step(epoch)
            for group, target in zip(self.opt.param_groups, targets):
                _close(target[index], group["lr"], "lr in epoch %s" % epoch)

    def _check_scheduler_state_dict(self, constr, constr2, epochs=10):
        scheduler = constr()
        for _ in range(epochs):
            self._step(scheduler.optimizer)
            scheduler.step()
        scheduler_copy = constr2()
        scheduler_copy.load_state_dict(scheduler.state_dict())
        for key in scheduler.__dict__:
            if key != "optimizer":
                assert scheduler.__dict__[key] == scheduler_copy.__dict__[key]
        assert scheduler.get_last_lr() == scheduler_copy.get_last_lr()

    def _test_lr_is_constant_for_constant_epoch(self, scheduler):
        lrs = []
        for _ in range(10):
            self._step(scheduler.optimizer)
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                scheduler.step(2)
                self._check_epoch_deprecation(w)
            lrs.append(self.opt.param_groups[0]["lr"])
        assert min(lrs) == max(lrs)

    def _test_swalr(self, swa_scheduler, scheduler, targets, swa_start,
                    epochs):
        for epoch in range(epochs):
            for group, target in zip(self.opt.param_groups, targets):
                _close(target[epoch], group["lr"], "lr in epoch %d" % epoch)
            if epoch >= swa_start:
                self._step()
                swa_scheduler.step()
            elif scheduler is not None:
                self._step()
                scheduler.step()

    # --- cases ---------------------------------------------------------------

    def test_error_when_getlr_has_epoch(self):
        class MultiStepLRWithEpoch(_LRScheduler):
            def __init__(self, optimizer, gamma, milestones, last_epoch=-1):
                self.init_lr = [g["lr"] for g in optimizer.param_groups]
                self.gamma = gamma
                self.milestones = milestones
                super().__init__(optimizer, last_epoch)

            def get_lr(self, step):
                return self.init_lr

        optimizer = ot.SGD([torch.rand(1)], lr=1)
        with pytest.raises(TypeError):
            MultiStepLRWithEpoch(optimizer, gamma=1, milestones=[10, 20])

    def test_no_cyclic_references(self):
        param = torch.empty(10, requires_grad=True)
        param.grad = torch.ones(10)
        optim = ot.SGD([param], lr=0.5)
        optim.step()
        scheduler = LambdaLR(optim, lambda epoch: 1.0)
        del scheduler
        assert len(gc.get_referrers(optim)) == 0, (
            "Optimizer should contain no cyclic references")
        gc.collect()
        del optim
        assert gc.collect() == 0, (
            "Optimizer should be garbage-collected on __del__")

    def _old_pattern(self, scheduler):
        def run():
            for _ in range(35):
                scheduler.step()
                self.opt.step()
        with pytest.warns(UserWarning, match="how-to-adjust-learning-rate"):
            run()

    def _new_scheduler_no_warning(self, **kwargs):
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter("always")
            scheduler = StepLR(self.opt, gamma=0.1, step_size=3, **kwargs)
        assert len(ws) == 0, "No warning should be raised"
        return scheduler

    def test_old_pattern_warning(self):
        self._old_pattern(self._new_scheduler_no_warning())

    def test_old_pattern_warning_with_arg(self):
        self._old_pattern(self._new_scheduler_no_warning())

    def test_old_pattern_warning_resuming(self):
        for group in self.opt.param_groups:
            group["initial_lr"] = 0.01
        self._old_pattern(self._new_scheduler_no_warning(last_epoch=10))

    def test_old_pattern_warning_resuming_with_arg(self):
        for group in self.opt.param_groups:
            group["initial_lr"] = 0.01
        self._old_pattern(self._new_scheduler_no_warning(last_epoch=10))

    def _override_step(self):
        old_step = self.opt.step

        def new_step(o, *args, **kwargs):
            return old_step(*args, **kwargs)

        self.opt.step = types.MethodType(new_step, self.opt)

    def test_old_pattern_warning_with_overridden_optim_step(self):
        for group in self.opt.param_groups:
            group["initial_lr"] = 0.01
        scheduler = self._new_scheduler_no_warning(last_epoch=10)
        self._override_step()
        self._old_pattern(scheduler)

    @pytest.mark.parametrize("variant", ["", "with_arg"])
    def test_new_pattern_no_warning(self, variant):
        scheduler = self._new_scheduler_no_warning()
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter("always")
            for _ in range(35):
                self.opt.step()
                scheduler.step()
        assert len(ws) == 0, [str(w.message) for w in ws]

    def test_new_pattern_no_warning_with_overridden_optim_step(self):
        scheduler = self._new_scheduler_no_warning()
        self._override_step()

        def new_pattern():
            for _ in range(35):
                self.opt.step()
                scheduler.step()

        with pytest.warns(UserWarning,
                          match=r"`optimizer.step\(\)` has been overridden"):
            new_pattern()

    def test_step_lr_is_constant_for_constant_epoch(self):
        self._test_lr_is_constant_for_constant_epoch(StepLR(self.opt, 2))

    def test_exponential_lr_is_constant_for_constant_epoch(self):
        self._test_lr_is_constant_for_constant_epoch(
            ExponentialLR(self.opt, gamma=0.9))

    def test_constantlr_is_constant_for_constant_epoch(self):
        self._test_lr_is_constant_for_constant_epoch(ConstantLR(self.opt))

    def test_linear_linearlr_is_constant_for_constant_epoch(self):
        self._test_lr_is_constant_for_constant_epoch(LinearLR(self.opt))

    def test_polynomial_lr_is_constant_for_constant_epoch(self):
        self._test_lr_is_constant_for_constant_epoch(
            PolynomialLR(self.opt, power=0.9))

    def test_step_lr(self):
        epochs = 10
        single = [0.05] * 3 + [0.005] * 3 + [0.0005] * 3 + [0.00005] * 3
        targets = [single, [x * epochs for x in single]]
        self._test(StepLR(self.opt, gamma=0.1, step_size=3), targets, epochs)

    def test_get_last_lr_step_lr(self):
        epochs = 10
        p = torch.nn.Parameter(torch.randn(2, 2))
        _with_grads([p])
        optimizer = ot.SGD([p], 0.1)
        targets = [[0.1] * 3 + [0.01] * 3 + [0.001] * 3 + [0.0001]]
        scheduler = StepLR(optimizer, 3, gamma=0.1)
        self._test_get_last_lr(scheduler, targets, epochs)

    def test_get_last_lr_multi_step_lr(self):
        epochs = 10
        single = [0.05] * 2 + [0.005] * 3 + [0.0005] * 4 + [0.00005] * 1
        targets = [single, [x * epochs for x in single]]
        scheduler = MultiStepLR(self.opt, gamma=0.1, milestones=[2, 5, 9])
        self._test_get_last_lr(scheduler, targets, epochs)

    def test_multi_step_lr(self):
        epochs = 10
        single = [0.05] * 2 + [0.005] * 3 + [0.0005] * 4 + [0.00005] * 3
        targets = [single, [x * epochs for x in single]]
        self._test(MultiStepLR(self.opt, gamma=0.1, milestones=[2, 5, 9]),
                   targets, epochs)

    def test_multi_step_lr_with_epoch(self):
        epochs = 10
        single = [0.05] * 2 + [0.005] * 3 + [0.0005] * 4 + [0.00005] * 3
        targets = [single, [x * epochs for x in single]]
        self._test_with_epoch(
            MultiStepLR(self.opt, gamma=0.1, milestones=[2, 5, 9]), targets,
            epochs)

    def test_get_last_lr_constantlr(self):
        epochs = 10
        single = [0.025] * 5 + [0.05] * 5
        targets = [single, [x * epochs for x in single]]
        self._test_get_last_lr(
            ConstantLR(self.opt, factor=1.0 / 2, total_iters=5), targets,
            epochs)

    def test_get_last_lr_linearlr(self):
        epochs, start, end, iters = 10, 1.0 / 4, 3.0 / 5, 4
        interp = [start + i * (end - start) / iters for i in range(iters)]
        single = [x * 0.05 for x in interp] + [0.05 * end] * (epochs - iters)
        targets = [single, [x * epochs for x in single]]
        scheduler = LinearLR(self.opt, start_factor=start, end_factor=end,
                             total_iters=iters)
        self._test_get_last_lr(scheduler, targets, epochs)

    def test_constantlr(self):
        epochs = 10
        single = [0.025] * 5 + [0.05] * 5
        targets = [single, [x * epochs for x in single]]
        self._test(ConstantLR(self.opt, factor=1.0 / 2, total_iters=5),
                   targets, epochs)

    def test_linearlr(self):
        epochs, start, iters = 10, 1.0 / 2, 4
        interp = [start + i * (1 - start) / iters for i in range(iters)]
        single = [x * 0.05 for x in interp] + [0.05] * (epochs - iters)
        targets = [single, [x * epochs for x in single]]
        self._test(LinearLR(self.opt, start_factor=start, total_iters=iters),
                   targets, epochs)

    def test_constantlr_with_epoch(self):
        epochs = 10
        single = [0.025] * 5 + [0.05] * 5
        targets = [single, [x * epochs for x in single]]
        self._test_with_epoch(
            ConstantLR(self.opt, factor=1.0 / 2, total_iters=5), targets,
            epochs)

    def test_linearlr_with_epoch(self):
        epochs, start, end, iters = 10, 1.0 / 2, 1.0, 4
        interp = [start + i * (end - start) / iters for i in range(iters)]
        single = [x * 0.05 for x in interp] + [0.05] * (epochs - iters)
        targets = [single, [x * epochs for x in single]]
        self._test_with_epoch(
            LinearLR(self.opt, start_factor=start, total_iters=iters),
            targets, epochs)

    def test_exp_lr(self):
        epochs = 10
        single = [0.05 * (0.9 ** x) for x in range(epochs)]
        targets = [single, [x * epochs for x in single]]
        self._test(ExponentialLR(self.opt, gamma=0.9), targets, epochs)

    def test_poly_lr(self):
        epochs, power, total = 10, 0.9, 5
        single = ([(1.0 - x / total) ** power * 0.05 for x in range(total)] +
                  [0.0] * (epochs - total))
        targets = [single, [x * epochs for x in single]]
        self._test(PolynomialLR(self.opt, power=power, total_iters=total),
                   targets, epochs)

    def test_cos_anneal_lr(self):
        epochs, eta_min = 10, 1e-10
        single = [eta_min + (0.05 - eta_min) *
                  (1 + math.cos(math.pi * x / epochs)) / 2
                  for x in range(epochs)]
        targets = [single, [x * epochs for x in single]]
        self._test(CosineAnnealingLR(self.opt, T_max=epochs, eta_min=eta_min),
                   targets, epochs)

    @pytest.mark.parametrize("make", [
        pytest.param(lambda o: StepLR(o, gamma=0.1, step_size=3),
                     id="step_lr"),
        pytest.param(lambda o: LinearLR(o, start_factor=1.0 / 3,
                                        end_factor=0.7, total_iters=4),
                     id="linearlr"),
        pytest.param(lambda o: ConstantLR(o, factor=1.0 / 3, total_iters=4),
                     id="constantlr"),
        pytest.param(lambda o: MultiStepLR(o, gamma=0.1, milestones=[2, 5, 9]),
                     id="multi_step_lr"),
        pytest.param(lambda o: ExponentialLR(o, gamma=0.9), id="exp_lr"),
        pytest.param(lambda o: PolynomialLR(o, power=0.9), id="poly_lr"),
        pytest.param(lambda o: CosineAnnealingLR(o, T_max=5, eta_min=1e-10),
                     id="cos_anneal_lr"),
    ])
    def test_closed_form(self, make):
        # torch: test_closed_form_step_lr, _linearlr, _constantlr,
        # _multi_step_lr, _exp_lr, _poly_lr, _cos_anneal_lr (20 epochs)
        self._test_against_closed_form(make, 20)

    def test_cos_anneal_lr_continue(self):
        eta_min, T_max = 0.1, 5
        scheduler = CosineAnnealingLR(self.opt, T_max=T_max, eta_min=eta_min)
        self._step()
        scheduler.step()
        original = scheduler._last_lr
        new = CosineAnnealingLR(self.opt, T_max=T_max, eta_min=eta_min,
                                last_epoch=0)._last_lr
        torch.testing.assert_close(torch.tensor(new), torch.tensor(original),
                                   rtol=1e-4, atol=1e-5)

    def _plateau_lr(self, lr=0.5):
        for group in self.opt.param_groups:
            group["lr"] = lr

    def test_reduce_lr_on_plateau1(self):
        self._plateau_lr()
        targets = [[0.5] * 20]
        metrics = [10 - i * 0.0167 for i in range(20)]
        s = ReduceLROnPlateau(self.opt, threshold_mode="abs", mode="min",
                              threshold=0.01, patience=5, cooldown=5)
        self._test_reduce_lr_on_plateau(s, targets, metrics, 10)

    def test_reduce_lr_on_plateau2(self):
        self._plateau_lr()
        targets = [[0.5] * 6 + [0.05] * 7 + [0.005] * 7 + [0.0005] * 2]
        metrics = [10 - i * 0.0165 for i in range(22)]
        s = ReduceLROnPlateau(self.opt, patience=5, cooldown=0,
                              threshold_mode="abs", mode="min", threshold=0.1)
        self._test_reduce_lr_on_plateau(s, targets, metrics, 22)

    def test_reduce_lr_on_plateau3(self):
        self._plateau_lr()
        targets = [[0.5] * (2 + 6) + [0.05] * (5 + 6) + [0.005] * 4]
        metrics = [-0.8] * 2 + [-0.234] * 20
        s = ReduceLROnPlateau(self.opt, mode="max", patience=5, cooldown=5,
                              threshold_mode="abs")
        self._test_reduce_lr_on_plateau(s, targets, metrics, 22)

    def test_reduce_lr_on_plateau4(self):
        self._plateau_lr()
        targets = [[0.5] * 20]
        metrics = [1.5 * (1.025 ** i) for i in range(20)]
        s = ReduceLROnPlateau(self.opt, mode="max", patience=3,
                              threshold_mode="rel", threshold=0.1)
        self._test_reduce_lr_on_plateau(s, targets, metrics, 20)

    def test_reduce_lr_on_plateau5(self):
        self._plateau_lr()
        targets = [[0.5] * 6 + [0.05] * (5 + 6) + [0.005] * 4]
        metrics = [1.5 * (1.005 ** i) for i in range(20)]
        s = ReduceLROnPlateau(self.opt, mode="max", threshold_mode="rel",
                              threshold=0.1, patience=5, cooldown=5)
        self._test_reduce_lr_on_plateau(s, targets, metrics, 20)

    def test_reduce_lr_on_plateau6(self):
        self._plateau_lr()
        targets = [[0.5] * 20]
        metrics = [1.5 * (0.85 ** i) for i in range(20)]
        s = ReduceLROnPlateau(self.opt, mode="min", threshold_mode="rel",
                              threshold=0.1)
        self._test_reduce_lr_on_plateau(s, targets, metrics, 20)

    def test_reduce_lr_on_plateau7(self):
        self._plateau_lr()
        targets = [[0.5] * 6 + [0.05] * (5 + 6) + [0.005] * 4]
        metrics = [1] * 7 + [0.6] + [0.5] * 12
        s = ReduceLROnPlateau(self.opt, mode="min", threshold_mode="rel",
                              threshold=0.1, patience=5, cooldown=5)
        self._test_reduce_lr_on_plateau(s, targets, metrics, 20)

    def test_reduce_lr_on_plateau8(self):
        self._plateau_lr()
        targets = [[0.5] * 6 + [0.4] * 14, [0.5] * 6 + [0.3] * 14]
        metrics = [1.5 * (1.005 ** i) for i in range(20)]
        s = ReduceLROnPlateau(self.opt, mode="max", threshold_mode="rel",
                              min_lr=[0.4, 0.3], threshold=0.1, patience=5,
                              cooldown=5)
        self._test_reduce_lr_on_plateau(s, targets, metrics, 20)

    def test_sequentiallr1(self):
        targets = [[0.05, 0.04, 0.032] + [0.05] * 4 + [0.005] * 4 +
                   [0.0005] * 4 + [0.00005] * 4]
        schedulers = [ExponentialLR(self.opt, gamma=0.8),
                      StepLR(self.opt, gamma=0.1, step_size=4)]
        s = SequentialLR(self.opt, schedulers=schedulers, milestones=[3])
        self._test(s, targets, 19)

    def test_sequentiallr2(self):
        targets = [[0.005, 0.005, 0.005] + [0.05 * 0.9 ** x
                                            for x in range(10)]]
        schedulers = [ConstantLR(self.opt, factor=0.1, total_iters=3),
                      ExponentialLR(self.opt, gamma=0.9)]
        s = SequentialLR(self.opt, schedulers=schedulers, milestones=[3])
        self._test(s, targets, 13)

    def test_sequentiallr3(self):
        targets = [[0.005, 0.005, 0.005] + [0.05, 0.04, 0.032] +
                   [0.05, 0.05, 0.005, 0.005, 0.0005, 0.0005]]
        schedulers = [ConstantLR(self.opt, factor=0.1, total_iters=3),
                      ExponentialLR(self.opt, gamma=0.8),
                      StepLR(self.opt, gamma=0.1, step_size=2)]
        s = SequentialLR(self.opt, schedulers=schedulers, milestones=[3, 6])
        self._test(s, targets, 12)

    def test_sequentiallr4(self):
        p = torch.tensor(0.5, requires_grad=True)
        _with_grads([p])
        optimizer = ot.SGD([p], lr=0.1)
        prev_lr = optimizer.param_groups[0]["lr"]
        schedulers = [ConstantLR(optimizer, factor=1),
                      ConstantLR(optimizer, factor=0.1)]
        SequentialLR(optimizer, schedulers, milestones=[10])
        assert optimizer.param_groups[0]["lr"] == prev_lr

    def test_get_last_lr_sequentiallr(self):
        schedulers = [ConstantLR(self.opt, factor=0.1, total_iters=3),
                      ExponentialLR(self.opt, gamma=0.8),
                      StepLR(self.opt, gamma=0.1, step_size=2)]
        s = SequentialLR(self.opt, schedulers=schedulers, milestones=[3, 6])
        single = ([0.005] * 3 + [0.05, 0.04, 0.032] +
                  [0.05, 0.05, 0.005, 0.005, 0.0005, 0.0005])
        targets = [single, [x * 10 for x in single]]
        self._test_get_last_lr(s, targets, 12)

    def test_chained_lr2_get_last_lr_before_step(self):
        schedulers = [LinearLR(self.opt, start_factor=0.4, total_iters=3),
                      MultiStepLR(self.opt, milestones=[4, 8, 10], gamma=0.1)]
        s = ChainedScheduler(schedulers)
        assert s.get_last_lr() == schedulers[-1].get_last_lr()

    def _chained(self, schedulers, targets, epochs):
        s = ChainedScheduler(schedulers)
        self._test([s], targets, epochs)
        assert s.get_last_lr() == schedulers[-1].get_last_lr()

    def test_chained_lr1(self):
        self._chained([StepLR(self.opt, gamma=0.1, step_size=3)],
                      [[0.05] * 3 + [0.005] * 3 + [0.0005] * 3 +
                       [0.00005] * 3], 10)

    def test_chained_lr2(self):
        self._chained([LinearLR(self.opt, start_factor=0.4, total_iters=3)],
                      [[0.02, 0.03, 0.04] + [0.05] * 9], 10)

    def test_chained_lr3(self):
        self._chained(
            [LinearLR(self.opt, start_factor=0.4, total_iters=3),
             MultiStepLR(self.opt, milestones=[4, 8, 10], gamma=0.1)],
            [[0.02, 0.03, 0.04, 0.05] + [0.005] * 4 + [0.0005] * 3 +
             [0.00005] * 3], 10)

    def test_chained_lr4(self):
        targets = [[0.05 * 0.2 * 0.9 ** x for x in range(3)] +
                   [0.05 * 0.2 * 0.9 ** 3 * 0.1] +
                   [0.05 * 0.9 ** x * 0.1 for x in range(4, 6)] +
                   [0.05 * 0.9 ** x * 0.01 for x in range(6, 9)]]
        self._chained([ExponentialLR(self.opt, gamma=0.9),
                       ConstantLR(self.opt, factor=0.2, total_iters=4),
                       StepLR(self.opt, gamma=0.1, step_size=3)], targets, 9)

    def test_chained_lr5(self):
        epochs, power, total, factor = 10, 0.9, 5, 0.1

        def poly_lr(lr):
            return ([lr * ((1.0 - x / total) ** power) for x in range(total)]
                    + [0.0] * (epochs - total))

        targets = [[x * factor for x in poly_lr(0.05)],
                   [x * factor for x in poly_lr(0.5)]]
        schedulers = [PolynomialLR(self.opt, power=power, total_iters=total),
                      ConstantLR(self.opt, factor=factor)]
        s = ChainedScheduler(schedulers)
        self._test(s, targets, epochs)
        assert s.get_last_lr() == schedulers[-1].get_last_lr()

    def test_compound_step_and_multistep_lr(self):
        schedulers = [StepLR(self.opt, gamma=0.1, step_size=3),
                      MultiStepLR(self.opt, gamma=0.1, milestones=[2, 5, 9])]
        targets = [[0.05] * 2 + [0.005] * 1 + [5e-4] * 2 + [5e-5] +
                   [5e-6] * 3 + [5e-8]]
        self._test(schedulers, targets, 10)

    def test_compound_step_and_exp_lr(self):
        single = [0.05 * (0.9 ** x) for x in range(3)]
        single += [0.005 * (0.9 ** x) for x in range(3, 6)]
        single += [0.0005 * (0.9 ** x) for x in range(6, 9)]
        single += [0.00005 * (0.9 ** x) for x in range(9, 12)]
        targets = [single, [x * 10 for x in single]]
        schedulers = [StepLR(self.opt, gamma=0.1, step_size=3),
                      ExponentialLR(self.opt, gamma=0.9)]
        self._test(schedulers, targets, 10)

    def test_compound_exp_and_multistep_lr(self):
        single = [0.05 * (0.9 ** x) for x in range(2)]
        single += [0.005 * (0.9 ** x) for x in range(2, 5)]
        single += [0.0005 * (0.9 ** x) for x in range(5, 9)]
        single += [0.00005 * (0.9 ** x) for x in range(9, 11)]
        targets = [single, [x * 10 for x in single]]
        schedulers = [MultiStepLR(self.opt, gamma=0.1, milestones=[2, 5, 9]),
                      ExponentialLR(self.opt, gamma=0.9)]
        self._test(schedulers, targets, 10)

    def test_compound_exp_and_linearlr(self):
        iters, start, end = 4, 0.4, 0.9
        single = [0.05 * (0.9 ** x) for x in range(11)]
        for i in range(iters):
            single[i] *= start + i / iters * (end - start)
        for i in range(iters, 11):
            single[i] *= end
        targets = [single, [x * 10 for x in single]]
        schedulers = [LinearLR(self.opt, start_factor=start, end_factor=end,
                               total_iters=iters),
                      ExponentialLR(self.opt, gamma=0.9)]
        self._test(schedulers, targets, 10)

    def test_compound_step_and_constantlr(self):
        single = ([0.05 * 0.4] * 3 + [0.005 * 0.4] + [0.005] * 2 +
                  [0.0005] * 3 + [0.00005] * 3)
        targets = [single, [x * 10 for x in single]]
        schedulers = [StepLR(self.opt, gamma=0.1, step_size=3),
                      ConstantLR(self.opt, factor=0.4, total_iters=4)]
        self._test(schedulers, targets, 10)

    def test_compound_linearlr_and_multistep_lr(self):
        iters, start = 4, 0.4
        single = [0.05] * 2 + [0.005] * 3 + [0.0005] * 4 + [0.00005] * 2
        for i in range(iters):
            single[i] *= start + i / iters * (1 - start)
        targets = [single, [x * 10 for x in single]]
        schedulers = [MultiStepLR(self.opt, gamma=0.1, milestones=[2, 5, 9]),
                      LinearLR(self.opt, start_factor=start,
                               total_iters=iters)]
        self._test(schedulers, targets, 10)

    @staticmethod
    def _cos_targets(epochs=10, eta_min=1e-10):
        return [eta_min + (0.05 - eta_min) *
                (1 + math.cos(math.pi * x / epochs)) / 2
                for x in range(epochs)]

    def test_compound_cosanneal_and_step_lr(self):
        single = [x * 0.1 ** (i // 3)
                  for i, x in enumerate(self._cos_targets())]
        targets = [single, [x * 10 for x in single]]
        schedulers = [CosineAnnealingLR(self.opt, T_max=10, eta_min=1e-10),
                      StepLR(self.opt, gamma=0.1, step_size=3)]
        self._test(schedulers, targets, 10)

    def test_compound_cosanneal_and_multistep_lr(self):
        mult = [1] * 2 + [0.1] * 3 + [0.01] * 4 + [0.001]
        single = [x * y for x, y in zip(self._cos_targets(), mult)]
        targets = [single, [x * 10 for x in single]]
        schedulers = [CosineAnnealingLR(self.opt, T_max=10, eta_min=1e-10),
                      MultiStepLR(self.opt, gamma=0.1, milestones=[2, 5, 9])]
        self._test(schedulers, targets, 10)

    def test_compound_cosanneal_and_linearlr(self):
        iters, start = 4, 0.4
        single = self._cos_targets()
        for i in range(iters):
            single[i] *= start + i / iters * (1 - start)
        targets = [single, [x * 10 for x in single]]
        schedulers = [LinearLR(self.opt, start_factor=start,
                               total_iters=iters),
                      CosineAnnealingLR(self.opt, T_max=10, eta_min=1e-10)]
        self._test(schedulers, targets, 10)

    def test_compound_cosanneal_and_exp_lr(self):
        single = [x * 0.1 ** i for i, x in enumerate(self._cos_targets())]
        targets = [single, [x * 10 for x in single]]
        schedulers = [CosineAnnealingLR(self.opt, T_max=10, eta_min=1e-10),
                      ExponentialLR(self.opt, gamma=0.1)]
        self._test(schedulers, targets, 10)

    # torch's test_compound_reduce_lr_on_plateau1..5 set `targets =
    # targets[1:]` (an empty list), so they check no learning rate; they run
    # the schedulers and steps all the same, as here.
    def test_compound_reduce_lr_on_plateau1(self):
        self._plateau_lr()
        metrics = [10 - i * 0.0167 for i in range(20)]
        schedulers = [ReduceLROnPlateau(self.opt, threshold_mode="abs",
                                        mode="min", threshold=0.01,
                                        patience=5, cooldown=5),
                      StepLR(self.opt, gamma=0.1, step_size=3)]
        self._test_reduce_lr_on_plateau(schedulers, [], metrics, 10)

    def test_compound_reduce_lr_on_plateau2(self):
        self._plateau_lr()
        metrics = [10 - i * 0.0165 for i in range(22)]
        schedulers = [ReduceLROnPlateau(self.opt, patience=5, cooldown=0,
                                        threshold_mode="abs", mode="min",
                                        threshold=0.1),
                      MultiStepLR(self.opt, gamma=0.1, milestones=[3, 8, 12])]
        self._test_reduce_lr_on_plateau(schedulers, [], metrics, 22)

    def test_compound_reduce_lr_on_plateau3(self):
        self._plateau_lr()
        metrics = [-0.8] * 2 + [-0.234] * 20
        schedulers = [ReduceLROnPlateau(self.opt, mode="max", patience=5,
                                        cooldown=5, threshold_mode="abs"),
                      ExponentialLR(self.opt, gamma=0.1)]
        self._test_reduce_lr_on_plateau(schedulers, [], metrics, 22)

    def test_compound_reduce_lr_on_plateau4(self):
        self._plateau_lr(0.05)
        metrics = [1.5 * (1.025 ** i) for i in range(20)]
        schedulers = [ReduceLROnPlateau(self.opt, mode="max", patience=3,
                                        threshold_mode="rel", threshold=0.1),
                      CosineAnnealingLR(self.opt, 10, 1e-10)]
        self._test_reduce_lr_on_plateau(schedulers, [], metrics, 10)

    def test_compound_reduce_lr_on_plateau5(self):
        self._plateau_lr()
        metrics = [10 - i * 0.0165 for i in range(22)]
        schedulers = [ReduceLROnPlateau(self.opt, patience=5, cooldown=0,
                                        threshold_mode="abs", mode="min",
                                        threshold=0.1),
                      LinearLR(self.opt, start_factor=0.4, total_iters=4)]
        self._test_reduce_lr_on_plateau(schedulers, [], metrics, 22)

    def test_cycle_lr_invalid_mode(self):
        with pytest.raises(ValueError):
            CyclicLR(self.opt, base_lr=0, max_lr=0, mode="CATS")

    def test_cycle_lr_triangular_mode_one_lr(self):
        lr = [1, 2, 3, 4, 5, 4, 3, 2, 1, 2, 3]
        mom = [5, 4, 3, 2, 1, 2, 3, 4, 5, 4, 3]
        s = CyclicLR(self.opt, base_lr=1, max_lr=5, step_size_up=4,
                     cycle_momentum=True, base_momentum=1, max_momentum=5,
                     mode="triangular")
        self._test_cycle_lr(s, [lr, lr], [mom, mom], len(lr))

    def test_cycle_lr_triangular_mode_one_lr_no_momentum(self):
        lr = [1, 2, 3, 4, 5, 4, 3, 2, 1, 2, 3]
        mom = [self.opt.defaults["momentum"]] * len(lr)
        s = CyclicLR(self.opt, base_lr=1, max_lr=5, step_size_up=4,
                     cycle_momentum=False, mode="triangular")
        self._test_cycle_lr(s, [lr, lr], [mom, mom], len(lr))

    def test_cycle_lr_triangular2_mode_one_lr(self):
        lr = [1, 2, 3, 4, 5, 4, 3, 2, 1, 1.5, 2.0, 2.5, 3.0, 2.5, 2.0, 1.5,
              1, 1.25, 1.50, 1.75, 2.00, 1.75]
        mom = [5.0, 4.0, 3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 5.0, 4.5, 4.0, 3.5,
               3.0, 3.5, 4.0, 4.5, 5.0, 4.75, 4.5, 4.25, 4.0, 4.25]
        s = CyclicLR(self.opt, base_lr=1, max_lr=5, step_size_up=4,
                     cycle_momentum=True, base_momentum=1, max_momentum=5,
                     mode="triangular2")
        self._test_cycle_lr(s, [lr, lr], [mom, mom], len(lr))

    def test_cycle_lr_exp_range_mode_one_lr(self):
        base, top, gamma = 1, 5, 0.9
        xs = [0, 0.25, 0.5, 0.75, 1, 0.75, 0.50, 0.25, 0, 0.25, 0.5, 0.75, 1]
        lr = [base + x * (top - base) * gamma ** i for i, x in enumerate(xs)]
        mom = [top - x * (top - base) * gamma ** i for i, x in enumerate(xs)]
        s = CyclicLR(self.opt, base_lr=base, max_lr=top, step_size_up=4,
                     cycle_momentum=True, base_momentum=base,
                     max_momentum=top, mode="exp_range", gamma=gamma)
        self._test_cycle_lr(s, [lr, lr], [mom, mom], len(lr))

    def test_cycle_lr_triangular_mode(self):
        lr1 = [1, 2, 3, 4, 5, 4, 3, 2, 1, 2, 3]
        mom1 = [5, 4, 3, 2, 1, 2, 3, 4, 5, 4, 3]
        s = CyclicLR(self.opt, base_lr=[1, 2], max_lr=[5, 6], step_size_up=4,
                     cycle_momentum=True, base_momentum=[1, 2],
                     max_momentum=[5, 6], mode="triangular")
        self._test_cycle_lr(s, [lr1, [x + 1 for x in lr1]],
                            [mom1, [x + 1 for x in mom1]], len(lr1))

    def test_cycle_lr_triangular2_mode(self):
        lr1 = [1, 2, 3, 4, 5, 4, 3, 2, 1, 1.5, 2.0, 2.5, 3.0, 2.5, 2.0, 1.5,
               1, 1.25, 1.50, 1.75, 2.00, 1.75]
        mom1 = [5.0, 4.0, 3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 5.0, 4.5, 4.0, 3.5,
                3.0, 3.5, 4.0, 4.5, 5.0, 4.75, 4.5, 4.25, 4.0, 4.25]
        s = CyclicLR(self.opt, base_lr=[1, 3], max_lr=[5, 7], step_size_up=4,
                     cycle_momentum=True, base_momentum=[1, 3],
                     max_momentum=[5, 7], mode="triangular2")
        self._test_cycle_lr(s, [lr1, [x + 2 for x in lr1]],
                            [mom1, [x + 2 for x in mom1]], len(lr1))

    def test_cycle_lr_exp_range_mode(self):
        b1, m1, b2, m2, gamma = 1, 5, 5, 12, 0.9
        xs = [0, 0.25, 0.5, 0.75, 1, 0.75, 0.50, 0.25, 0, 0.25, 0.5, 0.75, 1]
        lr1 = [b1 + x * (m1 - b1) * gamma ** i for i, x in enumerate(xs)]
        lr2 = [b2 + x * (m2 - b2) * gamma ** i for i, x in enumerate(xs)]
        mom1 = [m1 - x * (m1 - b1) * gamma ** i for i, x in enumerate(xs)]
        mom2 = [m2 - x * (m2 - b2) * gamma ** i for i, x in enumerate(xs)]
        s = CyclicLR(self.opt, base_lr=[b1, b2], max_lr=[m1, m2],
                     step_size_up=4, cycle_momentum=True,
                     base_momentum=[b1, b2], max_momentum=[m1, m2],
                     mode="exp_range", gamma=gamma)
        self._test_cycle_lr(s, [lr1, lr2], [mom1, mom2], len(lr1))

    def test_cycle_lr_triangular_mode_step_size_up_down(self):
        lr = [1.0, 2.0, 3.0, 4.0, 5.0, 13.0 / 3, 11.0 / 3, 9.0 / 3, 7.0 / 3,
              5.0 / 3, 1.0]
        mom = [5.0, 4.0, 3.0, 2.0, 1.0, 5.0 / 3, 7.0 / 3, 3.0, 11.0 / 3,
               13.0 / 3, 5.0]
        s = CyclicLR(self.opt, base_lr=1, max_lr=5, step_size_up=4,
                     step_size_down=6, cycle_momentum=True, base_momentum=1,
                     max_momentum=5, mode="triangular")
        self._test_cycle_lr(s, [lr, lr], [mom, mom], len(lr))

    def test_cycle_lr_triangular2_mode_step_size_up_down(self):
        lr_base = [1.0, 3.0, 5.0, 13.0 / 3, 11.0 / 3, 9.0 / 3, 7.0 / 3,
                   5.0 / 3, 1.0, 2.0, 3.0, 8.0 / 3, 7.0 / 3, 6.0 / 3, 5.0 / 3,
                   4.0 / 3, 1.0, 3.0 / 2, 2.0, 11.0 / 6, 10.0 / 6, 9.0 / 6,
                   8.0 / 6, 7.0 / 6]
        mom_base = [5.0, 3.0, 1.0, 5.0 / 3, 7.0 / 3, 3.0, 11.0 / 3, 13.0 / 3,
                    5.0, 4.0, 3.0, 10.0 / 3, 11.0 / 3, 4.0, 13.0 / 3,
                    14.0 / 3, 5.0, 4.5, 4.0, 25.0 / 6, 13.0 / 3, 4.5,
                    14.0 / 3, 29.0 / 6]
        deltas = [0, 2]
        base_lrs = [1 + d for d in deltas]
        max_lrs = [5 + d for d in deltas]
        s = CyclicLR(self.opt, base_lr=base_lrs, max_lr=max_lrs,
                     step_size_up=2, step_size_down=6, cycle_momentum=True,
                     base_momentum=base_lrs, max_momentum=max_lrs,
                     mode="triangular2")
        self._test_cycle_lr(s, [[x + d for x in lr_base] for d in deltas],
                            [[x + d for x in mom_base] for d in deltas],
                            len(lr_base))

    def test_cycle_lr_exp_range_mode_step_size_up_down(self):
        base, top, gamma = 1, 5, 0.9
        xs = [0.0, 0.5, 1.0, 5.0 / 6, 4.0 / 6, 3.0 / 6, 2.0 / 6, 1.0 / 6,
              0.0, 0.5, 1.0, 5.0 / 6, 4.0 / 6]
        lr = [base + x * (top - base) * gamma ** i for i, x in enumerate(xs)]
        mom = [top - x * (top - base) * gamma ** i for i, x in enumerate(xs)]
        s = CyclicLR(self.opt, base_lr=base, max_lr=top, step_size_up=2,
                     step_size_down=6, cycle_momentum=True,
                     base_momentum=base, max_momentum=top, mode="exp_range",
                     gamma=gamma)
        self._test_cycle_lr(s, [lr, lr], [mom, mom], len(lr))

    def test_cycle_lr_with_momentumless_optimizer(self):
        self.opt = self._adam()
        lr = [1, 2, 3, 4, 5, 4, 3, 2, 1, 2, 3]
        mom = [None] * len(lr)
        s = CyclicLR(self.opt, base_lr=1, max_lr=5, step_size_up=4,
                     cycle_momentum=False, mode="triangular")
        self._test_cycle_lr(s, [lr, lr], [mom, mom], len(lr))

    def test_cycle_lr_cycle_momentum_fail_with_momentumless_optimizer(self):
        with pytest.raises(ValueError):
            adam_opt = ot.Adam(self.net.parameters())
            CyclicLR(adam_opt, base_lr=1, max_lr=5, cycle_momentum=True)

    def test_onecycle_lr_invalid_anneal_strategy(self):
        with pytest.raises(ValueError):
            OneCycleLR(self.opt, max_lr=1e-3, total_steps=10,
                       anneal_strategy="CATS")

    def test_onecycle_lr_invalid_pct_start(self):
        with pytest.raises(ValueError):
            OneCycleLR(self.opt, max_lr=1e-3, total_steps=10, pct_start=1.1)

    def test_onecycle_lr_cannot_calculate_total_steps(self):
        with pytest.raises(ValueError):
            OneCycleLR(self.opt, max_lr=1e-3)

    def test_onecycle_lr_linear_annealing(self):
        lr = [1, 13, 25, 21.5, 18, 14.5, 11, 7.5, 4, 0.5]
        mom = [22, 11.5, 1, 4, 7, 10, 13, 16, 19, 22]
        s = OneCycleLR(self.opt, max_lr=25, final_div_factor=2,
                       base_momentum=1, max_momentum=22, total_steps=10,
                       anneal_strategy="linear")
        self._test_cycle_lr(s, [lr, lr], [mom, mom], 10)

    def test_onecycle_lr_linear_annealing_three_phases(self):
        lr = [1, 9, 17, 25, 17, 9, 1, 0.75, 0.5, 0.25]
        mom = [22, 15, 8, 1, 8, 15, 22, 22, 22, 22]
        s = OneCycleLR(self.opt, max_lr=25, div_factor=25, base_momentum=1,
                       max_momentum=22, total_steps=10,
                       anneal_strategy="linear", pct_start=0.4,
                       final_div_factor=4, three_phase=True)
        self._test_cycle_lr(s, [lr, lr], [mom, mom], 10)

    def test_onecycle_lr_cosine_annealing(self):
        def cos(start, end, pct):
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)

        lr = ([1, 13, 25] + [cos(25, 0.5, i / 7.0) for i in range(1, 7)] +
              [0.5])
        mom = ([22, 11.5, 1] + [cos(1, 22, i / 7.0) for i in range(1, 7)] +
               [22])
        s = OneCycleLR(self.opt, max_lr=25, final_div_factor=2,
                       base_momentum=1, max_momentum=22, total_steps=10)
        self._test_cycle_lr(s, [lr, lr], [mom, mom], 10)

    def test_cycle_lr_with_adam(self):
        # beta1 runs from 22 through 1 here, where torch's own Adam divides
        # by zero (1 - beta1^t): no gradients, as in torch's test, so the
        # steps do nothing.
        for p in self.net.parameters():
            p.grad = None
        self.opt = self._adam()
        lr = [1, 13, 25, 21.5, 18, 14.5, 11, 7.5, 4, 0.5]
        mom = [22, 11.5, 1, 4, 7, 10, 13, 16, 19, 22]
        s = OneCycleLR(self.opt, max_lr=25, final_div_factor=2,
                       base_momentum=1, max_momentum=22, total_steps=10,
                       anneal_strategy="linear")
        self._test_cycle_lr(s, [lr, lr], [mom, mom], 10, use_beta1=True)

    def test_lambda_lr(self):
        self.opt.param_groups[0]["lr"] = 0.05
        self.opt.param_groups[1]["lr"] = 0.4
        targets = [[0.05 * (0.9 ** x) for x in range(10)],
                   [0.4 * (0.8 ** x) for x in range(10)]]
        s = LambdaLR(self.opt, lr_lambda=[lambda x1: 0.9 ** x1,
                                          lambda x2: 0.8 ** x2])
        self._test(s, targets, 10)

    def test_multiplicative_lr(self):
        self.opt.param_groups[0]["lr"] = 0.05
        self.opt.param_groups[1]["lr"] = 0.4
        targets = [[0.05 * (0.9 ** x) for x in range(10)],
                   [0.4 * (0.8 ** x) for x in range(10)]]
        s = MultiplicativeLR(self.opt,
                             lr_lambda=[lambda x1: 0.9, lambda x2: 0.8])
        self._test(s, targets, 10)

    @pytest.mark.parametrize("T_mult", [1, 2, 4])
    def test_CosineAnnealingWarmRestarts_lr1(self, T_mult):
        iters, eta_min, T_i, T_cur = 100, 1e-10, 10, 0
        targets = [[0.05], [0.5]]
        s = CosineAnnealingWarmRestarts(self.opt, T_0=T_i, T_mult=T_mult,
                                        eta_min=eta_min)
        for _ in range(1, iters):
            T_cur += 1
            if T_cur >= T_i:
                T_cur = T_cur - T_i
                T_i = int(T_mult) * T_i
            c = (1 + math.cos(math.pi * T_cur / T_i)) / 2
            targets[0] += [eta_min + (0.05 - eta_min) * c]
            targets[1] += [eta_min + (0.5 - eta_min) * c]
        self._test(s, targets, iters)

    def test_CosineAnnealingWarmRestarts_lr2(self):
        iters, eta_min = 30, 1e-10
        for T_mult in [1, 2, 4]:
            T_i, T_cur = 10, 0
            targets = [[0.05], [0.5]]
            s = CosineAnnealingWarmRestarts(self.opt, T_0=T_i, T_mult=T_mult,
                                            eta_min=eta_min)
            for _ in torch.arange(0.1, iters, 0.1):
                T_cur = round(T_cur + 0.1, 1)
                if T_cur >= T_i:
                    T_cur = T_cur - T_i
                    T_i = int(T_mult) * T_i
                c = (1 + math.cos(math.pi * T_cur / T_i)) / 2
                targets[0] += [eta_min + (0.05 - eta_min) * c]
                targets[1] += [eta_min + (0.5 - eta_min) * c]
            self._test_CosineAnnealingWarmRestarts(s, targets, iters)

    def test_CosineAnnealingWarmRestarts_lr3(self):
        epochs_for = [[0, 1, 2, 3, 4, 5, 12, 27, 3, 4, 5, 6, 13],
                      [0, 1, 2, 3, 4, 5, 25, 32, 33, 34, 80, 81, 3],
                      [0, 0.1, 0.2, 0.3, 1.3, 2.3, 17.5, 18.5, 19.5, 29.5,
                       30.5, 31.5, 50]]
        T_curs_for = [[1, 2, 3, 4, 5, 2, 7, 3, 4, 5, 6, 3],
                      [1, 2, 3, 4, 5, 15, 2, 3, 4, 10, 11, 3],
                      [0.1, 0.2, 0.3, 1.3, 2.3, 7.5, 8.5, 9.5, 19.5, 20.5,
                       21.5, 10]]
        T_is_for = [[10] * 12,
                    [10, 10, 10, 10, 10, 20, 40, 40, 40, 80, 80, 10],
                    [10, 10, 10, 10, 10, 30, 30, 30, 30, 30, 30, 90]]
        eta_min = 1e-10
        for epochs, T_mult, T_curs, T_is in zip(epochs_for, [1, 2, 3],
                                                T_curs_for, T_is_for):
            targets = [[0.05], [0.5]]
            s = CosineAnnealingWarmRestarts(self.opt, T_0=10, T_mult=T_mult,
                                            eta_min=eta_min)
            for T_cur, T_i in zip(T_curs, T_is):
                c = (1 + math.cos(math.pi * T_cur / T_i)) / 2
                targets[0] += [eta_min + (0.05 - eta_min) * c]
                targets[1] += [eta_min + (0.5 - eta_min) * c]
            self._test_interleaved_CosineAnnealingWarmRestarts(s, targets,
                                                               epochs)

    def test_swalr_no_anneal(self):
        epochs, swa_start, swa_lr = 10, 5, 0.01
        initial = [g["lr"] for g in self.opt.param_groups]
        targets = [[lr] * (swa_start + 1) + [swa_lr] * (epochs - swa_start - 1)
                   for lr in initial]
        swa = SWALR(self.opt, anneal_epochs=1, swa_lr=swa_lr)
        self._test_swalr(swa, None, targets, swa_start, epochs)

    def test_swalr_cosine_anneal_after_multiplicative(self):
        epochs, swa_start, swa_lr, anneal_epochs, mult = 15, 5, 0.01, 5, 0.9
        scheduler = MultiplicativeLR(self.opt, lr_lambda=lambda e: mult)
        swa = SWALR(self.opt, anneal_epochs=anneal_epochs, swa_lr=swa_lr)

        def coef(t):
            if t + 1 >= anneal_epochs:
                return 0.0
            return (1 + math.cos(math.pi * (t + 1) / anneal_epochs)) / 2

        initial = [g["lr"] for g in self.opt.param_groups]
        before = [[lr * mult ** i for i in range(swa_start + 1)]
                  for lr in initial]
        n = epochs - swa_start - 1
        targets = [lrs + [lrs[-1] * coef(t) + swa_lr * (1 - coef(t))
                          for t in range(n)] for lrs in before]
        self._test_swalr(swa, scheduler, targets, swa_start, epochs)

    def test_swalr_linear_anneal_after_multiplicative(self):
        epochs, swa_start, swa_lrs, anneal_epochs, mult = (15, 5, [0.01, 0.02],
                                                            4, 0.9)
        scheduler = MultiplicativeLR(self.opt, lr_lambda=lambda e: mult)
        swa = SWALR(self.opt, anneal_epochs=anneal_epochs,
                    anneal_strategy="linear", swa_lr=swa_lrs)

        def coef(t):
            if t + 1 >= anneal_epochs:
                return 0.0
            return 1 - (t + 1) / anneal_epochs

        initial = [g["lr"] for g in self.opt.param_groups]
        before = [[lr * mult ** i for i in range(swa_start + 1)]
                  for lr in initial]
        n = epochs - swa_start - 1
        targets = [lrs + [lrs[-1] * coef(t) + swa_lr * (1 - coef(t))
                          for t in range(n)]
                   for lrs, swa_lr in zip(before, swa_lrs)]
        self._test_swalr(swa, scheduler, targets, swa_start, epochs)

    def test_swalr_hypers(self):
        with pytest.raises(ValueError, match="anneal_strategy must"):
            SWALR(self.opt, anneal_strategy="exponential", swa_lr=1.0)
        with pytest.raises(ValueError, match="anneal_epochs must"):
            SWALR(self.opt, anneal_epochs=-1, swa_lr=1.0)
        with pytest.raises(ValueError, match="anneal_epochs must"):
            SWALR(self.opt, anneal_epochs=1.7, swa_lr=1.0)
        with pytest.raises(ValueError, match="swa_lr must"):
            SWALR(self.opt, swa_lr=[1.0, 0.1, 0.01])

    def test_step_lr_state_dict(self):
        self._check_scheduler_state_dict(
            lambda: StepLR(self.opt, gamma=0.1, step_size=3),
            lambda: StepLR(self.opt, gamma=0.01 / 2, step_size=1))

    def test_multi_step_lr_state_dict(self):
        self._check_scheduler_state_dict(
            lambda: MultiStepLR(self.opt, gamma=0.1, milestones=[2, 5, 9]),
            lambda: MultiStepLR(self.opt, gamma=0.01, milestones=[1, 4, 6]))

    def test_exp_step_lr_state_dict(self):
        self._check_scheduler_state_dict(
            lambda: ExponentialLR(self.opt, gamma=0.1),
            lambda: ExponentialLR(self.opt, gamma=0.01))

    def test_cosine_lr_state_dict(self):
        self._check_scheduler_state_dict(
            lambda: CosineAnnealingLR(self.opt, T_max=10, eta_min=1e-10),
            lambda: CosineAnnealingLR(self.opt, T_max=5, eta_min=1e-10 / 2),
            epochs=10)

    def test_reduce_lr_on_plateau_state_dict(self):
        s = ReduceLROnPlateau(self.opt, mode="min", factor=0.1, patience=2)
        for score in [1.0, 2.0, 3.0, 4.0, 3.0, 4.0, 5.0, 3.0, 2.0, 1.0]:
            self._step()
            s.step(score)
        copy_ = ReduceLROnPlateau(self.opt, mode="max", factor=0.5,
                                  patience=10)
        copy_.load_state_dict(s.state_dict())
        for key in s.__dict__:
            if key not in {"optimizer", "is_better"}:
                assert s.__dict__[key] == copy_.__dict__[key]

    def test_lambda_lr_state_dict_fn(self):
        s = LambdaLR(self.opt, lr_lambda=lambda x: x)
        state = s.state_dict()
        assert state["lr_lambdas"][0] is None
        copy_ = LambdaLR(self.opt, lr_lambda=lambda x: x)
        copy_.load_state_dict(state)
        for key in s.__dict__:
            if key not in {"optimizer", "lr_lambdas"}:
                assert s.__dict__[key] == copy_.__dict__[key]

    def test_lambda_lr_state_dict_obj(self):
        s = LambdaLR(self.opt, lr_lambda=LambdaLRTestObject(10))
        state = s.state_dict()
        assert state["lr_lambdas"][0] is not None
        copy_ = LambdaLR(self.opt, lr_lambda=LambdaLRTestObject(-1))
        copy_.load_state_dict(state)
        for key in s.__dict__:
            if key != "optimizer":
                assert s.__dict__[key] == copy_.__dict__[key]

    def test_CosineAnnealingWarmRestarts_lr_state_dict(self):
        self._check_scheduler_state_dict(
            lambda: CosineAnnealingWarmRestarts(self.opt, T_0=10, T_mult=2),
            lambda: CosineAnnealingWarmRestarts(self.opt, T_0=100))

    def test_swa_lr_state_dict(self):
        self._check_scheduler_state_dict(
            lambda: SWALR(self.opt, anneal_epochs=3, swa_lr=0.5),
            lambda: SWALR(self.opt, anneal_epochs=10,
                          anneal_strategy="linear", swa_lr=5.0))

    def test_cosine_then_cyclic(self):
        max_lr, base_lr, optim_lr = 0.3, 0.1, 0.5
        model = torch.nn.Linear(2, 1)
        _with_grads(model.parameters())
        optimizer = ot.SGD(model.parameters(), lr=optim_lr)
        s1 = CosineAnnealingLR(optimizer, T_max=20, eta_min=0.1)
        s2 = CyclicLR(optimizer, base_lr=base_lr, max_lr=max_lr,
                      step_size_up=1, step_size_down=3)
        for i in range(40):
            optimizer.step()
            if i <= s1.T_max:
                s1.step()
            else:
                s2.step()
            last_lr = optimizer.param_groups[0]["lr"]
        assert last_lr <= max_lr


# --- SWA utilities -----------------------------------------------------------
# torch: TestSWAUtils. torch moves the network's parameters with
# `p.add_(randn)`; here optim_mlir.torch.SGD(lr=1) does it, from gradients
# `-randn` (p - 1 * (-r) is p + r exactly).

def _swa_net():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 5, kernel_size=3), torch.nn.ReLU(),
        torch.nn.MaxPool2d(kernel_size=2),
        torch.nn.BatchNorm2d(5, momentum=0.3),
        torch.nn.Conv2d(5, 2, kernel_size=3), torch.nn.ReLU(),
        torch.nn.Linear(5, 5), torch.nn.ReLU(), torch.nn.Linear(5, 10))


def _random_step(opt, params):
    moves = []
    for p in params:
        r = torch.randn_like(p)
        p.grad = -r
        moves.append(r)
    opt.step()
    return moves


def test_averaged_model():
    # torch: TestSWAUtils.test_averaged_model_all_devices (CPU, CPU)
    torch.manual_seed(0)
    dnn = _swa_net()
    params = list(dnn.parameters())
    opt = ot.SGD(params, lr=1.0)
    averaged = AveragedModel(dnn, device=torch.device("cpu"))
    expected = [torch.zeros_like(p) for p in params]
    n = 10
    for _ in range(n):
        _random_step(opt, params)
        for p, e in zip(params, expected):
            e += p.detach() / n
        averaged.update_parameters(dnn)
    for e, p_swa in zip(expected, averaged.parameters()):
        torch.testing.assert_close(p_swa, e)


def test_averaged_model_state_dict():
    # torch: TestSWAUtils.test_averaged_model_state_dict
    torch.manual_seed(0)
    dnn = torch.nn.Sequential(torch.nn.Conv2d(1, 5, kernel_size=3),
                              torch.nn.Linear(5, 10))
    params = list(dnn.parameters())
    opt = ot.SGD(params, lr=1.0)
    averaged = AveragedModel(dnn)
    averaged2 = AveragedModel(dnn)
    for _ in range(10):
        _random_step(opt, params)
        averaged.update_parameters(dnn)
    averaged2.load_state_dict(averaged.state_dict())
    for a, b in zip(averaged.parameters(), averaged2.parameters()):
        torch.testing.assert_close(a, b)
    assert averaged.n_averaged == averaged2.n_averaged


def test_averaged_model_exponential():
    # torch: TestSWAUtils.test_averaged_model_exponential
    torch.manual_seed(0)
    dnn = torch.nn.Sequential(torch.nn.Conv2d(1, 5, kernel_size=3),
                              torch.nn.Linear(5, 10))
    params = list(dnn.parameters())
    opt = ot.SGD(params, lr=1.0)
    alpha = 0.9

    def avg_fn(p_avg, p, n_avg):
        return alpha * p_avg + (1 - alpha) * p

    averaged = AveragedModel(dnn, avg_fn=avg_fn)
    expected = [torch.zeros_like(p) for p in params]
    for i in range(10):
        _random_step(opt, params)
        expected = [p.detach().clone() if i == 0 else
                    (e * alpha + p.detach() * (1 - alpha))
                    for p, e in zip(params, expected)]
        averaged.update_parameters(dnn)
    for e, p_swa in zip(expected, averaged.parameters()):
        torch.testing.assert_close(p_swa, e)
