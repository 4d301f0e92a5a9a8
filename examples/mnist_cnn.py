"""The MNIST CNN in a few lines, on any device; plots the first layer's learned filters.

    python examples/mnist_cnn.py --device cuda          # MNIST from data/mnist (shipped)
"""
import argparse

import xpnet
from xpnet import models, optim
from xpnet.data import MNIST, DataLoader

parser = argparse.ArgumentParser()
parser.add_argument("--device", default=None)
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--data", default=None)
args = parser.parse_args()
device = xpnet.device(args.device).name

xpnet.manual_seed(0)
train = DataLoader(MNIST(args.data, train=True, normalize=True), batch_size=64, shuffle=True,
                   seed=0, device=device)
test = DataLoader(MNIST(args.data, train=False, normalize=True), batch_size=1000, device=device)
model = models.mnist_cnn(device=device)
history = xpnet.fit(model, train, loss="cross_entropy", val=test, epochs=args.epochs,
                    optimizer=optim.Adam(model.parameters(), lr=1e-3))
print(f"test accuracy {history['val_accuracy'][-1]:.4f}")

import matplotlib  # noqa: E402
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

filters = model[0].weight.numpy()[:, 0]          # (32, 3, 3)
fig, axes = plt.subplots(4, 8, figsize=(8, 4))
for ax, f in zip(axes.flat, filters):
    ax.imshow(f, cmap="gray")
    ax.axis("off")
fig.suptitle("first-layer filters after training")
fig.savefig("mnist_filters.png", dpi=110)
print("wrote mnist_filters.png")
