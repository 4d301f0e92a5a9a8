import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet.testing import assert_close, gradcheck, random_inputs

from ..kernels.test_loops import _ran_compiled

T, N, IN, H = 3, 2, 3, 2   # tiny, so that finite differences stay fast
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def numpy_reference(kind, x, h, c, w_ih, w_hh, b_ih, b_hh, reverse=False, relu=False):
    """Step by step, the textbook way: time-major x, returns (output, h_T[, c_T])."""
    outs = [None] * len(x)
    for t in (reversed(range(len(x))) if reverse else range(len(x))):
        gx, gh = x[t] @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        if kind == "rnn":
            h = np.maximum(gx + gh, 0) if relu else np.tanh(gx + gh)
        elif kind == "lstm":
            i, f, g, o = np.split(gx + gh, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
        else:
            (xr, xz, xn), (hr, hz, hn) = np.split(gx, 3, axis=1), np.split(gh, 3, axis=1)
            r, z = _sigmoid(xr + hr), _sigmoid(xz + hz)
            n = np.tanh(xn + r * hn)
            h = (1 - z) * n + z * h
        outs[t] = h
    return (np.stack(outs), h, c) if kind == "lstm" else (np.stack(outs), h)


def make_inputs(device, kind, steps=T, batch=N, seed=0):
    g = GATES[kind]
    shapes = [(steps, batch, IN), (batch, H), (batch, H), (g * H, IN), (g * H, H), (g * H,),
              (g * H,)]
    return random_inputs(device, *shapes, seed=seed)


def call(kind, x, h0, c0, *weights, **kw):
    if kind == "lstm":
        return F.lstm(x, h0, c0, *weights, **kw)
    if kind == "gru":
        return F.gru(x, h0, *weights, **kw)
    return F.rnn(x, h0, *weights, **kw)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("reverse", [False, True])
def test_forward_matches_a_step_by_step_numpy_reference(device, kind, reverse):
    inputs = make_inputs(device, kind)
    got = call(kind, *inputs, reverse=reverse)
    host = [t.numpy() for t in inputs]
    expected = numpy_reference(kind, *host, reverse=reverse)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert_close(g, e, rtol=1e-10, atol=1e-12)


def test_relu_rnn_matches_the_numpy_reference(device):
    inputs = make_inputs(device, "rnn")
    got = F.rnn(*inputs[:2], *inputs[3:], nonlinearity="relu")
    expected = numpy_reference("rnn", *[t.numpy() for t in inputs], relu=True)
    assert_close(got[0], expected[0], rtol=1e-10, atol=1e-12)
    assert_close(got[1], expected[1], rtol=1e-10, atol=1e-12)


def test_batch_first_gives_the_time_major_result_transposed(device):
    x, h0, c0, *weights = make_inputs(device, "lstm")
    time_major = F.lstm(x, h0, c0, *weights)
    batch_first = F.lstm(F.permute(x, 1, 0, 2), h0, c0, *weights, batch_first=True)
    assert_close(batch_first[0], np.swapaxes(time_major[0].numpy(), 0, 1), rtol=1e-12)
    assert_close(batch_first[1], time_major[1], rtol=1e-12)


def test_missing_initial_states_and_biases_mean_zeros(device):
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = make_inputs(device, "gru")
    zero_h = xpnet.zeros(N, H, dtype="float64", device=device)
    zero_b = xpnet.zeros(3 * H, dtype="float64", device=device)
    assert_close(F.gru(x, None, w_ih, w_hh)[0], F.gru(x, zero_h, w_ih, w_hh, zero_b, zero_b)[0])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("reverse,batch_first", [(False, False), (True, True)])
def test_float32_lstm_and_gru_match_the_float64_reference_forward_and_backward(
        device, kind, reverse, batch_first):
    """The float32 step has its own kernels on NumPy (loops over whole gate blocks, their own
    tanh): values and gradients at float32's precision of the float64 ones."""
    inputs = make_inputs(device, kind, steps=4, batch=3, seed=5)
    if kind == "gru":
        inputs = inputs[:2] + inputs[3:]          # no c0
    results = {}
    for dtype in ("float64", "float32"):
        leaves = [xpnet.Tensor((t * 2.0).to(dtype).array, requires_grad=True) for t in inputs]
        x = F.permute(leaves[0], 1, 0, 2) if batch_first else leaves[0]
        fn = F.lstm if kind == "lstm" else F.gru
        outs = fn(x, *leaves[1:], reverse=reverse, batch_first=batch_first)
        (sum((o * o).sum() for o in outs) + (outs[1] * 3.0).sum()).backward()
        results[dtype] = [o.numpy() for o in outs] + [t.grad.numpy() for t in leaves]
    for got, expected in zip(results["float32"], results["float64"]):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-5)


def test_a_float32_gru_without_b_hh_equals_one_with_a_zero_b_hh(device):
    """b_hh None: the float32 step kernels read a zero array in its place (the fused cell adds
    0.0): the same values and gradients, and no gradient for the missing bias."""
    x, h0, _, w_ih, w_hh, b_ih, _ = make_inputs(device, "gru", steps=4, batch=3, seed=6)
    zero = xpnet.zeros(3 * H, dtype="float32", device=device, requires_grad=True)
    results = []
    for b_hh in (None, zero):
        leaves = [xpnet.Tensor(t.to("float32").array, requires_grad=True)
                  for t in (x, h0, w_ih, w_hh, b_ih)]
        out, h = F.gru(*leaves[:4], leaves[4], b_hh)
        ((out * out).sum() + (h * 3.0).sum()).backward()
        results.append([out.numpy(), h.numpy()] + [t.grad.numpy() for t in leaves])
    for got, expected in zip(*results):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)
    assert zero.grad is not None and zero.grad.shape == (3 * H,)


def _lstm_step_arrays(rng, n, hid):
    """Arguments of recurrent.lstm_step: pre-activations from -20 to 20 (tanh's clamp and its
    small-argument branch), a NaN, the outputs full of NaN."""
    z = rng.uniform(-20, 20, (n, 4 * hid)).astype(np.float32)
    z[0, :4] = [0.0, 1e-5, -1e-5, np.nan]
    p = rng.standard_normal((n, 4 * hid)).astype(np.float32)
    c_prev = rng.standard_normal((n, hid)).astype(np.float32)
    outputs = [np.full(shape, np.nan, np.float32) for shape in
               [(n, 4 * hid), (n, hid), (n, hid), (n, hid)]]
    return [z, p, c_prev, *outputs]


def test_the_lstm_step_loops_give_the_fused_cells_bits():
    """recurrent.lstm_step and lstm_step_backward compiled as loops against their references
    (the fused cells): the same float32 bits, NaN where the fused cell gives NaN."""
    from xpnet import kernels
    from xpnet.ops import recurrent
    pytest.importorskip("numba")
    if kernels.compiler("numpy", kind="loops") is None:
        pytest.skip("XPNET_COMPILER=none switches the CPU compiler off")
    xp = xpnet.device("cpu").xp
    k = np.asarray(recurrent._LSTM_CONSTANTS, np.float32)
    rng = np.random.default_rng(7)
    n, hid = 3, 20
    forward = {}
    for name, fn in (("loops", recurrent.lstm_step), ("reference", recurrent.lstm_step.reference)):
        args = _lstm_step_arrays(np.random.default_rng(7), n, hid)
        fn(xp, *args, k)
        forward[name] = args[3:]
    assert _ran_compiled(recurrent.lstm_step)
    for got, expected in zip(forward["loops"], forward["reference"]):
        np.testing.assert_array_equal(got, expected)
    gates, c, tanh_c, _ = forward["reference"]
    # grad_out a strided view (a batch_first output's gradient), grad_h with a broadcast row
    grad_out = rng.standard_normal((n, 2, hid)).astype(np.float32)[:, 1, :]
    grad_h = np.broadcast_to(rng.standard_normal((1, hid)).astype(np.float32), (n, hid))
    c_prev = rng.standard_normal((n, hid)).astype(np.float32)
    backward = {}
    for name, fn in (("loops", recurrent.lstm_step_backward),
                     ("reference", recurrent.lstm_step_backward.reference)):
        grad_c = np.random.default_rng(8).standard_normal((n, hid)).astype(np.float32)
        grad_z = np.full((n, 4 * hid), np.nan, np.float32)
        fn(xp, grad_out, grad_h, grad_c, gates, c_prev, tanh_c, grad_z, k)
        backward[name] = (grad_c, grad_z)
    assert _ran_compiled(recurrent.lstm_step_backward)
    for got, expected in zip(backward["loops"], backward["reference"]):
        np.testing.assert_array_equal(got, expected)


def _gru_step_arrays(rng, n, hid):
    """Arguments of recurrent.gru_step: input projections from -20 to 20 (tanh's clamp and its
    small-argument branch), a NaN, the outputs full of NaN."""
    a = rng.uniform(-20, 20, (n, 3 * hid)).astype(np.float32)
    a[0, :4] = [0.0, 1e-5, -1e-5, np.nan]
    a[1, 2 * hid:2 * hid + 2] = [1e-5, np.nan]             # the candidate's own pre-activation
    u = rng.standard_normal((n, 3 * hid)).astype(np.float32)
    b_hh = rng.standard_normal(3 * hid).astype(np.float32)
    h_prev = rng.standard_normal((n, 2 * hid)).astype(np.float32)[:, ::2]   # a strided view
    return [a, u, b_hh, h_prev, np.full((n, 4 * hid), np.nan, np.float32),
            np.full((n, hid), np.nan, np.float32)]


def test_the_gru_step_loops_give_the_fused_cells_bits():
    """recurrent.gru_step and gru_step_backward compiled as loops against their references
    (the fused cells on the blocks' slices): the same float32 bits, NaN where the fused cell
    gives NaN."""
    from xpnet import kernels
    from xpnet.ops import recurrent
    pytest.importorskip("numba")
    if kernels.compiler("numpy", kind="loops") is None:
        pytest.skip("XPNET_COMPILER=none switches the CPU compiler off")
    xp = xpnet.device("cpu").xp
    k = np.asarray(recurrent._LSTM_CONSTANTS, np.float32)
    rng = np.random.default_rng(9)
    n, hid = 3, 20
    forward = {}
    for name, fn in (("loops", recurrent.gru_step), ("reference", recurrent.gru_step.reference)):
        args = _gru_step_arrays(np.random.default_rng(9), n, hid)
        fn(xp, *args, k)
        forward[name] = args[4:]
    assert _ran_compiled(recurrent.gru_step)
    for got, expected in zip(forward["loops"], forward["reference"]):
        np.testing.assert_array_equal(got, expected)
    gates, _ = forward["reference"]
    assert np.isnan(gates).any() and not np.isnan(gates).all()
    # grad_out a strided view (a batch_first output's gradient), grad_h with a broadcast row
    grad_out = rng.standard_normal((n, 2, hid)).astype(np.float32)[:, 1, :]
    grad_h = np.broadcast_to(rng.standard_normal((1, hid)).astype(np.float32), (n, hid))
    h_prev = rng.standard_normal((n, hid)).astype(np.float32)
    backward = {}
    for name, fn in (("loops", recurrent.gru_step_backward),
                     ("reference", recurrent.gru_step_backward.reference)):
        grad_h_direct = np.random.default_rng(10).standard_normal((n, hid)).astype(np.float32)
        grad_a, grad_u = (np.full((n, 3 * hid), np.nan, np.float32) for _ in range(2))
        fn(xp, grad_out, grad_h, grad_h_direct, gates, h_prev, grad_a, grad_u, k)
        backward[name] = (grad_h_direct, grad_a, grad_u)
    assert _ran_compiled(recurrent.gru_step_backward)
    for got, expected in zip(backward["loops"], backward["reference"]):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("reverse,batch_first", [(False, False), (True, True)])
def test_gradients_match_finite_differences(device, kind, reverse, batch_first):
    x, h0, c0, *weights = make_inputs(device, kind)
    if batch_first:
        x = xpnet.Tensor(F.permute(x, 1, 0, 2).array, requires_grad=True)
    states = (h0, c0) if kind == "lstm" else (h0, None)
    gradcheck(lambda x, *args: call(kind, x, *args, reverse=reverse, batch_first=batch_first),
              x, *states, *weights)


def test_relu_rnn_gradients_match_finite_differences(device):
    x, h0, _, *weights = make_inputs(device, "rnn")
    gradcheck(lambda *args: F.rnn(*args, nonlinearity="relu"), x, h0, *weights)


def test_gradients_without_biases_or_initial_states(device):
    x, _, _, w_ih, w_hh, _, _ = make_inputs(device, "lstm")
    gradcheck(lambda x, w_ih, w_hh: F.lstm(x, None, None, w_ih, w_hh), x, w_ih, w_hh)


def test_the_data_batch_gets_no_gradient_when_it_needs_none(device):
    x, h0, c0, *weights = make_inputs(device, "lstm")
    x.requires_grad = False
    out, h, c = F.lstm(x, h0, c0, *weights)
    (out.sum() + c.sum()).backward()
    assert x.grad is None and h0.grad is not None and weights[1].grad is not None


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_an_empty_sequence_is_rejected(device, kind):
    inputs = make_inputs(device, kind, steps=0)
    with pytest.raises(ValueError, match=rf"{kind}: x must hold at least one time step, got "
                                         rf"shape \(0, 2, 3\)"):
        call(kind, *inputs)


def test_an_initial_state_of_the_wrong_shape_is_rejected(device):
    x, h0, c0, *weights = make_inputs(device, "lstm")
    bad = random_inputs(device, (N + 1, H))[0]
    with pytest.raises(ValueError, match=r"lstm: c0 must be \(N, H\) = \(2, 2\) for x \(3, 2, 3\), "
                                         r"got \(3, 2\)"):
        F.lstm(x, h0, bad, *weights)


def test_input_features_must_match_the_weights(device):
    x, h0, _, w_ih, w_hh, b_ih, b_hh = make_inputs(device, "gru")
    wide = random_inputs(device, (T, N, IN + 1))[0]
    with pytest.raises(ValueError, match=r"gru: x must be \(T, N, input_size\) with input_size = "
                                         r"3 features \(the weights'\), got shape \(3, 2, 4\)"):
        F.gru(wide, h0, w_ih, w_hh, b_ih, b_hh)
    with pytest.raises(ValueError, match=r"gru: w_ih must be \(6, 3\) for x \(3, 2, 3\) and "
                                         r"hidden size 2, got \(5, 3\)"):
        F.gru(x, h0, random_inputs(device, (5, IN))[0], w_hh, b_ih, b_hh)
    with pytest.raises(TypeError, match=r"gru: x must be floating-point, got dtype int64; "
                                        r"convert it with .float\(\)"):
        F.gru(xpnet.zeros(T, N, IN, dtype="int64", device=device), h0, w_ih, w_hh, b_ih, b_hh)
    with pytest.raises(ValueError, match=r"gru: x must be 3-D \(T, N, input_size\), got "
                                         r"shape \(2, 3\)"):
        F.gru(x[0], h0, w_ih, w_hh, b_ih, b_hh)
    with pytest.raises(ValueError, match=r"gru: b_hh must be \(6,\), got \(4,\)"):
        F.gru(x, h0, w_ih, w_hh, b_ih, random_inputs(device, (4,))[0])


def test_an_unknown_nonlinearity_is_rejected(device):
    x, h0, _, *weights = make_inputs(device, "rnn")
    with pytest.raises(ValueError, match="rnn: nonlinearity must be 'tanh' or 'relu', got 'gelu'"):
        F.rnn(x, h0, *weights, nonlinearity="gelu")


@pytest.mark.parametrize("op", ["rnn", "lstm", "gru"])
def test_graphs_alive_at_once_keep_their_own_step_buffers(device, op, monkeypatch):
    """The step buffers come from the host allocator, which hands an array out again only
    when nothing holds it: a graph still alive keeps its gates and states, whatever later
    forwards of the same shapes do (batch_first, so the copied gradient buffer is exercised)."""
    from xpnet import cpu
    monkeypatch.setattr(cpu.memory, "ALLOCATOR", cpu.memory.HostAllocator(minimum=0))
    rng = np.random.default_rng(0)
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[op]
    n, t, d, h = 3, 5, 4, 6
    w_ih = xpnet.tensor(rng.standard_normal((gates * h, d)).astype(np.float32) * 0.5,
                        device=device, requires_grad=True)
    w_hh = xpnet.tensor(rng.standard_normal((gates * h, h)).astype(np.float32) * 0.5,
                        device=device, requires_grad=True)
    xs = [xpnet.tensor(rng.standard_normal((n, t, d)).astype(np.float32), device=device)
          for _ in range(3)]

    def run(x):
        args = (x, None, None, w_ih, w_hh) if op == "lstm" else (x, None, w_ih, w_hh)
        return getattr(F, op)(*args, batch_first=True)[0]

    def grads(out):
        w_ih.grad = w_hh.grad = None
        (out * out).sum().backward(retain_graph=True)
        return w_ih.grad.numpy().copy(), w_hh.grad.numpy().copy(), out.numpy().copy()

    alone = grads(run(xs[0]))
    first = run(xs[0])
    later = [run(x) for x in xs[1:]]                  # same shapes, while `first` lives
    for a, b in zip(grads(first), alone):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(later[0].numpy(), first.numpy())
