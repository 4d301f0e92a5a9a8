"""Synthetic 2-D classification sets (our own code, seeded, scikit-learn's semantics).

Each returns ``(X, y)`` NumPy arrays: X float32 of shape (n_samples, n_features), y int64 labels
of shape (n_samples,). Wrap them in an :class:`~xpnet.data.ArrayDataset` or pass them to
:func:`xpnet.fit`.
"""
from __future__ import annotations

import math

import numpy as np

from ..checks import number, positive_int
from ..random import generator

__all__ = ["make_circles", "make_moons", "make_blobs", "spirals"]


def _check(name, n_samples, noise):
    positive_int(name, "n_samples", n_samples)
    number(name, "noise", noise, minimum=0)


def _finish(X, y, noise, rng, shuffle):
    if noise > 0:
        X = X + rng.normal(0.0, noise, size=X.shape)
    if shuffle:
        order = rng.permutation(len(y))
        X, y = X[order], y[order]
    return X.astype(np.float32), y.astype(np.int64)


def make_circles(n_samples: int = 100, noise: float = 0.0, factor: float = 0.8, seed=None,
                 shuffle: bool = True):
    """Two concentric circles: label 0 on radius 1, label 1 on radius ``factor``.

    ``n_samples // 2`` points lie on the outer circle, the rest on the inner one, evenly spaced
    in angle; ``noise`` is the standard deviation of Gaussian noise added to every coordinate.

    >>> X, y = make_circles(200, noise=0.05, factor=0.5, seed=0)
    >>> X.shape, X.dtype, y.dtype
    ((200, 2), dtype('float32'), dtype('int64'))
    """
    _check("make_circles", n_samples, noise)
    number("make_circles", "factor", factor, 0, 1, max_open=True)
    rng = generator("make_circles", seed)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out = np.linspace(0, 2 * math.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * math.pi, n_in, endpoint=False)
    X = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], axis=1),
                        factor * np.stack([np.cos(t_in), np.sin(t_in)], axis=1)])
    y = np.concatenate([np.zeros(n_out), np.ones(n_in)])
    return _finish(X, y, noise, rng, shuffle)


def make_moons(n_samples: int = 100, noise: float = 0.0, seed=None, shuffle: bool = True):
    """Two interleaving half circles: label 0 the upper moon, label 1 the lower one.

    >>> X, y = make_moons(100, noise=0.1, seed=0)
    >>> X.shape
    (100, 2)
    """
    _check("make_moons", n_samples, noise)
    rng = generator("make_moons", seed)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out = np.linspace(0, math.pi, n_out)
    t_in = np.linspace(0, math.pi, n_in)
    X = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], axis=1),
                        np.stack([1 - np.cos(t_in), 0.5 - np.sin(t_in)], axis=1)])
    y = np.concatenate([np.zeros(n_out), np.ones(n_in)])
    return _finish(X, y, noise, rng, shuffle)


def make_blobs(n_samples: int = 100, centers=3, n_features: int = 2, cluster_std=1.0,
               seed=None, center_box=(-10.0, 10.0), shuffle: bool = True):
    """Gaussian blobs, one per center; label k for the k-th center.

    Args:
        centers: the number of centers (drawn uniformly from ``center_box``) or an array
            (n_centers, n_features) of their coordinates.
        cluster_std: the standard deviation of each blob (a number or one per center).

    Samples are split evenly over the centers (the first ones get one more when it does not
    divide).

    >>> X, y = make_blobs(90, centers=3, seed=0)
    >>> np.bincount(y).tolist()
    [30, 30, 30]
    """
    _check("make_blobs", n_samples, 0.0)
    rng = generator("make_blobs", seed)
    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        positive_int("make_blobs", "centers", centers)
        low, high = center_box
        centers = rng.uniform(low, high, size=(int(centers), n_features))
    else:
        centers = np.asarray(centers, dtype=np.float64)
        if centers.ndim != 2:
            raise ValueError(f"make_blobs: centers must be (n_centers, n_features), got shape "
                             f"{centers.shape}")
        n_features = centers.shape[1]
    k = centers.shape[0]
    std = np.broadcast_to(np.asarray(cluster_std, dtype=np.float64), (k,))
    if np.any(std < 0):
        raise ValueError(f"make_blobs: cluster_std must be >= 0, got {cluster_std!r}")
    counts = [n_samples // k + (1 if i < n_samples % k else 0) for i in range(k)]
    X = np.concatenate([rng.normal(centers[i], std[i], size=(counts[i], n_features))
                        for i in range(k)])
    y = np.concatenate([np.full(counts[i], i) for i in range(k)])
    return _finish(X, y, 0.0, rng, shuffle)


def spirals(n_samples: int = 100, n_classes: int = 2, noise: float = 0.0, seed=None,
            turns: float = 1.5, shuffle: bool = True):
    """Interleaved spiral arms, one per class (the classic "not linearly separable" set).

    Arm k holds points at radius r in [0, 1] and angle ``2*pi*(k / n_classes + turns * r)``,
    so the arms are rotated copies of each other; ``noise`` is the standard deviation of
    Gaussian noise added to every coordinate.

    >>> X, y = spirals(300, n_classes=3, noise=0.02, seed=0)
    >>> X.shape, sorted(set(y.tolist()))
    ((300, 2), [0, 1, 2])
    """
    _check("spirals", n_samples, noise)
    positive_int("spirals", "n_classes", n_classes)
    rng = generator("spirals", seed)
    counts = [n_samples // n_classes + (1 if i < n_samples % n_classes else 0)
              for i in range(n_classes)]
    parts, labels = [], []
    for k, count in enumerate(counts):
        r = np.linspace(0.0, 1.0, count)
        angle = 2 * math.pi * (k / n_classes + turns * r)
        parts.append(np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1))
        labels.append(np.full(count, k))
    return _finish(np.concatenate(parts), np.concatenate(labels), noise, rng, shuffle)
