import math

import numpy as np
import pytest

import xpnet
from xpnet import nn
from xpnet.testing import assert_close, gradcheck, random_inputs

T, N, IN, H = 3, 2, 3, 2
LAYERS = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}
CELLS = {"RNNCell": nn.RNNCell, "LSTMCell": nn.LSTMCell, "GRUCell": nn.GRUCell}


def _torch():
    return pytest.importorskip("torch")


def _flat(result):
    """(output, h_n) or (output, (h_n, c_n)) as a flat tuple."""
    output, state = result
    return (output,) + (tuple(state) if isinstance(state, tuple) else (state,))


def _states(device, kind, layers, directions, batch=N, seed=1):
    shape = (layers * directions, batch, H)
    h0, c0 = random_inputs(device, shape, shape, seed=seed)
    return (h0, c0) if kind == "LSTM" else h0


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("num_layers,bidirectional,batch_first", [
    (1, False, False), (2, True, False), (2, False, True), (1, True, True)])
def test_outputs_and_all_gradients_match_torch(device, kind, num_layers, bidirectional,
                                               batch_first):
    torch = _torch()
    torch.manual_seed(0)
    ref = getattr(torch.nn, kind)(IN, H, num_layers, batch_first=batch_first,
                                  bidirectional=bidirectional, dtype=torch.float64)
    layer = LAYERS[kind](IN, H, num_layers, batch_first=batch_first, bidirectional=bidirectional,
                         device=device, dtype="float64")
    layer.load_state_dict(ref.state_dict())
    d = 2 if bidirectional else 1
    x = random_inputs(device, (N, T, IN) if batch_first else (T, N, IN))[0]
    hx = _states(device, kind, num_layers, d)
    ours = _flat(layer(x, hx))
    tx = torch.tensor(x.numpy(), requires_grad=True)
    thx = tuple(torch.tensor(s.numpy(), requires_grad=True)
                for s in (hx if isinstance(hx, tuple) else (hx,)))
    theirs = _flat(ref(tx, thx if kind == "LSTM" else thx[0]))
    rng = np.random.default_rng(2)
    weights = [rng.standard_normal(tuple(o.shape)) for o in theirs]
    sum(((o * torch.tensor(w)).sum() for o, w in zip(theirs, weights))).backward()
    total = None
    for o, w in zip(ours, weights):
        term = (o * xpnet.tensor(w, dtype="float64", device=device)).sum()
        total = term if total is None else total + term
    total.backward()
    for a, b in zip(ours, theirs):
        assert_close(a, b.detach().numpy(), rtol=1e-6, atol=1e-6)
    assert_close(x.grad, tx.grad.numpy(), rtol=1e-6, atol=1e-6)
    for s, ts in zip(hx if isinstance(hx, tuple) else (hx,), thx):
        assert_close(s.grad, ts.grad.numpy(), rtol=1e-6, atol=1e-6)
    for name, p in ref.named_parameters():
        assert_close(getattr(layer, name).grad, p.grad.numpy(), rtol=1e-6, atol=1e-6, msg=name)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_two_layer_bidirectional_layer_matches_finite_differences(device, kind):
    layer = LAYERS[kind](IN, H, num_layers=2, bidirectional=True, device=device,
                         dtype="float64")
    x = random_inputs(device, (T, N, IN))[0]
    hx = _states(device, kind, 2, 2)
    states = hx if isinstance(hx, tuple) else (hx,)

    def run(x, *args):
        return _flat(layer(x, tuple(args[:len(states)]) if kind == "LSTM" else args[0]))
    gradcheck(run, x, *states, *layer.parameters())


def test_relu_rnn_without_bias_matches_torch(device):
    torch = _torch()
    ref = torch.nn.RNN(IN, H, nonlinearity="relu", bias=False, dtype=torch.float64)
    layer = nn.RNN(IN, H, nonlinearity="relu", bias=False, device=device, dtype="float64")
    layer.load_state_dict(ref.state_dict())
    x = random_inputs(device, (T, N, IN))[0]
    out, h_n = layer(x)
    ref_out, ref_h = ref(torch.tensor(x.numpy()))
    assert_close(out, ref_out.detach().numpy(), rtol=1e-10)
    assert_close(h_n, ref_h.detach().numpy(), rtol=1e-10)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_parameter_names_and_shapes_are_torchs(kind):
    torch = _torch()
    ref = getattr(torch.nn, kind)(5, 4, num_layers=2, bidirectional=True)
    layer = LAYERS[kind](5, 4, num_layers=2, bidirectional=True)
    assert [(k, tuple(v.shape)) for k, v in ref.state_dict().items()] == \
        [(k, v.shape) for k, v in layer.state_dict().items()]


def test_default_initialisation_is_uniform_within_one_over_sqrt_hidden():
    layer = nn.LSTM(10, 16, num_layers=2)
    bound = 1 / math.sqrt(16)
    values = np.concatenate([p.numpy().ravel() for p in layer.parameters()])
    assert values.min() >= -bound and values.max() <= bound
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=0.1)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_torch_cells(device, kind):
    torch = _torch()
    ref = getattr(torch.nn, kind)(IN, H, dtype=torch.float64)
    cell = CELLS[kind](IN, H, device=device, dtype="float64")
    cell.load_state_dict(ref.state_dict())
    x, h, c = random_inputs(device, (N, IN), (N, H), (N, H))
    tx, th, tc = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, h, c))
    if kind == "LSTMCell":
        ours, theirs = cell(x, (h, c)), ref(tx, (th, tc))
    else:
        ours, theirs = (cell(x, h),), (ref(tx, th),)
    (sum(o.sum() * (k + 1) for k, o in enumerate(ours))).backward()
    (sum(o.sum() * (k + 1) for k, o in enumerate(theirs))).backward()
    for a, b in zip(ours, theirs):
        assert_close(a, b.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert_close(x.grad, tx.grad.numpy(), rtol=1e-8, atol=1e-10)
    assert_close(h.grad, th.grad.numpy(), rtol=1e-8, atol=1e-10)
    for name, p in ref.named_parameters():
        assert_close(getattr(cell, name).grad, p.grad.numpy(), rtol=1e-8, atol=1e-10, msg=name)


def test_a_cell_without_state_starts_from_zeros(device):
    cell = nn.GRUCell(IN, H, device=device, dtype="float64")
    x = random_inputs(device, (N, IN))[0]
    zeros = xpnet.zeros(N, H, dtype="float64", device=device)
    assert_close(cell(x), cell(x, zeros))


def test_dropout_acts_between_layers_only_in_training(device):
    layer = nn.GRU(IN, H, num_layers=2, dropout=0.5, device=device, dtype="float64")
    x = random_inputs(device, (T, N, IN))[0]
    layer.eval()
    out_eval = layer(x)[0].numpy()
    plain = nn.GRU(IN, H, num_layers=2, device=device, dtype="float64")
    plain.load_state_dict(layer.state_dict())
    assert_close(out_eval, plain(x)[0])
    layer.train()
    xpnet.manual_seed(0)
    assert not np.allclose(layer(x)[0].numpy(), out_eval)


def test_final_states_are_the_last_outputs_of_each_direction(device):
    layer = nn.LSTM(IN, H, bidirectional=True, device=device, dtype="float64")
    x = random_inputs(device, (T, N, IN))[0]
    out, (h_n, _) = layer(x)
    out = out.numpy()
    assert_close(h_n[0], out[-1, :, :H])
    assert_close(h_n[1], out[0, :, H:])


def test_wrong_input_size_is_rejected_with_the_expected_layout(device):
    layer = nn.LSTM(28, 128, device=device)
    x = xpnet.zeros(64, 28, 10, device=device)
    with pytest.raises(ValueError, match=r"^LSTM\(28, 128\): lstm: x must be \(T, N, input_size\) "
                                         r"with input_size = 28 features \(the weights'\), got "
                                         r"shape \(64, 28, 10\)$"):
        layer(x)


def test_batch_first_mix_up_is_caught_by_the_initial_state_shape(device):
    layer = nn.GRU(IN, H, device=device)
    x = xpnet.zeros(4, 7, IN, device=device)        # meant as (N, T, in), read as (T, N, in)
    h0 = xpnet.zeros(1, 4, H, device=device)
    with pytest.raises(ValueError, match=r"GRU\(3, 2\): h0 must be "
                                         r"\(num_layers·num_directions, N, H\) = \(1, 7, 2\), got "
                                         r"\(1, 4, 2\); the batch sizes differ: is "
                                         r"batch_first=False right"):
        layer(x, h0)


def test_initial_states_of_the_wrong_shape_are_rejected(device):
    layer = nn.LSTM(IN, H, num_layers=2, device=device)
    x = xpnet.zeros(T, N, IN, device=device)
    good = xpnet.zeros(2, N, H, device=device)
    with pytest.raises(ValueError, match=r"c0 must be \(num_layers·num_directions, N, H\) = "
                                         r"\(2, 2, 2\), got \(1, 2, 2\)"):
        layer(x, (good, xpnet.zeros(1, N, H, device=device)))
    with pytest.raises(TypeError, match=r"hx must be a tuple \(h0, c0\)"):
        layer(x, good)


def test_an_empty_sequence_is_rejected(device):
    layer = nn.RNN(IN, H, batch_first=True, device=device)
    with pytest.raises(ValueError, match=r"RNN\(3, 2, batch_first=True\): rnn: x must hold at "
                                         r"least one time step, got shape \(2, 0, 3\)"):
        layer(xpnet.zeros(N, 0, IN, device=device))


def test_cell_rejects_a_state_of_the_wrong_shape(device):
    cell = nn.LSTMCell(IN, H, device=device)
    x, h = xpnet.zeros(N, IN, device=device), xpnet.zeros(N, H, device=device)
    with pytest.raises(ValueError, match=r"LSTMCell\(3, 2\): lstm: c0 must be \(N, H\) = "
                                         r"\(2, 2\) for x \(1, 2, 3\), got \(3, 2\)"):
        cell(x, (h, xpnet.zeros(3, H, device=device)))


def test_layers_move_between_devices_and_print_like_torch(device):
    layer = nn.LSTM(IN, H, num_layers=2, batch_first=True).to(device)
    assert layer.device == device
    out, (h_n, c_n) = layer(xpnet.zeros(N, T, IN, device=device))
    assert out.shape == (N, T, H) and h_n.shape == c_n.shape == (2, N, H)
    assert repr(layer) == "LSTM(3, 2, num_layers=2, batch_first=True)"
    assert layer.num_parameters() == 4 * H * (IN + H + 2) + 4 * H * (H + H + 2)
