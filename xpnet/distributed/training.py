"""What ``fit()`` asks of a world of several processes: the methods of
``xpnet.train.trainer.SingleProcess``, carried out with this package's collectives."""
from __future__ import annotations

from .collectives import (BUCKET_BYTES, all_reduce_sums, average_buffers, average_gradients,
                          broadcast_parameters)
from .world import barrier, world

__all__ = ["TrainingWorld", "training_world", "loader"]


class TrainingWorld:
    """The world as the training loop sees it.

    ``start`` gives every rank rank 0's parameters and buffers; ``average_gradients`` runs
    between ``backward()`` and clipping; ``reduce`` sums the loss and metric totals (and the
    sample count) over the ranks, so every rank logs the same numbers and the NaN guard and
    early stopping decide alike; ``synchronize_buffers`` averages BatchNorm's statistics
    before validation and saving; files and display belong to ``is_main_process`` (rank 0),
    followed by a ``barrier()``.
    """

    def __init__(self, bucket_bytes: int = BUCKET_BYTES):
        w = world()
        self.rank, self.size, self.bucket_bytes = w.rank, w.size, bucket_bytes
        self.is_main_process = w.rank == 0

    def start(self, model) -> None:
        broadcast_parameters(model)

    def average_gradients(self, model) -> None:
        average_gradients(model, self.bucket_bytes)

    def reduce(self, totals: dict) -> dict:
        return all_reduce_sums(totals)

    def synchronize_buffers(self, model) -> None:
        average_buffers(model, self.bucket_bytes)

    def barrier(self) -> None:
        barrier()

    def __repr__(self):
        return f"TrainingWorld(rank={self.rank}, size={self.size})"


def loader(dataset, batch_size: int, *, shuffle: bool, seed=None, device=None,
           evaluation: bool = False):
    """A DataLoader of this rank's share: a :class:`~xpnet.data.DistributedSampler` for
    training (each epoch's shuffle split across the ranks), a contiguous :func:`shard` for
    evaluation (no sample counted twice, so summed metrics are exact); in a world of one, the
    plain loader.

    >>> import numpy as np
    >>> from xpnet.data import ArrayDataset
    >>> len(loader(ArrayDataset(np.zeros((10, 2))), 4, shuffle=True, seed=0))
    3
    """
    from ..data import DataLoader, DistributedSampler, shard
    if world().size == 1:
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed,
                          device=device)
    sampler = shard(dataset) if evaluation else DistributedSampler(
        dataset, shuffle=shuffle, seed=0 if seed is None else seed)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, device=device)


def training_world(bucket_bytes: int = BUCKET_BYTES) -> TrainingWorld:
    """The :class:`TrainingWorld` of this process (initialising the world on first use).

    >>> training_world().is_main_process
    True
    """
    return TrainingWorld(bucket_bytes)
