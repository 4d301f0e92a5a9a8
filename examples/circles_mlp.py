"""An MLP learns two concentric circles; writes its loss curve and decision boundary as PNGs.

    python examples/circles_mlp.py --device cpu      # or strict, cuda
"""
import argparse

import numpy as np

import xpnet
from xpnet import nn, optim
from xpnet.data import make_circles

parser = argparse.ArgumentParser()
parser.add_argument("--device", default=None)
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--out", default="circles")
args = parser.parse_args()

xpnet.manual_seed(0)
X, y = make_circles(n_samples=1000, noise=0.08, factor=0.5, seed=0)
model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 2))
model.to(xpnet.device(args.device).name)
opt = optim.Adam(model.parameters(), lr=0.01)
history = xpnet.fit(model, (X, y), loss="cross_entropy", optimizer=opt, epochs=args.epochs,
                    batch_size=64, seed=0, verbose=2)
print(f"train accuracy {history['accuracy'][-1]:.3f} on {model.device}")
history.plot(f"{args.out}_loss.png", title="MLP on make_circles")

import matplotlib  # noqa: E402  (plotting only after training)
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

grid = np.stack(np.meshgrid(np.linspace(-1.5, 1.5, 200), np.linspace(-1.5, 1.5, 200)), -1)
probs = xpnet.functional.softmax(xpnet.predict(model, grid.reshape(-1, 2).astype(np.float32)))
p1 = probs.numpy()[:, 1].reshape(200, 200)
fig, ax = plt.subplots(figsize=(5, 5))
ax.contourf(grid[..., 0], grid[..., 1], p1, levels=20, cmap="RdBu_r", alpha=0.6)
ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", s=6, edgecolors="k", linewidths=0.2)
ax.set_title("decision boundary (P(class 1))")
fig.savefig(f"{args.out}_boundary.png", dpi=110)
print(f"wrote {args.out}_loss.png and {args.out}_boundary.png")
