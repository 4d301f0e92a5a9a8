"""A Hessian-vector product of a small MLP's loss, checked against finite differences.

H·v = ∇(∇L · v): the gradient is taken with ``create_graph=True``, dotted with v, and
differentiated again (Pearlmutter's trick; H itself is never formed). The check is the central
difference (∇L(θ + εv) − ∇L(θ − εv)) / 2ε, in float64.

    python examples/hessian_vector_product.py
"""
import argparse

import numpy as np

import xpnet
import xpnet.nn.functional as F
from xpnet import nn
from xpnet.autograd import grad

parser = argparse.ArgumentParser()
parser.add_argument("--eps", type=float, default=1e-5)
parser.add_argument("--device", default=None)
args = parser.parse_args()
device = xpnet.device(args.device).name

xpnet.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3)).to(device, dtype="float64")
params = list(model.parameters())
rng = np.random.default_rng(0)
x = xpnet.tensor(rng.standard_normal((32, 4)), device=device)
y = xpnet.tensor(rng.integers(0, 3, 32), device=device)
v = [xpnet.tensor(rng.standard_normal(p.shape), device=device) for p in params]


def loss_gradient(create_graph=False):
    return grad(F.cross_entropy(model(x), y), params, create_graph=create_graph)


grads = loss_gradient(create_graph=True)
hv = grad(sum((g * vi).sum() for g, vi in zip(grads, v)), params)


def shifted_gradient(sign):
    with xpnet.no_grad():
        for p, vi in zip(params, v):
            p.array = p.array + sign * args.eps * vi.array
    out = [g.numpy() for g in loss_gradient()]
    with xpnet.no_grad():
        for p, vi in zip(params, v):
            p.array = p.array - sign * args.eps * vi.array
    return out


plus, minus = shifted_gradient(+1.0), shifted_gradient(-1.0)
worst = 0.0
for (name, _), h, gp, gm in zip(model.named_parameters(), hv, plus, minus):
    numeric = (gp - gm) / (2 * args.eps)
    err = np.max(np.abs(h.numpy() - numeric))
    worst = max(worst, err / max(np.max(np.abs(numeric)), 1e-12))
    print(f"{name:10s} |Hv| {np.linalg.norm(h.numpy()):.6f}  |finite diff.| "
          f"{np.linalg.norm(numeric):.6f}  max |difference| {err:.2e}")
print(f"largest relative difference {worst:.2e}: " + ("agree" if worst < 1e-5 else "DISAGREE"))
