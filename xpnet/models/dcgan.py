"""The DCGAN behind ``xpnet train mnist-gan``: generator, discriminator, their initialisation,
the two players under one module (:class:`DCGAN`), their losses and alternating updates
(:func:`gan_step`), the step that trains them through :func:`xpnet.fit` (:class:`GANStep`),
the generator's gradient norm, sampling (:func:`generate_images`) and the D(x)/D(G(z)) plot::

    gan = DCGAN(latent_size=100)
    g_optimizer = optim.Adam(gan.generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    d_optimizer = optim.Adam(gan.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    fit(gan, loader, optimizer=g_optimizer, step=GANStep(d_optimizer))

Nothing here reads the device in a training step: the statistics stay on the device until fit
reads them at a log interval.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import nn
from ..autograd import Tensor, no_grad
from ..autograd.creation import ones, randn, zeros


def dcgan_init_(model: nn.Module) -> nn.Module:
    """The DCGAN paper's initialisation, as in PyTorch's DCGAN example: conv weights N(0, 0.02),
    batch-norm scales N(1, 0.02) and shifts 0 (drawn on the host: the same on every device)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return model


def dcgan_generator(latent_size: int = 100, width: int = 64, device=None) -> nn.Module:
    """DCGAN generator for 28×28 digits: z (N, latent) -> ConvT 7×7 to 2·width channels, BN,
    ReLU -> ConvT 4/2/1 to 14×14 × width, BN, ReLU -> ConvT 4/2/1 to 28×28 × 1, tanh.

    Shape: (N, latent_size) -> (N, 1, 28, 28) in [-1, 1]
    """
    return dcgan_init_(nn.Sequential(
        nn.Unflatten(1, (latent_size, 1, 1)),
        nn.ConvTranspose2d(latent_size, 2 * width, 7, 1, 0, bias=False, device=device),
        nn.BatchNorm2d(2 * width, device=device), nn.ReLU(),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False, device=device),
        nn.BatchNorm2d(width, device=device), nn.ReLU(),
        nn.ConvTranspose2d(width, 1, 4, 2, 1, bias=False, device=device), nn.Tanh()))


def dcgan_discriminator(width: int = 64, device=None) -> nn.Module:
    """DCGAN discriminator for 28×28 digits: Conv 4/2/1 to 14×14 × width, LeakyReLU(0.2) ->
    Conv 4/2/1 to 7×7 × 2·width, BN, LeakyReLU(0.2) -> Conv 7×7 to one logit (no sigmoid:
    train it with binary_cross_entropy_with_logits).

    Shape: (N, 1, 28, 28) in [-1, 1] -> (N, 1) logits
    """
    return dcgan_init_(nn.Sequential(
        nn.Conv2d(1, width, 4, 2, 1, bias=False, device=device), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False, device=device),
        nn.BatchNorm2d(2 * width, device=device), nn.LeakyReLU(0.2),
        nn.Conv2d(2 * width, 1, 7, 1, 0, bias=False, device=device), nn.Flatten()))


class DCGAN(nn.Module):
    """Generator and discriminator under one module (``state_dict`` keys ``generator.*`` and
    ``discriminator.*``), so that one checkpoint holds both; ``forward(z)`` is the generator.

    Shape: (N, latent_size) -> (N, 1, 28, 28) in [-1, 1]
    """

    def __init__(self, latent_size: int = 100, width: int = 64, device=None):
        self.latent_size = latent_size
        self.generator = dcgan_generator(latent_size, width, device=device)
        self.discriminator = dcgan_discriminator(width, device=device)

    def forward(self, z):
        return self.generator(z)

    def extra_repr(self):
        return f"latent_size={self.latent_size}"


GENERATOR_LOSSES = ("non-saturating", "saturating")


def _generator_loss(kind, fake_logits):
    if kind == "non-saturating":    # −log D(G(z)): strong gradients while D rejects the fakes
        return F.binary_cross_entropy_with_logits(fake_logits, ones(*fake_logits.shape,
                                                                    device=fake_logits.device))
    # log(1 − D(G(z))), the minimax game's own term: it saturates when D is confident
    return -F.binary_cross_entropy_with_logits(fake_logits, zeros(*fake_logits.shape,
                                                                   device=fake_logits.device))


def discriminator_step(generator, discriminator, real, d_optimizer, latent_size: int,
                       average_gradients=None):
    """The discriminator's update: ascend log D(x) + log(1 − D(G(z))) (binary cross-entropy
    on its logits; the generated batch detached, z ~ N(0, I) drawn on the device).
    ``average_gradients(module)``, when given, runs between backward and the update (the
    world's, under mpiexec). Returns (loss, real logits, fake logits, the generated batch
    still attached to G)."""
    n = real.shape[0]
    fake = generator(randn(n, latent_size, device=real.device, dtype=real.dtype))
    real_logits, fake_logits = discriminator(real), discriminator(fake.detach())
    d_loss = (F.binary_cross_entropy_with_logits(real_logits, ones(n, 1, device=real.device))
              + F.binary_cross_entropy_with_logits(fake_logits, zeros(n, 1, device=real.device)))
    d_optimizer.zero_grad()
    d_loss.backward()
    if average_gradients is not None:
        average_gradients(discriminator)
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
    return _generator_update(None, discriminator, fake, g_optimizer, generator_loss)


def _generator_update(generator, discriminator, fake, g_optimizer, generator_loss,
                      average_gradients=None):
    discriminator.requires_grad_(False)
    try:
        g_loss = _generator_loss(generator_loss, discriminator(fake))
        if g_optimizer is not None:
            g_optimizer.zero_grad()
        g_loss.backward()
        if average_gradients is not None:
            average_gradients(generator)
        if g_optimizer is not None:
            g_optimizer.step()
    finally:
        discriminator.requires_grad_(True)
    return g_loss


def gan_step(generator, discriminator, real, g_optimizer, d_optimizer, latent_size: int,
             generator_loss: str = "non-saturating", average_gradients=None) -> Tensor:
    """One alternating update on a batch of real images in [-1, 1]: :func:`discriminator_step`,
    then :func:`generator_step` on the same generated batch through the updated discriminator
    (``average_gradients(module)`` after each backward, when given).

    Returns a device tensor (no host read) of [discriminator loss, generator loss, mean D(x),
    mean D(G(z))], the last two probabilities seen by the discriminator's update.
    """
    _check_loss("gan_step", generator_loss)   # before either player moves
    d_loss, real_logits, fake_logits, fake = discriminator_step(
        generator, discriminator, real, d_optimizer, latent_size, average_gradients)
    g_loss = _generator_update(generator, discriminator, fake, g_optimizer, generator_loss,
                               average_gradients)
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


class GANStep:
    """The training step of a :class:`DCGAN` for :func:`xpnet.fit`: :func:`gan_step` on a
    batch of images in [0, 1] (mapped to [-1, 1]), the generator updated by fit's optimizer and
    the discriminator by ``d_optimizer``; under mpiexec the gradients of each player are
    averaged over the ranks before its update.

    Logs the means per step of the discriminator's and the generator's loss, D(x) and D(G(z));
    ``loss`` is the generator's (what the progress line shows and the NaN guard reads, with
    ``d_loss``).
    """

    names = {"d_loss": 0, "g_loss": 1, "d_real": 2, "d_fake": 3, "loss": 1}

    def __init__(self, d_optimizer, generator_loss: str = "non-saturating"):
        _check_loss("GANStep", generator_loss)
        self.d_optimizer, self.generator_loss = d_optimizer, generator_loss

    def __call__(self, trainer, x, y):
        gan, world = trainer.model, trainer.world
        return gan_step(gan.generator, gan.discriminator, x * 2.0 - 1.0, trainer.optimizer,
                        self.d_optimizer, gan.latent_size, self.generator_loss,
                        world.average_gradients if world.size > 1 else None)


def generate_images(generator, n: int | None = None, latent_size: int | None = None, *, z=None,
                    batch_size: int = 1000, device=None) -> np.ndarray:
    """Images from the generator in eval mode (batch norm on its running statistics), mapped
    from [-1, 1] to [0, 1]: a NumPy array (n, 1, 28, 28), for ``n`` draws of z ~ N(0, I) of
    ``latent_size``, or for the given ``z`` (a fixed z, to watch training).

    >>> generate_images(dcgan_generator(width=8), 3, 100).shape
    (3, 1, 28, 28)
    """
    device = device or generator.device
    if z is None and (n is None or latent_size is None):
        raise ValueError("generate_images: give n and latent_size, or z")
    was_training = generator.training
    generator.eval()
    parts = []
    with no_grad():
        if z is not None:
            parts.append(generator(z).numpy())
        else:
            for start in range(0, n, batch_size):
                noise = randn(min(batch_size, n - start), latent_size, device=device)
                parts.append(generator(noise).numpy())
    generator.train(was_training)
    return np.clip((np.concatenate(parts) + 1.0) / 2.0, 0.0, 1.0)


def save_discriminator_plot(x, d_real, d_fake, path, xlabel: str, marker: bool = False) -> str:
    """Write mean D(x) and D(G(z)) against ``x`` (steps or epochs) with the equilibrium 0.5
    as a PNG (needs matplotlib)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(x, d_real, "-o" if marker else "-", label="D(x), real digits")
    ax.plot(x, d_fake, "-s" if marker else "-", label="D(G(z)), generated")
    ax.axhline(0.5, color="gray", lw=0.8, ls="--", label="equilibrium 0.5")
    ax.set_xlabel(xlabel)
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
