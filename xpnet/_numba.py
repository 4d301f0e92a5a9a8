"""The CPU compiler behind :func:`xpnet.backend.fuse`: Numba, as ``cupy.fuse`` is on the GPU.

A fused function ``fn(xp, *args)`` is written once against the Array API, elementwise. To
compile it for NumPy arrays it is *traced*: called once with stand-ins for its arguments that
record every operation, in order, as one line of scalar code each (SSA temporaries); in-place
writes to an argument (``out[...] = v``, ``p -= v``) and returned values become stores. The
lines are put inside one loop nest over the broadcast shape and compiled by ``numba.njit`` into
one pass through memory, instead of one NumPy call (and one temporary array) per operator.

What is compiled is specialised per call signature (dtypes, number of axes, contiguity, which
arguments are Python numbers) and written as a small module to the cache folder
(``$XPNET_CACHE`` or ``~/.cache/xpnet/numba``), so Numba caches the machine code on disk and
later processes skip the compilation. NumPy's semantics are kept: float32 stays float32 (Python
numbers are cast to the kernel's float type, as NumPy 2 treats them as weak), division by zero
gives inf/nan (``error_model='numpy'``), no fast-math reassociation.

Anything the tracer does not know (another ``xp`` function, a reduction, an argument written to
that is smaller than the broadcast shape) raises :class:`Refused`, and ``backend.fuse`` then runs
the function unfused, with a warning, once.
"""
from __future__ import annotations

import hashlib
import importlib.util
import numbers
import os
import sys
import tempfile

import numpy as np

__all__ = ["compile_fused", "Refused", "refusals"]


class Refused(NotImplementedError):
    """The function cannot be compiled (it then runs as plain NumPy calls)."""


def refusals():
    from numba.core.errors import NumbaError
    return (Refused, NumbaError, TypeError)


# -- tracing --------------------------------------------------------------------------------------

_BINARY = {"add": "({} + {})", "sub": "({} - {})", "mul": "({} * {})", "truediv": "({} / {})",
           "pow": "({} ** {})", "lt": "({} < {})", "le": "({} <= {})", "gt": "({} > {})",
           "ge": "({} >= {})", "eq": "({} == {})", "ne": "({} != {})", "and": "({} and {})",
           "or": "({} or {})"}
_FUNCTIONS = {"tanh": "np.tanh({})", "exp": "np.exp({})", "log": "np.log({})",
              "log1p": "np.log1p({})", "expm1": "np.expm1({})", "sqrt": "np.sqrt({})",
              "abs": "abs({})", "negative": "(-{})", "sin": "np.sin({})", "cos": "np.cos({})",
              "maximum": "_maximum({}, {})", "minimum": "_minimum({}, {})",
              "where": "({1} if {0} else {2})", "logical_and": "({} and {})",
              "logical_or": "({} or {})", "logical_not": "(not {})", "square": "({0} * {0})",
              "isnan": "np.isnan({})"}


class _Value:
    """A scalar of the loop body: every operator emits one line and returns its temporary."""

    trace = None

    def _emit(self, op, *operands):
        return self.trace.emit(_BINARY[op], *operands)

    def __neg__(self):
        return self.trace.emit("(-{})", self)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.trace.emit("abs({})", self)

    def __bool__(self):
        raise Refused("a fused function branches on an array value")

    def __getitem__(self, index):
        if index is Ellipsis or index == slice(None):
            return self
        raise Refused(f"indexing other than [...] inside a fused function: {index!r}")


for _op in _BINARY:
    setattr(_Value, f"__{_op}__", lambda self, other, _op=_op: self._emit(_op, self, other))
    setattr(_Value, f"__r{_op}__", lambda self, other, _op=_op: self._emit(_op, other, self))


class _Temp(_Value):
    def __init__(self, trace, name):
        self.trace, self.name = trace, name


class _Input(_Value):
    """An argument. Arrays can be written to: ``a[...] = v`` and in-place operators replace
    its current value; the last one is stored at the end of the loop body."""

    def __init__(self, trace, index, is_array):
        self.trace, self.index, self.is_array = trace, index, is_array
        self.name = f"v{index}"
        self.current = None           # None: still the value read from memory
        self.read = False

    def __setitem__(self, index, value):
        if not (index is Ellipsis or index == slice(None)):
            raise Refused(f"writing through an index other than [...]: {index!r}")
        self._assign(value)

    def _assign(self, value):
        if not self.is_array:
            raise Refused("a fused function writes to a scalar argument")
        self.current = self.trace.emit("{}", value)
        self.trace.written.add(self.index)


for _op in ("add", "sub", "mul", "truediv", "pow"):
    def _inplace(self, other, _op=_op):
        if not self.is_array:
            return self._emit(_op, self, other)
        self._assign(self._emit(_op, self, other))
        return self
    setattr(_Input, f"__i{_op}__", _inplace)


class _Trace:
    def __init__(self, float_type: str):
        self.lines, self.written, self.count, self.float_type = [], set(), 0, float_type

    def render(self, operand) -> str:
        if isinstance(operand, _Input):
            if operand.current is not None:
                return operand.current.name
            operand.read = True
            return operand.name
        if isinstance(operand, _Temp):
            return operand.name
        if isinstance(operand, (bool, np.bool_)):
            return repr(bool(operand))
        if isinstance(operand, numbers.Integral):
            return repr(int(operand))
        if isinstance(operand, numbers.Real):
            return f"np.{self.float_type}({float(operand)!r})"
        raise Refused(f"unsupported operand {type(operand).__name__} inside a fused function")

    def emit(self, template, *operands) -> _Temp:
        name = f"t{self.count}"
        self.count += 1
        self.lines.append(f"{name} = " + template.format(*(self.render(o) for o in operands)))
        return _Temp(self, name)


class _Namespace:
    """The ``xp`` a traced function sees: the elementwise functions the fused code uses."""

    def __init__(self, trace):
        self._trace = trace
        if trace.float_type == "float32":
            self.tanh = lambda x: trace.emit("_tanh32({})", x)

    def __getattr__(self, name):
        if name in ("float32", "float64", "bool", "int64"):
            return name
        if name == "astype":
            def astype(x, dtype, copy=True):
                kind = dtype if isinstance(dtype, str) else np.dtype(dtype).name
                if kind == "bool":
                    return self._trace.emit("bool({})", x)
                return self._trace.emit(f"np.{kind}({{}})", x)
            return astype
        template = _FUNCTIONS.get(name)
        if template is None:
            raise Refused(f"xp.{name} is not supported by the CPU compiler")
        return lambda *args: self._trace.emit(template, *args)


# -- code generation --------------------------------------------------------------------------

_PRELUDE = '''import numpy as np
from numba import njit


@njit(inline="always", cache={cache})
def _maximum(a, b):
    return a if (a >= b or a != a) else b      # NaN propagates, as numpy.maximum


@njit(inline="always", cache={cache})
def _minimum(a, b):
    return a if (a <= b or a != a) else b


@njit(inline="always", cache={cache})
def _tanh32(x):
    # Eigen's float32 tanh: a 13/6 rational on [-7.9, 7.9], within a few ulp of libm's, and
    # plain arithmetic, so that the loop vectorises (a libm call per element does not)
    if x != x:
        return x
    c = np.float32(7.90531110763549805)
    x = max(min(x, c), -c)
    if abs(x) < np.float32(0.0004):
        return x
    x2 = x * x
    p = x2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
    p = p * x2 + np.float32(-8.60467152213735e-11)
    p = p * x2 + np.float32(5.12229709037114e-08)
    p = p * x2 + np.float32(1.48572235717979e-05)
    p = p * x2 + np.float32(6.37261928875436e-04)
    p = p * x2 + np.float32(4.89352455891786e-03)
    p = p * x
    q = x2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
    q = q * x2 + np.float32(2.26843463243900e-03)
    q = q * x2 + np.float32(4.89352518554385e-03)
    return p / q


@njit(error_model="numpy", cache={cache})
def kernel({params}):
'''


def _generate(fn, signature, ndim, cache):
    """Source of a module whose ``kernel(args..., outputs...)`` runs fn's body over ndim axes."""
    kinds, float_type = signature[0], signature[1]
    trace = _Trace(float_type)
    _Value.trace = trace
    inputs = [_Input(trace, i, kind == "array") for i, kind in enumerate(kinds)]
    result = fn(_Namespace(trace), *inputs)
    results = () if result is None else result if isinstance(result, tuple) else (result,)
    for r in results:
        if not isinstance(r, _Value):
            raise Refused("a fused function returns something other than arrays")
    arrays = [i for i, kind in enumerate(kinds) if kind == "array"]
    params = [f"a{i}" if kind == "array" else f"v{i}" for i, kind in enumerate(kinds)]
    params += [f"o{k}" for k in range(len(results))]
    index = ", ".join(f"i{d}" for d in range(ndim))
    size_of = f"a{arrays[0]}" if arrays else "o0"
    body, indent = [], "    "
    for d in range(ndim):
        body.append(f"{indent}for i{d} in range({size_of}.shape[{d}]):")
        indent += "    "
    loads = [f"{indent}v{i} = a{i}[{index}]" for i in arrays if inputs[i].read]
    stores = [f"{indent}a{i}[{index}] = {inputs[i].current.name}" for i in sorted(trace.written)]
    stores += [f"{indent}o{k}[{index}] = {trace.render(r)}" for k, r in enumerate(results)]
    code = _PRELUDE.format(cache=cache, params=", ".join(params)) + "\n".join(
        body + loads + [indent + line for line in trace.lines] + stores) + "\n"
    return code, trace.written, len(results)


def _cache_folder():
    base = os.environ.get("XPNET_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "xpnet")
    folder = os.path.join(base, "numba")
    try:
        os.makedirs(folder, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=folder, delete=True)
        probe.close()
        return folder, True
    except OSError:                    # no writable cache: compile in a temporary folder
        return tempfile.mkdtemp(prefix="xpnet-numba-"), False


_FOLDER = []


def _load(code, name):
    if not _FOLDER:
        _FOLDER.extend(_cache_folder())
    folder, _ = _FOLDER
    digest = hashlib.sha1(code.encode()).hexdigest()[:16]
    module_name = f"xpnet_fused_{name}_{digest}"
    path = os.path.join(folder, module_name + ".py")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(code)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module.kernel


# -- the compiled callable ----------------------------------------------------------------------

def _float_type(arrays):
    kinds = {a.dtype for a in arrays if a.dtype.kind == "f"}
    return "float32" if kinds == {np.dtype(np.float32)} else "float64"


def _tune_llvm():
    """Let LLVM vectorise loops over many arrays: a cell kernel reads and writes a dozen
    arrays, which need more runtime alias checks than LLVM's default budget (8) allows."""
    import llvmlite.binding as llvm
    llvm.set_option("", "-runtime-memory-check-threshold=1024")


def compile_fused(fn):
    """``fn(xp, *args)`` as a kernel taking ``*args`` (NumPy arrays and Python numbers).

    The per-call work is kept small (about as much as two NumPy calls): a signature key, a
    shape check, the scalar casts; broadcasting makes views only when shapes differ."""
    kernels: dict = {}
    if not _FOLDER:
        _FOLDER.extend(_cache_folder())
        _tune_llvm()
    cache_ok = _FOLDER[1]

    def build(args, key):
        arrays = [a for a in args if type(a) is np.ndarray]
        if not arrays:
            raise Refused("no array among the arguments")
        kinds = tuple("array" if type(a) is np.ndarray else "scalar" for a in args)
        float_type = _float_type(arrays)
        ndim = max(max(a.ndim for a in arrays), 1)
        code, written, n_out = _generate(fn, (kinds, float_type), ndim, cache_ok)
        ftype = np.float32 if float_type == "float32" else np.float64
        casts = tuple(None if kind == "array" else
                      (bool if isinstance(a, (bool, np.bool_)) else
                       int if isinstance(a, numbers.Integral) else ftype)
                      for kind, a in zip(kinds, args))
        return (_load(code, fn.__name__), tuple(written), _output_dtypes(fn, args, n_out),
                casts, ndim)

    def run(*args):
        key = tuple((a.dtype.char, a.ndim) if type(a) is np.ndarray else type(a) for a in args)
        entry = kernels.get(key)
        if entry is None:
            entry = kernels[key] = build(args, key)
        kernel, written, out_dtypes, casts, ndim = entry
        arrays = [a for a in args if type(a) is np.ndarray]
        shape = arrays[0].shape
        if any(a.shape != shape for a in arrays):
            shape = np.broadcast_shapes(*(a.shape for a in arrays))
        if written:
            for i in written:
                if args[i].shape != shape or not args[i].flags.writeable:
                    raise Refused(f"{fn.__name__} writes to argument {i} of shape "
                                  f"{args[i].shape}, smaller than the broadcast shape {shape}")
        call_args = [_shaped(a, shape, ndim) if cast is None else cast(a)
                     for a, cast in zip(args, casts)]
        outputs = [np.empty(shape, dtype) for dtype in out_dtypes]
        call_args += [_shaped(o, shape, ndim) for o in outputs]
        kernel(*call_args)
        if not outputs:
            return None
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    run.__name__ = fn.__name__
    return run


def _shaped(a, shape, ndim):
    """``a`` as the kernel indexes it: the broadcast shape, at least one axis."""
    if a.shape != shape:
        a = np.broadcast_to(a, shape)
    return a if a.ndim == ndim else a.reshape((1,) * (ndim - a.ndim) + a.shape)


def _output_dtypes(fn, args, n_out):
    """The dtypes NumPy gives fn's results: fn run once on one-element copies of the arrays."""
    if not n_out:
        return []
    import array_api_compat.numpy as xp
    tiny = [np.ones((1,) * a.ndim, a.dtype) if isinstance(a, np.ndarray) else a for a in args]
    result = fn(xp, *tiny)
    result = result if isinstance(result, tuple) else (result,)
    return [np.asarray(r).dtype for r in result]
