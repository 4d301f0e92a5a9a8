"""The course's claims about generative models, measured (writes claims.md, claims.json and
claims.png):

1. When the discriminator is strong, the saturating generator loss log(1 − D(G(z))) gives a
   vanishing gradient, the non-saturating −log D(G(z)) does not; and what that does to training
   that starts from a strong discriminator.
2. The VAE's samples are blurrier than the GAN's: the fixed classifier is less confident on them.

    python examples/gan_claims.py --data data/mnist --vae runs/mnist-vae --gan runs/mnist-gan
"""
import argparse
import json
import os

import numpy as np

import xpnet
from xpnet import models, optim
from xpnet.data import MNIST, DataLoader

parser = argparse.ArgumentParser()
parser.add_argument("--data", default="data/mnist")
parser.add_argument("--vae", default="runs/mnist-vae", help="folder with the VAE's checkpoint")
parser.add_argument("--gan", default="runs/mnist-gan",
                    help="folder with samples.npz and classifier.npz")
parser.add_argument("--out", default="runs/gan-claims")
parser.add_argument("--width", type=int, default=32)
parser.add_argument("--steps", type=int, default=1000, help="GAN steps after D is made strong")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
xpnet.manual_seed(0)
train = DataLoader(MNIST(args.data, train=True), batch_size=128, shuffle=True, seed=0,
                   drop_last=True)
reals = (batch[0] * 2.0 - 1.0 for epoch in range(100) for batch in train)
latent = 100


def new_optimizer(model):
    return optim.Adam(model.parameters(), lr=2e-4, betas=(0.5, 0.999))


# 1a. the generator's gradient as the discriminator, trained alone, gets stronger
G, D = models.dcgan_generator(latent, args.width), models.dcgan_discriminator(args.width)
d_opt, strength, done = new_optimizer(D), [], 0
for target in (0, 10, 50, 200):
    for _ in range(target - done):
        models.discriminator_step(G, D, next(reals), d_opt, latent)
    done = target
    with xpnet.no_grad():
        d_fake = float(xpnet.functional.sigmoid(D(G(xpnet.randn(512, latent)))).mean().item())
    norms = {k: float(np.mean([models.generator_gradient_norm(G, D, latent, 128, k)
                               for _ in range(3)])) for k in models.GENERATOR_LOSSES}
    strength.append({"d_steps": target, "d_fake": d_fake, **norms})
    print(strength[-1], flush=True)

# 1b. training on from that strong discriminator with each loss
classifier, _ = models.mnist_classifier(os.path.join(args.gan, "classifier.npz"), args.data)
start = {"G": G.state_dict(), "D": D.state_dict(), "rng": xpnet.get_rng_state()}
runs = {}
for kind in models.GENERATOR_LOSSES:
    g, d = models.dcgan_generator(latent, args.width), models.dcgan_discriminator(args.width)
    g.load_state_dict(start["G"]), d.load_state_dict(start["D"])
    xpnet.set_rng_state(start["rng"])
    g_opt, d_opt, curve = new_optimizer(g), new_optimizer(d), []
    for step in range(args.steps):
        curve.append(models.gan_step(g, d, next(reals), g_opt, d_opt, latent, kind))
    curve = np.stack([c.numpy() for c in curve])        # read once, after the run
    score = models.inception_score(classifier, models.generate_images(g, 2000, latent))
    runs[kind] = {"d_fake": curve[:, 3].tolist(), "final_d_fake": float(curve[-20:, 3].mean()),
                  "score": score["score"], "mean_confidence": score["mean_confidence"]}
    print(kind, {k: v for k, v in runs[kind].items() if k != "d_fake"}, flush=True)

# 2. sharpness: real digits, noise, the VAE's samples and the GAN's, by the same classifier
vae = models.VAE()
vae.load_state_dict(xpnet.load(os.path.join(args.vae, "checkpoint.npz"))["model"])
with xpnet.no_grad():
    vae_images = vae.decode(xpnet.randn(10_000, vae.latent_size)).numpy().reshape(-1, 1, 28, 28)
gan_images = np.load(os.path.join(args.gan, "samples.npz"))["images"]
sets = {"real test digits": MNIST(args.data, train=False).images,
        "uniform noise": np.random.default_rng(0).random((10_000, 1, 28, 28)),
        "VAE samples": vae_images, "GAN samples": gan_images}
sharpness = {name: models.inception_score(classifier, images) for name, images in sets.items()}

lines = ["| D steps alone | mean D(G(z)) | ‖∇G‖ saturating | ‖∇G‖ non-saturating |",
         "|---:|---:|---:|---:|"]
lines += [f"| {s['d_steps']} | {s['d_fake']:.4f} | {s['saturating']:.3g} | "
          f"{s['non-saturating']:.3g} |" for s in strength]
lines += ["", f"| from the strong D, {args.steps} steps | mean D(G(z)) at the end | IS | "
          "mean confidence |", "|---|---:|---:|---:|"]
lines += [f"| {k} | {r['final_d_fake']:.4f} | {r['score']:.2f} | {r['mean_confidence']:.3f} |"
          for k, r in runs.items()]
lines += ["", "| samples | Inception Score | mean confidence | smallest class share |",
          "|---|---:|---:|---:|"]
lines += [f"| {k} | {s['score']:.2f} | {s['mean_confidence']:.3f} | "
          f"{min(s['class_shares']):.1%} |" for k, s in sharpness.items()]
open(os.path.join(args.out, "claims.md"), "w").write("\n".join(lines) + "\n")
json.dump({"strength": strength, "runs": runs, "sharpness": sharpness},
          open(os.path.join(args.out, "claims.json"), "w"), indent=1)
print("\n".join(lines))

import matplotlib  # noqa: E402
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, axes = plt.subplots(1, 4, figsize=(17, 4))
for k in models.GENERATOR_LOSSES:
    axes[0].semilogy([s["d_steps"] for s in strength], [s[k] for s in strength], "-o", label=k)
    axes[1].plot(runs[k]["d_fake"], label=k)
axes[0].set(xlabel="discriminator steps alone", ylabel="‖∇ generator loss‖",
            title="the saturating loss's gradient vanishes")
axes[1].set(xlabel="GAN step", ylabel="D(G(z))", title="training on from a strong D")
for ax, name in ((axes[2], "VAE samples"), (axes[3], "GAN samples")):
    ax.imshow(models.image_grid(sets[name][:64], nrow=8), cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(f"{name}: confidence {sharpness[name]['mean_confidence']:.2f}")
    ax.axis("off")
axes[0].legend(), axes[1].legend()
fig.tight_layout()
fig.savefig(os.path.join(args.out, "claims.png"), dpi=100)
print(f"wrote {args.out}: claims.md, claims.json, claims.png")
