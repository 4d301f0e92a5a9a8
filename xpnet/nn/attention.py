"""MultiheadAttention: PyTorch's layer, parameter names and masks, on the fused attention op."""
from __future__ import annotations

import math

from .. import backend as _backend
from .. import ops
from ..autograd import Tensor
from ..autograd.creation import zeros
from ..checks import is_floating, positive_int, probability
from ..ops.attention import attention_with_weights, merge_heads, split_heads
from . import init
from .linear import Linear
from .module import Module, Parameter


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al. 2017): ``concat(head_1..head_h) W_o`` with
    ``head_i = softmax(Q W_q^i (K W_k^i)ᵀ / √d) V W_v^i``.

    Args:
        embed_dim: E, the model width; split into ``num_heads`` heads of E / num_heads.
        num_heads: parallel heads (must divide embed_dim).
        dropout: dropout on the attention weights, in training mode.
        bias: biases in the input and output projections.
        add_bias_kv: append a learned key and value (``bias_k``, ``bias_v``) to the sequence.
        add_zero_attn: append a zero key and value (after the projections).
        kdim, vdim: feature sizes of key and value (default E); when they differ from E, the
            projections are ``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight`` instead
            of the packed ``in_proj_weight`` (3E, E).
        batch_first: (N, L, E) tensors instead of (L, N, E).

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` returns ``(output, weights)``; weights are
    (N, L, S) (averaged over heads) or (N, H, L, S), or None with ``need_weights=False``, the
    fast path. As in PyTorch, a *boolean* ``attn_mask`` or ``key_padding_mask`` is True where
    attention is NOT allowed (the opposite of :func:`~xpnet.functional.
    scaled_dot_product_attention`'s); float masks are added to the scores. ``attn_mask`` is
    (L, S) or (N·num_heads, L, S), ``key_padding_mask`` (N, S). ``is_causal`` is a hint that
    ``attn_mask`` is the causal mask (which must be given, as PyTorch requires).

    Shape: query (L, N, E), key (S, N, kdim), value (S, N, vdim) -> (L, N, E) (batch_first:
    (N, L, E), ...; unbatched (L, E) too)
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, *, device=None, dtype=None):
        embed_dim = positive_int("MultiheadAttention", "embed_dim", embed_dim)
        num_heads = positive_int("MultiheadAttention", "num_heads", num_heads)
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim must be divisible by num_heads, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads}")
        dropout = probability("MultiheadAttention", "dropout", dropout)
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.head_dim = embed_dim // num_heads
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.batch_first, self.add_zero_attn = batch_first, add_zero_attn
        # PyTorch's init: Xavier-uniform projections, zero biases, Xavier-normal bias_k/bias_v
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(init.xavier_uniform((3 * embed_dim, embed_dim),
                                                                device=device, dtype=dtype))
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.in_proj_weight = None
            self.q_proj_weight, self.k_proj_weight, self.v_proj_weight = (
                Parameter(init.xavier_uniform((embed_dim, d), device=device, dtype=dtype))
                for d in (embed_dim, self.kdim, self.vdim))
        self.in_proj_bias = Parameter(init.zeros((3 * embed_dim,), device, dtype)) \
            if bias else None
        if add_bias_kv:
            self.bias_k, self.bias_v = (Parameter(init.xavier_normal((1, 1, embed_dim),
                                                                     device=device, dtype=dtype))
                                        for _ in range(2))
        else:
            self.bias_k = self.bias_v = None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        if bias:
            self.out_proj.bias = Parameter(init.zeros((embed_dim,), device, dtype))

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, " \
               f"batch_first={self.batch_first}"

    # -- projections ------------------------------------------------------------------------------
    def _weight(self, i):
        """W_q, W_k or W_v (rows of the packed in_proj_weight, or the separate weight)."""
        if self._qkv_same_embed_dim:
            e = self.embed_dim
            return self.in_proj_weight[i * e:(i + 1) * e, :]
        return (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)[i]

    def _bias(self, i, j=None):
        if self.in_proj_bias is None:
            return None
        e = self.embed_dim
        return self.in_proj_bias[i * e:(j or i + 1) * e]

    def _project(self, query, key, value):
        """q, k, v as (N, H, L or S, D); one matmul for self-attention, two when key is value."""
        heads, first = self.num_heads, self.batch_first
        if self._qkv_same_embed_dim and query is key and key is value:
            return split_heads(ops.linear(query, self.in_proj_weight, self.in_proj_bias), 3,
                               heads, first)
        q = split_heads(ops.linear(query, self._weight(0), self._bias(0)), 1, heads, first)
        if self._qkv_same_embed_dim and key is value:
            weight = self.in_proj_weight[self.embed_dim:, :]
            k, v = split_heads(ops.linear(key, weight, self._bias(1, 3)), 2, heads, first)
            return q, k, v
        k = split_heads(ops.linear(key, self._weight(1), self._bias(1)), 1, heads, first)
        v = split_heads(ops.linear(value, self._weight(2), self._bias(2)), 1, heads, first)
        return q, k, v

    # -- masks ----------------------------------------------------------------------------------
    def _additive(self, mask, dtype, name):
        """A PyTorch-convention mask (bool True = blocked, or float) as an additive float mask."""
        if mask.dtype == "bool":
            return ops.masked_fill(zeros(*mask.shape, dtype=dtype, device=mask.device), mask,
                                   -math.inf)
        if not is_floating(mask.dtype):
            raise self._error(f"{name} must be boolean (True = not allowed) or floating, got "
                              f"dtype {_backend.dtype_name(mask.dtype)}", TypeError)
        return mask

    def _mask(self, attn_mask, key_padding_mask, n, length, source, dtype):
        """attn_mask and key_padding_mask merged into one additive mask broadcasting to
        (N, H, L, S), or None."""
        merged = None
        for name, m in (("attn_mask", attn_mask), ("key_padding_mask", key_padding_mask)):
            if m is not None and not isinstance(m, Tensor):
                raise self._error(f"{name} must be a Tensor, got {type(m).__name__}", TypeError)
        if attn_mask is not None:
            expected = {2: (length, source), 3: (n * self.num_heads, length, source)}
            if expected.get(attn_mask.ndim) != attn_mask.shape:
                raise self._error(f"attn_mask must be (L, S) = {(length, source)} or (N·num_heads, "
                                  f"L, S) = {(n * self.num_heads, length, source)}, got "
                                  f"{attn_mask.shape}")
            merged = self._additive(attn_mask, dtype, "attn_mask")
            if merged.ndim == 3:
                merged = ops.reshape(merged, (n, self.num_heads, length, source))
        if key_padding_mask is not None:
            if key_padding_mask.shape != (n, source):
                raise self._error(f"key_padding_mask must be (N, S) = {(n, source)}, got "
                                  f"{key_padding_mask.shape}")
            padding = ops.reshape(self._additive(key_padding_mask, dtype, "key_padding_mask"),
                                  (n, 1, 1, source))
            merged = padding if merged is None else merged + padding
        return merged

    def _extend(self, k, v, mask, n):
        """add_bias_kv / add_zero_attn: one more key and value, and a 0 column on the mask."""
        extra = []
        if self.bias_k is not None:
            shape = (1, self.num_heads, 1, self.head_dim)
            base = zeros(n, 1, 1, 1, dtype=k.dtype, device=k.device)
            extra.append((ops.reshape(self.bias_k, shape) + base,
                          ops.reshape(self.bias_v, shape) + base))
        if self.add_zero_attn:
            z = zeros(n, self.num_heads, 1, self.head_dim, dtype=k.dtype, device=k.device)
            extra.append((z, z))
        for bk, bv in extra:
            k, v = ops.concat([k, bk], axis=2), ops.concat([v, bv], axis=2)
            if mask is not None:
                column = zeros(*mask.shape[:-1], 1, dtype=mask.dtype, device=mask.device)
                mask = ops.concat([mask, column], axis=-1)
        return k, v, mask

    # -- forward --------------------------------------------------------------------------------
    def _check_inputs(self, query, key, value):
        batched = query.ndim == 3
        layout = "(N, L, E)" if self.batch_first else "(L, N, E)"
        if query.ndim not in (2, 3) or query.shape[-1] != self.embed_dim:
            raise self._error(f"query must be {layout.replace('E', str(self.embed_dim))} "
                              f"(batch_first={self.batch_first}) or (L, {self.embed_dim}) "
                              f"unbatched, got {query.shape}")
        for name, t, dim in (("key", key, self.kdim), ("value", value, self.vdim)):
            if t.ndim != query.ndim or t.shape[-1] != dim or (
                    batched and t.shape[0 if self.batch_first else 1] != self.batch_size(query)):
                raise self._error(f"{name} must be {query.ndim}-D like query, with the same batch "
                                  f"size and {dim} features, got {name} {t.shape} for query "
                                  f"{query.shape}")
        seq = 1 if self.batch_first and batched else 0
        if key.shape[seq] != value.shape[seq]:
            raise self._error(f"key and value must have the same sequence length, got key "
                              f"{key.shape} and value {value.shape}")

    def batch_size(self, query):
        return query.shape[0 if self.batch_first else 1]

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        self._check_inputs(query, key, value)
        if is_causal and attn_mask is None:
            raise self._error("is_causal=True is a hint that attn_mask is the causal mask, so it "
                              "needs attn_mask; pass Transformer.generate_square_subsequent_mask"
                              "(L)")
        unbatched = query.ndim == 2
        if unbatched:   # a batch of one, in the layer's layout
            axis = 0 if self.batch_first else 1
            same_key, same_value = key is query, value is key   # keep the packed projection
            query = ops.reshape(query, query.shape[:axis] + (1,) + query.shape[axis:])
            key = query if same_key else ops.reshape(key, key.shape[:axis] + (1,) +
                                                     key.shape[axis:])
            value = key if same_value else ops.reshape(value, value.shape[:axis] + (1,) +
                                                       value.shape[axis:])
            if key_padding_mask is not None:
                key_padding_mask = ops.reshape(key_padding_mask, (1,) + key_padding_mask.shape)
        n = self.batch_size(query)
        length, source = (query.shape[1], key.shape[1]) if self.batch_first else \
            (query.shape[0], key.shape[0])
        q, k, v = self._project(query, key, value)
        dropout_p = self.dropout if self.training else 0.0
        causal = is_causal and key_padding_mask is None and not need_weights and \
            self.bias_k is None and not self.add_zero_attn
        mask = None if causal else self._mask(attn_mask, key_padding_mask, n, length, source,
                                              q.dtype)
        k, v, mask = self._extend(k, v, mask, n)
        if need_weights:
            out, weights = attention_with_weights(q, k, v, mask, dropout_p)
            if average_attn_weights:
                weights = ops.mean(weights, axis=1)
        else:
            out, weights = ops.scaled_dot_product_attention(q, k, v, mask, dropout_p,
                                                            is_causal=causal), None
        out = self.out_proj(merge_heads(out, self.batch_first))
        if unbatched:
            out = ops.reshape(out, out.shape[:axis] + out.shape[axis + 1:])
            if weights is not None:
                weights = ops.reshape(weights, weights.shape[1:])
        return out, weights
