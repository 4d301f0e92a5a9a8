"""Adam and AdamW (decoupled weight decay), exactly PyTorch's rule with bias correction."""
from __future__ import annotations

import math

from .. import backend as _backend
from .optimizer import Optimizer, _check, with_l2


# p, m and v are updated in place, as PyTorch does (fewer temporaries on NumPy); the gradient
# is never written to.

def _moments(xp, g, m, v, beta1, beta2):
    m *= beta1
    m += (1.0 - beta1) * g
    v *= beta2
    v += (1.0 - beta2) * (g * g)


def _descend(xp, p, m, v, step_size, sqrt_bias2, eps):
    denom = xp.sqrt(v)
    denom /= sqrt_bias2
    denom += eps
    p -= step_size * (m / denom)
    return p


def adam_step(xp, p, g, m, v, beta1, beta2, step_size, sqrt_bias2, eps):
    """m ← β1·m + (1 − β1)·g ;  v ← β2·v + (1 − β2)·g²
    p ← p − step_size·m / (√v / √(1 − β2^t) + eps),  step_size = lr / (1 − β1^t)"""
    _moments(xp, g, m, v, beta1, beta2)
    return _descend(xp, p, m, v, step_size, sqrt_bias2, eps), m, v


def amsgrad_step(xp, p, g, m, v, v_max, beta1, beta2, step_size, sqrt_bias2, eps):
    """Adam whose denominator uses the running maximum of v."""
    _moments(xp, g, m, v, beta1, beta2)
    v_max = xp.maximum(v_max, v)
    return _descend(xp, p, m, v_max, step_size, sqrt_bias2, eps), m, v, v_max


def with_decoupled_decay(step):
    """AdamW: the step taken from ``p·decay`` (decay = 1 − lr·weight_decay), as PyTorch's
    ``param.mul_(1 - lr * weight_decay)`` before the Adam step; takes ``(xp, p, grad, decay, *rest)``."""
    def update(xp, p, grad, decay, *rest):
        return step(xp, p * decay, grad, *rest)
    update.__name__ = update.__qualname__ = f"{step.__name__}_decoupled"
    return update


# one kernel per variant (on CuPy), picked in Python: weight decay none / L2 / decoupled
_KERNELS = {(amsgrad, decay): _backend.fuse(wrap(fn) if wrap else fn)
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
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad))

    def validate(self, group):
        super().validate(group)
        b1, b2 = group["betas"]
        _check(self.name, 0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0,
               f"betas must be in [0, 1), got {tuple(group['betas'])}")

    def init_state(self, p, state, group):
        xp = p.backend.xp
        state["exp_avg"] = xp.zeros_like(p.data)
        state["exp_avg_sq"] = xp.zeros_like(p.data)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.zeros_like(p.data)

    def update(self, p, grad, state, group):
        xp = p.backend.xp
        t = state["step"]
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        # bias corrections as Python floats from the Python step count: no device sync
        step_size = lr / (1.0 - beta1 ** t)
        sqrt_bias2 = math.sqrt(1.0 - beta2 ** t)
        if wd == 0.0:
            decay, extra = "none", ()
        elif self.decoupled:
            decay, extra = "decoupled", (1.0 - lr * wd,)
        else:
            decay, extra = "l2", (wd,)
        kernel = _KERNELS[bool(group["amsgrad"]), decay]
        if group["amsgrad"]:
            (p.data, state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"]) = kernel(
                xp, p.data, grad, *extra, state["exp_avg"], state["exp_avg_sq"],
                state["max_exp_avg_sq"], beta1, beta2, step_size, sqrt_bias2, eps)
        else:
            p.data, state["exp_avg"], state["exp_avg_sq"] = kernel(
                xp, p.data, grad, *extra, state["exp_avg"], state["exp_avg_sq"], beta1, beta2,
                step_size, sqrt_bias2, eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p ← p·(1 − lr·wd)`` before the
    Adam step, instead of adding ``wd·p`` to the gradient. Default weight_decay 1e-2."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
