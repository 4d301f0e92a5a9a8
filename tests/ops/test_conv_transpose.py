import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import xpnet
import xpnet.functional as F
from xpnet.testing import assert_close, gradcheck, random_inputs


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv_transpose2d_loops(x, w, b, stride, padding, output_padding, groups, dilation,
                           grad_y=None):
    """Direct scatter-loop transposed conv (and, given grad_y, its gradients) in NumPy: input
    pixel (h, w) of channel c adds w[c, o, i, j]·x to output (s·h + d·i - p, s·w + d·j - p)."""
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    (oh, ow), (dh, dw) = _pair(output_padding), _pair(dilation)
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    cg = c // groups
    height = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oh + 1
    width = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + ow + 1
    y = np.zeros((n, og * groups, height, width))
    gx, gw = np.zeros_like(x), np.zeros_like(w)
    for b_ in range(n):
        for ci in range(c):
            group = ci // cg
            for oc in range(og):
                for i in range(h):
                    for j in range(wd):
                        for p in range(kh):
                            for q in range(kw):
                                r, s = i * sh + p * dh - ph, j * sw + q * dw - pw
                                if not (0 <= r < height and 0 <= s < width):
                                    continue
                                o = group * og + oc
                                y[b_, o, r, s] += w[ci, oc, p, q] * x[b_, ci, i, j]
                                if grad_y is not None:
                                    gx[b_, ci, i, j] += w[ci, oc, p, q] * grad_y[b_, o, r, s]
                                    gw[ci, oc, p, q] += x[b_, ci, i, j] * grad_y[b_, o, r, s]
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    if grad_y is None:
        return y
    return y, gx, gw, grad_y.sum(axis=(0, 2, 3))


# (x shape, weight shape, stride, padding, output_padding, groups, dilation)
CASES = {
    "basic": ((2, 3, 4, 4), (3, 2, 3, 3), 1, 0, 0, 1, 1),
    "dcgan_up": ((2, 4, 3, 3), (4, 2, 4, 4), 2, 1, 0, 1, 1),
    "output_padding": ((1, 2, 3, 4), (2, 3, 3, 3), 2, 1, 1, 1, 1),
    "non_square": ((2, 2, 3, 5), (2, 2, 2, 3), (1, 2), (0, 1), (0, 1), 1, 1),
    "dilation2": ((1, 2, 4, 3), (2, 2, 3, 2), 1, 1, 0, 1, (2, 1)),
    "output_padding_below_dilation": ((1, 1, 3, 3), (1, 2, 3, 3), 1, 0, 1, 1, 2),
    "groups2": ((2, 4, 3, 3), (4, 3, 3, 3), 2, 1, 1, 2, 1),
    "depthwise": ((1, 3, 3, 2), (3, 1, 2, 2), 3, 0, 2, 3, 1),
    "padding_crops_all_but_one": ((1, 2, 2, 2), (2, 1, 3, 3), 1, 1, 0, 1, 1),
    "one_by_one": ((2, 3, 4, 3), (3, 5, 1, 1), 1, 0, 0, 1, 1),
}


@pytest.mark.parametrize("name", CASES)
def test_conv_transpose2d_matches_a_loop_reference_with_gradients(device, name):
    x_shape, w_shape, stride, padding, output_padding, groups, dilation = CASES[name]
    x, w, b = random_inputs(device, x_shape, w_shape, (w_shape[1] * groups,), seed=3)
    y = F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)
    grad_y = np.random.default_rng(4).standard_normal(y.shape)
    y_ref, gx, gw, gb = conv_transpose2d_loops(x.numpy(), w.numpy(), b.numpy(), stride, padding,
                                               output_padding, groups, dilation, grad_y)
    assert_close(y, y_ref, rtol=1e-10, atol=1e-12)
    y.backward(xpnet.tensor(grad_y, device=device))
    assert_close(x.grad, gx, rtol=1e-10, atol=1e-12)
    assert_close(w.grad, gw, rtol=1e-10, atol=1e-12)
    assert_close(b.grad, gb, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["dcgan_up", "output_padding", "groups2"])
def test_conv_transpose2d_matches_finite_differences(device, name):
    x_shape, w_shape, stride, padding, output_padding, groups, dilation = CASES[name]
    x, w, b = random_inputs(device, (1,) + x_shape[1:], w_shape, (w_shape[1] * groups,), seed=5)
    gradcheck(F.conv_transpose2d, x, w, b, stride=stride, padding=padding,
              output_padding=output_padding, groups=groups, dilation=dilation)


def test_conv_transpose2d_without_bias_matches_finite_differences(device):
    x, w = random_inputs(device, (1, 2, 3, 3), (2, 2, 2, 2), seed=6)
    gradcheck(F.conv_transpose2d, x, w, None, stride=2)


def test_conv_transpose2d_is_the_adjoint_of_conv2d(device):
    """<conv2d(u), v> = <u, conv_transpose2d(v)> for the same weight and geometry."""
    u, w = random_inputs(device, (2, 4, 7, 7), (6, 2, 3, 3), requires_grad=False, seed=7)
    y = F.conv2d(u, w, None, stride=2, padding=1, groups=2)
    v, = random_inputs(device, y.shape, requires_grad=False, seed=8)
    back = F.conv_transpose2d(v, w, None, stride=2, padding=1, groups=2)
    assert back.shape == u.shape
    assert np.isclose(float(np.sum(y.numpy() * v.numpy())),
                      float(np.sum(u.numpy() * back.numpy())), rtol=1e-12)


def test_conv_transpose2d_keeps_float32_and_skips_the_input_gradient_of_data(device):
    x, = random_inputs(device, (2, 3, 4, 4), dtype="float32", requires_grad=False)
    w, b = random_inputs(device, (3, 2, 4, 4), (2,), dtype="float32")
    y = F.conv_transpose2d(x, w, b, stride=2, padding=1)
    assert xpnet.backend.dtype_name(y.dtype) == "float32" and y.shape == (2, 2, 8, 8)
    F.relu(y).sum().backward()
    assert x.grad is None and w.grad.shape == (3, 2, 4, 4) and b.grad.shape == (2,)


@pytest.mark.parametrize("name", CASES)
def test_conv_transpose2d_matches_torch(device, name):
    torch = pytest.importorskip("torch")
    x_shape, w_shape, stride, padding, output_padding, groups, dilation = CASES[name]
    x, w, b = random_inputs(device, x_shape, w_shape, (w_shape[1] * groups,), seed=9)
    tx, tw, tb = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, w, b))
    y = F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)
    ty = torch.nn.functional.conv_transpose2d(tx, tw, tb, stride, padding, output_padding,
                                              groups, dilation)
    assert_close(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    grad_y = np.random.default_rng(10).standard_normal(y.shape)
    y.backward(xpnet.tensor(grad_y, device=device))
    ty.backward(torch.tensor(grad_y))
    for mine, theirs in ((x, tx), (w, tw), (b, tb)):
        assert_close(mine.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["dcgan_up", "groups2", "output_padding"])
def test_conv_transpose2d_is_the_same_when_built_in_slabs_of_samples(device, name, monkeypatch):
    from xpnet import cpu
    monkeypatch.setattr(cpu.slabs, "SLAB_ELEMENTS", 1)    # one sample per slab
    x_shape, w_shape, stride, padding, output_padding, groups, dilation = CASES[name]
    x, w = random_inputs(device, (3,) + x_shape[1:], w_shape, seed=11)
    y = F.conv_transpose2d(x, w, None, stride, padding, output_padding, groups, dilation)
    grad_y = np.random.default_rng(12).standard_normal(y.shape)
    y_ref, gx, gw, _ = conv_transpose2d_loops(x.numpy(), w.numpy(), None, stride, padding,
                                              output_padding, groups, dilation, grad_y)
    assert_close(y, y_ref, rtol=1e-10, atol=1e-12)
    y.backward(xpnet.tensor(grad_y, device=device))
    assert_close(x.grad, gx, rtol=1e-10, atol=1e-12)
    assert_close(w.grad, gw, rtol=1e-10, atol=1e-12)


# -- bad input ----------------------------------------------------------------------------------

def test_conv_transpose2d_rejects_input_that_is_not_4d(device):
    x, w = random_inputs(device, (3, 4, 4), (3, 2, 3, 3))
    with pytest.raises(ValueError, match=r"^conv_transpose2d: input must be 4-D \(N, C, H, W\), "
                                         r"got shape \(3, 4, 4\)$"):
        F.conv_transpose2d(x, w)


def test_conv_transpose2d_rejects_a_weight_that_is_not_4d(device):
    x, w = random_inputs(device, (1, 3, 4, 4), (3, 2, 3))
    with pytest.raises(ValueError, match=r"^conv_transpose2d: weight must be a 4-D tensor "
                                         r"\(in_channels, out_channels/groups, KH, KW\), got "
                                         r"\(3, 2, 3\)$"):
        F.conv_transpose2d(x, w)


def test_conv_transpose2d_rejects_a_channel_mismatch(device):
    x, w = random_inputs(device, (2, 4, 3, 3), (3, 2, 3, 3))
    with pytest.raises(ValueError, match=r"^conv_transpose2d: input must have weight.shape\[0\] = "
                                         r"3 channels, got input \(2, 4, 3, 3\) and weight "
                                         r"\(3, 2, 3, 3\)$"):
        F.conv_transpose2d(x, w)


def test_conv_transpose2d_rejects_groups_that_do_not_divide_the_input_channels(device):
    x, w = random_inputs(device, (1, 3, 3, 3), (3, 1, 3, 3))
    with pytest.raises(ValueError, match=r"^conv_transpose2d: groups must divide the input "
                                         r"channels, got groups=2 and 3 input channels$"):
        F.conv_transpose2d(x, w, groups=2)


def test_conv_transpose2d_rejects_a_bias_of_the_wrong_shape(device):
    x, w, b = random_inputs(device, (1, 2, 3, 3), (2, 3, 3, 3), (2,))
    with pytest.raises(ValueError, match=r"^conv_transpose2d: bias must have shape \(3,\), got "
                                         r"\(2,\)$"):
        F.conv_transpose2d(x, w, b)


def test_conv_transpose2d_rejects_output_padding_not_below_the_stride_or_dilation(device):
    x, w = random_inputs(device, (1, 2, 3, 3), (2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"^conv_transpose2d: output_padding must be smaller than "
                                         r"the stride or the dilation, got output_padding "
                                         r"\(2, 2\), stride \(2, 2\) and dilation \(1, 1\)$"):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)


def test_conv_transpose2d_rejects_an_empty_output(device):
    x, w = random_inputs(device, (1, 2, 1, 1), (2, 3, 1, 1))
    with pytest.raises(ValueError, match=r"^conv_transpose2d: the output must be at least 1x1, "
                                         r"got \(-1, -1\) from input \(1, 1\)"):
        F.conv_transpose2d(x, w, padding=1)


@pytest.mark.parametrize("kwargs, message", [
    (dict(stride=0), r"^conv_transpose2d: stride must be positive, got \(0, 0\)$"),
    (dict(padding=-1), r"^conv_transpose2d: padding and output_padding must be non-negative"),
    (dict(groups=0), r"^conv_transpose2d: groups must be a positive int, got 0$"),
    (dict(dilation=(1, 2, 3)), r"^conv_transpose2d: dilation must be an int or a pair of ints"),
], ids=["stride", "padding", "groups", "dilation"])
def test_conv_transpose2d_rejects_bad_arguments(device, kwargs, message):
    x, w = random_inputs(device, (1, 2, 3, 3), (2, 3, 3, 3))
    with pytest.raises((ValueError, TypeError), match=message):
        F.conv_transpose2d(x, w, **kwargs)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), groups=st.sampled_from([1, 2]), cg=st.integers(1, 2),
       og=st.integers(1, 2), kh=st.integers(1, 3), kw=st.integers(1, 3),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       size=st.tuples(st.integers(1, 4), st.integers(1, 4)), extra=st.data(),
       seed=st.integers(0, 2**16))
def test_conv_transpose2d_matches_the_loop_reference_for_any_geometry(
        n, groups, cg, og, kh, kw, stride, padding, dilation, size, extra, seed):
    """Property test: random geometry (odd sizes, batch 1, output_padding below the stride or
    dilation, padding that crops), forward and every gradient equal the loop reference."""
    output_padding = tuple(extra.draw(st.integers(0, max(s, d) - 1))
                           for s, d in zip(stride, dilation))
    out = [(i - 1) * s - 2 * p + d * (k - 1) + o + 1 for i, s, p, d, k, o in
           zip(size, stride, padding, dilation, (kh, kw), output_padding)]
    assume(min(out) >= 1)   # an empty output is rejected: see the bad-input test
    x, w, b = random_inputs("cpu", (n, cg * groups) + size, (cg * groups, og, kh, kw),
                            (og * groups,), seed=seed)
    y = F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)
    grad_y = np.random.default_rng(seed).standard_normal(y.shape)
    ref_y, gx, gw, gb = conv_transpose2d_loops(x.numpy(), w.numpy(), b.numpy(), stride, padding,
                                               output_padding, groups, dilation, grad_y)
    assert_close(y, ref_y, rtol=1e-10, atol=1e-12)
    y.backward(xpnet.tensor(grad_y))
    assert_close(x.grad, gx, rtol=1e-10, atol=1e-12)
    assert_close(w.grad, gw, rtol=1e-10, atol=1e-12)
    assert_close(b.grad, gb, rtol=1e-10, atol=1e-12)


def test_conv_transpose2d_refuses_integer_input(device):
    x = xpnet.zeros(1, 2, 3, 3, device=device, dtype="int64")
    with pytest.raises(TypeError, match=r"^conv_transpose2d: input must be floating-point, got "
                                        r"dtype int64; convert it with .float\(\)$"):
        F.conv_transpose2d(x, xpnet.zeros(2, 1, 3, 3, device=device))


@pytest.mark.parametrize("x_shape,w_shape", [((0, 2, 3, 3), (2, 3, 3, 3)),
                                             ((2, 0, 3, 3), (0, 3, 3, 3)),
                                             ((2, 2, 3, 3), (2, 0, 3, 3))],
                         ids=["batch", "in-channels", "out-channels"])
def test_conv_transpose2d_with_an_empty_axis_matches_the_loop_reference(device, x_shape,
                                                                        w_shape):
    x, w, b = random_inputs(device, x_shape, w_shape, (w_shape[1],), seed=10)
    y = F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1)
    grad_y = np.random.default_rng(11).standard_normal(y.shape)
    y_ref, gx, gw, gb = conv_transpose2d_loops(x.numpy(), w.numpy(), b.numpy(), 2, 1, 1, 1, 1,
                                               grad_y)
    assert y.shape == y_ref.shape
    assert_close(y, y_ref, rtol=1e-12)
    y.backward(xpnet.tensor(grad_y, device=device))
    for t, g in ((x, gx), (w, gw), (b, gb)):
        assert t.grad.shape == g.shape
        assert_close(t.grad, g, rtol=1e-12)


def test_conv_transpose2d_rejects_a_kernel_of_zero_size(device):
    x, w = random_inputs(device, (1, 2, 3, 3), (2, 1, 3, 0))
    with pytest.raises(ValueError, match=r"^conv_transpose2d: weight's kernel must be at least "
                                         r"1x1, got weight \(2, 1, 3, 0\)$"):
        F.conv_transpose2d(x, w)
