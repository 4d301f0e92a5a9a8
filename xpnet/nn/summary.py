"""summary(model, input_size): each layer's output shape and parameter count, as torchinfo does.

>>> import xpnet
>>> from xpnet import nn
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
>>> s = summary(model, input_size=(16, 4))
>>> s.total_params, s.trainable_params, s.rows[1].output_shapes
(58, 58, ((16, 8),))
>>> print(s)   # doctest: +ELLIPSIS
Layer (type)    Output shape    Param #
========================================
Sequential      (16, 2)         --
  0: Linear     (16, 8)         40
  1: ReLU       (16, 8)         --
  2: Linear     (16, 2)         18
========================================
Total params: 58
...

The model runs once, in eval mode (so batch norm's running statistics are not touched; each
module's mode is restored afterwards) and under ``no_grad``, on the given ``input_data`` or on
inputs of ``input_size`` drawn from a private generator (the global random state is left as it
was). What each layer returns is seen through ``Module.register_forward_pre_hook`` and
``register_forward_hook`` where the Module class has them, otherwise by wrapping each
sub-module's ``forward`` for the one call and restoring it in a ``finally``.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .. import backend as _backend
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from .module import Module, Parameter

_MB = 1024 ** 2


class LayerInfo(NamedTuple):
    """One call of one module during the summary's forward."""
    name: str                  # dotted name in the model ("" for the model itself)
    kind: str                  # the class name, "Conv2d"
    depth: int                 # 0 for the model, 1 for its children, ...
    output_shapes: tuple       # the shape of every Tensor it returned, in order
    output_bytes: int          # their size in bytes
    num_params: int            # its parameters, its sub-modules' included
    trainable_params: int      # of those, the ones with requires_grad
    own_params: int            # its own direct parameters only
    is_leaf: bool              # a module without sub-modules


class ModelSummary:
    """What :func:`summary` returns: ``str()`` is the table; the figures are attributes.

    Attributes:
        rows: a :class:`LayerInfo` per module call, in call order (all depths).
        depth: rows deeper than this are left out of the table (not out of the totals).
        total_params, trainable_params, non_trainable_params: parameter counts of the model
            (each shared parameter once).
        input_shapes: the shape of each input tensor.
        input_bytes, param_bytes: the inputs' and the parameters' size in bytes.
        activation_bytes: an estimate of what a forward keeps for backward: the bytes of every
            leaf layer's outputs (intermediates inside a layer's forward are not counted).
        total_bytes: inputs + activations + parameters.
    """

    def __init__(self, model, rows, input_shapes, input_bytes, depth):
        params = list(model.parameters())
        self.model_name = type(model).__name__
        self.rows = rows
        self.depth = depth
        self.input_shapes = input_shapes
        self.total_params = sum(p.numel() for p in params)
        self.trainable_params = sum(p.numel() for p in params if p.requires_grad)
        self.non_trainable_params = self.total_params - self.trainable_params
        self.input_bytes = input_bytes
        self.param_bytes = sum(p.numel() * p.dtype.itemsize for p in params)
        self.activation_bytes = sum(r.output_bytes for r in rows if r.is_leaf)
        self.total_bytes = self.input_bytes + self.activation_bytes + self.param_bytes

    def _table_rows(self):
        shown = [r for r in self.rows if r.depth <= self.depth]
        for i, r in enumerate(shown):
            expanded = not r.is_leaf and r.depth < self.depth and i + 1 < len(shown) \
                and shown[i + 1].depth > r.depth
            count = r.own_params if expanded else r.num_params
            if r.depth == 0:
                title = r.kind
            else:
                title = "  " * (r.depth - 1) + f"  {r.name.rsplit('.', 1)[-1]}: {r.kind}"
            shapes = ", ".join(str(s) for s in r.output_shapes) or "--"
            yield title, shapes, (f"{count:,}" if count else "--")

    def __str__(self):
        body = list(self._table_rows())
        head = ("Layer (type)", "Output shape", "Param #")
        widths = [max(len(row[k]) for row in body + [head]) + 4 for k in range(3)]
        line = "=" * (sum(widths) - 4 + 1)

        def fmt(row):
            return (row[0].ljust(widths[0]) + row[1].ljust(widths[1]) + row[2]).rstrip()

        lines = [fmt(head), line, *(fmt(row) for row in body), line,
                 f"Total params: {self.total_params:,}",
                 f"Trainable params: {self.trainable_params:,}",
                 f"Non-trainable params: {self.non_trainable_params:,}",
                 line,
                 f"Input size (MB): {self.input_bytes / _MB:.2f}",
                 f"Forward/backward pass size (MB): {self.activation_bytes / _MB:.2f}",
                 f"Params size (MB): {self.param_bytes / _MB:.2f}",
                 f"Estimated total size (MB): {self.total_bytes / _MB:.2f}",
                 line]
        return "\n".join(lines)

    __repr__ = __str__


def _tensors(value):
    """Every Tensor inside a (nested) tuple, list or dict, in order."""
    if isinstance(value, Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def _nbytes(t: Tensor) -> int:
    return t.numel() * t.dtype.itemsize


def _is_shape(value) -> bool:
    return isinstance(value, (tuple, list)) and len(value) > 0 and all(
        isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0 for n in value)


def _make_inputs(input_size, dtypes, device):
    """Tensors of the given shapes (floats drawn from a private generator, integers zero)."""
    if _is_shape(input_size):
        shapes = [tuple(int(n) for n in input_size)]
    elif isinstance(input_size, (tuple, list)) and input_size and all(
            _is_shape(s) for s in input_size):
        shapes = [tuple(int(n) for n in s) for s in input_size]
    else:
        raise ValueError(f"summary: input_size must be a shape with the batch first (a tuple of "
                         f"positive ints, such as (1, 3, 32, 32)) or a list of shapes, one per "
                         f"input; got {input_size!r}")
    if dtypes is None:
        dtypes = ["float32"] * len(shapes)
    elif isinstance(dtypes, (str, _backend.DType)) or not isinstance(dtypes, (tuple, list)):
        dtypes = [dtypes]
    if len(dtypes) != len(shapes):
        raise ValueError(f"summary: dtypes must give one dtype per input ({len(shapes)}), got "
                         f"{len(dtypes)}")
    rng = np.random.default_rng(0)
    inputs = []
    for shape, dtype in zip(shapes, dtypes):
        name = _backend.as_dtype(dtype).name
        data = rng.standard_normal(shape) if "float" in name else np.zeros(shape)
        inputs.append(Tensor(data.astype(name if name != "bfloat16" else "float32"),
                             device=device, dtype=name))
    return inputs


def _split_input_data(input_data, device):
    """(args, kwargs) from a Tensor, a list/tuple of them (positional) or a dict (keywords)."""
    if isinstance(input_data, Tensor):
        args, kwargs = [input_data], {}
    elif isinstance(input_data, (tuple, list)):
        args, kwargs = list(input_data), {}
    elif isinstance(input_data, dict):
        args, kwargs = [], dict(input_data)
    else:
        raise TypeError(f"summary: input_data must be a Tensor, a list or tuple of inputs, or a "
                        f"dict of keyword inputs; got {type(input_data).__name__}")
    if device is not None:
        move = (lambda v: v.to(device) if isinstance(v, Tensor) else v)  # noqa: E731
        args, kwargs = [move(a) for a in args], {k: move(v) for k, v in kwargs.items()}
    return args, kwargs


def _has_hooks() -> bool:
    return hasattr(Module, "register_forward_hook") and \
        hasattr(Module, "register_forward_pre_hook")


class _Recorder:
    """Sees every module call of one forward: through forward hooks where Module has them,
    otherwise by wrapping each module's ``forward`` (restored in ``close``)."""

    def __init__(self, model):
        self.names = {id(m): name for name, m in model.named_modules()}
        self.modules = [m for _, m in model.named_modules()]
        self.calls, self.stack, self.undo = [], [], []
        if _has_hooks():
            for m in self.modules:
                self.undo.append(self._forget_hook_tables(m))
                self.undo.append(m.register_forward_pre_hook(self._enter).remove)
                self.undo.append(m.register_forward_hook(self._leave).remove)
        else:
            for m in self.modules:
                self._wrap(m)

    def _enter(self, module, args=None):
        self.calls.append([module, len(self.stack), None])
        self.stack.append(len(self.calls) - 1)

    def _leave(self, module, args=None, output=None):
        self.calls[self.stack.pop()][2] = output

    @staticmethod
    def _forget_hook_tables(module):
        """An undo that leaves ``module`` as it was before its first hook: hook tables that
        the summary created, empty once its hooks are removed, are dropped again (a module
        with hook tables takes the slower, hooked call path)."""
        had_tables = "_module_hooks" in vars(module)

        def undo():
            tables = vars(module).get("_module_hooks")
            if not had_tables and isinstance(tables, dict) and not any(tables.values()):
                object.__delattr__(module, "_module_hooks")
        return undo

    def _wrap(self, module):
        had_own = "forward" in vars(module)
        original = module.forward

        def forward(*args, **kwargs):
            self._enter(module)
            output = original(*args, **kwargs)
            self._leave(module, args, output)
            return output

        object.__setattr__(module, "forward", forward)

        def restore():
            if had_own:
                object.__setattr__(module, "forward", original)
            else:
                object.__delattr__(module, "forward")
        self.undo.append(restore)

    def close(self):
        for undo in reversed(self.undo):
            undo()
        self.undo = []

    def rows(self):
        rows = []
        for module, depth, output in self.calls:
            outputs = list(_tensors(output))
            params = list(module.parameters())
            own = {id(v): v for _, v in module._members() if isinstance(v, Parameter)}
            rows.append(LayerInfo(
                name=self.names.get(id(module), ""), kind=type(module).__name__, depth=depth,
                output_shapes=tuple(t.shape for t in outputs),
                output_bytes=sum(_nbytes(t) for t in outputs),
                num_params=sum(p.numel() for p in params),
                trainable_params=sum(p.numel() for p in params if p.requires_grad),
                own_params=sum(p.numel() for p in own.values()),
                is_leaf=next(iter(module.children()), None) is None))
        return rows


def summary(model, input_size=None, input_data=None, dtypes=None, device=None,
            depth: int = 3) -> ModelSummary:
    """Each layer's output shape and parameter count, the totals, and memory estimates.

    Args:
        model: the Module to summarise.
        input_size: the input's shape, batch first (``(1, 1, 28, 28)``), or a list of shapes
            for a model with several inputs.
        input_data: the inputs themselves instead: a Tensor, a list/tuple of them (positional
            arguments) or a dict (keyword arguments).
        dtypes: with ``input_size``, the dtype of each input (default float32; an integer dtype
            gives zeros, e.g. token ids for an Embedding).
        device: where the inputs are made (default: the model's device).
        depth: how deep the table goes (the model is depth 0, its children 1, ...).

    Returns:
        A :class:`ModelSummary`; ``print()`` it for the table.
    """
    if not isinstance(model, Module):
        raise TypeError(f"summary: model must be an xpnet.nn.Module, got {type(model).__name__}")
    if (input_size is None) == (input_data is None):
        raise ValueError("summary: give exactly one of input_size (a shape such as "
                         "(1, 3, 32, 32)) and input_data (the inputs themselves)")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"summary: depth must be a non-negative int, got {depth!r}")
    if input_data is not None:
        args, kwargs = _split_input_data(input_data, device)
    else:
        args, kwargs = _make_inputs(input_size, dtypes, device or model.device), {}
    inputs = list(_tensors([args, kwargs]))
    input_shapes = [t.shape for t in inputs]

    # each module's own training flag, or None where it reads the class's (restored as found)
    modes = [(m, vars(m).get("training")) for _, m in model.named_modules()]
    recorder = _Recorder(model)
    try:
        model.eval()
        with no_grad():
            model(*args, **kwargs)
    except Exception as exc:
        message = f"summary: the model's forward failed on inputs of shape {input_shapes}: {exc}"
        try:
            error = type(exc)(message)
        except Exception:  # an exception class with another constructor
            error = RuntimeError(message)
        raise error from exc
    finally:
        recorder.close()
        for m, mode in modes:
            if mode is None:
                vars(m).pop("training", None)
            else:
                m.training = mode
    return ModelSummary(model, recorder.rows(), input_shapes,
                        sum(_nbytes(t) for t in inputs), depth)


__all__ = ["summary", "ModelSummary", "LayerInfo"]
