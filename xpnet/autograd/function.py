"""Function: one differentiable op, forward and backward on raw arrays."""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..backend import is_array
from ..checks import floating_error, is_floating
from . import grad_mode as _grad_mode
from .tensor import Tensor

# what an op may take besides Tensors and None: Python numbers and NumPy scalars (constants)
_PLAIN_NUMBERS = (int, float, bool)
_CONSTANTS = (numbers.Number, np.generic)


def sum_to_shape(xp, grad, shape):
    """Undo broadcasting: sum ``grad`` down to ``shape`` (leading axes, then size-1 axes)."""
    if tuple(grad.shape) == tuple(shape):
        return grad
    lead = grad.ndim - len(shape)
    if lead > 0:
        grad = xp.sum(grad, axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = xp.sum(grad, axis=axes, keepdims=True)
    return grad


def _as_saved_tensor(value, by_id, backend):
    """(value seen as Tensors, whether it holds a floating array that is not an input)."""
    if is_array(value) and hasattr(value, "dtype"):
        t = by_id.get(id(value))
        if t is not None:
            return t, False
        return Tensor.from_array(value, False, backend), is_floating(value.dtype)
    if value.__class__ in (list, tuple) and value and any(is_array(v) for v in value):
        pairs = [_as_saved_tensor(v, by_id, backend) for v in value]
        return value.__class__(p[0] for p in pairs), any(p[1] for p in pairs)
    return value, False


class Function:
    """Base class of every op.

    Subclasses implement ``forward(*inputs)`` and ``backward(*grad_outputs)`` on raw arrays of
    the namespace ``self.xp``. Inputs may be Tensors, ``None`` (an absent optional input such as a
    bias) or Python numbers (constants); forward receives the arrays, ``None`` or the number.
    ``backward`` returns one gradient (or ``None``) per input; gradients whose shape differs from
    their input's are summed back (broadcasting undone here, once, for every op). In backward,
    ``self.needs_input_grad[i]`` tells whether input ``i`` wants a gradient at all, so costly
    ones (the gradient of a data batch) can be skipped by returning ``None``.

    A forward that returns a tuple makes an op with several outputs; backward then receives one
    gradient per output (zeros for outputs that did not take part in the loss).
    """

    # -- declared by subclasses ------------------------------------------------------------------
    name: str | None = None            # the op's name in error messages; defaults to the class name
    floating_inputs: dict | None = None  # {index: name} of inputs that must be floating-point
    differentiable_outputs: tuple | None = None   # indices of outputs that carry gradient (None: all)

    # -- set by __call__ (the class values stand until then, and again after release()) ----------
    xp: Any = None                     # the inputs' array namespace
    backend: Any = None                # the inputs' device
    inputs: tuple | None = None        # the inputs, kept only when some input wants a gradient;
    #                                    None also once backward has released the graph
    # per input, the graph node it had when this op was recorded: (creator, output index), or
    # None for a leaf or a non-Tensor. Gradients go there, so an input changed in place later
    # (``y.mul_(5)``, which gives ``y`` a new node) still sends this op's gradient to the node
    # this op consumed, as in PyTorch
    input_edges: tuple = ()
    needs_input_grad: tuple = ()       # per input: does it want a gradient? (set before forward)
    n_outputs: int = 1
    outputs_meta: list | None = None   # (shape, dtype) per output, for ops with several outputs
    retained: dict | None = None       # {output index: Tensor} that asked for .grad (retain_grad)
    hooks: dict | None = None          # {output index: [hook, ...]} (Tensor.register_hook)
    # names of saved floating-point arrays that do not depend on the inputs (a dropout mask):
    # under create_graph they are constants, and need no second run of forward (see below)
    saved_constants: tuple = ()
    # False for an op whose backward cannot run on the tensor namespace yet (it writes into
    # buffers): create_graph through it is refused rather than silently wrong
    supports_create_graph: bool = True

    def __call__(self, *inputs):
        # one pass over the inputs: the common backend, the raw arrays, whether any input
        # wants a gradient (this runs for every op, so it is kept lean)
        backend, needs_grad, arrays, wants = None, False, [], []
        for i, x in enumerate(inputs):
            if isinstance(x, Tensor):
                if backend is None:
                    backend = x.backend
                elif x.backend is not backend:
                    self._raise_mixed(inputs)
                wanted = x.requires_grad
                needs_grad = needs_grad or wanted
                arrays.append(x.array)
            else:
                if x is not None and x.__class__ not in _PLAIN_NUMBERS and \
                        not isinstance(x, _CONSTANTS):
                    self._raise_not_a_tensor(i, x)
                wanted = False
                arrays.append(x)
            wants.append(wanted)
        if backend is None:
            raise TypeError(f"{self.op_name}: expected at least one Tensor input, "
                            f"got {[type(x).__name__ for x in inputs]}")
        if self.floating_inputs:
            floating = backend.floating_dtypes
            for i, name in self.floating_inputs.items():
                if i < len(arrays) and isinstance(inputs[i], Tensor) and \
                        arrays[i].dtype not in floating:
                    raise floating_error(self.op_name, name, arrays[i].dtype)
        self.xp = backend.xp
        self.backend = backend
        needs_grad = needs_grad and _grad_mode._enabled[0]
        if needs_grad:
            # set before forward, so that forward can skip what only backward needs (a
            # convolution keeps its columns only for the weight gradient); () when not recorded
            self.needs_input_grad = tuple(wants)
        if backend.library == "cupy":
            with backend.scope():   # new arrays land on the inputs' GPU (see Backend.scope)
                outputs = self.forward(*arrays)
        else:
            outputs = self.forward(*arrays)
        multiple = outputs.__class__ is tuple
        if not multiple:
            outputs = (outputs,)
        differentiable = self.differentiable_outputs
        results = []
        for i, y in enumerate(outputs):
            if y.__class__ is not np.ndarray and isinstance(y, np.generic):
                y = np.asarray(y)  # NumPy reductions give scalars; a Tensor holds an array
            carries = needs_grad and (differentiable is None or i in differentiable)
            t = Tensor.from_array(y, carries, backend)
            if carries:
                t.creator = self
                t._output_index = i
            results.append(t)
        if needs_grad:
            self.inputs = inputs
            self.input_edges = tuple(
                (x.creator, x._output_index) if isinstance(x, Tensor) and x.creator is not None
                else None for x in inputs)
            self.n_outputs = len(outputs)
            if multiple:   # for the zero gradients of outputs outside the loss (one output: none)
                self.outputs_meta = [(tuple(y.shape), y.dtype) for y in outputs]
        return tuple(results) if multiple else results[0]

    # -- to override --------------------------------------------------------------------------
    def forward(self, *inputs):
        raise NotImplementedError

    def backward(self, *grad_outputs):
        raise NotImplementedError

    # -- create_graph -------------------------------------------------------------------------
    def backward_on_tensors(self, grads):
        """Run :meth:`backward` so that autograd records it (``create_graph=True``).

        The same backward code runs on a copy of this op whose ``xp`` is the tensor namespace
        (:mod:`xpnet.autograd.tensor_namespace`) and whose saved arrays are Tensors: a saved
        input is the input Tensor itself, so second derivatives flow into it. When the op saved
        anything else that is floating-point (its output, ``x - target``, a normalised ``x``),
        forward runs once more on the input Tensors through the tensor namespace, so that every
        saved value is a Tensor of the graph; arrays named in ``saved_constants`` (random masks)
        stay constants. ``grads`` are Tensors; the result is one Tensor or None per input.
        """
        from .tensor_namespace import namespace_for
        if not self.supports_create_graph:
            raise NotImplementedError(
                f"xpnet: {self.op_name} has no double backward yet, so create_graph=True (grad "
                f"of a gradient) cannot go through it")
        backend = self.backend
        by_id = {id(x.array): x for x in self.inputs if isinstance(x, Tensor)}
        constants = self.saved_constants
        rerun = False
        state = {}
        for key, value in vars(self).items():
            if key == "inputs":
                state[key] = value
                continue
            state[key], derived = _as_saved_tensor(value, by_id, backend)
            rerun = rerun or (derived and key not in constants)
        clone = object.__new__(type(self))
        vars(clone).update(state)
        clone.xp = namespace_for(backend)
        if rerun:
            clone.prepare_rerun()
            clone.forward(*self.inputs)
        result = clone.backward(*grads)
        return result if result.__class__ is tuple else (result,)

    def prepare_rerun(self):
        """Called on the copy before forward runs again under create_graph: undo what must not
        happen twice (a batch norm's running-statistics update)."""

    # -- helpers ------------------------------------------------------------------------------
    @property
    def op_name(self) -> str:
        return self.name or type(self).__name__.lower()

    def _raise_not_a_tensor(self, index, x):
        kind = "an array" if is_array(x) else f"a {type(x).__name__}"
        raise TypeError(f"{self.op_name}: input {index} is {kind} ({type(x).__name__}), not a "
                        f"Tensor; wrap it with xpnet.tensor(...)")

    def _raise_mixed(self, inputs):
        names = [x.backend.name for x in inputs if isinstance(x, Tensor)]
        libraries = {x.backend.library for x in inputs if isinstance(x, Tensor)}
        kind = "array libraries" if len(libraries) > 1 else "devices"
        exc = TypeError if len(libraries) > 1 else ValueError
        raise exc(f"{self.op_name}: inputs are on different {kind} {names}; "
                  f"move the model and the batch with .to(...)")

    def release(self):
        """Drop everything saved for backward (called once backward has passed through): every
        attribute set on the instance goes, so the declared ones read their class values again
        (``inputs`` is None: the graph is released)."""
        vars(self).clear()
