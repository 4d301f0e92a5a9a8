"""Sequence tasks for recurrent networks: the adding problem, copy memory, character text.

All are seeded and built on the host with NumPy; the arrays are ``batch_first``
(n_samples, seq_len, ...), ready for an :class:`~xpnet.data.ArrayDataset`.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import backend as _backend
from ..autograd import Tensor
from ..checks import integer, positive_int
from ..random import generator
from .dataset import ArrayDataset

__all__ = ["adding_problem", "copy_memory", "digit_sequences", "CharDataset"]


def adding_problem(n_samples: int = 1000, seq_len: int = 50, seed=None):
    """The adding problem (Hochreiter & Schmidhuber 1997): remember two marked numbers.

    Each sequence has two channels: values drawn from U(0, 1), and a marker that is 1 at exactly
    two steps, one in each half of the sequence, and 0 elsewhere. The target is the sum of the
    two marked values; always predicting the mean (1.0) gives an MSE of about 0.167.

    Returns:
        X float32 (n_samples, seq_len, 2), y float32 (n_samples, 1).

    >>> X, y = adding_problem(4, seq_len=10, seed=0)
    >>> X.shape, y.shape
    ((4, 10, 2), (4, 1))
    """
    positive_int("adding_problem", "n_samples", n_samples)
    integer("adding_problem", "seq_len", seq_len, 2)
    rng = generator("adding_problem", seed)
    values = rng.random((n_samples, seq_len))
    half = seq_len // 2
    first = rng.integers(0, half, n_samples)
    second = rng.integers(half, seq_len, n_samples)
    markers = np.zeros((n_samples, seq_len))
    rows = np.arange(n_samples)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    X = np.stack([values, markers], axis=-1).astype(np.float32)
    # the sum of the float32 values, so y equals the marked entries of X exactly
    y = (X[rows, first, 0] + X[rows, second, 0])[:, None]
    return X, y.astype(np.float32)


def copy_memory(n_samples: int = 1000, delay: int = 100, n_symbols: int = 8,
                copy_len: int = 10, seed=None):
    """The copy-memory task (Arjovsky, Shah & Bengio 2016): reproduce symbols after a delay.

    Symbols are 1..n_symbols, 0 is the blank and ``n_symbols + 1`` the delimiter (so there are
    ``n_symbols + 2`` classes). An input is ``copy_len`` random symbols, ``delay - 1`` blanks,
    the delimiter, then ``copy_len`` blanks; its target is ``delay + copy_len`` blanks followed
    by the ``copy_len`` symbols. Predicting blanks and then random symbols gives a
    cross-entropy of ``copy_len * log(n_symbols) / (delay + 2 * copy_len)``.

    Returns:
        X int64 (n_samples, delay + 2 * copy_len), y int64 of the same shape.

    >>> X, y = copy_memory(2, delay=5, copy_len=3, seed=0)
    >>> X.shape
    (2, 11)
    """
    positive_int("copy_memory", "n_samples", n_samples)
    positive_int("copy_memory", "delay", delay)
    positive_int("copy_memory", "n_symbols", n_symbols)
    positive_int("copy_memory", "copy_len", copy_len)
    rng = generator("copy_memory", seed)
    length = delay + 2 * copy_len
    symbols = rng.integers(1, n_symbols + 1, (n_samples, copy_len))
    X = np.zeros((n_samples, length), dtype=np.int64)
    y = np.zeros((n_samples, length), dtype=np.int64)
    X[:, :copy_len] = symbols
    X[:, copy_len + delay - 1] = n_symbols + 1
    y[:, -copy_len:] = symbols
    return X, y


def digit_sequences(n_samples: int = 1000, min_len: int = 1, max_len: int = 10,
                    task: str = "reverse", seed=None):
    """Digit strings of varying length and their reversal (or sorted order), padded: a
    sequence-to-sequence task for encoder-decoder models.

    Token ids: 0 padding, 1 start (BOS), 2 end (EOS), digit d is d + 3 (13 ids in all).
    Lengths are uniform in [min_len, max_len].

    Returns:
        src int64 (n_samples, max_len): the digits, then 0s.
        tgt int64 (n_samples, max_len + 2): BOS, the digits reversed (``task='reverse'``) or
        sorted (``'sort'``), EOS, then 0s; ``tgt[:, :-1]`` feeds the decoder (teacher forcing)
        and ``tgt[:, 1:]`` is what it predicts.

    >>> src, tgt = digit_sequences(2, 3, 3, seed=0)
    >>> (src[0] - 3).tolist(), (tgt[0, 1:4] - 3).tolist()
    ([8, 6, 5], [5, 6, 8])
    """
    positive_int("digit_sequences", "n_samples", n_samples)
    positive_int("digit_sequences", "min_len", min_len)
    integer("digit_sequences", "max_len", max_len, min_len)
    if task not in ("reverse", "sort"):
        raise ValueError(f"digit_sequences: task must be 'reverse' or 'sort', got {task!r}")
    rng = generator("digit_sequences", seed)
    lengths = rng.integers(min_len, max_len + 1, n_samples)
    digits = rng.integers(0, 10, (n_samples, max_len)) + 3
    inside = np.arange(max_len) < lengths[:, None]
    src = np.where(inside, digits, 0)
    if task == "sort":   # padding sorts last as a large id, then becomes 0 again
        out = np.sort(np.where(inside, src, 99), axis=1)
        out = np.where(inside, out, 0)
    else:                # reversed within each length: position i takes digit length - 1 - i
        index = np.clip(lengths[:, None] - 1 - np.arange(max_len), 0, max_len - 1)
        out = np.where(inside, np.take_along_axis(src, index, axis=1), 0)
    tgt = np.zeros((n_samples, max_len + 2), dtype=np.int64)
    tgt[:, 0] = 1
    tgt[:, 1:-1] = out
    tgt[np.arange(n_samples), lengths + 1] = 2
    return src.astype(np.int64), tgt


class CharDataset(ArrayDataset):
    """Character-level language modelling windows from a text: predict the next character.

    Args:
        text: the text itself, or a path to a text file (a ``pathlib.Path``, or a string that
            names an existing file).
        seq_len: characters per window.
        stride: start of one window to the start of the next (default ``seq_len``: windows
            do not overlap, so the arrays are about as large as the text).

    Sample i is ``(ids[s:s + seq_len], ids[s + 1:s + seq_len + 1])`` with ``s = i * stride``,
    both int64 (seq_len,). The vocabulary is the sorted set of characters: ``chars``,
    ``stoi``, ``itos``, ``vocab_size``, ``encode(str)``, ``decode(ids)``.

    >>> ds = CharDataset("hello world", seq_len=4)
    >>> ds.decode(ds[0][0]), ds.decode(ds[0][1])
    ('hell', 'ello')
    """

    def __init__(self, text, seq_len: int, stride: int | None = None):
        if isinstance(text, os.PathLike) or (isinstance(text, str) and "\n" not in text
                                             and len(text) < 4096 and os.path.isfile(text)):
            self.path = Path(text)
            text = self.path.read_text(encoding="utf-8")
        else:
            self.path = None
        if not isinstance(text, str):
            raise TypeError(f"CharDataset: text must be a str or a path, got "
                            f"{type(text).__name__}")
        positive_int("CharDataset", "seq_len", seq_len)
        stride = seq_len if stride is None else stride
        positive_int("CharDataset", "stride", stride)
        if len(text) < seq_len + 1:
            raise ValueError(f"CharDataset: the text must hold at least seq_len + 1 = "
                             f"{seq_len + 1} characters, got {len(text)}")
        self.text, self.seq_len, self.stride = text, int(seq_len), int(stride)
        self.chars = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.itos = dict(enumerate(self.chars))
        ids = self.encode(text)
        windows = np.lib.stride_tricks.sliding_window_view(ids, seq_len + 1)[::stride]
        # copies: the window view is read-only and would pin the whole id array
        super().__init__(np.array(windows[:, :-1]), np.array(windows[:, 1:]))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """int64 ids of the characters of ``text`` (each must be in the vocabulary)."""
        try:
            return np.array([self.stoi[c] for c in text], dtype=np.int64)
        except KeyError as exc:
            raise ValueError(f"CharDataset.encode: character {exc.args[0]!r} is not in the "
                             f"vocabulary of {self.vocab_size} characters") from None

    def decode(self, ids) -> str:
        """The text of a sequence of ids (a list, NumPy array or Tensor)."""
        if isinstance(ids, Tensor):
            ids = ids.numpy()
        elif _backend.is_array(ids):
            ids = _backend.to_numpy(ids)
        return "".join(self.itos[int(i)] for i in np.asarray(ids).reshape(-1))

    def __repr__(self):
        return (f"CharDataset({len(self)} windows of {self.seq_len}, vocab_size="
                f"{self.vocab_size}, {len(self.text)} characters)")
