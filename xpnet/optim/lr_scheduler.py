"""Learning-rate schedules, stepped once per epoch (PyTorch's classes and formulas)."""
from __future__ import annotations

import bisect
import math

from ..checks import non_negative_int, number, positive_int
from .optimizer import Optimizer


class LRScheduler:
    """Base: sets each group's ``lr`` from ``get_lr()`` at every ``step()``."""

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an xpnet optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def get_lr(self) -> list:
        raise NotImplementedError

    def step(self):
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state: dict):
        self.__dict__.update(state)


class StepLR(LRScheduler):
    """lr = base_lr · gamma^(epoch // step_size)."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        number("StepLR", "gamma", gamma)
        self.step_size, self.gamma = positive_int("StepLR", "step_size", step_size), gamma
        super().__init__(optimizer)

    def get_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr = base_lr · gamma^epoch."""

    def __init__(self, optimizer, gamma: float):
        number("ExponentialLR", "gamma", gamma)
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self):
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr − eta_min)·(1 + cos(π·epoch / T_max)) / 2."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):  # noqa: N803 (PyTorch's name)
        number("CosineAnnealingLR", "T_max", T_max, minimum=1)
        number("CosineAnnealingLR", "eta_min", eta_min)
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def get_lr(self):
        return [self.eta_min + (base - self.eta_min)
                * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """lr = base_lr · lr_lambda(epoch); one function for all groups, or a list of one per
    group. Sets the epoch-0 rate at construction, as PyTorch.

    >>> import xpnet
    >>> opt = xpnet.optim.SGD([xpnet.zeros(1, requires_grad=True)], lr=0.1)
    >>> warmup = LambdaLR(opt, lambda epoch: min(1.0, (epoch + 1) / 4))   # over 4 steps
    >>> warmup.step()
    >>> round(opt.param_groups[0]["lr"], 6)
    0.05
    """

    def __init__(self, optimizer, lr_lambda):
        groups = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else \
            [lr_lambda] * groups
        if len(lambdas) != groups or not all(callable(f) for f in lambdas):
            raise ValueError(f"LambdaLR: lr_lambda must be a callable or a list of {groups} "
                             f"callables (one per parameter group), got {lr_lambda!r}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer)
        self._apply()

    def _apply(self):
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_lr(self):
        return [base * f(self.last_epoch) for base, f in zip(self.base_lrs, self.lr_lambdas)]

    def state_dict(self):  # functions are not state (PyTorch saves them only as objects)
        return {k: v for k, v in super().state_dict().items() if k != "lr_lambdas"}


class LinearLR(LambdaLR):
    """lr = base_lr · factor, the factor moving linearly from ``start_factor`` to
    ``end_factor`` over ``total_iters`` steps, then staying there: the usual warm-up."""

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5):
        number("LinearLR", "start_factor", start_factor, 0, 1, min_open=True)
        number("LinearLR", "end_factor", end_factor, 0, 1)
        total_iters = positive_int("LinearLR", "total_iters", total_iters)
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, \
            total_iters
        super().__init__(optimizer, self._factor)

    def _factor(self, epoch):
        done = min(epoch, self.total_iters) / self.total_iters
        return self.start_factor + (self.end_factor - self.start_factor) * done

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.lr_lambdas = [self._factor] * len(self.base_lrs)


class SequentialLR(LRScheduler):
    """Run ``schedulers`` one after another, switching at the epochs in ``milestones``; each
    starts from its own epoch 0 (PyTorch's rule): warm-up, then decay, for example
    ``SequentialLR(opt, [LinearLR(opt, 0.01, total_iters=100), CosineAnnealingLR(opt, 900)],
    milestones=[100])``."""

    def __init__(self, optimizer, schedulers, milestones):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"SequentialLR: expected an xpnet optimizer, got "
                            f"{type(optimizer).__name__}")
        schedulers, milestones = list(schedulers), list(milestones)
        if not schedulers or len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: expected one milestone fewer than schedulers, got "
                             f"{len(schedulers)} schedulers and milestones {milestones}")
        if milestones != sorted(milestones):
            raise ValueError(f"SequentialLR: milestones must be increasing, got {milestones}")
        for i, sched in enumerate(schedulers):
            if not isinstance(sched, LRScheduler) or sched.optimizer is not optimizer:
                raise ValueError(f"SequentialLR: scheduler {i} must be an LRScheduler of the "
                                 f"same optimizer")
        self.optimizer, self._schedulers, self._milestones = optimizer, schedulers, milestones
        self.last_epoch = 0
        for sched in schedulers[1:]:   # their constructors moved the lr: the first one rules
            sched.last_epoch = -1
        self._start(schedulers[0])

    def _start(self, sched):
        sched.last_epoch = 0
        for group, lr in zip(self.optimizer.param_groups, sched.get_lr()):
            group["lr"] = lr
        sched._last_lr = [g["lr"] for g in self.optimizer.param_groups]
        self._last_lr = list(sched._last_lr)

    def get_lr(self):
        return self.get_last_lr()

    def step(self):
        self.last_epoch += 1
        index = bisect.bisect_right(self._milestones, self.last_epoch)
        sched = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            self._start(sched)
        else:
            sched.step()
            self._last_lr = sched.get_last_lr()

    def state_dict(self):
        return {"last_epoch": self.last_epoch, "_last_lr": self._last_lr,
                "_schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, state):
        self.last_epoch, self._last_lr = state["last_epoch"], list(state["_last_lr"])
        for sched, saved in zip(self._schedulers, state["_schedulers"]):
            sched.load_state_dict(saved)


class ReduceLROnPlateau:
    """Multiply the lr by ``factor`` when a metric has not improved for ``patience`` epochs.

    ``step(metric)`` takes a Python float (read the loss back once per epoch, not per step).
    Improvement is ``metric < best·(1 − threshold)`` in ``'min'`` mode with ``'rel'`` threshold
    (``best − threshold`` with ``'abs'``); after a reduction, ``cooldown`` epochs are not counted.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"ReduceLROnPlateau: expected an xpnet optimizer, got "
                            f"{type(optimizer).__name__}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got "
                             f"{threshold_mode!r}")
        number("ReduceLROnPlateau", "factor", factor, 0, 1, min_open=True, max_open=True)
        non_negative_int("ReduceLROnPlateau", "patience", patience)
        non_negative_int("ReduceLROnPlateau", "cooldown", cooldown)
        self.optimizer, self.mode, self.factor, self.patience = optimizer, mode, factor, patience
        self.threshold, self.threshold_mode, self.cooldown = threshold, threshold_mode, cooldown
        self.min_lr, self.eps = min_lr, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = 0
        self.last_epoch = 0

    def _better(self, value):  # PyTorch's rule, sign conventions included
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return value < (self.best * (1.0 - self.threshold) if rel else self.best - self.threshold)
        return value > (self.best * (1.0 + self.threshold) if rel else self.best + self.threshold)

    def step(self, metric: float):
        self.last_epoch += 1
        value = float(metric)
        if self._better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group in self.optimizer.param_groups:
                new_lr = max(group["lr"] * self.factor, self.min_lr)
                if group["lr"] - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state):
        self.__dict__.update(state)
