import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet import models, optim
from xpnet.data import ArrayDataset, DataLoader
from xpnet.models.dcgan import _generator_loss
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
    stats = models.gan_step(generator, discriminator, real, g_opt, d_opt, 8).numpy()
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
    models.gan_step(generator, discriminator, real, g_opt, d_opt, 8)
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


def test_fit_with_the_gan_step_logs_the_means_per_step_and_checkpoints_both_players(
        device, tmp_path):
    xpnet.manual_seed(0)
    loader = DataLoader(ArrayDataset(binary_digits(40), np.zeros(40)), batch_size=8, device=device)
    gan = models.DCGAN(latent_size=8, width=4, device=device)
    g_opt = optim.Adam(gan.generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    d_opt = optim.Adam(gan.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    seen = []
    record = xpnet.train.LambdaCallback(on_batch_end=lambda step, logs: seen.append(logs))
    checkpoint = xpnet.train.ModelCheckpoint(
        tmp_path / "gan.npz", monitor="loss",
        extra=lambda: {"d_optimizer": d_opt.state_dict()})
    history = xpnet.fit(gan, loader, optimizer=g_opt, epochs=1, verbose=0, log_every=2,
                        step=models.GANStep(d_opt, "saturating"),
                        callbacks=[record, checkpoint])
    assert {"d_loss", "g_loss", "d_real", "d_fake", "loss"} <= set(history.history)
    assert history["loss"] == history["g_loss"] and history["g_loss"][0] < 0   # log(1 − D(G(z)))
    assert all(0 < history[k][0] < 1 for k in ("d_real", "d_fake"))
    assert [logs is not None for logs in seen] == [False, True, False, True, False]   # 5 steps
    state = xpnet.load(tmp_path / "gan.npz")
    assert {k.split(".")[0] for k in state["model"]} == {"generator", "discriminator"}
    assert state["extra"]["d_optimizer"]["state"]                 # D's moments, after 5 steps
    with pytest.raises(ValueError, match=r"^GANStep: generator_loss must be one of"):
        models.GANStep(d_opt, "minimax")


def test_the_gan_steps_statistics_are_the_mean_of_gan_step_over_the_steps(device):
    xpnet.manual_seed(0)
    loader = DataLoader(ArrayDataset(binary_digits(16), np.zeros(16)), batch_size=8, device=device)
    gan = models.DCGAN(latent_size=8, width=4, device=device)
    g_opt, d_opt = (optim.SGD(m.parameters(), lr=0.0) for m in (gan.generator,
                                                                  gan.discriminator))
    state = xpnet.get_rng_state()
    history = xpnet.fit(gan, loader, optimizer=g_opt, epochs=1, verbose=0,
                        step=models.GANStep(d_opt))
    xpnet.set_rng_state(state)                       # the same z, the same (unchanged) players
    stats = np.mean([models.gan_step(gan.generator, gan.discriminator, x * 2.0 - 1.0, g_opt,
                                     d_opt, 8).numpy() for x, _ in loader], axis=0)
    got = [history[k][0] for k in ("d_loss", "g_loss", "d_real", "d_fake")]
    np.testing.assert_allclose(got, stats, rtol=1e-5)


def test_generate_images_gives_images_in_zero_one_and_restores_the_mode(device):
    generator = models.dcgan_generator(8, 4, device=device)
    images = models.generate_images(generator, 25, 8, batch_size=10)
    assert images.shape == (25, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert generator.training
    z = xpnet.randn(3, 8, device=device)
    generator.eval()
    with xpnet.no_grad():
        expected = (generator(z).numpy() + 1) / 2
    generator.train()
    assert_close(models.generate_images(generator, z=z), expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"^generate_images: give n and latent_size, or z$"):
        models.generate_images(generator, 3)


def test_the_saturating_loss_pushes_the_generator_less_once_the_discriminator_wins(device):
    xpnet.manual_seed(0)
    generator, discriminator, _, _ = _tiny_gan(device)
    d_opt = optim.Adam(discriminator.parameters(), lr=5e-3)
    real = xpnet.tensor(binary_digits(16) * 2 - 1, device=device)
    for _ in range(40):                         # D alone: it learns to reject G's samples
        _, _, fake_logits, _ = models.discriminator_step(generator, discriminator, real,
                                                             d_opt, 8)
    d_fake = float(F.sigmoid(fake_logits).mean().item())
    norms = {kind: models.generator_gradient_norm(generator, discriminator, 8, 16,
                                                      kind) for kind in models.GENERATOR_LOSSES}
    assert d_fake < 0.2
    assert norms["saturating"] < 0.5 * norms["non-saturating"]
    assert all(p.grad is None for p in generator.parameters())


def _host_state(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def _torch_dcgan(torch, width=8, latent=16):
    nn = torch.nn
    generator = nn.Sequential(
        nn.Unflatten(1, (latent, 1, 1)), nn.ConvTranspose2d(latent, 2 * width, 7, 1, 0, bias=False),
        nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width),
        nn.ReLU(), nn.ConvTranspose2d(width, 1, 4, 2, 1, bias=False), nn.Tanh())
    discriminator = nn.Sequential(
        nn.Conv2d(1, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width),
        nn.LeakyReLU(0.2), nn.Conv2d(2 * width, 1, 7, 1, 0, bias=False), nn.Flatten())
    return generator.double(), discriminator.double()


def test_dcgan_generator_and_discriminator_equal_torch_with_the_same_weights(device):
    torch = pytest.importorskip("torch")
    t_gen, t_disc = _torch_dcgan(torch)
    gen = models.dcgan_generator(16, 8, device=device).double()
    disc = models.dcgan_discriminator(8, device=device).double()
    for mine, theirs in ((gen, t_gen), (disc, t_disc)):
        assert [n for n, _ in mine.named_parameters()] == [n for n, _ in
                                                           theirs.named_parameters()]
        mine.load_state_dict(_host_state(theirs))
    z = np.random.default_rng(1).standard_normal((5, 16))
    zt = torch.tensor(z)
    fake, t_fake = gen(xpnet.tensor(z, device=device)), t_gen(zt)
    assert fake.shape == (5, 1, 28, 28)
    assert_close(fake, t_fake.detach().numpy(), rtol=1e-9, atol=1e-11)
    logits, t_logits = disc(fake), t_disc(t_fake)
    assert logits.shape == (5, 1)
    assert_close(logits, t_logits.detach().numpy(), rtol=1e-9, atol=1e-11)
    (logits * logits).sum().backward()
    (t_logits * t_logits).sum().backward()
    for mine, theirs in ((gen, t_gen), (disc, t_disc)):
        grads = dict(mine.named_parameters())
        for name, p in theirs.named_parameters():
            assert_close(grads[name].grad, p.grad.numpy(), rtol=1e-8, atol=1e-10)
        for name, b in theirs.named_buffers():       # running statistics, updated alike
            if name.endswith("running_mean") or name.endswith("running_var"):
                assert_close(dict(mine.named_buffers())[name], b.numpy(), rtol=1e-9,
                             atol=1e-12)


def test_dcgan_models_start_from_the_dcgan_initialisation(device):
    gen = models.dcgan_generator(device=device)
    weights = np.concatenate([p.numpy().ravel() for n, p in gen.named_parameters()
                              if p.ndim == 4])
    assert abs(weights.mean()) < 1e-3 and abs(weights.std() - 0.02) < 1e-3
    scales = np.concatenate([m.weight.numpy() for m in gen.modules()
                             if isinstance(m, xpnet.nn.BatchNorm2d)])
    assert abs(scales.mean() - 1) < 0.01 and 0.01 < scales.std() < 0.03
    assert all(np.all(m.bias.numpy() == 0) for m in gen.modules()
               if isinstance(m, xpnet.nn.BatchNorm2d))
