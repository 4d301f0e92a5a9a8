"""SGD with momentum, Nesterov momentum and weight decay, exactly PyTorch's rule."""
from __future__ import annotations

from .. import backend as _backend
from .optimizer import Optimizer, _check


@_backend.fuse
def sgd_update(xp, p, grad, lr, weight_decay):
    """p - lr·(grad + weight_decay·p)"""
    return p - lr * (grad + weight_decay * p)


@_backend.fuse
def sgd_momentum_update(xp, p, grad, buf, lr, weight_decay, momentum, dampening, nesterov):
    """buf = momentum·buf + (1 - dampening)·g;  p -= lr·(g + momentum·buf if nesterov else buf)
    with g = grad + weight_decay·p; ``nesterov`` is 1.0 or 0.0 (one kernel for both)."""
    g = grad + weight_decay * p
    buf = momentum * buf + (1.0 - dampening) * g
    step = nesterov * (g + momentum * buf) + (1.0 - nesterov) * buf
    return p - lr * step, buf


@_backend.fuse
def sgd_first_momentum_update(xp, p, grad, lr, weight_decay, momentum, nesterov):
    """The first step: the buffer starts as g itself (PyTorch's convention)."""
    g = grad + weight_decay * p
    step = nesterov * (g + momentum * g) + (1.0 - nesterov) * g
    return p - lr * step, g


class SGD(Optimizer):
    """Stochastic gradient descent.

    ``buf = momentum·buf + (1 − dampening)·g``, ``p ← p − lr·buf`` (or ``g + momentum·buf``
    with Nesterov), ``g = ∇ + weight_decay·p``; the first step sets ``buf = g``.

    >>> opt = SGD(model.parameters(), lr=0.1, momentum=0.9)   # doctest: +SKIP
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def validate(self, group):
        super().validate(group)
        _check(self.name, group["momentum"] >= 0, f"momentum must be >= 0, got {group['momentum']}")
        _check(self.name, group["dampening"] >= 0,
               f"dampening must be >= 0, got {group['dampening']}")
        _check(self.name, not group["nesterov"] or (group["momentum"] > 0
                                                    and group["dampening"] == 0),
               "nesterov needs momentum > 0 and dampening = 0")

    def update(self, p, grad, state, group):
        xp = p.backend.xp
        lr, wd, momentum = float(group["lr"]), float(group["weight_decay"]), float(group["momentum"])
        if momentum == 0.0:
            p.data = sgd_update(xp, p.data, grad, lr, wd)
            return
        nesterov = 1.0 if group["nesterov"] else 0.0
        if "momentum_buffer" not in state:
            p.data, state["momentum_buffer"] = sgd_first_momentum_update(
                xp, p.data, grad, lr, wd, momentum, nesterov)
        else:
            p.data, state["momentum_buffer"] = sgd_momentum_update(
                xp, p.data, grad, state["momentum_buffer"], lr, wd, momentum,
                float(group["dampening"]), nesterov)
