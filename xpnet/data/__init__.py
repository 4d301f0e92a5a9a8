"""Data: datasets, the DataLoader (batches land on the device), MNIST, synthetic and sequence
tasks.

>>> X, y = make_circles(200, noise=0.05, factor=0.5, seed=0)
>>> loader = DataLoader(ArrayDataset(X, y), batch_size=64, shuffle=True, seed=0)
>>> x, t = next(iter(loader))
>>> x.shape, t.shape
((64, 2), (64,))
"""
from .dataset import Dataset, ArrayDataset, TensorDataset
from .loader import DataLoader
from .sampler import DistributedSampler, EpochSlices, shard
from .synthetic import make_circles, make_moons, make_blobs, spirals
from .mnist import MNIST, MNISTRows, mnist_rows, read_idx_images, read_idx_labels
from .sequence import adding_problem, copy_memory, digit_sequences, CharDataset
from .text import tiny_shakespeare

__all__ = ["Dataset", "ArrayDataset", "TensorDataset", "DataLoader", "DistributedSampler",
           "EpochSlices", "shard", "make_circles",
           "make_moons", "make_blobs", "spirals", "MNIST", "MNISTRows", "mnist_rows",
           "read_idx_images", "read_idx_labels", "adding_problem", "copy_memory", "digit_sequences",
           "CharDataset", "tiny_shakespeare"]
