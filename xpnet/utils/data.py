"""PyTorch's ``torch.utils.data`` path: datasets, samplers, ``random_split`` and the DataLoader.

``Dataset``, ``TensorDataset`` and ``DataLoader`` are :mod:`xpnet.data`'s own classes; this
module adds what PyTorch scripts reach for beside them, with PyTorch's semantics: ``Subset`` and
``random_split``, and the samplers (``SequentialSampler``, ``RandomSampler``,
``SubsetRandomSampler``, ``BatchSampler``), which a DataLoader takes as ``sampler=``.

Randomness comes from xpnet's host generator (seeded by :func:`xpnet.manual_seed`) unless a
``generator`` is given: a ``numpy.random.Generator``, or any object with ``initial_seed()``
(PyTorch's ``Generator`` API), whose seed starts a NumPy generator. The draws are therefore
not PyTorch's numbers; the rules (disjoint splits, a fresh order each epoch, lengths) are.

>>> import numpy as np
>>> ds = TensorDataset(np.arange(10.0), np.arange(10))
>>> train, val = random_split(ds, [0.8, 0.2], generator=np.random.default_rng(0))
>>> len(train), len(val), sorted(train.indices + val.indices) == list(range(10))
(8, 2, True)
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backend as _backend
from ..autograd import Tensor
from ..data import DataLoader, Dataset, TensorDataset
from ..random import host_rng

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
           "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "BatchSampler"]


def _rng(owner: str, generator) -> np.random.Generator:
    """The NumPy generator behind ``generator`` (None: xpnet's host generator)."""
    if generator is None:
        return host_rng()
    if isinstance(generator, np.random.Generator):
        return generator
    if callable(getattr(generator, "initial_seed", None)):
        return np.random.default_rng(int(generator.initial_seed()) % (1 << 64))
    raise TypeError(f"{owner}: generator must be None, a numpy.random.Generator or an object "
                    f"with initial_seed() (a Generator), got {type(generator).__name__}")


def _count(owner: str, name: str, value, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _host_rows(array, indices):
    if isinstance(array, Tensor):
        array = array.numpy()
    elif not isinstance(array, np.ndarray):
        array = _backend.to_numpy(array)
    return np.asarray(array)[np.asarray(indices, dtype=np.int64)]


# -- datasets -----------------------------------------------------------------------------------

class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``: ``Subset(ds, idx)[i] == ds[idx[i]]``.

    A subset of a dataset of whole arrays (:class:`TensorDataset`) has whole arrays too (the
    selected rows, gathered once on the host), so a DataLoader still puts it on the device once.
    """

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __getitem__(self, index):
        if isinstance(index, (list, tuple)):
            return [self.dataset[self.indices[int(i)]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def arrays(self):
        base = getattr(self.dataset, "arrays", None)   # AttributeError: samples one by one
        if base is None:
            raise AttributeError(f"{type(self.dataset).__name__} has no arrays")
        cached = self.__dict__.get("_arrays")
        if cached is None or cached[0] is not base:
            cached = (base, tuple(_host_rows(a, self.indices) for a in base))
            self.__dict__["_arrays"] = cached
        return cached[1]

    def __repr__(self):
        return f"Subset({self.dataset!r}, {len(self)} samples)"


class ConcatDataset(Dataset):
    """Several datasets one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]))

    def __len__(self) -> int:
        return int(self.cumulative_sizes[-1])

    def __getitem__(self, index):
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"ConcatDataset: index {index} is out of range for {n} samples")
        index = index % n
        which = int(np.searchsorted(self.cumulative_sizes, index, side="right"))
        start = 0 if which == 0 else int(self.cumulative_sizes[which - 1])
        return self.datasets[which][index - start]


def _split_lengths(n: int, lengths) -> list:
    lengths = list(lengths)
    if lengths and all(isinstance(f, float) for f in lengths) and \
            math.isclose(sum(lengths), 1.0) and sum(lengths) <= 1.0 + 1e-9:
        # fractions, as PyTorch: floor each, then hand out the remainder round-robin
        for i, f in enumerate(lengths):
            if not 0.0 <= f <= 1.0:
                raise ValueError(f"random_split: fraction at index {i} is not between 0 and 1, "
                                 f"got {f}")
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        return counts
    counts = [_count("random_split", "each length", k) for k in lengths]
    if sum(counts) != n:
        raise ValueError(f"random_split: the lengths {counts} sum to {sum(counts)}, but the "
                         f"dataset has {n} samples (the sum of input lengths must equal the "
                         f"length of the dataset, or the fractions must sum to 1)")
    return counts


def random_split(dataset, lengths, generator=None) -> list:
    """Split ``dataset`` into disjoint random :class:`Subset` s of the given lengths.

    ``lengths`` are counts that sum to ``len(dataset)``, or fractions that sum to 1 (floored,
    the remainder given one by one to the first subsets, as in PyTorch).
    """
    counts = _split_lengths(len(dataset), lengths)
    order = _rng("random_split", generator).permutation(len(dataset)).tolist()
    subsets, start = [], 0
    for k in counts:
        subsets.append(Subset(dataset, order[start:start + k]))
        start += k
    return subsets


# -- samplers -----------------------------------------------------------------------------------

class Sampler:
    """Base class of samplers: ``__iter__`` yields dataset indices (and ``__len__`` says how
    many, which a DataLoader needs)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__}: __iter__() is not implemented")


class SequentialSampler(Sampler):
    """Indices ``0 .. len(data_source) - 1`` in order."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A new random order of the dataset's indices on every pass.

    Args:
        data_source: the dataset (only its length is used).
        replacement: draw ``num_samples`` indices with replacement instead of a permutation.
        num_samples: how many indices a pass gives (default ``len(data_source)``; without
            replacement, more than the length repeats whole permutations, as PyTorch).
        generator: see the module docstring.
    """

    def __init__(self, data_source, replacement: bool = False, num_samples=None,
                 generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement must be a bool, got {replacement!r}")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = None if num_samples is None else \
            _count("RandomSampler", "num_samples", num_samples, minimum=1)
        self.generator = generator
        _rng("RandomSampler", generator)   # a bad generator fails here, not at the first epoch

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, rng = len(self.data_source), _rng("RandomSampler", self.generator)
        if self.replacement:
            return iter(rng.integers(0, n, self.num_samples).tolist())
        order = []
        while len(order) < self.num_samples:
            order += rng.permutation(n).tolist()
        return iter(order[:self.num_samples])

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a new random order on every pass."""

    def __init__(self, indices, generator=None):
        self.indices = [int(i) for i in indices]
        self.generator = generator
        _rng("SubsetRandomSampler", generator)

    def __iter__(self):
        order = _rng("SubsetRandomSampler", self.generator).permutation(len(self.indices))
        return iter([self.indices[i] for i in order.tolist()])

    def __len__(self) -> int:
        return len(self.indices)


class BatchSampler(Sampler):
    """Group another sampler's indices into lists of ``batch_size`` (the last one shorter
    unless ``drop_last``).

    >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        self.sampler = sampler
        self.batch_size = _count("BatchSampler", "batch_size", batch_size, minimum=1)
        if not isinstance(drop_last, bool):
            raise TypeError(f"BatchSampler: drop_last must be a bool, got {drop_last!r}")
        self.drop_last = drop_last

    def __iter__(self):
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


# ``torch.utils.data.sampler`` is a module in PyTorch; here it is this module
import sys as _sys  # noqa: E402

sampler = _sys.modules[__name__]
