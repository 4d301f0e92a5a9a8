import numpy as np
import pytest

import xpnet
from xpnet.nn.adaptive import AdaptiveAvgPool2d, adaptive_avg_pool2d
from xpnet.testing import assert_close, gradcheck, random_inputs

SIZES = [(1, 1), 2, (3, 4), (None, 2), (5, 3)]


def _reference(x, oh, ow):
    """PyTorch's bins, by loops: rows floor(i·H/oh) .. ceil((i+1)·H/oh)."""
    n, c, h, w = x.shape
    out = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            rows = slice(i * h // oh, -(-(i + 1) * h // oh))
            cols = slice(j * w // ow, -(-(j + 1) * w // ow))
            out[:, :, i, j] = x[:, :, rows, cols].mean(axis=(2, 3))
    return out


@pytest.mark.parametrize("size", SIZES)
def test_adaptive_avg_pool2d_matches_the_bin_rule_and_finite_differences(device, size):
    x, = random_inputs(device, (2, 3, 6, 8))
    oh, ow = (size, size) if isinstance(size, int) else size
    expected = _reference(x.numpy(), oh or 6, ow or 8)
    y = adaptive_avg_pool2d(x, size)
    assert y.shape == expected.shape and y.dtype == x.dtype
    assert_close(y, expected, rtol=1e-12)
    gradcheck(adaptive_avg_pool2d, x, size)


@pytest.mark.parametrize("size", SIZES + [7])
def test_adaptive_avg_pool2d_layer_matches_torch(device, size):
    torch = pytest.importorskip("torch")
    x, = random_inputs(device, (2, 3, 7, 9), dtype="float32")
    x.requires_grad = True
    tx = torch.tensor(x.numpy(), requires_grad=True)
    mine, theirs = AdaptiveAvgPool2d(size), torch.nn.AdaptiveAvgPool2d(size)
    y, ty = mine(x), theirs(tx)
    assert y.shape == tuple(ty.shape) and repr(mine) == repr(theirs)
    assert_close(y, ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    assert_close(x.grad, tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_an_unbatched_input_is_pooled_per_channel(device):
    x = xpnet.arange(16.0, device=device).reshape(1, 4, 4)
    assert adaptive_avg_pool2d(x, 2).tolist() == [[[2.5, 4.5], [10.5, 12.5]]]


def test_adaptive_avg_pool2d_rejects_bad_sizes_and_shapes(device):
    with pytest.raises(ValueError, match="AdaptiveAvgPool2d: output_size must be a positive int"):
        AdaptiveAvgPool2d(0)
    with pytest.raises(ValueError, match=r"input must be \(N, C, H, W\) or \(C, H, W\), got "
                                         r"shape \(2, 3\)"):
        AdaptiveAvgPool2d(1)(xpnet.zeros(2, 3, device=device))
