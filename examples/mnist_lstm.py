"""MNIST as sequences: each image is 28 rows fed to an LSTM one row per step.

    python examples/mnist_lstm.py --device cuda --epochs 3   # MNIST from data/mnist (shipped)
"""
import argparse

import xpnet
from xpnet import models, optim
from xpnet.data import MNIST, DataLoader, ArrayDataset

parser = argparse.ArgumentParser()
parser.add_argument("--device", default=None)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--data", default=None)
args = parser.parse_args()
device = xpnet.device(args.device).name
xpnet.manual_seed(0)


def rows(train):
    ds = MNIST(args.data, train=train, normalize=True)
    return ArrayDataset(ds.images.reshape(-1, 28, 28), ds.labels)


train = DataLoader(rows(True), batch_size=64, shuffle=True, seed=0, device=device)
test = DataLoader(rows(False), batch_size=1000, device=device)
model = models.mnist_lstm(device=device)              # LSTM(28 -> 128), Linear(128 -> 10)
history = xpnet.fit(model, train, val=test, loss="cross_entropy", epochs=args.epochs,
                    optimizer=optim.Adam(model.parameters(), lr=1e-3))
print(f"test accuracy {history['val_accuracy'][-1]:.4f}")
