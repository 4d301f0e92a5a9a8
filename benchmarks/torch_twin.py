"""The README's main job, ``xpnet train mnist-cnn``, written in PyTorch: the twin that
``python -m benchmarks.run epoch`` times against it.

The same recipe as ``xpnet/recipes/mnist.py`` and ``xpnet.models.mnist_cnn``:

* model: Conv 1→32 3×3, ReLU, Conv 32→64 3×3, ReLU, MaxPool 2, Flatten, Linear 9216→128, ReLU,
  Linear 128→10 (PyTorch's default initialisation, which xpnet's layers follow);
* data: MNIST from the same IDX files (``data/mnist``), pixels / 255 normalised with
  (x − 0.1307) / 0.3081; ``--limit N`` keeps the first N training and N // 6 test images, as
  xpnet's ``--limit``;
* training: batch 64, reshuffled every epoch (seeded; the order is not xpnet's), the last
  batch smaller; Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8; cosine annealing from the lr to 0
  over all steps, stepped after every step; cross-entropy;
* evaluation after every epoch on the test set in batches of 1000, in eval mode without
  gradients: mean loss per sample and accuracy.

Prints one JSON line: the training time of each epoch (evaluation excluded, as xpnet's
history ``time``), the last epoch's test accuracy and loss.

    python -m benchmarks.torch_twin --epochs 1 --data data/mnist
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time

import numpy as np

MEAN, STD = 0.1307, 0.3081
FILES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _read_idx(folder, name):
    for candidate in (name + ".gz", name):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            opener = gzip.open if candidate.endswith(".gz") else open
            with opener(path, "rb") as f:
                raw = f.read()
            dims = raw[3]
            shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
            return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)
    raise FileNotFoundError(f"torch_twin: no {name}(.gz) in {folder!r}")


def load_mnist(folder, train, limit=None):
    """(images (N, 1, 28, 28) float32 normalised, labels int64) from the IDX files."""
    images_name, labels_name = FILES[train]
    images, labels = _read_idx(folder, images_name), _read_idx(folder, labels_name)
    if limit is not None:
        keep = limit if train else max(1, limit // 6)
        images, labels = images[:keep], labels[:keep]
    x = (images.astype(np.float32) / 255.0 - MEAN) / STD
    return np.ascontiguousarray(x[:, None, :, :]), labels.astype(np.int64)


def mnist_cnn(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def evaluate(torch, model, x, y, batch=1000):
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(x[i:i + batch])
            loss_sum += float(torch.nn.functional.cross_entropy(
                logits, y[i:i + batch], reduction="sum"))
            correct += int((logits.argmax(1) == y[i:i + batch]).sum())
    model.train()
    return loss_sum / len(x), correct / len(x)


def train(epochs=1, data="data/mnist", limit=None, device="cpu", batch_size=64, lr=1e-3,
          seed=0, threads=None):
    import torch
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    dev = torch.device("cuda" if device.startswith("cuda") else "cpu")
    (x_train, y_train), (x_test, y_test) = (load_mnist(data, t, limit) for t in (True, False))
    x_train, y_train, x_test, y_test = (torch.from_numpy(a).to(dev)
                                        for a in (x_train, y_train, x_test, y_test))
    model = mnist_cnn(torch).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = -(-len(x_train) // batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    rng = np.random.default_rng(seed)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    times, train_loss = [], []
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(x_train))).to(dev)
        loss_sum = torch.zeros((), device=dev)
        sync()
        started = time.perf_counter()
        for i in range(0, len(x_train), batch_size):
            index = order[i:i + batch_size]
            x, y = x_train[index], y_train[index]
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            scheduler.step()
            loss_sum += loss.detach() * len(index)    # the running loss, read once an epoch
        train_loss.append(float(loss_sum) / len(x_train))
        sync()
        times.append(time.perf_counter() - started)
        test_loss, test_accuracy = evaluate(torch, model, x_test, y_test)
    return {"framework": "torch", "torch": torch.__version__,
            "threads": torch.get_num_threads(), "epochs": epochs,
            "train_samples": len(x_train), "test_samples": len(x_test),
            "epoch_train_s": [round(t, 2) for t in times], "train_loss": train_loss,
            "test_accuracy": test_accuracy, "test_loss": test_loss}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data", default="data/mnist")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    print(json.dumps(train(args.epochs, args.data, args.limit, args.device, args.batch_size,
                           args.lr, args.seed, args.threads)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
