import math

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import xpnet
import xpnet.functional as F
from xpnet.testing import assert_close, gradcheck, random_inputs


def _taps(size, out, scale, mode, align_corners):
    """For each output index along one axis: [(source index, weight), ...], written out from
    PyTorch's formulas one position at a time."""
    if out == size:       # an axis whose size stays is copied, whatever the scale
        return [[(i, 1.0)] for i in range(out)]
    taps = []
    for i in range(out):
        if mode == "nearest":
            if out == 2 * size:
                source = i // 2
            else:
                step = np.float32(1.0 / scale) if scale else np.float32(size) / np.float32(out)
                source = min(int(math.floor(np.float32(i) * step)), size - 1)
            taps.append([(source, 1.0)])
            continue
        if align_corners:
            real = (size - 1) / (out - 1) * i if out > 1 else 0.0
        else:
            step = 1.0 / scale if scale else size / out
            real = max(step * (i + 0.5) - 0.5, 0.0)
        first = min(int(math.floor(real)), size - 1)
        second = min(first + 1, size - 1)
        weight = min(max(real - first, 0.0), 1.0)
        taps.append([(first, 1.0 - weight), (second, weight)])
    return taps


def interpolate_loops(x, out, scales, mode, align_corners, grad_y=None):
    """Every output pixel as the weighted sum of its source pixels (and the gradient scattered
    back the same way)."""
    n, c, h, w = x.shape
    rows = _taps(h, out[0], scales[0], mode, align_corners)
    cols = _taps(w, out[1], scales[1], mode, align_corners)
    y = np.zeros((n, c) + tuple(out))
    grad_x = np.zeros_like(x)
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            for r, wr in row:
                for s, ws in col:
                    y[:, :, i, j] += wr * ws * x[:, :, r, s]
                    if grad_y is not None:
                        grad_x[:, :, r, s] += wr * ws * grad_y[:, :, i, j]
    return y if grad_y is None else (y, grad_x)


# (input shape, kwargs)
CASES = {
    "nearest_x2": ((2, 3, 4, 5), dict(scale_factor=2)),
    "nearest_x3_x1": ((1, 2, 3, 4), dict(scale_factor=(3, 1))),
    "nearest_size_down": ((1, 2, 7, 6), dict(size=(3, 4))),
    "nearest_size_up_odd": ((2, 1, 3, 4), dict(size=(7, 5))),
    "nearest_fraction": ((1, 2, 4, 5), dict(scale_factor=(1.7, 0.6))),
    "bilinear_x2": ((2, 2, 3, 4), dict(scale_factor=2, mode="bilinear")),
    "bilinear_size": ((1, 3, 4, 5), dict(size=(3, 9), mode="bilinear")),
    "bilinear_align_corners": ((1, 2, 4, 3), dict(size=(7, 2), mode="bilinear",
                                                  align_corners=True)),
    "bilinear_fraction": ((1, 1, 5, 4), dict(scale_factor=1.5, mode="bilinear")),
    "bilinear_one_axis_keeps_its_size": ((1, 2, 2, 3), dict(scale_factor=(1.25, 2.0),
                                                            mode="bilinear")),
    "bilinear_to_one_pixel": ((1, 2, 3, 3), dict(size=1, mode="bilinear", align_corners=True)),
}


def _geometry(shape, kwargs):
    h, w = shape[2:]
    if "size" in kwargs:
        size = kwargs["size"]
        return ((size, size) if isinstance(size, int) else size), (None, None)
    f = kwargs["scale_factor"]
    f = (f, f) if not isinstance(f, tuple) else f
    return (math.floor(h * f[0]), math.floor(w * f[1])), f


@pytest.mark.parametrize("name", CASES)
def test_interpolate_matches_a_loop_reference_with_gradients(device, name):
    shape, kwargs = CASES[name]
    x, = random_inputs(device, shape, seed=1)
    y = F.interpolate(x, **kwargs)
    out, scales = _geometry(shape, kwargs)
    grad_y = np.random.default_rng(2).standard_normal(y.shape)
    y_ref, grad_ref = interpolate_loops(x.numpy(), out, scales, kwargs.get("mode", "nearest"),
                                        kwargs.get("align_corners"), grad_y)
    assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    y.backward(xpnet.tensor(grad_y, device=device))
    assert_close(x.grad, grad_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["nearest_x2", "nearest_fraction", "bilinear_fraction",
                                  "bilinear_align_corners"])
def test_interpolate_matches_finite_differences(device, name):
    shape, kwargs = CASES[name]
    x, = random_inputs(device, (1, 1) + shape[2:], seed=3)
    gradcheck(F.interpolate, x, **kwargs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", CASES)
def test_interpolate_matches_torch(device, name, dtype):
    torch = pytest.importorskip("torch")
    shape, kwargs = CASES[name]
    x, = random_inputs(device, shape, dtype=dtype, seed=4)
    tx = torch.tensor(x.numpy(), requires_grad=True)
    y, ty = F.interpolate(x, **kwargs), torch.nn.functional.interpolate(tx, **kwargs)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == "float64" else dict(rtol=1e-5, atol=1e-6)
    assert_close(y, ty.detach().numpy(), **tol)
    grad_y = np.random.default_rng(5).standard_normal(y.shape).astype(dtype)
    y.backward(xpnet.tensor(grad_y, device=device))
    ty.backward(torch.tensor(grad_y))
    assert_close(x.grad, tx.grad.numpy(), **tol)


def test_interpolate_keeps_dtype_and_recomputes_the_scale_when_asked(device):
    torch = pytest.importorskip("torch")
    x, = random_inputs(device, (1, 1, 4, 6), dtype="float32", requires_grad=False)
    y = F.interpolate(x, scale_factor=2.5, mode="bilinear", recompute_scale_factor=True)
    assert xpnet.backend.dtype_name(y.dtype) == "float32" and y.shape == (1, 1, 10, 15)
    expected = torch.nn.functional.interpolate(torch.tensor(x.numpy()), scale_factor=2.5,
                                               mode="bilinear", recompute_scale_factor=True)
    assert_close(y, expected.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda x: F.interpolate(x[0], scale_factor=2),
     r"^interpolate: input must be 4-D \(N, C, H, W\), got shape \(1, 3, 3\)$"),
    (lambda x: F.interpolate(x, scale_factor=2, mode="bicubic"),
     r"^interpolate: mode must be one of \('nearest', 'bilinear'\), got 'bicubic'$"),
    (lambda x: F.interpolate(x, scale_factor=2, align_corners=True),
     r"^interpolate: align_corners can only be set with mode='bilinear'"),
    (lambda x: F.interpolate(x), r"^interpolate: exactly one of size and scale_factor must be "
                                 r"given, got size=None and scale_factor=None$"),
    (lambda x: F.interpolate(x, size=4, scale_factor=2), r"^interpolate: exactly one of size"),
    (lambda x: F.interpolate(x, size=(4, 0)),
     r"^interpolate: size must be a positive int or a pair of them, got \(4, 0\)$"),
    (lambda x: F.interpolate(x, scale_factor=-1.0),
     r"^interpolate: scale_factor must be a positive number or a pair of them, got -1.0$"),
    (lambda x: F.interpolate(x, scale_factor=0.2),
     r"^interpolate: input and output sizes must be at least 1, got input \(3, 3\) and output "
     r"\(0, 0\)$"),
], ids=["not_4d", "mode", "align_corners", "neither", "both", "size", "scale", "empty"])
def test_interpolate_rejects_bad_input(device, call, message):
    x, = random_inputs(device, (1, 1, 3, 3))
    with pytest.raises(ValueError, match=message):
        call(x)


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 6), w=st.integers(1, 6), mode=st.sampled_from(["nearest", "bilinear"]),
       by_size=st.booleans(), out=st.tuples(st.integers(1, 13), st.integers(1, 13)),
       factor=st.tuples(st.floats(0.3, 3.5), st.floats(0.3, 3.5)),
       align=st.booleans(), seed=st.integers(0, 2**16))
def test_interpolate_matches_torch_for_any_geometry(h, w, mode, by_size, out, factor, align,
                                                    seed):
    """Property test: random sizes and (fractional) scale factors, nearest and bilinear, the
    forward and the gradient equal PyTorch's in float64."""
    torch = pytest.importorskip("torch")
    kwargs = dict(size=out) if by_size else dict(scale_factor=factor)
    assume(by_size or min(math.floor(h * factor[0]), math.floor(w * factor[1])) >= 1)
    if mode == "bilinear":
        kwargs.update(mode="bilinear", align_corners=align)
    x, = random_inputs("cpu", (1, 2, h, w), seed=seed)
    tx = torch.tensor(x.numpy(), requires_grad=True)
    y, ty = F.interpolate(x, **kwargs), torch.nn.functional.interpolate(tx, **kwargs)
    assert_close(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    grad_y = np.random.default_rng(seed).standard_normal(y.shape)
    y.backward(xpnet.tensor(grad_y))
    ty.backward(torch.tensor(grad_y))
    assert_close(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_interpolate_refuses_integer_input(device):
    x = xpnet.zeros(1, 1, 2, 2, device=device, dtype="int64")
    with pytest.raises(TypeError, match=r"^interpolate: input must be floating-point, got dtype "
                                        r"int64; convert it with .float\(\)$"):
        F.interpolate(x, scale_factor=2)
