"""Embedding: a lookup table of learnable vectors, indexed by integer ids."""
from __future__ import annotations

from .. import ops
from . import init
from ..checks import integer, positive_int
from .module import Module, Parameter


class Embedding(Module):
    """Row ``i`` of ``weight`` for every integer id ``i`` in the input.

    Args:
        num_embeddings: size of the vocabulary V.
        embedding_dim: size D of each vector.
        padding_idx: an id whose row starts at zero and gets no gradient (for padding).
        device, dtype: where and how the weight is stored (default float32).

    The weight is drawn from N(0, 1), as in PyTorch. The backward pass is a one-hot matmul
    (see :func:`xpnet.functional.embedding`), made for vocabularies up to a few thousand ids.

    Shape: (*) integer ids -> (*, embedding_dim)

    >>> Embedding(65, 32)(xpnet.tensor([[1, 2, 3]])).shape
    (1, 3, 32)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 *, device=None, dtype=None):
        num_embeddings = positive_int("Embedding", "num_embeddings", num_embeddings)
        embedding_dim = positive_int("Embedding", "embedding_dim", embedding_dim)
        if padding_idx is not None:
            padding_idx = integer("Embedding", "padding_idx", padding_idx)
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be in [{-num_embeddings}, "
                                 f"{num_embeddings}), got {padding_idx}")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        self.weight = Parameter(init.normal((num_embeddings, embedding_dim), 0.0, 1.0, device,
                                            dtype))
        if padding_idx is not None:
            self.weight.array[padding_idx, ...] = 0

    def forward(self, indices):
        return ops.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self):
        extra = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{extra}"
