"""The CUDA kernels' text, run on the CPU (tests/cuda/host.py), against their Array API references:
Philox4x32-10's rounds against Random123's known answers and the words against
xpnet.random.philox_words; im2col and col2im against conv's strided copies and additions, on
strided views as the ops hand them over; the LSTM and GRU steps against their fused cells. The
same text is what CuPy compiles on the GPU."""
import numpy as np
import pytest

from xpnet import backend, kernels
from xpnet import random as xrandom
from xpnet.cuda import loops, philox
from xpnet.cuda.elementwise import Source
from xpnet.ops import conv, recurrent

from .host import build

# Random123's kat_vectors for philox4x32_10: counter words, key words, the four words out
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
    ((0xffffffff,) * 4, (0xffffffff,) * 2, (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
    ((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0),
     (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1)),
]

# the rounds of PHILOX_WORDS on a whole counter, four words per i
_ROUNDS_ONLY = Source("rounds", "raw uint32 counter, uint32 k0, uint32 k1", "raw uint32 out", """
    unsigned int c[4];
    for (int w = 0; w < 4; ++w) { const ptrdiff_t at[2] = {i, w}; c[w] = counter[at]; }
    xpnet_philox4x32_10(c, k0, k1);
    for (int w = 0; w < 4; ++w) { const ptrdiff_t at[2] = {i, w}; out[at] = c[w]; }
    """, philox.PHILOX_WORDS.preamble)


def test_the_philox_kernel_rounds_give_random123s_known_answers(tmp_path):
    run = build(_ROUNDS_ONLY, tmp_path, ndims={"counter": 2, "out": 2})
    for counter, key, expected in KNOWN_ANSWERS:
        out = np.zeros((1, 4), np.uint32)
        run(1, np.asarray([counter], np.uint32), *key, out)
        assert [hex(w) for w in out[0]] == [hex(w) for w in expected]


@pytest.mark.parametrize("key, offset, n", [(0, 0, 9), (0x0123456789abcdef, 5, 16),
                                            (2**64 - 1, 2**32 - 2, 13)])
def test_the_philox_words_kernel_equals_the_array_api_words(tmp_path, key, offset, n):
    run = build(philox.PHILOX_WORDS, tmp_path)
    got = np.zeros(n, np.uint32)
    run(n, key, offset, got)
    np.testing.assert_array_equal(got, xrandom.philox_words(np, None, key, offset, n))


# (groups, samples, Ho, Wo, KH, KW, channels per group, stride, dilation), as tests/kernels
GEOMETRIES = [(1, 2, 4, 5, 3, 3, 2, (1, 1), (1, 1)),
              (1, 2, 3, 3, 4, 4, 1, (2, 2), (1, 1)),
              (1, 1, 3, 4, 3, 2, 3, (1, 2), (2, 1)),
              (2, 2, 3, 3, 2, 3, 2, (2, 1), (1, 2))]


def _padded(geometry):
    g, m, ho, wo, kh, kw, cg, (sh, sw), (dh, dw) = geometry
    return (ho - 1) * sh + dh * (kh - 1) + 1, (wo - 1) * sw + dw * (kw - 1) + 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_the_im2col_kernel_equals_the_strided_copies(tmp_path, geometry, dtype):
    g, m, ho, wo, kh, kw, cg, stride, dilation = geometry
    hp, wp = _padded(geometry)
    rng = np.random.default_rng(0)
    image = rng.standard_normal((m + 1, hp, wp, g * cg)).astype(dtype)[1:]   # a slab's view
    got = np.full((g, m, ho, wo, kh, kw, cg), np.nan, dtype)
    expected = np.zeros_like(got)
    build(loops.GATHER_COLUMNS, tmp_path, dtype, {"image": 4, "cols": 7})(
        got.size, image, *stride, *dilation, got)
    conv.gather_columns.reference(np, expected, image, *stride, *dilation)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_the_col2im_kernel_adds_what_the_strided_additions_add_bit_for_bit(tmp_path, geometry,
                                                                           dtype):
    g, m, ho, wo, kh, kw, cg, stride, dilation = geometry
    hp, wp = _padded(geometry)
    rng = np.random.default_rng(1)
    grad_cols = rng.standard_normal((g, m, ho, wo, kh, kw, cg)).astype(dtype)
    start = rng.standard_normal((g, m + 1, hp, wp, cg)).astype(dtype)  # earlier additions
    got, expected = start.copy(), start.copy()
    view = got[:, 1:, ...]
    build(loops.ADD_COLUMNS, tmp_path, dtype, {"grad_cols": 7, "grad_pad": 5})(
        view.size, grad_cols, *stride, *dilation, view)
    conv.add_columns.reference(np, expected[:, 1:, ...], grad_cols, *stride, *dilation)
    np.testing.assert_array_equal(got, expected)


_TOLERANCE = {np.float32: dict(rtol=2e-6, atol=2e-7), np.float64: dict(rtol=1e-14, atol=1e-15)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_lstm_step_kernel_equals_the_fused_cell(tmp_path, dtype):
    """Forward on whole gate blocks: the fused cell's values (C's tanh against NumPy's, a unit
    in the last place apart at most); c_prev a strided view, as a slice of the state buffer."""
    rng = np.random.default_rng(2)
    n, hid = 3, 5
    z, p = (3 * rng.standard_normal((n, 4 * hid))).astype(dtype), \
        rng.standard_normal((n, 4 * hid)).astype(dtype)
    c_prev = rng.standard_normal((n, 2 * hid)).astype(dtype)[:, ::2]
    outs = [np.full(shape, np.nan, dtype) for shape in ((n, 4 * hid), (n, hid), (n, hid),
                                                        (n, hid))]
    expected = [np.zeros_like(o) for o in outs]
    build(loops.LSTM_STEP, tmp_path, dtype, {name: 2 for name in (
        "z", "p", "c_prev", "gates", "c", "tanh_c", "h")})(n * hid, z, p, c_prev, *outs)
    recurrent.lstm_step.reference(np, z, p, c_prev, *expected, None)
    for got, want in zip(outs, expected):
        np.testing.assert_allclose(got, want, **_TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_lstm_step_backward_kernel_equals_the_fused_cell(tmp_path, dtype):
    """Backward: grad_z and grad_c (written in place) as the fused cell writes them; grad_out a
    broadcast view (stride 0), as the gradient of a sum reaches the layer."""
    rng = np.random.default_rng(3)
    n, hid = 3, 4
    gates = rng.uniform(0.05, 0.95, (n, 4 * hid)).astype(dtype)
    c_prev, tanh_c, grad_h = (rng.standard_normal((n, hid)).astype(dtype) for _ in range(3))
    grad_out = np.broadcast_to(rng.standard_normal(hid).astype(dtype), (n, hid))
    grad_c = rng.standard_normal((n, hid)).astype(dtype)
    got_c, want_c = grad_c.copy(), grad_c.copy()
    got_z, want_z = np.full((n, 4 * hid), np.nan, dtype), np.zeros((n, 4 * hid), dtype)
    build(loops.LSTM_STEP_BACKWARD, tmp_path, dtype, {name: 2 for name in (
        "grad_out", "grad_h", "gates", "c_prev", "tanh_c", "grad_c", "grad_z")})(
        n * hid, grad_out, grad_h, gates, c_prev, tanh_c, got_c, got_z)
    recurrent.lstm_step_backward.reference(np, grad_out, grad_h, want_c, gates, c_prev, tanh_c,
                                           want_z, None)
    np.testing.assert_allclose(got_z, want_z, **_TOLERANCE[dtype])
    np.testing.assert_allclose(got_c, want_c, **_TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_gru_step_kernel_equals_the_fused_cell(tmp_path, dtype):
    """Forward on whole blocks: the fused cell's r, z, n, h_n and h (C's tanh against NumPy's);
    h_prev a strided view, b_hh broadcast over the rows."""
    rng = np.random.default_rng(5)
    n, hid = 3, 5
    a = (3 * rng.standard_normal((n, 3 * hid))).astype(dtype)
    u = rng.standard_normal((n, 3 * hid)).astype(dtype)
    b_hh = rng.standard_normal(3 * hid).astype(dtype)
    h_prev = rng.standard_normal((n, 2 * hid)).astype(dtype)[:, ::2]
    outs = [np.full((n, 4 * hid), np.nan, dtype), np.full((n, hid), np.nan, dtype)]
    expected = [np.zeros_like(o) for o in outs]
    build(loops.GRU_STEP, tmp_path, dtype, {name: 2 for name in (
        "a", "u", "h_prev", "gates", "h")} | {"b_hh": 1})(n * hid, a, u, b_hh, h_prev, *outs)
    recurrent.gru_step.reference(np, a, u, b_hh, h_prev, *expected, None)
    for got, want in zip(outs, expected):
        np.testing.assert_allclose(got, want, **_TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_gru_step_backward_kernel_equals_the_fused_cell(tmp_path, dtype):
    """Backward: grad_a, grad_u and grad_h_direct (written in place) as the fused cell writes
    them; grad_out a broadcast view (stride 0), as the gradient of a sum reaches the layer."""
    rng = np.random.default_rng(6)
    n, hid = 3, 4
    gates = rng.uniform(0.05, 0.95, (n, 4 * hid)).astype(dtype)
    gates[:, 3 * hid:] = rng.standard_normal((n, hid))      # h_n is not a gate
    h_prev, grad_h = (rng.standard_normal((n, hid)).astype(dtype) for _ in range(2))
    grad_out = np.broadcast_to(rng.standard_normal(hid).astype(dtype), (n, hid))
    grad_h_direct = rng.standard_normal((n, hid)).astype(dtype)
    got_direct, want_direct = grad_h_direct.copy(), grad_h_direct.copy()
    got = [np.full((n, 3 * hid), np.nan, dtype) for _ in range(2)]
    want = [np.zeros((n, 3 * hid), dtype) for _ in range(2)]
    build(loops.GRU_STEP_BACKWARD, tmp_path, dtype, {name: 2 for name in (
        "grad_out", "grad_h", "gates", "h_prev", "grad_h_direct", "grad_a", "grad_u")})(
        n * hid, grad_out, grad_h, gates, h_prev, got_direct, *got)
    recurrent.gru_step_backward.reference(np, grad_out, grad_h, want_direct, gates, h_prev,
                                          *want, None)
    for g, w in zip([got_direct, *got], [want_direct, *want]):
        np.testing.assert_allclose(g, w, **_TOLERANCE[dtype])


def test_the_cupy_loop_compiler_has_kernels_for_im2col_col2im_and_the_cells_and_none_for_the_rest():
    assert kernels.compiler("cupy", kind="loops") is not None
    by_name = {f"{f.loops.__module__}.{f.loops.__qualname__}": f.loops
               for f in kernels.compiled_functions()}
    assert set(loops.SOURCES) == {"xpnet.ops.conv._gather_columns_loops",
                                  "xpnet.ops.conv._add_columns_loops",
                                  "xpnet.ops.recurrent._lstm_step_loops",
                                  "xpnet.ops.recurrent._lstm_step_backward_loops",
                                  "xpnet.ops.recurrent._gru_step_loops",
                                  "xpnet.ops.recurrent._gru_step_backward_loops"}
    assert set(loops.SOURCES) <= set(by_name), "a CUDA kernel names a loop nest that is gone"
    for name, loop_nest in by_name.items():
        if name not in loops.SOURCES:      # no CuPy needed: the reference runs, silently
            assert loops.compile_loops(loop_nest) is None


@pytest.mark.gpu
@pytest.mark.parametrize("geometry", GEOMETRIES[2:], ids=str)
def test_the_compiled_kernels_equal_their_references_on_the_gpu(geometry):
    gpu = backend.resolve_or_skip("cuda")
    cupy = gpu.xp
    g, m, ho, wo, kh, kw, cg, stride, dilation = geometry
    hp, wp = _padded(geometry)
    rng = np.random.default_rng(2)
    image = gpu.asarray(rng.standard_normal((m + 1, hp, wp, g * cg)))[1:]
    got = cupy.zeros((g, m, ho, wo, kh, kw, cg))
    expected = cupy.zeros_like(got)
    conv.gather_columns(cupy, got, image, *stride, *dilation)
    conv.gather_columns.reference(cupy, expected, image, *stride, *dilation)
    np.testing.assert_array_equal(backend.to_numpy(got), backend.to_numpy(expected))
    grad_pad = gpu.asarray(rng.standard_normal((g, m, hp, wp, cg)))
    want = cupy.asarray(grad_pad, copy=True)
    conv.add_columns(cupy, grad_pad, got, *stride, *dilation)
    conv.add_columns.reference(cupy, want, got, *stride, *dilation)
    np.testing.assert_array_equal(backend.to_numpy(grad_pad), backend.to_numpy(want))
    assert conv.gather_columns.kernels.get("cupy") is not None
    words = philox.words(gpu, 0x0123456789abcdef, 2 ** 32 - 1, 11)
    np.testing.assert_array_equal(backend.to_numpy(words), xrandom.philox_words(
        np, None, 0x0123456789abcdef, 2 ** 32 - 1, 11))


@pytest.mark.gpu
def test_the_lstm_kernels_equal_the_fused_cell_on_the_gpu():
    gpu = backend.resolve_or_skip("cuda")
    cupy = gpu.xp
    rng = np.random.default_rng(4)
    n, hid = 4, 6
    z, p = (gpu.asarray(rng.standard_normal((n, 4 * hid)).astype(np.float32)) for _ in range(2))
    c_prev = gpu.asarray(rng.standard_normal((n, hid)).astype(np.float32))
    got = [cupy.zeros(s, dtype=cupy.float32) for s in ((n, 4 * hid), (n, hid), (n, hid), (n, hid))]
    want = [cupy.zeros_like(o) for o in got]
    constants = cupy.asarray(recurrent._LSTM_CONSTANTS, dtype=cupy.float32)
    recurrent.lstm_step(cupy, z, p, c_prev, *got, constants)
    recurrent.lstm_step.reference(cupy, z, p, c_prev, *want, constants)
    for a, b in zip(got, want):
        np.testing.assert_allclose(backend.to_numpy(a), backend.to_numpy(b), rtol=2e-6,
                                   atol=2e-7)
    assert recurrent.lstm_step.kernels.get("cupy") is not None
    grad_out, grad_h = (gpu.asarray(rng.standard_normal((n, hid)).astype(np.float32))
                        for _ in range(2))
    grad_c = gpu.asarray(rng.standard_normal((n, hid)).astype(np.float32))
    want_c = cupy.asarray(grad_c, copy=True)
    got_z, want_z = cupy.zeros((n, 4 * hid), cupy.float32), cupy.zeros((n, 4 * hid), cupy.float32)
    recurrent.lstm_step_backward(cupy, grad_out, grad_h, grad_c, got[0], c_prev, got[2], got_z,
                                 constants)
    recurrent.lstm_step_backward.reference(cupy, grad_out, grad_h, want_c, got[0], c_prev, got[2],
                                           want_z, constants)
    np.testing.assert_allclose(backend.to_numpy(got_z), backend.to_numpy(want_z), rtol=2e-6,
                               atol=2e-7)
    np.testing.assert_allclose(backend.to_numpy(grad_c), backend.to_numpy(want_c), rtol=2e-6,
                               atol=2e-7)


@pytest.mark.gpu
def test_the_gru_kernels_equal_the_fused_cell_on_the_gpu():
    gpu = backend.resolve_or_skip("cuda")
    cupy = gpu.xp
    rng = np.random.default_rng(7)
    n, hid = 4, 6
    f32 = lambda *shape: gpu.asarray(rng.standard_normal(shape).astype(np.float32))  # noqa: E731
    a, u, b_hh, h_prev = f32(n, 3 * hid), f32(n, 3 * hid), f32(3 * hid), f32(n, hid)
    got = [cupy.zeros((n, 4 * hid), cupy.float32), cupy.zeros((n, hid), cupy.float32)]
    want = [cupy.zeros_like(o) for o in got]
    constants = cupy.asarray(recurrent._LSTM_CONSTANTS, dtype=cupy.float32)
    recurrent.gru_step(cupy, a, u, b_hh, h_prev, *got, constants)
    recurrent.gru_step.reference(cupy, a, u, b_hh, h_prev, *want, constants)
    for x, y in zip(got, want):
        np.testing.assert_allclose(backend.to_numpy(x), backend.to_numpy(y), rtol=2e-6,
                                   atol=2e-7)
    assert recurrent.gru_step.kernels.get("cupy") is not None
    grad_out, grad_h, grad_h_direct = f32(n, hid), f32(n, hid), f32(n, hid)
    want_direct = cupy.asarray(grad_h_direct, copy=True)
    got_grads = [cupy.zeros((n, 3 * hid), cupy.float32) for _ in range(2)]
    want_grads = [cupy.zeros((n, 3 * hid), cupy.float32) for _ in range(2)]
    recurrent.gru_step_backward(cupy, grad_out, grad_h, grad_h_direct, got[0], h_prev,
                                *got_grads, constants)
    recurrent.gru_step_backward.reference(cupy, grad_out, grad_h, want_direct, got[0], h_prev,
                                          *want_grads, constants)
    for x, y in zip([grad_h_direct, *got_grads], [want_direct, *want_grads]):
        np.testing.assert_allclose(backend.to_numpy(x), backend.to_numpy(y), rtol=2e-6,
                                   atol=2e-7)
