"""Embedding lookup: a gather forward, a one-hot matmul backward."""
from __future__ import annotations

from .. import backend as _backend
from ..autograd import Function, Tensor
from ..checks import check_index_range, integer


class Embedding(Function):
    """y[..., :] = weight[indices[...], :].

    The gather is ``xp.take`` on the flattened indices. Its gradient is a scatter-add into the
    rows of ``weight``, which the Array API lacks; it is computed as the matmul
    ``one_hot(indices)^T @ grad_y``, (V, M) @ (M, D) for M looked-up indices and V rows. That
    costs O(M·V) memory and time: fine for the vocabularies of character and small word models,
    not for a 50 000-word vocabulary.
    """

    name = "embedding"
    floating_inputs = {1: "weight"}

    def __init__(self, padding_idx=None):
        self.padding_idx = padding_idx

    def forward(self, indices, weight):
        xp = self.xp
        if not xp.isdtype(indices.dtype, "integral"):
            raise TypeError(f"embedding: indices must be integers, got dtype "
                            f"{_backend.dtype_name(indices.dtype)}; convert them with "
                            f".astype('int64')")
        if weight.ndim != 2:
            raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), "
                             f"got shape {tuple(weight.shape)}")
        rows = weight.shape[0]
        flat = xp.reshape(indices, (-1,))
        check_index_range("embedding", "indices", self.backend, flat, rows)
        self.flat, self.rows = flat, rows
        try:
            y = xp.take(weight, flat, axis=0)
        except IndexError:   # a library that checks the gather itself (array-api-strict off the
            self.backend.run_deferred_checks()   # host): the deferred check names the bad ids
            raise
        return xp.reshape(y, tuple(indices.shape) + (weight.shape[1],))

    def backward(self, grad_y):
        xp = self.xp
        flat = self.flat
        grad_y = xp.reshape(grad_y, (flat.shape[0], grad_y.shape[-1]))
        ids = xp.arange(self.rows, dtype=flat.dtype, device=flat.device)
        one_hot = xp.astype(xp.reshape(flat, (-1, 1)) == ids, grad_y.dtype)   # (M, V)
        grad_weight = xp.matmul(xp.matrix_transpose(one_hot), grad_y)
        if self.padding_idx is not None:
            grad_weight[self.padding_idx, ...] = 0  # the padding row is never trained
        return None, grad_weight


def embedding(indices: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` (V, D) picked by integer ``indices`` of any shape: (*) -> (*, D).

    With ``padding_idx`` that row gets no gradient. The backward pass is a one-hot matmul
    (see :class:`Embedding`), sized for vocabularies of up to a few thousand rows.

    >>> weight = xpnet.randn(10, 4)
    >>> embedding(xpnet.tensor([[0, 2]]), weight).shape
    (1, 2, 4)
    """
    if not isinstance(indices, Tensor):
        raise TypeError(f"embedding: indices must be a Tensor of integers, got "
                        f"{type(indices).__name__}")
    if padding_idx is not None:
        padding_idx = integer("embedding", "padding_idx", padding_idx)
        rows = weight.shape[0]
        if not -rows <= padding_idx < rows:
            raise ValueError(f"embedding: padding_idx must be in [{-rows}, {rows}), got "
                             f"{padding_idx}")
        padding_idx %= rows
    return Embedding(padding_idx)(indices, weight)
