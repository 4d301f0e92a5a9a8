"""RMSprop (Hinton), exactly PyTorch's rule: optional momentum and centring."""
from __future__ import annotations

from .. import kernels
from ..checks import number
from .optimizer import Optimizer, with_l2


# In place (see the kernel contract in optimizer.py); 1 − α comes from the host.

def _average(g, square_avg, alpha, one_minus_alpha):
    square_avg *= alpha
    square_avg += one_minus_alpha * (g * g)


def _centre(g, square_avg, grad_avg, alpha, one_minus_alpha):
    """The variance s − ḡ² with ḡ ← α·ḡ + (1 − α)·g."""
    grad_avg *= alpha
    grad_avg += one_minus_alpha * g
    return square_avg - grad_avg * grad_avg


def rmsprop_step(xp, p, g, square_avg, lr, alpha, one_minus_alpha, eps, decay):
    """s ← α·s + (1 − α)·g² ;  p ← p − lr·g / (√s + eps)"""
    _average(g, square_avg, alpha, one_minus_alpha)
    p -= lr * (g / (xp.sqrt(square_avg) + eps))


def centered_step(xp, p, g, square_avg, grad_avg, lr, alpha, one_minus_alpha, eps, decay):
    """As rmsprop_step, with the variance s − ḡ² under the root."""
    _average(g, square_avg, alpha, one_minus_alpha)
    variance = _centre(g, square_avg, grad_avg, alpha, one_minus_alpha)
    p -= lr * (g / (xp.sqrt(variance) + eps))


def momentum_step(xp, p, g, square_avg, buf, lr, alpha, one_minus_alpha, eps, momentum, decay):
    """buf ← momentum·buf + g / (√s + eps) ;  p ← p − lr·buf"""
    _average(g, square_avg, alpha, one_minus_alpha)
    buf *= momentum
    buf += g / (xp.sqrt(square_avg) + eps)
    p -= lr * buf


def centered_momentum_step(xp, p, g, square_avg, grad_avg, buf, lr, alpha, one_minus_alpha,
                           eps, momentum, decay):
    _average(g, square_avg, alpha, one_minus_alpha)
    variance = _centre(g, square_avg, grad_avg, alpha, one_minus_alpha)
    buf *= momentum
    buf += g / (xp.sqrt(variance) + eps)
    p -= lr * buf


# one kernel per variant (on CuPy), keyed by (centered, momentum, weight decay)
_KERNELS = {(centered, momentum, l2): kernels.fuse(with_l2(fn) if l2 else fn)
            for (centered, momentum), fn in (((False, False), rmsprop_step),
                                             ((True, False), centered_step),
                                             ((False, True), momentum_step),
                                             ((True, True), centered_momentum_step))
            for l2 in (False, True)}

_BUFFERS = {(False, False): ("square_avg",), (True, False): ("square_avg", "grad_avg"),
            (False, True): ("square_avg", "momentum_buffer"),
            (True, True): ("square_avg", "grad_avg", "momentum_buffer")}


class RMSprop(Optimizer):
    """Divide the gradient by a running root-mean-square of recent gradients.

    ``g = ∇ + weight_decay·p``; ``s = α·s + (1 − α)·g²``; ``p ← p − lr·g / (√s + eps)``
    (``s − ḡ²`` under the root when centred; a buffer ``buf = momentum·buf + g / (√· + eps)``
    and ``p ← p − lr·buf`` when momentum > 0).

    Args:
        lr: learning rate (default 1e-2).
        alpha: smoothing constant (default 0.99).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0).
        momentum: momentum factor (default 0).
        centered: normalise by the estimated variance instead of the second moment.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def validate(self, group):
        super().validate(group)
        number(self.name, "alpha", group["alpha"], minimum=0, maximum=1)
        number(self.name, "momentum", group["momentum"], minimum=0)

    def state_names(self, group):
        return _BUFFERS[bool(group["centered"]), group["momentum"] > 0]

    def init_state(self, p, state, group):
        xp = p.backend.xp
        state["square_avg"] = xp.zeros_like(p.array)
        if group["momentum"] > 0:
            state["momentum_buffer"] = xp.zeros_like(p.array)
        if group["centered"]:
            state["grad_avg"] = xp.zeros_like(p.array)

    def update(self, p, grad, state, group):
        centered, momentum = bool(group["centered"]), float(group["momentum"])
        wd, alpha = float(group["weight_decay"]), float(group["alpha"])
        names = _BUFFERS[centered, momentum > 0]
        for name in names:   # an option switched on after the first step (param_groups)
            if name not in state:
                state[name] = p.backend.xp.zeros_like(p.array)
        coefficients = (float(group["lr"]), alpha, 1.0 - alpha, float(group["eps"]))
        if momentum > 0:
            coefficients += (momentum,)
        _KERNELS[centered, momentum > 0, wd != 0.0](
            p.backend.xp, p.array, grad, *[state[n] for n in names], *coefficients, wd)
