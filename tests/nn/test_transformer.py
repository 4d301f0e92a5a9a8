import functools
import math

import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet import nn, optim
from xpnet.testing import assert_close, random_inputs

from ._torch_compare import assert_same, backward_both, pair, torch

D, HEADS, FF, S, T, N = 8, 2, 12, 5, 4, 3

pytestmark = [pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),
              pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")]


def _seq(device, batch_first, length, seed):
    rng = np.random.default_rng(seed)
    return pair(device, rng.standard_normal((N, length, D) if batch_first else (length, N, D)))


def _padding(device, length, row=1, start=3):
    mask = np.zeros((N, length), dtype=bool)
    mask[row, start:] = True
    return pair(device, mask)


def _loaded(ours, ref):
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    return ours, ref


def _activations(t):
    return {"relu": ("relu", "relu"), "gelu": ("gelu", "gelu"),
            "tanh-gelu": (functools.partial(F.gelu, approximate="tanh"),
                          functools.partial(t.nn.functional.gelu, approximate="tanh"))}


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", "tanh-gelu"])
def test_encoder_layer_matches_torch(device, batch_first, norm_first, activation):
    t = torch()
    ours_act, their_act = _activations(t)[activation]
    kw = dict(dim_feedforward=FF, dropout=0.0, batch_first=batch_first, norm_first=norm_first)
    t.manual_seed(0)
    layer, ref = _loaded(
        nn.TransformerEncoderLayer(D, HEADS, activation=ours_act, device=device,
                                   dtype="float64", **kw),
        t.nn.TransformerEncoderLayer(D, HEADS, activation=their_act, dtype=t.float64, **kw))
    x, tx = _seq(device, batch_first, S, 1)
    (m, tm), (p, tp) = pair(device, np.random.default_rng(2).random((S, S)) < 0.3), \
        _padding(device, S)
    ours = (layer(x, src_mask=m, src_key_padding_mask=p),)
    theirs = (ref(tx, src_mask=tm, src_key_padding_mask=tp),)
    backward_both(ours, theirs)
    assert_same(ours, theirs, layer, ref, [(x, tx)])


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_with_every_mask_matches_torch(device, batch_first, norm_first):
    t = torch()
    kw = dict(dim_feedforward=FF, dropout=0.0, batch_first=batch_first, norm_first=norm_first)
    t.manual_seed(1)
    layer, ref = _loaded(nn.TransformerDecoderLayer(D, HEADS, device=device, dtype="float64", **kw),
                         t.nn.TransformerDecoderLayer(D, HEADS, dtype=t.float64, **kw))
    (y, ty), (memory, tmemory) = _seq(device, batch_first, T, 3), _seq(device, batch_first, S, 4)
    causal = np.triu(np.full((T, T), -np.inf), 1)
    (tgt_mask, ttgt_mask) = pair(device, causal, False)
    (memory_mask, tmemory_mask) = pair(device, np.random.default_rng(5).standard_normal((T, S)))
    (tgt_pad, ttgt_pad), (mem_pad, tmem_pad) = _padding(device, T, 0, 3), _padding(device, S)
    ours = (layer(y, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                  tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=mem_pad),)
    theirs = (ref(ty, tmemory, tgt_mask=ttgt_mask, memory_mask=tmemory_mask,
                  tgt_key_padding_mask=ttgt_pad, memory_key_padding_mask=tmem_pad),)
    backward_both(ours, theirs)
    assert_same(ours, theirs, layer, ref, [(y, ty), (memory, tmemory), (memory_mask, tmemory_mask)])


def test_stacks_are_deep_copies_named_as_torchs(device):
    t = torch()
    layer = nn.TransformerEncoderLayer(D, HEADS, FF, device=device)
    encoder = nn.TransformerEncoder(layer, 3, norm=nn.LayerNorm(D, device=device))
    ref = t.nn.TransformerEncoder(t.nn.TransformerEncoderLayer(D, HEADS, FF), 3,
                                  norm=t.nn.LayerNorm(D))
    assert [(k, tuple(v.shape)) for k, v in ref.state_dict().items()] == \
        [(k, v.shape) for k, v in encoder.state_dict().items()]
    assert "layers.0.self_attn.in_proj_weight" in encoder.state_dict()
    first, second = encoder.layers[0], encoder.layers[1]
    assert_close(first.linear1.weight, second.linear1.weight, rtol=0)   # the same start
    assert first.linear1.weight is not second.linear1.weight
    assert first.linear1.weight.device is layer.linear1.weight.device
    second.linear1.weight.array = second.linear1.weight.array * 0
    assert np.abs(first.linear1.weight.numpy()).sum() > 0


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_with_masks_matches_torch(device, batch_first, norm_first):
    t = torch()
    kw = dict(d_model=D, nhead=HEADS, num_encoder_layers=2, num_decoder_layers=2,
              dim_feedforward=FF, dropout=0.0, batch_first=batch_first, norm_first=norm_first)
    t.manual_seed(2)
    model, ref = _loaded(nn.Transformer(device=device, dtype="float64", **kw),
                         t.nn.Transformer(dtype=t.float64, **kw))
    (src, tsrc), (tgt, ttgt) = _seq(device, batch_first, S, 6), _seq(device, batch_first, T, 7)
    (src_pad, tsrc_pad), (tgt_pad, ttgt_pad) = _padding(device, S), _padding(device, T, 2, 2)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(T, device=device, dtype="float64")
    ttgt_mask = t.nn.Transformer.generate_square_subsequent_mask(T, dtype=t.float64)
    assert_close(tgt_mask, ttgt_mask.numpy(), rtol=0)
    ours = (model(src, tgt, tgt_mask=tgt_mask, src_key_padding_mask=src_pad,
                  tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad,
                  tgt_is_causal=True),)
    theirs = (ref(tsrc, ttgt, tgt_mask=ttgt_mask, src_key_padding_mask=tsrc_pad,
                  tgt_key_padding_mask=ttgt_pad, memory_key_padding_mask=tsrc_pad,
                  tgt_is_causal=True),)
    backward_both(ours, theirs)
    assert_same(ours, theirs, model, ref, [(src, tsrc), (tgt, ttgt)])


def test_causal_hint_without_padding_takes_the_fused_causal_path_with_the_same_result(device):
    layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True,
                                       device=device, dtype="float64")
    x, = random_inputs(device, (N, S, D))
    mask = nn.Transformer.generate_square_subsequent_mask(S, device=device, dtype="float64")
    assert_close(layer(x, src_mask=mask, is_causal=True), layer(x, src_mask=mask), rtol=1e-12)


def test_layers_without_bias_match_torch(device):
    t = torch()
    kw = dict(dim_feedforward=FF, dropout=0.0, bias=False, batch_first=True)
    layer, ref = _loaded(nn.TransformerDecoderLayer(D, HEADS, device=device, dtype="float64", **kw),
                         t.nn.TransformerDecoderLayer(D, HEADS, dtype=t.float64, **kw))
    assert not any(name.endswith("bias") for name in layer.state_dict())
    (y, ty), (memory, tmemory) = _seq(device, True, T, 8), _seq(device, True, S, 9)
    ours, theirs = (layer(y, memory),), (ref(ty, tmemory),)
    backward_both(ours, theirs)
    assert_same(ours, theirs, layer, ref, [(y, ty)])


def test_transformer_initialises_every_matrix_xavier_uniform():
    model = nn.Transformer(16, 2, 1, 1, 32)
    for name, p in model.named_parameters():
        if p.ndim > 1:
            bound = math.sqrt(6 / (p.shape[0] + p.shape[1]))
            assert np.abs(p.numpy()).max() <= bound, name
    assert (model.encoder.layers[0].self_attn.in_proj_bias.numpy() == 0).all()


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("d_model", [6, 7])
def test_positional_encoding_adds_the_sinusoid_table(device, batch_first, d_model):
    pe = nn.PositionalEncoding(d_model, max_len=20, batch_first=batch_first, device=device)
    assert [name for name, _ in pe.named_buffers()] == ["pe"] and list(pe.parameters()) == []
    position = np.arange(20)[:, None]
    angle = position / 10000 ** (np.arange(0, d_model, 2) / d_model)
    table = np.zeros((20, d_model))
    table[:, 0::2], table[:, 1::2] = np.sin(angle), np.cos(angle)[:, :d_model // 2]
    assert_close(pe.pe, table.astype(np.float32), rtol=1e-6, atol=1e-6)
    x, = random_inputs(device, (2, 9, d_model) if batch_first else (9, 2, d_model),
                       dtype="float32")
    expected = x.numpy() + (table[None, :9] if batch_first else table[:9, None])
    assert_close(pe(x), expected.astype(np.float32), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"^PositionalEncoding\(d_model=.*\): input must be "
                       r"\((N, T|T, N), \d\) with T <= max_len = 20, got"):
        pe(random_inputs(device, (21, 21, d_model))[0])


def test_an_encoder_learns_to_sort_a_few_batches(device):
    """Trains on every device: the loss of a tiny encoder falls within a few Adam steps."""
    xpnet.manual_seed(0)
    embed = nn.Embedding(5, 16, device=device)
    pos = nn.PositionalEncoding(16, max_len=8, batch_first=True, device=device)
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(
        16, 2, 32, dropout=0.0, batch_first=True, device=device), 2)
    head = nn.Linear(16, 5, device=device)
    params = [*embed.parameters(), *encoder.parameters(), *head.parameters()]
    opt = optim.Adam(params, lr=3e-3)
    warmup = optim.LinearLR(opt, start_factor=0.3, total_iters=5)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, (32, 6))
    x, y = xpnet.tensor(ids, device=device), xpnet.tensor(np.sort(ids, axis=1), device=device)
    losses = []
    for _ in range(30):
        logits = head(encoder(pos(embed(x))))
        loss = F.cross_entropy(logits.reshape(-1, 5), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        warmup.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


def test_bad_arguments_and_inputs_are_reported(device):
    with pytest.raises(ValueError, match=r"^TransformerEncoderLayer: activation must be one of 'relu', "
                       r"'gelu' or a callable, got 'swish'$"):
        nn.TransformerEncoderLayer(D, HEADS, activation="swish")
    with pytest.raises(TypeError, match=r"^TransformerDecoderLayer: activation must be one of 'relu', "
                       r"'gelu' or a callable, got 3 \(int\)$"):
        nn.TransformerDecoderLayer(D, HEADS, activation=3)
    with pytest.raises(ValueError, match=r"^TransformerEncoder: num_layers must be a positive "
                       r"int, got 0$"):
        nn.TransformerEncoder(nn.TransformerEncoderLayer(D, HEADS), 0)
    with pytest.raises(ValueError, match=r"^MultiheadAttention: embed_dim must be divisible by "
                       r"num_heads, got embed_dim=8 and num_heads=3$"):
        nn.TransformerEncoderLayer(D, 3)
    model = nn.Transformer(D, HEADS, 1, 1, FF, device=device)
    src, = random_inputs(device, (S, N, D), dtype="float32")
    label = r"^Transformer\(d_model=8, nhead=2, batch_first=False\): "
    with pytest.raises(ValueError, match=label + r"src and tgt must have the same batch size "
                       r"\(axis 1\), got src \(5, 3, 8\) and tgt \(4, 2, 8\)$"):
        model(src, random_inputs(device, (T, 2, D), dtype="float32")[0])
    with pytest.raises(ValueError, match=label + r"src and tgt must have d_model = 8 features"):
        model(src, random_inputs(device, (T, N, 6), dtype="float32")[0])
    layer = nn.TransformerEncoderLayer(D, HEADS, FF, device=device)
    with pytest.raises(ValueError, match=r"^MultiheadAttention\(embed_dim=8, num_heads=2, "
                       r"batch_first=False\): attn_mask must be \(L, S\) = \(5, 5\)"):
        layer(src, src_mask=xpnet.zeros(4, 4, device=device))
