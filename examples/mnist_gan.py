"""A DCGAN on MNIST (Adam 2e-4, beta1 0.5, batch 128, non-saturating generator loss): a sample
grid per epoch, the curves of D(x) and D(G(z)), 10,000 generated digits in samples.npz, and
their scores by a fixed MNIST classifier (Inception Score, class shares, confidence).

    python examples/mnist_gan.py --epochs 3 --data data/mnist --out runs/mnist-gan
"""
import argparse
import json
import os
import time

import numpy as np

import xpnet
from xpnet import generative, models, optim
from xpnet.data import MNIST, DataLoader

parser = argparse.ArgumentParser()
parser.add_argument("--device", default=None)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--width", type=int, default=64, help="channels of the first conv layer")
parser.add_argument("--data", default="data/mnist", help="folder with the four MNIST files")
parser.add_argument("--out", default="runs/mnist-gan")
parser.add_argument("--classifier", default=None,
                    help="scoring classifier (default OUT/classifier.npz; trained once if absent)")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
device = xpnet.device(args.device).name
os.makedirs(args.out, exist_ok=True)
latent = 100

xpnet.manual_seed(args.seed)
train = DataLoader(MNIST(args.data, train=True), batch_size=128, shuffle=True, seed=args.seed,
                   device=device, drop_last=True)
generator = models.dcgan_generator(latent, args.width, device=device)
discriminator = models.dcgan_discriminator(args.width, device=device)
g_opt = optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
d_opt = optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
fixed_z = xpnet.randn(64, latent, device=device)

log = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": [], "steps": []}
seconds = []
for epoch in range(1, args.epochs + 1):
    start = time.perf_counter()
    for key, values in generative.train_gan_epoch(generator, discriminator, train, g_opt, d_opt,
                                                  latent, log_every=50).items():
        log[key] += values
    seconds.append(time.perf_counter() - start)
    print(f"epoch {epoch}: D(x) {log['d_real'][-1]:.3f}, D(G(z)) {log['d_fake'][-1]:.3f}, "
          f"loss D {log['d_loss'][-1]:.3f} G {log['g_loss'][-1]:.3f} ({seconds[-1]:.0f}s)",
          flush=True)
    generator.eval()
    with xpnet.no_grad():
        grid = (generator(fixed_z).numpy() + 1) / 2
    generator.train()
    generative.save_image_grid(grid, os.path.join(args.out, f"samples_epoch{epoch}.png"), nrow=8,
                               title=f"G(z) for fixed z after epoch {epoch}")

generative.save_discriminator_plot(np.cumsum(log["steps"]), log["d_real"], log["d_fake"],
                                   os.path.join(args.out, "discriminator.png"), "step")

images = generative.generate(generator, 10_000, latent)
np.savez_compressed(os.path.join(args.out, "samples.npz"), images=images.astype(np.float32))
classifier, accuracy = generative.mnist_classifier(
    args.classifier or os.path.join(args.out, "classifier.npz"), args.data, device)
if accuracy is not None:
    print(f"trained the scoring classifier: test accuracy {accuracy:.4f}")
scores = generative.inception_score(classifier, images)
xpnet.save({"generator": generator.state_dict(), "discriminator": discriminator.state_dict()},
           os.path.join(args.out, "checkpoint.npz"))
with open(os.path.join(args.out, "history.json"), "w") as f:
    json.dump({**log, "seconds_per_epoch": seconds, **scores}, f, indent=1)
shares = ", ".join(f"{s:.1%}" for s in scores["class_shares"])
print(f"Inception Score {scores['score']:.2f}, mean confidence {scores['mean_confidence']:.3f}, "
      f"class shares {shares}; wrote {args.out}")
