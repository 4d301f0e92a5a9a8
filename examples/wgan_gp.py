"""Mode collapse on a ring of 8 Gaussians: the minimax GAN, its non-saturating variant and
WGAN-GP, with the same MLP generator and critic and the same number of generator steps.

WGAN-GP (Gulrajani et al., 2017) trains a critic D (no sigmoid) on E[D(fake)] − E[D(real)] plus
the gradient penalty λ·E[(‖∇D(x̂)‖ − 1)²] at points x̂ between real and fake samples; the penalty
is a gradient of a gradient, taken with ``xpnet.autograd.grad(..., create_graph=True)``. The
generator minimises −E[D(fake)]. Reported per method, over seeds: modes covered (of 8, a mode
counts when at least 1/40 of the samples fall within 3σ of it) and the fraction of high-quality
samples (within 3σ of some mode); samples plotted beside the data (``--plot``).

    python examples/wgan_gp.py --steps 2000 --seeds 5 --plot wgan_gp.png
"""
import argparse
import math

import numpy as np

import xpnet
import xpnet.nn.functional as F
from xpnet import nn, optim
from xpnet.autograd import grad

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=2000, help="generator steps per run")
parser.add_argument("--seeds", type=int, default=5)
parser.add_argument("--batch", type=int, default=256)
parser.add_argument("--critic-steps", type=int, default=5, help="WGAN-GP critic steps per G step")
parser.add_argument("--penalty", type=float, default=0.1, help="WGAN-GP's λ")
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--methods", default="minimax,non-saturating,wgan-gp")
parser.add_argument("--plot", default=None, help="write the samples beside the data (PNG)")
parser.add_argument("--device", default=None)
args = parser.parse_args()
device = xpnet.device(args.device).name

RADIUS, SIGMA, NOISE = 2.0, 0.02, 2
CENTRES = np.array([[RADIUS * math.cos(2 * math.pi * k / 8), RADIUS * math.sin(2 * math.pi * k / 8)]
                    for k in range(8)])


def real_batch(rng, n):
    return xpnet.tensor(CENTRES[rng.integers(0, 8, n)] + SIGMA * rng.standard_normal((n, 2)),
                        dtype="float32", device=device)


def mlp(out):
    return nn.Sequential(nn.Linear(2, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                         nn.Linear(128, out)).to(device)


def gradient_penalty(D, real, fake):
    eps = xpnet.rand(real.shape[0], 1, device=device)
    mixed = (eps * real + (1.0 - eps) * fake).detach().requires_grad_()
    (g,) = grad(D(mixed).sum(), mixed, create_graph=True)
    return ((((g * g).sum(1) + 1e-12).sqrt() - 1.0) ** 2).mean()


def train(method, seed):
    xpnet.manual_seed(seed)
    rng = np.random.default_rng(seed)
    G, D = mlp(2), mlp(1)
    wgan = method == "wgan-gp"
    betas = (0.5, 0.9) if wgan else (0.5, 0.999)
    g_opt = optim.Adam(G.parameters(), lr=args.lr, betas=betas)
    d_opt = optim.Adam(D.parameters(), lr=args.lr, betas=betas)
    for _ in range(args.steps):
        for _ in range(args.critic_steps if wgan else 1):
            real = real_batch(rng, args.batch)
            fake = G(xpnet.randn(args.batch, NOISE, device=device)).detach()
            d_real, d_fake = D(real), D(fake)
            if wgan:
                loss = d_fake.mean() - d_real.mean() + args.penalty * gradient_penalty(D, real, fake)
            else:   # -log σ(D(real)) - log(1 - σ(D(fake)))
                loss = F.binary_cross_entropy_with_logits(d_real, xpnet.ones_like(d_real)) + \
                    F.binary_cross_entropy_with_logits(d_fake, xpnet.zeros_like(d_fake))
            d_opt.zero_grad()
            loss.backward()
            d_opt.step()
        d_fake = D(G(xpnet.randn(args.batch, NOISE, device=device)))
        if wgan:
            g_loss = -d_fake.mean()
        elif method == "minimax":   # minimise log(1 - σ(D(G(z)))) = -BCE(D(G(z)), 0)
            g_loss = -F.binary_cross_entropy_with_logits(d_fake, xpnet.zeros_like(d_fake))
        else:                       # non-saturating: minimise -log σ(D(G(z)))
            g_loss = F.binary_cross_entropy_with_logits(d_fake, xpnet.ones_like(d_fake))
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
    with xpnet.no_grad():
        return G(xpnet.randn(2500, NOISE, device=device)).numpy()


def score(samples):
    dist = np.linalg.norm(samples[:, None, :] - CENTRES[None], axis=2)
    near = dist.min(1) < 3 * SIGMA
    counts = np.bincount(dist.argmin(1)[near], minlength=8)
    return int((counts >= len(samples) / 40).sum()), float(near.mean()), float(np.median(
        dist.min(1)))


results = {}
for method in args.methods.split(","):
    for seed in range(args.seeds):
        samples = train(method, seed)
        modes, quality, median = score(samples)
        results.setdefault(method, []).append((modes, quality, samples))
        print(f"{method:15s} seed {seed}: {modes}/8 modes, {100 * quality:5.1f}% high quality, "
              f"median distance to a mode {median:.3f}", flush=True)
for method, runs in results.items():
    good = sum(m == 8 and q >= 0.8 for m, q, _ in runs)
    print(f"{method:15s} modes {[m for m, _, _ in runs]}, high quality "
          f"{[round(100 * q, 1) for _, q, _ in runs]} %, 8/8 with >= 80 %: {good} of {len(runs)}")

if args.plot:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results) + 1, figsize=(3 * (len(results) + 1), 3))
    data = real_batch(np.random.default_rng(0), 2500).numpy()
    for ax, (title, pts) in zip(axes, [("data", data)] + [(m, r[0][2]) for m, r in
                                                          results.items()]):
        ax.scatter(pts[:, 0], pts[:, 1], s=1)
        ax.set_title(title)
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
        ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(args.plot, dpi=100)
    print(f"wrote {args.plot}")
