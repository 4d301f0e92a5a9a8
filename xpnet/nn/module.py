"""Module, Parameter, Buffer, Sequential, ModuleList."""
from __future__ import annotations

import numbers
from collections import OrderedDict, namedtuple

import numpy as np

from .. import backend as _backend
from ..autograd import Function, Tensor, is_grad_enabled
from ..utils.hooks import RemovableHandle

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
IncompatibleKeys.__doc__ = """What ``load_state_dict`` returns, as PyTorch: a tuple
``(missing_keys, unexpected_keys)`` with those names."""

# the kinds of module hooks, each an OrderedDict {handle id: hook} in ``module._module_hooks``
HOOK_KINDS = ("forward_pre", "forward", "backward")


class _HookPoint(Function):
    """The identity on some of a module's tensors, so that backward hands their gradients to
    the module's full backward hooks (``report(grads)`` returns the gradients to pass on)."""

    name = "backward_hook"

    def __init__(self, report):
        self.report = report

    def forward(self, *arrays):
        return arrays if len(arrays) > 1 else arrays[0]

    def backward(self, *grads):
        passed = self.report(grads)
        return passed if len(passed) > 1 else passed[0]


class _BackwardHooks:
    """One forward's worth of full backward hooks: the gradients of the outputs arrive first,
    then those of the inputs, and the hooks see both, as PyTorch's
    ``register_full_backward_hook`` does."""

    def __init__(self, module, hooks, n_inputs, inputs_want_grad):
        self.module, self.hooks = module, hooks
        self.n_inputs, self.inputs_want_grad = n_inputs, inputs_want_grad
        self.grad_output = None

    @staticmethod
    def _tensors(grads, backend):
        return tuple(g if g is None or isinstance(g, Tensor)
                     else Tensor.from_array(g, False, backend) for g in grads)

    def outputs_done(self, grads, backend):
        self.grad_output = self._tensors(grads, backend)
        if not self.inputs_want_grad:     # nothing more will come: call the hooks now
            self._call((None,) * self.n_inputs)
        return grads

    def inputs_done(self, grads, backend, wanted):
        """``grads`` of the inputs that want one (``wanted`` marks them among all tensor
        inputs): the hooks see one entry per tensor input, None where none is wanted."""
        given = iter(self._tensors(grads, backend))
        grad_input = self._call(tuple(next(given) if w else None for w in wanted))
        passed = [g for g, w in zip(grad_input, wanted) if w]
        return tuple(None if g is None else g if isinstance(raw, Tensor) else g.array
                     for g, raw in zip(passed, grads))

    def _call(self, grad_input):
        for hook in self.hooks:
            result = hook(self.module, grad_input, self.grad_output)
            if result is not None:
                result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
                if len(result) != len(grad_input):
                    raise RuntimeError(
                        f"{type(self.module).__name__}: a full backward hook must return None or "
                        f"{len(grad_input)} gradients (one per input), got {len(result)}")
                grad_input = result
        return grad_input

def _own_device(data, device):
    # Tensor() would send a NumPy-backed tensor to the default device; keep the tensor's own
    return data.backend if device is None and isinstance(data, Tensor) else device


class Parameter(Tensor):
    """A tensor that is a learnable weight of a Module (``requires_grad`` is on)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True, *, device=None, dtype=None):
        super().__init__(data, requires_grad, device=_own_device(data, device), dtype=dtype)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Buffer(Tensor):
    """A tensor that is state of a Module but not learned (BatchNorm's running statistics)."""

    __slots__ = ()

    def __init__(self, data, *, device=None, dtype=None):
        super().__init__(data, False, device=_own_device(data, device), dtype=dtype)


class _KeyMismatch(KeyError):
    """KeyError whose message prints as written (KeyError quotes its argument)."""

    def __str__(self):
        return str(self.args[0])


def _move(t: Tensor, backend, dtype):
    data = t.array
    if backend is not t.backend:
        bfloat16 = _backend.dtype_name(data.dtype) == "bfloat16"
        data = backend.asarray(_backend.to_numpy(data))   # bfloat16 comes back as float32
        if bfloat16 and dtype is None:
            data = backend.xp.astype(data, backend.dtype("bfloat16"))
    if dtype is not None and backend.xp.isdtype(data.dtype, "real floating"):
        data = backend.xp.astype(data, backend.dtype(dtype))
    return data


def _loadable(value, target: Tensor, what: str, where: str) -> np.ndarray:
    """``value`` as a host array that can be written into ``target``, or a clear error."""
    if isinstance(value, Tensor):
        value = value.array
    if _backend.is_array(value):
        host = _backend.to_numpy(value)         # bfloat16 comes back as float32, exactly
    elif isinstance(value, (numbers.Number, list, tuple)):
        host = np.asarray(value)
    else:
        raise TypeError(f"{what} must be a tensor or an array{where}, got "
                        f"{type(value).__name__}")
    target_kind = "c" if "complex" in _backend.dtype_name(target.dtype) else "f"
    allowed = "biufc" if target_kind == "c" else "biuf"
    if host.dtype.hasobject or host.dtype.kind not in allowed:
        raise TypeError(f"{what} must hold {'numbers' if target_kind == 'c' else 'real numbers'} "
                        f"to fill a {_backend.dtype_name(target.dtype)} tensor{where}, got an "
                        f"array of dtype {host.dtype}")
    if tuple(host.shape) != target.shape:
        raise ValueError(f"{what} must have shape {target.shape}{where}, got "
                         f"{tuple(host.shape)}")
    return host


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.all((a == b) | ((a != a) & (b != b))))


def _named(exc: Exception, module) -> Exception:
    """``exc`` with the innermost layer it came through named in front of the op's message
    (``Conv2d(1, 32, kernel_size=(3, 3), ...): conv2d: input must ...``); once, not per level."""
    if getattr(exc, "_xpnet_layer", False) or str(exc).startswith(type(module).__name__):
        return exc
    try:
        named = type(exc)(f"{module._label()}: {exc}")
    except Exception:  # an exception class with another constructor: leave it as it is
        return exc
    named._xpnet_layer = True
    return named


class Module:
    """Base class of every layer and model.

    Parameters, buffers and sub-modules are found by walking the instance's attributes (also
    inside lists and tuples), in the order they were assigned, so ``super().__init__()`` is
    optional. Override ``forward``; call the module to run it.
    """

    training = True

    def __init__(self):
        pass

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}: forward() is not implemented")

    def __call__(self, *args, **kwargs):
        tables = self.__dict__.get("_module_hooks")
        if tables is not None and (tables["forward_pre"] or tables["forward"]
                                   or tables["backward"]):
            return self._call_with_hooks(args, kwargs)
        try:
            return self.forward(*args, **kwargs)
        except (ValueError, TypeError, IndexError) as exc:
            raise _named(exc, self) from None

    # -- hooks --------------------------------------------------------------------------------
    def _hook_table(self, kind: str) -> OrderedDict:
        tables = self.__dict__.get("_module_hooks")
        if tables is None:
            tables = {k: OrderedDict() for k in HOOK_KINDS}
            object.__setattr__(self, "_module_hooks", tables)
        return tables[kind]

    def _add_hook(self, kind, hook, prepend, with_kwargs):
        if not callable(hook):
            raise TypeError(f"{type(self).__name__}.register_{kind}_hook: hook must be callable, "
                            f"got {type(hook).__name__}")
        table = self._hook_table(kind)
        handle = RemovableHandle(table)
        table[handle.id] = (hook, bool(with_kwargs))
        if prepend:
            table.move_to_end(handle.id, last=False)
        return handle

    def register_forward_pre_hook(self, hook, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before each ``forward``; a result that is not None
        replaces the positional arguments (a non-tuple is wrapped in one). With
        ``with_kwargs=True`` the hook is ``hook(module, args, kwargs)`` and returns None or
        ``(args, kwargs)``. Hooks run in registration order (``prepend=True``: first).
        Returns a handle whose ``remove()`` unregisters the hook."""
        return self._add_hook("forward_pre", hook, prepend, with_kwargs)

    def register_forward_hook(self, hook, *, prepend: bool = False,
                              with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each ``forward``; a result that is not
        None replaces the output. With ``with_kwargs=True`` the hook is
        ``hook(module, args, kwargs, output)``. Hooks run in registration order
        (``prepend=True``: first). Returns a handle whose ``remove()`` unregisters the hook."""
        return self._add_hook("forward", hook, prepend, with_kwargs)

    def register_full_backward_hook(self, hook, *, prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` when the gradients with respect to
        the module's positional tensor inputs have been computed, as PyTorch does:
        ``grad_output`` holds the gradients of the tensor outputs (of a tuple output, its
        tensors), ``grad_input`` those of the inputs (None for an input that takes no
        gradient). A result that is not None replaces ``grad_input``. Hooks run in registration
        order (``prepend=True``: first). Returns a handle whose ``remove()`` unregisters it."""
        return self._add_hook("backward", hook, prepend, False)

    def _call_with_hooks(self, args, kwargs):
        tables = self._module_hooks
        backward = None
        if tables["backward"] and is_grad_enabled():
            args, backward = self._backward_hook_inputs(args, tables["backward"])
        for hook, with_kwargs in list(tables["forward_pre"].values()):
            if with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            f"{type(self).__name__}: a forward pre-hook registered with "
                            f"with_kwargs=True must return None or (args, kwargs), got "
                            f"{type(result).__name__}")
                    args, kwargs = result
            else:
                result = hook(self, args)
            if result is not None and not with_kwargs:
                args = result if isinstance(result, tuple) else (result,)
        try:
            output = self.forward(*args, **kwargs)
        except (ValueError, TypeError, IndexError) as exc:
            raise _named(exc, self) from None
        for hook, with_kwargs in list(tables["forward"].values()):
            result = hook(self, args, kwargs, output) if with_kwargs else hook(self, args, output)
            if result is not None:
                output = result
        if backward is not None:
            output = self._backward_hook_outputs(output, backward)
        return output

    def _backward_hook_inputs(self, args, table):
        """The positional tensor inputs passed through a :class:`_HookPoint` (the others as
        they are), and the state that the hooks of this call share."""
        at = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        wanted = tuple(args[i].requires_grad for i in at)
        state = _BackwardHooks(self, [hook for hook, _ in table.values()], len(at), any(wanted))
        if state.inputs_want_grad:
            through = [i for i, w in zip(at, wanted) if w]     # only these get a gradient
            backend = args[through[0]].backend
            point = _HookPoint(lambda grads: state.inputs_done(grads, backend, wanted))
            passed = point(*(args[i] for i in through))
            passed = passed if isinstance(passed, tuple) else (passed,)
            args = list(args)
            for i, t in zip(through, passed):
                args[i] = t
            args = tuple(args)
        return args, state

    @staticmethod
    def _backward_hook_outputs(output, state):
        """The tensor outputs (a Tensor, or the Tensors of a tuple) through a :class:`_HookPoint`
        that hands their gradients to ``state`` first."""
        single = isinstance(output, Tensor)
        items = [output] if single else list(output) if isinstance(output, (tuple, list)) else []
        at = [i for i, t in enumerate(items) if isinstance(t, Tensor) and t.requires_grad]
        if not at:
            return output
        backend = items[at[0]].backend
        point = _HookPoint(lambda grads: state.outputs_done(grads, backend))
        passed = point(*(items[i] for i in at))
        passed = passed if isinstance(passed, tuple) else (passed,)
        for i, t in zip(at, passed):
            items[i] = t
        return items[0] if single else type(output)(items)

    def _label(self) -> str:
        """How this layer is named in error messages: as it prints, ``Conv2d(1, 32, ...)``."""
        return f"{type(self).__name__}({self.extra_repr()})"

    def _error(self, message: str, kind=ValueError) -> Exception:
        """An exception for a fact only this layer knows (its op checks everything else)."""
        exc = kind(f"{self._label()}: {message}")
        exc._xpnet_layer = True
        return exc

    def __setattr__(self, name, value):
        registered = self.__dict__.get("_buffer_names")
        if registered and name in registered:
            if isinstance(value, (Parameter, Module)):   # it stops being a buffer, as in PyTorch
                del registered[name]
            elif not (value is None or isinstance(value, Tensor)):
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} "
                                f"to buffer {name!r} (a Tensor or None is required)")
        if isinstance(value, (list, tuple)) and not isinstance(self, ModuleList) and any(
                isinstance(item, (Module, Parameter)) for item in value):
            kind = "ModuleList" if any(isinstance(i, Module) for i in value) else "ParameterList"
            raise TypeError(
                f"{type(self).__name__}: attribute {name!r} is a plain {type(value).__name__} "
                f"of layers or parameters, which (as in PyTorch) would not be registered: its "
                f"parameters would be missing from parameters(), the optimizer and "
                f"state_dict(); use nn.{kind}([...])")
        object.__setattr__(self, name, value)

    # -- registering --------------------------------------------------------------------------
    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Make ``tensor`` a buffer of this module under ``name``: state that is not learned.

        A buffer is moved and cast by ``.to(...)``, listed by ``buffers()`` and, when
        ``persistent``, saved in ``state_dict()``. Later assignments to ``self.<name>`` stay
        buffers (as in PyTorch). ``tensor`` may be None (a buffer not set yet, left out of the
        state dict) and is kept as it is, not copied.
        """
        owner = f"{type(self).__name__}.register_buffer"
        if not isinstance(name, str):
            raise TypeError(f"{owner}: name must be a str, got {type(name).__name__}")
        _member_name(owner, "name", name)
        if name in self.__dict__ and name not in self.__dict__.get("_buffer_names", {}):
            raise KeyError(f"{owner}: attribute {name!r} already exists")
        if tensor is not None and (not isinstance(tensor, Tensor) or
                                   isinstance(tensor, Parameter)):
            raise TypeError(f"{owner}: cannot assign {type(tensor).__name__} to buffer {name!r} "
                            f"(a Tensor or None is required)")
        names = self.__dict__.get("_buffer_names")
        if names is None:
            names = {}
            object.__setattr__(self, "_buffer_names", names)
        names[name] = bool(persistent)
        object.__setattr__(self, name, tensor)

    def register_parameter(self, name: str, param) -> None:
        """Add ``param`` (a Parameter, or None) under ``name``, as ``self.<name> = param``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"{type(self).__name__}.register_parameter: cannot assign "
                            f"{type(param).__name__} to parameter {name!r} (a Parameter or None "
                            f"is required)")
        setattr(self, name, param)

    def add_module(self, name: str, module) -> None:
        """Add ``module`` (a Module, or None) under ``name``, as ``self.<name> = module``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.add_module: {type(module).__name__} is not a "
                            f"Module")
        setattr(self, name, module)

    register_module = add_module

    # -- walking ------------------------------------------------------------------------------
    def _members(self):
        """(name, value) of direct Parameters, Buffers and Modules, in assignment order."""
        for name, value in vars(self).items():
            if isinstance(value, (Tensor, Module)):
                yield name, value

    def _is_buffer(self, name, value) -> bool:
        """Whether member ``name`` is a buffer: a Buffer, or a tensor given to
        :meth:`register_buffer` under that name."""
        return isinstance(value, Buffer) or (
            name in self.__dict__.get("_buffer_names", ()) and not isinstance(value, Parameter))

    def _is_persistent(self, name) -> bool:
        return self.__dict__.get("_buffer_names", {}).get(name, True)

    def named_children(self):
        for name, value in self._members():
            if isinstance(value, Module):
                yield name, value

    def children(self):
        """The direct sub-modules (a generator, as in PyTorch)."""
        for _, m in self.named_children():
            yield m

    def apply(self, fn):
        """Call ``fn`` on every sub-module (children first, recursively), then on self; returns
        self. The usual use is initialisation: ``model.apply(init_weights)``."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def named_modules(self, prefix="", _seen=None):
        """(dotted name, Module) pairs, self first, each module once (under its first name)."""
        seen = set() if _seen is None else _seen
        if id(self) in seen:
            return
        seen.add(id(self))
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name, seen)

    def modules(self):
        """Self and every sub-module, each once (a generator, as in PyTorch)."""
        for _, m in self.named_modules():
            yield m

    def _named_tensors(self, buffers: bool, prefix="", recurse=True):
        seen = set()
        walk = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in walk:
            for name, value in module._members():
                if not isinstance(value, Tensor) or id(value) in seen:
                    continue
                if (module._is_buffer(name, value) if buffers else isinstance(value, Parameter)):
                    seen.add(id(value))
                    yield (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """(dotted name, Parameter) pairs, each parameter once: a module's own parameters in
        assignment order, then its children's (PyTorch's order and names). A generator, as in
        PyTorch: wrap it in ``list(...)`` to index it or take its length."""
        return self._named_tensors(False, prefix, recurse)

    def parameters(self, recurse: bool = True):
        """Every Parameter once, in :meth:`named_parameters`' order (a generator, so
        ``next(model.parameters())`` works; ``list(...)`` to index)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        """(dotted name, buffer) pairs, each buffer once, persistent or not (a generator)."""
        return self._named_tensors(True, prefix, recurse)

    def buffers(self, recurse: bool = True):
        """Every buffer once (a generator)."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- state --------------------------------------------------------------------------------
    def _state_items(self, prefix, path):
        """PyTorch's ``state_dict`` walk: own parameters, own buffers, then each child under
        its own name; a shared module or tensor appears under every name it has."""
        if id(self) in path:   # a module inside itself would recurse forever
            return
        path = path | {id(self)}
        own = [(n, v) for n, v in self._members() if isinstance(v, Tensor)]
        yield from ((prefix + n, v) for n, v in own if isinstance(v, Parameter))
        yield from ((prefix + n, v) for n, v in own
                    if self._is_buffer(n, v) and self._is_persistent(n))
        for name, child in self.named_children():
            yield from child._state_items(f"{prefix}{name}.", path)

    def state_dict(self) -> "OrderedDict[str, Tensor]":
        """Parameters and buffers by dotted name, in PyTorch's order and with PyTorch's keys
        (the live tensors; save() copies them).

        A tied weight (``self.head.weight = self.emb.weight``) is listed under each of its
        names, as PyTorch does, while ``parameters()`` yields it once.
        """
        return OrderedDict(self._state_items("", frozenset()))

    def load_state_dict(self, state, strict: bool = True):
        """Copy values (Tensors, NumPy or backend arrays) into this module's tensors, in place.

        Shapes must match; values are placed on each tensor's own device and dtype. With
        ``strict`` every key must match exactly, except that a tied weight needs only one of its
        names (a checkpoint that lists it once still loads). Tied weights stay tied (the shared
        Parameter is written, not replaced); two different values for one tied weight are
        refused. Returns ``IncompatibleKeys(missing_keys, unexpected_keys)`` (a tuple, as in
        PyTorch); a tied weight loaded under one of its names is not missing.
        """
        owner = f"{type(self).__name__}.load_state_dict"
        if not hasattr(state, "keys"):
            hint = (f"; read the file first: {type(self).__name__}.load_state_dict("
                    f"xpnet.load({state!r}))" if isinstance(state, (str, bytes)) or
                    hasattr(state, "__fspath__") else "")
            raise TypeError(f"{owner}: expected a dict of tensors (a state_dict), got "
                            f"{type(state).__name__}{hint}")
        source = getattr(state, "_xpnet_file", None)   # set by xpnet.load
        where = f" (in {source})" if source else ""
        own = self.state_dict()
        names = {}  # id(tensor) -> its names, to tell tied weights
        for key, target in own.items():
            names.setdefault(id(target), []).append(key)
        unexpected = [k for k in state if k not in own]
        # a tied weight is loaded when any one of its names is present
        unloaded = [k for k in own if not any(n in state for n in names[id(own[k])])]
        if strict and (unloaded or unexpected):
            raise _KeyMismatch(f"{owner}: keys do not match{where}; missing {unloaded}, "
                               f"unexpected {unexpected}")
        hosts = {}
        for key, target in own.items():  # check every value before changing anything
            if key in state:
                hosts[key] = _loadable(state[key], target, f"{owner}: {key}", where)
        for keys in names.values():
            present = [k for k in keys if k in hosts]
            for other in present[1:]:
                if not _same(hosts[present[0]], hosts[other]):
                    raise ValueError(
                        f"{owner}: {present[0]} and {other} are one tied weight in this "
                        f"{type(self).__name__}, but the state dict{where} holds different "
                        f"values for them (saved from an untied model?); load one of them "
                        f"only, or untie the model")
        written = set()
        for key, host in hosts.items():
            target = own[key]
            if id(target) in written:   # a tied weight, written once
                continue
            written.add(id(target))
            # asarray copies: optimizers update parameters in place, which must not reach the source
            target.array = target.backend.asarray(host, _backend.dtype_name(target.dtype))
        return IncompatibleKeys(unloaded, unexpected)

    # -- modes and placement ------------------------------------------------------------------
    def train(self, mode: bool = True):
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    def to(self, device=None, dtype=None, non_blocking: bool = False):
        """Move (and/or cast) every parameter, gradient and buffer in place; returns self.

        As in PyTorch, ``to(device)``, ``to(dtype)`` and ``to(device, dtype)`` all work; a
        dtype (floating or complex) casts the floating-point tensors only. A dtype the target
        device lacks (float16 on 'strict', bfloat16 off 'torch') is refused before anything
        moves. ``non_blocking`` is accepted and has no effect (xpnet's copies between host and
        device are synchronous)."""
        from ..autograd.creation import device_dtype
        if dtype is None and isinstance(device, _backend.DType):
            device, dtype = None, device
        owner = f"{type(self).__name__}.to"
        if dtype is not None:
            dtype = _backend.as_dtype(dtype)
            if not (dtype.is_floating_point or dtype.name.startswith("complex")):
                raise TypeError(f"{owner}: dtype must be a floating or complex dtype (it casts "
                                f"the floating-point parameters and buffers), got {dtype.name}")
        backend = _backend.resolve(device) if device is not None else None
        tensors = [*self.parameters(), *self.buffers()]
        for t in tensors:   # all checked first: a refusal leaves the module as it was
            cast = dtype is not None and t.dtype.is_floating_point
            device_dtype(owner, backend or t.backend, dtype if cast else t.dtype)
        for t in tensors:
            target = backend or t.backend
            t.array = _move(t, target, dtype)
            if t.grad is not None:
                t.grad = Tensor.from_array(_move(t.grad, target, dtype), False, target)
            t.backend = target
        return self

    def cpu(self):
        """Move every parameter and buffer to the CPU (NumPy); returns self."""
        return self.to("cpu")

    def cuda(self, device=None):
        """Move to the GPU (``cuda()`` is GPU 0, ``cuda(1)`` another); returns self."""
        from ..autograd.tensor import _cuda_flag
        return self.to(_cuda_flag(device))

    def double(self):
        return self.to(dtype="float64")

    def float(self):
        return self.to(dtype="float32")

    def half(self):
        """Cast the floating-point parameters and buffers to float16; returns self."""
        return self.to(dtype="float16")

    def bfloat16(self):
        """Cast the floating-point parameters and buffers to bfloat16 (on 'torch' devices;
        NumPy, CuPy and array-api-strict have no bfloat16); returns self."""
        return self.to(dtype="bfloat16")

    @property
    def device(self):
        """The device of the first parameter (or buffer); the default device for a module
        with none."""
        for t in [*self.parameters(), *self.buffers()]:
            return t.device
        return _backend.resolve(None)

    def zero_grad(self, set_to_none: bool = True):
        """Drop every gradient (``set_to_none=False``: replace each by zeros instead)."""
        for p in self.parameters():
            if p.grad is None or set_to_none:
                p.grad = None
            else:
                p.grad = Tensor.from_array(p.grad.backend.xp.zeros_like(p.grad.array), False, p.grad.backend)

    def requires_grad_(self, mode: bool = True):
        for p in self.parameters():
            p.requires_grad = mode
        return self

    # -- printing -----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        children = self.named_children()
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in children]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _member_name(owner, what, name):
    """A name for a member (a buffer, a layer of a container): a non-empty str without '.', the
    separator of state_dict keys; else the KeyError PyTorch raises."""
    if not isinstance(name, str) or not name or "." in name:
        raise KeyError(f"{owner}: {what} must be a non-empty string without '.', got {name!r}")


def _module(owner, what, value):
    if not isinstance(value, Module):
        raise TypeError(f"{owner}: {what} must be a Module, got {type(value).__name__}")
    return value


class ModuleList(Module):
    """A list of modules, registered so their parameters are found (names 0, 1, 2 ...)."""

    def __init__(self, modules=()):
        self.items = [_module(type(self).__name__, f"element {i}", m)
                      for i, m in enumerate(modules)]

    def _members(self):
        for i, m in enumerate(self.items):  # named 0, 1, 2 ... as in PyTorch
            yield str(i), m

    def __getitem__(self, index):
        return self.items[index]

    def __len__(self):
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def append(self, module: Module):
        self.items.append(_module(f"{type(self).__name__}.append", "the argument", module))
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self


class ModuleDict(Module):
    """A dict of modules, registered under their keys (``state_dict`` names ``key.weight``),
    in insertion order, as PyTorch's."""

    def __init__(self, modules=None):
        self._entries = {}
        if modules is not None:
            self.update(modules)

    def _members(self):
        yield from self._entries.items()

    def __getitem__(self, key):
        return self._entries[key]

    def __setitem__(self, key, module):
        _member_name("ModuleDict", "each key", key)
        self._entries[key] = _module("ModuleDict", f"the value of {key!r}", module)

    def __delitem__(self, key):
        del self._entries[key]

    def __len__(self):
        return len(self._entries)

    def __iter__(self):
        return iter(self._entries)

    def __contains__(self, key):
        return key in self._entries

    def keys(self):
        return self._entries.keys()

    def values(self):
        return self._entries.values()

    def items(self):
        return self._entries.items()

    def pop(self, key):
        return self._entries.pop(key)

    def update(self, modules):
        pairs = modules.items() if hasattr(modules, "items") else modules
        for key, module in pairs:
            self[key] = module


class ParameterList(ModuleList):
    """A list of Parameters, registered so they are found (names 0, 1, 2 ...)."""

    def __init__(self, values=()):
        self.items = [v if isinstance(v, Parameter) else Parameter(v) for v in values]

    def append(self, value):
        self.items.append(value if isinstance(value, Parameter) else Parameter(value))
        return self


class Sequential(ModuleList):
    """Modules applied one after another: ``Sequential(Linear(2, 8), ReLU(), Linear(8, 1))``."""

    def __init__(self, *layers):
        names = None
        if len(layers) == 1 and isinstance(layers[0], dict):   # an OrderedDict: named layers
            names, layers = list(layers[0]), tuple(layers[0].values())
            for name in names:
                _member_name("Sequential", "each layer name", name)
        elif len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            _module("Sequential", f"argument {i}", layer)
        super().__init__(layers)
        self.names = names

    def _members(self):
        names = self.names or [str(i) for i in range(len(self.items))]
        yield from zip(names, self.items)

    def __getattr__(self, name):   # model.conv1 for Sequential(OrderedDict(conv1=...))
        names = self.__dict__.get("names")
        if names and name in names:
            return self.items[names.index(name)]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def append(self, module: Module):
        super().append(module)
        if self.names is not None:
            self.names.append(str(len(self.items) - 1))
        return self

    def forward(self, x):
        for layer in self.items:
            x = layer(x)
        return x

    def __getitem__(self, index):
        if isinstance(index, slice):
            if self.names is not None:
                return Sequential(dict(zip(self.names[index], self.items[index])))
            return Sequential(*self.items[index])
        return self.items[index]
