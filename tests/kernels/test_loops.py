"""Every loop nest compiled by kernels.loops (im2col, col2im, max pooling's backward, cross-entropy):
equal to its Array API reference on every layout the ops give it, and compiled's fallback rules."""
import warnings

import numpy as np
import pytest

import xpnet
from xpnet import kernels
from xpnet.cpu import blas
from xpnet.cpu.blas import matmul_into  # noqa: F401  (the compiled helper's name)
from xpnet.ops import conv, loss, pool, recurrent

# (groups, samples, Ho, Wo, KH, KW, channels per group, stride, dilation): a 3×3 stride-1 conv,
# DCGAN's 4×4 stride-2 ones (64 channels, and its last layer with 1), a dilated conv, groups
GEOMETRIES = [(1, 3, 5, 6, 3, 3, 8, (1, 1), (1, 1)),
              (1, 2, 4, 4, 4, 4, 16, (2, 2), (1, 1)),
              (1, 2, 7, 7, 4, 4, 1, (2, 2), (1, 1)),
              (1, 2, 3, 4, 3, 2, 8, (1, 2), (2, 1)),
              (2, 2, 3, 3, 2, 3, 4, (2, 1), (1, 2))]


def _padded_size(geometry):
    g, m, ho, wo, kh, kw, cg, (sh, sw), (dh, dw) = geometry
    return (ho - 1) * sh + dh * (kh - 1) + 1, (wo - 1) * sw + dw * (kw - 1) + 1


def _host():
    return xpnet.device("cpu").xp


def _ran_compiled(call):
    """The loops compiled for NumPy and ran: typing did not fail (a refused signature falls
    back to the reference, which would then be compared with itself)."""
    return call.kernels.get("numpy") is not None and not call.refused


def _compiler_on():
    pytest.importorskip("numba")
    if kernels.compiler("numpy", kind="loops") is None:
        pytest.skip("XPNET_COMPILER=none switches the CPU compiler off")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: f"g{g[0]}k{g[4]}x{g[5]}c{g[6]}s{g[7][0]}{g[7][1]}")
def test_add_columns_compiled_equals_the_strided_additions(geometry, dtype):
    _compiler_on()
    g, m, ho, wo, kh, kw, cg, stride, dilation = geometry
    hp, wp = _padded_size(geometry)
    rng = np.random.default_rng(0)
    grad_cols = rng.standard_normal((g, m, ho, wo, kh, kw, cg)).astype(dtype)
    # the slab is a view of the whole batch's buffer, already holding earlier additions
    start = rng.standard_normal((g, m + 1, hp, wp, cg)).astype(dtype)
    got, expected = start.copy(), start.copy()
    conv.add_columns(_host(), got[:, 1:, ...], grad_cols, *stride, *dilation)
    conv.add_columns.reference(_host(), expected[:, 1:, ...], grad_cols, *stride, *dilation)
    assert _ran_compiled(conv.add_columns), "add_columns ran uncompiled"
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    # and the reference is col2im itself: every column entry lands on the pixel it was read from
    loop = start.copy()
    for a, n, y, x, i, j, k in np.ndindex(*grad_cols.shape):
        loop[a, n + 1, y * stride[0] + i * dilation[0], x * stride[1] + j * dilation[1], k] += \
            grad_cols[a, n, y, x, i, j, k]
    np.testing.assert_allclose(expected, loop, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: f"g{g[0]}k{g[4]}x{g[5]}c{g[6]}s{g[7][0]}{g[7][1]}")
def test_gather_columns_compiled_equals_the_strided_copies(geometry, dtype):
    _compiler_on()
    g, m, ho, wo, kh, kw, cg, stride, dilation = geometry
    hp, wp = _padded_size(geometry)
    rng = np.random.default_rng(1)
    # an NHWC view of NCHW memory, as a first conv's input is
    x = np.transpose(rng.standard_normal((m, g * cg, hp, wp)).astype(dtype), (0, 2, 3, 1))
    got = np.full((g, m, ho, wo, kh, kw, cg), np.nan, dtype)
    expected = got.copy()
    conv.gather_columns(_host(), got, x, *stride, *dilation)
    conv.gather_columns.reference(_host(), expected, x, *stride, *dilation)
    assert _ran_compiled(conv.gather_columns), "gather_columns ran uncompiled"
    np.testing.assert_array_equal(got, expected)
    a, n, y, xx, i, j, k = 1 % g, m - 1, ho - 1, wo - 1, kh - 1, kw - 1, cg - 1
    assert got[a, n, y, xx, i, j, k] == x[n, y * stride[0] + i * dilation[0],
                                          xx * stride[1] + j * dilation[1], a * cg + k]


# (kernel, stride, padding): the MNIST pool, overlapping windows, a 3×2 window with -inf padding
POOLS = [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (0, 0)), ((3, 2), (1, 2), (1, 1))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("window", POOLS, ids=lambda p: f"k{p[0][0]}{p[0][1]}s{p[1][0]}{p[1][1]}")
def test_route_max_gradient_compiled_equals_the_fused_taps(window, dtype):
    _compiler_on()
    (kh, kw), (sh, sw), (ph, pw) = window
    rng = np.random.default_rng(2)
    # few distinct values: many windows hold their maximum twice (the first one takes it)
    x = rng.integers(0, 3, (2, 7, 8, 5)).astype(dtype)
    x_pad = np.full((2, 7 + 2 * ph, 8 + 2 * pw, 5), -np.inf, dtype)
    x_pad[:, ph:ph + 7, pw:pw + 8, :] = x
    ho, wo = (7 + 2 * ph - kh) // sh + 1, (8 + 2 * pw - kw) // sw + 1
    y = np.full((2, ho, wo, 5), -np.inf, dtype)
    for i in range(kh):
        for j in range(kw):
            y = np.maximum(y, x_pad[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :])
    grad_y = rng.standard_normal(y.shape).astype(dtype)
    got, expected = np.zeros_like(x_pad), np.zeros_like(x_pad)
    pool.route_max_gradient(_host(), got, x_pad, y, grad_y, kh, kw, sh, sw)
    pool.route_max_gradient.reference(_host(), expected, x_pad, y, grad_y, kh, kw, sh, sw)
    assert _ran_compiled(pool.route_max_gradient)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-6)
    # each window's gradient lands once, on the first maximum in row-major window order
    loop = np.zeros_like(x_pad)
    for b, r, q, k in np.ndindex(*y.shape):
        window = x_pad[b, r * sh:r * sh + kh, q * sw:q * sw + kw, k]
        i, j = np.unravel_index(np.argmax(window), window.shape)   # argmax: the first maximum
        loop[b, r * sh + i, q * sw + j, k] += grad_y[b, r, q, k]
    np.testing.assert_allclose(got, loop, rtol=1e-12, atol=1e-6)


# cross-entropy's rows: contiguous and a strided view (the class axis of (N, C, T) logits moved
# last), float32 and float64, int64 and int32 labels with an ignored one (-100) and one out of
# range (counted apart, loss 0), with and without label smoothing
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("labels_dtype", [np.int64, np.int32])
@pytest.mark.parametrize("strided", [False, True], ids=["rows", "strided"])
def test_cross_entropy_loops_equal_the_array_calls(strided, smoothing, dtype, labels_dtype):
    _compiler_on()
    rng = np.random.default_rng(4)
    rows = rng.standard_normal((7, 5)).astype(dtype)
    if strided:
        rows = np.moveaxis(rng.standard_normal((5, 7)).astype(dtype), 0, 1)   # (7, 5) view
    rows[0, 1] = 60.0                      # a large score: the shift by the row's maximum
    labels = rng.integers(0, 5, 7).astype(labels_dtype)
    labels[1], labels[2] = -100, 5
    m, c = rows.shape
    outs = {}
    for name, fn in (("compiled", loss.log_softmax_nll),
                     ("reference", loss.log_softmax_nll.reference)):
        log_p, per_row, totals = np.empty((m, c), dtype), np.empty(m, dtype), np.empty(3, dtype)
        fn(_host(), log_p, per_row, totals, rows, labels, -100, smoothing)
        outs[name] = log_p, per_row, totals
    assert _ran_compiled(loss.log_softmax_nll)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for got, expected in zip(outs["compiled"], outs["reference"]):
        np.testing.assert_allclose(got, expected, **tol)
    # and both equal the textbook form (out-of-range labels: not counted, loss 0)
    counted = (labels != -100) & (labels >= 0) & (labels < c)
    per_row, textbook_grad = loss.cross_entropy_reference(
        _host(), rows.astype(np.float64), np.where(counted, labels, -100), -100, smoothing)
    shifted = rows.astype(np.float64) - rows.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_p_got, per_row_got, totals_got = outs["compiled"]
    np.testing.assert_allclose(log_p_got, log_p, **tol)
    np.testing.assert_allclose(per_row_got, per_row, **tol)
    np.testing.assert_allclose(totals_got, [per_row.sum(), counted.sum(), 1.0], **tol)

    scale_cases = [np.array([0.25], dtype), rng.standard_normal(m).astype(dtype)]
    for scale in scale_cases:
        grads = {}
        for name, fn in (("compiled", loss.cross_entropy_grad),
                         ("reference", loss.cross_entropy_grad.reference)):
            grads[name] = np.full((m, c), np.nan, dtype)
            fn(_host(), grads[name], log_p_got, labels, scale, -100, smoothing)
        assert _ran_compiled(loss.cross_entropy_grad)
        expected = textbook_grad * scale.reshape(-1, 1)
        np.testing.assert_allclose(grads["compiled"], expected, **tol)
        np.testing.assert_allclose(grads["reference"], expected, **tol)


@pytest.mark.parametrize("window", [((2, 2), (2, 2)), ((3, 2), (3, 2)), ((2, 2), (3, 3))],
                         ids=["k22s22", "k32s32", "k22s33"])
def test_route_max_gradient_writes_every_pixel_of_disjoint_windows(window):
    """Disjoint windows write their pixels (the gradient or 0), so memory they tile needs no
    zeros first: both forms give the same on memory full of NaN as on zeros (pixels outside
    every window, here only with stride 3 > kernel 2, keep what they held)."""
    _compiler_on()
    (kh, kw), (sh, sw) = window
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, (2, 6, 6, 4)).astype(np.float32)
    ho, wo = (6 - kh) // sh + 1, (6 - kw) // sw + 1
    y = np.full((2, ho, wo, 4), -np.inf, np.float32)
    for i in range(kh):
        for j in range(kw):
            y = np.maximum(y, x[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :])
    grad_y = rng.standard_normal(y.shape).astype(np.float32)
    expected = np.zeros_like(x)
    pool.route_max_gradient.reference(_host(), expected, x, y, grad_y, kh, kw, sh, sw)
    covered = np.zeros(x.shape, bool)
    covered[:, :sh * (ho - 1) + kh, :sw * (wo - 1) + kw, :] = True
    covered[:, [r for r in range(6) if r % sh >= kh], :, :] = False
    covered[:, :, [q for q in range(6) if q % sw >= kw], :] = False
    for fn in (pool.route_max_gradient, pool.route_max_gradient.reference):
        got = np.full_like(x, np.nan)
        fn(_host(), got, x, y, grad_y, kh, kw, sh, sw)
        np.testing.assert_array_equal(got[covered], expected[covered])
        assert np.isnan(got[~covered]).all()


@pytest.mark.parametrize("n, hid", [(3, 5), (1, 1), (4, 16)])
def test_lstm_step_loops_equal_the_fused_cells(n, hid):
    """The LSTM's float32 step and its backward as loops over (N, 4H) gate blocks (their own
    tanh) give what the cell's array calls give, outputs and in-place writes alike, also for
    pre-activations far into tanh's and the sigmoid's flat tails."""
    _compiler_on()
    rng = np.random.default_rng(n * 100 + hid)
    f32 = lambda *shape, scale=1.0: (scale * rng.standard_normal(shape)).astype(np.float32)  # noqa: E731
    z, p = f32(n, 4 * hid, scale=4.0), f32(n, 4 * hid, scale=4.0)
    z[0, 0] = 30.0                                   # saturated gates
    c_prev = f32(n, hid)
    k = np.asarray(recurrent._LSTM_CONSTANTS, dtype=np.float32)
    results = []
    for run in (recurrent.lstm_step, recurrent.lstm_step.reference):
        gates, c, tanh_c, h = (np.full((n, 4 * hid), np.nan, np.float32),
                               *(np.full((n, hid), np.nan, np.float32) for _ in range(3)))
        run(_host(), z, p, c_prev, gates, c, tanh_c, h, k)
        results.append((gates, c, tanh_c, h))
    assert _ran_compiled(recurrent.lstm_step), "lstm_step ran uncompiled"
    for got, expected in zip(*results):
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=2e-7)
    gates, _, tanh_c, _ = results[1]
    grad_out, grad_h, grad_c_start = f32(n, hid), f32(n, hid), f32(n, hid)
    backward = []
    for run in (recurrent.lstm_step_backward, recurrent.lstm_step_backward.reference):
        grad_c, grad_z = grad_c_start.copy(), np.full((n, 4 * hid), np.nan, np.float32)
        run(_host(), grad_out, grad_h, grad_c, gates, c_prev, tanh_c, grad_z, k)
        backward.append((grad_c, grad_z))
    assert _ran_compiled(recurrent.lstm_step_backward)
    for got, expected in zip(*backward):
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=2e-7)


@pytest.mark.parametrize("n, hid", [(3, 5), (1, 1), (4, 16)])
def test_gru_step_loops_equal_the_fused_cells(n, hid):
    """The GRU's float32 step and its backward as loops over (N, 3H) and (N, 4H) blocks (their
    own tanh) give what the cell's array calls give, outputs and in-place writes alike, also for
    pre-activations far into tanh's and the sigmoid's flat tails."""
    _compiler_on()
    rng = np.random.default_rng(n * 100 + hid + 1)
    f32 = lambda *shape, scale=1.0: (scale * rng.standard_normal(shape)).astype(np.float32)  # noqa: E731
    a, u, b_hh = f32(n, 3 * hid, scale=4.0), f32(n, 3 * hid, scale=4.0), f32(3 * hid)
    a[0, 0] = 30.0                                   # a saturated gate
    h_prev = f32(n, hid)
    k = np.asarray(recurrent._LSTM_CONSTANTS, dtype=np.float32)
    results = []
    for run in (recurrent.gru_step, recurrent.gru_step.reference):
        gates, h = np.full((n, 4 * hid), np.nan, np.float32), np.full((n, hid), np.nan, np.float32)
        run(_host(), a, u, b_hh, h_prev, gates, h, k)
        results.append((gates, h))
    assert _ran_compiled(recurrent.gru_step), "gru_step ran uncompiled"
    for got, expected in zip(*results):
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=2e-7)
    gates = results[1][0]
    grad_out, grad_h, grad_direct_start = f32(n, hid), f32(n, hid), f32(n, hid)
    backward = []
    for run in (recurrent.gru_step_backward, recurrent.gru_step_backward.reference):
        grad_direct = grad_direct_start.copy()
        grad_a, grad_u = (np.full((n, 3 * hid), np.nan, np.float32) for _ in range(2))
        run(_host(), grad_out, grad_h, grad_direct, gates, h_prev, grad_a, grad_u, k)
        backward.append((grad_direct, grad_a, grad_u))
    assert _ran_compiled(recurrent.gru_step_backward)
    for got, expected in zip(*backward):
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=2e-7)


def _blas_on():
    _compiler_on()
    from xpnet.cpu import blas
    if blas.library() is None:
        pytest.skip("NumPy's BLAS is not the OpenBLAS of its wheels: the recurrences run per step")


def _recurrence_arguments(op, rng, steps, n, hid, start, stop):
    """Whole-batch buffers for recurrent.lstm_forward / gru_forward (states, cells in slot
    order; outputs NaN) and the backward's inputs, as the ops pass them."""
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    gates = {"lstm": 4, "gru": 3}.get(op, 1)
    nan = lambda *shape: np.full(shape, np.nan, np.float32)  # noqa: E731
    w_hh_t = (0.3 * f32(hid, gates * hid)).astype(np.float32)
    k = np.asarray(recurrent._LSTM_CONSTANTS, dtype=np.float32)
    if op.startswith("rnn"):     # the cell's constants and which nonlinearity
        proj = 3 * f32(steps, n, hid)
        proj[0, start, :3] = [0.0, -0.0, np.nan]    # relu's zeros and NaN
        return (dict(states=f32(steps + 1, n, hid), proj=proj, w_hh_t=w_hh_t,
                     z=nan(stop - start, hid)), (k, op == "rnn-relu"))
    if op == "lstm":
        forward = dict(states=f32(steps + 1, n, hid), proj=f32(steps, n, 4 * hid),
                       w_hh_t=w_hh_t, cells=f32(steps + 1, n, hid), gates=nan(steps, n, 4 * hid),
                       tanh_c=nan(steps, n, hid), z=nan(stop - start, 4 * hid))
    else:
        forward = dict(states=f32(steps + 1, n, hid), proj=f32(steps, n, 3 * hid),
                       w_hh_t=w_hh_t, b_hh=f32(3 * hid), gates=nan(steps, n, 4 * hid),
                       u=nan(stop - start, 3 * hid))
    return forward, (k,)


def _recurrence_backward_arguments(op, done, rng, steps, n, hid, start, stop):
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    w_hh = np.ascontiguousarray(done["w_hh_t"].T)
    grad_out, grad_h_last, carried = f32(steps, n, hid), f32(n, hid), f32(n, hid)
    grad_h, grad_h0 = np.empty((stop - start, hid), np.float32), np.full((n, hid), np.nan,
                                                                         np.float32)
    if op.startswith("rnn"):
        return dict(grad_out=grad_out, grad_h_last=grad_h_last, states=done["states"],
                    grad_z=np.full((steps, n, hid), np.nan, np.float32), w_hh=w_hh,
                    grad_h=grad_h, grad_h0=grad_h0)
    if op == "lstm":       # carried: grad_c, updated in place
        return dict(grad_out=grad_out, grad_h_last=grad_h_last, grad_c=carried,
                    gates=done["gates"], cells=done["cells"], tanh_c=done["tanh_c"],
                    grad_z=np.full((steps, n, 4 * hid), np.nan, np.float32), w_hh=w_hh,
                    grad_h=grad_h, grad_h0=grad_h0)
    return dict(grad_out=grad_out, grad_h_last=grad_h_last, grad_h_direct=carried,
                gates=done["gates"], states=done["states"],
                grad_a=np.full((steps, n, 3 * hid), np.nan, np.float32),
                grad_u=np.full((steps, n, 3 * hid), np.nan, np.float32), w_hh=w_hh,
                grad_h=grad_h, grad_h0=grad_h0)


@pytest.mark.parametrize("op", ["lstm", "gru", "rnn-tanh", "rnn-relu"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("start, stop", [(0, 5), (2, 5), (1, 3)])
def test_recurrence_loops_give_the_per_step_calls_bits(op, reverse, start, stop):
    """Each recurrence over rows start:stop as one compiled loop nest, its GEMMs NumPy's own
    sgemm: the same bits as the per-step calls (np.matmul, then the cell), the other rows
    untouched, forward and backward, with and without h0's gradient."""
    _blas_on()
    steps, n, hid = 4, 5, 8
    forward_op, backward_op = (getattr(recurrent, f"{op[:4].rstrip('-')}_{way}")
                               for way in ("forward", "backward"))
    forward = []
    for run in (forward_op, forward_op.reference):
        args, constants = _recurrence_arguments(op, np.random.default_rng(3), steps, n, hid,
                                                start, stop)
        run(_host(), *args.values(), *constants, reverse, start, stop)
        forward.append(args)
    assert _ran_compiled(forward_op), f"{op}_forward ran uncompiled"
    for name in forward[0]:
        np.testing.assert_array_equal(forward[0][name], forward[1][name], err_msg=name)
    written = forward[1]["gates" if "gates" in forward[1] else "states"][-1]
    assert not np.isnan(written[start + 1:stop]).any()
    if "gates" in forward[1]:
        gates = forward[1]["gates"]
        assert np.isnan(gates[:, :start]).all() and np.isnan(gates[:, stop:]).all()
    for want_h0 in (True, False):
        backward = []
        for run in (backward_op, backward_op.reference):
            args = _recurrence_backward_arguments(op, forward[1], np.random.default_rng(4),
                                                  steps, n, hid, start, stop)
            run(_host(), *args.values(), *constants, reverse, want_h0, start, stop)
            backward.append(args)
        assert _ran_compiled(backward_op), f"{op}_backward ran uncompiled"
        for name in backward[0]:
            if name != "grad_h":                     # scratch
                np.testing.assert_array_equal(backward[0][name], backward[1][name],
                                              err_msg=name)
        done = backward[1]
        written = done["grad_u" if op == "gru" else "grad_z"]
        assert not np.isnan(written[:, start + 1:stop]).any()    # row start: rnn's NaN input
        assert np.isnan(written[:, :start]).all() and np.isnan(written[:, stop:]).all()
        assert np.isnan(done["grad_h0"][start + 1:stop]).any() != want_h0


def _product_loops(c, a, b):
    matmul_into(c, a, b)


_product_loops.helpers = (blas.matmul_into,)
_product_loops.blas = True


@pytest.mark.parametrize("shape", [(2, 3, 4), (5, 1, 6), (0, 3, 4), (64, 128, 512)],
                         ids=str)
def test_matmul_into_is_numpys_own_sgemm(shape):
    """blas.matmul_into in a compiled loop nest: numpy.matmul's bits, for row views of wider
    arrays (leading dimensions larger than a row), no rows, an inner dimension of one."""
    _blas_on()

    @kernels.loops(_product_loops)
    def product(xp, c, a, b):
        c[...] = a @ b

    m, k, n = shape
    rng = np.random.default_rng(m + k + n)
    a = rng.standard_normal((m + 2, k + 3)).astype(np.float32)[1:m + 1, 2:k + 2]
    b = rng.standard_normal((k, n + 5)).astype(np.float32)[:, :n]
    c = np.full((m, n + 1), np.nan, np.float32)
    product(_host(), c[:, :n], a, b)
    assert _ran_compiled(product)
    np.testing.assert_array_equal(c[:, :n], np.matmul(a, b))
    assert np.isnan(c[:, n]).all()
    kernels.forget(product)


def test_without_numpys_openblas_the_recurrences_run_per_step_silently(monkeypatch):
    """No ILP64 OpenBLAS in NumPy (MKL, Accelerate, a system BLAS): the loop nests that call
    sgemm are not compiled, without a warning, and their references give the results."""
    _compiler_on()
    from xpnet.cpu import blas, numba as cpu_numba
    monkeypatch.setattr(blas, "_FOUND", [None])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cpu_numba.compile_loops(recurrent._lstm_forward_loops) is None
        assert cpu_numba.compile_loops(recurrent._lstm_backward_loops) is None
        assert cpu_numba.compile_loops(recurrent._gru_forward_loops) is None
        assert cpu_numba.compile_loops(recurrent._rnn_backward_loops) is None
    assert cpu_numba.compile_loops(_scale_loops) is not None    # the others are compiled


def test_numpys_openblas_is_found_when_numpy_brings_it():
    from xpnet.cpu import blas
    from xpnet.cpu.threads import SLAB_THREADS
    own = SLAB_THREADS.numpy_blas()
    if own is None:
        pytest.skip("NumPy's BLAS is not the OpenBLAS of its Linux wheels")
    path, symbol = blas.library()
    assert path == own.filepath and symbol.endswith("64_") and hasattr(own.dynlib, symbol)


def test_every_compiled_function_is_tested_here():
    tested = {conv.add_columns, conv.gather_columns, pool.route_max_gradient,
              loss.log_softmax_nll, loss.cross_entropy_grad, recurrent.lstm_step,
              recurrent.lstm_step_backward, recurrent.gru_step, recurrent.gru_step_backward,
              recurrent.lstm_forward, recurrent.lstm_backward,
              recurrent.gru_forward, recurrent.gru_backward, recurrent.rnn_forward,
              recurrent.rnn_backward}
    missing = sorted(f.__qualname__ for f in kernels.compiled_functions() if f not in tested)
    assert not missing, f"test these loop nests against their references here: {missing}"


def _scale_loops(out, x):
    for i in range(x.shape[0]):
        out[i] = 2.0 * x[i]


def test_compiled_runs_the_reference_without_a_compiler():
    calls = []

    @kernels.loops(_scale_loops)
    def scale(xp, out, x):
        calls.append("reference")
        out[...] = 2.0 * x

    out = np.zeros(3)
    with kernels.compiler_for("numpy", None, kind="loops"):
        scale(_host(), out, np.arange(3.0))
        assert scale.kernels == {"numpy": None}
    np.testing.assert_array_equal(out, [0.0, 2.0, 4.0])
    assert calls == ["reference"]
    kernels.forget(scale)


def _unsupported_loops(out, x):
    for i in range(x.shape[0]):
        out[i] = {"a": object()}["a"]      # Numba cannot type a dict of Python objects


def test_compiled_falls_back_once_when_numba_refuses():
    _compiler_on()

    @kernels.loops(_unsupported_loops)
    def fill(xp, out, x):
        out[...] = x + 1.0

    out = np.zeros(2)
    with pytest.warns(RuntimeWarning, match="(?s)could not compile _unsupported_loops.*running fill"):
        fill(_host(), out, np.ones(2))
    np.testing.assert_array_equal(out, [2.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # warned once, not at every call
        fill(_host(), out, np.full(2, 3.0))
    np.testing.assert_array_equal(out, [4.0, 4.0])
    kernels.forget(fill)


def test_compiled_falls_back_when_the_loops_have_no_source(monkeypatch):
    _compiler_on()
    import inspect

    @kernels.loops(_scale_loops)
    def scale(xp, out, x):
        out[...] = 2.0 * x

    def no_source(obj):
        raise OSError("could not get source code")

    monkeypatch.setattr(inspect, "getsource", no_source)
    out = np.zeros(2)
    with pytest.warns(RuntimeWarning, match="no source for _scale_loops"):
        scale(_host(), out, np.ones(2))
    np.testing.assert_array_equal(out, [2.0, 2.0])
    assert scale.kernels == {"numpy": None}
    kernels.forget(scale)
