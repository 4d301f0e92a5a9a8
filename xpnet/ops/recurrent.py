"""Whole-sequence recurrent ops: rnn (tanh / relu), lstm, gru.

Each op is one Function over a whole sequence, one layer and one direction:

* the input projections of all time steps are ONE matmul, ``(T·N, in) @ (in, G·H)``, before the
  loop; the loop over time does only the recurrence ``h_{t-1} @ W_hh^T`` and the gate math;
* backward is backpropagation through time over the stored gate activations; the gradients of
  ``W_hh``, ``W_ih`` and ``x`` are ONE matmul each after the loop, over all time steps stacked;
* the per-step gate math is written once as elementwise functions of ``xp`` and wrapped with
  :func:`xpnet.backend.fuse` (one CuPy kernel per step and direction; plain calls elsewhere).

Weights follow PyTorch: ``w_ih (G·H, in)``, ``w_hh (G·H, H)``, biases ``(G·H,)`` with the gates
stacked in PyTorch's order (LSTM: i, f, g, o; GRU: r, z, n), so torch weights load unchanged.
Hidden states go straight into one (T + 1)-slot buffer, of which the output and the stacked
h_{t-1} are views; step gradients are written into one preallocated (T, N, G·H) buffer.
"""
from __future__ import annotations

from .. import backend as _backend
from ..autograd import Function, Tensor

# -- the per-step gate math, written once ---------------------------------------------------
# Written with in-place operators on fresh temporaries (never on the inputs): on NumPy every
# avoided temporary saves an allocation and a trip through memory (about 2.5x faster per step at
# batch 256); cupy.fuse compiles the same code into one kernel either way.


def _sigmoid(xp, z):
    s = xp.tanh(0.5 * z)  # 1/(1 + e^-z) through tanh: one transcendental, no overflow
    s *= 0.5
    s += 0.5
    return s


@_backend.fuse
def lstm_step(xp, z_i, z_f, z_g, z_o, c_prev):
    """Gates from pre-activations; c = f·c_prev + i·g, h = o·tanh(c)."""
    i, f, g, o = _sigmoid(xp, z_i), _sigmoid(xp, z_f), xp.tanh(z_g), _sigmoid(xp, z_o)
    c = f * c_prev
    c += i * g
    tanh_c = xp.tanh(c)
    return i, f, g, o, c, tanh_c, o * tanh_c


@_backend.fuse
def lstm_step_backward(xp, grad_h, grad_c, i, f, g, o, c_prev, tanh_c):
    """Gradients of the four pre-activations and of c_prev, given those of h and c."""
    minus = tanh_c * tanh_c
    minus -= 1.0
    minus *= o
    minus *= grad_h                       # -grad_h·o·(1 - tanh(c)²)
    grad_c = grad_c - minus
    grad_z_i = 1.0 - i                    # each: (σ' or tanh') · what the gate multiplies
    grad_z_i *= i
    grad_z_i *= g
    grad_z_i *= grad_c
    grad_z_f = 1.0 - f
    grad_z_f *= f
    grad_z_f *= c_prev
    grad_z_f *= grad_c
    grad_z_g = g * g
    grad_z_g -= 1.0
    grad_z_g *= i
    grad_z_g *= grad_c
    grad_z_g *= -1.0
    grad_z_o = 1.0 - o
    grad_z_o *= o
    grad_z_o *= tanh_c
    grad_z_o *= grad_h
    grad_c *= f
    return grad_z_i, grad_z_f, grad_z_g, grad_z_o, grad_c


@_backend.fuse
def gru_step(xp, x_r, x_z, x_n, h_r, h_z, h_n, h_prev):
    """r, z = σ(x + h parts); n = tanh(x_n + r·h_n); h = (1 - z)·n + z·h_prev."""
    r = _sigmoid(xp, x_r + h_r)
    z = _sigmoid(xp, x_z + h_z)
    n = r * h_n
    n += x_n
    n = xp.tanh(n)
    h = h_prev - n
    h *= z
    h += n
    return r, z, n, h


@_backend.fuse
def gru_step_backward(xp, grad_h, r, z, n, h_n, h_prev):
    """Gradients of the r, z, n pre-activations, of the hidden part h_n, and h_prev's direct part."""
    grad_a_n = 1.0 - z
    grad_a_n *= grad_h
    square = n * n
    square *= grad_a_n
    grad_a_n -= square                    # grad_h·(1 - z)·(1 - n²)
    grad_a_z = h_prev - n
    grad_a_z *= grad_h
    grad_a_z *= z
    grad_a_z *= 1.0 - z
    grad_a_r = grad_a_n * h_n
    grad_a_r *= r
    grad_a_r *= 1.0 - r
    return grad_a_r, grad_a_z, grad_a_n, grad_a_n * r, grad_h * z


@_backend.fuse
def rnn_tanh_backward(xp, grad_h, h):
    grad_z = h * h
    grad_z -= 1.0
    grad_z *= grad_h
    grad_z *= -1.0
    return grad_z


@_backend.fuse
def rnn_relu_backward(xp, grad_h, h):
    return grad_h * xp.sign(h)  # h = relu(z) >= 0, so sign(h) is relu'(z) (0 at z = 0, as torch)


def _relu(xp, z):
    return xp.maximum(z, 0.0)


# -- shared plumbing --------------------------------------------------------------------------


class _Recurrent(Function):
    """Checks, the input projection and the weight gradients shared by rnn, lstm and gru."""

    gates = 1            # G: how many H-sized blocks the weight rows hold
    n_states = 1         # 1 (h) or 2 (h, c)

    def __init__(self, reverse=False, batch_first=False):
        self.reverse, self.batch_first = bool(reverse), bool(batch_first)

    @staticmethod
    def _at(a, t):
        return a[t, ...]

    def time_major(self, a):
        """(N, T, ·) <-> (T, N, ·) when batch_first (a view): the loop always runs time-major, so
        every step reads and writes contiguous blocks."""
        return self.xp.permute_dims(a, (1, 0, 2)) if self.batch_first else a

    def check(self, x, states, w_ih, w_hh, b_ih, b_hh):
        op, g = self.op_name, self.gates
        layout = "(N, T, input_size)" if self.batch_first else "(T, N, input_size)"
        if x.ndim != 3:
            raise ValueError(f"{op}: x must be 3-D {layout}, got shape {tuple(x.shape)}")
        if w_hh.ndim != 2 or w_hh.shape[0] != g * w_hh.shape[1]:
            raise ValueError(f"{op}: w_hh must be ({g}·H, H), got {tuple(w_hh.shape)}")
        hidden = w_hh.shape[1]
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
        self.steps, self.batch, self.hidden = steps, batch, hidden
        self.order = range(steps - 1, -1, -1) if self.reverse else range(steps)
        return steps, batch, hidden

    def project(self, x, w_ih, bias):
        """All input projections in one matmul: (T, N, G·H), from time-major x."""
        xp = self.xp
        self.x, self.w_ih = x, w_ih
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

    def initial(self, state, x):
        if state is not None:
            return state
        return self.xp.zeros((self.batch, self.hidden), dtype=x.dtype, device=x.device)

    def buffer(self, slots, width, like):
        """An uninitialised (slots, N, width) array."""
        return self.xp.empty((slots, self.batch, width), dtype=like.dtype, device=like.device)

    @staticmethod
    def _put(a, t, value, start=None, stop=None):
        """a[t] = value (columns start:stop only, if given)."""
        a[t, :, start:stop] = value

    def state_buffer(self, h0, x):
        """T + 1 slots of hidden states, so that the outputs and the h_{t-1} of
        every step are both views of it (no stacking). Slot ``t + shift`` holds the state after
        step t, slot ``t + 1 - shift`` the one before (shift is 0 when running in reverse)."""
        self.shift = 0 if self.reverse else 1
        buf = self.buffer(self.steps + 1, self.hidden, x)
        self._put(buf, self.steps if self.reverse else 0, 0.0 if h0 is None else h0)
        return buf

    def _time_slice(self, a, start):
        return a[start:start + self.steps, ...]

    def outputs(self, buf):
        return self.time_major(self._time_slice(buf, self.shift))

    def h_before(self, t):
        return self._at(self.states, t + 1 - self.shift)

    def input_grads(self, grad_z_x):
        """grad_x and grad_w_ih from the (T, N, G·H) gradient of the input projection."""
        xp = self.xp
        grad_z_x = xp.reshape(grad_z_x, (-1, grad_z_x.shape[2]))
        grad_x = None
        if self.needs_input_grad[0]:
            grad_x = self.time_major(xp.reshape(xp.matmul(grad_z_x, self.w_ih),
                                                tuple(self.x.shape)))
        x2 = xp.reshape(self.x, (-1, self.x.shape[2]))
        return grad_x, xp.matmul(xp.matrix_transpose(grad_z_x), x2), xp.sum(grad_z_x, axis=0)

    def hidden_grad(self, grad_z_h):
        """grad_w_hh as ONE matmul over all steps: (G·H, T·N) @ (T·N, H) of the h_{t-1}."""
        xp = self.xp
        h_prev = self._time_slice(self.states, 1 - self.shift)
        return xp.matmul(xp.matrix_transpose(xp.reshape(grad_z_h, (-1, grad_z_h.shape[2]))),
                         xp.reshape(h_prev, (-1, self.hidden)))


# -- the ops ----------------------------------------------------------------------------------


class RNN(_Recurrent):
    """h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu."""

    name = "rnn"

    def __init__(self, nonlinearity="tanh", reverse=False, batch_first=False):
        super().__init__(reverse, batch_first)
        self.nonlinearity = nonlinearity

    def forward(self, x, h0, w_ih, w_hh, b_ih, b_hh):
        xp = self.xp
        self.check(x, (h0,), w_ih, w_hh, b_ih, b_hh)
        x = self.time_major(x)
        act = xp.tanh if self.nonlinearity == "tanh" else (lambda z: _relu(xp, z))
        proj = self.project(x, w_ih, _sum_biases(b_ih, b_hh))
        w_hh_t = self.transposed(w_hh)
        self.states = states = self.state_buffer(h0, x)
        for t in self.order:
            z = xp.matmul(self.h_before(t), w_hh_t)
            z += self._at(proj, t)
            h = act(z)
            self._put(states, t + self.shift, h)
        self.w_hh, self.has_bias = w_hh, (b_ih is not None, b_hh is not None)
        return self.outputs(states), h

    def backward(self, grad_out, grad_h_last):
        xp = self.xp
        grad_out = self.time_major(grad_out)
        step_backward = rnn_tanh_backward if self.nonlinearity == "tanh" else rnn_relu_backward
        grad_h, grad_z = grad_h_last, self.buffer(self.steps, self.hidden, grad_out)
        for k, t in enumerate(reversed(self.order)):
            g = step_backward(xp, self._at(grad_out, t) + grad_h,
                              self._at(self.states, t + self.shift))
            self._put(grad_z, t, g)
            if k < self.steps - 1 or self.needs_input_grad[1]:
                grad_h = xp.matmul(g, self.w_hh)
        grad_x, grad_w_ih, grad_b = self.input_grads(grad_z)
        return (grad_x, grad_h if self.needs_input_grad[1] else None, grad_w_ih,
                self.hidden_grad(grad_z), grad_b if self.has_bias[0] else None,
                grad_b if self.has_bias[1] else None)


class LSTM(_Recurrent):
    """PyTorch's LSTM: gates i, f, g, o; c_t = f·c_{t-1} + i·g, h_t = o·tanh(c_t)."""

    name = "lstm"
    gates = 4

    def forward(self, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        xp = self.xp
        steps, _, hid = self.check(x, (h0, c0), w_ih, w_hh, b_ih, b_hh)
        x = self.time_major(x)
        proj = self.project(x, w_ih, _sum_biases(b_ih, b_hh))
        w_hh_t = self.transposed(w_hh)
        self.states = states = self.state_buffer(h0, x)
        c = self.initial(c0, x)
        c_prev, saved = [None] * steps, [None] * steps
        for t in self.order:
            c_prev[t] = c
            z = xp.matmul(self.h_before(t), w_hh_t)
            z += self._at(proj, t)
            i, f, g, o, c, tanh_c, h = lstm_step(xp, z[:, :hid], z[:, hid:2 * hid],
                                                 z[:, 2 * hid:3 * hid], z[:, 3 * hid:], c)
            self._put(states, t + self.shift, h)
            saved[t] = (i, f, g, o, tanh_c)
        self.c_prev, self.saved, self.w_hh = c_prev, saved, w_hh
        self.has_bias = (b_ih is not None, b_hh is not None)
        return self.outputs(states), h, c

    def backward(self, grad_out, grad_h_last, grad_c_last):
        xp = self.xp
        grad_out = self.time_major(grad_out)
        hid = self.hidden
        grad_h, grad_c = grad_h_last, grad_c_last
        grad_z = self.buffer(self.steps, 4 * hid, grad_out)   # written in place, step by step
        for k, t in enumerate(reversed(self.order)):
            i, f, g, o, tanh_c = self.saved[t]
            *parts, grad_c = lstm_step_backward(xp, self._at(grad_out, t) + grad_h, grad_c,
                                                i, f, g, o, self.c_prev[t], tanh_c)
            for j, part in enumerate(parts):
                self._put(grad_z, t, part, j * hid, (j + 1) * hid)
            if k < self.steps - 1 or self.needs_input_grad[1]:
                grad_h = xp.matmul(self._at(grad_z, t), self.w_hh)
        grad_x, grad_w_ih, grad_b = self.input_grads(grad_z)
        return (grad_x, grad_h if self.needs_input_grad[1] else None,
                grad_c if self.needs_input_grad[2] else None, grad_w_ih, self.hidden_grad(grad_z),
                grad_b if self.has_bias[0] else None, grad_b if self.has_bias[1] else None)


class GRU(_Recurrent):
    """PyTorch's GRU: gates r, z, n; n = tanh(W_in x + b_in + r·(W_hn h + b_hn))."""

    name = "gru"
    gates = 3

    def forward(self, x, h0, w_ih, w_hh, b_ih, b_hh):
        xp = self.xp
        steps, _, hid = self.check(x, (h0,), w_ih, w_hh, b_ih, b_hh)
        x = self.time_major(x)
        proj = self.project(x, w_ih, b_ih)
        w_hh_t = self.transposed(w_hh)
        self.states = states = self.state_buffer(h0, x)
        saved = [None] * steps
        for t in self.order:
            a = self._at(proj, t)
            u = xp.matmul(self.h_before(t), w_hh_t)
            if b_hh is not None:
                u += b_hh
            r, z, n, h = gru_step(xp, a[:, :hid], a[:, hid:2 * hid], a[:, 2 * hid:],
                                  u[:, :hid], u[:, hid:2 * hid], u[:, 2 * hid:], self.h_before(t))
            self._put(states, t + self.shift, h)
            saved[t] = (r, z, n, u[:, 2 * hid:])
        self.saved, self.w_hh = saved, w_hh
        self.has_bias = (b_ih is not None, b_hh is not None)
        return self.outputs(states), h

    def backward(self, grad_out, grad_h_last):
        xp = self.xp
        grad_out = self.time_major(grad_out)
        steps, hid = self.steps, self.hidden
        grad_h = grad_h_last
        grad_a = self.buffer(steps, 3 * hid, grad_out)   # of x W_ih^T + b_ih
        grad_u = self.buffer(steps, 3 * hid, grad_out)   # of h W_hh^T + b_hh
        for k, t in enumerate(reversed(self.order)):
            r, z, n, h_n = self.saved[t]
            g_r, g_z, g_n, g_hn, grad_h_direct = gru_step_backward(
                xp, self._at(grad_out, t) + grad_h, r, z, n, h_n, self.h_before(t))
            for j, (part_a, part_u) in enumerate(((g_r, g_r), (g_z, g_z), (g_n, g_hn))):
                self._put(grad_a, t, part_a, j * hid, (j + 1) * hid)
                self._put(grad_u, t, part_u, j * hid, (j + 1) * hid)
            if k < steps - 1 or self.needs_input_grad[1]:
                grad_h = xp.matmul(self._at(grad_u, t), self.w_hh)
                grad_h += grad_h_direct
        grad_x, grad_w_ih, grad_b_ih = self.input_grads(grad_a)
        grad_b_hh = xp.sum(xp.reshape(grad_u, (-1, 3 * hid)), axis=0)
        return (grad_x, grad_h if self.needs_input_grad[1] else None, grad_w_ih,
                self.hidden_grad(grad_u), grad_b_ih if self.has_bias[0] else None,
                grad_b_hh if self.has_bias[1] else None)


def _sum_biases(b_ih, b_hh):
    # both biases add to the same pre-activation, so they are folded into the input projection
    if b_ih is None:
        return b_hh
    return b_ih if b_hh is None else b_ih + b_hh


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

    >>> output, h_last = rnn(x, None, w_ih, w_hh, b_ih, b_hh)      # doctest: +SKIP
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

    >>> output, h_last, c_last = lstm(x, None, None, w_ih, w_hh, b_ih, b_hh)  # doctest: +SKIP
    """
    return LSTM(reverse, batch_first)(x, h0, c0, w_ih, w_hh, b_ih, b_hh)


def gru(x: Tensor, h0: Tensor | None, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
        b_hh: Tensor | None = None, reverse: bool = False, batch_first: bool = False):
    """GRU over a whole sequence, PyTorch's gate order r, z, n in the 3H weight rows.

    r, z = σ(W_i· x_t + b_i· + W_h· h_{t-1} + b_h·);  n = tanh(W_in x_t + b_in + r·(W_hn h + b_hn));
    h_t = (1 - z)·n + z·h_{t-1}.

    Args and returns as :func:`rnn` (w_ih (3H, in), w_hh (3H, H), biases (3H,)).

    >>> output, h_last = gru(x, None, w_ih, w_hh, b_ih, b_hh)      # doctest: +SKIP
    """
    return GRU(reverse, batch_first)(x, h0, w_ih, w_hh, b_ih, b_hh)
