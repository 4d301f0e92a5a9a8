"""Attention: scaled dot-product attention as one Function, the masks it takes (``tril``,
``triu``, ``masked_fill``), and the head split/merge that multi-head attention wraps around it.

With S = scale·Q Kᵀ + mask, P = softmax(S) along the keys and O = P V, the backward pass is

    dV = Pᵀ dO          dP = dO Vᵀ
    dS = P ⊙ (dP − rowsum(dP ⊙ P))          (the softmax Jacobian-vector product)
    dQ = scale·dS K      dK = scale·dSᵀ Q     d(additive mask) = dS

all in one Function: two matmuls forward and four backward, no per-head Python loop. Since
dP = dO Vᵀ, rowsum(dP ⊙ P) = rowsum(dO ⊙ O) (FlashAttention's identity, dropout included):
a pass over (L, Ev) instead of (L, S). The (L, S) arrays are updated in place, as every fresh
one costs page faults on NumPy. The causal mask's bias is built once per device, dtype and
(L, S) (:func:`causal_bias`).
"""
from __future__ import annotations

import collections
import math
import numbers

from .. import backend as _backend
from .. import random as _random
from ..autograd import Function, Tensor
from ..checks import integer, is_floating, probability


def _broadcast(shapes):
    """The broadcast of several shapes, or None when they do not broadcast."""
    ndim = max(len(s) for s in shapes)
    out = []
    for i in range(ndim):
        sizes = {s[len(s) - ndim + i] for s in shapes if len(s) - ndim + i >= 0} - {1}
        if len(sizes) > 1:
            return None
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


class ScaledDotProductAttention(Function):
    """O = softmax(scale·Q Kᵀ + mask) V; a second output, the attention weights, on request."""

    name = "scaled_dot_product_attention"

    def __init__(self, scale, dropout_p, is_causal, return_weights):
        self.scale, self.dropout_p = scale, dropout_p
        self.is_causal, self.return_weights = is_causal, return_weights

    def _check(self, query, key, value, mask):
        xp, op = self.xp, self.name
        q, k, v = (tuple(t.shape) for t in (query, key, value))
        if min(len(q), len(k), len(v)) < 2:
            raise ValueError(f"{op}: query, key and value must be at least 2-D (..., L, E), got "
                             f"query {q}, key {k} and value {v}")
        if not (is_floating(query.dtype) and query.dtype == key.dtype == value.dtype):
            names = [_backend.dtype_name(t.dtype) for t in (query, key, value)]
            raise TypeError(f"{op}: query, key and value must have one floating dtype, got "
                            f"{names}")
        if q[-1] != k[-1]:
            raise ValueError(f"{op}: query and key must have the same embedding size "
                             f"(shape[-1]), got query {q} and key {k}")
        if k[-2] != v[-2]:
            raise ValueError(f"{op}: key and value must have the same sequence length "
                             f"(shape[-2]), got key {k} and value {v}")
        batch = _broadcast([q[:-2], k[:-2], v[:-2]])
        if batch is None:
            raise ValueError(f"{op}: the leading (batch, head) axes of query, key and value must "
                             f"broadcast, got query {q}, key {k} and value {v}")
        scores = batch + (q[-2], k[-2])
        if mask is not None:
            if not (mask.dtype == xp.bool or is_floating(mask.dtype)):
                raise TypeError(f"{op}: attn_mask must be boolean (True = attend) or floating "
                                f"(added to the scores), got dtype "
                                f"{_backend.dtype_name(mask.dtype)}")
            if _broadcast([scores, tuple(mask.shape)]) != scores:
                raise ValueError(f"{op}: attn_mask must broadcast to the scores' shape (..., L, "
                                 f"S) = {scores}, got {tuple(mask.shape)}")
        return scores

    def _bias(self, mask, length, source, dtype, device):
        """The additive mask: 0 where attending, -inf where not (None for no mask)."""
        xp = self.xp
        if self.is_causal:
            return causal_bias(self.backend, length, source, dtype)
        if mask is None:
            return None
        if mask.dtype == xp.bool:
            return xp.where(mask, xp.asarray(0.0, dtype=dtype, device=device),
                            xp.asarray(-math.inf, dtype=dtype, device=device))
        return mask if mask.dtype == dtype else xp.astype(mask, dtype)

    def forward(self, query, key, value, mask):
        xp = self.xp
        scores_shape = self._check(query, key, value, mask)
        dtype, device = query.dtype, query.device
        # no embedding (E = 0): every score is 0 whatever the scale, so the weights are uniform
        scale = self.scale if self.scale is not None else 1.0 / math.sqrt(max(1, query.shape[-1]))
        scores = xp.matmul(query, xp.matrix_transpose(key))
        scores *= scale   # in place: a fresh array
        bias = self._bias(mask, query.shape[-2], key.shape[-2], dtype, device)
        if bias is not None:
            if tuple(scores.shape) == scores_shape:
                scores += bias
            else:   # value or the mask has batch axes that query and key lack
                scores = scores + bias
        # A row whose every key is masked has max -inf; shifting by the lowest finite number
        # instead leaves exp(-inf) = 0 everywhere, and the sum (>= 1 for any other row, whose
        # max gives exp(0) = 1) is raised to 1: that row's weights, output and gradient are 0.
        lowest = float(xp.finfo(dtype).min)
        if scores.shape[-1] == 0:   # no keys (S = 0): no weights, and an output of zeros
            row_max = xp.full(tuple(scores.shape[:-1]) + (1,), lowest, dtype=dtype, device=device)
        else:
            row_max = xp.maximum(xp.max(scores, axis=-1, keepdims=True), lowest)
        if tuple(scores.shape) == scores_shape:
            scores -= row_max   # in place: scores is this op's own array
        else:
            # value has batch axes that query, key and the mask lack: the subtraction
            # broadcasts into a new array (never written through a broadcast view, which NumPy
            # refuses and CuPy writes through its zero strides)
            scores = xp.broadcast_to(scores, scores_shape) - row_max
        p = xp.exp(scores)
        p /= xp.maximum(xp.sum(p, axis=-1, keepdims=True), 1.0)
        weights, keep = p, None
        if self.dropout_p > 0.0:
            keep = xp.astype(_random.uniform(self.backend, p.shape, dtype) >= self.dropout_p,
                             dtype) * (1.0 / (1.0 - self.dropout_p))
            weights = p * keep
        self.query, self.key, self.value = query, key, value
        self.p, self.weights, self.keep, self.scale_used = p, weights, keep, scale
        self.out = out = xp.matmul(weights, value)
        return (out, weights) if self.return_weights else out

    def backward(self, grad_out, grad_weights=None):
        xp = self.xp
        need_q, need_k, need_v, need_mask = self.needs_input_grad
        p, weights, keep, scale = self.p, self.weights, self.keep, self.scale_used
        grad_v = xp.matmul(xp.matrix_transpose(weights), grad_out) if need_v else None
        if not (need_q or need_k or need_mask):
            return None, None, grad_v, None
        # rowsum(dP ⊙ P) = rowsum(dO ⊙ O) (+ rowsum(dW ⊙ W) for a gradient on the weights)
        row_dot = xp.sum(grad_out * self.out, axis=-1, keepdims=True)
        grad_p = xp.matmul(grad_out, xp.matrix_transpose(self.value))
        if grad_weights is not None:
            row_dot = row_dot + xp.sum(grad_weights * weights, axis=-1, keepdims=True)
            grad_p += grad_weights
        if keep is not None:
            grad_p *= keep
        grad_p -= row_dot
        grad_p *= p                  # now dS, the gradient of the (masked) scores
        grad_mask = grad_p if need_mask else None
        if need_mask:
            grad_scaled = grad_p * scale
        else:
            grad_scaled = grad_p
            grad_scaled *= scale
        grad_q = xp.matmul(grad_scaled, self.key) if need_q else None
        grad_k = xp.matmul(xp.matrix_transpose(grad_scaled), self.query) if need_k else None
        return grad_q, grad_k, grad_v, grad_mask

    def backward_on_tensors(self, grads):
        """create_graph: backward updates its arrays in place, so the gradient is taken through
        the same forward written with differentiable ops (softmax of the masked, scaled scores
        times V; the dropout mask and the row maxima as constants; a float mask that requires
        grad as an input), by a nested grad() that records its own graph."""
        from ..autograd import grad
        from .elementwise import astype
        from .linalg import matmul
        from .shape import transpose
        query, key, value, mask = self.inputs
        backend, xp = self.backend, self.backend.xp
        const = lambda a: Tensor.from_array(a, False, backend)  # noqa: E731
        scores = matmul(query, transpose(key, -2, -1)) * self.scale_used
        dtype = query.array.dtype
        if self.needs_input_grad[3]:     # a float mask that requires grad: added as a Tensor
            same = mask.array.dtype == dtype
            scores = scores + (mask if same else astype(mask, _backend.dtype_name(dtype)))
        else:
            bias = self._bias(None if mask is None else mask.array, query.shape[-2],
                              key.shape[-2], dtype, query.array.device)
            if bias is not None:
                scores = scores + const(bias)
        row_max = xp.maximum(xp.max(scores.array, axis=-1, keepdims=True),
                             float(xp.finfo(query.array.dtype).min))
        e = (scores - const(row_max)).exp()
        total = e.sum(-1, keepdim=True)
        p = e / _maximum_one(total, backend)
        weights = p if self.keep is None else p * const(self.keep)
        outputs = [matmul(weights, value)]
        if self.return_weights:
            outputs.append(weights)
        inputs = (query, key, value, mask)
        wanted = [t for t, need in zip(inputs, self.needs_input_grad) if need]
        found = iter(grad(outputs, wanted, grad_outputs=list(grads[:len(outputs)]),
                          create_graph=True, allow_unused=True))
        return tuple(next(found) if need else None for need in self.needs_input_grad)


_CAUSAL_BIASES: collections.OrderedDict = collections.OrderedDict()
CAUSAL_CACHE_SIZE = 8     # (L, S) arrays kept; the least recently used goes first


def causal_bias(backend, length: int, source: int, dtype):
    """The causal mask as an additive (L, S) bias of ``dtype`` on ``backend``: 0 where key j <=
    query i (top-left aligned, as PyTorch's), -inf elsewhere. Built once per (device, dtype,
    L, S) and kept for the next call (the last :data:`CAUSAL_CACHE_SIZE` of them), so a
    causal model's every layer and step reuses one array instead of three launches each; the
    array is shared: read it, never write into it.

    >>> import xpnet
    >>> causal_bias(xpnet.device("cpu"), 2, 3, "float32").tolist()
    [[0.0, -inf, -inf], [0.0, 0.0, -inf]]
    """
    key = (backend.name, _backend.dtype_name(dtype), int(length), int(source))
    bias = _CAUSAL_BIASES.get(key)
    if bias is not None:
        _CAUSAL_BIASES.move_to_end(key)
        return bias
    xp, device, dtype = backend.xp, backend.device, backend.dtype(key[1])
    with backend.scope():
        rows = xp.reshape(xp.arange(length, device=device), (length, 1))
        bias = xp.where(xp.arange(source, device=device) <= rows,
                        xp.asarray(0.0, dtype=dtype, device=device),
                        xp.asarray(-math.inf, dtype=dtype, device=device))
    _CAUSAL_BIASES[key] = bias
    while len(_CAUSAL_BIASES) > CAUSAL_CACHE_SIZE:
        _CAUSAL_BIASES.popitem(last=False)
    return bias


def _maximum_one(total, backend):
    """max(total, 1) elementwise (a row whose every key is masked sums to 0)."""
    from .elementwise import maximum
    ones = Tensor.from_array(backend.xp.ones_like(total.array), False, backend)
    return maximum(total, ones)


def _check_call(query, key, value, attn_mask, dropout_p, is_causal, scale):
    op = "scaled_dot_product_attention"
    for name, t in (("query", query), ("key", key), ("value", value), ("attn_mask", attn_mask)):
        if not (isinstance(t, Tensor) or (t is None and name == "attn_mask")):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    probability(op, "dropout_p", dropout_p)
    if is_causal and attn_mask is not None:
        raise ValueError(f"{op}: is_causal=True builds the causal mask itself, so attn_mask must "
                         f"be None, got a mask of shape {attn_mask.shape}; fold the causal mask "
                         f"into attn_mask instead")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, numbers.Real)):
        raise TypeError(f"{op}: scale must be a number or None, got {type(scale).__name__}")


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None) -> Tensor:
    """softmax(query·keyᵀ·scale + mask)·value, as ``torch.nn.functional``'s.

    Args:
        query: (..., L, E); key: (..., S, E); value: (..., S, Ev). The leading (batch, head)
            axes broadcast against each other.
        attn_mask: broadcastable to (..., L, S); boolean (True = may attend, as PyTorch's
            function; note ``nn.MultiheadAttention`` uses the opposite convention) or floating
            (added to the scores, e.g. 0 and -inf; it receives a gradient).
        dropout_p: drop attention weights with this probability, scaling the rest by
            1/(1 − p); applied whenever it is > 0 (pass 0.0 in eval, as PyTorch's callers do).
            The mask comes from the device's generator (:func:`xpnet.manual_seed`).
        is_causal: query i attends to keys 0..i only (top-left aligned); excludes attn_mask.
        scale: multiplies the scores; default 1/sqrt(E).

    A query whose every key is masked gets zero weights, so its output row is 0, not NaN (as
    PyTorch's function gives), and no gradient flows through it.

    Memory: the weights P (..., L, S) are kept for the backward pass, O(L·S) per head and
    batch element: batch·heads·L·S·4 bytes per layer in float32 (three such arrays with
    dropout: P, the mask and the dropped P), and one more for a moment in forward and in
    backward. A 6-layer, 8-head model on a 24 GB GPU that gives attention 16 GB reaches
    L = S ≈ 9 000 at batch 1 and ≈ 1 600 at batch 32 (FlashAttention's recomputation of P in
    the backward pass would lift this; this op keeps P).

    Shape: (..., L, E), (..., S, E), (..., S, Ev) -> (..., L, Ev)

    >>> import xpnet
    >>> q = xpnet.ones(1, 2, 3, 4); kv = xpnet.ones(1, 2, 5, 4)
    >>> scaled_dot_product_attention(q, kv, kv, is_causal=True).shape
    (1, 2, 3, 4)
    """
    _check_call(query, key, value, attn_mask, dropout_p, is_causal, scale)
    return ScaledDotProductAttention(None if scale is None else float(scale), float(dropout_p),
                                     bool(is_causal), False)(query, key, value, attn_mask)


def attention_with_weights(query: Tensor, key: Tensor, value: Tensor,
                           attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                           is_causal: bool = False, scale: float | None = None):
    """:func:`scaled_dot_product_attention` that also returns the attention weights
    (..., L, S), after dropout (what ``nn.MultiheadAttention(need_weights=True)`` returns);
    both outputs carry gradients."""
    _check_call(query, key, value, attn_mask, dropout_p, is_causal, scale)
    return ScaledDotProductAttention(None if scale is None else float(scale), float(dropout_p),
                                     bool(is_causal), True)(query, key, value, attn_mask)


# -- masks ----------------------------------------------------------------------------------

class _Triangle(Function):
    """Keep the lower (tril) or upper (triu) triangle of the last two axes, zero the rest."""

    def __init__(self, diagonal, lower):
        self.diagonal, self.lower = diagonal, lower
        self.name = "tril" if lower else "triu"

    def forward(self, x):
        xp = self.xp
        if x.ndim < 2:
            raise ValueError(f"{self.name}: input must be at least 2-D, got shape "
                             f"{tuple(x.shape)}")
        rows, cols = x.shape[-2], x.shape[-1]
        offset = xp.arange(cols, device=x.device) - xp.reshape(
            xp.arange(rows, device=x.device), (rows, 1))       # column - row
        self.keep = offset <= self.diagonal if self.lower else offset >= self.diagonal
        return xp.where(self.keep, x, xp.zeros_like(x))

    def backward(self, grad_y):
        return self.xp.where(self.keep, grad_y, self.xp.zeros_like(grad_y))


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two axes (entries with column − row <= diagonal), the rest
    zero; any dtype (boolean masks too).

    >>> import xpnet
    >>> tril(xpnet.ones(3, 3)).tolist()
    [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]
    """
    return _Triangle(integer("tril", "diagonal", diagonal), True)(x)


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two axes (column − row >= diagonal), the rest zero.

    >>> import xpnet
    >>> triu(xpnet.ones(2, 3), diagonal=1).tolist()
    [[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]]
    """
    return _Triangle(integer("triu", "diagonal", diagonal), False)(x)


class MaskedFill(Function):
    name = "masked_fill"

    def __init__(self, value):
        self.value = value

    def forward(self, x, mask):
        xp = self.xp
        if mask.dtype != xp.bool:
            raise TypeError(f"masked_fill: mask must be boolean, got dtype "
                            f"{_backend.dtype_name(mask.dtype)}")
        if _broadcast([tuple(x.shape), tuple(mask.shape)]) != tuple(x.shape):
            raise ValueError(f"masked_fill: mask must broadcast to the input's shape "
                             f"{tuple(x.shape)}, got {tuple(mask.shape)}")
        self.mask = mask
        return xp.where(mask, xp.asarray(self.value, dtype=x.dtype, device=x.device), x)

    def backward(self, grad_y):
        xp = self.xp
        return xp.where(self.mask, xp.zeros_like(grad_y), grad_y), None


def masked_fill(x: Tensor, mask: Tensor, value: float) -> Tensor:
    """``x`` with ``value`` where the boolean ``mask`` (broadcast to x's shape) is True; the
    filled entries get no gradient.

    >>> import xpnet
    >>> masked_fill(xpnet.zeros(2, 2), xpnet.tensor([[False, True], [False, False]]),
    ...             float("-inf")).tolist()
    [[0.0, -inf], [0.0, 0.0]]
    """
    if not isinstance(mask, Tensor):
        raise TypeError(f"masked_fill: mask must be a boolean Tensor, got {type(mask).__name__}")
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        raise TypeError(f"masked_fill: value must be a Python number, got "
                        f"{type(value).__name__}")
    return MaskedFill(value)(x, mask)


# -- heads ----------------------------------------------------------------------------------

class SplitHeads(Function):
    """(A, B, parts·H·D) -> ``parts`` tensors (N, H, L, D): the packed projection of multi-head
    attention cut into heads, one view each, with (N, L) = (A, B) if batch_first else (B, A).
    Backward stacks the gradients back into the packed layout (one copy)."""

    name = "split_heads"

    def __init__(self, parts, num_heads, batch_first):
        self.parts, self.num_heads, self.batch_first = parts, num_heads, batch_first

    def forward(self, x):
        xp = self.xp
        if x.ndim != 3 or x.shape[2] % (self.parts * self.num_heads):
            raise ValueError(f"split_heads: input must be (A, B, {self.parts}·num_heads·D), got "
                             f"{tuple(x.shape)}")
        a, b, width = x.shape
        head_dim = width // (self.parts * self.num_heads)
        self.in_shape = tuple(x.shape)
        # (A, B, parts, H, D) -> (parts, N, H, L, D)
        self.axes = (2, 0, 3, 1, 4) if self.batch_first else (2, 1, 3, 0, 4)
        y = xp.permute_dims(xp.reshape(x, (a, b, self.parts, self.num_heads, head_dim)),
                            self.axes)
        return tuple(y[i, ...] for i in range(self.parts)) if self.parts > 1 else y[0, ...]

    def backward(self, *grads):
        xp = self.xp
        inverse = [0] * 5
        for i, axis in enumerate(self.axes):
            inverse[axis] = i
        packed = xp.permute_dims(xp.stack(grads, axis=0), tuple(inverse))
        return xp.reshape(packed, self.in_shape)


class MergeHeads(Function):
    """(N, H, L, D) -> (N, L, H·D) if batch_first else (L, N, H·D)."""

    name = "merge_heads"

    def __init__(self, batch_first):
        self.batch_first = batch_first

    def forward(self, x):
        xp = self.xp
        n, h, length, d = x.shape
        self.axes = (0, 2, 1, 3) if self.batch_first else (2, 0, 1, 3)
        y = xp.permute_dims(x, self.axes)
        self.mid_shape = tuple(y.shape)
        return xp.reshape(y, self.mid_shape[:2] + (h * d,))

    def backward(self, grad_y):
        xp = self.xp
        inverse = [0] * 4
        for i, axis in enumerate(self.axes):
            inverse[axis] = i
        return xp.permute_dims(xp.reshape(grad_y, self.mid_shape), tuple(inverse))


def split_heads(x: Tensor, parts: int, num_heads: int, batch_first: bool):
    """See :class:`SplitHeads`; a tuple of ``parts`` tensors (one tensor when parts is 1)."""
    return SplitHeads(parts, num_heads, batch_first)(x)


def merge_heads(x: Tensor, batch_first: bool) -> Tensor:
    """See :class:`MergeHeads`."""
    return MergeHeads(batch_first)(x)
