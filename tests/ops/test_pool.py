import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet.testing import assert_close, gradcheck, random_inputs


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def pool_loops(x, kernel, stride, padding, kind, grad_y, count_include_pad=True):
    """Direct loops: output and input gradient; max gives each window's gradient to its first
    arg-max in row-major window order."""
    (kh, kw) = _pair(kernel)
    (sh, sw) = _pair(stride if stride is not None else kernel)
    (ph, pw) = _pair(padding)
    n, c, h, w = x.shape
    fill = -np.inf if kind == "max" else 0.0
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), fill)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    inside = np.zeros(xp.shape[2:])
    inside[ph:ph + h, pw:pw + w] = 1
    ho, wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    y, gx = np.zeros((n, c, ho, wo)), np.zeros_like(xp)
    for b in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    r, s = i * sh, j * sw
                    window = xp[b, ch, r:r + kh, s:s + kw]
                    g = grad_y[b, ch, i, j]
                    if kind == "max":
                        p, q = np.unravel_index(np.argmax(window), window.shape)  # first max
                        y[b, ch, i, j] = window[p, q]
                        gx[b, ch, r + p, s + q] += g
                    else:
                        count = kh * kw if count_include_pad else inside[r:r + kh, s:s + kw].sum()
                        y[b, ch, i, j] = window.sum() / count
                        gx[b, ch, r:r + kh, s:s + kw] += g / count
    return y, gx[:, :, ph:ph + h, pw:pw + w]


# (x shape, kernel, stride, padding)
CASES = {
    "2x2_disjoint": ((2, 3, 6, 8), 2, None, 0),
    "odd_size_floor": ((1, 2, 7, 5), 2, None, 0),
    "overlapping_3s2": ((2, 2, 7, 7), 3, 2, 0),
    "overlapping_s1": ((1, 2, 5, 6), 2, 1, 0),
    "padded": ((2, 1, 6, 5), 3, 2, 1),
    "non_square": ((1, 2, 6, 7), (2, 3), (2, 1), (1, 0)),
    "kernel_1": ((1, 2, 3, 4), 1, None, 0),
    "global": ((2, 3, 4, 4), 4, None, 0),
}


@pytest.mark.parametrize("name", CASES)
def test_max_pool2d_matches_a_loop_reference_with_gradients(device, name):
    shape, kernel, stride, padding = CASES[name]
    x, = random_inputs(device, shape, seed=1)
    y = F.max_pool2d(x, kernel, stride, padding)
    grad_y = np.random.default_rng(2).standard_normal(y.shape)
    y_ref, gx = pool_loops(x.numpy(), kernel, stride, padding, "max", grad_y)
    assert_close(y, y_ref)
    y.backward(xpnet.tensor(grad_y, device=device))
    assert_close(x.grad, gx, rtol=1e-12)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("name", CASES)
def test_avg_pool2d_matches_a_loop_reference_with_gradients(device, name, count_include_pad):
    shape, kernel, stride, padding = CASES[name]
    x, = random_inputs(device, shape, seed=1)
    y = F.avg_pool2d(x, kernel, stride, padding, count_include_pad)
    grad_y = np.random.default_rng(2).standard_normal(y.shape)
    y_ref, gx = pool_loops(x.numpy(), kernel, stride, padding, "avg", grad_y, count_include_pad)
    assert_close(y, y_ref, rtol=1e-12)
    y.backward(xpnet.tensor(grad_y, device=device))
    assert_close(x.grad, gx, rtol=1e-12)


def test_max_pool2d_sends_a_tied_windows_gradient_to_its_first_maximum(device):
    x = xpnet.tensor([[[[1.0, 3.0, 3.0], [3.0, 0.0, 3.0], [2.0, 3.0, 1.0]]]], device=device,
                     requires_grad=True)
    y = F.max_pool2d(x, 2, 1)       # every window holds several 3s
    assert_close(y, np.full((1, 1, 2, 2), 3.0, dtype=np.float32))
    y.backward(xpnet.tensor([[[[1.0, 10.0], [100.0, 1000.0]]]], device=device))
    # windows (0,0) and (0,1) both pick (0,1); (1,0) picks (1,0); (1,1) picks (1,2)
    assert_close(x.grad, np.array([[[[0, 11, 0], [100, 0, 1000], [0, 0, 0]]]], np.float32))


@pytest.mark.parametrize("name", ["overlapping_3s2", "padded", "non_square"])
def test_pools_match_finite_differences(device, name):
    shape, kernel, stride, padding = CASES[name]
    x, = random_inputs(device, (1,) + shape[1:], seed=3)
    gradcheck(F.max_pool2d, x, kernel, stride, padding)
    gradcheck(F.avg_pool2d, x, kernel, stride, padding)
    gradcheck(F.avg_pool2d, x, kernel, stride, padding, False)


@pytest.mark.parametrize("name", CASES)
def test_pools_match_torch(device, name):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    shape, kernel, stride, padding = CASES[name]
    rng = np.random.default_rng(4)
    host = rng.integers(0, 4, shape).astype(np.float64)     # small integers: many ties
    grad_y = None
    for mine, theirs in ((lambda t: F.max_pool2d(t, kernel, stride, padding),
                          lambda t: tf.max_pool2d(t, kernel, stride, padding)),
                         (lambda t: F.avg_pool2d(t, kernel, stride, padding, False),
                          lambda t: tf.avg_pool2d(t, kernel, stride, padding,
                                                  count_include_pad=False))):
        x = xpnet.tensor(host, device=device, requires_grad=True)
        tx = torch.tensor(host, requires_grad=True)
        y, ty = mine(x), theirs(tx)
        assert_close(y, ty.detach().numpy(), rtol=1e-12)
        grad_y = rng.standard_normal(y.shape)
        y.backward(xpnet.tensor(grad_y, device=device))
        ty.backward(torch.tensor(grad_y))
        assert_close(x.grad, tx.grad.numpy(), rtol=1e-12)


def test_pools_keep_float32(device):
    x, = random_inputs(device, (2, 2, 4, 4), dtype="float32")
    for y in (F.max_pool2d(x, 2), F.avg_pool2d(x, 2)):
        assert xpnet.backend.dtype_name(y.dtype) == "float32" and y.shape == (2, 2, 2, 2)


def test_pools_reject_input_that_is_not_4d(device):
    x, = random_inputs(device, (2, 4, 4))
    with pytest.raises(ValueError, match=r"max_pool2d: input must be 4-D \(N, C, H, W\), got "
                                         r"shape \(2, 4, 4\)"):
        F.max_pool2d(x, 2)
    with pytest.raises(ValueError, match=r"avg_pool2d: input must be 4-D"):
        F.avg_pool2d(x, 2)


def test_pools_reject_a_kernel_larger_than_the_padded_input(device):
    x, = random_inputs(device, (1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"max_pool2d: the kernel must fit in the padded input, "
                                         r"got kernel \(4, 4\) and padded input \(3, 3\)"):
        F.max_pool2d(x, 4)


def test_pools_reject_padding_over_half_the_kernel(device):
    x, = random_inputs(device, (1, 1, 6, 6))
    with pytest.raises(ValueError, match=r"max_pool2d: padding must be between 0 and half the "
                                         r"kernel size \(2, 2\), got \(2, 2\)"):
        F.max_pool2d(x, 2, padding=2)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pools_on_an_empty_batch_or_channel_axis_give_empty_results(device, kind):
    op = F.max_pool2d if kind == "max" else F.avg_pool2d
    for shape, out in (((0, 2, 5, 5), (0, 2, 3, 3)), ((2, 0, 5, 5), (2, 0, 3, 3))):
        x, = random_inputs(device, shape)
        y = op(x, 3, 2, 1)
        assert y.shape == out
        y.sum().backward()
        assert x.grad.shape == shape


def test_pools_reject_an_input_without_pixels(device):
    x, = random_inputs(device, (1, 2, 3, 0))
    with pytest.raises(ValueError, match=r"^avg_pool2d: input must have a non-zero height and "
                                         r"width, got shape \(1, 2, 3, 0\)$"):
        F.avg_pool2d(x, 1, padding=0)


@pytest.mark.parametrize("kernel", [2, 3])
def test_max_pool_propagates_nan_and_keeps_infinities_as_torch(device, kernel):
    """A NaN anywhere in a window makes that window's maximum NaN (PyTorch's max_pool2d, and
    xp.maximum); -inf and +inf are ordinary values. The 2×2 window is one fused pass."""
    rng = np.random.default_rng(0)
    memory = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)           # NHWC memory
    memory[0, 0, 1, 0] = np.nan
    memory[1, 4, 4, 2] = np.inf
    memory[1, 0, 0, 1] = -np.inf
    x = memory.transpose(0, 3, 1, 2)
    got = F.max_pool2d(xpnet.tensor(x, device=device), kernel).numpy()
    ho = 6 // kernel
    windows = x[:, :, :ho * kernel, :ho * kernel].reshape(2, 3, ho, kernel, ho, kernel)
    expected = windows.max(axis=(3, 5))                                       # NaN-propagating
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(got[0, 0, 0, 0]) and np.isinf(got[1, 2, -1, -1])
