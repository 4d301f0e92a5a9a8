import math

import numpy as np
import pytest

import xpnet
from xpnet import nn
from xpnet.optim import clip_grad_norm_, clip_grad_value_
from xpnet.testing import assert_close

RNG = np.random.default_rng(0)
GRADS = [RNG.standard_normal((3, 4)), RNG.standard_normal(5), RNG.standard_normal((2, 1))]


def _with_grads(device, grads=GRADS):
    params = []
    for g in grads:
        p = nn.Parameter(xpnet.tensor(np.zeros_like(g), dtype="float64", device=device))
        p.grad = xpnet.tensor(g, dtype="float64", device=device)
        params.append(p)
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_numpy(device, norm_type, max_norm):
    flat = np.concatenate([g.ravel() for g in GRADS])
    total = np.abs(flat).max() if math.isinf(norm_type) else \
        (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    scale = min(1.0, max_norm / (total + 1e-6))
    params = _with_grads(device)
    returned = clip_grad_norm_(params, max_norm, norm_type)
    assert isinstance(returned, xpnet.Tensor) and returned.shape == () and returned.device == device
    assert float(returned) == pytest.approx(total, rel=1e-12)
    for p, g in zip(params, GRADS):
        assert_close(p.grad, g * scale, rtol=1e-12)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm_matches_torch(norm_type):
    torch = pytest.importorskip("torch")
    ours = _with_grads("cpu")
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in GRADS]
    for p, g in zip(theirs, GRADS):
        p.grad = torch.tensor(g)
    total = clip_grad_norm_(ours, 0.5, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 0.5, norm_type)
    assert float(total) == pytest.approx(expected.item(), rel=1e-12)
    for p, q in zip(ours, theirs):
        assert_close(p.grad, q.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_in_float32_keeps_the_dtype(device):
    params = _with_grads(device)
    for p in params:
        p.array, p.grad = p.astype("float32").array, p.grad.astype("float32")
    clip_grad_norm_(params, 0.1)
    assert all(xpnet.backend.dtype_name(p.grad.dtype) == "float32" for p in params)


def test_clip_grad_norm_accepts_one_tensor_and_skips_missing_gradients(device):
    a, b = _with_grads(device, GRADS[:2])
    b.grad = None
    total = clip_grad_norm_(a, 1.0)
    assert float(total) == pytest.approx(np.linalg.norm(GRADS[0]), rel=1e-12)
    assert float(clip_grad_norm_([b], 1.0)) == 0.0


def test_clip_grad_norm_does_not_change_a_gradient_in_place(device):
    (p,) = _with_grads(device, GRADS[:1])
    before = p.grad
    clip_grad_norm_([p], 0.1)
    assert_close(before, GRADS[0])


@pytest.mark.parametrize("call, error, message", [
    (lambda p: clip_grad_norm_(p, -1), ValueError, r"^clip_grad_norm_: max_norm must be >= 0, got -1$"),
    (lambda p: clip_grad_norm_(p, "1"), TypeError,
     r"^clip_grad_norm_: max_norm must be a number >= 0, got '1' \(str\)$"),
    (lambda p: clip_grad_norm_(p, 1.0, norm_type=0), ValueError,
     r"^clip_grad_norm_: norm_type must be > 0, got 0$"),
    (lambda p: clip_grad_norm_(p, 1.0, norm_type="two"), TypeError,
     r"^clip_grad_norm_: norm_type must be a number > 0, got 'two' \(str\)$"),
    (lambda p: clip_grad_value_(p, -1), ValueError, r"^clip_grad_value_: clip_value must be >= 0, got -1$"),
    (lambda p: clip_grad_value_(p, None), TypeError,
     r"^clip_grad_value_: clip_value must be a number >= 0, got None \(NoneType\)$"),
])
def test_clipping_rejects_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call(_with_grads("cpu"))


def test_clip_grad_norm_takes_the_string_inf_as_pytorch_does():
    params = _with_grads("cpu")
    expected = max(float(np.max(np.abs(g))) for g in GRADS)
    assert clip_grad_norm_(params, 1e9, norm_type="inf").item() == pytest.approx(expected)


def test_clip_grad_value_clamps_each_element(device):
    params = _with_grads(device)
    clip_grad_value_(params, 0.5)
    for p, g in zip(params, GRADS):
        assert_close(p.grad, np.clip(g, -0.5, 0.5))
    with pytest.raises(ValueError, match=r"^clip_grad_value_: clip_value must be >= 0, got -1"):
        clip_grad_value_(params, -1)


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    ours = _with_grads("cpu")
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in GRADS]
    for p, g in zip(theirs, GRADS):
        p.grad = torch.tensor(g)
    clip_grad_value_(ours, 0.3)
    torch.nn.utils.clip_grad_value_(theirs, 0.3)
    for p, q in zip(ours, theirs):
        assert_close(p.grad, q.grad.numpy())
