import math

import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet.ops import attention as attention_ops
from xpnet.testing import assert_close, count_calls, gradcheck, gradgradcheck, random_inputs


def attention_reference(q, k, v, mask=None, is_causal=False, scale=None):
    """NumPy: softmax(q kᵀ·scale + mask) v, with fully masked rows giving 0."""
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale
    if is_causal:
        mask = np.tril(np.ones(scores.shape[-2:], dtype=bool))
    if mask is not None:
        scores = np.where(mask, scores, -np.inf) if mask.dtype == bool else scores + mask
    finite = np.isfinite(scores).any(axis=-1, keepdims=True)
    shifted = np.where(finite, scores - np.max(np.where(finite, scores, 0), axis=-1,
                                               keepdims=True), -np.inf)
    e = np.exp(shifted)
    total = e.sum(axis=-1, keepdims=True)
    p = np.where(total > 0, e / np.where(total > 0, total, 1), 0)
    return p @ v, p


def _tensor(array, device):
    return xpnet.tensor(array, device=device)


@pytest.mark.parametrize("shapes", [
    ((3, 4), (5, 4), (5, 2)),                          # no batch axes
    ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)),        # (N, H, L, E)
    ((2, 3, 4, 5), (2, 1, 6, 5), (1, 3, 6, 7)),        # head and batch axes broadcast
    ((4, 5), (2, 3, 6, 5), (2, 3, 6, 5)),              # a query shared by every batch element
], ids=["2d", "4d", "broadcast", "shared-query"])
def test_attention_matches_numpy(device, shapes):
    q, k, v = random_inputs(device, *shapes, seed=1)
    out = F.scaled_dot_product_attention(q, k, v)
    assert_close(out, attention_reference(q.numpy(), k.numpy(), v.numpy())[0], rtol=1e-10)


@pytest.mark.parametrize("shapes", [
    ((3, 4), (5, 4), (2, 5, 2)),                       # value alone has a batch axis
    ((2, 3, 4), (2, 5, 4), (3, 2, 5, 6)),              # value has one more batch axis
], ids=["value-batched", "value-extra-axis"])
def test_attention_with_batch_axes_only_value_has_matches_numpy(device, shapes):
    # the scores are broadcast to value's batch axes: the softmax must not write into that view
    q, k, v = random_inputs(device, *shapes, seed=4)
    expected, weights = attention_reference(q.numpy(), k.numpy(), v.numpy())
    out, got_weights = attention_ops.attention_with_weights(q, k, v)
    assert_close(out, expected, rtol=1e-10)
    assert_close(got_weights, np.broadcast_to(weights, got_weights.shape), rtol=1e-10)
    gradcheck(F.scaled_dot_product_attention, q, k, v)


def test_attention_with_masks_causal_and_scale_matches_numpy(device, rng):
    q, k, v = random_inputs(device, (2, 4, 3), (2, 5, 3), (2, 5, 2), seed=2)
    qh, kh, vh = q.numpy(), k.numpy(), v.numpy()
    allowed = rng.random((2, 4, 5)) > 0.4
    additive = rng.standard_normal((4, 5))
    for kw, mask in ((dict(attn_mask=_tensor(allowed, device)), allowed),
                     (dict(attn_mask=_tensor(additive, device)), additive)):
        assert_close(F.scaled_dot_product_attention(q, k, v, **kw),
                     attention_reference(qh, kh, vh, mask)[0], rtol=1e-10, atol=1e-14)
    assert_close(F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3),
                 attention_reference(qh, kh, vh, is_causal=True, scale=0.3)[0], rtol=1e-10)


def test_attention_matches_finite_differences_for_query_key_value_and_additive_mask(device):
    q, k, v, mask = random_inputs(device, (2, 3, 4), (2, 5, 4), (2, 5, 3), (3, 5), seed=3)
    gradcheck(F.scaled_dot_product_attention, q, k, v, mask)
    gradcheck(F.scaled_dot_product_attention, q, k, v, is_causal=True, scale=0.7)


def test_attention_gradient_with_boolean_mask_and_broadcast_heads(device, rng):
    q, k, v = random_inputs(device, (2, 2, 3, 4), (2, 1, 5, 4), (2, 1, 5, 3), seed=4)
    mask = _tensor(rng.random((2, 1, 3, 5)) > 0.3, device)
    gradcheck(F.scaled_dot_product_attention, q, k, v, mask)


def test_attention_with_dropout_drops_weights_from_the_device_generator(device):
    q, k, v = random_inputs(device, (2, 6, 4), (2, 7, 4), (2, 7, 3), seed=5)
    xpnet.manual_seed(11)
    out, weights = attention_ops.attention_with_weights(q, k, v, dropout_p=0.4)
    _, p = attention_reference(q.numpy(), k.numpy(), v.numpy())
    w = weights.numpy()
    dropped = w == 0
    assert 0.2 < dropped.mean() < 0.6                         # about 40 % dropped
    assert_close(w[~dropped], (p / 0.6)[~dropped], rtol=1e-10)  # the rest scaled by 1/(1-p)
    assert_close(out, w @ v.numpy(), rtol=1e-10)
    xpnet.manual_seed(11)
    assert_close(F.scaled_dot_product_attention(q, k, v, dropout_p=0.4), out, rtol=1e-12)

    def seeded(q, k, v):   # the same dropout mask at every evaluation
        xpnet.manual_seed(3)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.3)
    gradcheck(seeded, q, k, v)


def test_attention_weights_output_matches_numpy_and_finite_differences(device):
    q, k, v, mask = random_inputs(device, (2, 3, 4), (2, 5, 4), (2, 5, 3), (3, 5), seed=6)
    out, weights = attention_ops.attention_with_weights(q, k, v, mask)
    ref_out, ref_p = attention_reference(q.numpy(), k.numpy(), v.numpy(), mask.numpy())
    assert_close(out, ref_out, rtol=1e-10)
    assert_close(weights, ref_p, rtol=1e-10)
    gradcheck(attention_ops.attention_with_weights, q, k, v, mask)


def test_a_fully_masked_row_gives_zeros_and_no_gradient(device):
    q, k, v = random_inputs(device, (2, 3, 4), (2, 5, 4), (2, 5, 3), seed=7)
    allowed = np.ones((2, 3, 5), dtype=bool)
    allowed[0, 1] = False
    additive = np.where(allowed, 0.0, -np.inf)
    for mask in (allowed, additive):
        q.grad = k.grad = v.grad = None
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=_tensor(mask, device))
        host = out.numpy()
        assert np.isfinite(host).all()
        assert (host[0, 1] == 0).all()
        assert_close(out, attention_reference(q.numpy(), k.numpy(), v.numpy(), mask)[0],
                     rtol=1e-10)
        out.sum().backward()
        assert (q.grad.numpy()[0, 1] == 0).all()
        assert all(np.isfinite(t.grad.numpy()).all() for t in (q, k, v))
    gradcheck(F.scaled_dot_product_attention, q, k, v, _tensor(allowed, device))


@pytest.mark.parametrize("case", ["bool", "float", "causal", "broadcast", "scale"])
def test_attention_matches_torch(device, case, rng):
    torch = pytest.importorskip("torch")
    shapes = ((2, 3, 4, 5), (2, 1, 6, 5), (2, 1, 6, 3)) if case == "broadcast" else \
        ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 3))
    if case == "causal":
        shapes = ((2, 3, 6, 5), (2, 3, 6, 5), (2, 3, 6, 3))
    q, k, v = random_inputs(device, *shapes, seed=8)
    kw, tkw = {}, {}
    if case == "bool":
        mask = rng.random((2, 1, 4, 6)) > 0.3
        kw["attn_mask"], tkw["attn_mask"] = _tensor(mask, device), torch.tensor(mask)
    elif case == "float":
        mask, = random_inputs(device, (4, 6), seed=9)
        kw["attn_mask"] = mask
        tkw["attn_mask"] = torch.tensor(mask.numpy(), requires_grad=True)
    elif case == "causal":
        kw["is_causal"] = tkw["is_causal"] = True
    elif case == "scale":
        kw["scale"] = tkw["scale"] = 0.25
    tq, tk, tv = (torch.tensor(t.numpy(), requires_grad=True) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, **kw)
    tout = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, **tkw)
    grad = rng.standard_normal(tuple(tout.shape))
    out.backward(_tensor(grad, device))
    tout.backward(torch.tensor(grad))
    assert_close(out, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    for mine, theirs in ((q, tq), (k, tk), (v, tv)):
        assert_close(mine.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)
    if case == "float":
        assert_close(kw["attn_mask"].grad, tkw["attn_mask"].grad.numpy(), rtol=1e-9, atol=1e-12)


def test_attention_in_float32_matches_float64(device):
    q, k, v = random_inputs(device, (2, 8, 16), (2, 8, 16), (2, 8, 16), seed=10)
    q32, k32, v32 = (t.astype("float32") for t in (q, k, v))
    assert_close(F.scaled_dot_product_attention(q32, k32, v32, is_causal=True),
                 F.scaled_dot_product_attention(q, k, v, is_causal=True), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shapes, kw, error, message", [
    (((2, 3, 4), (2, 5, 6), (2, 5, 6)), {}, ValueError,
     r"query and key must have the same embedding size \(shape\[-1\]\), got query \(2, 3, 4\) "
     r"and key \(2, 5, 6\)"),
    (((2, 3, 4), (2, 5, 4), (2, 6, 4)), {}, ValueError,
     r"key and value must have the same sequence length \(shape\[-2\]\), got key \(2, 5, 4\)"),
    (((2, 3, 4), (3, 5, 4), (3, 5, 4)), {}, ValueError,
     r"the leading \(batch, head\) axes of query, key and value must broadcast, got query "
     r"\(2, 3, 4\), key \(3, 5, 4\) and value \(3, 5, 4\)$"),
    (((4,), (5, 4), (5, 4)), {}, ValueError, r"query, key and value must be at "
     r"least 2-D \(\.\.\., L, E\), got query \(4,\), key \(5, 4\) and value \(5, 4\)$"),
    (((2, 3, 4), (2, 5, 4), (2, 5, 4)), dict(mask=(3, 4)), ValueError,
     r"attn_mask must broadcast to the scores' shape \(\.\.\., L, S\) = \(2, 3, 5\), got "
     r"\(3, 4\)"),
    (((2, 3, 4), (2, 5, 4), (2, 5, 4)), dict(mask=(4, 3, 5)), ValueError,
     r"attn_mask must broadcast to the scores' shape"),
])
def test_attention_rejects_mismatched_shapes(device, shapes, kw, error, message):
    q, k, v = random_inputs(device, *shapes)
    mask = _tensor(np.ones(kw["mask"], dtype=bool), device) if "mask" in kw else None
    with pytest.raises(error, match="^scaled_dot_product_attention: " + message):
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def test_attention_rejects_bad_arguments(device):
    q, k, v = random_inputs(device, (2, 3, 4), (2, 5, 4), (2, 5, 4))
    op = "^scaled_dot_product_attention: "
    for p in (1.0, -0.1, 2):
        with pytest.raises(ValueError, match=op + rf"dropout_p must be in \[0, 1\), got {p}$"):
            F.scaled_dot_product_attention(q, k, v, dropout_p=p)
    with pytest.raises(TypeError, match=op + r"dropout_p must be a number in \[0, 1\), got "
                       r"'0.1' \(str\)$"):
        F.scaled_dot_product_attention(q, k, v, dropout_p="0.1")
    mask = _tensor(np.ones((3, 5), dtype=bool), device)
    with pytest.raises(ValueError, match=op + r"is_causal=True builds the causal mask itself, so "
                       r"attn_mask must be None, got a mask of shape \(3, 5\)"):
        F.scaled_dot_product_attention(q, k, v, mask, is_causal=True)
    with pytest.raises(TypeError, match=op + r"attn_mask must be boolean \(True = attend\) or "
                       r"floating \(added to the scores\), got dtype int64"):
        F.scaled_dot_product_attention(q, k, v, _tensor(np.ones((3, 5), dtype=np.int64), device))
    with pytest.raises(TypeError, match=op + r"query, key and value must have one floating "
                       r"dtype, got \['float32', 'float64', 'float64'\]"):
        F.scaled_dot_product_attention(q.astype("float32"), k, v)
    with pytest.raises(TypeError, match=op + r"key must be a Tensor, got ndarray"):
        F.scaled_dot_product_attention(q, np.ones((2, 5, 4)), v)
    with pytest.raises(TypeError, match=op + r"scale must be a number or None, got str"):
        F.scaled_dot_product_attention(q, k, v, scale="0.5")


@pytest.mark.parametrize("diagonal", [-1, 0, 2])
def test_tril_and_triu_match_numpy_and_finite_differences(device, diagonal):
    x, = random_inputs(device, (2, 3, 4), seed=12)
    assert_close(F.tril(x, diagonal=diagonal), np.tril(x.numpy(), diagonal), rtol=0)
    assert_close(F.triu(x, diagonal=diagonal), np.triu(x.numpy(), diagonal), rtol=0)
    gradcheck(F.tril, x, diagonal=diagonal)
    gradcheck(F.triu, x, diagonal=diagonal)


def test_tril_of_a_boolean_tensor_is_the_causal_mask(device):
    ones = _tensor(np.ones((3, 4), dtype=bool), device)
    np.testing.assert_array_equal(F.tril(ones).numpy(), np.tril(np.ones((3, 4), dtype=bool)))


def test_tril_and_triu_reject_bad_input(device):
    x, = random_inputs(device, (4,))
    with pytest.raises(ValueError, match=r"^tril: input must be at least 2-D, got shape \(4,\)$"):
        F.tril(x)
    with pytest.raises(ValueError, match=r"^triu: input must be at least 2-D, got shape \(4,\)$"):
        F.triu(x)
    with pytest.raises(TypeError, match=r"^triu: diagonal must be an int, got 1.0 \(float\)$"):
        F.triu(random_inputs(device, (2, 2))[0], diagonal=1.0)


def test_masked_fill_matches_numpy_and_finite_differences(device, rng):
    x, = random_inputs(device, (2, 3, 4), seed=13)
    mask = rng.random((3, 4)) > 0.5
    out = F.masked_fill(x, _tensor(mask, device), -2.5)
    assert_close(out, np.where(mask, -2.5, x.numpy()), rtol=0)
    gradcheck(F.masked_fill, x, _tensor(mask, device), 7.0)
    filled = F.masked_fill(x, _tensor(mask, device), float("-inf")).numpy()
    assert np.isneginf(filled[:, mask]).all()


def test_masked_fill_rejects_bad_input(device):
    x, = random_inputs(device, (2, 3))
    with pytest.raises(TypeError, match=r"^masked_fill: mask must be boolean, got dtype float64$"):
        F.masked_fill(x, x, 0.0)
    with pytest.raises(ValueError, match=r"^masked_fill: mask must broadcast to the input's "
                       r"shape \(2, 3\), got \(4, 3\)$"):
        F.masked_fill(x, _tensor(np.ones((4, 3), dtype=bool), device), 0.0)
    with pytest.raises(TypeError, match=r"^masked_fill: value must be a Python number, got str$"):
        F.masked_fill(x, _tensor(np.ones((2, 3), dtype=bool), device), "0")
    with pytest.raises(TypeError, match=r"^masked_fill: mask must be a boolean Tensor, got "
                       r"ndarray$"):
        F.masked_fill(x, np.ones((2, 3), dtype=bool), 0.0)


@pytest.mark.parametrize("batch_first", [True, False])
def test_split_and_merge_heads_are_the_reshape_and_permutation(device, batch_first):
    x, = random_inputs(device, (2, 5, 3 * 4 * 2), seed=14)   # parts 3, heads 4, head size 2
    q, k, v = attention_ops.split_heads(x, 3, 4, batch_first)
    host = x.numpy().reshape(2, 5, 3, 4, 2)
    axes = (2, 0, 3, 1, 4) if batch_first else (2, 1, 3, 0, 4)
    for i, t in enumerate((q, k, v)):
        assert_close(t, host.transpose(axes)[i], rtol=0)
    merged = attention_ops.merge_heads(q, batch_first)
    assert_close(merged, x.numpy()[..., :8], rtol=0)
    gradcheck(lambda x: attention_ops.split_heads(x, 3, 4, batch_first), x)
    gradcheck(lambda x: attention_ops.merge_heads(x, batch_first), q.detach().requires_grad_())
    with pytest.raises(ValueError, match=r"^split_heads: input must be \(A, B, 3·num_heads·D\), "
                       r"got \(2, 5, 10\)$"):
        attention_ops.split_heads(random_inputs(device, (2, 5, 10))[0], 3, 4, batch_first)


def test_the_causal_bias_is_built_once_per_device_dtype_and_size_and_is_correct(device):
    backend = xpnet.device(device)
    bias = attention_ops.causal_bias(backend, 3, 4, "float64")
    expected = np.where(np.tril(np.ones((3, 4), dtype=bool)), 0.0, -np.inf)
    np.testing.assert_array_equal(xpnet.backend.to_numpy(bias), expected)
    assert attention_ops.causal_bias(backend, 3, 4, "float64") is bias          # reused
    assert attention_ops.causal_bias(backend, 3, 4, "float32") is not bias      # per dtype
    assert attention_ops.causal_bias(backend, 4, 3, "float64") is not bias      # per size
    for length in range(5, 5 + attention_ops.CAUSAL_CACHE_SIZE):                # bounded
        attention_ops.causal_bias(backend, length, 2, "float64")
    rebuilt = attention_ops.causal_bias(backend, 3, 4, "float64")
    assert rebuilt is not bias
    np.testing.assert_array_equal(xpnet.backend.to_numpy(rebuilt), expected)


def test_causal_attention_reuses_its_bias_and_leaves_it_unchanged(device):
    q, k, v = random_inputs(device, (2, 3, 4), (2, 5, 4), (2, 5, 2), seed=5)
    backend = xpnet.device(device)
    first = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    bias = attention_ops.causal_bias(backend, 3, 5, "float64")
    with count_calls() as calls:
        second = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert not {"arange", "where"} & set(calls.by_name), dict(calls.by_name)
    assert attention_ops.causal_bias(backend, 3, 5, "float64") is bias
    assert_close(second, first.numpy(), rtol=0, atol=0)
    np.testing.assert_array_equal(xpnet.backend.to_numpy(bias),
                                  np.where(np.tril(np.ones((3, 5), dtype=bool)), 0.0, -np.inf))
    assert_close(second, attention_reference(q.numpy(), k.numpy(), v.numpy(),
                                             is_causal=True)[0], rtol=1e-10)


@pytest.mark.parametrize("need_weights", [False, True])
def test_attention_double_backward_reaches_a_float_mask_that_requires_grad(device, need_weights):
    q, k, v, mask = random_inputs(device, (2, 3, 4), (2, 5, 4), (2, 5, 3), (3, 5), seed=6)
    op = attention_ops.attention_with_weights if need_weights else F.scaled_dot_product_attention
    assert gradgradcheck(op, q, k, v, mask)
    # the mask broadcast over the batch, with the others not requiring grad
    q, k, v = (t.detach() for t in (q, k, v))
    assert gradgradcheck(lambda m: op(q, k, v, attn_mask=m), mask)
