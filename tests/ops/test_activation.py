import math
import warnings

import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet.testing import assert_close, gradcheck, random_inputs

_erf = np.vectorize(math.erf)


def _softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# name -> (op, numpy reference); inputs are uniform in (-3, 3) and stay away from relu's kink
ACTIVATIONS = {
    "relu": (F.relu, lambda a: np.maximum(a, 0.0)),
    "leaky_relu": (F.leaky_relu, lambda a: np.where(a > 0, a, 0.01 * a)),
    "leaky_relu_slope": (lambda x: F.leaky_relu(x, 0.2), lambda a: np.where(a > 0, a, 0.2 * a)),
    "sigmoid": (F.sigmoid, lambda a: 1.0 / (1.0 + np.exp(-a))),
    "tanh": (F.tanh, np.tanh),
    "gelu": (F.gelu, lambda a: 0.5 * a * (1.0 + _erf(a / math.sqrt(2.0)))),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda a: 0.5 * a * (1.0 + np.tanh(
        math.sqrt(2.0 / math.pi) * (a + 0.044715 * a ** 3)))),
    "softmax": (F.softmax, lambda a: _softmax(a, -1)),
    "softmax_axis_0": (lambda x: F.softmax(x, axis=0), lambda a: _softmax(a, 0)),
    "log_softmax": (F.log_softmax, lambda a: np.log(_softmax(a, -1))),
    "log_softmax_axis_0": (lambda x: F.log_softmax(x, axis=0), lambda a: np.log(_softmax(a, 0))),
    "log_softmax_axis_minus_2": (lambda x: x.log_softmax(-2), lambda a: np.log(_softmax(a, -2))),
}


def _inputs(device):
    x, = random_inputs(device, (2, 3), low=-3.0, high=3.0, seed=11)
    assert np.abs(x.numpy()).min() > 1e-3  # keep relu away from its kink
    return x


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_matches_numpy_and_finite_differences(device, name):
    op, reference = ACTIVATIONS[name]
    x = _inputs(device)
    assert_close(op(x), reference(x.numpy()), rtol=1e-13, atol=1e-15)
    gradcheck(op, x, atol=1e-9, rtol=1e-7)  # tight: gelu's erf must be float64-accurate


def test_gelu_erf_matches_math_erf_over_a_wide_range(device):
    host = np.concatenate([np.linspace(-12.0, 12.0, 481), [-0.6629, 0.6629, 5.657, -5.657]])
    x = xpnet.tensor(host, device=device, requires_grad=True)
    y = F.gelu(x)
    assert_close(y, 0.5 * host * (1.0 + _erf(host / math.sqrt(2.0))), rtol=1e-14, atol=1e-15)
    y.sum().backward()
    pdf = np.exp(-0.5 * host ** 2) / math.sqrt(2.0 * math.pi)
    assert_close(x.grad, 0.5 * (1.0 + _erf(host / math.sqrt(2.0))) + host * pdf,
                 rtol=1e-13, atol=1e-15)
    gradcheck(F.gelu, xpnet.tensor([-4.5, -0.3, 0.2, 0.9, 2.5, 5.0], device=device,
                                   dtype="float64", requires_grad=True), atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_and_tanh_saturate_without_overflow(device, dtype):
    x = xpnet.tensor([-1000.0, -100.0, 0.0, 100.0, 1000.0], device=device, dtype=dtype,
                     requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = F.sigmoid(x)
        y.sum().backward()
        t = F.tanh(x)
    assert_close(y, np.array([0.0, 0.0, 0.5, 1.0, 1.0]), atol=1e-30)
    assert_close(x.grad, np.array([0.0, 0.0, 0.25, 0.0, 0.0]), atol=1e-30)
    assert_close(t, np.array([-1.0, -1.0, 0.0, 1.0, 1.0]), atol=0)


def test_softmax_and_log_softmax_are_stable_for_large_logits(device):
    x = xpnet.tensor(np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0]]), device=device)
    expected = _softmax(np.array([[0.0, 1.0, 2.0], [-2000.0, -1000.0, 0.0]]), -1)
    assert_close(F.softmax(x), expected, rtol=1e-12, atol=1e-300)
    log_p = F.log_softmax(x).numpy()
    assert np.isfinite(log_p).all()
    assert_close(log_p[0], np.log(expected[0]), rtol=1e-12)
    assert_close(log_p[1], [-2000.0, -1000.0, 0.0], atol=1e-12)


def test_relu_and_leaky_relu_gradients_at_and_around_zero(device):
    x = xpnet.tensor([-2.0, 0.0, 3.0], device=device, requires_grad=True)
    (F.relu(x) + F.leaky_relu(x, 0.1)).sum().backward()
    assert_close(x.grad, np.array([0.1, 0.1, 2.0], np.float32))


@pytest.mark.parametrize("op", [F.softmax, F.log_softmax], ids=["softmax", "log_softmax"])
def test_softmax_rejects_an_axis_out_of_range(device, op):
    x, = random_inputs(device, (2, 3))
    name = "softmax" if op is F.softmax else "log_softmax"
    with pytest.raises(ValueError, match=rf"{name}: axis must be in \[-2, 2\) for a 2-D tensor, "
                                         rf"got 2"):
        op(x, 2)


def test_gelu_rejects_an_unknown_approximation(device):
    x, = random_inputs(device, (2,))
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh', got 'erf'"):
        F.gelu(x, approximate="erf")


@pytest.mark.parametrize("name,torch_name,kwargs", [
    ("relu", "relu", {}), ("leaky_relu_slope", "leaky_relu", {"negative_slope": 0.2}),
    ("sigmoid", "sigmoid", {}), ("tanh", "tanh", {}), ("gelu", "gelu", {}),
    ("gelu_tanh", "gelu", {"approximate": "tanh"}), ("softmax", "softmax", {"dim": -1}),
    ("log_softmax_axis_0", "log_softmax", {"dim": 0}),
])
def test_activation_matches_torch(device, name, torch_name, kwargs):
    torch = pytest.importorskip("torch")
    x = _inputs(device)
    tx = torch.tensor(x.numpy(), requires_grad=True)
    weights = np.arange(6.0).reshape(2, 3)
    (ACTIVATIONS[name][0](x) * xpnet.tensor(weights, device=device)).sum().backward()
    ty = getattr(torch.nn.functional, torch_name)(tx, **kwargs)
    (ty * torch.tensor(weights)).sum().backward()
    assert_close(ACTIVATIONS[name][0](x), ty.detach().numpy(), rtol=1e-12, atol=1e-15)
    assert_close(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_relu_keeps_nan_and_zeros_on_a_channels_last_view(device):
    # (the sign of relu(-0.0) is the library's: the standard leaves maximum(-0, +0) open)
    rng = np.random.default_rng(0)
    memory = rng.standard_normal((2, 5, 6, 7)).astype(np.float32)      # NHWC memory
    memory[0, 0, 0, :3] = [np.nan, -0.0, 0.0]
    x = memory.transpose(0, 3, 1, 2)                                      # an NCHW view
    got = F.relu(xpnet.tensor(x, device=device)).numpy()
    expected = np.maximum(x, np.float32(0.0))
    np.testing.assert_array_equal(got, expected)                          # NaN where NaN
