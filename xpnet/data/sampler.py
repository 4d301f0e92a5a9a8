"""Samplers for data-parallel training: each rank's share of every epoch.

:class:`DistributedSampler` is PyTorch's, index for index (the same permutation for the same
seed and epoch, the same padding, the same split), so a run moved from PyTorch sees the same
batches. :func:`shard` gives contiguous, disjoint shards whose union is the dataset exactly,
for validation whose sums over the ranks are exact. :class:`EpochSlices` walks through data made
once for a whole run (random windows of a text), one slice per epoch.

The world's size and rank come from :mod:`xpnet.distributed` (imported only when a sampler is
not told them); nothing there imports this module.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["DistributedSampler", "shard", "EpochSlices"]

# torch.randperm's CPU algorithm (Fisher-Yates on mt19937) holds below this size; above it
# PyTorch switches algorithm, and so do we (to NumPy's permutation from the same seed)
_TORCH_RANDPERM_LIMIT = (2 ** 32 - 1) // 20


def torch_randperm(n: int, seed: int) -> np.ndarray:
    """``torch.randperm(n, generator=torch.Generator().manual_seed(seed))`` without PyTorch.

    PyTorch's CPU generator is a Mersenne Twister seeded with the seed's low 32 bits, and its
    randperm swaps position i with i + (next 32-bit draw mod (n - i)); NumPy's MT19937 with
    legacy seeding produces the same draws.

    >>> torch_randperm(5, 0).tolist()
    [4, 0, 1, 3, 2]
    """
    if n >= _TORCH_RANDPERM_LIMIT:
        return np.random.default_rng(seed % 2 ** 32).permutation(n).astype(np.int64)
    draws = max(n - 1, 0)
    # RandomState's full-range uint32 draws are the generator's raw 32-bit outputs
    generator = np.random.RandomState(seed % 2 ** 32)
    raw = generator.randint(0, 2 ** 32, size=draws, dtype=np.uint32)
    offsets = (raw.astype(np.int64) % np.arange(n, n - draws, -1, dtype=np.int64)).tolist()
    order = list(range(n))
    for i, offset in enumerate(offsets):   # sequential by nature; ~10 ms for 60,000 samples
        j = i + offset
        order[i], order[j] = order[j], order[i]
    return np.array(order, dtype=np.int64)


def _length(name, dataset) -> int:
    if isinstance(dataset, numbers.Integral) and not isinstance(dataset, bool):
        n = int(dataset)
    elif hasattr(dataset, "__len__"):
        n = len(dataset)
    else:
        raise TypeError(f"{name}: dataset must be a sized dataset or a number of samples, got "
                        f"{type(dataset).__name__}")
    if n < 1:
        raise ValueError(f"{name}: the dataset must hold at least one sample, got {n}")
    return n


def _world(name, num_replicas, rank):
    if num_replicas is None or rank is None:
        # the world is initialised on first use (MPI under mpiexec)
        from ..distributed.world import rank as world_rank, world_size
        num_replicas = world_size() if num_replicas is None else num_replicas
        rank = world_rank() if rank is None else rank
    for label, value in (("num_replicas", num_replicas), ("rank", rank)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name}: {label} must be an int, got {type(value).__name__}")
    if num_replicas < 1:
        raise ValueError(f"{name}: num_replicas must be >= 1, got {num_replicas}")
    if not 0 <= rank < num_replicas:
        raise ValueError(f"{name}: rank must be in 0..{num_replicas - 1}, got {rank}")
    return int(num_replicas), int(rank)


class DistributedSampler:
    """This rank's indices of each epoch, as ``torch.utils.data.DistributedSampler`` draws them.

    Every rank draws the same permutation (from ``seed + epoch``), pads it by wrap-around to
    a multiple of the world size (or, with ``drop_last``, cuts it down to one), and takes every
    ``num_replicas``-th index starting at its rank, so the ranks' shares are disjoint and of
    equal length (every rank runs the same number of steps). Call :meth:`set_epoch` before
    each epoch (a :class:`~xpnet.data.DataLoader` forwards its ``set_epoch``, and moves the
    sampler on by one epoch after each pass), or every epoch repeats the same order.

    Args:
        dataset: a sized dataset, or its number of samples.
        num_replicas: the number of ranks (default: :func:`xpnet.distributed.world_size`).
        rank: this rank (default: :func:`xpnet.distributed.rank`).
        shuffle: permute the indices every epoch.
        seed: the shuffle's seed; must be the same on every rank.
        drop_last: drop the tail that does not divide evenly instead of padding it with
            repeated samples (padding makes a few samples count twice per epoch).

    >>> sampler = DistributedSampler(10, num_replicas=3, rank=1, shuffle=False)
    >>> list(sampler), len(sampler)
    ([1, 4, 7, 0], 4)
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False):
        name = "DistributedSampler"
        self.dataset_length = _length(name, dataset)
        self.num_replicas, self.rank = _world(name, num_replicas, rank)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"{name}: seed must be an int, got {type(seed).__name__}")
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        n, k = self.dataset_length, self.num_replicas
        if self.drop_last and n % k:
            self.num_samples = math.ceil((n - k) / k)   # PyTorch's formula, also for n < k
        else:
            self.num_samples = math.ceil(n / k)
        self.total_size = self.num_samples * k

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s permutation from now on (the same number on every rank)."""
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral):
            raise TypeError(f"DistributedSampler.set_epoch: epoch must be an int, got "
                            f"{type(epoch).__name__}")
        self.epoch = int(epoch)

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch, as an int64 NumPy array."""
        n = self.dataset_length
        order = torch_randperm(n, self.seed + self.epoch) if self.shuffle \
            else np.arange(n, dtype=np.int64)
        # np.resize repeats the array cyclically: PyTorch's wrap-around padding (even when
        # the padding is longer than the dataset), or its cut with drop_last
        order = np.resize(order, self.total_size)
        return order[self.rank:self.total_size:self.num_replicas]

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self):
        return (f"DistributedSampler({self.dataset_length}, num_replicas={self.num_replicas}, "
                f"rank={self.rank}, shuffle={self.shuffle}, seed={self.seed}, "
                f"drop_last={self.drop_last})")


def shard(dataset, num_replicas=None, rank=None) -> range:
    """This rank's contiguous share of the samples, no sample repeated or left out: the
    shards of all ranks are disjoint and their union is the whole dataset (the first
    ``n % num_replicas`` ranks hold one sample more). For validation and testing, where sums
    over the ranks must be exact; pass it as a DataLoader's ``sampler`` (batches are then
    plain slices of the device arrays).

    ``dataset`` is a sized dataset or a number of samples; ``num_replicas`` and ``rank``
    default to the world's.

    >>> [shard(10, 3, r) for r in range(3)]
    [range(0, 4), range(4, 7), range(7, 10)]
    """
    n = _length("shard", dataset)
    num_replicas, rank = _world("shard", num_replicas, rank)
    base, extra = divmod(n, num_replicas)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


class EpochSlices:
    """A sampler whose epoch e is samples [e·n, (e+1)·n) of data made once for the whole run
    (under mpiexec, this rank's share of them: every ``num_replicas``-th one from its rank),
    so a resumed or extended run reads the same samples as an uninterrupted one.

    Args:
        per_epoch: samples per epoch (n).
        num_replicas, rank: the world's (default: :mod:`xpnet.distributed`'s).

    >>> sampler = EpochSlices(4, num_replicas=1, rank=0)
    >>> sampler.set_epoch(2)
    >>> list(sampler)
    [8, 9, 10, 11]
    """

    def __init__(self, per_epoch: int, num_replicas=None, rank=None):
        if isinstance(per_epoch, bool) or not isinstance(per_epoch, numbers.Integral) \
                or per_epoch < 1:
            raise ValueError(f"EpochSlices: per_epoch must be an int >= 1, got {per_epoch!r}")
        self.per_epoch = int(per_epoch)
        self.num_replicas, self.rank = _world("EpochSlices", num_replicas, rank)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def indices(self) -> range:
        start = self.epoch * self.per_epoch
        return range(start + self.rank, start + self.per_epoch, self.num_replicas)

    def __iter__(self):
        return iter(self.indices())

    def __len__(self) -> int:
        return len(self.indices())

    def __repr__(self):
        return (f"EpochSlices({self.per_epoch}, num_replicas={self.num_replicas}, "
                f"rank={self.rank})")
