"""The generative recipes: mnist-vae (PyTorch's reference VAE), mnist-vae-2d (its 2-D latent,
with the decoded latent grid) and mnist-gan (a DCGAN, its samples and their scores)."""
from __future__ import annotations

import math
import os
import time

import numpy as np

from .. import generative, models, nn, optim
from . import Outcome, Recipe, fit_recipe, register, restore, write_history, written_note
from .mnist import mnist_loaders


class _PixelsAsTargets:
    """(images, labels) batches as (images, images): a VAE reconstructs its input."""

    def __init__(self, loader):
        self.loader, self.dataset = loader, loader.dataset
        self.batch_size, self.sampler = loader.batch_size, getattr(loader, "sampler", None)

    def set_epoch(self, epochs_done):
        self.loader.set_epoch(epochs_done)

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for x, _ in self.loader:
            yield x, x


class _NegativeELBO:
    """The VAE's loss per sample (summed BCE + KL, divided by the batch, so that fit's running
    mean is the loss per sample; Adam takes the same steps as on the sum)."""

    def __call__(self, output, x):
        reconstruction, mu, logvar = output
        return generative.vae_loss(reconstruction, x, mu, logvar) / float(x.shape[0])


def _vae(latent):
    def train(run):
        train_loader, test_loader = mnist_loaders(run, normalize=False)
        model = models.VAE(latent_size=latent, device=run.device)
        opt = optim.Adam(model.parameters(), lr=run.lr)
        train_pairs, test_pairs = _PixelsAsTargets(train_loader), _PixelsAsTargets(test_loader)
        return fit_recipe(run, model, opt, train_pairs, test_pairs, loss=_NegativeELBO(),
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
            _grid(run, generative.latent_grid(model, 20), "latent_grid.png", 20,
                  "the decoder over the 2-D latent (prior quantiles 5%-95%)")
    val = history.last("val_loss")
    per_epoch = history["time"][-1] if "time" in history and len(history) else math.nan
    return (f"test loss {val:.2f} per sample (negative ELBO, nats; {per_epoch:.1f}s per epoch "
            f"on {run.device})"), {"val_loss": val}


def _grid(run, images, name, nrow, title):
    try:
        generative.save_image_grid(images, os.path.join(run.out, name), nrow=nrow, title=title)
        run.written.append(name)
    except ImportError as exc:
        run.say(f"(no {name}: {exc})")


register(Recipe("mnist-vae", "PyTorch's reference VAE: 784-400-20, ReLU, sigmoid output, summed "
                "BCE + KL, Adam 1e-3, batch 128", _vae(20), epochs=10, batch_size=128, lr=1e-3,
                schedule="constant"))
register(Recipe("mnist-vae-2d", "the reference VAE with a 2-D latent, and its decoded latent grid",
                _vae(2), epochs=10, batch_size=128, lr=1e-3, schedule="constant"))


# -- the GAN: its own loop (two players), the same checkpoints, history and pictures -------------

class _Players(nn.Module):
    """Generator and discriminator under one state_dict (generator.* and discriminator.*)."""

    def __init__(self, width, device):
        self.generator = models.dcgan_generator(LATENT, width, device=device)
        self.discriminator = models.dcgan_discriminator(width, device=device)


LATENT = 100


def _gan(run):
    from ..train.checkpoint import save_checkpoint
    train_loader, _ = mnist_loaders(run, normalize=False)
    players = _Players(64, run.device)
    g_opt = optim.Adam(players.generator.parameters(), lr=run.lr, betas=(0.5, 0.999))
    d_opt = optim.Adam(players.discriminator.parameters(), lr=run.lr, betas=(0.5, 0.999))
    history = restore(run, players, g_opt)
    if run.resume is not None:
        d_opt.load_state_dict(run.resume["extra"]["d_optimizer"])
    from ..autograd.creation import randn
    fixed_z = randn(64, LATENT, device=run.device)
    for epoch in range(run.epochs_done + 1, run.epochs + 1):
        train_loader.set_epoch(epoch - 1)
        started = time.perf_counter()
        log = generative.train_gan_epoch(players.generator, players.discriminator, train_loader,
                                         g_opt, d_opt, LATENT, log_every=50)
        elapsed = time.perf_counter() - started
        weights = np.asarray(log["steps"], dtype=float)
        logs = {k: float(np.average(log[k], weights=weights)) for k in
                ("d_loss", "g_loss", "d_real", "d_fake")}
        logs.update(loss=logs["g_loss"], time=elapsed,
                    samples_per_s=len(train_loader.dataset) / elapsed)
        history.append(epoch, logs)
        run.say(f"epoch {epoch}/{run.epochs} D(x) {logs['d_real']:.3f} D(G(z)) "
                f"{logs['d_fake']:.3f} loss D {logs['d_loss']:.3f} G {logs['g_loss']:.3f} "
                f"time={elapsed:.1f}s")
        if not all(math.isfinite(v) for v in logs.values()):
            history.stop_reason = f"a loss became non-finite in epoch {epoch}"
            write_history(run, history, f"xpnet mnist-gan on {run.device}")
            return Outcome(f"training stopped: {history.stop_reason}; {written_note(run)}", 1)
        if run.is_main_process:
            save_checkpoint(run.checkpoint, players, g_opt, epoch=epoch, history=history,
                            d_optimizer=d_opt.state_dict(), **run.settings())
            run.saved_epoch = epoch
            _grid(run, _fixed_samples(players.generator, fixed_z), f"samples_epoch{epoch}.png", 8, f"G(z), fixed z, after epoch {epoch}")
    write_history(run, history, f"xpnet mnist-gan on {run.device}")
    return _gan_scores(run, players, history)


def _fixed_samples(generator, z):
    from ..autograd import no_grad
    generator.eval()
    with no_grad():
        images = (generator(z).numpy() + 1.0) / 2.0
    generator.train()
    return images


def _gan_scores(run, players, history):
    """10,000 digits in samples.npz, the D(x)/D(G(z)) plot, and the scores by a fixed
    classifier (the project's mnist-cnn, trained once and kept in runs/mnist-classifier.npz)."""
    if not run.is_main_process:
        return Outcome("", 0)
    images = generative.generate(players.generator, 10_000, LATENT, device=run.device)
    path = os.path.join(run.out, "samples.npz")
    np.savez_compressed(path, images=images.astype(np.float32))
    run.written.append("samples.npz")
    _discriminator_plot(run, history)
    per_epoch = history["time"][-1] if len(history) else math.nan
    if run.limit is not None:
        return Outcome(f"10,000 samples written (scoring skipped with --limit; {per_epoch:.1f}s "
                       f"per epoch on {run.device}); {written_note(run)}", 0)
    classifier_path = os.path.join(os.path.dirname(os.path.abspath(run.out)),
                                   "mnist-classifier.npz")
    if not os.path.exists(classifier_path):
        run.say(f"training the scoring classifier once (mnist-cnn, 1 epoch) -> {classifier_path}")
    classifier, _ = generative.mnist_classifier(classifier_path, run.data, run.device)
    scores = generative.inception_score(classifier, images)
    shares = scores["class_shares"]
    history.history.setdefault("inception_score", [math.nan] * len(history))[-1] = \
        scores["score"]
    write_history(run, history, f"xpnet mnist-gan on {run.device}")
    return Outcome(f"Inception Score {scores['score']:.2f} over 10,000 samples, smallest class "
                   f"{min(shares) * 100:.1f}%, mean confidence {scores['mean_confidence']:.3f} "
                   f"({per_epoch:.1f}s per epoch on {run.device}); {written_note(run)}", 0,
                   scores)


def _discriminator_plot(run, history):
    try:
        generative.save_discriminator_plot(history.epochs, history["d_real"], history["d_fake"],
                                           os.path.join(run.out, "discriminator.png"), "epoch",
                                           marker=True)
    except ImportError:
        return
    run.written.append("discriminator.png")


register(Recipe("mnist-gan", "DCGAN: ConvTranspose2d/BatchNorm/ReLU/tanh generator, "
                "Conv2d/LeakyReLU discriminator, Adam 2e-4 (beta1 0.5), batch 128, "
                "non-saturating loss; 10,000 samples scored by a fixed mnist-cnn", _gan,
                epochs=3, batch_size=128, lr=2e-4, schedule="constant"))
