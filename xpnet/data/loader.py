"""DataLoader: batches of Tensors on a device, shuffled from a host seed.

A dataset exposing ``.arrays`` (an :class:`ArrayDataset`) is copied to the device once and
batches are device-side slices, so an epoch costs no host-to-device copies except one index
permutation, and no host synchronisation. Shuffling is drawn on the host from a NumPy generator,
so one seed gives the same batch order on every device.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend as _backend
from ..autograd import Tensor
from ..random import host_rng
from .dataset import host_array

__all__ = ["DataLoader"]


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"DataLoader: {name} must be a positive int, got {value!r}")


def _to_backend(array, backend):
    """``array`` (Tensor, NumPy or any backend's array) as a raw array on ``backend``.

    NumPy data gets xpnet's data dtypes; Tensors and device arrays keep theirs."""
    if isinstance(array, Tensor):
        if array.backend is backend:
            return array.data
        return backend.asarray(array.numpy())
    if _backend.is_array(array) and not isinstance(array, np.ndarray):
        if _backend.backend_of(array) is backend:
            return array
        return backend.asarray(_backend.to_numpy(array))
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

    Each batch is a tuple of Tensors, one per array of the dataset (a dataset whose samples are
    not tuples gives single Tensors). ``len(loader)`` is the number of batches per epoch.

    >>> from xpnet.data import ArrayDataset, make_circles
    >>> X, y = make_circles(200, seed=0)
    >>> loader = DataLoader(ArrayDataset(X, y), batch_size=64, shuffle=True, seed=0)
    >>> [x.shape[0] for x, _ in loader]
    [64, 64, 64, 8]
    """

    def __init__(self, dataset, batch_size: int = 32, shuffle: bool = False,
                 drop_last: bool = False, seed=None, device=None):
        _check_positive_int("batch_size", batch_size)
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self.backend = _backend.resolve(device)
        self._cache: dict = {}
        self.epoch = 0  # epochs started; each shuffled epoch draws the next permutation

    @property
    def device(self):
        return self.backend

    def __len__(self) -> int:
        n = len(self.dataset)
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

    def _order(self, n):
        """This epoch's permutation on the host (None when not shuffling)."""
        self.epoch += 1
        if not self.shuffle:
            return None
        rng = np.random.default_rng([self.seed, self.epoch]) if self.seed is not None \
            else host_rng()
        return rng.permutation(n).astype(np.int64)

    def _stops(self, n):
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
        index = backend.asarray(order) if order is not None else None  # one copy per epoch
        for start, stop in self._stops(n):
            if index is None:
                batch = [a[start:stop, ...] for a in arrays]
            else:
                rows = index[start:stop, ...]
                batch = [xp.take(a, rows, axis=0) for a in arrays]
            yield tuple(Tensor._wrap(b, backend) for b in batch)

    def _iter_samples(self):
        n = len(self.dataset)
        order = self._order(n)
        for start, stop in self._stops(n):
            indices = range(start, stop) if order is None else order[start:stop]
            samples = [self.dataset[int(i)] for i in indices]
            yield self._collate(samples)

    def _collate(self, samples):
        backend = self.backend
        first = samples[0]
        if isinstance(first, (tuple, list)):
            columns = zip(*samples)
            return tuple(Tensor._wrap(backend.asarray(_stack(c)), backend) for c in columns)
        return Tensor._wrap(backend.asarray(_stack(samples)), backend)


def _stack(values):
    hosts = [v.numpy() if isinstance(v, Tensor) else
             _backend.to_numpy(v) if _backend.is_array(v) else np.asarray(v) for v in values]
    return host_array(np.stack(hosts))
