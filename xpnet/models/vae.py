"""The VAE behind ``xpnet train mnist-vae``: PyTorch's reference model, its loss (the
negative ELBO), the batches it trains on (images as their own targets) and the decoded 2-D
latent grid. Training goes through :func:`xpnet.fit`::

    fit(model, InputsAsTargets(loader), loss=VAELoss(), optimizer=optim.Adam(...), metrics=())
"""
from __future__ import annotations

import statistics

import numpy as np

from .. import functional as F
from .. import nn
from ..autograd import Tensor, no_grad
from ..autograd.creation import tensor


class VAE(nn.Module):
    """PyTorch's reference VAE for MNIST: encoder 784-400-(μ, log σ²) with ReLU, decoder
    latent-400-784 with ReLU and a sigmoid output (pixel probabilities). Layer names as in the
    PyTorch example (fc1, fc21, fc22, fc3, fc4), so its state_dict loads.

    ``forward(x)`` returns (reconstruction (N, 784), μ, log σ²), with z = μ + σ⊙ε drawn on the
    device (:func:`xpnet.functional.reparameterize`); train it on :func:`vae_loss`.

    Shape: (N, 1, 28, 28) or (N, 784) -> (N, 784), (N, latent_size), (N, latent_size)
    """

    def __init__(self, latent_size: int = 20, hidden_size: int = 400, device=None):
        self.latent_size = latent_size
        self.fc1 = nn.Linear(784, hidden_size, device=device)
        self.fc21 = nn.Linear(hidden_size, latent_size, device=device)
        self.fc22 = nn.Linear(hidden_size, latent_size, device=device)
        self.fc3 = nn.Linear(latent_size, hidden_size, device=device)
        self.fc4 = nn.Linear(hidden_size, 784, device=device)

    def encode(self, x):
        h = nn.functional.relu(self.fc1(nn.functional.flatten(x, 1)))
        return self.fc21(h), self.fc22(h)

    def decode(self, z):
        return nn.functional.sigmoid(self.fc4(nn.functional.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(nn.functional.reparameterize(mu, logvar)), mu, logvar



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


class VAELoss:
    """:func:`vae_loss` of a VAE's output ``(reconstruction, mu, logvar)`` against the images,
    per sample (the sum divided by the batch, so that fit's running mean is the loss per
    sample; Adam takes the same steps as on the sum).

    >>> import xpnet
    >>> vae, x = VAE(), xpnet.rand(4, 1, 28, 28)
    >>> VAELoss()(vae(x), x).item() > 0
    True
    """

    def __call__(self, output, x):
        reconstruction, mu, logvar = output
        return vae_loss(reconstruction, x, mu, logvar) / float(x.shape[0])


class InputsAsTargets:
    """A loader's (inputs, labels) or (inputs,) batches as (inputs, inputs): an autoencoder
    reconstructs its input. Passes ``set_epoch`` and the length through, so :func:`xpnet.fit` shuffles and
    resumes it as the loader itself."""

    def __init__(self, loader):
        self.loader, self.dataset = loader, loader.dataset
        self.batch_size, self.sampler = loader.batch_size, getattr(loader, "sampler", None)

    def set_epoch(self, epochs_done):
        self.loader.set_epoch(epochs_done)

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            yield x, x


def latent_grid(model, steps: int = 20, device=None) -> np.ndarray:
    """Decoded images (steps², 1, 28, 28) of a VAE with a 2-D latent, over a grid of the
    prior's quantiles 5 % ... 95 % in each coordinate (Kingma & Welling's figure)."""
    quantiles = [statistics.NormalDist().inv_cdf(q) for q in np.linspace(0.05, 0.95, steps)]
    z = np.array([[a, b] for b in quantiles[::-1] for a in quantiles], dtype=np.float32)
    with no_grad():
        images = model.decode(tensor(z, device=device or model.device))
    return images.numpy().reshape(-1, 1, 28, 28)
