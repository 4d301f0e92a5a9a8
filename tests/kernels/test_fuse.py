"""Every function compiled by kernels.fuse: covered, free of scalar-with-scalar arithmetic (CuPy
types it float16), and equal to its plain reference on every device; fuse's fallback rules."""
import contextlib
import copy
import warnings

import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet import backend, kernels, nn, optim
from xpnet.testing import assert_close


def _train_step(model, x, target, optimizer, loss=F.mse_loss):
    value = loss(model(x), target)
    optimizer.zero_grad()
    value.backward()
    optimizer.step()


def exercise_every_fused_function(device):
    """Small workloads that reach every fused function of the library (extend it with each new
    kernel: test_every_fused_function_is_exercised fails until you do)."""
    xpnet.manual_seed(0)
    x = xpnet.randn(4, 3, 5, 5, device=device)
    seq = xpnet.randn(4, 3, 2, device=device)            # (N, T, features)
    optimizers = [lambda p: optim.SGD(p, lr=0.1), lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                  lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                  lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
                  lambda p: optim.SGD(p, lr=0.1, weight_decay=0.1),
                  lambda p: optim.SGD(p, lr=0.1, momentum=0.5, weight_decay=0.1)]
    for amsgrad in (False, True):
        for cls, wd in ((optim.Adam, 0.0), (optim.Adam, 0.1), (optim.AdamW, 0.1)):
            optimizers.append(lambda p, c=cls, w=wd, a=amsgrad: c(p, weight_decay=w, amsgrad=a))
    for centered in (False, True):
        for momentum in (0.0, 0.9):
            for wd in (0.0, 0.1):
                optimizers.append(lambda p, c=centered, m=momentum, w=wd: optim.RMSprop(
                    p, centered=c, momentum=m, weight_decay=w))
    conv = nn.Sequential(nn.Conv2d(3, 2, 3, device=device), nn.BatchNorm2d(2, device=device),
                         nn.LeakyReLU(0.2), nn.GELU(), nn.MaxPool2d(2, stride=1), nn.ReLU(),
                         nn.MaxPool2d(2),
                         nn.Flatten(), nn.LayerNorm(2, device=device),
                         nn.GELU(approximate="tanh"), nn.Linear(2, 1, device=device))
    for make in optimizers:
        _train_step(conv, x, xpnet.zeros(4, 1, device=device), make(conv.parameters()))
    for layer in (nn.LSTM(2, 3, batch_first=True, device=device),
                  nn.GRU(2, 3, batch_first=True, device=device),
                  nn.RNN(2, 3, batch_first=True, device=device),
                  nn.RNN(2, 3, nonlinearity="relu", batch_first=True, device=device)):
        out, _ = layer(seq)
        out.sum().backward()
    # cross-entropy's array form (its compiled loops are switched off here): (N, C, T) scores,
    # an ignored label, label smoothing
    logits = xpnet.randn(4, 5, 3, device=device, requires_grad=True)
    labels = xpnet.tensor([[1, 4, -100], [0, 2, 3], [4, 4, 1], [-100, 0, 2]], device=device)
    F.cross_entropy(logits, labels, label_smoothing=0.1).backward()


class _Recorder:
    """A compiler for NumPy arrays that records each fused function's first arguments (copied
    before the call, since kernels write in place) and then runs the plain function."""

    def __init__(self):
        self.calls = {}

    def __call__(self, fn):
        def kernel(*args):
            self.calls.setdefault(fn, copy.deepcopy(args))
            return fn(xpnet.device("cpu").xp, *args)
        return kernel


@pytest.fixture(scope="module")
def recorded():
    recorder = _Recorder()
    # compiled loops replace some fused functions: they run as their Array API references here
    with kernels.compiler_for("numpy", recorder), \
            kernels.compiler_for("numpy", None, kind="loops"):
        exercise_every_fused_function("cpu")
    return recorder.calls


def _name(fn):
    return f"{fn.__module__}.{fn.__qualname__}"


def test_every_fused_function_is_exercised(recorded):
    missing = sorted(_name(f.reference) for f in kernels.fused_functions()
                     if f.reference not in recorded and f.__module__.startswith("xpnet."))
    assert not missing, f"add these fused functions to exercise_every_fused_function: {missing}"


class _Symbol:
    """A stand-in for an array or a scalar inside a traced kernel; operations between two
    scalars (Python numbers or scalar arguments) are recorded as offences."""

    dtype = "float32"

    def __init__(self, trace, is_array, what):
        self.trace, self.is_array, self.what = trace, is_array, what

    def _apply(self, other, op):
        return self.trace.combine(op, self, other)

    def __getitem__(self, index):
        return self

    def __setitem__(self, index, value):
        pass

    def __neg__(self):
        return self.trace.combine("neg", self)

    def __abs__(self):
        return self.trace.combine("abs", self)


for _op in ("add", "sub", "mul", "truediv", "pow", "lt", "le", "gt", "ge", "eq", "ne", "and",
            "or"):
    setattr(_Symbol, f"__{_op}__", lambda self, other, _op=_op: self._apply(other, _op))
    setattr(_Symbol, f"__r{_op}__", lambda self, other, _op=_op: self.trace.combine(_op, other, self))
    setattr(_Symbol, f"__i{_op}__", lambda self, other, _op=_op: self._apply(other, _op) and self)


class _Trace:
    def __init__(self):
        self.offences = []

    def combine(self, op, *operands):
        symbols = [o for o in operands if isinstance(o, _Symbol)]
        if not any(s.is_array for s in symbols):
            self.offences.append(f"{op}({', '.join(getattr(o, 'what', repr(o)) for o in operands)})")
            return _Symbol(self, False, f"{op}(...)")
        return _Symbol(self, True, op)

    def namespace(self):
        trace = self

        class Namespace:
            float32, float64 = "float32", "float64"

            def __getattr__(self, name):
                return lambda *args, **kwargs: trace.combine(
                    name, *[a for a in args if not isinstance(a, str)])
        return Namespace()


def test_no_fused_function_computes_with_two_scalars(recorded):
    offenders = {}
    for fn, args in recorded.items():
        trace = _Trace()
        symbols = [_Symbol(trace, hasattr(a, "shape"), f"arg{i}") if hasattr(a, "shape")
                   or isinstance(a, (int, float)) else a for i, a in enumerate(args)]
        fn(trace.namespace(), *symbols)
        if trace.offences:
            offenders[_name(fn)] = trace.offences
    assert not offenders, ("compute these on the host and pass them in (CuPy runs "
                           f"scalar-with-scalar operations in float16): {offenders}")


def test_the_tracer_catches_a_scalar_with_scalar_operation():
    def bad(xp, p, g, beta):
        p -= (1.0 - beta) * g
    trace = _Trace()
    bad(trace.namespace(), _Symbol(trace, True, "p"), _Symbol(trace, True, "g"),
        _Symbol(trace, False, "beta"))
    assert trace.offences == ["sub(1.0, beta)"]


def test_compiled_and_plain_calls_agree_on_every_device(recorded, device):
    """Each kernel as the device runs it (compiled where a compiler exists) against the plain
    function, on the recorded arguments: the same results and the same in-place writes."""
    b = xpnet.device(device)
    for fn, args in recorded.items():
        name = _name(fn)
        fused = next(f for f in kernels.fused_functions() if f.reference is fn)
        moved = [b.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
        plain = [b.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
        got, expected = fused(b.xp, *moved), fused.reference(b.xp, *plain)
        got = got if isinstance(got, tuple) else (got,)
        expected = expected if isinstance(expected, tuple) else (expected,)
        for g, e in zip(got + tuple(moved), expected + tuple(plain)):
            if g is not None and backend.is_array(g):
                assert_close(g, e, rtol=1e-6, atol=1e-6, msg=name)


def test_fuse_falls_back_only_when_the_compiler_refuses():
    @kernels.fuse
    def triple(xp, x):
        return 3.0 * x

    def refusing(fn):
        raise NotImplementedError("no such construct")

    x = np.ones(3)
    with kernels.compiler_for("numpy", refusing, lambda: (NotImplementedError,)):
        with pytest.warns(RuntimeWarning, match="could not compile triple .*running it unfused"):
            np.testing.assert_array_equal(triple(None, x), 3.0 * x)
        with warnings.catch_warnings():
            warnings.simplefilter("error")            # warned once, not at every call
            np.testing.assert_array_equal(triple(None, x), 3.0 * x)


def test_fuse_lets_runtime_errors_of_a_kernel_through():
    @kernels.fuse
    def double(xp, x):
        return 2.0 * x

    def out_of_memory(fn):
        def kernel(*args):
            raise MemoryError("out of memory allocating 1 GB")
        return kernel

    with kernels.compiler_for("numpy", out_of_memory, lambda: (NotImplementedError,)):
        with pytest.raises(MemoryError, match="out of memory"):
            double(None, np.ones(2))
        with pytest.raises(MemoryError):          # still compiled: not silently turned off
            double(None, np.ones(2))


def test_every_fused_function_compiles_for_numpy_with_numba(recorded):
    """With Numba installed (the fast and test extras) every kernel compiles on the CPU: no
    function silently runs unfused."""
    pytest.importorskip("numba")
    if kernels.compiler("numpy") is None:
        pytest.skip("XPNET_COMPILER=none switches the CPU compiler off")
    refused = []
    for fn, args in recorded.items():
        fused = next(f for f in kernels.fused_functions() if f.reference is fn)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                fused(xpnet.device("cpu").xp, *copy.deepcopy(args))
            except RuntimeWarning as exc:
                refused.append(f"{_name(fn)}: {exc}")
        if fused.kernels.get("numpy") is None:
            refused.append(_name(fn))
    assert not refused, refused


@kernels.fuse
def _scaled_shift(xp, out, x, scale, shift, k):
    out[...] = out + xp.maximum(x, 0.0) * scale + shift * k
    return xp.tanh(x) * scale


def _layouts():
    rng = np.random.default_rng(0)
    r = lambda *s: rng.standard_normal(s)                      # noqa: E731
    nhwc = lambda *s: np.transpose(r(s[0], s[2], s[3], s[1]), (0, 3, 1, 2))   # noqa: E731
    return {
        # C-contiguous NCHW with short rows (its axes merge into one loop), per-channel scale
        "nchw": (r(4, 3, 5, 5), r(4, 3, 5, 5), r(1, 3, 1, 1), r(1, 3, 1, 1)),
        # an NCHW view of NHWC memory, as conv outputs are
        "nhwc view": (nhwc(2, 6, 3, 3), nhwc(2, 6, 3, 3), r(1, 6, 1, 1), r(6, 1, 1)),
        # broadcast along the last axis but not the first: those two axes must not merge
        "broadcast": (r(4, 1, 5), r(4, 1, 5), r(4, 1, 1), r(5)),
        # a column block of a matrix (the 'R' mode) and a strided view
        "column block": (r(6, 20)[:, 4:12], r(6, 8), r(8), r(6, 16)[:, ::2]),
    }


@pytest.mark.parametrize("layout", list(_layouts()))
def test_the_cpu_compiler_follows_every_layout(layout):
    """A fused kernel on arrays of several memory layouts (merged loops, views, broadcasts)
    gives what the plain NumPy calls give, result and in-place write alike."""
    pytest.importorskip("numba")
    if kernels.compiler("numpy") is None:
        pytest.skip("XPNET_COMPILER=none switches the CPU compiler off")
    expected_out, x, scale, shift = _layouts()[layout]
    expected = _scaled_shift.reference(xpnet.device("cpu").xp, expected_out, x, scale, shift, 0.5)
    for _ in range(2):                                   # the plan is built, then reused
        got_out, x, scale, shift = _layouts()[layout]    # the same values in the same layouts
        got = _scaled_shift(None, got_out, x, scale, shift, 0.5)
        assert _scaled_shift.kernels.get("numpy") is not None
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got_out, expected_out, rtol=1e-12, atol=1e-12)
        assert got.shape == expected.shape


def test_a_refusal_for_one_dtype_leaves_the_others_compiled():
    """Numba has no float16 arithmetic: a float16 call runs the reference (warned once, unless
    the compiler declares float16 a known gap), and the float32 kernel of the same function
    stays compiled."""
    pytest.importorskip("numba")
    if kernels.compiler("numpy") is None:
        pytest.skip("XPNET_COMPILER=none switches the CPU compiler off")

    @kernels.fuse
    def halve_and_shift(xp, x):
        return 0.5 * x + 1.0

    half, single = np.linspace(-1, 1, 5).astype(np.float16), np.linspace(-1, 1, 5, dtype=np.float32)
    declined = "float16" in kernels.compiler("numpy").declines
    try:
        np.testing.assert_array_equal(halve_and_shift(np, single), 0.5 * single + 1.0)
        with (_no_warning() if declined else
              pytest.warns(RuntimeWarning, match="could not compile halve_and_shift")):
            got = halve_and_shift(np, half)
        assert got.dtype == np.float16
        np.testing.assert_array_equal(got, 0.5 * half + np.float16(1.0))
        with warnings.catch_warnings():
            warnings.simplefilter("error")                # warned once per dtype
            halve_and_shift(np, half)
        assert halve_and_shift.refused == {("numpy", "float16")}
        assert halve_and_shift.kernels["numpy"] is not None     # float32 still compiled
        np.testing.assert_array_equal(halve_and_shift(np, single), 0.5 * single + 1.0)
    finally:
        kernels.forget(halve_and_shift)


@contextlib.contextmanager
def _no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _refusing_float16(fn):
    """A compiler that takes every dtype but float16 (as Numba), refusing at the call."""
    def kernel(*args):
        if any(getattr(a, "dtype", None) == np.float16 for a in args):
            raise NotImplementedError("float16")
        return fn(np, *args)
    return kernel


@pytest.mark.parametrize("declines", [(), ("float16",)])
def test_a_declined_dtype_runs_the_reference_without_a_warning(declines):
    """A refusal of a dtype the compiler declares it never takes is a known gap: the reference
    runs silently; any other refusal warns. Either way it is remembered for that dtype only."""
    @kernels.fuse
    def shift(xp, x):
        return x + 1.0

    half, single = np.zeros(3, dtype=np.float16), np.zeros(3, dtype=np.float32)
    try:
        with kernels.compiler_for("numpy", _refusing_float16, lambda: (NotImplementedError,),
                                  declines=declines):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                got = shift(None, half)
            assert got.dtype == np.float16 and got.tolist() == [1.0, 1.0, 1.0]
            warned = [w for w in caught if "could not compile shift" in str(w.message)]
            assert len(warned) == (0 if declines else 1)
            assert shift.refused == {("numpy", "float16")}
            np.testing.assert_array_equal(shift(None, single), single + 1.0)
            assert shift.refused == {("numpy", "float16")}
            assert kernels.compiler("numpy").declines == frozenset(declines)
    finally:
        kernels.forget(shift)
