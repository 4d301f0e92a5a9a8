"""A DCGAN on MNIST (Adam 2e-4, beta1 0.5, batch 128, non-saturating generator loss): a sample
grid per epoch, the curves of D(x) and D(G(z)), 10,000 generated digits in samples.npz, and
their scores by a fixed MNIST classifier (Inception Score, class shares, confidence).

    python examples/mnist_gan.py --epochs 3 --data data/mnist --out runs/mnist-gan
"""
import argparse
import json
import os

import numpy as np

import xpnet
from xpnet import models, optim
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
gan = models.DCGAN(latent, args.width, device=device)
g_opt = optim.Adam(gan.generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
d_opt = optim.Adam(gan.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
fixed_z = xpnet.randn(64, latent, device=device)


class Curves(xpnet.train.Callback):
    """Mean D(x) and D(G(z)) over each 50 steps (fit logs the running means of the epoch at
    every log interval), and a grid of G(fixed z) after each epoch."""

    def __init__(self):
        self.log, self.sums, self.step = {"d_real": [], "d_fake": [], "steps": []}, {}, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.sums, self.step = {"d_real": 0.0, "d_fake": 0.0}, 0

    def on_batch_end(self, step, logs=None):
        if logs is None:
            return
        self.interval(step, logs)

    def interval(self, step, logs):
        for key in ("d_real", "d_fake"):   # running means -> the mean of the last interval
            self.log[key].append((logs[key] * step - self.sums[key]) / (step - self.step))
            self.sums[key] = logs[key] * step
        self.log["steps"].append(step - self.step)
        self.step = step

    def on_epoch_end(self, epoch, logs=None):
        if self.step < self.trainer.steps_per_epoch:      # the epoch's last, shorter interval
            self.interval(self.trainer.steps_per_epoch, logs)
        print(f"epoch {epoch}: D(x) {logs['d_real']:.3f}, D(G(z)) {logs['d_fake']:.3f}, loss D "
              f"{logs['d_loss']:.3f} G {logs['g_loss']:.3f} ({logs['time']:.0f}s)", flush=True)
        models.save_image_grid(models.generate_images(gan.generator, z=fixed_z),
                               os.path.join(args.out, f"samples_epoch{epoch}.png"), nrow=8,
                               title=f"G(z) for fixed z after epoch {epoch}")


curves = Curves()
history = xpnet.fit(gan, train, optimizer=g_opt, step=models.GANStep(d_opt), epochs=args.epochs,
                    log_every=50, callbacks=[curves], verbose=0)
models.save_discriminator_plot(np.cumsum(curves.log["steps"]), curves.log["d_real"],
                               curves.log["d_fake"], os.path.join(args.out, "discriminator.png"),
                               "step")

images = models.generate_images(gan.generator, 10_000, latent)
np.savez_compressed(os.path.join(args.out, "samples.npz"), images=images.astype(np.float32))
classifier, accuracy = models.mnist_classifier(
    args.classifier or os.path.join(args.out, "classifier.npz"), args.data, device)
if accuracy is not None:
    print(f"trained the scoring classifier: test accuracy {accuracy:.4f}")
scores = models.inception_score(classifier, images)
xpnet.save({"generator": gan.generator.state_dict(),
            "discriminator": gan.discriminator.state_dict()},
           os.path.join(args.out, "checkpoint.npz"))
with open(os.path.join(args.out, "history.json"), "w") as f:
    json.dump({**history.history, "per_50_steps": curves.log, **scores}, f, indent=1)
shares = ", ".join(f"{s:.1%}" for s in scores["class_shares"])
print(f"Inception Score {scores['score']:.2f}, mean confidence {scores['mean_confidence']:.3f}, "
      f"class shares {shares}; wrote {args.out}")
