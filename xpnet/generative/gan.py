"""The GAN's alternating updates (discriminator, then generator through the frozen
discriminator), its epoch, the generator's gradient norm, and sampling."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..autograd import Tensor, no_grad
from ..autograd.creation import ones, randn, zeros
from ._loop import _accumulate, _images

GENERATOR_LOSSES = ("non-saturating", "saturating")


def _generator_loss(kind, fake_logits):
    if kind == "non-saturating":    # −log D(G(z)): strong gradients while D rejects the fakes
        return F.binary_cross_entropy_with_logits(fake_logits, ones(*fake_logits.shape,
                                                                    device=fake_logits.device))
    # log(1 − D(G(z))), the minimax game's own term: it saturates when D is confident
    return -F.binary_cross_entropy_with_logits(fake_logits, zeros(*fake_logits.shape,
                                                                   device=fake_logits.device))


def discriminator_step(generator, discriminator, real, d_optimizer, latent_size: int):
    """The discriminator's update: ascend log D(x) + log(1 − D(G(z))) (binary cross-entropy
    on its logits; the generated batch detached, z ~ N(0, I) drawn on the device).
    Returns (loss, real logits, fake logits, the generated batch still attached to G)."""
    n = real.shape[0]
    fake = generator(randn(n, latent_size, device=real.device, dtype=real.dtype))
    real_logits, fake_logits = discriminator(real), discriminator(fake.detach())
    d_loss = (F.binary_cross_entropy_with_logits(real_logits, ones(n, 1, device=real.device))
              + F.binary_cross_entropy_with_logits(fake_logits, zeros(n, 1, device=real.device)))
    d_optimizer.zero_grad()
    d_loss.backward()
    d_optimizer.step()
    return d_loss, real_logits, fake_logits, fake


def _check_loss(op, generator_loss):
    if generator_loss not in GENERATOR_LOSSES:
        raise ValueError(f"{op}: generator_loss must be one of {GENERATOR_LOSSES}, got "
                         f"{generator_loss!r}")


def generator_step(discriminator, fake, g_optimizer, generator_loss: str = "non-saturating"):
    """The generator's update through the discriminator, whose parameters are frozen meanwhile
    (no weight gradients are computed for it); ``g_optimizer=None`` only computes the
    gradients (to measure them). Returns the generator's loss."""
    _check_loss("generator_step", generator_loss)
    return _generator_update(discriminator, fake, g_optimizer, generator_loss)


def _generator_update(discriminator, fake, g_optimizer, generator_loss):
    discriminator.requires_grad_(False)
    try:
        g_loss = _generator_loss(generator_loss, discriminator(fake))
        if g_optimizer is not None:
            g_optimizer.zero_grad()
        g_loss.backward()
        if g_optimizer is not None:
            g_optimizer.step()
    finally:
        discriminator.requires_grad_(True)
    return g_loss


def gan_step(generator, discriminator, real, g_optimizer, d_optimizer, latent_size: int,
             generator_loss: str = "non-saturating") -> Tensor:
    """One alternating update on a batch of real images in [-1, 1]: :func:`discriminator_step`,
    then :func:`generator_step` on the same generated batch through the updated discriminator.

    Returns a device tensor (no host read) of [discriminator loss, generator loss, mean D(x),
    mean D(G(z))], the last two probabilities seen by the discriminator's update.
    """
    _check_loss("gan_step", generator_loss)   # before either player moves
    d_loss, real_logits, fake_logits, fake = discriminator_step(
        generator, discriminator, real, d_optimizer, latent_size)
    g_loss = _generator_update(discriminator, fake, g_optimizer, generator_loss)
    with no_grad():
        return F.stack([d_loss.detach(), g_loss.detach(), F.sigmoid(real_logits).mean(),
                        F.sigmoid(fake_logits).mean()])


def generator_gradient_norm(generator, discriminator, latent_size: int, batch_size: int = 128,
                            generator_loss: str = "non-saturating", device=None) -> float:
    """‖∇_θ L_G‖ (over all of the generator's parameters) for one batch of z, nothing
    updated: how hard the generator is pushed by the discriminator as it stands."""
    z = randn(batch_size, latent_size, device=device or generator.device)
    generator.zero_grad()
    generator_step(discriminator, generator(z), None, generator_loss)
    squares = sum(float((p.grad * p.grad).sum().item()) for p in generator.parameters())
    generator.zero_grad()
    return squares ** 0.5


def train_gan_epoch(generator, discriminator, loader, g_optimizer, d_optimizer, latent_size,
                    generator_loss: str = "non-saturating", log_every: int = 50) -> dict:
    """One epoch of :func:`gan_step` over a loader of images in [0, 1] (mapped to [-1, 1]).

    Returns the means over each ``log_every`` steps (the device is read once per interval):
    ``{"d_loss": [...], "g_loss": [...], "d_real": [...], "d_fake": [...], "steps": [...]}``,
    where d_real and d_fake are the mean D(x) and D(G(z)) and steps counts the steps of each
    interval (the last one of an epoch may be shorter).
    """
    generator.train()
    discriminator.train()
    names = ("d_loss", "g_loss", "d_real", "d_fake")
    log = {name: [] for name in names + ("steps",)}
    total, steps = None, 0

    def flush():
        for name, value in zip(names, (total.numpy() / steps).tolist()):
            log[name].append(value)
        log["steps"].append(steps)

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
    mapped from [-1, 1] to [0, 1]: a NumPy array (n, 1, 28, 28).

    >>> from xpnet import models
    >>> generate(models.dcgan_generator(width=8), 3, 100).shape
    (3, 1, 28, 28)
    """
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
