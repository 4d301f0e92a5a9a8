"""DataLoader: batches of Tensors on a device, shuffled from a host seed.

A dataset exposing ``.arrays`` (an :class:`ArrayDataset`) is copied to the device once (on
'cpu' its NumPy arrays are used as they are) and batches are gathered or copied there, so an
epoch costs no host-to-device copies except one index permutation, and no host synchronisation;
a batch is a new array, never a view of the data. Shuffling is drawn on the host from a NumPy
generator, so one seed gives the same batch order on every device. A ``sampler`` (such as
:class:`~xpnet.data.DistributedSampler`) replaces the shuffle: its indices of the epoch are
copied to the device once, the same way.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend as _backend
from ..autograd import Tensor
from ..checks import integer, non_negative_int, out_of_range, positive_int
from ..random import generator, host_rng
from .dataset import host_array

__all__ = ["DataLoader"]


def _to_backend(array, backend):
    """``array`` (Tensor, NumPy or any backend's array) as a raw array on ``backend``.

    NumPy data gets xpnet's data dtypes; Tensors and device arrays keep theirs."""
    if isinstance(array, Tensor):
        if array.backend is backend:
            return array.array
        return backend.asarray(array.numpy())
    if _backend.is_array(array) and not isinstance(array, np.ndarray):
        if _backend.backend_of(array) is backend:
            return array
        return backend.asarray(_backend.to_numpy(array))
    if backend.library == "numpy":
        # shared, not copied: batches are new arrays (gathered or copied slices), so the loader
        # only reads it; a copy would double the memory of a dataset already in host memory
        return host_array(array)
    return backend.asarray(host_array(array))


class DataLoader:
    """Iterate over a dataset in batches of xpnet Tensors on ``device``.

    Args:
        dataset: an :class:`~xpnet.data.ArrayDataset` (anything with ``.arrays``: put on the
            device once, batches sliced there) or any :class:`~xpnet.data.Dataset` (samples
            collated on the host, then copied).
        batch_size: samples per batch.
        shuffle: draw a new order of the samples every epoch.
        drop_last: skip the last batch when it is smaller than ``batch_size``.
        seed: epoch ``e`` is shuffled by a generator seeded with ``(seed, e)``, so the order
            depends only on the seed and the epoch number (a resumed run continues exactly;
            see :meth:`set_epoch`); ``None`` draws from xpnet's host generator (seeded by
            :func:`xpnet.manual_seed`). The same seed gives the same batch order on every
            device.
        device: where the batches live (default: :func:`xpnet.default_device`).
        sampler: the indices of each epoch, in order, instead of the whole dataset
            (``DistributedSampler`` for this rank's share, ``shard(...)`` for a contiguous
            one, or any iterable of indices with a length); not with ``shuffle=True``
            (shuffle in the sampler). :meth:`set_epoch` is forwarded to it, and after each
            pass a sampler with ``set_epoch`` is moved on to the next epoch.
        generator: PyTorch's way to seed the order: an object with ``initial_seed()`` (a
            ``torch.Generator``, or anything like it) stands for ``seed=generator.initial_seed()``.
        num_workers, pin_memory, persistent_workers, prefetch_factor, timeout, worker_init_fn:
            PyTorch's worker settings, accepted and without effect: batches are slices of arrays
            already in memory on their device, so there is no per-sample loading for workers to
            overlap and no host copy to pin.

    ``batch_size`` is 1 by default, as in PyTorch. A ``collate_fn`` or a ``batch_sampler`` is
    refused with a message: batches are the stacked rows of the dataset's arrays.

    Each batch is a tuple of Tensors, one per array of the dataset (a dataset whose samples are
    not tuples gives single Tensors). ``len(loader)`` is the number of batches per epoch.

    >>> from xpnet.data import ArrayDataset, make_circles
    >>> X, y = make_circles(200, seed=0)
    >>> loader = DataLoader(ArrayDataset(X, y), batch_size=64, shuffle=True, seed=0)
    >>> [x.shape[0] for x, _ in loader]
    [64, 64, 64, 8]
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn=None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn=None, generator=None, *, prefetch_factor=None,
                 persistent_workers: bool = False, seed=None, device=None):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: dataset must be a map-style dataset (with __len__ and "
                            f"__getitem__: an ArrayDataset, a TensorDataset, a list), got "
                            f"{type(dataset).__name__}")
        positive_int("DataLoader", "batch_size", batch_size)
        non_negative_int("DataLoader", "num_workers", num_workers)
        for name, value in (("collate_fn", collate_fn), ("batch_sampler", batch_sampler)):
            if value is not None:
                raise NotImplementedError(
                    f"DataLoader: {name} is not supported: batches are the stacked rows of the "
                    f"dataset's arrays (give batch_size, shuffle or sampler instead)")
        if generator is not None:
            if seed is not None:
                raise ValueError("DataLoader: give seed or generator, not both")
            if not callable(getattr(generator, "initial_seed", None)):
                raise TypeError(f"DataLoader: generator must have initial_seed() (as a "
                                f"torch.Generator), got {type(generator).__name__}")
            seed = generator.initial_seed()
        if sampler is not None:
            if shuffle:
                raise ValueError("DataLoader: sampler and shuffle=True are mutually exclusive; "
                                 "shuffle in the sampler (DistributedSampler(shuffle=True))")
            if not hasattr(sampler, "__iter__") or not hasattr(sampler, "__len__"):
                raise TypeError(f"DataLoader: sampler must be an iterable of indices with a "
                                f"length, got {type(sampler).__name__}")
        self.sampler = sampler
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = None if seed is None else integer("DataLoader", "seed", seed)
        self.backend = _backend.resolve(device)
        self._cache: dict = {}
        self.epoch = 0  # epochs started; each shuffled epoch draws the next permutation

    @property
    def device(self):
        return self.backend

    def __len__(self) -> int:
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __repr__(self):
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, device='{self.device}')")

    def to(self, device) -> "DataLoader":
        """Send later batches to ``device`` (its copy of the arrays is made on first use)."""
        self.backend = _backend.resolve(device)
        return self

    # -- order ----------------------------------------------------------------------------
    def set_epoch(self, epochs_done: int) -> None:
        """Declare how many epochs are done, so the next one gets epoch ``epochs_done + 1``'s
        order (``fit`` calls this; it is what makes a resumed run continue exactly)."""
        self.epoch = int(epochs_done)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(self.epoch)   # PyTorch samplers count epochs from 0 too

    def _order(self, n):
        """This epoch's permutation on the host (None when not shuffling; a range for a
        sampler of consecutive indices, which batches as plain slices)."""
        self.epoch += 1
        if self.sampler is not None:
            return self._sampled(n)
        if not self.shuffle:
            return None
        rng = generator("DataLoader", self.seed, self.epoch) if self.seed is not None \
            else host_rng()
        return rng.permutation(n).astype(np.int64)

    def _sampled(self, n):
        sampler = self.sampler
        indices = getattr(sampler, "indices", None)
        order = sampler if isinstance(sampler, range) else indices() if callable(indices) \
            else list(sampler)
        if isinstance(order, range) and order.step == 1:     # consecutive: plain slices
            low, high = (order.start, order.stop - 1) if len(order) else (0, 0)
        else:
            order = np.asarray(order, dtype=np.int64)
            low, high = (int(order.min()), int(order.max())) if order.size else (0, 0)
        if hasattr(sampler, "set_epoch") and hasattr(sampler, "epoch"):
            sampler.set_epoch(sampler.epoch + 1)   # the next pass draws the next epoch
        if low < 0 or high >= n:
            raise out_of_range("DataLoader", "the sampler's indices", n, (low, high))
        return order

    def _stops(self, n):
        """(start, stop) of each batch in the epoch's order of ``n`` samples."""
        end = n - n % self.batch_size if self.drop_last else n
        return [(start, min(start + self.batch_size, end))
                for start in range(0, end, self.batch_size)]

    # -- device-resident arrays -------------------------------------------------------------
    def _device_arrays(self):
        """The dataset's arrays on this loader's device, copied once per device."""
        arrays = tuple(self.dataset.arrays)
        cache = getattr(self.dataset, "_xpnet_device_cache", None)
        if cache is None:
            try:
                cache = self.dataset._xpnet_device_cache = {}
            except AttributeError:  # a dataset with __slots__: cache in the loader
                cache = self._cache
        entry = cache.get(self.backend.name)
        # a dataset whose .arrays were replaced gets a fresh copy
        if entry is None or len(entry[0]) != len(arrays) or \
                any(a is not b for a, b in zip(entry[0], arrays)):
            entry = (arrays, tuple(_to_backend(a, self.backend) for a in arrays))
            cache[self.backend.name] = entry
        return entry[1]

    def __iter__(self):
        if hasattr(self.dataset, "arrays"):
            return self._iter_arrays()
        return self._iter_samples()

    def _iter_arrays(self):
        backend, xp = self.backend, self.backend.xp
        arrays = self._device_arrays()
        n = int(arrays[0].shape[0])
        order = self._order(n)
        offset = order.start if isinstance(order, range) else 0
        index = backend.asarray(order) if isinstance(order, np.ndarray) else None  # once
        for start, stop in self._stops(n if order is None else len(order)):
            if index is None:   # a copy: an in-place change to a batch never reaches the data
                batch = [xp.asarray(a[offset + start:offset + stop, ...], copy=True)
                         for a in arrays]
            else:
                rows = index[start:stop, ...]
                batch = [xp.take(a, rows, axis=0) for a in arrays]
            yield tuple(Tensor.from_array(b, False, backend) for b in batch)

    def _iter_samples(self):
        n = len(self.dataset)
        order = self._order(n)
        for start, stop in self._stops(n if order is None else len(order)):
            indices = range(start, stop) if order is None else order[start:stop]
            samples = [self.dataset[int(i)] for i in indices]
            yield self._collate(samples)

    def _collate(self, samples):
        backend = self.backend
        first = samples[0]
        if isinstance(first, (tuple, list)):
            columns = zip(*samples)
            return tuple(Tensor.from_array(backend.asarray(_stack(c)), False, backend)
                         for c in columns)
        return Tensor.from_array(backend.asarray(_stack(samples)), False, backend)


def _stack(values):
    hosts = [v.numpy() if isinstance(v, Tensor) else
             _backend.to_numpy(v) if _backend.is_array(v) else np.asarray(v) for v in values]
    return host_array(np.stack(hosts))
