import math

import numpy as np
import pytest

import xpnet
from xpnet import models, optim
from xpnet.data import ArrayDataset, DataLoader
from xpnet.testing import assert_close

from ._digits import binary_digits


def test_vae_loss_is_summed_bce_plus_the_gaussian_kl(device):
    rng = np.random.default_rng(1)
    x = (rng.random((3, 1, 28, 28)) > 0.5).astype(np.float64)
    p, mu, logvar = rng.uniform(0.05, 0.95, (3, 784)), rng.normal(size=(3, 2)), \
        rng.normal(size=(3, 2))
    loss = models.vae_loss(*(xpnet.tensor(a, device=device) for a in (p, x, mu, logvar)))
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
    pairs = models.InputsAsTargets(loader)
    before = xpnet.evaluate(model, pairs, loss=models.VAELoss(), metrics=())["loss"]
    history = xpnet.fit(model, pairs, loss=models.VAELoss(), optimizer=opt, epochs=4,
                        val=pairs, metrics=(), verbose=0)
    assert math.isclose(before, 543.5, rel_tol=0.03)       # ≈ 784·log 2: pixels at p = 0.5
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["val_loss"][-1] < 0.5 * before
    assert model.training


def test_the_vae_loss_for_fit_is_the_summed_loss_per_sample(device):
    xpnet.manual_seed(0)
    model = models.VAE(latent_size=2, hidden_size=8, device=device)
    x = xpnet.tensor(binary_digits(5), device=device)
    state = xpnet.get_rng_state()
    per_sample = models.VAELoss()(model(x), x)
    xpnet.set_rng_state(state)                             # the same ε
    reconstruction, mu, logvar = model(x)
    summed = models.vae_loss(reconstruction, x, mu, logvar)
    assert_close(per_sample, summed.numpy() / 5, rtol=1e-6)


def test_inputs_as_targets_pairs_each_batch_with_itself_and_forwards_the_epoch(device):
    loader = DataLoader(ArrayDataset(np.arange(10.0).reshape(5, 2), np.zeros(5)), batch_size=2,
                        shuffle=True, seed=0, device=device)
    pairs = models.InputsAsTargets(loader)
    assert len(pairs) == 3 and pairs.dataset is loader.dataset
    pairs.set_epoch(1)
    batches = [(x.numpy(), y.numpy()) for x, y in pairs]
    assert all(np.array_equal(x, y) for x, y in batches)
    loader.set_epoch(1)
    assert [x.numpy().tolist() for x, _ in loader] == [x.tolist() for x, _ in batches]


def test_latent_grid_decodes_the_priors_quantiles(device):
    model = models.VAE(latent_size=2, hidden_size=16, device=device)
    grid = models.latent_grid(model, steps=3)
    assert grid.shape == (9, 1, 28, 28)
    z = np.array([[-1.6448536, 1.6448536], [0.0, 1.6448536]], dtype=np.float32)  # rows 0, 1
    with xpnet.no_grad():
        expected = model.decode(xpnet.tensor(z, device=device)).numpy().reshape(-1, 1, 28, 28)
    assert_close(grid[:2], expected, rtol=1e-5, atol=1e-6)


def _torch_vae(torch):
    nn, F = torch.nn, torch.nn.functional

    class VAE(nn.Module):               # PyTorch's examples/vae/main.py
        def __init__(self):
            super().__init__()
            self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), \
                nn.Linear(400, 20)
            self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

        def forward(self, x, eps):
            h = F.relu(self.fc1(x.view(-1, 784)))
            mu, logvar = self.fc21(h), self.fc22(h)
            z = mu + eps * torch.exp(0.5 * logvar)
            return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar

    return VAE().double()


def _host_state(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def test_vae_loss_and_every_gradient_equal_pytorchs_reference_vae(device):
    torch = pytest.importorskip("torch")
    theirs = _torch_vae(torch)
    mine = models.VAE(device=device).double()
    mine.load_state_dict(_host_state(theirs))
    host = (np.random.default_rng(0).random((6, 1, 28, 28)) > 0.6).astype(np.float64)
    x = xpnet.tensor(host, device=device)
    state = xpnet.get_rng_state()
    reconstruction, mu, logvar = mine(x)
    loss = models.vae_loss(reconstruction, x, mu, logvar)
    xpnet.set_rng_state(state)
    eps = xpnet.randn(6, 20, device=device, dtype="float64").numpy()   # the ε the model drew
    t_rec, t_mu, t_logvar = theirs(torch.tensor(host), torch.tensor(eps))
    t_loss = (torch.nn.functional.binary_cross_entropy(t_rec, torch.tensor(host).view(-1, 784),
                                                      reduction="sum")
              - 0.5 * torch.sum(1 + t_logvar - t_mu.pow(2) - t_logvar.exp()))
    assert_close(reconstruction, t_rec.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert_close(loss, t_loss.detach().numpy(), rtol=1e-10)
    loss.backward()
    t_loss.backward()
    for name, p in theirs.named_parameters():
        assert_close(dict(mine.named_parameters())[name].grad, p.grad.numpy(), rtol=1e-8,
                     atol=1e-10)
