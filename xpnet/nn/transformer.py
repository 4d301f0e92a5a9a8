"""The Transformer (Vaswani et al. 2017) as PyTorch builds it: encoder and decoder layers, their
stacks, the encoder-decoder model, and a sinusoidal positional encoding."""
from __future__ import annotations

import copy
import math

import numpy as np

from .. import ops
from ..autograd import Tensor
from ..autograd.creation import full
from ..checks import named_or_callable, positive_int
from . import init
from .activation import Dropout
from .attention import MultiheadAttention
from .linear import Linear
from .module import Buffer, Module, ModuleList
from .norm import LayerNorm

_ACTIVATIONS = {"relu": ops.relu, "gelu": ops.gelu}


def _activation(layer, activation):
    return named_or_callable(layer, "activation", activation, _ACTIVATIONS)


class _Layer(Module):
    """What the encoder and decoder layers share: attention, feed-forward block, norms."""

    def _build(self, cross, d_model, nhead, dim_feedforward, dropout, activation,
               layer_norm_eps, batch_first, norm_first, bias, device, dtype):
        fn = _activation(type(self).__name__, activation)
        kw = dict(device=device, dtype=dtype)
        # assigned in PyTorch's order, so parameters() and state_dict() list them as it does
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        if cross:
            self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                     batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        blocks = range(1, 4 if cross else 3)
        for i in blocks:
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        for i in blocks:
            setattr(self, f"dropout{i}", Dropout(dropout))
        self.activation = fn

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=bool(is_causal))[0]
        return self.dropout1(x)

    def extra_repr(self):
        attn = self.self_attn
        return f"d_model={attn.embed_dim}, nhead={attn.num_heads}, " \
               f"dim_feedforward={self.linear1.out_features}, norm_first={self.norm_first}"


class TransformerEncoderLayer(_Layer):
    """Self-attention and a feed-forward network, each with a residual connection and
    LayerNorm: ``norm(x + block(x))`` (post-norm, the paper's) or, with ``norm_first``,
    ``x + block(norm(x))`` (pre-norm, GPT's, which trains deep stacks more stably).

    Args:
        d_model: model width; nhead: attention heads (must divide d_model).
        dim_feedforward: hidden width of the feed-forward network (default 2048).
        dropout: on the attention weights, the feed-forward hidden layer and each block's output.
        activation: 'relu', 'gelu' or a callable (a function or a Module).
        layer_norm_eps, batch_first, norm_first, bias: as PyTorch's.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``; masks as
    :class:`MultiheadAttention`'s (boolean True = not allowed, or additive floats).

    Shape: (S, N, d_model) -> same ((N, S, d_model) with batch_first)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, *,
                 device=None, dtype=None):
        self._build(False, d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                    batch_first, norm_first, bias, device, dtype)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))


class TransformerDecoderLayer(_Layer):
    """Masked self-attention over the target, cross-attention to the encoder's output
    (``memory``), and a feed-forward network; residuals and LayerNorm as in
    :class:`TransformerEncoderLayer` (same arguments).

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``

    Shape: tgt (T, N, d_model), memory (S, N, d_model) -> (T, N, d_model) (batch_first:
    (N, T, d_model), ...)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, *,
                 device=None, dtype=None):
        self._build(True, d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                    batch_first, norm_first, bias, device, dtype)

    def _mha_block(self, x, memory, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, memory, memory, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, is_causal=bool(is_causal),
                                need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                    memory_is_causal)
            return x + self._ff_block(self.norm3(x))
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                           memory_is_causal))
        return self.norm3(x + self._ff_block(x))


def _clones(name, layer, num_layers):
    if not isinstance(layer, Module):
        raise TypeError(f"{name}: the layer must be a Module, got {type(layer).__name__}")
    num_layers = positive_int(name, "num_layers", num_layers)
    # independent deep copies, as PyTorch: every layer starts from the same weights
    return ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` applied in turn, then ``norm`` (if given).

    ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``; is_causal=None is
    taken as False (PyTorch would compare the mask with the causal one, a host read; the
    result is the same either way). ``enable_nested_tensor`` and ``mask_check`` are accepted
    for PyTorch's signature and have no effect.

    Shape: as the layer's
    """

    def __init__(self, encoder_layer, num_layers: int, norm=None, enable_nested_tensor=True,
                 mask_check=True):
        self.layers = _clones("TransformerEncoder", encoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal))
        return self.norm(x) if self.norm is not None else x


class TransformerDecoder(Module):
    """``num_layers`` copies of ``decoder_layer`` applied in turn, then ``norm`` (if given).

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)``

    Shape: as the layer's
    """

    def __init__(self, decoder_layer, num_layers: int, norm=None):
        self.layers = _clones("TransformerDecoder", decoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return self.norm(x) if self.norm is not None else x


class Transformer(Module):
    """The encoder-decoder Transformer: ``decoder(tgt, encoder(src))``, each stack ending in a
    LayerNorm; every weight matrix Xavier-uniform initialised, as PyTorch's. Arguments as
    :class:`TransformerEncoderLayer`'s, plus the layer counts and optional custom stacks.

    ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False)``; for autoregressive
    decoding pass ``tgt_mask=Transformer.generate_square_subsequent_mask(T)``.

    Shape: src (S, N, d_model), tgt (T, N, d_model) -> (T, N, d_model) (batch_first: (N, S, E),
    (N, T, E) -> (N, T, E))
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", custom_encoder=None, custom_decoder=None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, *, device=None, dtype=None):
        layer_kw = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                        layer_norm_eps=layer_norm_eps, batch_first=batch_first,
                        norm_first=norm_first, bias=bias, device=device, dtype=dtype)
        norm_kw = dict(eps=layer_norm_eps, bias=bias, device=device, dtype=dtype)
        self.encoder = custom_encoder if custom_encoder is not None else TransformerEncoder(
            TransformerEncoderLayer(d_model, nhead, **layer_kw), num_encoder_layers,
            LayerNorm(d_model, **norm_kw))
        self.decoder = custom_decoder if custom_decoder is not None else TransformerDecoder(
            TransformerDecoderLayer(d_model, nhead, **layer_kw), num_decoder_layers,
            LayerNorm(d_model, **norm_kw))
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def extra_repr(self):
        return f"d_model={self.d_model}, nhead={self.nhead}, batch_first={self.batch_first}"

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        batch = 0 if self.batch_first else 1
        if src.ndim == 3 and (tgt.ndim != 3 or src.shape[batch] != tgt.shape[batch]):
            raise self._error(f"src and tgt must have the same batch size (axis {batch}), got "
                              f"src {src.shape} and tgt {tgt.shape}")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise self._error(f"src and tgt must have d_model = {self.d_model} features, got "
                              f"src {src.shape} and tgt {tgt.shape}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """The (sz, sz) causal mask: 0 on and below the diagonal, -inf above (float, as
        PyTorch's).

        >>> Transformer.generate_square_subsequent_mask(3).tolist()
        [[0.0, -inf, -inf], [0.0, 0.0, -inf], [0.0, 0.0, 0.0]]
        """
        return ops.triu(full((sz, sz), -math.inf, dtype=dtype, device=device), diagonal=1)


class PositionalEncoding(Module):
    """Adds the sinusoidal position code of Vaswani et al.: for position t and i < d_model/2,
    ``pe[t, 2i] = sin(t / 10000^(2i/d_model))`` and ``pe[t, 2i+1] = cos(...)``, then dropout.

    Args:
        d_model: feature size; max_len: longest sequence (default 5000).
        dropout: applied to the sum in training mode (default 0).
        batch_first: (N, T, d_model) input instead of (T, N, d_model).

    The table is the buffer ``pe`` (max_len, d_model): saved in the state dict, never trained.

    Shape: (T, N, d_model) -> same ((N, T, d_model) with batch_first)

    >>> import xpnet
    >>> PositionalEncoding(4, max_len=10, batch_first=True)(xpnet.zeros(1, 2, 4)).tolist()[0][0]
    [0.0, 1.0, 0.0, 1.0]
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0,
                 batch_first: bool = False, *, device=None, dtype=None):
        d_model = positive_int("PositionalEncoding", "d_model", d_model)
        max_len = positive_int("PositionalEncoding", "max_len", max_len)
        position = np.arange(max_len, dtype=np.float64)[:, None]
        frequency = np.exp(np.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = np.zeros((max_len, d_model))
        pe[:, 0::2] = np.sin(position * frequency)
        pe[:, 1::2] = np.cos(position * frequency)[:, :d_model // 2]
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.pe = Buffer(pe, device=device, dtype=dtype or "float32")
        self.dropout = Dropout(dropout)

    def forward(self, x):
        length = x.shape[1 if self.batch_first else 0] if x.ndim == 3 else None
        if length is None or x.shape[-1] != self.d_model or length > self.max_len:
            layout = "(N, T, {})" if self.batch_first else "(T, N, {})"
            raise self._error(f"input must be {layout.format(self.d_model)} with T <= max_len = "
                              f"{self.max_len}, got {x.shape}")
        pe = self.pe[:length, :]
        if not self.batch_first:
            pe = ops.reshape(pe, (length, 1, self.d_model))
        return self.dropout(x + pe)

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"
