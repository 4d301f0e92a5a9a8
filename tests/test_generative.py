import math

import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet import generative, models, nn, optim
from xpnet.data import ArrayDataset, DataLoader
from xpnet.testing import assert_close


def _binary_digits(n=64, seed=0):
    """Blurry-free stand-ins for MNIST: a few fixed binary patterns plus flipped pixels."""
    rng = np.random.default_rng(seed)
    patterns = rng.random((4, 1, 28, 28)) > 0.7
    flips = rng.random((n, 1, 28, 28)) < 0.02
    return np.logical_xor(patterns[rng.integers(0, 4, n)], flips).astype(np.float32)


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
    loader = DataLoader(ArrayDataset(_binary_digits()), batch_size=16, shuffle=True, seed=0,
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


def test_the_two_generator_losses_have_their_textbook_gradients(device):
    """d/dl of −log σ(l) is −(1 − σ(l)); of log(1 − σ(l)) it is −σ(l): it vanishes when the
    discriminator rejects the fakes (l ≪ 0), which is why the non-saturating loss is used."""
    logits = np.array([[-8.0], [-2.0], [0.0], [3.0]])
    sigma = 1 / (1 + np.exp(-logits))
    for kind, expected in (("non-saturating", -(1 - sigma) / 4), ("saturating", -sigma / 4)):
        l = xpnet.tensor(logits, device=device, requires_grad=True)
        generative._generator_loss(kind, l).backward()
        assert_close(l.grad, expected, rtol=1e-10)


def _tiny_gan(device, width=4):
    generator = models.dcgan_generator(8, width, device=device)
    discriminator = models.dcgan_discriminator(width, device=device)
    return (generator, discriminator,
            optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999)),
            optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999)))


def test_gan_step_updates_both_players_and_computes_no_discriminator_gradient_for_g(device):
    xpnet.manual_seed(0)
    generator, discriminator, g_opt, d_opt = _tiny_gan(device)
    real = xpnet.tensor(_binary_digits(8) * 2 - 1, device=device)
    g_before = [p.numpy().copy() for p in generator.parameters()]
    d_before = [p.numpy().copy() for p in discriminator.parameters()]
    stats = generative.gan_step(generator, discriminator, real, g_opt, d_opt, 8).numpy()
    d_loss, g_loss, d_real, d_fake = stats
    assert d_loss == pytest.approx(-np.log(d_real) - np.log(1 - d_fake), rel=0.1)
    assert 0 < d_real < 1 and 0 < d_fake < 1 and np.isfinite(g_loss)
    assert all(not np.array_equal(a, p.numpy()) for a, p in zip(g_before,
                                                                generator.parameters()))
    assert all(not np.array_equal(a, p.numpy()) for a, p in zip(d_before,
                                                                discriminator.parameters()))
    assert all(p.requires_grad for p in discriminator.parameters())


def test_the_discriminators_gradient_is_that_of_its_own_loss_only(device):
    """Had G's update not frozen D, D's .grad would also hold the generator loss's gradient."""
    xpnet.manual_seed(0)
    generator, discriminator, g_opt, d_opt = _tiny_gan(device)
    g_opt.step = d_opt.step = lambda: None           # keep both players as they are
    real = xpnet.tensor(_binary_digits(8) * 2 - 1, device=device)
    state = xpnet.get_rng_state()
    generative.gan_step(generator, discriminator, real, g_opt, d_opt, 8)
    after_step = [p.grad.numpy().copy() for p in discriminator.parameters()]
    xpnet.set_rng_state(state)                       # the same z again
    fake = generator(xpnet.randn(8, 8, device=device))
    d_loss = (F.binary_cross_entropy_with_logits(discriminator(real), xpnet.ones(8, 1, device=device))
              + F.binary_cross_entropy_with_logits(discriminator(fake.detach()),
                                                   xpnet.zeros(8, 1, device=device)))
    discriminator.zero_grad()
    d_loss.backward()
    for got, p in zip(after_step, discriminator.parameters()):
        assert_close(got, p.grad, rtol=1e-4, atol=1e-6)


def test_train_gan_epoch_logs_one_mean_per_interval(device):
    xpnet.manual_seed(0)
    loader = DataLoader(ArrayDataset(_binary_digits(40)), batch_size=8, device=device)
    generator, discriminator, g_opt, d_opt = _tiny_gan(device)
    log = generative.train_gan_epoch(generator, discriminator, loader, g_opt, d_opt, 8,
                                     "saturating", log_every=2)
    assert sorted(log) == ["d_fake", "d_loss", "d_real", "g_loss"]
    assert all(len(values) == 3 for values in log.values())          # 5 steps: 2 + 2 + 1
    assert all(0 < v < 1 for v in log["d_real"] + log["d_fake"])
    assert all(v < 0 for v in log["g_loss"])                         # log(1 − D(G(z))) < 0
    with pytest.raises(ValueError, match=r"^gan_step: generator_loss must be one of"):
        generative.train_gan_epoch(generator, discriminator, loader, g_opt, d_opt, 8, "minimax")


def test_generate_gives_images_in_zero_one_and_restores_the_mode(device):
    generator = models.dcgan_generator(8, 4, device=device)
    images = generative.generate(generator, 25, 8, batch_size=10)
    assert images.shape == (25, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert generator.training


class _Oracle(nn.Module):
    """A 'classifier' whose logits are the first ten pixels, times ten."""

    def forward(self, x):
        return F.reshape(x, (x.shape[0], -1))[:, :10] * 10.0


def _coded(labels, sharp=True):
    images = np.zeros((len(labels), 1, 28, 28), np.float32)
    for k, label in enumerate(labels):
        images[k, 0, 0, label if sharp else slice(0, 10)] = 1.0
    return images


def test_inception_score_is_the_formula_over_the_classifiers_probabilities(device):
    oracle = _Oracle()
    balanced = generative.inception_score(oracle, _coded(np.arange(100) % 10), device=device,
                                          normalize=False)
    p = np.full(10, 1.0)
    p[0] = np.exp(10.0)
    p /= p.sum()                                       # what the oracle gives for each image
    assert balanced["score"] == pytest.approx(np.exp(np.sum(p * np.log(p / 0.1))), rel=1e-5)
    assert balanced["class_shares"] == [0.1] * 10
    assert balanced["mean_confidence"] == pytest.approx(p[0], rel=1e-6)
    collapsed = generative.inception_score(oracle, _coded([3] * 20), device=device,
                                           normalize=False)
    assert collapsed["score"] == pytest.approx(1.0, abs=1e-5)
    assert collapsed["class_shares"][3] == 1.0
    blurry = generative.inception_score(oracle, _coded(range(10), sharp=False), device=device,
                                        normalize=False)
    assert blurry["score"] == pytest.approx(1.0, abs=1e-5)
    assert blurry["mean_confidence"] == pytest.approx(0.1, rel=1e-5)


def test_inception_score_rejects_images_that_are_not_nchw():
    with pytest.raises(ValueError, match=r"^inception_score: images must be \(N, C, H, W\), got "
                                         r"shape \(3, 28, 28\)$"):
        generative.inception_score(_Oracle(), np.zeros((3, 28, 28)))


def test_mnist_classifier_loads_a_saved_one(tmp_path):
    model = models.mnist_cnn()
    xpnet.save(model.state_dict(), tmp_path / "classifier.npz")
    loaded, accuracy = generative.mnist_classifier(tmp_path / "classifier.npz")
    assert accuracy is None and not loaded.training
    for a, b in zip(model.parameters(), loaded.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_image_grid_tiles_row_by_row_and_saves_a_png(tmp_path):
    images = np.arange(3, dtype=np.float64).reshape(3, 1, 1, 1) / 4 * np.ones((3, 1, 2, 3))
    grid = generative.image_grid(images, nrow=2, padding=1)
    assert grid.shape == (7, 9)
    assert np.all(grid[1:3, 1:4] == 0) and np.all(grid[1:3, 5:8] == 0.25)
    assert np.all(grid[4:6, 1:4] == 0.5) and np.all(grid[4:6, 5:8] == 1.0)
    pytest.importorskip("matplotlib")
    import matplotlib.image
    path = generative.save_image_grid(np.zeros((4, 1, 28, 28)), tmp_path / "grid.png", nrow=2)
    assert matplotlib.image.imread(path).ndim == 3
