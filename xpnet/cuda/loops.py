"""The GPU compiler behind :func:`xpnet.kernels.loops`: a hand-written CUDA kernel for the loop
nests that have one (a convolution's im2col and col2im: one launch each instead of one strided
copy per tap, KH·KW; the LSTM and GRU cells on whole gate blocks, forward and backward: 6 to 7
arrays a launch instead of the fused cells' 14 to 16 views), the Array API reference for every
other.

The kernels follow their loop nests index for index: im2col writes cols (G, m, Ho, Wo, KH, KW,
Cg) element by element from the pixel ``x[n, y·sh + i·dh, x·sw + j·dw, a·Cg + k]``; col2im is its
adjoint, written as a gather so that no two threads add into one pixel: each padded pixel (a, n,
r, q, k) adds, tap (i, j) after tap, the column entries read from it, in the reference's order
(the same sums, bit for bit). The recurrent cells run one thread per (row r, unit j) of the
(N, H) state, which reads and writes unit j of each H-wide gate block of row r.
"""
from __future__ import annotations

from .. import kernels
from .elementwise import Source, kernel

__all__ = ["GATHER_COLUMNS", "ADD_COLUMNS", "LSTM_STEP", "LSTM_STEP_BACKWARD", "GRU_STEP",
           "GRU_STEP_BACKWARD", "SOURCES", "compile_loops", "refusals", "register"]

GATHER_COLUMNS = Source(
    "xpnet_gather_columns",
    "raw T image, int64 sh, int64 sw, int64 dh, int64 dw", "raw T cols",
    """
    const ptrdiff_t* s = cols.shape();          // G, m, Ho, Wo, KH, KW, Cg
    ptrdiff_t t = i;
    const ptrdiff_t k = t % s[6]; t /= s[6];
    const ptrdiff_t tap_w = t % s[5]; t /= s[5];
    const ptrdiff_t tap_h = t % s[4]; t /= s[4];
    const ptrdiff_t col = t % s[3]; t /= s[3];
    const ptrdiff_t row = t % s[2]; t /= s[2];
    const ptrdiff_t n = t % s[1];
    const ptrdiff_t a = t / s[1];
    const ptrdiff_t to[7] = {a, n, row, col, tap_h, tap_w, k};
    const ptrdiff_t from[4] = {n, row * sh + tap_h * dh, col * sw + tap_w * dw, a * s[6] + k};
    cols[to] = image[from];
    """)

ADD_COLUMNS = Source(
    "xpnet_add_columns",
    "raw T grad_cols, int64 sh, int64 sw, int64 dh, int64 dw", "raw T grad_pad",
    """
    const ptrdiff_t* s = grad_pad.shape();      // G, m, Hp, Wp, Cg
    const ptrdiff_t* c = grad_cols.shape();     // G, m, Ho, Wo, KH, KW, Cg
    ptrdiff_t t = i;
    const ptrdiff_t k = t % s[4]; t /= s[4];
    const ptrdiff_t q = t % s[3]; t /= s[3];
    const ptrdiff_t r = t % s[2]; t /= s[2];
    const ptrdiff_t n = t % s[1];
    const ptrdiff_t a = t / s[1];
    const ptrdiff_t at[5] = {a, n, r, q, k};
    T total = grad_pad[at];
    for (ptrdiff_t tap_h = 0; tap_h < c[4]; ++tap_h) {
        const ptrdiff_t h = r - tap_h * dh;        // = row * sh for the window row that read it
        if (h < 0 || h % sh != 0 || h / sh >= c[2]) continue;
        for (ptrdiff_t tap_w = 0; tap_w < c[5]; ++tap_w) {
            const ptrdiff_t w = q - tap_w * dw;
            if (w < 0 || w % sw != 0 || w / sw >= c[3]) continue;
            const ptrdiff_t from[7] = {a, n, h / sh, w / sw, tap_h, tap_w, k};
            total = (T)(total + grad_cols[from]);
        }
    }
    grad_pad[at] = total;
    """)


def _per_unit(state, *blocks):
    """The start of a recurrent cell's body: thread i is unit j of row r of the (N, H) array
    ``state``; ``at`` indexes the (N, H) arrays, and the k-th name of ``blocks`` indexes unit j
    of the k-th gate block, ``{r, k·hid + j}``."""
    gates = ", ".join(f"{name}[2] = {{r, {k} * hid + j}}" for k, name in enumerate(blocks))
    return f"""
    const ptrdiff_t hid = {state}.shape()[1];
    const ptrdiff_t r = i / hid, j = i % hid;
    const ptrdiff_t at[2] = {{r, j}};
    const ptrdiff_t {gates};"""


# the LSTM cell on whole (N, 4H) gate blocks: 7 arrays a launch instead of the fused cell's 16
# (its slices of z, p and gates), with the fused cell's formulas (σ(x) = ½·tanh(½x) + ½, as
# ops.activation.logistic)
LSTM_STEP = Source(
    "xpnet_lstm_step",
    "raw T z, raw T p, raw T c_prev", "raw T gates, raw T c, raw T tanh_c, raw T h",
    _per_unit("c", "ai", "af", "ag", "ao") + """
    const T half = (T)0.5;
    const T gi = half * tanh(half * (z[ai] + p[ai])) + half;
    const T gf = half * tanh(half * (z[af] + p[af])) + half;
    const T gg = tanh(z[ag] + p[ag]);
    const T go = half * tanh(half * (z[ao] + p[ao])) + half;
    gates[ai] = gi;
    gates[af] = gf;
    gates[ag] = gg;
    gates[ao] = go;
    const T cc = gf * c_prev[at] + gi * gg;
    const T t = tanh(cc);
    c[at] = cc;
    tanh_c[at] = t;
    h[at] = go * t;
    """)

LSTM_STEP_BACKWARD = Source(
    "xpnet_lstm_step_backward",
    "raw T grad_out, raw T grad_h, raw T gates, raw T c_prev, raw T tanh_c",
    "raw T grad_c, raw T grad_z",
    _per_unit("grad_c", "ai", "af", "ag", "ao") + """
    const T one = (T)1.0;
    const T gi = gates[ai], gf = gates[af], gg = gates[ag], go = gates[ao], t = tanh_c[at];
    const T grad_h_total = grad_out[at] + grad_h[at];
    const T grad_c_total = grad_c[at] + grad_h_total * go * (one - t * t);
    grad_z[ai] = grad_c_total * gg * gi * (one - gi);
    grad_z[af] = grad_c_total * c_prev[at] * gf * (one - gf);
    grad_z[ag] = grad_c_total * gi * (one - gg * gg);
    grad_z[ao] = grad_h_total * t * go * (one - go);
    grad_c[at] = grad_c_total * gf;
    """)

# the GRU cell on whole blocks: a and u (N, 3H) the input and recurrent projections, b_hh (3H,),
# gates (N, 4H) r, z, n, h_n; 6 arrays a launch instead of the fused cell's 15 (14 backward)
GRU_STEP = Source(
    "xpnet_gru_step",
    "raw T a, raw T u, raw T b_hh, raw T h_prev", "raw T gates, raw T h",
    _per_unit("h", "ar", "az", "an", "ahn") + """
    const ptrdiff_t br[1] = {j}, bz[1] = {hid + j}, bn[1] = {2 * hid + j};
    const T half = (T)0.5;
    const T gr = half * tanh(half * (a[ar] + u[ar] + b_hh[br])) + half;
    const T gz = half * tanh(half * (a[az] + u[az] + b_hh[bz])) + half;
    const T h_n = u[an] + b_hh[bn];
    const T gn = tanh(a[an] + gr * h_n);
    gates[ar] = gr;
    gates[az] = gz;
    gates[an] = gn;
    gates[ahn] = h_n;
    h[at] = gn + gz * (h_prev[at] - gn);
    """)

GRU_STEP_BACKWARD = Source(
    "xpnet_gru_step_backward",
    "raw T grad_out, raw T grad_h, raw T gates, raw T h_prev",
    "raw T grad_h_direct, raw T grad_a, raw T grad_u",
    _per_unit("grad_h_direct", "ar", "az", "an", "ahn") + """
    const T one = (T)1.0;
    const T gr = gates[ar], gz = gates[az], gn = gates[an];
    const T grad_h_total = grad_out[at] + grad_h[at] + grad_h_direct[at];
    const T grad_n = grad_h_total * (one - gz) * (one - gn * gn);
    const T grad_r = grad_n * gates[ahn] * gr * (one - gr);
    const T grad_z = grad_h_total * (h_prev[at] - gn) * gz * (one - gz);
    grad_a[ar] = grad_r;
    grad_u[ar] = grad_r;
    grad_a[az] = grad_z;
    grad_u[az] = grad_z;
    grad_a[an] = grad_n;
    grad_u[an] = grad_n * gr;
    grad_h_direct[at] = grad_h_total * gz;
    """)


def _lstm_step(z, p, c_prev, gates, c, tanh_c, h, k):
    kernel(LSTM_STEP)(z, p, c_prev, gates, c, tanh_c, h, size=c.size)


def _lstm_step_backward(grad_out, grad_h, grad_c, gates, c_prev, tanh_c, grad_z, k):
    kernel(LSTM_STEP_BACKWARD)(grad_out, grad_h, gates, c_prev, tanh_c, grad_c, grad_z,
                               size=grad_c.size)


def _gru_step(a, u, b_hh, h_prev, gates, h, k):
    kernel(GRU_STEP)(a, u, b_hh, h_prev, gates, h, size=h.size)


def _gru_step_backward(grad_out, grad_h, grad_h_direct, gates, h_prev, grad_a, grad_u, k):
    kernel(GRU_STEP_BACKWARD)(grad_out, grad_h, gates, h_prev, grad_h_direct, grad_a, grad_u,
                              size=grad_h_direct.size)


def _gather_columns(cols, image, sh, sw, dh, dw):
    kernel(GATHER_COLUMNS)(image, sh, sw, dh, dw, cols, size=cols.size)


def _add_columns(grad_pad, grad_cols, sh, sw, dh, dw):
    kernel(ADD_COLUMNS)(grad_cols, sh, sw, dh, dw, grad_pad, size=grad_pad.size)


# the loop nests (module.qualname) that have a kernel here, with the call that launches it (the
# loop nest's own arguments)
SOURCES = {"xpnet.ops.conv._gather_columns_loops": (GATHER_COLUMNS, _gather_columns),
           "xpnet.ops.conv._add_columns_loops": (ADD_COLUMNS, _add_columns),
           "xpnet.ops.recurrent._lstm_step_loops": (LSTM_STEP, _lstm_step),
           "xpnet.ops.recurrent._lstm_step_backward_loops": (LSTM_STEP_BACKWARD,
                                                              _lstm_step_backward),
           "xpnet.ops.recurrent._gru_step_loops": (GRU_STEP, _gru_step),
           "xpnet.ops.recurrent._gru_step_backward_loops": (GRU_STEP_BACKWARD,
                                                             _gru_step_backward)}


def compile_loops(loops):
    """The CUDA kernel written for the loop nest ``loops``, or None (its Array API reference
    then runs, as for every loop nest without one)."""
    entry = SOURCES.get(f"{loops.__module__}.{loops.__qualname__}")
    if entry is None:
        return None
    kernel(entry[0])      # compile now, so that a refusal is one at compile time
    return entry[1]


def refusals():
    """What CuPy raises when NVRTC cannot compile a kernel."""
    from cupy.cuda.compiler import CompileException
    return (CompileException, NotImplementedError, TypeError)


def register() -> None:
    kernels.register_compiler("cupy", compile_loops, refusals, kind=kernels.LOOPS)
