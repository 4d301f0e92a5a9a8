"""Whole-sequence recurrent ops: rnn (tanh / relu), lstm, gru.

Each op is one Function over a whole sequence, one layer and one direction:

* the input projections of all time steps are ONE matmul, ``(T·N, in) @ (in, G·H)``, before the
  loop, so the loop over time does only the recurrence;
* each time step is TWO calls forward (``h_{t-1} @ W_hh^T``, then one fused cell that applies
  the gates and writes the new state, the gates and the cell straight into per-sequence buffers)
  and TWO backward (one fused cell backward that writes the step's pre-activation gradients
  into a (T, N, G·H) buffer, then ``@ W_hh``);
* backward is backpropagation through time over the stored gates; the gradients of ``W_hh``,
  ``W_ih`` and ``x`` are ONE matmul each after the loop, over all time steps stacked.

The cells are written once as elementwise functions of ``xp`` and compiled by
:func:`xpnet.kernels.fuse` (one CuPy kernel per step; plain calls elsewhere). They return nothing:
they write their results into the output views they are given (``out[...] = value``), which a
fused CuPy kernel does straight to memory. The LSTM's and the GRU's float32 steps also have plain
loops (:func:`xpnet.kernels.loops`) over whole gate blocks, compiled by Numba on NumPy and
written as CUDA kernels on CuPy (``xpnet.cuda.loops``): seven or eight arrays per call instead
of fourteen to sixteen views (Numba's per-array call cost was half the LSTM cell's time), the
same arithmetic in the same order (on NumPy the same bits as the fused cell). In host memory
each step's product is written into one buffer (``out=``).

Each op's time loop is a loop nest too (:func:`lstm_forward` and :func:`lstm_backward`, and
the same for gru and rnn): their reference is the per-step calls above; on NumPy with Numba the
whole loop over one batch piece's steps is one compiled call, whose GEMMs are NumPy's own sgemm
(:mod:`xpnet.cpu.blas`), so the two pieces' threads never wait for the GIL between steps
(training steps at batch 64 on the 2-core VM: mnist-lstm 8.4 → 7.5 ms, the GRU 7.4 → 6.6 ms,
the tanh RNN 3.8 → 2.8 ms; the same bits). The RNN's cells are written out as loops there, with
the fused cells' float32 arithmetic.

Weights follow PyTorch: ``w_ih (G·H, in)``, ``w_hh (G·H, H)``, biases ``(G·H,)`` with the gates
stacked in PyTorch's order (LSTM: i, f, g, o; GRU: r, z, n), so torch weights load unchanged.
"""
from __future__ import annotations

from typing import NamedTuple

from .. import backend as _backend, kernels
from ..autograd import Function, Tensor
from ..cpu import memory as _memory
from ..cpu.blas import matmul_into
from ..cpu.threads import SLAB_THREADS
from .activation import logistic

# -- the cells, written once ------------------------------------------------------------------


@kernels.fuse
def lstm_cell(xp, z_i, z_f, z_g, z_o, p_i, p_f, p_g, p_o, c_prev, i, f, g, o, c, tanh_c, h):
    """Gates from z + p (recurrent + input projections); c = f·c_prev + i·g, h = o·tanh(c)."""
    i[...] = logistic(xp, z_i + p_i)
    f[...] = logistic(xp, z_f + p_f)
    g[...] = xp.tanh(z_g + p_g)
    o[...] = logistic(xp, z_o + p_o)
    c[...] = f * c_prev + i * g
    tanh_c[...] = xp.tanh(c)
    h[...] = o * tanh_c


@kernels.fuse
def lstm_cell_backward(xp, grad_out, grad_h, grad_c, i, f, g, o, c_prev, tanh_c,
                       grad_z_i, grad_z_f, grad_z_g, grad_z_o):
    """From the gradients of h (output + next step) and c: those of the four pre-activations
    (each σ' or tanh' times what the gate multiplies), and grad_c ← that of c_prev (in place)."""
    grad_h_total = grad_out + grad_h
    grad_c_total = grad_c + grad_h_total * o * (1.0 - tanh_c * tanh_c)
    grad_z_i[...] = grad_c_total * g * i * (1.0 - i)
    grad_z_f[...] = grad_c_total * c_prev * f * (1.0 - f)
    grad_z_g[...] = grad_c_total * i * (1.0 - g * g)
    grad_z_o[...] = grad_h_total * tanh_c * o * (1.0 - o)
    grad_c[...] = grad_c_total * f


# Eigen's float32 tanh as the CPU compiler writes it for fused float32 kernels (a 13/6 rational on
# [-c, c], x itself below 0.0004), then 0.5 and 1.0: the LSTM's and the GRU's loops below read
# their float32 constants from this array, so that their arithmetic stays float32 (Numba types a
# literal as float64)
_LSTM_CONSTANTS = (7.90531110763549805, 0.0004, -2.76076847742355e-16, 2.00018790482477e-13,
                   -8.60467152213735e-11, 5.12229709037114e-08, 1.48572235717979e-05,
                   6.37261928875436e-04, 4.89352455891786e-03, 1.19825839466702e-06,
                   1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03, 0.5, 1.0)
_CONSTANTS_ON: dict = {}   # {device name: _LSTM_CONSTANTS as a float32 array there}
_MIN_PIECE_ROWS = 16       # the fewest batch rows a thread's piece of a recurrence gets


def _tanh_f32(x, rational):
    """Eigen's float32 tanh with its constants ``rational`` = k[0:13] (above), for the loop
    nests: a helper that :func:`xpnet.kernels.loops` compiles with them (``loops.helpers``)."""
    c0, c1, a0, a1, a2, a3, a4, a5, a6, b0, b1, b2, b3 = rational
    if x != x:
        return x
    x = max(min(x, c0), -c0)
    if abs(x) < c1:
        return x
    x2 = x * x
    num = x2 * a0 + a1
    num = num * x2 + a2
    num = num * x2 + a3
    num = num * x2 + a4
    num = num * x2 + a5
    num = num * x2 + a6
    num = num * x
    den = x2 * b0 + b1
    den = den * x2 + b2
    den = den * x2 + b3
    return num / den


def _lstm_step_loops(z, p, c_prev, gates, c, tanh_c, h, k):
    rational = (k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8], k[9], k[10], k[11],
                k[12])
    half = k[13]

    def tanh(x):
        return _tanh_f32(x, rational)

    n, hid = c.shape
    for r in range(n):
        # one unit-stride row per gate block, so that the inner loop vectorises
        zi, zf, zg, zo = z[r, :hid], z[r, hid:2 * hid], z[r, 2 * hid:3 * hid], z[r, 3 * hid:]
        pi, pf, pg, po = p[r, :hid], p[r, hid:2 * hid], p[r, 2 * hid:3 * hid], p[r, 3 * hid:]
        gi, gf, gg, go = (gates[r, :hid], gates[r, hid:2 * hid], gates[r, 2 * hid:3 * hid],
                          gates[r, 3 * hid:])
        cp, cr, tr, hr = c_prev[r], c[r], tanh_c[r], h[r]
        for j in range(hid):
            i = half * tanh(half * (zi[j] + pi[j])) + half
            f = half * tanh(half * (zf[j] + pf[j])) + half
            g = tanh(zg[j] + pg[j])
            o = half * tanh(half * (zo[j] + po[j])) + half
            gi[j] = i
            gf[j] = f
            gg[j] = g
            go[j] = o
            cc = f * cp[j] + i * g
            cr[j] = cc
            t = tanh(cc)
            tr[j] = t
            hr[j] = o * t


@kernels.loops(_lstm_step_loops)
def lstm_step(xp, z, p, c_prev, gates, c, tanh_c, h, k):
    """:func:`lstm_cell` on whole (N, 4H) blocks: z and p the recurrent and input projections,
    gates ← i, f, g, o; k the float32 constants of :data:`_LSTM_CONSTANTS` (for the loops)."""
    lstm_cell(xp, *_split(z, 4), *_split(p, 4), c_prev, *_split(gates, 4), c, tanh_c, h)


def _lstm_step_backward_loops(grad_out, grad_h, grad_c, gates, c_prev, tanh_c, grad_z, k):
    one = k[14]
    n, hid = grad_c.shape
    for r in range(n):
        gi, gf, gg, go = (gates[r, :hid], gates[r, hid:2 * hid], gates[r, 2 * hid:3 * hid],
                          gates[r, 3 * hid:])
        di, df, dg, do = (grad_z[r, :hid], grad_z[r, hid:2 * hid], grad_z[r, 2 * hid:3 * hid],
                          grad_z[r, 3 * hid:])
        out_r, h_r, c_r, cp, tr = grad_out[r], grad_h[r], grad_c[r], c_prev[r], tanh_c[r]
        for j in range(hid):
            i, f, g, o, t = gi[j], gf[j], gg[j], go[j], tr[j]
            grad_h_total = out_r[j] + h_r[j]
            grad_c_total = c_r[j] + grad_h_total * o * (one - t * t)
            di[j] = grad_c_total * g * i * (one - i)
            df[j] = grad_c_total * cp[j] * f * (one - f)
            dg[j] = grad_c_total * i * (one - g * g)
            do[j] = grad_h_total * t * o * (one - o)
            c_r[j] = grad_c_total * f


@kernels.loops(_lstm_step_backward_loops)
def lstm_step_backward(xp, grad_out, grad_h, grad_c, gates, c_prev, tanh_c, grad_z, k):
    """:func:`lstm_cell_backward` on whole (N, 4H) blocks (gates and grad_z i, f, g, o)."""
    lstm_cell_backward(xp, grad_out, grad_h, grad_c, *_split(gates, 4), c_prev, tanh_c,
                       *_split(grad_z, 4))


# -- whole recurrences: every step of a batch piece in one call ----------------------------------


def _product(xp, a, b, out):
    """a @ b, written into ``out`` in host memory (one buffer for every step); elsewhere (``out``
    None) a new array: the Array API has no ``out=``, and a copy would cost a launch."""
    if out is None:
        return xp.matmul(a, b)
    _memory.matmul_into(xp, out, a, b)
    return out


def _next_grad_h(grad_h, grad_h0, grad_z_t, w_hh, last, want_h0):
    """BPTT's grad_{h_{t-1}} = grad_z_t @ W_hh, in a compiled backward loop: into ``grad_h``
    for the next step's cell (which has read the one before); after the last step into h0's
    gradient rows ``grad_h0``, when wanted."""
    if not last:
        matmul_into(grad_h, grad_z_t, w_hh)
    elif want_h0:
        matmul_into(grad_h0, grad_z_t, w_hh)


def _next_grad_h_array(xp, grad_z_t, w_hh, grad_h, grad_h0, rows, last, want_h0):
    """:func:`_next_grad_h` for the references: the next step's grad_{h_{t-1}} (into the
    buffer ``grad_h`` in host memory, a new array elsewhere); after the last step, h0's
    gradient rows ``rows`` written into ``grad_h0`` when wanted, and None."""
    if not last:
        return _product(xp, grad_z_t, w_hh, grad_h)
    if want_h0:
        grad_h0[rows, :] = xp.matmul(grad_z_t, w_hh)
    return None


def _lstm_forward_loops(states, proj, w_hh_t, cells, gates, tanh_c, z, k, reverse, start, stop):
    steps = gates.shape[0]
    for s in range(steps):
        t = steps - 1 - s if reverse else s
        prev = t + 1 if reverse else t
        now = t if reverse else t + 1
        # rows start:stop of whole buffers, sliced here: a row range of a step's C-contiguous
        # block is C-contiguous, so that the cell's inner loops vectorise (a view passed in
        # is typed as any layout, and they ran 2.4x slower)
        matmul_into(z, states[prev, start:stop], w_hh_t)
        _lstm_step_loops(z, proj[t, start:stop], cells[prev, start:stop], gates[t, start:stop],
                         cells[now, start:stop], tanh_c[t, start:stop], states[now, start:stop],
                         k)


_lstm_forward_loops.helpers = (_tanh_f32, _lstm_step_loops, matmul_into)
_lstm_forward_loops.blas = True


@kernels.loops(_lstm_forward_loops)
def lstm_forward(xp, states, proj, w_hh_t, cells, gates, tanh_c, z, k, reverse, start, stop):
    """The LSTM's recurrence over the batch rows ``start:stop``, every step:
    ``z = h_{t-1} @ W_hh^T`` (into the buffer ``z`` in host memory), then :func:`lstm_step`.
    ``states`` and ``cells`` are (T + 1, N, H) in slot order (h0 and c0 in slot 0, or T in
    reverse), ``proj`` (T, N, 4H) the input projections, ``gates`` and ``tanh_c`` (T, N, ·)
    written; ``k`` the float32 constants (None for other dtypes: the fused cell's array calls).
    Compiled on NumPy as one loop nest that calls NumPy's own sgemm (:mod:`xpnet.cpu.blas`):
    the same bits, without the GIL."""
    step = lstm_step if k is not None else lstm_step.reference
    rows = slice(start, stop)
    steps = gates.shape[0]
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        prev, now = (t + 1, t) if reverse else (t, t + 1)
        z_t = _product(xp, states[prev, rows, :], w_hh_t, z)
        step(xp, z_t, proj[t, rows, :], cells[prev, rows, :], gates[t, rows, :],
             cells[now, rows, :], tanh_c[t, rows, :], states[now, rows, :], k)


def _lstm_backward_loops(grad_out, grad_h_last, grad_c, gates, cells, tanh_c, grad_z, w_hh,
                         grad_h, grad_h0, k, reverse, want_h0, start, stop):
    steps = gates.shape[0]
    grad_h[...] = grad_h_last[start:stop]
    for s in range(steps):
        t = s if reverse else steps - 1 - s
        prev = t + 1 if reverse else t
        _lstm_step_backward_loops(grad_out[t, start:stop], grad_h, grad_c[start:stop],
                                  gates[t, start:stop], cells[prev, start:stop],
                                  tanh_c[t, start:stop], grad_z[t, start:stop], k)
        _next_grad_h(grad_h, grad_h0[start:stop], grad_z[t, start:stop], w_hh, s == steps - 1,
                     want_h0)


_lstm_backward_loops.helpers = (_lstm_step_backward_loops, _next_grad_h, matmul_into)
_lstm_backward_loops.blas = True


@kernels.loops(_lstm_backward_loops)
def lstm_backward(xp, grad_out, grad_h_last, grad_c, gates, cells, tanh_c, grad_z, w_hh, grad_h,
                  grad_h0, k, reverse, want_h0, start, stop):
    """Backpropagation through time over the batch rows ``start:stop``, the steps in reverse
    order: :func:`lstm_step_backward` (``grad_c`` updated in place, ``grad_z`` (T, N, 4H)
    written), then ``grad_{h_{t-1}} = grad_z_t @ W_hh`` into the buffer ``grad_h`` (the rows'
    own, in host memory; None elsewhere); the first step's into ``grad_h0`` when ``want_h0``.
    Compiled as :func:`lstm_forward` is."""
    step = lstm_step_backward if k is not None else lstm_step_backward.reference
    rows = slice(start, stop)
    steps = gates.shape[0]
    grad_h_t = grad_h_last[rows, :]
    for s, t in enumerate(range(steps) if reverse else range(steps - 1, -1, -1)):
        prev = t + 1 if reverse else t
        step(xp, grad_out[t, rows, :], grad_h_t, grad_c[rows, :], gates[t, rows, :],
             cells[prev, rows, :], tanh_c[t, rows, :], grad_z[t, rows, :], k)
        grad_h_t = _next_grad_h_array(xp, grad_z[t, rows, :], w_hh, grad_h, grad_h0, rows,
                                      s == steps - 1, want_h0)


@kernels.fuse
def gru_cell(xp, a_r, a_z, a_n, u_r, u_z, u_n, b_r, b_z, b_n, h_prev, r, z, n, h_n, h):
    """a = x W_ih^T + b_ih, u = h_prev W_hh^T (b = b_hh): r, z = σ(a + u + b);
    n = tanh(a_n + r·h_n) with h_n = u_n + b_n; h = (1 - z)·n + z·h_prev."""
    r[...] = logistic(xp, a_r + u_r + b_r)
    z[...] = logistic(xp, a_z + u_z + b_z)
    h_n[...] = u_n + b_n
    n[...] = xp.tanh(a_n + r * h_n)
    h[...] = n + z * (h_prev - n)


@kernels.fuse
def gru_cell_backward(xp, grad_out, grad_h_matmul, grad_h_direct, r, z, n, h_n, h_prev,
                      grad_a_r, grad_a_z, grad_a_n, grad_u_r, grad_u_z, grad_u_n):
    """Gradients of the pre-activations a (input side) and u (recurrent side) from that of h:
    the output's plus the next step's two parts, through W_hh and the direct z·h_prev path;
    grad_h_direct ← the direct part for h_prev (in place)."""
    grad_h = grad_out + grad_h_matmul + grad_h_direct
    grad_n = grad_h * (1.0 - z) * (1.0 - n * n)
    grad_r = grad_n * h_n * r * (1.0 - r)
    grad_z = grad_h * (h_prev - n) * z * (1.0 - z)
    grad_a_r[...] = grad_r
    grad_u_r[...] = grad_r
    grad_a_z[...] = grad_z
    grad_u_z[...] = grad_z
    grad_a_n[...] = grad_n
    grad_u_n[...] = grad_n * r
    grad_h_direct[...] = grad_h * z


def _gru_step_loops(a, u, b_hh, h_prev, gates, h, k):
    rational = (k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8], k[9], k[10], k[11],
                k[12])
    half = k[13]

    def tanh(x):
        return _tanh_f32(x, rational)

    rows, hid = h.shape
    br, bz, bn = b_hh[:hid], b_hh[hid:2 * hid], b_hh[2 * hid:]
    for q in range(rows):
        # one unit-stride row per gate block, so that the inner loop vectorises
        ar, az, an = a[q, :hid], a[q, hid:2 * hid], a[q, 2 * hid:]
        ur, uz, un = u[q, :hid], u[q, hid:2 * hid], u[q, 2 * hid:]
        gr, gz, gn, ghn = (gates[q, :hid], gates[q, hid:2 * hid], gates[q, 2 * hid:3 * hid],
                           gates[q, 3 * hid:])
        hp, hq = h_prev[q], h[q]
        for j in range(hid):
            r = half * tanh(half * (ar[j] + ur[j] + br[j])) + half
            z = half * tanh(half * (az[j] + uz[j] + bz[j])) + half
            h_n = un[j] + bn[j]
            n = tanh(an[j] + r * h_n)
            gr[j] = r
            gz[j] = z
            gn[j] = n
            ghn[j] = h_n
            hq[j] = n + z * (hp[j] - n)


_lstm_step_loops.helpers = _gru_step_loops.helpers = (_tanh_f32,)


@kernels.loops(_gru_step_loops)
def gru_step(xp, a, u, b_hh, h_prev, gates, h, k):
    """:func:`gru_cell` on whole blocks: a and u the (N, 3H) input and recurrent projections,
    b_hh (3H,) (None, zeros, only where the reference runs), gates ← r, z, n, h_n (N, 4H); k the
    float32 constants of :data:`_LSTM_CONSTANTS` (for the loops)."""
    if b_hh is None:
        b_parts = [0.0] * 3
    else:
        width = b_hh.shape[0] // 3
        b_parts = [b_hh[j * width:(j + 1) * width] for j in range(3)]
    gru_cell(xp, *_split(a, 3), *_split(u, 3), *b_parts, h_prev, *_split(gates, 4), h)


def _gru_step_backward_loops(grad_out, grad_h, grad_h_direct, gates, h_prev, grad_a, grad_u, k):
    one = k[14]
    rows, hid = grad_h_direct.shape
    for q in range(rows):
        gr, gz, gn, ghn = (gates[q, :hid], gates[q, hid:2 * hid], gates[q, 2 * hid:3 * hid],
                           gates[q, 3 * hid:])
        dar, daz, dan = grad_a[q, :hid], grad_a[q, hid:2 * hid], grad_a[q, 2 * hid:]
        dur, duz, dun = grad_u[q, :hid], grad_u[q, hid:2 * hid], grad_u[q, 2 * hid:]
        out_q, matmul_q, direct_q, hp = grad_out[q], grad_h[q], grad_h_direct[q], h_prev[q]
        for j in range(hid):
            r, z, n = gr[j], gz[j], gn[j]
            grad_h_total = out_q[j] + matmul_q[j] + direct_q[j]
            grad_n = grad_h_total * (one - z) * (one - n * n)
            grad_r = grad_n * ghn[j] * r * (one - r)
            grad_z = grad_h_total * (hp[j] - n) * z * (one - z)
            dar[j] = grad_r
            dur[j] = grad_r
            daz[j] = grad_z
            duz[j] = grad_z
            dan[j] = grad_n
            dun[j] = grad_n * r
            direct_q[j] = grad_h_total * z


@kernels.loops(_gru_step_backward_loops)
def gru_step_backward(xp, grad_out, grad_h, grad_h_direct, gates, h_prev, grad_a, grad_u, k):
    """:func:`gru_cell_backward` on whole blocks: gates r, z, n, h_n (N, 4H), grad_a and grad_u
    (N, 3H) ← the gradients of the input and recurrent projections; grad_h_direct updated in
    place."""
    gru_cell_backward(xp, grad_out, grad_h, grad_h_direct, *_split(gates, 4), h_prev,
                      *_split(grad_a, 3), *_split(grad_u, 3))


def _gru_forward_loops(states, proj, w_hh_t, b_hh, gates, u, k, reverse, start, stop):
    steps = gates.shape[0]
    for s in range(steps):
        t = steps - 1 - s if reverse else s
        prev = t + 1 if reverse else t
        now = t if reverse else t + 1
        matmul_into(u, states[prev, start:stop], w_hh_t)      # rows sliced here: see the LSTM's
        _gru_step_loops(proj[t, start:stop], u, b_hh, states[prev, start:stop],
                        gates[t, start:stop], states[now, start:stop], k)


_gru_forward_loops.helpers = (_tanh_f32, _gru_step_loops, matmul_into)
_gru_forward_loops.blas = True


@kernels.loops(_gru_forward_loops)
def gru_forward(xp, states, proj, w_hh_t, b_hh, gates, u, k, reverse, start, stop):
    """The GRU's recurrence over the batch rows ``start:stop``, every step:
    ``u = h_{t-1} @ W_hh^T`` (into the buffer ``u`` in host memory), then :func:`gru_step`.
    ``states`` (T + 1, N, H) in slot order, ``proj`` (T, N, 3H) the input projections with
    b_ih, ``gates`` (T, N, 4H) written. Compiled as :func:`lstm_forward` is."""
    step = gru_step if k is not None else gru_step.reference
    rows = slice(start, stop)
    steps = gates.shape[0]
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        prev, now = (t + 1, t) if reverse else (t, t + 1)
        h_prev = states[prev, rows, :]
        step(xp, proj[t, rows, :], _product(xp, h_prev, w_hh_t, u), b_hh, h_prev,
             gates[t, rows, :], states[now, rows, :], k)


def _gru_backward_loops(grad_out, grad_h_last, grad_h_direct, gates, states, grad_a, grad_u,
                        w_hh, grad_h, grad_h0, k, reverse, want_h0, start, stop):
    steps = gates.shape[0]
    grad_h[...] = grad_h_last[start:stop]
    for s in range(steps):
        t = s if reverse else steps - 1 - s
        prev = t + 1 if reverse else t
        _gru_step_backward_loops(grad_out[t, start:stop], grad_h, grad_h_direct[start:stop],
                                 gates[t, start:stop], states[prev, start:stop],
                                 grad_a[t, start:stop], grad_u[t, start:stop], k)
        _next_grad_h(grad_h, grad_h0[start:stop], grad_u[t, start:stop], w_hh, s == steps - 1,
                     want_h0)


_gru_backward_loops.helpers = (_gru_step_backward_loops, _next_grad_h, matmul_into)
_gru_backward_loops.blas = True


@kernels.loops(_gru_backward_loops)
def gru_backward(xp, grad_out, grad_h_last, grad_h_direct, gates, states, grad_a, grad_u, w_hh,
                 grad_h, grad_h0, k, reverse, want_h0, start, stop):
    """Backpropagation through time over the batch rows ``start:stop``, the steps in reverse
    order: :func:`gru_step_backward` (``grad_h_direct`` updated in place, ``grad_a`` and
    ``grad_u`` (T, N, 3H) written), then ``grad_{h_{t-1}} = grad_u_t @ W_hh`` into ``grad_h``
    (host memory; None elsewhere); the first step's into ``grad_h0`` when ``want_h0``."""
    step = gru_step_backward if k is not None else gru_step_backward.reference
    rows = slice(start, stop)
    steps = gates.shape[0]
    grad_h_t = grad_h_last[rows, :]
    for s, t in enumerate(range(steps) if reverse else range(steps - 1, -1, -1)):
        prev = t + 1 if reverse else t
        step(xp, grad_out[t, rows, :], grad_h_t, grad_h_direct[rows, :], gates[t, rows, :],
             states[prev, rows, :], grad_a[t, rows, :], grad_u[t, rows, :], k)
        grad_h_t = _next_grad_h_array(xp, grad_u[t, rows, :], w_hh, grad_h, grad_h0, rows,
                                      s == steps - 1, want_h0)


@kernels.fuse
def rnn_tanh_cell(xp, z, p, h):
    h[...] = xp.tanh(z + p)


@kernels.fuse
def rnn_relu_cell(xp, z, p, h):
    h[...] = xp.maximum(z + p, 0.0)


@kernels.fuse
def rnn_tanh_cell_backward(xp, grad_out, grad_h, h, grad_z):
    grad_z[...] = (grad_out + grad_h) * (1.0 - h * h)


@kernels.fuse
def rnn_relu_cell_backward(xp, grad_out, grad_h, h, grad_z):
    # relu'(z) = 1 where h = relu(z) > 0, else 0 (0 at z = 0, as PyTorch)
    grad_z[...] = xp.where(h > 0.0, grad_out + grad_h, 0.0)


def _rnn_step_loops(z, p, h, k, relu):
    rational = (k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8], k[9], k[10], k[11],
                k[12])
    rows, hid = h.shape
    for q in range(rows):
        zq, pq, hq = z[q], p[q], h[q]
        for j in range(hid):
            v = zq[j] + pq[j]
            if relu:
                hq[j] = v if (v >= 0.0 or v != v) else 0.0     # NaN propagates, as maximum
            else:
                hq[j] = _tanh_f32(v, rational)


def _rnn_step_backward_loops(grad_out, grad_h, h, grad_z, k, relu):
    one = k[14]
    rows, hid = h.shape
    for q in range(rows):
        oq, gq, hq, dq = grad_out[q], grad_h[q], h[q], grad_z[q]
        for j in range(hid):
            if relu:
                dq[j] = oq[j] + gq[j] if hq[j] > 0.0 else 0.0
            else:
                dq[j] = (oq[j] + gq[j]) * (one - hq[j] * hq[j])


def _rnn_forward_loops(states, proj, w_hh_t, z, k, relu, reverse, start, stop):
    steps = proj.shape[0]
    for s in range(steps):
        t = steps - 1 - s if reverse else s
        prev = t + 1 if reverse else t
        now = t if reverse else t + 1
        matmul_into(z, states[prev, start:stop], w_hh_t)      # rows sliced here: see the LSTM's
        _rnn_step_loops(z, proj[t, start:stop], states[now, start:stop], k, relu)


_rnn_forward_loops.helpers = (_tanh_f32, _rnn_step_loops, matmul_into)
_rnn_forward_loops.blas = True


@kernels.loops(_rnn_forward_loops)
def rnn_forward(xp, states, proj, w_hh_t, z, k, relu, reverse, start, stop):
    """The Elman RNN's recurrence over the batch rows ``start:stop``, every step:
    ``z = h_{t-1} @ W_hh^T`` (into the buffer ``z`` in host memory), then
    :func:`rnn_tanh_cell` or :func:`rnn_relu_cell` (``relu``). ``states`` (T + 1, N, H) in slot
    order, ``proj`` (T, N, H) the input projections with both biases. Compiled as
    :func:`lstm_forward` is, the cells written as loops with the fused cells' float32
    arithmetic (``k`` their constants)."""
    cell = rnn_relu_cell if relu else rnn_tanh_cell
    rows = slice(start, stop)
    steps = proj.shape[0]
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        prev, now = (t + 1, t) if reverse else (t, t + 1)
        cell(xp, _product(xp, states[prev, rows, :], w_hh_t, z), proj[t, rows, :],
             states[now, rows, :])


def _rnn_backward_loops(grad_out, grad_h_last, states, grad_z, w_hh, grad_h, grad_h0, k, relu,
                        reverse, want_h0, start, stop):
    steps = grad_z.shape[0]
    grad_h[...] = grad_h_last[start:stop]
    for s in range(steps):
        t = s if reverse else steps - 1 - s
        now = t if reverse else t + 1
        _rnn_step_backward_loops(grad_out[t, start:stop], grad_h, states[now, start:stop],
                                 grad_z[t, start:stop], k, relu)
        _next_grad_h(grad_h, grad_h0[start:stop], grad_z[t, start:stop], w_hh, s == steps - 1,
                     want_h0)


_rnn_backward_loops.helpers = (_rnn_step_backward_loops, _next_grad_h, matmul_into)
_rnn_backward_loops.blas = True


@kernels.loops(_rnn_backward_loops)
def rnn_backward(xp, grad_out, grad_h_last, states, grad_z, w_hh, grad_h, grad_h0, k, relu,
                 reverse, want_h0, start, stop):
    """Backpropagation through time over the batch rows ``start:stop``, the steps in reverse
    order: the cell's backward (``grad_z`` (T, N, H) written), then
    ``grad_{h_{t-1}} = grad_z_t @ W_hh`` into ``grad_h`` (host memory; None elsewhere); the
    first step's into ``grad_h0`` when ``want_h0``."""
    cell_backward = rnn_relu_cell_backward if relu else rnn_tanh_cell_backward
    rows = slice(start, stop)
    steps = grad_z.shape[0]
    grad_h_t = grad_h_last[rows, :]
    for s, t in enumerate(range(steps) if reverse else range(steps - 1, -1, -1)):
        now = t if reverse else t + 1
        cell_backward(xp, grad_out[t, rows, :], grad_h_t, states[now, rows, :],
                      grad_z[t, rows, :])
        grad_h_t = _next_grad_h_array(xp, grad_z[t, rows, :], w_hh, grad_h, grad_h0, rows,
                                      s == steps - 1, want_h0)


# -- shared plumbing --------------------------------------------------------------------------


class Dims(NamedTuple):
    steps: int
    batch: int
    hidden: int


class _Recurrent(Function):
    """Checks, buffers, the input projection and the weight gradients of rnn, lstm and gru.

    Buffers are time-major, (T, N, ·). The hidden states live in ONE (T + 1)-slot buffer
    ``states`` of which the output and every step's h_{t-1} are views: the state after step t
    is slot ``t + 1`` (running forward; h0 in slot 0) or slot ``t`` (running in reverse; h0 in
    slot T).
    """
    gates = 1            # G: how many H-sized blocks the weight rows hold

    def __init__(self, reverse=False, batch_first=False):
        self.reverse, self.batch_first = bool(reverse), bool(batch_first)

    def time_major(self, a):
        """(N, T, ·) <-> (T, N, ·) when batch_first (a view)."""
        return self.xp.permute_dims(a, (1, 0, 2)) if self.batch_first else a

    def time_major_gradient(self, grad_out):
        """The output's gradient time-major, (T, N, H), and C-contiguous: copied once when
        batch_first, so that each step's (N, H) block has unit strides (the compiled step loops
        ran 3x slower on the strided view)."""
        if not self.batch_first:
            return grad_out
        steps, batch, hidden = grad_out.shape[1], grad_out.shape[0], grad_out.shape[2]
        rows = self.buffer(steps, batch, hidden, grad_out)
        rows[...] = self.time_major(grad_out)
        return rows

    def check(self, x, states, w_ih, w_hh, b_ih, b_hh) -> Dims:
        op, g = self.op_name, self.gates
        layout = "(N, T, input_size)" if self.batch_first else "(T, N, input_size)"
        if x.ndim != 3:
            raise ValueError(f"{op}: x must be 3-D {layout}, got shape {tuple(x.shape)}")
        xp = self.xp
        if not xp.isdtype(x.dtype, "real floating"):
            raise TypeError(f"{op}: x must be floating-point, got dtype "
                            f"{_backend.dtype_name(x.dtype)}; convert it with .float()")
        if w_hh.ndim != 2 or w_hh.shape[0] != g * w_hh.shape[1]:
            raise ValueError(f"{op}: w_hh must be ({g}·H, H), got {tuple(w_hh.shape)}")
        hidden = w_hh.shape[1]
        if w_ih.ndim == 2 and w_ih.shape[0] == g * hidden and w_ih.shape[1] != x.shape[2]:
            raise ValueError(f"{op}: x must be {layout} with input_size = {w_ih.shape[1]} "
                             f"features (the weights'), got shape {tuple(x.shape)}")
        if tuple(w_ih.shape) != (g * hidden, x.shape[2]):
            raise ValueError(f"{op}: w_ih must be ({g * hidden}, {x.shape[2]}) for x "
                             f"{tuple(x.shape)} and hidden size {hidden}, got {tuple(w_ih.shape)}")
        for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
            if b is not None and tuple(b.shape) != (g * hidden,):
                raise ValueError(f"{op}: {name} must be ({g * hidden},), got {tuple(b.shape)}")
        steps, batch = (x.shape[1], x.shape[0]) if self.batch_first else x.shape[:2]
        if steps == 0:
            raise ValueError(f"{op}: x must hold at least one time step, got shape "
                             f"{tuple(x.shape)}")
        for name, s in zip(("h0", "c0"), states):
            if s is not None and tuple(s.shape) != (batch, hidden):
                raise ValueError(f"{op}: {name} must be (N, H) = ({batch}, {hidden}) for x "
                                 f"{tuple(x.shape)}, got {tuple(s.shape)}")
        return Dims(steps, batch, hidden)

    def backward_on_tensors(self, grads):
        """create_graph: BPTT writes into per-sequence buffers, so the gradient is taken through
        the same recurrence written cell by cell with differentiable ops (:meth:`cell`), by a
        nested grad() that records its own graph."""
        from ..autograd import grad
        from .shape import permute, stack
        inputs = self.inputs
        n_states = len(inputs) - 5
        x, states = inputs[0], list(inputs[1:1 + n_states])
        w_ih, w_hh, b_ih, b_hh = inputs[1 + n_states:]
        xt = permute(x, (1, 0, 2)) if self.batch_first else x
        steps, batch, hidden = xt.shape[0], xt.shape[1], w_hh.shape[1]
        backend = self.backend
        states = [s if s is not None else Tensor.from_array(
            backend.xp.zeros((batch, hidden), dtype=x.array.dtype, device=backend.device), False,
            backend) for s in states]
        outs = [None] * steps
        for t in self.order(steps):
            states = self.cell(xt[t], states, w_ih, w_hh, b_ih, b_hh)
            outs[t] = states[0]
        output = stack(outs, 0)
        outputs = [permute(output, (1, 0, 2)) if self.batch_first else output] + states
        wanted = [t for t, need in zip(inputs, self.needs_input_grad) if need]
        found = iter(grad(outputs, wanted, grad_outputs=list(grads), create_graph=True,
                          allow_unused=True))
        return tuple(next(found) if need else None for need in self.needs_input_grad)

    def cell(self, x_t, states, w_ih, w_hh, b_ih, b_hh):
        """One step on Tensors with differentiable ops: the new states (h first)."""
        raise NotImplementedError

    def order(self, steps):
        return range(steps - 1, -1, -1) if self.reverse else range(steps)

    def slot(self, t):
        """The ``states`` slot of the state after step t (h_{t-1}: ``slot(t) - 1``, or + 1 in
        reverse)."""
        return t if self.reverse else t + 1

    def prev_slot(self, t):
        return t + 1 if self.reverse else t

    def project(self, x, w_ih, bias):
        """All input projections in one matmul: (T, N, G·H), from time-major x."""
        xp = self.xp
        y = xp.matmul(xp.reshape(x, (-1, x.shape[2])), xp.matrix_transpose(w_ih))
        if bias is not None:
            y += bias
        return xp.reshape(y, (x.shape[0], x.shape[1], w_ih.shape[0]))

    def transposed(self, w):
        """A C-contiguous copy of w^T: OpenBLAS multiplies by it 25-35% faster than by the
        transposed view, and it is reused by every step."""
        w_t = self.xp.empty((w.shape[1], w.shape[0]), dtype=w.dtype, device=w.device)
        w_t[...] = self.xp.matrix_transpose(w)
        return w_t

    def buffer(self, slots, batch, width, like):
        """An uninitialised (slots, batch, width) array: in host memory one the allocator keeps
        for the next step. Fresh NumPy arrays of these sizes are mapped and unmapped by the C
        library every step: the page faults and unmapping made the LSTM's training step twice
        as slow, and its speed vary by ±20 % from one process to the next (mnist-lstm, batch
        64, on the 2-core VM of benchmarks/RESULTS.md)."""
        return _memory.empty(self.xp, (slots, batch, width), like.dtype, like.device)

    def step_kernel(self, kernel, like):
        """A kernel of the LSTM's or the GRU's (a recurrence, or a cell on whole gate blocks)
        and its constants: the kernel for float32 (whose loops write tanh out), its reference
        for any other dtype, with no constants (a recurrence's steps then call the fused cell's
        array calls)."""
        xp = self.xp
        if like.dtype != xp.float32:
            return kernel.reference, None
        constants = _CONSTANTS_ON.get(self.backend.name)
        if constants is None:   # made once per device: no host-to-device copy per step
            constants = _CONSTANTS_ON[self.backend.name] = xp.asarray(
                _LSTM_CONSTANTS, dtype=xp.float32, device=like.device)
        return kernel, constants

    def first_state_gradient(self, like):
        """The array h0's gradient is written into, piece by piece (:meth:`over_batch`); None
        when h0 needs none."""
        if not self.needs_input_grad[1]:
            return None
        return self.xp.empty(like.shape, dtype=like.dtype, device=like.device)

    def product_buffer(self, batch, width, like):
        """The buffer :func:`_product` writes each step's (N, width) product into (host memory
        only; None elsewhere)."""
        return _memory.product_buffer(self.xp, (batch, width), like.dtype)

    def over_batch(self, run, batch, width, like):
        """``run(rows, buffer)``, the whole recurrence for the batch rows ``rows`` (a slice) with
        ``buffer`` for its products (:meth:`product_buffer`, ``width`` wide), over the batch.

        The rows of a recurrence are independent: in host memory the batch is cut into one
        piece per slab thread and each piece runs all its steps on its own thread, its GEMMs
        single-threaded. A step's GEMM is small (64×128 by 128×512 for the LSTM at batch 64):
        spread over two BLAS threads it synchronised them twice a step, and ran the cells on
        one core; in pieces there is no synchronisation until the end, and the cells run on
        every core too (the LSTM's training step on the 2-core VM: 12.7–13.1 ms in two-thread
        GEMMs, then 8.1–8.3 ms in pieces, in the same few minutes). The pieces' rows are the
        same sums as the whole batch's (a GEMM's rows do not depend on the others). Elsewhere
        (a GPU, one thread) the whole batch is one piece, run in the caller."""
        threads = SLAB_THREADS.threads(self.xp) if batch >= 2 * _MIN_PIECE_ROWS else 1
        pieces = min(threads, batch // _MIN_PIECE_ROWS) if threads > 1 else 1
        if pieces < 2:
            run(slice(0, batch), self.product_buffer(batch, width, like))
            return
        size = -(-batch // pieces)
        ranges = [(start, min(batch, start + size)) for start in range(0, batch, size)]
        buffers = [self.product_buffer(stop - start, width, like) for start, stop in ranges]
        SLAB_THREADS.run(lambda k, slot: run(slice(*ranges[k]), buffers[k]), len(ranges),
                         threads)

    def state_buffer(self, dims, h0, x):
        states = self.buffer(dims.steps + 1, dims.batch, dims.hidden, x)
        states[dims.steps if self.reverse else 0, ...] = 0.0 if h0 is None else h0
        return states

    def outputs(self, states, steps):
        start = 0 if self.reverse else 1
        return self.time_major(states[start:start + steps, ...])

    def save(self, x, w_ih, w_hh, states, dims, biases):
        self.x, self.w_ih, self.w_hh, self.states, self.dims = x, w_ih, w_hh, states, dims
        self.has_bias = (biases[0] is not None, biases[1] is not None)

    def weight_grads(self, grad_z_x, grad_z_h):
        """grad_x, grad_w_ih, grad_b_ih from the (T, N, G·H) gradient of the input projection
        and grad_w_hh from that of the recurrent one: ONE matmul each over all steps."""
        xp, dims = self.xp, self.dims
        grad_z_x = xp.reshape(grad_z_x, (-1, grad_z_x.shape[2]))
        grad_x = None
        if self.needs_input_grad[0]:
            grad_x = self.time_major(xp.reshape(xp.matmul(grad_z_x, self.w_ih),
                                                tuple(self.x.shape)))
        x2 = xp.reshape(self.x, (-1, self.x.shape[2]))
        grad_w_ih = xp.matmul(xp.matrix_transpose(grad_z_x), x2)
        start = 1 if self.reverse else 0
        h_prev = xp.reshape(self.states[start:start + dims.steps, ...], (-1, dims.hidden))
        grad_w_hh = xp.matmul(xp.matrix_transpose(xp.reshape(grad_z_h, (-1, grad_z_h.shape[2]))),
                              h_prev)
        return grad_x, grad_w_ih, xp.sum(grad_z_x, axis=0), grad_w_hh

    def bias_grads(self, grad_b_ih, grad_b_hh):
        return (grad_b_ih if self.has_bias[0] else None, grad_b_hh if self.has_bias[1] else None)


def _split(a, parts):
    """The ``parts`` H-wide column blocks of a (N, parts·H) array (views)."""
    width = a.shape[-1] // parts
    return [a[:, k * width:(k + 1) * width] for k in range(parts)]


def _sum_biases(b_ih, b_hh):
    # both biases add to the same pre-activation, so they are folded into the input projection
    if b_ih is None:
        return b_hh
    return b_ih if b_hh is None else b_ih + b_hh


# -- the ops ----------------------------------------------------------------------------------


class RNN(_Recurrent):
    """h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu."""

    name = "rnn"

    def __init__(self, nonlinearity="tanh", reverse=False, batch_first=False):
        super().__init__(reverse, batch_first)
        self.nonlinearity = nonlinearity

    def cell(self, x_t, states, w_ih, w_hh, b_ih, b_hh):
        from .activation import relu, tanh
        from .linalg import linear
        z = linear(x_t, w_ih, b_ih) + linear(states[0], w_hh, b_hh)
        return [tanh(z) if self.nonlinearity == "tanh" else relu(z)]

    def forward(self, x, h0, w_ih, w_hh, b_ih, b_hh):
        xp = self.xp
        dims = self.check(x, (h0,), w_ih, w_hh, b_ih, b_hh)
        x = self.time_major(x)
        proj = self.project(x, w_ih, _sum_biases(b_ih, b_hh))
        w_hh_t = self.transposed(w_hh)
        states = self.state_buffer(dims, h0, x)
        recurrence, constants = self.step_kernel(rnn_forward, x)
        relu = self.nonlinearity == "relu"

        def run(rows, z_buffer):
            recurrence(xp, states, proj, w_hh_t, z_buffer, constants, relu, self.reverse,
                       rows.start, rows.stop)
        self.over_batch(run, dims.batch, dims.hidden, x)
        self.save(x, w_ih, w_hh, states, dims, (b_ih, b_hh))
        return (self.outputs(states, dims.steps),
                states[self.slot(self.order(dims.steps)[-1]), ...])

    def backward(self, grad_out, grad_h_last):
        xp, dims = self.xp, self.dims
        grad_out = self.time_major_gradient(grad_out)
        grad_z = self.buffer(dims.steps, dims.batch, dims.hidden, grad_out)
        grad_h0 = self.first_state_gradient(grad_h_last)
        recurrence, constants = self.step_kernel(rnn_backward, grad_out)
        relu = self.nonlinearity == "relu"

        def run(rows, h_buffer):
            recurrence(xp, grad_out, grad_h_last, self.states, grad_z, self.w_hh, h_buffer,
                       grad_z[0, ...] if grad_h0 is None else grad_h0, constants, relu,
                       self.reverse, grad_h0 is not None, rows.start, rows.stop)
        self.over_batch(run, dims.batch, dims.hidden, grad_out)
        grad_x, grad_w_ih, grad_b, grad_w_hh = self.weight_grads(grad_z, grad_z)
        return (grad_x, grad_h0, grad_w_ih, grad_w_hh,
                *self.bias_grads(grad_b, grad_b))


class LSTM(_Recurrent):
    """PyTorch's LSTM: gates i, f, g, o; c_t = f·c_{t-1} + i·g, h_t = o·tanh(c_t)."""

    name = "lstm"
    gates = 4

    def cell(self, x_t, states, w_ih, w_hh, b_ih, b_hh):
        from .activation import sigmoid, tanh
        from .linalg import linear
        (h, c), n = states, w_hh.shape[1]
        gates = linear(x_t, w_ih, b_ih) + linear(h, w_hh, b_hh)
        i, f = sigmoid(gates[:, :n]), sigmoid(gates[:, n:2 * n])
        g, o = tanh(gates[:, 2 * n:3 * n]), sigmoid(gates[:, 3 * n:])
        c = f * c + i * g
        return [o * tanh(c), c]

    def forward(self, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        xp = self.xp
        dims = self.check(x, (h0, c0), w_ih, w_hh, b_ih, b_hh)
        steps, batch, hid = dims
        x = self.time_major(x)
        proj = self.project(x, w_ih, _sum_biases(b_ih, b_hh))
        w_hh_t = self.transposed(w_hh)
        states = self.state_buffer(dims, h0, x)
        gates = self.buffer(steps, batch, 4 * hid, x)         # i, f, g, o of every step
        cells = self.buffer(steps + 1, batch, hid, x)          # c, in the states' slot order
        cells[self.prev_slot(self.order(steps)[0]), ...] = 0.0 if c0 is None else c0
        tanh_c = self.buffer(steps, batch, hid, x)
        recurrence, constants = self.step_kernel(lstm_forward, x)

        def run(rows, z_buffer):
            recurrence(xp, states, proj, w_hh_t, cells, gates, tanh_c, z_buffer, constants,
                       self.reverse, rows.start, rows.stop)
        self.over_batch(run, batch, 4 * hid, x)
        self.save(x, w_ih, w_hh, states, dims, (b_ih, b_hh))
        self.gates_, self.cells, self.tanh_c = gates, cells, tanh_c
        last = self.slot(self.order(steps)[-1])
        return self.outputs(states, steps), states[last, ...], cells[last, ...]

    def backward(self, grad_out, grad_h_last, grad_c_last):
        xp, dims = self.xp, self.dims
        grad_out = self.time_major_gradient(grad_out)
        grad_z = self.buffer(dims.steps, dims.batch, 4 * dims.hidden, grad_out)
        grad_c = xp.empty_like(grad_c_last)       # updated in place by every step's cell
        grad_c[...] = grad_c_last
        grad_h0 = self.first_state_gradient(grad_h_last)
        recurrence, constants = self.step_kernel(lstm_backward, grad_out)

        def run(rows, h_buffer):
            recurrence(xp, grad_out, grad_h_last, grad_c, self.gates_, self.cells, self.tanh_c,
                       grad_z, self.w_hh, h_buffer, grad_c if grad_h0 is None else grad_h0,
                       constants, self.reverse, grad_h0 is not None, rows.start, rows.stop)
        self.over_batch(run, dims.batch, dims.hidden, grad_out)
        grad_x, grad_w_ih, grad_b, grad_w_hh = self.weight_grads(grad_z, grad_z)
        return (grad_x, grad_h0,
                grad_c if self.needs_input_grad[2] else None, grad_w_ih, grad_w_hh,
                *self.bias_grads(grad_b, grad_b))


class GRU(_Recurrent):
    """PyTorch's GRU: gates r, z, n; n = tanh(W_in x + b_in + r·(W_hn h + b_hn))."""

    name = "gru"
    gates = 3

    def cell(self, x_t, states, w_ih, w_hh, b_ih, b_hh):
        from .activation import sigmoid, tanh
        from .linalg import linear
        (h,), n = states, w_hh.shape[1]
        gi, gh = linear(x_t, w_ih, b_ih), linear(h, w_hh, b_hh)
        r = sigmoid(gi[:, :n] + gh[:, :n])
        z = sigmoid(gi[:, n:2 * n] + gh[:, n:2 * n])
        candidate = tanh(gi[:, 2 * n:] + r * gh[:, 2 * n:])
        return [(1.0 - z) * candidate + z * h]

    def forward(self, x, h0, w_ih, w_hh, b_ih, b_hh):
        xp = self.xp
        dims = self.check(x, (h0,), w_ih, w_hh, b_ih, b_hh)
        steps, batch, hid = dims
        x = self.time_major(x)
        proj = self.project(x, w_ih, b_ih)
        w_hh_t = self.transposed(w_hh)
        recurrence, constants = self.step_kernel(gru_forward, x)
        bias = b_hh
        if bias is None and constants is not None:   # the loops and the CUDA kernel read an array
            bias = xp.zeros((3 * hid,), dtype=x.dtype, device=x.device)
        states = self.state_buffer(dims, h0, x)
        gates = self.buffer(steps, batch, 4 * hid, x)         # r, z, n and h_n of every step

        def run(rows, u_buffer):
            recurrence(xp, states, proj, w_hh_t, bias, gates, u_buffer, constants, self.reverse,
                       rows.start, rows.stop)
        self.over_batch(run, batch, 3 * hid, x)
        self.save(x, w_ih, w_hh, states, dims, (b_ih, b_hh))
        self.gates_ = gates
        return self.outputs(states, steps), states[self.slot(self.order(steps)[-1]), ...]

    def backward(self, grad_out, grad_h_last):
        xp, dims = self.xp, self.dims
        grad_out = self.time_major_gradient(grad_out)
        grad_a = self.buffer(dims.steps, dims.batch, 3 * dims.hidden, grad_out)  # x W_ih^T + b_ih
        grad_u = self.buffer(dims.steps, dims.batch, 3 * dims.hidden, grad_out)  # h W_hh^T + b_hh
        grad_h_direct = xp.zeros_like(grad_h_last)    # h_prev's z·h part, updated in place
        grad_h0 = self.first_state_gradient(grad_h_last)
        recurrence, constants = self.step_kernel(gru_backward, grad_out)

        def run(rows, h_buffer):
            recurrence(xp, grad_out, grad_h_last, grad_h_direct, self.gates_, self.states,
                       grad_a, grad_u, self.w_hh, h_buffer,
                       grad_h_direct if grad_h0 is None else grad_h0, constants, self.reverse,
                       grad_h0 is not None, rows.start, rows.stop)
        self.over_batch(run, dims.batch, dims.hidden, grad_out)
        if grad_h0 is not None:
            grad_h0 = grad_h0 + grad_h_direct
        grad_x, grad_w_ih, grad_b_ih, grad_w_hh = self.weight_grads(grad_a, grad_u)
        grad_b_hh = xp.sum(xp.reshape(grad_u, (-1, 3 * dims.hidden)), axis=0)
        return (grad_x, grad_h0, grad_w_ih, grad_w_hh, *self.bias_grads(grad_b_ih, grad_b_hh))


# -- public functions -------------------------------------------------------------------------


def rnn(x: Tensor, h0: Tensor | None, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
        b_hh: Tensor | None = None, nonlinearity: str = "tanh", reverse: bool = False,
        batch_first: bool = False):
    """Elman RNN over a whole sequence: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).

    Args:
        x: (T, N, input_size), or (N, T, input_size) with ``batch_first``.
        h0: (N, H) initial state, or None for zeros.
        w_ih, w_hh: (H, input_size) and (H, H); b_ih, b_hh: (H,) or None.
        nonlinearity: 'tanh' or 'relu'.
        reverse: run from the last step to the first (the backward half of a bidirectional RNN);
            the output stays in time order.

    Returns: ``(output, h_T)``, output (T, N, H) (or (N, T, H)), h_T (N, H) the last state.

    >>> x, w_ih, w_hh = xpnet.randn(5, 2, 3), xpnet.randn(4, 3), xpnet.randn(4, 4)
    >>> output, h_last = rnn(x, None, w_ih, w_hh)
    >>> output.shape, h_last.shape
    ((5, 2, 4), (2, 4))
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return RNN(nonlinearity, reverse, batch_first)(x, h0, w_ih, w_hh, b_ih, b_hh)


def lstm(x: Tensor, h0: Tensor | None, c0: Tensor | None, w_ih: Tensor, w_hh: Tensor,
         b_ih: Tensor | None = None, b_hh: Tensor | None = None, reverse: bool = False,
         batch_first: bool = False):
    """LSTM over a whole sequence, PyTorch's gate order i, f, g, o in the 4H weight rows.

    i, f, o = σ(·), g = tanh(·) of W_ih x_t + b_ih + W_hh h_{t-1} + b_hh;
    c_t = f·c_{t-1} + i·g;  h_t = o·tanh(c_t).

    Args:
        x: (T, N, input_size), or (N, T, input_size) with ``batch_first``.
        h0, c0: (N, H) initial states, or None for zeros.
        w_ih, w_hh: (4H, input_size) and (4H, H); b_ih, b_hh: (4H,) or None.
        reverse: run from the last step to the first; the output stays in time order.

    Returns: ``(output, h_T, c_T)``; all three are differentiable.

    >>> x, w_ih, w_hh = xpnet.randn(5, 2, 3), xpnet.randn(16, 3), xpnet.randn(16, 4)
    >>> output, h_last, c_last = lstm(x, None, None, w_ih, w_hh)
    >>> output.shape, c_last.shape
    ((5, 2, 4), (2, 4))
    """
    return LSTM(reverse, batch_first)(x, h0, c0, w_ih, w_hh, b_ih, b_hh)


def gru(x: Tensor, h0: Tensor | None, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
        b_hh: Tensor | None = None, reverse: bool = False, batch_first: bool = False):
    """GRU over a whole sequence, PyTorch's gate order r, z, n in the 3H weight rows.

    r, z = σ(W_i· x_t + b_i· + W_h· h_{t-1} + b_h·);  n = tanh(W_in x_t + b_in + r·(W_hn h + b_hn));
    h_t = (1 - z)·n + z·h_{t-1}.

    Args and returns as :func:`rnn` (w_ih (3H, in), w_hh (3H, H), biases (3H,)).

    >>> x, w_ih, w_hh = xpnet.randn(5, 2, 3), xpnet.randn(12, 3), xpnet.randn(12, 4)
    >>> output, h_last = gru(x, None, w_ih, w_hh)
    >>> output.shape
    (5, 2, 4)
    """
    return GRU(reverse, batch_first)(x, h0, w_ih, w_hh, b_ih, b_hh)
