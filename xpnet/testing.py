"""Helpers for testing ops: finite-difference gradient checks and closeness assertions.

Used by xpnet's own tests and by anyone writing a new op:

>>> x = random_inputs("cpu", (3, 4))[0]
>>> gradcheck(xpnet.nn.functional.tanh, x)
True
"""
from __future__ import annotations

import numpy as np

from . import backend as _backend, kernels
from .autograd import Tensor, enable_grad, grad, no_grad

__all__ = ["gradcheck", "gradgradcheck", "assert_close", "random_inputs", "GradcheckError"]


class GradcheckError(AssertionError):
    """Raised when analytic and numeric gradients disagree."""


def _host(x) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.numpy()
    if _backend.is_array(x):
        return _backend.to_numpy(x)
    return np.asarray(x)


def assert_close(actual, expected, rtol: float = 1e-5, atol: float = 1e-7, msg: str = ""):
    """Assert two tensors / arrays / numbers are elementwise close (shapes must match)."""
    a, e = _host(actual), _host(expected)
    if a.shape != e.shape:
        raise AssertionError(f"assert_close: shapes differ, got {a.shape} and expected {e.shape}"
                             + (f"; {msg}" if msg else ""))
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=msg)


def random_inputs(device, *shapes, dtype="float64", requires_grad=True, seed=0, low=-1.0,
                  high=1.0):
    """Tensors of uniform(low, high) values of the given shapes on ``device`` (seeded)."""
    rng = np.random.default_rng(seed)
    backend = _backend.resolve(device)
    return [Tensor(backend.asarray(rng.uniform(low, high, size=shape).astype(dtype)),
                   requires_grad=requires_grad) for shape in shapes]


def _outputs(result):
    return result if isinstance(result, (tuple, list)) else (result,)


def gradcheck(fn, *inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4,
              seed: int = 0, directions: int | None = None, _constant_ok: bool = False,
              **kwargs) -> bool:
    """Compare autograd's gradients of ``fn(*inputs, **kwargs)`` with central differences.

    Every output is projected on a fixed random direction (so the whole Jacobian is checked,
    not just its column sums). Inputs that require grad must be float64. On failure the error
    names the input, its worst element, both values and the difference.

    ``directions=k`` checks, per input, ``k`` directional derivatives along random directions
    u (autograd's ⟨grad, u⟩ against the central difference along u) instead of one per element:
    PyTorch's "fast mode". A wrong gradient passes only if its error is orthogonal to every u,
    which random directions make improbable; it costs 2k evaluations instead of 2 per element.
    """
    checked = [(i, t) for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; pass tensors with requires_grad=True")
    for i, t in checked:
        if _backend.dtype_name(t.dtype) != "float64":
            raise TypeError(f"gradcheck: input {i} must be float64 for finite differences, got "
                            f"{_backend.dtype_name(t.dtype)}")
    rng = np.random.default_rng(seed)
    outs = _outputs(fn(*inputs, **kwargs))
    projections = [rng.standard_normal(o.shape) for o in outs]

    def projected(with_grad: bool):
        outs = _outputs(fn(*inputs, **kwargs))
        if not with_grad:
            return float(sum(np.sum(o.numpy().astype(np.float64) * d)
                             for o, d in zip(outs, projections)))
        total = None
        for o, d in zip(outs, projections):
            if not o.requires_grad:
                continue
            term = (o * Tensor(o.backend.asarray(d, o.dtype))).sum()
            total = term if total is None else total + term
        return total

    for _, t in checked:
        t.grad = None
    loss = projected(True)
    if loss is None and not _constant_ok:
        raise GradcheckError("gradcheck: no output requires grad, so nothing can be checked")
    if loss is not None:
        loss.backward()
    analytic = [np.zeros(t.shape) if t.grad is None else t.grad.numpy().astype(np.float64)
                for _, t in checked]

    with no_grad():
        for (index, t), grad in zip(checked, analytic):
            if directions is not None:
                _check_directions(t, index, grad, projected, rng, directions, eps, atol, rtol)
                continue
            original = t.array
            host = t.numpy().astype(np.float64).copy()
            numeric = np.zeros_like(host)
            flat, num_flat = host.reshape(-1), numeric.reshape(-1)
            for k in range(flat.size):
                keep = flat[k]
                flat[k] = keep + eps
                t.array = t.backend.asarray(host)
                plus = projected(False)
                flat[k] = keep - eps
                t.array = t.backend.asarray(host)
                minus = projected(False)
                flat[k] = keep
                num_flat[k] = (plus - minus) / (2 * eps)
            t.array = original
            err = np.abs(grad - numeric) - (atol + rtol * np.abs(numeric))
            if err.size and err.max() > 0:
                worst = np.unravel_index(int(np.argmax(err)), err.shape)
                raise GradcheckError(
                    f"gradcheck: gradient of input {index} (shape {t.shape}) is wrong at "
                    f"{tuple(int(w) for w in worst)}: autograd {grad[worst]:.8g}, finite "
                    f"differences {numeric[worst]:.8g}, |diff| "
                    f"{abs(grad[worst] - numeric[worst]):.3g} (atol {atol}, rtol {rtol})")
    for _, t in checked:
        t.grad = None
    return True


def _check_directions(t, index, grad, projected, rng, count, eps, atol, rtol):
    """gradcheck's fast mode for input ``t``: ``count`` random directional derivatives."""
    original = t.array
    host = t.numpy().astype(np.float64)
    try:
        for _ in range(count):
            u = rng.standard_normal(host.shape)
            t.array = t.backend.asarray(host + eps * u)
            plus = projected(False)
            t.array = t.backend.asarray(host - eps * u)
            minus = projected(False)
            numeric, analytic = (plus - minus) / (2 * eps), float(np.sum(grad * u))
            if abs(analytic - numeric) > atol * max(1.0, float(np.linalg.norm(u))) \
                    + rtol * abs(numeric):
                raise GradcheckError(
                    f"gradcheck: gradient of input {index} (shape {t.shape}) is wrong along a "
                    f"random direction: autograd {analytic:.8g}, finite differences "
                    f"{numeric:.8g}, |diff| {abs(analytic - numeric):.3g} (atol {atol}, rtol "
                    f"{rtol})")
    finally:
        t.array = original


def gradgradcheck(fn, *inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4,
                  seed: int = 0, fast: bool | None = None, **kwargs) -> bool:
    """Check second derivatives: :func:`gradcheck` of the first-order gradient.

    The outputs ``y`` of ``fn(*inputs, **kwargs)`` are reduced to ``<y, v> + <y², w>/2`` with
    fixed random ``v``, ``w`` (so the gradient reaching ``y``, ``v + w·y``, depends on the inputs
    too); its gradient ``g(inputs)`` with respect to the inputs is computed by autograd with
    ``create_graph=True``, and its own gradients (Hessian-vector products) are compared with
    float64 central differences of ``g``. Inputs that require grad must be float64.

    ``fast`` checks random directional derivatives of ``g`` (:func:`gradcheck`'s
    ``directions``) instead of one difference per element; by default it is on wherever the
    inputs are not on 'cpu', whose full check covers the same code (each op's backward is
    written once), so the other devices, whose arrays cost more per call, stay quick.

    >>> x = random_inputs("cpu", (3,))[0]
    >>> gradgradcheck(lambda t: (t ** 3).sum(), x)
    True
    """
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradgradcheck: no input requires grad; pass tensors with "
                         "requires_grad=True")
    rng = np.random.default_rng(seed + 1)
    with enable_grad():
        outs = _outputs(fn(*inputs, **kwargs))
    directions = [(rng.standard_normal(o.shape), rng.standard_normal(o.shape)) for o in outs]

    def first_order(*args):
        with enable_grad():
            outs = _outputs(fn(*args, **kwargs))
            total = None
            for o, (d, e) in zip(outs, directions):
                if not o.requires_grad:
                    continue
                # <o, d> + <o², e>/2: the gradient reaching fn's outputs then depends on the
                # inputs too, so the part of each backward that is linear in it is checked
                d, e = Tensor(o.backend.asarray(d, o.dtype)), Tensor(o.backend.asarray(e, o.dtype))
                term = (o * d).sum() + (o * o * e).sum() * 0.5
                total = term if total is None else total + term
            if total is None:
                raise GradcheckError("gradgradcheck: no output requires grad, so nothing can be "
                                     "checked")
            grads = grad(total, [args[i] for i in checked], create_graph=True,
                         allow_unused=True)
        return tuple(g for g in grads if g is not None)

    # a gradient that does not depend on the inputs (add, a linear map) has zero second
    # derivatives: the finite differences must then be zero too
    if fast is None:
        fast = any(inputs[i].backend.name != "cpu" for i in checked)
    return gradcheck(first_order, *inputs, eps=eps, atol=atol, rtol=rtol, seed=seed,
                     directions=4 if fast else None, _constant_ok=True)


# -- counting array-library calls -------------------------------------------------------------

# Calls that make no kernel on a GPU: views, metadata, uninitialised allocations.
_NOT_KERNELS = frozenset({
    "reshape", "permute_dims", "matrix_transpose", "broadcast_to", "expand_dims", "squeeze",
    "__getitem__", "empty", "empty_like", "isdtype", "result_type", "can_cast", "finfo",
    "iinfo", "__array_namespace__", "__dlpack_device__", "__repr__", "__pos__", "__len__",
    "__hash__", "to_device", "Device", "__iter__", "flip", "moveaxis",
})
# Calls that read device memory back to the host, and compat functions that do so on CuPy
# (array-api-compat's clip and sign assign through boolean masks, which CuPy resolves on the
# host; nonzero and unique_* need the result's size).
SYNCS = frozenset({
    "__bool__", "__float__", "__int__", "__index__", "__complex__", "__dlpack__", "__array__",
    "__buffer__", "nonzero", "unique_all", "unique_counts", "unique_inverse", "unique_values",
    "clip", "sign", "boolean-mask indexing",
})


class CallCounter:
    """What :func:`count_calls` saw: ``total`` kernel-making calls (a fused function counts
    once), ``by_name`` per call, and ``syncs``: calls that would stop a GPU step for the host."""

    def __init__(self):
        from collections import Counter
        self.by_name = Counter()
        self.syncs = Counter()
        self.depth = 0

    @property
    def total(self) -> int:
        return sum(self.by_name.values())

    def record(self, name):
        if name in SYNCS:
            self.syncs[name] += 1
        if name not in _NOT_KERNELS:
            self.by_name[name] += 1

    def __repr__(self):
        return f"CallCounter(total={self.total}, syncs={dict(self.syncs)})"


class count_calls:
    """Count the array-library calls made on the ``strict`` device inside the block.

    array-api-strict is pure Python, so every operator and namespace function can be watched.
    Each call that would launch a kernel on a GPU is counted once (views, metadata and ``empty``
    are not); a function compiled by :func:`xpnet.kernels.fuse` counts as ONE call, as it is one
    kernel on CuPy, and so does a loop nest that has a CUDA kernel (``xpnet.cuda.loops``). With ``gpu_like`` (default) the ``strict`` device also takes the GPU's code
    paths (``Backend.on_host`` is False: one conv slab, no host-side range checks), so the count
    is the number of launches a CuPy step would make.

    >>> import xpnet
    >>> x = xpnet.ones(3, device="strict", requires_grad=True)
    >>> with count_calls() as calls:
    ...     (x * 2.0).sum().backward()
    >>> calls.total > 0, dict(calls.syncs)
    (True, {})
    """

    def __init__(self, gpu_like: bool = True):
        self.gpu_like = gpu_like
        self.counter = CallCounter()
        self._undo = []

    def _wrap(self, name, fn):
        counter = self.counter

        def counted(*args, **kwargs):
            if counter.depth == 0:
                counter.record(name)
                if name == "__getitem__" and len(args) > 1 and _has_bool_array(args[1]):
                    counter.record("boolean-mask indexing")
            counter.depth += 1
            try:
                return fn(*args, **kwargs)
            finally:
                counter.depth -= 1
        counted.__name__ = getattr(fn, "__name__", name)
        return counted

    def __enter__(self) -> CallCounter:
        import array_api_strict as strict
        from array_api_strict._array_object import Array
        for name, value in list(vars(Array).items()):
            if name.startswith("__") and callable(value) and name not in (
                    "__new__", "__init__", "__getattribute__", "__setattr__", "__class__",
                    "__init_subclass__", "__subclasshook__", "__reduce__", "__del__"):
                self._patch(Array, name, self._wrap(name, value))
        for name in getattr(strict, "__all__", []):
            value = getattr(strict, name, None)
            if callable(value) and not isinstance(value, type) and not name.startswith("_"):
                self._patch(strict, name, self._wrap(name, value))
        counter = self.counter

        def one_launch(name, fn):
            """``fn(strict, *args)`` recorded as one launch named ``name``."""
            def kernel(*args):
                if counter.depth == 0:
                    counter.record(name)
                counter.depth += 1
                try:
                    return fn(strict, *args)
                finally:
                    counter.depth -= 1
            return kernel

        def fused_kernel(fn):
            return one_launch(f"fused:{fn.__name__}", fn)
        kernels.register_compiler("array_api_strict", fused_kernel)
        self._undo.append(lambda: kernels.register_compiler("array_api_strict", None))

        def loop_kernel(loops):
            # a loop nest with a CUDA kernel (xpnet.cuda.loops) is one launch on CuPy: counted
            # once, its reference run; the others run their reference, every call counted
            from .cuda.loops import SOURCES
            if f"{loops.__module__}.{loops.__qualname__}" not in SOURCES:
                return None
            reference = next(c.reference for c in kernels._KERNELS[kernels.LOOPS]
                             if c.source is loops)
            return one_launch(f"loops:{loops.__name__}", reference)
        kernels.register_compiler("array_api_strict", loop_kernel, kind=kernels.LOOPS)
        self._undo.append(lambda: kernels.register_compiler("array_api_strict", None,
                                                            kind=kernels.LOOPS))
        if self.gpu_like:
            self._patch(_backend.Backend, "on_host", property(
                lambda b: b.library == "numpy" or (b.library == "torch"
                                                   and b.device.type == "cpu")))
        return counter

    def _patch(self, owner, name, value):
        old = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        setattr(owner, name, value)
        self._undo.append(lambda: setattr(owner, name, old))

    def __exit__(self, *exc):
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        return False


def _has_bool_array(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(getattr(p, "dtype", None) is not None and "bool" in str(p.dtype) for p in parts)
