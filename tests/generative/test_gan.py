import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet import generative, models, optim
from xpnet.data import ArrayDataset, DataLoader
from xpnet.generative.gan import _generator_loss
from xpnet.testing import assert_close

from ._digits import binary_digits


def test_the_two_generator_losses_have_their_textbook_gradients(device):
    """d/dl of −log σ(l) is −(1 − σ(l)); of log(1 − σ(l)) it is −σ(l): it vanishes when the
    discriminator rejects the fakes (l ≪ 0), which is why the non-saturating loss is used."""
    logits = np.array([[-8.0], [-2.0], [0.0], [3.0]])
    sigma = 1 / (1 + np.exp(-logits))
    for kind, expected in (("non-saturating", -(1 - sigma) / 4), ("saturating", -sigma / 4)):
        l = xpnet.tensor(logits, device=device, requires_grad=True)
        _generator_loss(kind, l).backward()
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
    real = xpnet.tensor(binary_digits(8) * 2 - 1, device=device)
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
    real = xpnet.tensor(binary_digits(8) * 2 - 1, device=device)
    state = xpnet.get_rng_state()
    generative.gan_step(generator, discriminator, real, g_opt, d_opt, 8)
    after_step = [p.grad.numpy().copy() for p in discriminator.parameters()]
    xpnet.set_rng_state(state)                       # the same z again
    fake = generator(xpnet.randn(8, 8, device=device))
    ones, zeros = xpnet.ones(8, 1, device=device), xpnet.zeros(8, 1, device=device)
    d_loss = (F.binary_cross_entropy_with_logits(discriminator(real), ones)
              + F.binary_cross_entropy_with_logits(discriminator(fake.detach()), zeros))
    discriminator.zero_grad()
    d_loss.backward()
    for got, p in zip(after_step, discriminator.parameters()):
        assert_close(got, p.grad, rtol=1e-4, atol=1e-6)


def test_train_gan_epoch_logs_one_mean_per_interval(device):
    xpnet.manual_seed(0)
    loader = DataLoader(ArrayDataset(binary_digits(40)), batch_size=8, device=device)
    generator, discriminator, g_opt, d_opt = _tiny_gan(device)
    log = generative.train_gan_epoch(generator, discriminator, loader, g_opt, d_opt, 8,
                                     "saturating", log_every=2)
    assert sorted(log) == ["d_fake", "d_loss", "d_real", "g_loss", "steps"]
    assert log["steps"] == [2, 2, 1]                                  # 5 steps
    assert all(len(values) == 3 for values in log.values())
    assert all(0 < v < 1 for v in log["d_real"] + log["d_fake"])
    assert all(v < 0 for v in log["g_loss"])                         # log(1 − D(G(z))) < 0
    with pytest.raises(ValueError, match=r"^gan_step: generator_loss must be one of"):
        generative.train_gan_epoch(generator, discriminator, loader, g_opt, d_opt, 8, "minimax")


def test_generate_gives_images_in_zero_one_and_restores_the_mode(device):
    generator = models.dcgan_generator(8, 4, device=device)
    images = generative.generate(generator, 25, 8, batch_size=10)
    assert images.shape == (25, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert generator.training


def test_the_saturating_loss_pushes_the_generator_less_once_the_discriminator_wins(device):
    xpnet.manual_seed(0)
    generator, discriminator, _, _ = _tiny_gan(device)
    d_opt = optim.Adam(discriminator.parameters(), lr=5e-3)
    real = xpnet.tensor(binary_digits(16) * 2 - 1, device=device)
    for _ in range(40):                         # D alone: it learns to reject G's samples
        _, _, fake_logits, _ = generative.discriminator_step(generator, discriminator, real,
                                                             d_opt, 8)
    d_fake = float(F.sigmoid(fake_logits).mean().item())
    norms = {kind: generative.generator_gradient_norm(generator, discriminator, 8, 16,
                                                      kind) for kind in generative.GENERATOR_LOSSES}
    assert d_fake < 0.2
    assert norms["saturating"] < 0.5 * norms["non-saturating"]
    assert all(p.grad is None for p in generator.parameters())
