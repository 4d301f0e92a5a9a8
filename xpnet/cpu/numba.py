"""The CPU compiler behind :func:`xpnet.kernels.fuse` and :func:`xpnet.kernels.loops`: Numba, as
``cupy.fuse`` is on the GPU. It registers itself with :mod:`xpnet.kernels` for NumPy arrays when
Numba is installed (``xpnet[fast]``), unless ``XPNET_COMPILER=none``.

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
that is smaller than the broadcast shape) raises :class:`Refused`, and ``kernels.fuse`` then runs
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

from .. import kernels
# building a kernel (tracing, writing its module, importing it) one thread at a time, under
# the lock kernels take for a first call (one lock: no lock order): host threads
# (xpnet.cpu.threads.SlabThreads) may meet a new function or layout together
from ..kernels import COMPILE_LOCK as _BUILD_LOCK
from .memory import ALLOCATOR as _ALLOCATOR   # fresh outputs: kept host memory when free

__all__ = ["compile_fused", "compile_loops", "Refused", "refusals", "wanted", "register"]


class Refused(NotImplementedError):
    """The function cannot be compiled (it then runs as plain NumPy calls)."""


def refusals():
    """What means "Numba cannot take this": Refused (the tracer), Numba's typing errors, and
    NotImplementedError (Numba has no float16 arithmetic, for one)."""
    from numba.core.errors import NumbaError
    return (NotImplementedError, NumbaError, TypeError)


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

    @property
    def dtype(self):          # what xp.astype(mask, x.dtype) asks for: the kernel's float type
        return self.trace.float_type

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


@njit(error_model="numpy", cache={cache}, nogil=True)
def kernel({params}):
'''


def _generate(fn, kinds, float_type, layout, cache):
    """Source of a module whose ``kernel(args..., outputs...)`` runs fn's body over the loop
    nest ``layout`` describes: ``(ndim, modes, patterns)``, per argument a mode and the axes it
    is broadcast along (indexed 0 there).

    Modes: 'C' a C-contiguous array, indexed as it is; 'R' a view whose last axis has unit
    stride inside a C-contiguous base (a column block of a matrix, one step of a buffer), read
    and written through the flat base with the view's offset and strides, so the innermost
    loop is unit-stride and vectorises; 'A' anything else (correct, not vectorised)."""
    ndim, modes, patterns = layout
    trace = _Trace(float_type)
    inputs = [_Input(trace, i, kind == "array") for i, kind in enumerate(kinds)]
    result = fn(_Namespace(trace), *inputs)
    results = () if result is None else result if isinstance(result, tuple) else (result,)
    for r in results:
        if not isinstance(r, _Value):
            raise Refused("a fused function returns something other than arrays")
    arrays = [i for i, kind in enumerate(kinds) if kind == "array"]
    params = []
    for i, kind in enumerate(kinds):
        params += ([f"a{i}", f"b{i}"] if modes[i] == "R" else [f"a{i}"]) if kind == "array" \
            else [f"v{i}"]
    params += [f"o{k}" for k in range(len(results))]
    last = ndim - 1
    setup, body, indent = [], [], "    "
    for i in arrays:
        if modes[i] == "R":
            setup += [f"    r{i} = b{i}.ravel()",
                      f"    f{i} = (a{i}.ctypes.data - b{i}.ctypes.data) // a{i}.itemsize"]
            setup += [f"    s{i}_{d} = a{i}.strides[{d}] // a{i}.itemsize"
                      for d in range(last) if not patterns[i][d]]
    size_of = next((f"a{i}" for i in arrays if not any(patterns[i])), "o0")
    setup.append(f"    n = {size_of}.shape[{last}]")
    for d in range(last):
        body.append(f"{indent}for i{d} in range({size_of}.shape[{d}]):")
        indent += "    "
    # one 1-D row per array for the innermost loop: unit stride, so LLVM vectorises it
    rows, outer_loads = [], []
    lead = lambda i: ", ".join("0" if patterns[i][d] else f"i{d}" for d in range(last))  # noqa
    for i in arrays:
        if patterns[i][last]:                         # broadcast along the row: one value
            if inputs[i].read:
                index = (lead(i) + ", 0") if last else "0"
                outer_loads.append(f"{indent}v{i} = a{i}[{index}]")
            continue
        if modes[i] == "R":
            start = " + ".join([f"f{i}"] + [f"i{d} * s{i}_{d}" for d in range(last)
                                             if not patterns[i][d]])
            rows.append(f"{indent}x{i} = r{i}[{start}:{start} + n]")
        elif last:
            rows.append(f"{indent}x{i} = a{i}[{lead(i)}]")
        else:
            rows.append(f"{indent}x{i} = a{i}")
    outputs = [f"{indent}y{k} = o{k}[{', '.join(f'i{d}' for d in range(last))}]" if last
               else f"{indent}y{k} = o{k}" for k in range(len(results))]
    body += outer_loads + rows + outputs + [f"{indent}for j in range(n):"]
    indent += "    "
    row_arrays = [i for i in arrays if not patterns[i][last]]
    loads = [f"{indent}v{i} = x{i}[j]" for i in row_arrays if inputs[i].read]
    stores = [f"{indent}x{i}[j] = {inputs[i].current.name}" for i in sorted(trace.written)]
    stores += [f"{indent}y{k}[j] = {trace.render(r)}" for k, r in enumerate(results)]
    code = _PRELUDE.format(cache=cache, params=", ".join(params)) + "\n".join(
        setup + body + loads + [indent + line for line in trace.lines] + stores) + "\n"
    return code, tuple(sorted(trace.written)), len(results)


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


CACHE = []   # (cache folder, whether Numba may cache there), filled once by setup()


def setup():
    """(cache folder, whether Numba may cache there), found once; LLVM tuned at the same time."""
    if not CACHE:
        with _BUILD_LOCK:
            if not CACHE:
                found = _cache_folder()
                _tune_llvm()
                CACHE.extend(found)
    return CACHE


def _load(code, name):
    folder, _ = setup()
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

    Each call looks at the arrays' memory layout, as NumPy's own elementwise loops do: the loop
    nest follows the memory order of the first full-size array (an NCHW view of NHWC memory is
    walked in NHWC order, and results come back in that order), each array is read in the
    cheapest way its layout allows (see :func:`_generate`), broadcast axes are indexed at 0."""
    kernels: dict = {}
    _, cache_ok = setup()

    def build(args, layout):
        arrays = [a for a in args if a.__class__ is _ndarray]
        if not arrays:
            raise Refused("no array among the arguments")
        kinds = tuple("array" if a.__class__ is _ndarray else "scalar" for a in args)
        float_type = _float_type(arrays)
        code, written, n_out = _generate(fn, kinds, float_type, layout, cache_ok)
        ftype = np.float32 if float_type == "float32" else np.float64
        casts = tuple(None if kind == "array" else
                      (bool if isinstance(a, (bool, np.bool_)) else
                       int if isinstance(a, numbers.Integral) else ftype)
                      for kind, a in zip(kinds, args))
        return _load(code, fn.__name__), written, _output_dtypes(fn, args, n_out), casts

    plans: dict = {}

    def run(*args):
        # the layout key: what decides the loop nest and the kernel (cheap to build per call)
        key = tuple([(a.shape, a.strides, a.dtype.num) if a.__class__ is _ndarray
                     else a.__class__ for a in args])
        plan = plans.get(key)
        if plan is None:
            with _BUILD_LOCK:        # host threads may meet a new layout together
                plan = _Plan(args)
                entry = kernels.get(plan.kernel_key)
                if entry is None:
                    entry = kernels[plan.kernel_key] = build(args, plan.layout)
                plan.entry = entry
                for i in entry[1]:
                    if args[i].shape != plan.shape or not args[i].flags.writeable:
                        raise Refused(f"{fn.__name__} writes to argument {i} of shape "
                                      f"{args[i].shape}, smaller than the broadcast shape "
                                      f"{plan.shape}")
                plans[key] = plan    # only once complete
        kernel, written, out_dtypes, casts = plan.entry
        call_args = plan.arguments(args, casts)
        if not out_dtypes:
            kernel(*call_args)
            return None
        outputs = [_ALLOCATOR.empty(plan.kernel_shape, dtype) for dtype in out_dtypes]
        kernel(*call_args, *outputs)
        outputs = [plan.unlay(o) for o in outputs]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    run.__name__ = fn.__name__
    return run


_SHORT_ROW = 64   # innermost loops shorter than this are merged with the axes around them


class _Plan:
    """How the arrays of one layout (shapes, strides, dtypes) go through the loop nest: at the
    common number of axes (at least one), transposed into the memory order of the first
    full-size array, each read in its mode ('C', 'R', 'A') with its broadcast axes at 0."""

    def __init__(self, args):
        arrays = [a for a in args if a.__class__ is _ndarray]
        if not arrays:
            raise Refused("no array among the arguments")
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        ndim = max(len(shape), 1)
        self.shape, self.ndim = shape, ndim
        self.expand = [a.__class__ is _ndarray and a.ndim != ndim for a in args]
        laid = [self._expanded(a, i) for i, a in enumerate(args)]
        full = next(a for a in laid if a.__class__ is _ndarray and a.shape == (shape or (1,)))
        strides, self.order = full.strides, None
        if ndim > 1 and any(strides[d] < strides[d + 1] for d in range(ndim - 1)
                            if full.shape[d] > 1 and full.shape[d + 1] > 1):
            self.order = tuple(sorted(range(ndim), key=lambda d: -strides[d]))
            self.inverse = tuple(int(d) for d in np.argsort(self.order))
            laid = [a.transpose(self.order) if a.__class__ is _ndarray else a for a in laid]
        target = tuple(shape[d] for d in self.order) if self.order else (shape or (1,))
        self.laid_shape = self.kernel_shape = target
        self.merged = None
        groups = _mergeable_axes(laid, target) if target[-1] < _SHORT_ROW else None
        if groups is not None and len(groups) < len(target):
            # adjacent axes that every array walks as one run become one loop: a (128, 128, 7, 7)
            # array is one loop of 802,816 instead of 16,384 loops of 7 (only for short rows:
            # with long ones the loop already vectorises, and merging costs a reshape per call)
            self.merged = [None if a.__class__ is not _ndarray else
                           tuple(int(np.prod([a.shape[d] for d in g])) for g in groups)
                           for a in laid]
            laid = [a if m is None else a.reshape(m) for a, m in zip(laid, self.merged)]
            target = self.kernel_shape = tuple(int(np.prod([target[d] for d in g]))
                                               for g in groups)
            ndim = len(target)
        modes, patterns = [], []
        for a in laid:
            if a.__class__ is not _ndarray:
                modes.append("S")
                patterns.append(())
                continue
            pattern = tuple(n == 1 and m != 1 for n, m in zip(a.shape, target))
            patterns.append(pattern)
            if a.flags.c_contiguous:
                modes.append("C")
            elif (a.strides[-1] == a.itemsize and a.base is not None and
                  a.base.flags.c_contiguous and not pattern[-1]):
                modes.append("R")
            else:
                modes.append("A")
        self.modes = tuple(modes)
        self.layout = (ndim, self.modes, tuple(patterns))
        self.kernel_key = (tuple([(a.dtype.num, a.ndim) if a.__class__ is _ndarray else
                                  a.__class__ for a in args]), self.layout)
        self.plain = (not any(self.expand) and self.order is None and self.merged is None
                      and "R" not in modes)

    def _expanded(self, a, i):
        return a.reshape((1,) * (self.ndim - a.ndim) + a.shape) if self.expand[i] else a

    def arguments(self, args, casts):
        if self.plain:
            return [a if cast is None else cast(a) for a, cast in zip(args, casts)]
        call_args = []
        for i, (a, cast, mode) in enumerate(zip(args, casts, self.modes)):
            if cast is not None:
                call_args.append(cast(a))
                continue
            a = self._expanded(a, i)
            if self.order is not None:
                a = a.transpose(self.order)
            if self.merged is not None:
                a = a.reshape(self.merged[i])          # a view: the axes were checked to merge
            if mode == "R":
                base = a.base
                if base is None or not base.flags.c_contiguous:   # same strides, other base
                    raise Refused("a view's base changed its layout")
                call_args += (a, base)
            else:
                call_args.append(a)
        return call_args

    def unlay(self, out):
        if not self.shape:
            return out.reshape(())
        if self.merged is not None:
            out = out.reshape(self.laid_shape)
        return out.transpose(self.inverse) if self.order is not None else out


def _mergeable_axes(laid, target):
    """Groups of adjacent axes of the loop nest that are one axis for every array: each array
    is either broadcast along all of a group or walks it as one evenly strided run (an axis's
    stride is the next one's times its length). Axes of length 1 join any group."""
    groups, last = [[0]], 0 if target[0] > 1 else None   # last: the group's last axis > 1
    for d in range(1, len(target)):
        if target[d] == 1 or last is None:
            groups[-1].append(d)
            last = d if target[d] > 1 else last
            continue
        joins = True
        for a in laid:
            if a.__class__ is not _ndarray:
                continue
            before, here = a.shape[last] == 1, a.shape[d] == 1        # broadcast axes
            if before != here or (not here and a.strides[last] != a.strides[d] * a.shape[d]):
                joins = False
                break
        if joins:
            groups[-1].append(d)
        else:
            groups.append([d])
        last = d
    return groups


_ndarray = np.ndarray


def _output_dtypes(fn, args, n_out):
    """The dtypes NumPy gives fn's results: fn run once on one-element copies of the arrays."""
    if not n_out:
        return []
    import array_api_compat.numpy as xp
    tiny = [np.ones((1,) * a.ndim, a.dtype) if isinstance(a, np.ndarray) else a for a in args]
    result = fn(xp, *tiny)
    result = result if isinstance(result, tuple) else (result,)
    return [np.asarray(r).dtype for r in result]


# -- loop nests (kernels.loops) ----------------------------------------------------------------

def compile_loops(loops):
    """``loops(*args)``, a function of plain loops over NumPy arrays (see
    :func:`xpnet.kernels.loops`), compiled by ``numba.njit``: its source is written as a small
    module to the cache folder, as the fused kernels are, so the machine code is cached on disk.
    It must be self-contained (no names from its module other than ``range``, builtins and
    ``math``), except for the functions listed in its ``helpers`` attribute, which are compiled
    with it and inlined. A loop nest with ``loops.blas = True`` may call
    :func:`xpnet.cpu.blas.matmul_into` (listed among its helpers), NumPy's own sgemm; where that
    is not found it is not compiled, and its reference runs, without a warning."""
    import inspect
    import textwrap
    _, cache_ok = setup()
    prelude = ""
    if getattr(loops, "blas", False):
        from . import blas
        prelude = blas.numba_declaration()
        if prelude is None:
            return None

    def source_of(fn):
        try:
            text = textwrap.dedent(inspect.getsource(fn))
        except (OSError, TypeError) as exc:       # installed without its .py files
            raise Refused(f"no source for {fn.__name__}: {exc}") from None
        return text[text.index("def "):]          # without decorators

    helpers = "".join(f"@njit(inline='always', cache={cache_ok})\n{source_of(h)}\n\n"
                      for h in getattr(loops, "helpers", ()))
    code = (f"import math\n\nfrom numba import njit\n{prelude}\n\n{helpers}{source_of(loops)}\n\n"
            f"kernel = njit(cache={cache_ok}, error_model='numpy', nogil=True)"
            f"({loops.__name__})\n")
    return _load(code, loops.__name__)


# -- registration -------------------------------------------------------------------------------

def wanted() -> bool:
    """Numba compiles the kernels on NumPy when it is installed (``xpnet[fast]``), unless
    ``XPNET_COMPILER=none`` (plain NumPy calls, the reference)."""
    choice = os.environ.get("XPNET_COMPILER", "auto").strip().lower()
    if choice not in ("auto", "numba", "none"):
        raise ValueError(f"XPNET_COMPILER must be 'auto', 'numba' or 'none', got {choice!r}")
    if choice == "none":
        return False
    found = importlib.util.find_spec("numba") is not None
    if choice == "numba" and not found:
        raise RuntimeError('XPNET_COMPILER=numba needs Numba, which is not installed; '
                           'pip install "xpnet[fast]"')
    if not found:
        return False
    try:       # installed is not importable: a Numba built for another NumPy fails here
        import numba  # noqa: F401
    except Exception as exc:
        if choice == "numba":
            raise RuntimeError(f"XPNET_COMPILER=numba, but Numba cannot be imported "
                               f"({type(exc).__name__}: {exc})") from exc
        import warnings
        warnings.warn(f"xpnet: Numba is installed but cannot be imported ({type(exc).__name__}: "
                      f"{exc}); the CPU kernels run as plain NumPy calls (XPNET_COMPILER=none "
                      f"silences this)", RuntimeWarning, stacklevel=2)
        return False
    return True


def register() -> None:
    """Register this compiler for NumPy arrays, both kinds of kernel, when :func:`wanted`."""
    if wanted():
        # Numba has no float16 arithmetic: those calls run the reference, without a warning
        kernels.register_compiler("numpy", compile_fused, refusals, kind=kernels.FUSE,
                                  declines=("float16",))
        kernels.register_compiler("numpy", compile_loops, refusals, kind=kernels.LOOPS,
                                  declines=("float16",))
