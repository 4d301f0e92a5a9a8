"""Adam and AdamW (decoupled weight decay), exactly PyTorch's rule with bias correction."""
from __future__ import annotations

import math

from .. import kernels
from ..checks import describe, number
from .optimizer import Optimizer, with_l2


# p, m, v (and v_max) are updated in place (see the kernel contract in optimizer.py); every
# coefficient, 1 − β included, comes from the host.

def _moments(g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2):
    m *= beta1
    m += one_minus_beta1 * g
    v *= beta2
    v += one_minus_beta2 * (g * g)


def _descend(xp, p, m, v, step_size, sqrt_bias2, eps):
    denom = xp.sqrt(v)
    denom /= sqrt_bias2
    denom += eps
    p -= step_size * (m / denom)


def adam_step(xp, p, g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2, step_size,
              sqrt_bias2, eps, decay):
    """m ← β1·m + (1 − β1)·g ;  v ← β2·v + (1 − β2)·g²
    p ← p − step_size·m / (√v / √(1 − β2^t) + eps),  step_size = lr / (1 − β1^t)"""
    _moments(g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2)
    _descend(xp, p, m, v, step_size, sqrt_bias2, eps)


def amsgrad_step(xp, p, g, m, v, v_max, beta1, one_minus_beta1, beta2, one_minus_beta2,
                 step_size, sqrt_bias2, eps, decay):
    """Adam whose denominator uses the running maximum of v."""
    _moments(g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2)
    v_max[...] = xp.maximum(v_max, v)
    _descend(xp, p, m, v_max, step_size, sqrt_bias2, eps)


def with_decoupled_decay(step):
    """AdamW: ``p ← p·decay`` (decay = 1 − lr·weight_decay, from the host) before the Adam step,
    as PyTorch's ``param.mul_(1 - lr * weight_decay)``."""
    def update(xp, p, grad, *rest):
        p *= rest[-1]
        step(xp, p, grad, *rest)
    update.__name__ = update.__qualname__ = f"{step.__name__}_decoupled"
    return update


# one kernel per variant (on CuPy), picked in Python: weight decay none / L2 / decoupled
_KERNELS = {(amsgrad, decay): kernels.fuse(wrap(fn) if wrap else fn)
            for amsgrad, fn in ((False, adam_step), (True, amsgrad_step))
            for decay, wrap in (("none", None), ("l2", with_l2),
                                ("decoupled", with_decoupled_decay))}


class Adam(Optimizer):
    """Adam (Kingma & Ba): moments of the gradient with bias correction.

    Args:
        lr: step size (default 1e-3).
        betas: decay rates of the first and second moments (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty added to the gradient (AdamW decouples it).
        amsgrad: use the maximum of past second moments.
    """

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))

    def validate(self, group):
        super().validate(group)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{self.name}: betas must be a pair of numbers in [0, 1), got "
                            f"{describe(betas)}")
        for which, beta in zip(("betas[0]", "betas[1]"), betas):
            number(self.name, which, beta, minimum=0, maximum=1, max_open=True)
        group["betas"] = tuple(betas)

    def state_names(self, group):
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def init_state(self, p, state, group):
        xp = p.backend.xp
        state["exp_avg"] = xp.zeros_like(p.array)
        state["exp_avg_sq"] = xp.zeros_like(p.array)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.zeros_like(p.array)

    def update(self, p, grad, state, group):
        t = state["step"]
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        # bias corrections as Python floats from the Python step count: no device sync
        coefficients = (beta1, 1.0 - beta1, beta2, 1.0 - beta2, lr / (1.0 - beta1 ** t),
                        math.sqrt(1.0 - beta2 ** t), eps)
        if wd == 0.0:
            decay, factor = "none", 0.0
        elif self.decoupled:
            decay, factor = "decoupled", 1.0 - lr * wd
        else:
            decay, factor = "l2", wd
        amsgrad = bool(group["amsgrad"])
        if amsgrad and "max_exp_avg_sq" not in state:   # switched on after the first step
            state["max_exp_avg_sq"] = p.backend.xp.zeros_like(p.array)
        buffers = [state["exp_avg"], state["exp_avg_sq"]] + (
            [state["max_exp_avg_sq"]] if amsgrad else [])
        _KERNELS[amsgrad, decay](p.backend.xp, p.array, grad, *buffers, *coefficients, factor)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p ← p·(1 − lr·wd)`` before the
    Adam step, instead of adding ``wd·p`` to the gradient. Default weight_decay 1e-2."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
