import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import xpnet
import xpnet.functional as F
from xpnet.testing import assert_close, gradcheck, gradgradcheck, random_inputs


def _pads(padding, kernel, dilation):
    if padding == "same":
        out = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            out += [total // 2, total - total // 2]
        return out
    if padding == "valid":
        return [0, 0, 0, 0]
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return [ph, ph, pw, pw]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d_loops(x, w, b, stride, padding, dilation, groups, grad_y=None):
    """Direct nested-loop conv2d (and, given grad_y, its gradients) in NumPy."""
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    top, bottom, left, right = _pads(padding, (kh, kw), (dh, dw))
    xp = np.zeros((n, c, h + top + bottom, wd + left + right))
    xp[:, :, top:top + h, left:left + wd] = x
    ho = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    wo = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    y = np.zeros((n, o, ho, wo))
    gx, gw = np.zeros_like(xp), np.zeros_like(w)
    for b_ in range(n):
        for oc in range(o):
            gi = oc // og
            for i in range(ho):
                for j in range(wo):
                    for ci in range(cg):
                        for p in range(kh):
                            for q in range(kw):
                                r, s = i * sh + p * dh, j * sw + q * dw
                                y[b_, oc, i, j] += w[oc, ci, p, q] * xp[b_, gi * cg + ci, r, s]
                                if grad_y is not None:
                                    g = grad_y[b_, oc, i, j]
                                    gw[oc, ci, p, q] += g * xp[b_, gi * cg + ci, r, s]
                                    gx[b_, gi * cg + ci, r, s] += g * w[oc, ci, p, q]
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    if grad_y is None:
        return y
    gx = gx[:, :, top:top + h, left:left + wd]
    return y, gx, gw, grad_y.sum(axis=(0, 2, 3))


# (x shape, weight shape, stride, padding, dilation, groups)
CASES = {
    "basic": ((2, 3, 6, 6), (4, 3, 3, 3), 1, 0, 1, 1),
    "batch1_odd": ((1, 2, 7, 5), (3, 2, 3, 3), 1, 1, 1, 1),
    "stride2_pad1": ((2, 2, 7, 7), (3, 2, 3, 3), 2, 1, 1, 1),
    "non_square_kernel": ((2, 2, 6, 7), (2, 2, 2, 3), (1, 2), (1, 0), 1, 1),
    "dilation2": ((1, 2, 7, 8), (2, 2, 3, 2), 1, (2, 1), 2, 1),
    "groups2": ((2, 4, 5, 5), (6, 2, 3, 3), 1, 1, 1, 2),
    "depthwise": ((1, 3, 5, 6), (3, 1, 2, 2), 2, 0, 1, 3),
    "same_even_kernel": ((1, 2, 5, 5), (2, 2, 2, 4), 1, "same", 1, 1),
    "valid_1x1": ((2, 3, 4, 3), (5, 3, 1, 1), 1, "valid", 1, 1),
    "kernel_equals_input": ((2, 1, 3, 3), (2, 1, 3, 3), 1, 0, 1, 1),
    # windows that tile the input (stride = kernel, or one window along an axis): a reshape
    "stride_equals_kernel": ((2, 2, 6, 7), (3, 2, 2, 2), 2, 0, 1, 1),
    "tiled_padded_groups": ((2, 4, 5, 5), (4, 2, 3, 3), 3, (1, 0), 1, 2),
    "one_window_row": ((1, 2, 3, 6), (2, 2, 3, 2), (1, 2), 0, 1, 1),
}


@pytest.mark.parametrize("name", CASES)
def test_conv2d_matches_a_nested_loop_reference_with_gradients(device, name):
    x_shape, w_shape, stride, padding, dilation, groups = CASES[name]
    x, w, b = random_inputs(device, x_shape, w_shape, (w_shape[0],), seed=3)
    y = F.conv2d(x, w, b, stride, padding, dilation, groups)
    grad_y = np.random.default_rng(4).standard_normal(y.shape)
    y_ref, gx, gw, gb = conv2d_loops(x.numpy(), w.numpy(), b.numpy(), stride, padding, dilation,
                                     groups, grad_y)
    assert_close(y, y_ref, rtol=1e-10, atol=1e-12)
    y.backward(xpnet.tensor(grad_y, device=device))
    assert_close(x.grad, gx, rtol=1e-10, atol=1e-12)
    assert_close(w.grad, gw, rtol=1e-10, atol=1e-12)
    assert_close(b.grad, gb, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["stride2_pad1", "groups2", "dilation2", "same_even_kernel",
                                  "tiled_padded_groups", "one_window_row"])
def test_conv2d_matches_finite_differences(device, name):
    x_shape, w_shape, stride, padding, dilation, groups = CASES[name]
    x_shape = (1,) + x_shape[1:]
    x, w, b = random_inputs(device, x_shape, w_shape, (w_shape[0],), seed=5)
    gradcheck(F.conv2d, x, w, b, stride=stride, padding=padding, dilation=dilation,
              groups=groups)


def test_conv2d_without_bias_matches_finite_differences(device):
    x, w = random_inputs(device, (1, 2, 4, 4), (2, 2, 2, 2), seed=6)
    gradcheck(F.conv2d, x, w, None, stride=1, padding=1)


def test_conv2d_keeps_float32_and_skips_the_input_gradient_of_data(device):
    x, = random_inputs(device, (2, 1, 6, 6), dtype="float32", requires_grad=False)
    w, b = random_inputs(device, (3, 1, 3, 3), (3,), dtype="float32")
    y = F.conv2d(x, w, b)
    assert xpnet.backend.dtype_name(y.dtype) == "float32" and y.shape == (2, 3, 4, 4)
    F.relu(y).sum().backward()
    assert x.grad is None and w.grad.shape == (3, 1, 3, 3) and b.grad.shape == (3,)


@pytest.mark.filterwarnings("ignore:Using padding='same'")   # torch's note on its own copy
@pytest.mark.parametrize("name", CASES)
def test_conv2d_matches_torch(device, name):
    torch = pytest.importorskip("torch")
    x_shape, w_shape, stride, padding, dilation, groups = CASES[name]
    x, w, b = random_inputs(device, x_shape, w_shape, (w_shape[0],), seed=7)
    tx, tw, tb = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, w, b))
    y = F.conv2d(x, w, b, stride, padding, dilation, groups)
    ty = torch.nn.functional.conv2d(tx, tw, tb, stride, padding, dilation, groups)
    assert_close(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    grad_y = np.random.default_rng(8).standard_normal(y.shape)
    y.backward(xpnet.tensor(grad_y, device=device))
    ty.backward(torch.tensor(grad_y))
    for mine, theirs in ((x, tx), (w, tw), (b, tb)):
        assert_close(mine.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_conv2d_rejects_input_that_is_not_4d(device):
    x, w = random_inputs(device, (3, 6, 6), (2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d: input must be 4-D \(N, C, H, W\), got shape "
                                         r"\(3, 6, 6\)"):
        F.conv2d(x, w)


def test_conv2d_rejects_a_channel_mismatch(device):
    x, w = random_inputs(device, (2, 1, 6, 6), (2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d: input must have weight.shape\[1\] \* groups = "
                                         r"3 channels, got input \(2, 1, 6, 6\)"):
        F.conv2d(x, w)


def test_conv2d_rejects_a_kernel_larger_than_the_padded_input(device):
    x, w = random_inputs(device, (1, 1, 3, 3), (1, 1, 5, 5))
    with pytest.raises(ValueError, match=r"conv2d: the kernel must fit in the padded input, got "
                                         r"kernel \(5, 5\) with dilation \(1, 1\) and padded "
                                         r"input \(3, 3\)"):
        F.conv2d(x, w)
    assert F.conv2d(x, w, padding=1).shape == (1, 1, 1, 1)


def test_conv2d_rejects_groups_that_do_not_divide_the_channels(device):
    x, w = random_inputs(device, (1, 4, 5, 5), (3, 2, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d: groups must divide the input and output "
                                         r"channels, got groups=2, 4 input and 3 output"):
        F.conv2d(x, w, groups=2)


def test_conv2d_rejects_same_padding_with_a_stride(device):
    x, w = random_inputs(device, (1, 1, 5, 5), (1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d: padding='same' needs stride 1"):
        F.conv2d(x, w, stride=2, padding="same")


def test_conv2d_rejects_a_bias_of_the_wrong_shape(device):
    x, w, b = random_inputs(device, (1, 1, 5, 5), (2, 1, 3, 3), (3,))
    with pytest.raises(ValueError, match=r"conv2d: bias must have shape \(2,\), got \(3,\)"):
        F.conv2d(x, w, b)


@pytest.mark.parametrize("name", ["stride2_pad1", "groups2", "dilation2", "tiled_padded_groups"])
def test_conv2d_input_gradient_is_the_same_when_built_in_slabs_of_samples(device, name,
                                                                          monkeypatch):
    from xpnet import cpu
    monkeypatch.setattr(cpu.slabs, "SLAB_ELEMENTS", 1)    # one sample per slab
    x_shape, w_shape, stride, padding, dilation, groups = CASES[name]
    x, w = random_inputs(device, (3,) + x_shape[1:], w_shape, seed=9)
    y = F.conv2d(x, w, None, stride, padding, dilation, groups)
    grad_y = np.random.default_rng(10).standard_normal(y.shape)
    _, gx, gw, _ = conv2d_loops(x.numpy(), w.numpy(), None, stride, padding, dilation, groups,
                                grad_y)
    y.backward(xpnet.tensor(grad_y, device=device))
    assert_close(x.grad, gx, rtol=1e-10, atol=1e-12)
    assert_close(w.grad, gw, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["stride2_pad1", "groups2", "dilation2", "tiled_padded_groups"])
def test_conv2d_without_a_weight_gradient_reuses_one_column_buffer_and_gives_the_same_output(
        device, name, monkeypatch):
    from xpnet import cpu
    x_shape, w_shape, stride, padding, dilation, groups = CASES[name]
    x, w = random_inputs(device, (5,) + x_shape[1:], w_shape, seed=11)
    per_sample = np.prod(F.conv2d(x[:1], w, None, stride, padding, dilation, groups).shape[2:]) \
        * w_shape[2] * w_shape[3] * x_shape[1]
    # two samples per slab: slabs of 2, 2 and a shorter last one of 1
    monkeypatch.setattr(cpu.slabs, "SLAB_ELEMENTS", int(2 * per_sample))
    expected = conv2d_loops(x.numpy(), w.numpy(), None, stride, padding, dilation, groups)
    with xpnet.no_grad():
        assert_close(F.conv2d(x, w, None, stride, padding, dilation, groups), expected,
                     rtol=1e-10, atol=1e-12)
    frozen = w.detach()           # input gradient only: the columns are not kept either
    y = F.conv2d(x, frozen, None, stride, padding, dilation, groups)
    assert_close(y, expected, rtol=1e-10, atol=1e-12)
    assert y.creator.cols is None


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), groups=st.sampled_from([1, 2]), cg=st.integers(1, 2),
       og=st.integers(1, 2), kh=st.integers(1, 3), kw=st.integers(1, 3),
       stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       extra=st.tuples(st.integers(0, 3), st.integers(0, 3)), seed=st.integers(0, 2**16))
def test_conv2d_matches_the_loop_reference_for_any_geometry(n, groups, cg, og, kh, kw, stride,
                                                            padding, dilation, extra, seed):
    """Property test: random geometry (including odd sizes and batch 1), forward and both
    gradients equal the nested-loop reference on the CPU."""
    h = max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0]) + extra[0]
    w = max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]) + extra[1]
    x, wt, b = random_inputs("cpu", (n, cg * groups, h, w), (og * groups, cg, kh, kw),
                             (og * groups,), seed=seed)
    y = F.conv2d(x, wt, b, stride, padding, dilation, groups)
    grad_y = np.random.default_rng(seed).standard_normal(y.shape)
    ref_y, gx, gw, gb = conv2d_loops(x.numpy(), wt.numpy(), b.numpy(), stride, padding, dilation,
                                     groups, grad_y)
    assert_close(y, ref_y, rtol=1e-10, atol=1e-12)
    y.backward(xpnet.tensor(grad_y))
    assert_close(x.grad, gx, rtol=1e-10, atol=1e-12)
    assert_close(wt.grad, gw, rtol=1e-10, atol=1e-12)
    assert_close(b.grad, gb, rtol=1e-10, atol=1e-12)


def _slabbed_conv_step(device, x, w, retain_graph=False):
    y = F.conv2d(x, w, stride=2, padding=1)
    loss = (y * y).sum()
    loss.backward(retain_graph=retain_graph)
    return loss


def test_column_buffers_come_back_after_backward_and_are_reused(device, monkeypatch):
    """In host memory (NumPy) the slabs' columns are built into buffers from the host
    allocator, one per slab thread, in the forward and again for the weight gradient (nothing
    kept between them); every step takes the same buffers, and the gradients stay those of the
    loop reference."""
    from xpnet import cpu
    monkeypatch.setattr(cpu.slabs, "SLAB_ELEMENTS", 1)          # one sample per slab
    allocator = cpu.memory.HostAllocator(minimum=0)
    monkeypatch.setattr(cpu.memory, "ALLOCATOR", allocator)
    x, w = random_inputs(device, (3, 2, 6, 6), (4, 2, 3, 3), seed=4)
    pooled = xpnet.device(device).library == "numpy"
    y = conv2d_loops(x.numpy(), w.numpy(), None, 2, 1, 1, 1)
    _, gx, gw, _ = conv2d_loops(x.numpy(), w.numpy(), None, 2, 1, 1, 1, 2 * y)
    columns = ((1, 1, 3, 3, 3, 3, 2), np.dtype(np.float64))   # one slab's columns
    seen = []
    for step in range(3):
        x.grad = w.grad = None
        _slabbed_conv_step(device, x, w)
        assert_close(x.grad, gx, rtol=1e-10, atol=1e-12)
        assert_close(w.grad, gw, rtol=1e-10, atol=1e-12)
        seen.append([id(a) for a in allocator.pool.get(columns, [])])
    # at most one buffer per slab (one per thread), the same arrays in every step
    assert seen == [seen[0]] * 3
    assert 1 <= len(seen[0]) <= 3 if pooled else not seen[0]
    if pooled:                        # the forward keeps no columns for the backward
        y = F.conv2d(x, w, stride=2, padding=1)
        assert y.grad_fn is not None and y.grad_fn.cols is None


def test_a_retained_graph_keeps_its_columns_for_the_second_backward(device, monkeypatch):
    from xpnet import cpu
    monkeypatch.setattr(cpu.slabs, "SLAB_ELEMENTS", 1)
    monkeypatch.setattr(cpu.memory, "ALLOCATOR", cpu.memory.HostAllocator(minimum=0))
    x, w = random_inputs(device, (2, 2, 5, 5), (3, 2, 3, 3), seed=5)
    y = F.conv2d(x, w, stride=2, padding=1)
    loss = (y * y).sum()
    loss.backward(retain_graph=True)
    first = w.grad.numpy().copy()
    # another convolution in between may not take (and overwrite) the retained columns
    other = random_inputs(device, (2, 2, 5, 5), seed=6)[0]
    _slabbed_conv_step(device, other, w.detach().requires_grad_())
    w.grad = None
    loss.backward()
    assert_close(w.grad, first, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("options,w_shape", [
    ({"padding": "same"}, (3, 2, 2, 2)),                       # one more pixel after than before
    ({"padding": "same", "dilation": (1, 3)}, (3, 2, 2, 3)),
    ({"padding": "same", "groups": 2}, (4, 1, 4, 3)),
], ids=["even-kernel", "even-kernel-dilated", "even-kernel-groups"])
def test_gradgradcheck_of_conv2d_with_unequal_padding(device, options, w_shape):
    x, w, b = random_inputs(device, (2, 2, 5, 4), w_shape, (w_shape[0],), seed=9)
    assert gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, **options) ** 2, x, w, b, atol=1e-4)


@pytest.mark.parametrize("x_shape,w_shape", [((0, 2, 5, 5), (3, 2, 3, 3)),    # empty batch
                                             ((2, 0, 5, 5), (3, 0, 3, 3)),    # no in-channels
                                             ((2, 2, 5, 5), (0, 2, 3, 3))],   # no out-channels
                         ids=["batch", "in-channels", "out-channels"])
def test_conv2d_with_an_empty_axis_matches_the_loop_reference(device, x_shape, w_shape):
    x, w, b = random_inputs(device, x_shape, w_shape, (w_shape[0],), seed=10)
    y = F.conv2d(x, w, b, padding=1)
    grad_y = np.random.default_rng(11).standard_normal(y.shape)
    y_ref, gx, gw, gb = conv2d_loops(x.numpy(), w.numpy(), b.numpy(), 1, 1, 1, 1, grad_y)
    assert y.shape == y_ref.shape
    assert_close(y, y_ref, rtol=1e-12)       # the bias alone where no channel comes in
    y.backward(xpnet.tensor(grad_y, device=device))
    for t, g in ((x, gx), (w, gw), (b, gb)):
        assert t.grad.shape == g.shape
        assert_close(t.grad, g, rtol=1e-12)


def test_conv2d_rejects_a_kernel_of_zero_size(device):
    x, w = random_inputs(device, (1, 2, 5, 5), (3, 2, 0, 3))
    with pytest.raises(ValueError, match=r"^conv2d: weight's kernel must be at least 1x1, got "
                                         r"weight \(3, 2, 0, 3\)$"):
        F.conv2d(x, w)


def test_conv2d_names_a_raw_array_where_a_tensor_belongs(device):
    x, = random_inputs(device, (1, 1, 3, 3))
    with pytest.raises(TypeError, match=r"^conv2d: weight must be an xpnet Tensor, got "
                                        r"numpy.ndarray; convert it with xpnet.tensor\(...\)$"):
        F.conv2d(x, np.zeros((3, 1, 3, 3)))
