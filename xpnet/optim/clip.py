"""Gradient clipping by global norm and by value, without reading anything back to the host."""
from __future__ import annotations

import math

from ..autograd import Tensor
from ..checks import number


def _with_grads(parameters):
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0) -> Tensor:
    """Scale all gradients together so their global ``norm_type``-norm is at most ``max_norm``.

    The scale ``min(1, max_norm / (norm + 1e-6))`` is computed on the device, so no value is
    read back (as in PyTorch). Returns the total norm before clipping, as a 0-d Tensor.
    """
    max_norm = number("clip_grad_norm_", "max_norm", max_norm, minimum=0)
    if isinstance(norm_type, str) and norm_type.lower() == "inf":   # PyTorch takes 'inf' too
        norm_type = math.inf
    norm_type = number("clip_grad_norm_", "norm_type", norm_type, minimum=0, min_open=True)
    params = _with_grads(parameters)
    if not params:  # as PyTorch: nothing to clip, the norm is 0
        return Tensor(0.0)
    xp, backend = params[0].xp, params[0].backend
    if math.isinf(norm_type):
        total = None
        for p in params:
            m = xp.max(xp.abs(p.grad.array))
            total = m if total is None else xp.maximum(total, m)
    else:
        total = None
        for p in params:
            part = xp.sum(xp.abs(p.grad.array) ** norm_type) if norm_type != 2.0 else \
                xp.sum(p.grad.array * p.grad.array)
            total = part if total is None else total + part
        total = total ** (1.0 / norm_type)
    scale = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for p in params:
        p.grad = Tensor.from_array(p.grad.array * xp.astype(scale, p.grad.array.dtype),
                                   device=p.backend)
    return Tensor.from_array(total, device=backend)


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient element to ``[-clip_value, clip_value]``."""
    bound = number("clip_grad_value_", "clip_value", clip_value, minimum=0)
    for p in _with_grads(parameters):
        p.grad = Tensor.from_array(p.xp.minimum(p.xp.maximum(p.grad.array, -bound), bound),
                                   device=p.backend)
