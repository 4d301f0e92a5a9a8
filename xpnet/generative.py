"""Training and scoring the course's generative models: the library half of the VAE and GAN
recipes (the models are in :mod:`xpnet.models`).

* VAE: :func:`vae_loss` (the negative ELBO: summed BCE + KL to N(0, I)), :func:`train_vae_epoch`,
  :func:`evaluate_vae`, :func:`latent_grid`.
* GAN: :func:`gan_step` (one alternating update: the discriminator on a real and a generated
  batch, then the generator through the updated discriminator, with the non-saturating
  −log D(G(z)) or the saturating log(1 − D(G(z))) loss), :func:`train_gan_epoch`,
  :func:`generate`.
* Scoring generated digits with a fixed classifier: :func:`inception_score`.
* Pictures: :func:`image_grid` (NumPy) and :func:`save_image_grid` (matplotlib).

Nothing here reads the device in a training step: losses and statistics are summed on the
device and read back once per epoch (or per ``log_every`` steps).
"""
from __future__ import annotations

import statistics

import numpy as np

from . import functional as F
from .autograd import Tensor, no_grad
from .autograd.creation import ones, randn, tensor, zeros
from .data.mnist import MEAN, STD

GENERATOR_LOSSES = ("non-saturating", "saturating")


def _images(batch):
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def _accumulate(total, value):
    with no_grad():
        return value.detach() if total is None else total + value.detach()


# -- VAE --------------------------------------------------------------------------------------

def vae_loss(reconstruction: Tensor, x: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """The negative ELBO of a batch, summed as in PyTorch's VAE example: binary cross-entropy
    of the reconstruction (N, 784) against the pixels of x, plus KL(q(z|x) ‖ N(0, I)).
    Divide by N for the loss per sample."""
    target = F.reshape(x, (x.shape[0], -1))
    return (F.binary_cross_entropy(reconstruction, target, reduction="sum")
            + F.gaussian_kl(mu, logvar, reduction="sum"))


def train_vae_epoch(model, loader, optimizer) -> float:
    """One epoch of Adam (or any optimizer) on :func:`vae_loss`; returns the mean loss per
    sample (one read of the device, at the end)."""
    model.train()
    total, count = None, 0
    for batch in loader:
        x = _images(batch)
        reconstruction, mu, logvar = model(x)
        loss = vae_loss(reconstruction, x, mu, logvar)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total, count = _accumulate(total, loss), count + x.shape[0]
    return total.item() / count


def evaluate_vae(model, loader) -> float:
    """Mean :func:`vae_loss` per sample over ``loader`` (z sampled, as PyTorch's example)."""
    model.eval()
    total, count = None, 0
    with no_grad():
        for batch in loader:
            x = _images(batch)
            reconstruction, mu, logvar = model(x)
            total = _accumulate(total, vae_loss(reconstruction, x, mu, logvar))
            count += x.shape[0]
    model.train()
    return total.item() / count


def latent_grid(model, steps: int = 20, device=None) -> np.ndarray:
    """Decoded images (steps², 1, 28, 28) of a VAE with a 2-D latent, over a grid of the
    prior's quantiles 5 % ... 95 % in each coordinate (Kingma & Welling's figure)."""
    quantiles = [statistics.NormalDist().inv_cdf(q) for q in np.linspace(0.05, 0.95, steps)]
    z = np.array([[a, b] for b in quantiles[::-1] for a in quantiles], dtype=np.float32)
    with no_grad():
        images = model.decode(tensor(z, device=device or model.device))
    return images.numpy().reshape(-1, 1, 28, 28)


# -- GAN --------------------------------------------------------------------------------------

def _generator_loss(kind, fake_logits):
    if kind == "non-saturating":    # −log D(G(z)): strong gradients while D rejects the fakes
        return F.binary_cross_entropy_with_logits(fake_logits, ones(*fake_logits.shape,
                                                                    device=fake_logits.device))
    # log(1 − D(G(z))), the minimax game's own term: it saturates when D is confident
    return -F.binary_cross_entropy_with_logits(fake_logits, zeros(*fake_logits.shape,
                                                                   device=fake_logits.device))


def gan_step(generator, discriminator, real, g_optimizer, d_optimizer, latent_size: int,
             generator_loss: str = "non-saturating") -> Tensor:
    """One alternating update on a batch of real images in [-1, 1].

    The discriminator ascends log D(x) + log(1 − D(G(z))) (binary cross-entropy on its
    logits, the generated batch detached); then the generator descends its loss through the
    updated discriminator, whose parameters are frozen meanwhile (no weight gradients are
    computed for it). z ~ N(0, I) is drawn on the device.

    Returns a device tensor (no host read) of [discriminator loss, generator loss, mean D(x),
    mean D(G(z))], the last two probabilities seen by the discriminator's update.
    """
    if generator_loss not in GENERATOR_LOSSES:
        raise ValueError(f"gan_step: generator_loss must be one of {GENERATOR_LOSSES}, got "
                         f"{generator_loss!r}")
    n = real.shape[0]
    fake = generator(randn(n, latent_size, device=real.device, dtype=real.dtype))
    real_logits, fake_logits = discriminator(real), discriminator(fake.detach())
    d_loss = (F.binary_cross_entropy_with_logits(real_logits, ones(n, 1, device=real.device))
              + F.binary_cross_entropy_with_logits(fake_logits, zeros(n, 1, device=real.device)))
    d_optimizer.zero_grad()
    d_loss.backward()
    d_optimizer.step()

    discriminator.requires_grad_(False)
    try:
        g_loss = _generator_loss(generator_loss, discriminator(fake))
        g_optimizer.zero_grad()
        g_loss.backward()
        g_optimizer.step()
    finally:
        discriminator.requires_grad_(True)
    with no_grad():
        return F.stack([d_loss.detach(), g_loss.detach(), F.sigmoid(real_logits).mean(),
                        F.sigmoid(fake_logits).mean()])


def train_gan_epoch(generator, discriminator, loader, g_optimizer, d_optimizer, latent_size,
                    generator_loss: str = "non-saturating", log_every: int = 50) -> dict:
    """One epoch of :func:`gan_step` over a loader of images in [0, 1] (mapped to [-1, 1]).

    Returns the means over each ``log_every`` steps (the device is read once per interval):
    ``{"d_loss": [...], "g_loss": [...], "d_real": [...], "d_fake": [...]}``, where d_real and
    d_fake are the mean D(x) and D(G(z)).
    """
    generator.train()
    discriminator.train()
    names = ("d_loss", "g_loss", "d_real", "d_fake")
    log = {name: [] for name in names}
    total, steps = None, 0

    def flush():
        for name, value in zip(names, (total.numpy() / steps).tolist()):
            log[name].append(value)

    for batch in loader:
        real = _images(batch) * 2.0 - 1.0
        total = _accumulate(total, gan_step(generator, discriminator, real, g_optimizer,
                                            d_optimizer, latent_size, generator_loss))
        steps += 1
        if steps == log_every:
            flush()
            total, steps = None, 0
    if steps:
        flush()
    return log


def generate(generator, n: int, latent_size: int, batch_size: int = 1000,
             device=None) -> np.ndarray:
    """``n`` images from the generator in eval mode (batch norm on its running statistics),
    mapped from [-1, 1] to [0, 1]: a NumPy array (n, 1, 28, 28)."""
    device = device or generator.device
    was_training = generator.training
    generator.eval()
    parts = []
    with no_grad():
        for start in range(0, n, batch_size):
            z = randn(min(batch_size, n - start), latent_size, device=device)
            parts.append(generator(z).numpy())
    generator.train(was_training)
    return np.clip((np.concatenate(parts) + 1.0) / 2.0, 0.0, 1.0)


# -- scoring ----------------------------------------------------------------------------------

def mnist_classifier(path, root=None, device=None, epochs: int = 1, verbose=0):
    """The fixed classifier that scores generated digits: ``models.mnist_cnn`` loaded from
    ``path`` (an :func:`xpnet.save` file of its state_dict), or, if there is none, trained
    there once (Adam 1e-3, batch 64, ``epochs`` epochs on normalised MNIST from ``root``,
    seed 0) and saved. Returns (model in eval mode, test accuracy or None when loaded)."""
    import os

    from . import io, models, optim
    from .data import MNIST, DataLoader
    from .random import manual_seed
    from .train import evaluate, fit

    model = models.mnist_cnn(device=device)
    if os.path.exists(path):
        model.load_state_dict(io.load(path))
        return model.eval(), None
    manual_seed(0)
    train = DataLoader(MNIST(root, train=True, normalize=True), batch_size=64, shuffle=True,
                       seed=0, device=device)
    test = DataLoader(MNIST(root, train=False, normalize=True), batch_size=1000, device=device)
    fit(model, train, loss="cross_entropy", optimizer=optim.Adam(model.parameters(), lr=1e-3),
        epochs=epochs, verbose=verbose)
    accuracy = evaluate(model, test, loss="cross_entropy")["accuracy"]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    io.save(model.state_dict(), path)
    return model.eval(), accuracy


def inception_score(classifier, images, batch_size: int = 1000, device=None,
                    normalize: bool = True) -> dict:
    """Score generated digits with a fixed classifier (e.g. a trained ``models.mnist_cnn``).

    Args:
        classifier: maps (N, 1, 28, 28) to logits (N, C).
        images: (N, 1, 28, 28) in [0, 1], NumPy or a Tensor.
        normalize: apply MNIST's (x - 0.1307) / 0.3081 first, as the classifier was trained.

    Returns ``{"score", "class_shares", "mean_confidence"}``: the Inception Score
    exp(E_x KL(p(y|x) ‖ p(y))) (1 for one class or pure noise, C for sharp and balanced
    samples), the share of samples given to each class (mode collapse shows as shares near
    0), and the mean top-class probability (sharpness).
    """
    device = device or classifier.device
    host = images.numpy() if isinstance(images, Tensor) else np.asarray(images, np.float32)
    if host.ndim != 4:
        raise ValueError(f"inception_score: images must be (N, C, H, W), got shape "
                         f"{host.shape}")
    if normalize:
        host = (host - MEAN) / STD
    was_training = classifier.training
    classifier.eval()
    with no_grad():
        probs = F.concat([F.softmax(classifier(tensor(host[i:i + batch_size], device=device,
                                                      dtype="float32")), axis=1)
                          for i in range(0, len(host), batch_size)], axis=0)
        marginal = probs.mean(axis=0, keepdims=True)
        # E_x KL(p(y|x) ‖ p(y)): 'batchmean' would divide by the batch of log p(y), which is 1
        score = F.exp(F.kl_div(F.log(marginal), probs, reduction="sum") / len(host))
        p = probs.numpy()
    classifier.train(was_training)
    counts = np.bincount(p.argmax(axis=1), minlength=p.shape[1])
    return {"score": float(score.item()), "class_shares": (counts / len(p)).tolist(),
            "mean_confidence": float(p.max(axis=1).mean())}


# -- pictures ---------------------------------------------------------------------------------

def image_grid(images, nrow: int = 10, padding: int = 2) -> np.ndarray:
    """Images (N, 1, H, W) in [0, 1] tiled row by row into one 2-D array (gaps of 1.0)."""
    images = images.numpy() if isinstance(images, Tensor) else np.asarray(images)
    n, _, h, w = images.shape
    rows = -(-n // nrow)
    grid = np.ones((rows * (h + padding) + padding, nrow * (w + padding) + padding))
    for k in range(n):
        r, c = divmod(k, nrow)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[top:top + h, left:left + w] = images[k, 0]
    return grid


def save_image_grid(images, path, nrow: int = 10, title: str | None = None) -> str:
    """Write :func:`image_grid` of ``images`` as a grey-scale PNG (needs matplotlib)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    grid = image_grid(images, nrow)
    fig, ax = plt.subplots(figsize=(grid.shape[1] / 40, grid.shape[0] / 40 + (0.4 if title
                                                                              else 0)))
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
