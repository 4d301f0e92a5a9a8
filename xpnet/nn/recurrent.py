"""Recurrent layers: RNN, LSTM, GRU (multi-layer, bidirectional) and the single-step cells.

Parameter names, shapes, gate order and initialisation are PyTorch's, so a torch ``state_dict``
loads with ``load_state_dict`` and gives the same outputs.
"""
from __future__ import annotations

import math

from .. import ops
from ..autograd import Tensor
from . import init
from ..checks import positive_int, probability
from .module import Module, Parameter

_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _uniform(shape, hidden_size, device, dtype):
    bound = 1 / math.sqrt(hidden_size)  # PyTorch's default for every recurrent weight and bias
    return Parameter(init.uniform(shape, -bound, bound, device, dtype))


class _RNNBase(Module):
    kind = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 *, device=None, dtype=None):
        input_size = positive_int(self.kind, "input_size", input_size)
        hidden_size = positive_int(self.kind, "hidden_size", hidden_size)
        num_layers = positive_int(self.kind, "num_layers", num_layers)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.dropout = probability(self.kind, "dropout", dropout)
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        rows = _GATES[self.kind] * hidden_size
        self._weights = []  # per (layer, direction): the names of w_ih, w_hh, b_ih, b_hh
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * self.num_directions
            for direction in range(self.num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                names = [f"weight_ih{suffix}", f"weight_hh{suffix}"]
                setattr(self, names[0], _uniform((rows, layer_in), hidden_size, device, dtype))
                setattr(self, names[1], _uniform((rows, hidden_size), hidden_size, device, dtype))
                if bias:
                    names += [f"bias_ih{suffix}", f"bias_hh{suffix}"]
                    setattr(self, names[2], _uniform((rows,), hidden_size, device, dtype))
                    setattr(self, names[3], _uniform((rows,), hidden_size, device, dtype))
                self._weights.append(names)

    def _params(self, k):
        names = self._weights[k]
        w = [getattr(self, n) for n in names]
        return w if self.bias else w + [None, None]

    def _check_input(self, x):
        if not isinstance(x, Tensor):
            raise self._error(f"input must be a Tensor, got {type(x).__name__}", TypeError)

    def _check_state(self, name, state, x):
        """The stacked (num_layers·num_directions, N, H) states are this layer's own fact (the
        ops see one (N, H) slice each); everything about x is checked by the op."""
        if not isinstance(state, Tensor):
            raise self._error(f"{name} must be a Tensor, got {type(state).__name__}", TypeError)
        if x.ndim != 3:
            return                      # the op reports the input's layout
        batch = x.shape[0] if self.batch_first else x.shape[1]
        expected = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if state.shape != expected:
            hint = ""
            if state.ndim == 3 and state.shape[1] != batch:
                hint = (f"; the batch sizes differ: is batch_first={self.batch_first} right for "
                        f"an input of shape {x.shape}?")
            raise self._error(f"{name} must be (num_layers·num_directions, N, H) = {expected}, "
                              f"got {state.shape}{hint}")

    def forward(self, x, hx=None):
        """(output, h_n); LSTM overrides this for its (h, c) pair."""
        self._check_input(x)
        if hx is not None:
            self._check_state("h0", hx, x)
        output, (h_n,) = self._run(x, [hx])
        return output, h_n

    def _run(self, x, states):
        """All layers and directions; ``states`` is a list (h0[, c0]) of (L·D, N, H) or None."""
        outputs_last = [[] for _ in range(len(states))]
        layer_input = x
        for layer in range(self.num_layers):
            outs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                init_states = [None if s is None else s[k] for s in states]
                out, *last = self._op(layer_input, init_states, self._params(k), bool(direction))
                outs.append(out)
                for store, value in zip(outputs_last, last):
                    store.append(value)
            layer_input = outs[0] if len(outs) == 1 else ops.concat(outs, axis=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = ops.dropout(layer_input, self.dropout)
        return layer_input, [ops.stack(s, axis=0) for s in outputs_last]

    def flatten_parameters(self):
        """Accepted and does nothing, as PyTorch's scripts call it: xpnet's weights need no
        cuDNN flattening (the whole sequence's input projections are already one matmul)."""
        return None

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s


class RNN(_RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu), stacked.

    Args:
        input_size, hidden_size: features of x and of h.
        num_layers: stacked layers, each fed the previous one's output.
        nonlinearity: 'tanh' (default) or 'relu'.
        bias: learn b_ih and b_hh (default True).
        batch_first: input and output are (N, T, ·) instead of (T, N, ·).
        dropout: dropout on each layer's output except the last, while training.
        bidirectional: also run each layer from the last step to the first and concatenate.

    Shape: input (T, N, input_size) (or (N, T, ·)), h0 (num_layers·D, N, H) ->
        output (T, N, D·H), h_n (num_layers·D, N, H), with D = 2 if bidirectional else 1.

    >>> output, h_n = RNN(28, 64)(xpnet.randn(5, 8, 28))       # T = 5 steps, N = 8
    >>> output.shape, h_n.shape
    ((5, 8, 64), (1, 8, 64))
    """

    kind = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, *, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)

    def _op(self, x, states, params, reverse):
        return ops.rnn(x, states[0], *params, nonlinearity=self.nonlinearity, reverse=reverse,
                       batch_first=self.batch_first)

    def extra_repr(self):
        extra = f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else ""
        return super().extra_repr() + extra


class LSTM(_RNNBase):
    """Long short-term memory, PyTorch's gates i, f, g, o:
    c_t = f·c_{t-1} + i·g, h_t = o·tanh(c_t).

    Args: as :class:`RNN` (no nonlinearity).

    Shape: input (T, N, input_size) (or (N, T, ·)), hx = (h0, c0) each (num_layers·D, N, H) ->
        output (T, N, D·H), (h_n, c_n) each (num_layers·D, N, H).

    >>> output, (h_n, c_n) = LSTM(28, 128, batch_first=True)(xpnet.randn(8, 28, 28))
    >>> output.shape, c_n.shape
    ((8, 28, 128), (1, 8, 128))
    """

    kind = "LSTM"

    def _op(self, x, states, params, reverse):
        return ops.lstm(x, states[0], states[1], *params, reverse=reverse,
                        batch_first=self.batch_first)

    def forward(self, x, hx=None):
        self._check_input(x)
        states = [None, None]
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise self._error(f"hx must be a tuple (h0, c0), got {type(hx).__name__}",
                                  TypeError)
            for name, s in zip(("h0", "c0"), hx):
                self._check_state(name, s, x)
            states = list(hx)
        output, (h_n, c_n) = self._run(x, states)
        return output, (h_n, c_n)


class GRU(_RNNBase):
    """Gated recurrent unit, PyTorch's gates r, z, n:
    n = tanh(W_in x + b_in + r·(W_hn h + b_hn)), h_t = (1 - z)·n + z·h_{t-1}.

    Args and shapes: as :class:`RNN` (no nonlinearity).

    >>> output, h_n = GRU(28, 32, num_layers=2)(xpnet.randn(5, 8, 28))
    >>> h_n.shape
    (2, 8, 32)
    """

    kind = "GRU"

    def _op(self, x, states, params, reverse):
        return ops.gru(x, states[0], *params, reverse=reverse, batch_first=self.batch_first)


# -- single-step cells --------------------------------------------------------------------------


class _CellBase(Module):
    kind = "RNNCell"
    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, device=None,
                 dtype=None):
        self.input_size = input_size = positive_int(self.kind, "input_size", input_size)
        self.hidden_size = hidden_size = positive_int(self.kind, "hidden_size", hidden_size)
        self.bias = bool(bias)
        rows = self.gates * hidden_size
        self.weight_ih = _uniform((rows, input_size), hidden_size, device, dtype)
        self.weight_hh = _uniform((rows, hidden_size), hidden_size, device, dtype)
        self.bias_ih = _uniform((rows,), hidden_size, device, dtype) if bias else None
        self.bias_hh = _uniform((rows,), hidden_size, device, dtype) if bias else None

    def _sequence(self, x):
        """x (N, in) as a one-step sequence (1, N, in): that a cell takes one step is its own
        fact; features and states are checked by the op."""
        if not isinstance(x, Tensor):
            raise self._error(f"input must be a Tensor, got {type(x).__name__}", TypeError)
        if x.ndim != 2:
            raise self._error(f"input must be (N, {self.input_size}), got {x.shape}")
        return ops.reshape(x, (1,) + x.shape)

    def _params(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """One step of :class:`RNN`: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).

    Shape: input (N, input_size), h (N, H) or None -> h' (N, H)
    """

    kind = "RNNCell"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", *, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)

    def forward(self, x, hx=None):
        return ops.rnn(self._sequence(x), hx, *self._params(), nonlinearity=self.nonlinearity)[1]


class LSTMCell(_CellBase):
    """One step of :class:`LSTM`.

    Shape: input (N, input_size), hx = (h, c) each (N, H), or None -> (h', c') each (N, H)
    """

    kind = "LSTMCell"
    gates = 4

    def forward(self, x, hx=None):
        h, c = (None, None) if hx is None else hx
        _, h, c = ops.lstm(self._sequence(x), h, c, *self._params())
        return h, c


class GRUCell(_CellBase):
    """One step of :class:`GRU`.

    Shape: input (N, input_size), h (N, H) or None -> h' (N, H)
    """

    kind = "GRUCell"
    gates = 3

    def forward(self, x, hx=None):
        return ops.gru(self._sequence(x), hx, *self._params())[1]
