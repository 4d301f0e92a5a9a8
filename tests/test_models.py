import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet import models
from xpnet.testing import assert_close

TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"
        * 40)


def _tiny(device, vocab=11, dtype=None, **kw):
    xpnet.manual_seed(0)
    return models.CharTransformer(vocab, block_size=8, n_layer=2, n_head=2, n_embd=16,
                                  device=device, dtype=dtype, **kw)


def test_char_transformer_has_nanogpts_size_and_a_tied_head():
    model = models.CharTransformer(65)
    assert model.num_parameters() - 64 * 128 == 801_664   # nanoGPT prints "0.80M"
    assert model.head.weight is model.token_embedding.weight
    assert "head.weight" not in model.state_dict()
    assert "transformer.layers.3.self_attn.in_proj_weight" in model.state_dict()
    untied = models.CharTransformer(65, tie_weights=False)
    assert untied.num_parameters() == model.num_parameters() + 65 * 128


def test_char_transformer_init_follows_nanogpt():
    model = models.CharTransformer(65, n_layer=4)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    assert abs(state["transformer.layers.0.linear1.weight"].std() - 0.02) < 0.002
    assert abs(state["transformer.layers.0.linear2.weight"].std() - 0.02 / np.sqrt(8)) < 0.001
    assert abs(state["transformer.layers.1.self_attn.out_proj.weight"].std() - 0.0071) < 0.001
    assert (state["transformer.layers.2.self_attn.in_proj_bias"] == 0).all()
    assert (state["transformer.norm.weight"] == 1).all()


def test_char_transformer_matches_the_benchmarks_torch_model(device):
    torch = pytest.importorskip("torch")
    from benchmarks.run import torch_char_transformer
    model = _tiny(device, dtype="float64")
    ref = torch_char_transformer(11, 8, 2, 2, 16).double()
    assert set(ref.state_dict()) - set(model.state_dict()) == {"head.weight"}   # tied
    ref.load_state_dict({**{k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()},
                         "head.weight": torch.tensor(model.head.weight.numpy())})
    ids = np.random.default_rng(0).integers(0, 11, (3, 8))
    logits = model(xpnet.tensor(ids, device=device))
    ref_logits = ref(torch.tensor(ids))
    assert_close(logits, ref_logits.detach().numpy(), rtol=1e-9, atol=1e-10)
    target = np.random.default_rng(1).integers(0, 11, (3, 8))
    F.cross_entropy(logits.reshape(-1, 11), xpnet.tensor(target, device=device).reshape(-1)) \
        .backward()
    torch.nn.functional.cross_entropy(ref_logits.reshape(-1, 11),
                                      torch.tensor(target).reshape(-1)).backward()
    theirs = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        assert_close(p.grad, theirs[name].grad.numpy(), rtol=1e-8, atol=1e-10, msg=name)


def test_char_transformer_is_causal(device):
    model = _tiny(device)
    ids = np.random.default_rng(2).integers(0, 11, (2, 8))
    changed = ids.copy()
    changed[:, 5:] = (changed[:, 5:] + 1) % 11
    a, b = (model(xpnet.tensor(x, device=device)).numpy() for x in (ids, changed))
    assert_close(a[:, :5], b[:, :5], rtol=1e-5, atol=1e-6)   # the past never sees the future
    assert np.abs(a[:, 5:] - b[:, 5:]).max() > 1e-3


def test_char_transformer_rejects_a_context_longer_than_its_block(device):
    model = _tiny(device)
    with pytest.raises(ValueError, match=r"^CharTransformer\(vocab_size=11, block_size=8\): ids "
                       r"must be \(N, T\) with T <= block_size = 8, got \(1, 9\)$"):
        model(xpnet.tensor(np.zeros((1, 9), dtype=np.int64), device=device))


def test_generate_samples_within_the_vocabulary_and_top_k_1_is_greedy(device):
    model = _tiny(device)
    prompt = xpnet.tensor([[1, 2, 3]], device=device)
    out = models.generate(model, prompt, 12, seed=0)
    assert out.shape == (1, 15) and out.device == device
    host = out.numpy()
    assert (host[0, :3] == [1, 2, 3]).all() and host.min() >= 0 and host.max() < 11
    np.testing.assert_array_equal(models.generate(model, prompt, 12, seed=0).numpy(), host)
    greedy = models.generate(model, prompt, 10, top_k=1).numpy()   # past block_size: cropped
    ids = [1, 2, 3]
    with xpnet.no_grad():
        for _ in range(10):
            context = xpnet.tensor([ids[-8:]], device=device)
            ids.append(int(model(context)[0, -1].numpy().argmax()))
    assert greedy[0].tolist() == ids
    assert model.training


def test_char_lm_split_and_evaluation(device):
    chars, train_ids, val_ids = models.char_lm_split(TEXT)
    assert chars == sorted(set(TEXT))
    assert len(train_ids) == int(0.9 * len(TEXT)) and len(train_ids) + len(val_ids) == len(TEXT)
    assert "".join(chars[i] for i in val_ids) == TEXT[len(train_ids):]
    model = _tiny(device, vocab=len(chars))
    loss = models.evaluate_char_lm(model, val_ids, batch_size=5)
    windows = np.arange((len(val_ids) - 1) // 8)[:, None] * 8 + np.arange(9)
    chunk = xpnet.tensor(val_ids[windows], device=device)
    with xpnet.no_grad():
        logits = model(chunk[:, :-1])
        expected = F.cross_entropy(logits.reshape(-1, len(chars)), chunk[:, 1:].reshape(-1))
    assert loss == pytest.approx(expected.item(), rel=1e-5)


def test_random_windows_are_consecutive_slices_drawn_on_the_device(device):
    ids = xpnet.tensor(np.arange(100), device=device)
    x, y = models._random_windows(ids, 6, 8)
    assert x.shape == y.shape == (6, 8) and x.device == device
    hx, hy = x.numpy(), y.numpy()
    assert (np.diff(hx, axis=1) == 1).all() and (hy == hx + 1).all() and hx.max() < 99


def test_training_lowers_the_loss_in_a_few_steps(device):
    chars, train_ids, val_ids = models.char_lm_split(TEXT)
    model = _tiny(device, vocab=len(chars))
    before = models.evaluate_char_lm(model, val_ids)
    lines = []
    history = models.train_char_lm(model, train_ids, val_ids, iters=20, batch_size=8, lr=1e-2,
                                   min_lr=1e-3, warmup_iters=5, eval_interval=10,
                                   log=lines.append)
    assert history["iter"] == [10, 20] and len(lines) == 2 and "val loss" in lines[0]
    assert history["final_val_loss"] < before - 0.5
    assert history["lr"][-1] == pytest.approx(1e-3)      # the cosine ends at min_lr


# -- the generative models (issue 13) against the same models in PyTorch -----------------------

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
    from xpnet import generative
    theirs = _torch_vae(torch)
    mine = models.VAE(device=device).double()
    mine.load_state_dict(_host_state(theirs))
    host = (np.random.default_rng(0).random((6, 1, 28, 28)) > 0.6).astype(np.float64)
    x = xpnet.tensor(host, device=device)
    state = xpnet.get_rng_state()
    reconstruction, mu, logvar = mine(x)
    loss = generative.vae_loss(reconstruction, x, mu, logvar)
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
