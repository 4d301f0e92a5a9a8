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
    state = model.state_dict()           # the tied weight under both names, as in PyTorch
    assert state["head.weight"] is state["token_embedding.weight"]
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
    assert list(ref.state_dict()) == list(model.state_dict())   # the same keys, in order
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
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


def test_random_windows_are_seeded_slices_with_next_character_targets():
    ids = np.arange(100)
    x, y = models.random_windows(ids, 6, 8, seed=3)
    assert x.shape == y.shape == (6, 8)
    assert (np.diff(x, axis=1) == 1).all() and (y == x + 1).all() and y.max() <= 99
    again, _ = models.random_windows(ids, 9, 8, seed=3)
    np.testing.assert_array_equal(again[:6], x)          # a longer run starts with the same
    assert not np.array_equal(models.random_windows(ids, 6, 8, seed=4)[0], x)
    with pytest.raises(ValueError, match=r"^random_windows: ids must be 1-D and longer than "
                                         r"block_size \+ 1 = 9, got shape \(9,\)$"):
        models.random_windows(np.arange(9), 2, 8)


def test_consecutive_windows_cover_the_text_or_an_even_spread_of_it():
    x, y = models.consecutive_windows(np.arange(41), 8)
    assert x[:, 0].tolist() == [0, 8, 16, 24, 32] and (y == x + 1).all()
    spread, _ = models.consecutive_windows(np.arange(41), 8, max_windows=3)
    assert spread[:, 0].tolist() == [0, 16, 32]
    with pytest.raises(ValueError, match=r"^consecutive_windows: ids must hold more than "
                                         r"block_size = 8 ids, got 8$"):
        models.consecutive_windows(np.arange(8), 8)


def test_the_schedule_warms_up_then_decays_to_a_tenth():
    model = _tiny("cpu")
    opt = models.char_lm_optimizer(model, lr=1e-2)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]
    assert all(p.ndim >= 2 for p in opt.param_groups[0]["params"])
    scheduler = models.char_lm_schedule(opt, total_iters=20, warmup_iters=5)
    lrs = []
    for _ in range(20):
        opt.step()
        scheduler.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[4] == pytest.approx(1e-2) and lrs[-1] == pytest.approx(1e-3)
    assert lrs[:5] == sorted(lrs[:5]) and lrs[5:] == sorted(lrs[5:], reverse=True)


def test_fit_on_random_windows_lowers_the_validation_loss(device):
    chars, train_ids, val_ids = models.char_lm_split(TEXT)
    model = _tiny(device, vocab=len(chars))
    before = models.evaluate_char_lm(model, val_ids)
    x, y = models.random_windows(train_ids, 2 * 10 * 8, 8, seed=0)
    opt = models.char_lm_optimizer(model, lr=1e-2)
    train = xpnet.data.DataLoader(xpnet.data.ArrayDataset(x, y), batch_size=8, device=device,
                                  sampler=xpnet.data.EpochSlices(10 * 8))
    history = xpnet.fit(model, train, loss=models.next_character_loss, optimizer=opt, epochs=2,
                        val=models.consecutive_windows(val_ids, 8), metrics=(),
                        scheduler=models.char_lm_schedule(opt, 20, 5, min_lr=1e-3),
                        schedule_per="step", clip_grad_norm=1.0, verbose=0)
    assert history.epochs == [1, 2]
    assert history["val_loss"][-1] == pytest.approx(models.evaluate_char_lm(model, val_ids),
                                                    rel=1e-5)
    assert history["val_loss"][-1] < before - 0.5
    assert history["lr"][-1] == pytest.approx(1e-3)      # the cosine ends at min_lr
