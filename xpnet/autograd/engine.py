"""Reverse-mode differentiation: walk the graph of Functions in reverse topological order.

Two entry points, with PyTorch's semantics: :func:`backward` accumulates into ``.grad`` of the
leaves, :func:`grad` returns the gradients of chosen inputs and touches no ``.grad``. Without
``create_graph`` the walk runs on raw arrays under ``no_grad`` (the first-order path, kept lean);
with it, gradients are Tensors and each op's backward runs through
:meth:`Function.backward_on_tensors`, so the gradients can be differentiated again.
"""
from __future__ import annotations

import weakref
from collections import OrderedDict

from .grad_mode import _enabled
from .tensor import Tensor
from .function import sum_to_shape

_RELEASED = ("the graph was already released by an earlier backward; call backward(retain_graph"
             "=True) (or grad(..., retain_graph=True)) the first time to go through it twice")


# the hook tables of leaf tensors, {id(tensor): OrderedDict}, each dropped with its tensor (kept
# here rather than on every Tensor: the first-order path then checks one empty dict per leaf)
_LEAF_HOOKS: dict = {}


def leaf_hooks(t, create=False):
    """The register_hook table of the leaf ``t`` (made when ``create``), or None."""
    table = _LEAF_HOOKS.get(id(t))
    if table is None and create:
        table = _LEAF_HOOKS[id(t)] = OrderedDict()
        weakref.finalize(t, _LEAF_HOOKS.pop, id(t), None)
    return table


def _topological_order(root_fns, op="backward"):
    """Functions reachable from ``root_fns``, each after every Function that consumes its
    outputs."""
    order, visited = [], set()
    stack = [(fn, False) for fn in root_fns]
    pop, push, append = stack.pop, stack.append, order.append
    while stack:
        fn, expanded = pop()
        if expanded:
            append(fn)
            continue
        key = id(fn)
        if key in visited:
            continue
        visited.add(key)
        inputs = fn.inputs
        if inputs is None:
            raise RuntimeError(f"xpnet.autograd.{op}: {_RELEASED}")
        push((fn, True))
        for edge in fn.input_edges:
            if edge is not None and id(edge[0]) not in visited:
                push((edge[0], False))
    order.reverse()  # roots first
    return order


def backward(root, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """d(root)/d(leaf) accumulated into ``.grad`` of every leaf that requires grad (or only of
    ``inputs``), as ``torch.autograd.backward``; ``root`` may be a tensor or a sequence."""
    if root.__class__ is Tensor and not create_graph and inputs is None:
        return _backward_first_order(root, gradient, retain_graph)
    roots = list(root) if isinstance(root, (list, tuple)) else [root]
    if not isinstance(root, (list, tuple)):
        gradients = [gradient]
    elif gradient is None or isinstance(gradient, Tensor):
        gradients = [gradient] * len(roots) if len(roots) == 1 or gradient is None else None
    else:
        gradients = list(gradient)
    if gradients is None or len(gradients) != len(roots):
        raise ValueError(f"xpnet.autograd.backward: got {len(roots)} tensors and "
                         f"{1 if isinstance(gradient, Tensor) else len(gradient)} gradients")
    _require_grad("backward", "tensors", roots, lambda i: (
        f"element {i} of tensors does not require grad; no input that it was computed from has "
        f"requires_grad=True (or it was computed in no_grad())"))
    if retain_graph is None:
        retain_graph = create_graph
    targets = None
    if inputs is not None:
        targets = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    _run("backward", roots, gradients, retain_graph, create_graph, targets, accumulate=True)


def _backward_first_order(root, gradient, retain_graph):
    """tensor.backward() without create_graph: the path of every training step, kept lean."""
    if not root.requires_grad:
        raise RuntimeError("xpnet.autograd.backward: the tensor does not require grad; no input "
                           "that it was computed from has requires_grad=True (or it was "
                           "computed in no_grad())")
    grad = _seed("backward", root, gradient, False)
    fn = root.creator
    if fn is None:  # a leaf: d(root)/d(root) = grad
        _deliver(root, grad, False, True, None)
        return
    order = _topological_order((fn,))
    pending = {id(fn): [None] * fn.n_outputs}
    pending[id(fn)][root._output_index] = grad
    previous = _enabled[0]
    _enabled[0] = False
    try:
        with root.backend.scope():
            _walk(order, pending, retain_graph, None, None, True, None)
    finally:
        _enabled[0] = previous


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False, materialize_grads=False):
    """The gradients of ``outputs`` with respect to ``inputs``, as ``torch.autograd.grad``.

    Args:
        outputs: a Tensor or a sequence of them.
        inputs: a Tensor or a sequence of them (leaves or not) that require grad.
        grad_outputs: one gradient per output (None for a one-element output: ones).
        retain_graph: keep the graph for another pass (default: ``create_graph``).
        create_graph: record the gradients' own graph, so they can be differentiated again
            (Hessian-vector products, gradient penalties, Newton's method).
        allow_unused: give None for an input that the outputs do not depend on (else an error).
        materialize_grads: give zeros instead of None for such inputs.

    Returns:
        A tuple of Tensors (or None), one per input; ``.grad`` is left alone.

    >>> import xpnet
    >>> x = xpnet.tensor(2.0, requires_grad=True)
    >>> (dx,) = grad(x ** 3, x, create_graph=True)
    >>> (d2x,) = grad(dx, x)
    >>> dx.item(), d2x.item()
    (12.0, 12.0)
    """
    outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    ins = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        gouts = [grad_outputs] * len(outs) if grad_outputs is None or len(outs) == 1 else None
    else:
        gouts = list(grad_outputs)
    if gouts is None or len(gouts) != len(outs):
        raise ValueError(f"xpnet.autograd.grad: grad_outputs must have one entry per output, got "
                         f"{len(outs)} outputs and "
                         f"{1 if isinstance(grad_outputs, Tensor) else len(grad_outputs)} "
                         f"grad_outputs")
    _require_grad("grad", "outputs", outs, lambda i: (
        f"output {i} does not require grad and has no creator (was it computed from inputs "
        f"that require grad, outside no_grad()?)"))
    _require_grad("grad", "inputs", ins, lambda i: (
        f"input {i} does not require grad; create it with requires_grad=True"))
    if retain_graph is None:
        retain_graph = create_graph
    found = _run("grad", outs, gouts, retain_graph, create_graph, ins, accumulate=False)
    results = []
    for i, t in enumerate(ins):
        g = found.get(id(t))
        if g is None:
            if materialize_grads:
                g = Tensor.from_array(t.xp.zeros_like(t.array), False, t.backend)
            elif not allow_unused:
                raise RuntimeError(f"xpnet.autograd.grad: input {i} (shape {t.shape}) was not "
                                   f"used to compute the outputs; pass allow_unused=True to get "
                                   f"None for it")
        elif not isinstance(g, Tensor):
            g = Tensor.from_array(g, False, t.backend)
        results.append(g)
    return tuple(results)


def _seed(op, root, gradient, create_graph):
    """The gradient that starts the walk at ``root``: a raw array, or a Tensor under
    create_graph."""
    if gradient is None:
        if root.numel() != 1:
            raise RuntimeError(f"xpnet.autograd.{op}: gradient can be omitted only for a "
                               f"one-element tensor (it is created implicitly as ones), got "
                               f"shape {root.shape}; pass "
                               f"{'gradient' if op == 'backward' else 'grad_outputs'}= of the "
                               f"same shape")
        g = root.xp.ones_like(root.array)
        return Tensor.from_array(g, False, root.backend) if create_graph else g
    if not isinstance(gradient, Tensor):
        raise TypeError(f"xpnet.autograd.{op}: gradient must be a Tensor of shape {root.shape}, "
                        f"got {type(gradient).__name__}")
    if gradient.backend is not root.backend:
        raise ValueError(f"xpnet.autograd.{op}: gradient is on {gradient.device}, the tensor on "
                         f"{root.device}; move it with .to(...)")
    if gradient.shape != root.shape:
        raise ValueError(f"xpnet.autograd.{op}: gradient must have the tensor's shape "
                         f"{root.shape}, got {gradient.shape}")
    if create_graph:
        return gradient if gradient.dtype == root.dtype else gradient.astype(root.dtype)
    g = gradient.array
    if g.dtype != root.array.dtype:
        g = root.xp.astype(g, root.array.dtype)
    return g


def _run(op, roots, gradients, retain_graph, create_graph, targets, accumulate):
    """The walk itself. ``targets``: tensors whose gradient is wanted (grad(), or backward's
    ``inputs=``); returns {id(target): gradient}."""
    seeds = [_seed(op, r, g, create_graph) for r, g in zip(roots, gradients)]
    found = {}
    wanted = None if targets is None else {id(t): t for t in targets}
    pending = {}
    root_fns = []
    for r, g in zip(roots, seeds):
        fn = r.creator
        if fn is None:   # a leaf: d(root)/d(root) = gradient
            if wanted is None or id(r) in wanted:
                _deliver(r, g, create_graph, accumulate, found)
            continue
        slots = pending.get(id(fn))
        if slots is None:
            slots = pending[id(fn)] = [None] * fn.n_outputs
            root_fns.append(fn)
        old = slots[r._output_index]
        slots[r._output_index] = g if old is None else old + g
    if not root_fns:
        return found
    order = _topological_order(root_fns, op)
    captures = None
    if wanted is not None:
        captures = {}
        for t in targets:
            if t.creator is not None:
                captures.setdefault(id(t.creator), []).append((t._output_index, t))
        order = _prune(order, wanted, captures)
    backend = roots[0].backend
    previous = _enabled[0]
    _enabled[0] = bool(create_graph)
    try:
        with backend.scope():
            if create_graph:
                _walk_graph(order, pending, retain_graph, wanted, captures, accumulate, found)
            else:
                _walk(order, pending, retain_graph, wanted, captures, accumulate, found)
    finally:
        _enabled[0] = previous
    return found


def _prune(order, wanted, captures):
    """Only the Functions from which some target is reachable, and the creators of non-leaf
    targets (whose output gradients are read, even when nothing behind them is wanted)."""
    needed = set()
    for fn in reversed(order):     # leaves first
        for x, edge in zip(fn.inputs, fn.input_edges):
            if id(x) in wanted or (edge is not None and id(edge[0]) in needed):
                needed.add(id(fn))
                break
    return [fn for fn in order if id(fn) in needed or id(fn) in captures]


def _walk(order, pending, retain_graph, wanted, captures, accumulate, found):
    """First order, on raw arrays (grad mode off)."""
    for fn in order:
        grads = pending.pop(id(fn), None)
        if grads is None:
            continue
        xp = fn.xp
        if len(grads) > 1 and any(g is None for g in grads):   # outputs outside the loss
            grads = [g if g is not None else xp.zeros(shape, dtype=dtype,
                                                      device=fn.backend.device)
                     for g, (shape, dtype) in zip(grads, fn.outputs_meta)]
        if fn.hooks is not None or fn.retained or captures:
            grads = _tap(fn, grads, False, captures, found)
        grad_inputs = fn.backward(*grads)
        if grad_inputs.__class__ is not tuple:
            grad_inputs = (grad_inputs,)
        for x, edge, g, want in zip(fn.inputs, fn.input_edges, grad_inputs,
                                    fn.needs_input_grad):
            if g is None or not want:
                continue
            if g.shape != x.array.shape:
                g = sum_to_shape(xp, g, x.array.shape)
            _send(x, edge, g, False, pending, wanted, accumulate, found)
        if not retain_graph:
            fn.release()


def _walk_graph(order, pending, retain_graph, wanted, captures, accumulate, found):
    """create_graph: gradients are Tensors and each backward is recorded."""
    from .tensor_namespace import namespace_for
    for fn in order:
        grads = pending.pop(id(fn), None)
        if grads is None:
            continue
        backend = fn.backend
        if any(g is None for g in grads):
            grads = [g if g is not None else Tensor.from_array(
                backend.xp.zeros(shape, dtype=dtype, device=backend.device), False, backend)
                for g, (shape, dtype) in zip(grads, fn.outputs_meta)]
        if fn.hooks is not None or fn.retained or captures:
            grads = _tap(fn, grads, True, captures, found)
        grad_inputs = fn.backward_on_tensors(grads)
        ns = namespace_for(backend)
        for x, edge, g, want in zip(fn.inputs, fn.input_edges, grad_inputs,
                                    fn.needs_input_grad):
            if g is None or not want:
                continue
            if not isinstance(g, Tensor):
                g = Tensor.from_array(g, False, backend)
            if g.shape != x.shape:
                g = sum_to_shape(ns, g, x.shape)
            _send(x, edge, g, True, pending, wanted, accumulate, found)
        if not retain_graph:
            fn.release()


def _require_grad(op, what, tensors, not_requiring):
    """Each of ``tensors`` a Tensor that requires grad, or an error naming ``op``."""
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"xpnet.autograd.{op}: {what} must be Tensors, got "
                            f"{type(t).__name__} at {i}")
        if not t.requires_grad:
            raise RuntimeError(f"xpnet.autograd.{op}: {not_requiring(i)}")


def _send(x, edge, g, as_tensors, pending, wanted, accumulate, found):
    """Hand ``g`` on to input ``x``: delivered to a leaf (when wanted), or added to the pending
    gradients of the node ``x`` had when the op was recorded (``edge``: creator, output index)."""
    if edge is None:
        if wanted is None or id(x) in wanted:
            _deliver(x, g, as_tensors, accumulate, found)
        return
    creator, index = edge
    slots = pending.get(id(creator))
    if slots is None:
        slots = pending[id(creator)] = [None] * creator.n_outputs
    old = slots[index]
    slots[index] = g if old is None else old + g


def _tap(fn, grads, as_tensors, captures, found):
    """The gradients of fn's outputs, complete: through their hooks (in registration order,
    each may replace it), then kept as ``.grad`` (retain_grad) and as a result of grad()."""
    grads = list(grads)
    hooks = fn.hooks or {}
    for index, fns in hooks.items():
        grads[index] = _run_hooks(fns, grads[index], fn.backend, as_tensors)
    if fn.retained:
        for index, t in fn.retained.items():
            g = grads[index]
            t.grad = g if as_tensors else Tensor.from_array(g, False, t.backend)
    if captures:
        for index, t in captures.get(id(fn), ()):
            found[id(t)] = grads[index]
    return grads


def _run_hooks(fns, g, backend, as_tensors):
    for hook in list(fns.values()):
        t = g if as_tensors else Tensor.from_array(g, False, backend)
        out = hook(t)
        if out is not None:
            if not isinstance(out, Tensor):
                raise TypeError(f"xpnet: a tensor hook must return None or a Tensor, got "
                                f"{type(out).__name__}")
            if out.shape != t.shape:
                raise ValueError(f"xpnet: a tensor hook returned a gradient of shape "
                                 f"{out.shape}, expected {t.shape}")
            g = out if as_tensors else out.array
    return g


def _deliver(x, g, as_tensor, accumulate, found):
    """A leaf's gradient: through its hooks, then into ``.grad`` (backward) or the results
    (grad)."""
    hooks = _LEAF_HOOKS.get(id(x)) if _LEAF_HOOKS else None
    if hooks:
        g = _run_hooks(hooks, g, x.backend, as_tensor)
    if not accumulate:
        old = found.get(id(x))
        found[id(x)] = g if old is None else old + g
        return
    if as_tensor:
        if g.dtype != x.dtype:
            g = g.astype(x.dtype)
        x.grad = g if x.grad is None else x.grad + g
        return
    if g.dtype != x.array.dtype:
        g = x.xp.astype(g, x.array.dtype)
    if x.grad is None:
        x.grad = Tensor.from_array(g, False, x.backend)
    else:
        x.grad = Tensor.from_array(x.grad.array + g, False, x.backend)
