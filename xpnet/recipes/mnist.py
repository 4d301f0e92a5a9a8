"""The MNIST recipes: the standard CNN, the course's one-filter CNN, an MLP, an LSTM over rows."""
from __future__ import annotations

import numpy as np

from .. import models, optim
from . import Recipe, fit_recipe, cosine_schedule, register


def mnist_loaders(run, layout="image", normalize=True):
    """Train and test DataLoaders on the run's device (the whole set put there once).

    ``layout`` 'image' gives (N, 1, 28, 28), 'rows' (N, 28, 28); ``--limit N`` keeps the first N
    training and N // 6 test images (quick checks)."""
    from ..data import MNIST, ArrayDataset
    from ..train import world_loader
    splits = []
    for train in (True, False):
        ds = MNIST(root=run.data, train=train, normalize=normalize)
        images, labels = ds.images, ds.labels
        if run.limit is not None:
            keep = run.limit if train else max(1, run.limit // 6)
            images, labels = images[:keep], labels[:keep]
        if layout == "rows":
            images = images.reshape(-1, 28, 28)
        splits.append((np.ascontiguousarray(images), labels))
    (x_train, y_train), (x_test, y_test) = splits
    run.say(f"data: {len(x_train)} train / {len(x_test)} test images on {run.device}")
    # under mpiexec each process takes its share (a DistributedSampler; a shard of the test set)
    train = world_loader(ArrayDataset(x_train, y_train), run.batch_size, shuffle=True,
                         seed=run.seed, device=run.device)
    test = world_loader(ArrayDataset(x_test, y_test), 1000, shuffle=False, device=run.device,
                        evaluation=True)
    return train, test


def _classifier(build, optimizer, layout="image", normalize=True):
    def train(run):
        train_loader, test_loader = mnist_loaders(run, layout, normalize)
        model = build(device=run.device)
        opt = (optim.Adam if optimizer == "adam" else optim.SGD)(model.parameters(), lr=run.lr)
        scheduler = cosine_schedule(run, opt, len(train_loader))
        return fit_recipe(run, model, opt, train_loader, test_loader, scheduler=scheduler)
    return train


register(Recipe("mnist-cnn", "Conv32-Conv64-MaxPool-Linear128-Linear10, Adam 1e-3, batch 64",
                _classifier(models.mnist_cnn, "adam"), epochs=3, batch_size=64, lr=1e-3))
register(Recipe("mnist-seed-cnn", "the course's network: one 3x3 filter, ReLU, max pool, Linear "
                "196->10, SGD 0.01, one sample per step, pixels in [0, 1]",
                _classifier(models.mnist_seed_cnn, "sgd", normalize=False), epochs=1,
                batch_size=1, lr=0.01))
register(Recipe("mnist-mlp", "MLP 784-256-256-10, Adam 1e-3, batch 128",
                _classifier(models.mnist_mlp, "adam"), epochs=3, batch_size=128, lr=1e-3))
register(Recipe("mnist-lstm", "rows as 28 steps: LSTM 128, Linear 128->10, Adam 1e-3, batch 64",
                _classifier(models.mnist_lstm, "adam", layout="rows"), epochs=3, batch_size=64,
                lr=1e-3))
