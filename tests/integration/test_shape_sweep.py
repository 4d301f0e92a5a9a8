"""A property-based sweep over the geometry of the window and matrix ops: shapes with zeros and
ones, strides, paddings ('same'/'valid' too), dilations, groups and output padding. A call whose
geometry PyTorch accepts must give the NumPy reference's output and gradients (zero-size ones
included); any other call must raise a ValueError that names the op. Never a wrong shape, never
an exception from inside NumPy. Also here: zero-size batches against PyTorch, and raw arrays
where a Tensor belongs, for every op of this family.

The fuzz sweep (``test_fuzz.py``) draws bad arguments and dtypes; this one draws geometry.
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import xpnet
import xpnet.nn.functional as F
from xpnet.nn.adaptive import adaptive_avg_pool2d

from ..ops.test_attention import attention_reference
from ..ops.test_conv import conv2d_loops
from ..ops.test_conv_transpose import conv_transpose2d_loops
from ..ops.test_pool import pool_loops

EXAMPLES = {"cpu": 30, "strict": 8}
DEVICES = list(EXAMPLES)


def sweep(device):
    return settings(max_examples=EXAMPLES[device], deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _host(draw, shape):
    return np.random.default_rng(draw(st.integers(0, 2**16))).uniform(-2, 2, size=shape)


SEEN: dict = {}


def _reached_both(device, op, refusals=True):
    """The sweep met valid calls (and, where geometry can be wrong, refused ones) on cpu;
    the short strict runs only look for wrong results."""
    seen = SEEN.pop(op, set())
    assert device != "cpu" or seen == ({"ok", "refused"} if refusals else {"ok"}), (op, seen)


def _check(op, valid, call, reference, inputs, device):
    """``call(*tensors)`` on ``inputs`` (host arrays; None for an absent bias). Valid geometry:
    the output and the gradient of <y, g> for each input match ``reference(*inputs, g)``,
    which returns (y, grads...). Invalid: a ValueError naming ``op``."""
    tensors = [None if a is None else xpnet.tensor(a, device=device, requires_grad=True)
               for a in inputs]
    try:
        y = call(*tensors)
    except ValueError as exc:
        assert not valid, f"{op} refused a call PyTorch accepts: {exc}"
        assert op in str(exc), f"the message does not name {op}: {exc}"
        SEEN.setdefault(op, set()).add("refused")
        return "refused"
    except Exception as exc:  # noqa: BLE001 - exactly what the sweep looks for
        pytest.fail(f"{op} raised {type(exc).__name__} from inside: {exc}")
    assert valid, f"{op} accepted a call PyTorch refuses, giving shape {y.shape}"
    grad_y = np.random.default_rng(0).standard_normal(y.shape)
    expected = reference(*inputs, grad_y)
    assert y.shape == expected[0].shape, f"{op}: shape {y.shape}, expected {expected[0].shape}"
    np.testing.assert_allclose(y.numpy(), expected[0], rtol=1e-9, atol=1e-10)
    (y * xpnet.tensor(grad_y, device=device)).sum().backward()
    for t, g in zip(tensors, expected[1:]):
        if t is None or g is None:
            continue
        assert t.grad is not None and t.grad.shape == g.shape, (op, t.shape, g.shape)
        np.testing.assert_allclose(t.grad.numpy(), g, rtol=1e-9, atol=1e-10)
    SEEN.setdefault(op, set()).add("ok")
    return "ok"


def _conv_fits(size, kernel, pad_total, dilation):
    return dilation * (kernel - 1) + 1 <= size + pad_total


@pytest.mark.parametrize("device", DEVICES)
def test_conv2d_matches_numpy_or_refuses_for_any_geometry(device):
    @sweep(device)
    @given(st.data())
    def check(data):
        draw = data.draw
        groups = draw(st.sampled_from([1, 1, 2]))
        n, cg, og = draw(st.integers(0, 2)), draw(st.integers(0, 2)), draw(st.integers(0, 2))
        c = cg * groups + draw(st.sampled_from([0, 0, 0, 1]))         # sometimes not divisible
        h, w = draw(st.integers(0, 4)), draw(st.integers(0, 4))
        kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        stride = draw(st.sampled_from([1, 2, (1, 3)]))
        dilation = draw(st.sampled_from([1, 2, (2, 1)]))
        padding = draw(st.sampled_from([0, 1, (0, 2), "same", "valid"]))
        bias = draw(st.booleans())
        x, weight = _host(draw, (n, c, h, w)), _host(draw, (og * groups, cg, kh, kw))
        b = _host(draw, (og * groups,)) if bias else None
        (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
        pads = ((dh * (kh - 1), dw * (kw - 1)) if padding == "same" else
                (0, 0) if padding == "valid" else tuple(2 * p for p in _pair(padding)))
        valid = (c == cg * groups and not (padding == "same" and (sh, sw) != (1, 1))
                 and _conv_fits(h, kh, pads[0], dh) and _conv_fits(w, kw, pads[1], dw))

        def reference(x, weight, b, grad_y):
            y, gx, gw, gb = conv2d_loops(x, weight, b, stride, padding, dilation, groups, grad_y)
            return y, gx, gw, gb if b is not None else None

        _check("conv2d", valid,
               lambda x, wt, b: F.conv2d(x, wt, b, stride, padding, dilation, groups),
               reference, [x, weight, b], device)
    check()
    _reached_both(device, "conv2d")


@pytest.mark.parametrize("device", DEVICES)
def test_conv_transpose2d_matches_numpy_or_refuses_for_any_geometry(device):
    @sweep(device)
    @given(st.data())
    def check(data):
        draw = data.draw
        groups = draw(st.sampled_from([1, 1, 2]))
        n, cg, og = draw(st.integers(0, 2)), draw(st.integers(0, 2)), draw(st.integers(0, 2))
        h, w = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        stride, dilation = draw(st.sampled_from([1, 2, (1, 3)])), draw(st.sampled_from([1, 2]))
        padding, output_padding = draw(st.sampled_from([0, 1, (0, 2)])), draw(st.integers(0, 2))
        x, weight = _host(draw, (n, cg * groups, h, w)), _host(draw, (cg * groups, og, kh, kw))
        b = _host(draw, (og * groups,)) if draw(st.booleans()) else None
        (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
        dl = _pair(dilation)
        sizes = [(size - 1) * s - 2 * p + d * (k - 1) + output_padding + 1
                 for size, s, p, d, k in ((h, sh, ph, dl[0], kh), (w, sw, pw, dl[1], kw))]
        valid = (output_padding < min(max(sh, dl[0]), max(sw, dl[1])) and min(sizes) >= 1)

        def reference(x, weight, b, grad_y):
            y, gx, gw, gb = conv_transpose2d_loops(x, weight, b, stride, padding, output_padding,
                                                   groups, dilation, grad_y)
            return y, gx, gw, gb if b is not None else None

        _check("conv_transpose2d", valid,
               lambda x, wt, b: F.conv_transpose2d(x, wt, b, stride, padding, output_padding,
                                                   groups, dilation),
               reference, [x, weight, b], device)
    check()
    _reached_both(device, "conv_transpose2d")


@pytest.mark.parametrize("device", DEVICES)
def test_pools_match_numpy_or_refuse_for_any_geometry(device):
    @sweep(device)
    @given(st.data())
    def check(data):
        draw = data.draw
        kind = draw(st.sampled_from(["max", "avg", "avg_exclude_pad"]))
        shape = (draw(st.integers(0, 2)), draw(st.integers(0, 2)), draw(st.integers(0, 4)),
                 draw(st.integers(0, 4)))
        kernel = draw(st.sampled_from([1, 2, 3, (1, 3), (3, 2)]))
        stride = draw(st.sampled_from([None, 1, 2, (2, 1)]))
        padding = draw(st.sampled_from([0, 1, (1, 0)]))
        (kh, kw), (ph, pw) = _pair(kernel), _pair(padding)
        valid = (shape[2] >= 1 and shape[3] >= 1 and 2 * ph <= kh and 2 * pw <= kw
                 and kh <= shape[2] + 2 * ph and kw <= shape[3] + 2 * pw)
        include = kind != "avg_exclude_pad"
        op = F.max_pool2d if kind == "max" else \
            (lambda t, k, s, p: F.avg_pool2d(t, k, s, p, count_include_pad=include))
        _check("max_pool2d" if kind == "max" else "avg_pool2d", valid,
               lambda x: op(x, kernel, stride, padding),
               lambda x, g: pool_loops(x, kernel, stride, padding, kind[:3], g, include),
               [_host(draw, shape)], device)
    check()
    _reached_both(device, "max_pool2d")
    _reached_both(device, "avg_pool2d")


@pytest.mark.parametrize("device", DEVICES)
def test_linear_matches_numpy_for_shapes_with_zeros(device):
    @sweep(device)
    @given(st.data())
    def check(data):
        draw = data.draw
        lead = tuple(draw(st.lists(st.integers(0, 2), max_size=2)))
        features, out = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        x = _host(draw, lead + (features,))
        weight = _host(draw, (out, draw(st.sampled_from([features, features, features + 1]))))
        b = _host(draw, (out,)) if draw(st.booleans()) else None

        def reference(x, weight, b, g):
            y = x @ weight.T + (0 if b is None else b)
            rows = math.prod(lead)
            g2, x2 = g.reshape(rows, out), x.reshape(rows, features)
            return y, g @ weight, g2.T @ x2, None if b is None else g2.sum(0)

        _check("linear", weight.shape[1] == features, F.linear, reference, [x, weight, b],
               device)
    check()
    _reached_both(device, "linear")


def _norm_reference(x, axes, weight, bias, eps, g, param_axes):
    """y = x̂·w + b with x̂ normalised over ``axes`` (biased variance), and its gradients (the
    parameters' summed over ``param_axes``); a zero-size x gives zero-size y and zero
    gradients."""
    count = math.prod(x.shape[a] for a in axes)
    if x.size == 0 or count == 0:
        grads = [np.zeros_like(x)] + [None if p is None else np.zeros_like(p)
                                      for p in (weight, bias)]
        return (np.zeros_like(x), *grads)
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    invstd = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * invstd
    w = 1.0 if weight is None else weight
    y = xhat * w + (0 if bias is None else bias)
    dxhat = g * w
    gx = invstd * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                   - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))
    gw = None if weight is None else (g * xhat).sum(axis=param_axes).reshape(weight.shape)
    gb = None if bias is None else g.sum(axis=param_axes).reshape(bias.shape)
    return y, gx, gw, gb


@pytest.mark.parametrize("device", DEVICES)
def test_batch_norm_in_training_matches_numpy_or_refuses_for_shapes_with_zeros(device):
    @sweep(device)
    @given(st.data())
    def check(data):
        draw = data.draw
        c = draw(st.integers(0, 3))
        shape = (draw(st.integers(0, 3)), c) + tuple(draw(st.lists(st.integers(0, 2),
                                                                    max_size=2)))
        affine = draw(st.booleans())
        w = _host(draw, (c,)) if affine else None
        b = _host(draw, (c,)) if affine else None
        axes = (0,) + tuple(range(2, len(shape)))
        count = math.prod(shape[a] for a in axes)

        def reference(x, w, b, g):
            y, gx, gw, gb = _norm_reference(x, axes, None if w is None else
                                            w.reshape((1, c) + (1,) * (x.ndim - 2)),
                                            None if b is None else
                                            b.reshape((1, c) + (1,) * (x.ndim - 2)), 1e-5, g,
                                            axes)
            return y, gx, None if gw is None else gw.reshape(c), \
                None if gb is None else gb.reshape(c)

        _check("batch_norm", count != 1,
               lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
               reference, [_host(draw, shape), w, b], device)
    check()
    _reached_both(device, "batch_norm")


@pytest.mark.parametrize("device", DEVICES)
def test_layer_norm_matches_numpy_for_shapes_with_zeros(device):
    @sweep(device)
    @given(st.data())
    def check(data):
        draw = data.draw
        shape = tuple(draw(st.lists(st.integers(0, 3), min_size=1, max_size=3)))
        k = draw(st.integers(1, len(shape)))
        normalized = shape[len(shape) - k:]
        affine = draw(st.booleans())
        w = _host(draw, normalized) if affine else None
        b = _host(draw, normalized) if affine else None
        axes = tuple(range(len(shape) - k, len(shape)))
        _check("layer_norm", True, lambda x, w, b: F.layer_norm(x, normalized, w, b),
               lambda x, w, b, g: _norm_reference(x, axes, w, b, 1e-5, g,
                                                  tuple(range(len(shape) - k))),
               [_host(draw, shape), w, b], device)
    check()
    _reached_both(device, "layer_norm", refusals=False)


@pytest.mark.parametrize("device", DEVICES)
def test_attention_matches_numpy_for_shapes_with_zeros(device):
    @sweep(device)
    @given(st.data())
    def check(data):
        draw = data.draw
        lead = tuple(draw(st.lists(st.integers(0, 2), max_size=2)))
        # S = 0 and E = 0: see test_attention_with_no_keys_or_no_embedding below
        L, S, Ev = draw(st.integers(0, 3)), draw(st.integers(1, 3)), draw(st.integers(0, 3))
        E = draw(st.integers(1, 3))
        causal = draw(st.booleans()) and L == S
        q, k, v = _host(draw, lead + (L, E)), _host(draw, lead + (S, E)), \
            _host(draw, lead + (S, Ev))

        def reference(q, k, v, g):
            out, p = attention_reference(q, k, v, is_causal=causal)
            # softmax's backward: dP = g vᵀ, dS = P (dP - rowsum(dP P)), scaled
            dp = g @ np.swapaxes(v, -1, -2)
            ds = p * (dp - (dp * p).sum(-1, keepdims=True)) / math.sqrt(E)
            return out, ds @ k, np.swapaxes(ds, -1, -2) @ q, np.swapaxes(p, -1, -2) @ g

        _check("scaled_dot_product_attention", True,
               lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
               reference, [q, k, v], device)
    check()
    _reached_both(device, "scaled_dot_product_attention", refusals=False)


@pytest.mark.parametrize("L,S,E", [(2, 0, 1), (0, 0, 1), (2, 3, 0)],
                         ids=["no-keys", "no-queries-no-keys", "no-embedding"])
def test_attention_with_no_keys_or_no_embedding_gives_pytorchs_result(device, L, S, E):
    # PyTorch: no keys give zeros; an empty embedding gives scores of 0, so uniform weights
    v = np.random.default_rng(0).standard_normal((S, 2))
    value = xpnet.tensor(v, device=device, requires_grad=True)
    out = F.scaled_dot_product_attention(xpnet.zeros(L, E, dtype="float64", device=device),
                                         xpnet.zeros(S, E, dtype="float64", device=device), value)
    expected = np.zeros((L, 2)) if S == 0 else np.broadcast_to(v.mean(0), (L, 2))
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-12)
    out.sum().backward()     # d(sum)/dv: each key's weight summed over the queries, L / S
    np.testing.assert_allclose(value.grad.numpy(), np.full((S, 2), L / max(S, 1)), atol=1e-12)


# -- zero-size batches, against PyTorch ---------------------------------------------------------

def _rand(*shape):
    return np.random.default_rng(len(shape) + sum(shape)).standard_normal(shape)


ZERO_BATCH = {   # name -> (call(F, x, *params), x shape, parameter shapes)
    "conv2d": (lambda F, x, w, b: F.conv2d(x, w, b, padding=1), (0, 3, 5, 5),
               [(4, 3, 3, 3), (4,)]),
    "conv2d_same_even": (lambda F, x, w, b: F.conv2d(x, w, b, padding="same"), (0, 2, 4, 4),
                         [(4, 2, 2, 2), (4,)]),
    "conv2d_groups": (lambda F, x, w, b: F.conv2d(x, w, b, stride=2, groups=2), (0, 4, 5, 5),
                      [(6, 2, 3, 3), (6,)]),
    "conv_transpose2d": (lambda F, x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1,
                                                               output_padding=1),
                         (0, 3, 3, 3), [(3, 2, 3, 3), (2,)]),
    "max_pool2d": (lambda F, x: F.max_pool2d(x, 3, 2, 1), (0, 2, 5, 5), []),
    "avg_pool2d": (lambda F, x: F.avg_pool2d(x, 2), (0, 2, 5, 5), []),
    "adaptive_avg_pool2d": (lambda F, x: F.adaptive_avg_pool2d(x, (2, 3)), (0, 2, 5, 5), []),
    "linear": (lambda F, x, w, b: F.linear(x, w, b), (0, 3), [(4, 3), (4,)]),
    "linear_3d": (lambda F, x, w, b: F.linear(x, w, b), (2, 0, 3), [(4, 3), (4,)]),
    "batch_norm_train": (lambda F, x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                         (0, 3, 4, 4), [(3,), (3,)]),
    "layer_norm": (lambda F, x, w, b: F.layer_norm(x, (4,), w, b), (0, 3, 4), [(4,), (4,)]),
}


def _xpnet_functional():
    class Functional:   # F with the adaptive pool, which lives in xpnet.nn.adaptive
        def __getattr__(self, name):
            return adaptive_avg_pool2d if name == "adaptive_avg_pool2d" else getattr(F, name)
    return Functional()


@pytest.mark.parametrize("name", sorted(ZERO_BATCH))
def test_a_zero_size_batch_gives_a_zero_size_output_and_zero_gradients(device, name):
    call, x_shape, param_shapes = ZERO_BATCH[name]
    x = xpnet.tensor(np.zeros(x_shape), device=device, requires_grad=True)
    params = [xpnet.tensor(_rand(*s), device=device, requires_grad=True) for s in param_shapes]
    y = call(_xpnet_functional(), x, *params)
    y.sum().backward()
    assert y.numpy().size == 0 and x.grad.shape == x_shape
    for p in params:
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(p.shape))
    torch = pytest.importorskip("torch")
    tx = torch.zeros(x_shape, dtype=torch.float64, requires_grad=True)
    tparams = [torch.tensor(_rand(*s), requires_grad=True) for s in param_shapes]
    with warnings.catch_warnings():   # PyTorch warns that 'same' with an even kernel copies
        warnings.simplefilter("ignore")
        ty = call(torch.nn.functional, tx, *tparams)
    assert y.shape == tuple(ty.shape)


def test_batch_norm_layer_on_a_zero_size_batch_keeps_its_statistics_as_pytorch():
    layer = xpnet.nn.BatchNorm2d(3)
    before = (layer.running_mean.numpy().copy(), layer.running_var.numpy().copy())
    y = layer(xpnet.zeros(0, 3, 2, 2))
    assert y.shape == (0, 3, 2, 2)
    np.testing.assert_array_equal(layer.running_mean.numpy(), before[0])
    np.testing.assert_array_equal(layer.running_var.numpy(), before[1])
    torch = pytest.importorskip("torch")
    theirs = torch.nn.BatchNorm2d(3)
    theirs(torch.zeros(0, 3, 2, 2))
    np.testing.assert_array_equal(theirs.running_mean.numpy(), before[0])
    assert int(layer.num_batches_tracked.item()) == int(theirs.num_batches_tracked)


def test_pools_refuse_an_input_of_zero_height_or_width(device):
    x = xpnet.zeros(1, 2, 0, 4, device=device)
    for op in (F.max_pool2d, F.avg_pool2d):
        name = op.__name__
        with pytest.raises(ValueError, match=rf"^{name}: input must have a non-zero height and "
                                             rf"width, got shape \(1, 2, 0, 4\)$"):
            op(x, 2, padding=1)


# -- raw arrays where a Tensor belongs ----------------------------------------------------------

def _raw_cases():
    t = lambda *s: xpnet.tensor(_rand(*s))     # noqa: E731 - a short table
    raw = np.zeros
    x4, w4 = t(1, 2, 4, 4), t(3, 2, 3, 3)
    return {   # name -> (call, op, argument)
        "conv2d-input": (lambda: F.conv2d(raw((1, 2, 4, 4)), w4), "conv2d", "input"),
        "conv2d-weight": (lambda: F.conv2d(x4, raw((3, 2, 3, 3))), "conv2d", "weight"),
        "conv2d-bias": (lambda: F.conv2d(x4, w4, raw(3)), "conv2d", "bias"),
        "conv_transpose2d-input": (lambda: F.conv_transpose2d(raw((1, 3, 2, 2)), w4),
                                   "conv_transpose2d", "input"),
        "conv_transpose2d-weight": (lambda: F.conv_transpose2d(x4, raw((2, 3, 3, 3))),
                                    "conv_transpose2d", "weight"),
        "conv_transpose2d-bias": (lambda: F.conv_transpose2d(x4, t(2, 3, 3, 3), raw(3)),
                                  "conv_transpose2d", "bias"),
        "max_pool2d-input": (lambda: F.max_pool2d(raw((1, 2, 4, 4)), 2), "max_pool2d", "input"),
        "avg_pool2d-input": (lambda: F.avg_pool2d(raw((1, 2, 4, 4)), 2), "avg_pool2d", "input"),
        "adaptive_avg_pool2d-input": (lambda: adaptive_avg_pool2d(raw((1, 2, 4, 4)), 2),
                                      "adaptive_avg_pool2d", "input"),
        "linear-input": (lambda: F.linear(raw((2, 3)), t(4, 3)), "linear", "input"),
        "linear-weight": (lambda: F.linear(t(2, 3), raw((4, 3))), "linear", "weight"),
        "linear-bias": (lambda: F.linear(t(2, 3), t(4, 3), raw(4)), "linear", "bias"),
        "matmul-other": (lambda: F.matmul(t(2, 3), raw((3, 2))), "matmul", "other"),
        "batch_norm-input": (lambda: F.batch_norm(raw((4, 3)), None, None, training=True),
                             "batch_norm", "input"),
        "batch_norm-running_mean": (lambda: F.batch_norm(t(4, 3), raw(3), t(3)), "batch_norm",
                                    "running_mean"),
        "batch_norm-running_var": (lambda: F.batch_norm(t(4, 3), t(3), raw(3)), "batch_norm",
                                   "running_var"),
        "batch_norm-weight": (lambda: F.batch_norm(t(4, 3), t(3), t(3), raw(3)), "batch_norm",
                              "weight"),
        "batch_norm-bias": (lambda: F.batch_norm(t(4, 3), t(3), t(3), t(3), raw(3)),
                            "batch_norm", "bias"),
        "layer_norm-input": (lambda: F.layer_norm(raw((2, 3)), 3), "layer_norm", "input"),
        "layer_norm-weight": (lambda: F.layer_norm(t(2, 3), 3, raw(3)), "layer_norm", "weight"),
        "layer_norm-bias": (lambda: F.layer_norm(t(2, 3), 3, t(3), raw(3)), "layer_norm",
                            "bias"),
    }


@pytest.mark.parametrize("name", sorted(_raw_cases()))
def test_a_raw_array_where_a_tensor_belongs_is_named_as_such(name):
    call, op, argument = _raw_cases()[name]
    with pytest.raises(TypeError, match=rf"^{op}: {argument} must be an xpnet Tensor, got "
                                        rf"numpy.ndarray; convert it with xpnet.tensor\(...\)$"):
        call()


def test_a_list_or_a_torch_tensor_where_a_tensor_belongs_is_named_too():
    with pytest.raises(TypeError, match=r"^linear: weight must be an xpnet Tensor, got list;"):
        F.linear(xpnet.ones(2, 3), [[1.0, 2.0, 3.0]])
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"^conv2d: weight must be an xpnet Tensor, got "
                                        r"torch.Tensor;"):
        F.conv2d(xpnet.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3))
