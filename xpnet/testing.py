"""Helpers for testing ops: finite-difference gradient checks and closeness assertions.

Used by xpnet's own tests and by anyone writing a new op:

>>> x = random_inputs("cpu", (3, 4))[0]
>>> gradcheck(xpnet.functional.tanh, x)                     # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np

from . import backend as _backend
from .autograd import Tensor, no_grad

__all__ = ["gradcheck", "assert_close", "random_inputs", "GradcheckError"]


class GradcheckError(AssertionError):
    """Raised when analytic and numeric gradients disagree."""


def _host(x) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.numpy()
    if _backend.is_array(x):
        return _backend.to_numpy(x)
    return np.asarray(x)


def assert_close(actual, expected, rtol: float = 1e-5, atol: float = 1e-7, msg: str = ""):
    """Assert two tensors / arrays / numbers are elementwise close (shapes must match)."""
    a, e = _host(actual), _host(expected)
    if a.shape != e.shape:
        raise AssertionError(f"assert_close: shapes differ, got {a.shape} and expected {e.shape}"
                             + (f"; {msg}" if msg else ""))
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=msg)


def random_inputs(device, *shapes, dtype="float64", requires_grad=True, seed=0, low=-1.0,
                  high=1.0):
    """Tensors of uniform(low, high) values of the given shapes on ``device`` (seeded)."""
    rng = np.random.default_rng(seed)
    backend = _backend.resolve(device)
    return [Tensor(backend.asarray(rng.uniform(low, high, size=shape).astype(dtype)),
                   requires_grad=requires_grad) for shape in shapes]


def _outputs(result):
    return result if isinstance(result, (tuple, list)) else (result,)


def gradcheck(fn, *inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4,
              seed: int = 0, **kwargs) -> bool:
    """Compare autograd's gradients of ``fn(*inputs, **kwargs)`` with central differences.

    Every output is projected on a fixed random direction (so the whole Jacobian is checked,
    not just its column sums). Inputs that require grad must be float64. On failure the error
    names the input, its worst element, both values and the difference.
    """
    checked = [(i, t) for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; pass tensors with requires_grad=True")
    for i, t in checked:
        if _backend.dtype_name(t.dtype) != "float64":
            raise TypeError(f"gradcheck: input {i} must be float64 for finite differences, got "
                            f"{_backend.dtype_name(t.dtype)}")
    rng = np.random.default_rng(seed)
    outs = _outputs(fn(*inputs, **kwargs))
    directions = [rng.standard_normal(o.shape) for o in outs]

    def projected(with_grad: bool):
        outs = _outputs(fn(*inputs, **kwargs))
        if not with_grad:
            return float(sum(np.sum(o.numpy().astype(np.float64) * d)
                             for o, d in zip(outs, directions)))
        total = None
        for o, d in zip(outs, directions):
            if not o.requires_grad:
                continue
            term = (o * Tensor(o.backend.asarray(d, o.dtype))).sum()
            total = term if total is None else total + term
        return total

    for _, t in checked:
        t.grad = None
    loss = projected(True)
    if loss is None:
        raise GradcheckError("gradcheck: no output requires grad, so nothing can be checked")
    loss.backward()
    analytic = [np.zeros(t.shape) if t.grad is None else t.grad.numpy().astype(np.float64)
                for _, t in checked]

    with no_grad():
        for (index, t), grad in zip(checked, analytic):
            original = t.data
            host = t.numpy().astype(np.float64).copy()
            numeric = np.zeros_like(host)
            flat, num_flat = host.reshape(-1), numeric.reshape(-1)
            for k in range(flat.size):
                keep = flat[k]
                flat[k] = keep + eps
                t.data = t.backend.asarray(host)
                plus = projected(False)
                flat[k] = keep - eps
                t.data = t.backend.asarray(host)
                minus = projected(False)
                flat[k] = keep
                num_flat[k] = (plus - minus) / (2 * eps)
            t.data = original
            err = np.abs(grad - numeric) - (atol + rtol * np.abs(numeric))
            if err.size and err.max() > 0:
                worst = np.unravel_index(int(np.argmax(err)), err.shape)
                raise GradcheckError(
                    f"gradcheck: gradient of input {index} (shape {t.shape}) is wrong at "
                    f"{tuple(int(w) for w in worst)}: autograd {grad[worst]:.8g}, finite "
                    f"differences {numeric[worst]:.8g}, |diff| "
                    f"{abs(grad[worst] - numeric[worst]):.3g} (atol {atol}, rtol {rtol})")
    for _, t in checked:
        t.grad = None
    return True
