"""Datasets: the ``Dataset`` protocol and ``ArrayDataset``, whole arrays that a loader can put
on the device once."""
from __future__ import annotations

import numpy as np

from .. import backend as _backend
from ..autograd import Tensor
from ..checks import integer, out_of_range

__all__ = ["Dataset", "ArrayDataset", "TensorDataset", "host_array"]


class Dataset:
    """A sized collection of samples: subclasses define ``__len__`` and ``__getitem__``.

    ``dataset[i]`` returns one sample, usually a tuple such as ``(image, label)``; the
    :class:`~xpnet.data.DataLoader` collates samples into batches on the host.
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__}: __len__() is not implemented")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__}: __getitem__() is not implemented")


def host_array(value) -> np.ndarray:
    """A NumPy array with xpnet's data dtypes: float64 becomes float32 (the default for models,
    as in PyTorch), other integers become int64 (what losses take as labels), the rest is kept."""
    host = np.asarray(value)
    if host.dtype == np.float64:
        return host.astype(np.float32)
    if host.dtype.kind in "iu" and host.dtype != np.int64:
        return host.astype(np.int64)
    if host.dtype.kind not in "biuf":
        what = {"U": "strings", "S": "bytes", "O": "Python objects", "c": "complex numbers",
                "M": "dates", "m": "time spans"}.get(host.dtype.kind, "not numbers")
        raise TypeError(f"data: arrays must hold numbers (bool, int or float), got dtype "
                        f"{host.dtype} ({what})")
    return host


class ArrayDataset(Dataset):
    """Samples are the rows of whole arrays: ``ArrayDataset(X, y)[i] == (X[i], y[i])``.

    NumPy arrays (and lists) are kept on the host with xpnet's dtypes (float64 becomes float32,
    integer labels become int64); xpnet Tensors and arrays of other libraries are kept as they
    are. A :class:`~xpnet.data.DataLoader` copies ``.arrays`` to its device once and slices
    batches there.

    Args:
        *arrays: one or more arrays with the same first dimension.

    >>> ds = ArrayDataset(np.zeros((4, 2)), np.arange(4))
    >>> len(ds), int(ds[1][1])
    (4, 1)
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("ArrayDataset: needs at least one array, got none")
        converted = []
        for i, a in enumerate(arrays):
            if isinstance(a, Tensor) or (_backend.is_array(a) and not isinstance(a, np.ndarray)):
                converted.append(a)
            else:
                converted.append(host_array(a))
            if len(converted[-1].shape) == 0:
                raise ValueError(f"ArrayDataset: array {i} must have a first (sample) dimension, "
                                 f"got a 0-d array")
        lengths = [int(a.shape[0]) for a in converted]
        if len(set(lengths)) != 1:
            shapes = [tuple(a.shape) for a in converted]
            raise ValueError(f"ArrayDataset: arrays must have the same first dimension, got "
                             f"shapes {shapes}")
        self.arrays = tuple(converted)

    def __len__(self) -> int:
        return int(self.arrays[0].shape[0])

    def __getitem__(self, index):
        index = integer(type(self).__name__, "index", index)
        n = len(self)
        if not -n <= index < n:
            raise out_of_range(type(self).__name__, "index", n, int(index), negative=True)
        return tuple(a[int(index), ...] for a in self.arrays)

    def __repr__(self):
        shapes = ", ".join(str(tuple(a.shape)) for a in self.arrays)
        return f"{type(self).__name__}({shapes})"


TensorDataset = ArrayDataset
