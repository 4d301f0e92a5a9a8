"""Mode collapse on a ring of 8 Gaussians: the course's minimax GAN, its non-saturating variant
and WGAN-GP, with the same MLP generator and critic and the same number of generator steps.

The data: 8 Gaussians of standard deviation 0.02 on a circle of radius 2 (the standard test of
mode collapse). A sample is of high quality when it lies within 3σ of a mode; a mode is covered
when at least 1 % of the samples fall within 3σ of it (≥ 20 times its share under a uniform
spread over the plane around the ring).

WGAN-GP's gradient penalty, λ·(‖∇ₓ D(x̂)‖ - 1)² at points x̂ between real and fake samples,
is a gradient of a gradient: ``xpnet.autograd.grad(..., create_graph=True)``.

    python examples/gan_modes.py --seeds 5 --steps 2000 --out runs/gan_modes

writes modes.json and modes.png (the samples of each method beside the data).
"""
import argparse
import json
import math
import os
import time

import numpy as np

import xpnet
import xpnet.nn.functional as F
from xpnet import nn, optim
from xpnet.autograd import grad

MODES = np.array([[2 * math.cos(2 * math.pi * k / 8), 2 * math.sin(2 * math.pi * k / 8)]
                  for k in range(8)], dtype=np.float32)
STD = 0.02


def ring(rng, n):
    return (MODES[rng.integers(0, 8, n)] + STD * rng.standard_normal((n, 2))).astype(np.float32)


def mlp(sizes):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def score(samples):
    """(modes covered of 8, fraction of high-quality samples): within 3σ of a mode."""
    distance = np.linalg.norm(samples[:, None, :] - MODES[None], axis=2)     # (n, 8)
    near = distance.min(axis=1) < 3 * STD
    counts = np.bincount(distance.argmin(axis=1)[near], minlength=8)
    return int((counts >= 0.01 * len(samples)).sum()), float(near.mean())


def train(method, seed, steps, batch=256, latent=2, critic_steps=5, penalty=0.1, wgan_lr=1e-3):
    xpnet.manual_seed(seed)
    rng = np.random.default_rng(seed)
    G, D = mlp([latent, 128, 128, 128, 2]), mlp([2, 128, 128, 128, 1])
    if method == "wgan-gp":   # the WGAN-GP paper's toy settings
        g_opt = optim.Adam(G.parameters(), lr=wgan_lr, betas=(0.5, 0.9))
        d_opt = optim.Adam(D.parameters(), lr=wgan_lr, betas=(0.5, 0.9))
    else:                     # DCGAN's settings
        g_opt = optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        d_opt = optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    # the learning rates fall linearly to zero: the samples settle onto the modes at the end
    schedules = [optim.lr_scheduler.LambdaLR(o, lambda k: 1 - k / steps) for o in (g_opt, d_opt)]
    ones, zeros = xpnet.ones(batch, 1), xpnet.zeros(batch, 1)
    for _ in range(steps):
        for _ in range(critic_steps if method == "wgan-gp" else 1):
            real = xpnet.tensor(ring(rng, batch))
            fake = G(xpnet.randn(batch, latent)).detach()
            d_opt.zero_grad()
            if method == "wgan-gp":
                alpha = xpnet.rand(batch, 1)
                between = (alpha * real + (1 - alpha) * fake).requires_grad_()
                (g,) = grad(D(between).sum(), between, create_graph=True)
                norm = (g * g).sum(dim=1).sqrt()
                loss = D(fake).mean() - D(real).mean() + penalty * ((norm - 1) ** 2).mean()
            else:
                loss = (F.binary_cross_entropy_with_logits(D(real), ones)
                        + F.binary_cross_entropy_with_logits(D(fake), zeros))
            loss.backward()
            d_opt.step()
        g_opt.zero_grad()
        d_fake = D(G(xpnet.randn(batch, latent)))
        if method == "wgan-gp":
            g_loss = -d_fake.mean()
        elif method == "minimax":        # the course's min_G log(1 - D(G(z)))
            g_loss = -F.binary_cross_entropy_with_logits(d_fake, zeros)
        else:                            # non-saturating: max_G log D(G(z))
            g_loss = F.binary_cross_entropy_with_logits(d_fake, ones)
        g_loss.backward()
        g_opt.step()
        for schedule in schedules:
            schedule.step()
    with xpnet.no_grad():
        samples = G(xpnet.randn(2500, latent)).numpy()
    return samples


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2000, help="generator steps")
    parser.add_argument("--methods", nargs="+", default=["minimax", "non-saturating", "wgan-gp"])
    parser.add_argument("--out", default="runs/gan_modes")
    parser.add_argument("--wgan-lr", type=float, default=1e-3)
    parser.add_argument("--latent", type=int, default=2)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    results, pictures = {}, {}
    for method in args.methods:
        results[method] = []
        for seed in range(args.seeds):
            start = time.perf_counter()
            samples = train(method, seed, args.steps, latent=args.latent, wgan_lr=args.wgan_lr)
            modes, quality = score(samples)
            results[method].append({"seed": seed, "modes": modes, "high_quality": quality,
                                    "seconds": round(time.perf_counter() - start, 1)})
            pictures.setdefault(method, samples)
            print(f"{method:15s} seed {seed}: {modes}/8 modes, {100 * quality:.1f} % within "
                  f"3σ ({results[method][-1]['seconds']} s)", flush=True)
    with open(os.path.join(args.out, "modes.json"), "w") as f:
        json.dump({"steps": args.steps, "std": STD, "results": results}, f, indent=1)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    data = ring(np.random.default_rng(0), 2500)
    fig, axes = plt.subplots(1, 1 + len(pictures), figsize=(3.2 * (1 + len(pictures)), 3.4))
    for ax, (title, points) in zip(axes, [("data", data), *pictures.items()]):
        ax.scatter(points[:, 0], points[:, 1], s=1, alpha=0.4)
        ax.set(title=title, xlim=(-3, 3), ylim=(-3, 3), aspect="equal", xticks=[], yticks=[])
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "modes.png"), dpi=110)


if __name__ == "__main__":
    main()
