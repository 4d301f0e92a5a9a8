import copy

import numpy as np
import pytest

import xpnet
from xpnet import nn
from xpnet.testing import assert_close, gradcheck, random_inputs

from ._torch_compare import assert_same, backward_both, pair, torch

E, H, L, S, N = 8, 2, 3, 5, 2


def _layers(device, **kw):
    t = torch()
    t.manual_seed(0)
    ref = t.nn.MultiheadAttention(E, H, dtype=t.float64, **kw)
    layer = nn.MultiheadAttention(E, H, device=device, dtype="float64", **kw)
    layer.load_state_dict(ref.state_dict())
    return layer, ref


def _inputs(device, batch_first, kdim=E, vdim=E, seed=1):
    rng = np.random.default_rng(seed)
    shape = (lambda n, t, d: (n, t, d)) if batch_first else (lambda n, t, d: (t, n, d))
    return [pair(device, rng.standard_normal(shape(N, length, d)))
            for length, d in ((L, E), (S, kdim), (S, vdim))]


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_self_attention_matches_torch(device, batch_first, need_weights, average):
    layer, ref = _layers(device, batch_first=batch_first)
    (x, tx), _, _ = _inputs(device, batch_first)
    ours = layer(x, x, x, need_weights=need_weights, average_attn_weights=average)
    theirs = ref(tx, tx, tx, need_weights=need_weights, average_attn_weights=average)
    if need_weights:
        assert ours[1].shape == ((N, L, L) if average else (N, H, L, L))
    else:
        assert ours[1] is None and theirs[1] is None
    backward_both(ours, theirs)
    assert_same(ours, theirs, layer, ref, [(x, tx)])


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")  # torch's, float
@pytest.mark.parametrize("mask_kind", ["bool-2d", "float-2d", "bool-3d", "float-3d"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_attention_masks_and_key_padding_match_torch(device, mask_kind, need_weights):
    layer, ref = _layers(device, batch_first=True)
    (q, tq), (k, tk), (v, tv) = _inputs(device, True)
    rng = np.random.default_rng(2)
    shape = (L, S) if mask_kind.endswith("2d") else (N * H, L, S)
    mask = rng.random(shape) < 0.3 if mask_kind.startswith("bool") else \
        rng.standard_normal(shape)
    padding = np.zeros((N, S), dtype=bool)
    padding[1, 3:] = True
    (m, tm), (p, tp) = pair(device, mask, False), pair(device, padding)
    ours = layer(q, k, v, key_padding_mask=p, attn_mask=m, need_weights=need_weights)
    theirs = ref(tq, tk, tv, key_padding_mask=tp, attn_mask=tm, need_weights=need_weights)
    backward_both(ours, theirs)
    assert_same(ours, theirs, layer, ref, [(q, tq), (k, tk), (v, tv)])


def test_causal_hint_with_the_causal_mask_matches_torch(device):
    layer, ref = _layers(device, batch_first=True)
    (x, tx), _, _ = _inputs(device, True)
    causal = np.triu(np.full((L, L), -np.inf), 1)
    (m, tm) = pair(device, causal, False)
    for need_weights in (False, True):
        layer.zero_grad()
        ref.zero_grad()
        ours = layer(x, x, x, attn_mask=m, is_causal=True, need_weights=need_weights)
        theirs = ref(tx, tx, tx, attn_mask=tm, is_causal=True, need_weights=need_weights)
        backward_both(ours, theirs)
        assert_same(ours, theirs, layer, ref)


def test_cross_attention_with_other_key_and_value_sizes_matches_torch(device):
    layer, ref = _layers(device, kdim=3, vdim=4)
    assert [k for k in layer.state_dict()] == [k for k in ref.state_dict()]
    assert layer.in_proj_weight is None and layer.k_proj_weight.shape == (E, 3)
    (q, tq), (k, tk), (v, tv) = _inputs(device, False, kdim=3, vdim=4)
    ours, theirs = layer(q, k, v), ref(tq, tk, tv)
    backward_both(ours, theirs)
    assert_same(ours, theirs, layer, ref, [(q, tq), (k, tk), (v, tv)])


def test_encoder_decoder_attention_with_key_equal_to_value_matches_torch(device):
    layer, ref = _layers(device, batch_first=True)
    (q, tq), (memory, tmemory), _ = _inputs(device, True)
    ours = layer(q, memory, memory, need_weights=False)
    theirs = ref(tq, tmemory, tmemory, need_weights=False)
    backward_both(ours, theirs)
    assert_same(ours, theirs, layer, ref, [(q, tq), (memory, tmemory)])


@pytest.mark.parametrize("kw", [dict(add_bias_kv=True), dict(add_zero_attn=True),
                                dict(add_bias_kv=True, add_zero_attn=True, bias=False)],
                         ids=["bias_kv", "zero_attn", "both-no-bias"])
def test_extra_key_options_match_torch(device, kw):
    layer, ref = _layers(device, **kw)
    (q, tq), (k, tk), (v, tv) = _inputs(device, False)
    padding = np.zeros((N, S), dtype=bool)
    padding[0, 4:] = True
    (p, tp), (m, tm) = pair(device, padding), pair(device, np.random.default_rng(3).random(
        (L, S)) < 0.2, False)
    ours = layer(q, k, v, key_padding_mask=p, attn_mask=m)
    theirs = ref(tq, tk, tv, key_padding_mask=tp, attn_mask=tm)
    backward_both(ours, theirs)
    assert_same(ours, theirs, layer, ref, [(q, tq), (k, tk), (v, tv)])


def test_unbatched_input_matches_torch(device):
    layer, ref = _layers(device)
    rng = np.random.default_rng(4)
    (x, tx) = pair(device, rng.standard_normal((L, E)))
    (p, tp) = pair(device, np.array([False, False, True]))
    ours, theirs = layer(x, x, x, key_padding_mask=p), ref(tx, tx, tx, key_padding_mask=tp)
    assert ours[0].shape == (L, E) and ours[1].shape == (L, L)
    backward_both(ours, theirs)
    assert_same(ours, theirs, layer, ref, [(x, tx)])


def test_parameter_names_shapes_and_init_follow_torch():
    t = torch()
    ref = t.nn.MultiheadAttention(16, 4, add_bias_kv=True)
    layer = nn.MultiheadAttention(16, 4, add_bias_kv=True)
    assert [(k, tuple(v.shape)) for k, v in ref.state_dict().items()] == \
        [(k, v.shape) for k, v in layer.state_dict().items()]
    assert (layer.in_proj_bias.numpy() == 0).all() and (layer.out_proj.bias.numpy() == 0).all()
    bound = np.sqrt(6 / (16 + 48))    # Xavier-uniform over the packed (3E, E) weight
    w = layer.in_proj_weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound


def test_dropout_acts_in_training_only(device):
    layer = nn.MultiheadAttention(E, H, dropout=0.5, device=device, dtype="float64")
    x, = random_inputs(device, (L, N, E))
    layer.eval()
    first, second = layer(x, x, x)[0], layer(x, x, x)[0]
    assert_close(first, second, rtol=0)
    layer.train()
    xpnet.manual_seed(1)
    dropped = layer(x, x, x)[1]
    assert (dropped.numpy() == 0).any()


def test_layer_matches_finite_differences(device):
    layer = nn.MultiheadAttention(4, 2, add_bias_kv=True, device=device, dtype="float64")
    x, = random_inputs(device, (3, 2, 4))
    mask = xpnet.tensor(np.array([[False, False, True], [False, False, False]]), device=device)

    def run(x, *params):
        return layer(x, x, x, key_padding_mask=mask)
    gradcheck(run, x, *layer.parameters())


def test_deepcopy_gives_independent_parameters_on_the_same_device(device):
    layer = nn.MultiheadAttention(E, H, device=device)
    twin = copy.deepcopy(layer)
    assert twin.in_proj_weight.device is layer.in_proj_weight.device
    assert_close(twin.in_proj_weight, layer.in_proj_weight, rtol=0)
    assert twin.in_proj_weight is not layer.in_proj_weight
    twin.in_proj_weight.array = twin.in_proj_weight.array * 0
    assert np.abs(layer.in_proj_weight.numpy()).sum() > 0
    x, = random_inputs(device, (L, N, E), dtype="float32")
    assert twin(x, x, x)[0].shape == (L, N, E)


def test_bad_arguments_and_inputs_are_reported_with_the_layer(device):
    with pytest.raises(ValueError, match=r"^MultiheadAttention: embed_dim must be divisible by "
                       r"num_heads, got embed_dim=10 and num_heads=3$"):
        nn.MultiheadAttention(10, 3)
    layer = nn.MultiheadAttention(E, H, device=device)
    label = r"^MultiheadAttention\(embed_dim=8, num_heads=2, batch_first=False\): "
    x, = random_inputs(device, (L, N, E), dtype="float32")
    bad, = random_inputs(device, (L, N, 6), dtype="float32")
    with pytest.raises(ValueError, match=label + r"query must be \(L, N, 8\) \(batch_first=False\) "
                       r"or \(L, 8\) unbatched, got \(3, 2, 6\)$"):
        layer(bad, x, x)
    with pytest.raises(ValueError, match=label + r"key must be 3-D like query, with the same batch "
                       r"size and 8 features"):
        layer(x, random_inputs(device, (S, 3, E), dtype="float32")[0], x)
    with pytest.raises(ValueError, match=label + r"attn_mask must be \(L, S\) = \(3, 3\) or "
                       r"\(N·num_heads, L, S\) = \(4, 3, 3\), got \(3, 4\)$"):
        layer(x, x, x, attn_mask=xpnet.zeros(3, 4, device=device))
    with pytest.raises(ValueError, match=label + r"key_padding_mask must be \(N, S\) = \(2, 3\), "
                       r"got \(3, 2\)$"):
        layer(x, x, x, key_padding_mask=xpnet.zeros(3, 2, device=device))
    with pytest.raises(TypeError, match=label + r"attn_mask must be boolean \(True = not "
                       r"allowed\) or floating, got dtype int64$"):
        layer(x, x, x, attn_mask=xpnet.zeros(3, 3, dtype="int64", device=device))
    with pytest.raises(ValueError, match=label + r"is_causal=True is a hint that attn_mask is the "
                       r"causal mask, so it needs attn_mask"):
        layer(x, x, x, is_causal=True)
