"""The generative recipes: mnist-vae (PyTorch's reference VAE), mnist-vae-2d (its 2-D latent,
with the decoded latent grid) and mnist-gan (a DCGAN, its samples and their scores)."""
from __future__ import annotations

import math
import os

import numpy as np

from .. import models, optim
from . import Recipe, fit_recipe, register, write_history
from .mnist import mnist_loaders


def _vae(latent):
    def train(run):
        train_loader, test_loader = mnist_loaders(run, normalize=False)
        model = models.VAE(latent_size=latent, device=run.device)
        opt = optim.Adam(model.parameters(), lr=run.lr)
        return fit_recipe(run, model, opt, models.InputsAsTargets(train_loader),
                          models.InputsAsTargets(test_loader), loss=models.VAELoss(),
                          metrics=(), final=lambda history: _vae_pictures(run, model, latent,
                                                                          test_loader, history))
    return train


def _vae_pictures(run, model, latent, test_loader, history):
    """Reconstructions of test digits, samples from N(0, I), and (2-D latent) the grid."""
    from ..autograd import no_grad
    from ..autograd.creation import randn
    if run.is_main_process:
        x = next(iter(test_loader))[0][:32]
        model.eval()
        with no_grad():
            reconstruction = model(x)[0].numpy().reshape(-1, 1, 28, 28)
            samples = model.decode(randn(64, latent, device=run.device)).numpy()
        model.train()
        pairs = np.concatenate([x.numpy()[:16], reconstruction[:16], x.numpy()[16:32],
                                reconstruction[16:32]])
        _grid(run, pairs, "reconstructions.png", 16, "test digits (rows 1, 3) and their "
              "reconstructions (rows 2, 4)")
        _grid(run, samples.reshape(-1, 1, 28, 28), "samples.png", 8,
              "decoded z ~ N(0, I): the VAE's (blurry) samples")
        if latent == 2:
            _grid(run, models.latent_grid(model, 20), "latent_grid.png", 20,
                  "the decoder over the 2-D latent (prior quantiles 5%-95%)")
    val = history.last("val_loss")
    per_epoch = history["time"][-1] if "time" in history and len(history) else math.nan
    return (f"test loss {val:.2f} per sample (negative ELBO, nats; {per_epoch:.1f}s per epoch "
            f"on {run.device})"), {"val_loss": val}


def _grid(run, images, name, nrow, title):
    try:
        models.save_image_grid(images, os.path.join(run.out, name), nrow=nrow, title=title)
        run.written.append(name)
    except ImportError as exc:
        run.say(f"(no {name}: {exc})")


register(Recipe("mnist-vae", "PyTorch's reference VAE: 784-400-20, ReLU, sigmoid output, summed "
                "BCE + KL, Adam 1e-3, batch 128", _vae(20), epochs=10, batch_size=128, lr=1e-3,
                schedule="constant"))
register(Recipe("mnist-vae-2d", "the reference VAE with a 2-D latent, and its decoded latent grid",
                _vae(2), epochs=10, batch_size=128, lr=1e-3, schedule="constant"))


# -- the GAN: fit with the DCGAN's own step (two players), a sample grid per epoch -------------

LATENT = 100


def _gan(run):
    from ..train import Callback
    train_loader, _ = mnist_loaders(run, normalize=False)
    gan = models.DCGAN(LATENT, 64, device=run.device)
    g_opt = optim.Adam(gan.generator.parameters(), lr=run.lr, betas=(0.5, 0.999))
    d_opt = optim.Adam(gan.discriminator.parameters(), lr=run.lr, betas=(0.5, 0.999))
    if run.resume is not None:
        d_opt.load_state_dict(run.resume["extra"]["d_optimizer"])

    class FixedSamples(Callback):
        """G(z) for one fixed z after every epoch (z drawn once the run's state is restored)."""

        def on_train_begin(self, logs=None):
            from ..autograd.creation import randn
            self.z = randn(64, LATENT, device=run.device)

        def on_epoch_end(self, epoch, logs=None):
            if run.is_main_process:
                _grid(run, models.generate_images(gan.generator, z=self.z),
                      f"samples_epoch{epoch}.png", 8, f"G(z), fixed z, after epoch {epoch}")

    return fit_recipe(run, gan, g_opt, train_loader, None, loss=None, metrics=(),
                      step=models.GANStep(d_opt), callbacks=[FixedSamples()],
                      checkpoint_extra=lambda: {"d_optimizer": d_opt.state_dict()},
                      final=lambda history: _gan_scores(run, gan, history))


def _gan_scores(run, gan, history):
    """10,000 digits in samples.npz, the D(x)/D(G(z)) plot, and the scores by a fixed
    classifier (the project's mnist-cnn, trained once and kept in runs/mnist-classifier.npz)."""
    if not run.is_main_process:
        return "", {}
    images = models.generate_images(gan.generator, 10_000, LATENT, device=run.device)
    path = os.path.join(run.out, "samples.npz")
    np.savez_compressed(path, images=images.astype(np.float32))
    run.written.append("samples.npz")
    _discriminator_plot(run, history)
    per_epoch = history["time"][-1] if len(history) else math.nan
    if run.limit is not None:
        return (f"10,000 samples written (scoring skipped with --limit; {per_epoch:.1f}s per "
                f"epoch on {run.device})"), {}
    classifier_path = os.path.join(os.path.dirname(os.path.abspath(run.out)),
                                   "mnist-classifier.npz")
    if not os.path.exists(classifier_path):
        run.say(f"training the scoring classifier once (mnist-cnn, 1 epoch) -> {classifier_path}")
    classifier, _ = models.mnist_classifier(classifier_path, run.data, run.device)
    scores = models.inception_score(classifier, images)
    shares = scores["class_shares"]
    history.history.setdefault("inception_score", [math.nan] * len(history))[-1] = \
        scores["score"]
    write_history(run, history, f"xpnet mnist-gan on {run.device}")
    return (f"Inception Score {scores['score']:.2f} over 10,000 samples, smallest class "
            f"{min(shares) * 100:.1f}%, mean confidence {scores['mean_confidence']:.3f} "
            f"({per_epoch:.1f}s per epoch on {run.device})"), scores


def _discriminator_plot(run, history):
    try:
        models.save_discriminator_plot(history.epochs, history["d_real"], history["d_fake"],
                                       os.path.join(run.out, "discriminator.png"), "epoch",
                                       marker=True)
    except ImportError:
        return
    run.written.append("discriminator.png")


register(Recipe("mnist-gan", "DCGAN: ConvTranspose2d/BatchNorm/ReLU/tanh generator, "
                "Conv2d/LeakyReLU discriminator, Adam 2e-4 (beta1 0.5), batch 128, "
                "non-saturating loss; 10,000 samples scored by a fixed mnist-cnn", _gan,
                epochs=3, batch_size=128, lr=2e-4, schedule="constant"))
