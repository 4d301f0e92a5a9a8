"""The world as the training loop sees it: one process, or several under ``mpiexec``.

:class:`SingleProcess` and :class:`TrainingWorld` offer the same methods, which the Trainer
calls at fixed points: ``start`` (rank 0's parameters and buffers everywhere), ``average_gradients``
(between ``backward()`` and clipping), ``reduce`` (the loss and metric sums over the ranks, so
every rank logs the same numbers and the NaN guard and early stopping decide alike),
``synchronize_buffers`` (BatchNorm's statistics averaged before validation and saving) and
``barrier``; files and display belong to ``is_main_process`` (rank 0).

The engines (MPI, NCCL, the collectives) are :mod:`xpnet.distributed`'s; this module imports it
only once a world of several processes exists, so a single-process run never touches MPI.
"""
from __future__ import annotations

import sys

__all__ = ["SingleProcess", "TrainingWorld", "training_world", "world_loader"]


class SingleProcess:
    """The world of one process: every method is the identity."""

    is_main_process = True
    rank, size = 0, 1

    def start(self, model) -> None:
        pass

    def average_gradients(self, model) -> None:
        pass

    def reduce(self, totals: dict) -> dict:
        return totals

    def synchronize_buffers(self, model) -> None:
        pass

    def barrier(self) -> None:
        pass

    def __repr__(self):
        return "SingleProcess()"


class TrainingWorld:
    """A world of several processes, through :mod:`xpnet.distributed`'s collectives
    (``bucket_bytes`` per allreduce of gradients and buffers; None: the collectives' default)."""

    def __init__(self, bucket_bytes: int | None = None):
        from ..distributed import BUCKET_BYTES
        from ..distributed.world import world
        w = world()
        self.rank, self.size = w.rank, w.size
        self.bucket_bytes = BUCKET_BYTES if bucket_bytes is None else bucket_bytes
        self.is_main_process = w.rank == 0

    def start(self, model) -> None:
        from ..distributed import broadcast_parameters
        broadcast_parameters(model)

    def average_gradients(self, model) -> None:
        from ..distributed import average_gradients
        average_gradients(model, self.bucket_bytes)

    def reduce(self, totals: dict) -> dict:
        from ..distributed import all_reduce_sums
        return all_reduce_sums(totals)

    def synchronize_buffers(self, model) -> None:
        from ..distributed import average_buffers
        average_buffers(model, self.bucket_bytes)

    def barrier(self) -> None:
        from ..distributed import barrier
        barrier()

    def __repr__(self):
        return f"TrainingWorld(rank={self.rank}, size={self.size})"


def _several_processes() -> bool:
    """Whether ``xpnet.distributed`` has found a world of more than one process (it is never
    imported here otherwise)."""
    dist = sys.modules.get("xpnet.distributed")
    return dist is not None and dist.is_initialized() and dist.world_size() > 1


def training_world(bucket_bytes: int | None = None):
    """This process's world for training: a :class:`TrainingWorld` once
    :func:`xpnet.distributed.init` has found several processes, else :class:`SingleProcess`.

    >>> training_world().is_main_process
    True
    """
    return TrainingWorld(bucket_bytes) if _several_processes() else SingleProcess()


def world_loader(dataset, batch_size: int, *, shuffle: bool, seed=None, device=None,
                 evaluation: bool = False):
    """A DataLoader of this process's share: a :class:`~xpnet.data.DistributedSampler` for
    training (each epoch's shuffle split across the ranks), a contiguous
    :func:`~xpnet.data.shard` for evaluation (no sample counted twice, so summed metrics are
    exact); in a world of one, the plain loader.

    >>> import numpy as np
    >>> from xpnet.data import ArrayDataset
    >>> len(world_loader(ArrayDataset(np.zeros((10, 2))), 4, shuffle=True, seed=0))
    3
    """
    from ..data import DataLoader, DistributedSampler, shard
    if not _several_processes():
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed,
                          device=device)
    sampler = shard(dataset) if evaluation else DistributedSampler(
        dataset, shuffle=shuffle, seed=0 if seed is None else seed)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, device=device)
