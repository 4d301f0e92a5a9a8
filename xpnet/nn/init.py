"""Weight initialisation, drawn on the host from xpnet's seed and copied once to the device,
so one seed gives identical initial weights on every device.

Two spellings, as users of either library expect: functions that make a new tensor
(``uniform(shape, low, high, device)``) and PyTorch's in-place ``*_`` versions on a tensor.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend as _backend
from ..autograd import Tensor
from ..checks import number
from ..random import host_rng


def _fans(shape):
    if len(shape) < 2:
        raise ValueError(f"init: fan in and fan out need a tensor of at least 2 dimensions, got "
                         f"shape {tuple(shape)}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity, as in PyTorch."""
    gains = {"linear": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0, "conv_transpose1d": 1.0,
             "conv_transpose2d": 1.0, "conv_transpose3d": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3,
             "relu": math.sqrt(2.0), "selu": 0.75}
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else number("calculate_gain", "negative_slope", param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity not in gains:
        raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}; expected one of "
                         f"{sorted(gains) + ['leaky_relu']}")
    return gains[nonlinearity]


def _tensor(host: np.ndarray, device, dtype) -> Tensor:
    backend = _backend.resolve(device)
    # from_array, not Tensor(...): a NumPy array handed to Tensor() would land on the default device
    return Tensor.from_array(backend.asarray(host, dtype or "float32"), device=backend)


def uniform(shape, low=0.0, high=1.0, device=None, dtype=None) -> Tensor:
    """U(low, high) samples of ``shape`` on ``device`` (default float32)."""
    return _tensor(host_rng().uniform(low, high, size=tuple(shape)), device, dtype)


def normal(shape, mean=0.0, std=1.0, device=None, dtype=None) -> Tensor:
    """N(mean, std²) samples of ``shape`` on ``device`` (default float32)."""
    return _tensor(host_rng().normal(mean, std, size=tuple(shape)), device, dtype)


def zeros(shape, device=None, dtype=None) -> Tensor:
    return _tensor(np.zeros(tuple(shape)), device, dtype)


def ones(shape, device=None, dtype=None) -> Tensor:
    return _tensor(np.ones(tuple(shape)), device, dtype)


def xavier_uniform(shape, gain=1.0, device=None, dtype=None) -> Tensor:
    """Glorot: U(-a, a) with a = gain·sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(shape, -bound, bound, device, dtype)


def xavier_normal(shape, gain=1.0, device=None, dtype=None) -> Tensor:
    """Glorot: N(0, std²) with std = gain·sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape)
    return normal(shape, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), device, dtype)


def _kaiming_std(shape, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(shape)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform(shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu", device=None,
                    dtype=None) -> Tensor:
    """He: U(-b, b) with b = gain·sqrt(3 / fan)."""
    bound = math.sqrt(3.0) * _kaiming_std(shape, a, mode, nonlinearity)
    return uniform(shape, -bound, bound, device, dtype)


def kaiming_normal(shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu", device=None,
                   dtype=None) -> Tensor:
    """He: N(0, std²) with std = gain / sqrt(fan)."""
    return normal(shape, 0.0, _kaiming_std(shape, a, mode, nonlinearity), device, dtype)


def orthogonal(shape, gain=1.0, device=None, dtype=None) -> Tensor:
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one (Saxe et al.)."""
    if len(shape) < 2:
        raise ValueError(f"orthogonal: needs at least 2 dimensions, got shape {tuple(shape)}")
    rows, cols = shape[0], math.prod(shape[1:])
    flat = host_rng().normal(size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))  # make the decomposition unique, as PyTorch does
    if rows < cols:
        q = q.T
    return _tensor(gain * q.reshape(shape), device, dtype)


# -- PyTorch's in-place spellings -------------------------------------------------------------

def _fill(t: Tensor, new: Tensor) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"init: expected a Tensor to fill in place, got {type(t).__name__}")
    from ..autograd.methods import _write
    # written into t's array, so that a view sharing it (``init.uniform_(p.data)``) sees it
    _write(t, "init", Tensor.from_array(t.backend.asarray(new.numpy(), _backend.dtype_name(t.dtype)),
                                        device=t.backend))
    return t


def uniform_(t, a=0.0, b=1.0):
    return _fill(t, uniform(t.shape, a, b, 'cpu', 'float64'))


def normal_(t, mean=0.0, std=1.0):
    return _fill(t, normal(t.shape, mean, std, 'cpu', 'float64'))


def zeros_(t):
    return _fill(t, zeros(t.shape, 'cpu', 'float64'))


def ones_(t):
    return _fill(t, ones(t.shape, 'cpu', 'float64'))


def constant_(t, value):
    return _fill(t, _tensor(np.full(t.shape, float(value)), 'cpu', 'float64'))


def xavier_uniform_(t, gain=1.0):
    return _fill(t, xavier_uniform(t.shape, gain, 'cpu', 'float64'))


def xavier_normal_(t, gain=1.0):
    return _fill(t, xavier_normal(t.shape, gain, 'cpu', 'float64'))


def kaiming_uniform_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    return _fill(t, kaiming_uniform(t.shape, a, mode, nonlinearity, 'cpu', 'float64'))


def kaiming_normal_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    return _fill(t, kaiming_normal(t.shape, a, mode, nonlinearity, 'cpu', 'float64'))


def orthogonal_(t, gain=1.0):
    return _fill(t, orthogonal(t.shape, gain, 'cpu', 'float64'))


glorot_uniform, glorot_normal, he_uniform, he_normal = (xavier_uniform, xavier_normal,
                                                       kaiming_uniform, kaiming_normal)
