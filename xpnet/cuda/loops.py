"""The GPU compiler behind :func:`xpnet.kernels.loops`: a hand-written CUDA kernel for the loop
nests that have one (a convolution's im2col and col2im: one launch each instead of one strided
copy per tap, KH·KW), the Array API reference for every other.

The kernels follow their loop nests index for index: im2col writes cols (G, m, Ho, Wo, KH, KW,
Cg) element by element from the pixel ``x[n, y·sh + i·dh, x·sw + j·dw, a·Cg + k]``; col2im is its
adjoint, written as a gather so that no two threads add into one pixel: each padded pixel (a, n,
r, q, k) adds, tap (i, j) after tap, the column entries read from it, in the reference's order
(the same sums, bit for bit).
"""
from __future__ import annotations

from .. import kernels
from .elementwise import Source, kernel

__all__ = ["GATHER_COLUMNS", "ADD_COLUMNS", "SOURCES", "compile_loops", "refusals", "register"]

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


def _gather_columns(cols, image, sh, sw, dh, dw):
    kernel(GATHER_COLUMNS)(image, sh, sw, dh, dw, cols, size=cols.size)


def _add_columns(grad_pad, grad_cols, sh, sw, dh, dw):
    kernel(ADD_COLUMNS)(grad_cols, sh, sw, dh, dw, grad_pad, size=grad_pad.size)


# the loop nests (module.qualname) that have a kernel here, with the call that launches it (the
# loop nest's own arguments)
SOURCES = {"xpnet.ops.conv._gather_columns_loops": (GATHER_COLUMNS, _gather_columns),
           "xpnet.ops.conv._add_columns_loops": (ADD_COLUMNS, _add_columns)}


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
