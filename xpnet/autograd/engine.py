"""Reverse-mode differentiation: walk the graph of Functions in reverse topological order."""
from __future__ import annotations

from .grad_mode import no_grad
from .tensor import Tensor
from .function import sum_to_shape


def _topological_order(root_fn):
    """Functions reachable from ``root_fn``, each after every Function that consumes its outputs."""
    order, visited = [], set()
    stack = [(root_fn, False)]
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
            raise RuntimeError(
                "backward: the graph was already released by an earlier backward(); call "
                "backward(retain_graph=True) the first time to go through it twice")
        push((fn, True))
        for x in inputs:
            creator = getattr(x, "creator", None)
            if creator is not None and id(creator) not in visited:
                push((creator, False))
    order.reverse()  # root first
    return order


def backward(root: Tensor, gradient=None, retain_graph=False):
    if not root.requires_grad:
        raise RuntimeError("backward: the tensor does not require grad; no input that it was "
                           "computed from has requires_grad=True (or it was computed in no_grad())")
    xp = root.xp
    if gradient is None:
        if root.numel() != 1:
            raise RuntimeError(f"backward: gradient can be omitted only for a one-element tensor, "
                               f"got shape {root.shape}; pass gradient= of the same shape")
        grad = xp.ones_like(root.data)
    else:
        grad = _as_gradient(root, gradient)
    if root.creator is None:  # a leaf: d(root)/d(root) = grad
        _accumulate_leaf(root, grad)
        return
    order = _topological_order(root.creator)
    pending = {id(root.creator): [None] * root.creator.n_outputs}
    pending[id(root.creator)][root._output_index] = grad
    with no_grad(), root.backend.scope():
        for fn in order:
            grads = pending.pop(id(fn), None)
            if grads is None:
                continue
            if len(grads) > 1 and any(g is None for g in grads):   # outputs outside the loss
                grads = [g if g is not None else xp.zeros(shape, dtype=dtype,
                                                          device=fn.backend.device)
                         for g, (shape, dtype) in zip(grads, fn.outputs_meta)]
            retained = fn.retained
            if retained:
                for index, t in retained.items():
                    t.grad = Tensor.from_array(grads[index], device=t.backend)
            grad_inputs = fn.backward(*grads)
            if grad_inputs.__class__ is not tuple:
                grad_inputs = (grad_inputs,)
            for x, g, wanted in zip(fn.inputs, grad_inputs, fn.needs_input_grad):
                if g is None or not wanted:
                    continue
                if g.shape != x.data.shape:
                    g = sum_to_shape(xp, g, x.data.shape)
                creator = x.creator
                if creator is None:
                    _accumulate_leaf(x, g)
                else:
                    slots = pending.get(id(creator))
                    if slots is None:
                        slots = pending[id(creator)] = [None] * creator.n_outputs
                    old = slots[x._output_index]
                    slots[x._output_index] = g if old is None else old + g
            if not retain_graph:
                fn.release()


def _as_gradient(root, gradient):
    """``gradient`` as a raw array of root's device, shape and dtype, or a clear error."""
    if isinstance(gradient, Tensor):
        if gradient.backend is not root.backend:
            raise ValueError(f"backward: gradient is on {gradient.device}, the tensor on "
                             f"{root.device}; move it with .to(...)")
        grad = gradient.data
    else:
        raise TypeError(f"backward: gradient must be a Tensor of shape {root.shape}, got "
                        f"{type(gradient).__name__}")
    if tuple(grad.shape) != root.shape:
        raise ValueError(f"backward: gradient must have the tensor's shape {root.shape}, got "
                         f"{tuple(grad.shape)}")
    if grad.dtype != root.data.dtype:
        grad = root.xp.astype(grad, root.data.dtype)
    return grad


def _accumulate_leaf(x: Tensor, g):
    if g.dtype != x.data.dtype:
        g = x.xp.astype(g, x.data.dtype)
    if x.grad is None:
        x.grad = Tensor.from_array(g, False, x.backend)
    else:
        x.grad = Tensor.from_array(x.grad.data + g, False, x.backend)
