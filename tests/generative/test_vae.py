import math

import numpy as np

import xpnet
from xpnet import generative, models, optim
from xpnet.data import ArrayDataset, DataLoader
from xpnet.testing import assert_close

from ._digits import binary_digits


def test_vae_loss_is_summed_bce_plus_the_gaussian_kl(device):
    rng = np.random.default_rng(1)
    x = (rng.random((3, 1, 28, 28)) > 0.5).astype(np.float64)
    p, mu, logvar = rng.uniform(0.05, 0.95, (3, 784)), rng.normal(size=(3, 2)), \
        rng.normal(size=(3, 2))
    loss = generative.vae_loss(*(xpnet.tensor(a, device=device) for a in (p, x, mu, logvar)))
    t = x.reshape(3, 784)
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p)).sum()
    kl = -0.5 * (1 + logvar - mu ** 2 - np.exp(logvar)).sum()
    assert_close(loss, bce + kl, rtol=1e-12)


def test_a_short_vae_run_lowers_the_loss_per_sample(device):
    xpnet.manual_seed(0)
    loader = DataLoader(ArrayDataset(binary_digits()), batch_size=16, shuffle=True, seed=0,
                        device=device)
    model = models.VAE(latent_size=4, hidden_size=64, device=device)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    before = generative.evaluate_vae(model, loader)
    losses = [generative.train_vae_epoch(model, loader, opt) for _ in range(4)]
    after = generative.evaluate_vae(model, loader)
    assert math.isclose(before, 543.5, rel_tol=0.03)       # ≈ 784·log 2: pixels at p = 0.5
    assert losses[-1] < 0.5 * losses[0] and after < 0.5 * before
    assert model.training


def test_latent_grid_decodes_the_priors_quantiles(device):
    model = models.VAE(latent_size=2, hidden_size=16, device=device)
    grid = generative.latent_grid(model, steps=3)
    assert grid.shape == (9, 1, 28, 28)
    z = np.array([[-1.6448536, 1.6448536], [0.0, 1.6448536]], dtype=np.float32)  # rows 0, 1
    with xpnet.no_grad():
        expected = model.decode(xpnet.tensor(z, device=device)).numpy().reshape(-1, 1, 28, 28)
    assert_close(grid[:2], expected, rtol=1e-5, atol=1e-6)
