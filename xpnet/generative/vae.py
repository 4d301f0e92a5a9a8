"""The VAE's negative ELBO, its training and test epochs, and the decoded 2-D latent grid."""
from __future__ import annotations

import statistics

import numpy as np

from .. import functional as F
from ..autograd import Tensor, no_grad
from ..autograd.creation import tensor
from ._loop import _accumulate, _images


def vae_loss(reconstruction: Tensor, x: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """The negative ELBO of a batch, summed as in PyTorch's VAE example: binary cross-entropy
    of the reconstruction (N, 784) against the pixels of x, plus KL(q(z|x) ‖ N(0, I)).
    Divide by N for the loss per sample.

    >>> import xpnet
    >>> from xpnet import models
    >>> vae, x = models.VAE(), xpnet.rand(8, 1, 28, 28)
    >>> reconstruction, mu, logvar = vae(x)
    >>> vae_loss(reconstruction, x, mu, logvar).item() > 0
    True
    """
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
