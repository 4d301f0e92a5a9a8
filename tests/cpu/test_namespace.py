"""The 'cpu' device's namespace (xpnet.cpu.namespace): NumPy with the Python wrappers of its
hottest functions bypassed. Each replacement gives what NumPy's own function gives (values,
dtype, shape, memory layout, views, errors) on plain arrays, and hands anything else to NumPy."""
import os

import numpy as np
import pytest

import xpnet
from xpnet import backend
from xpnet.cpu import namespace as fast_numpy

fast = fast_numpy.namespace()


class _Sub(np.ndarray):
    """An ndarray subclass: not a plain ndarray, so NumPy's own function takes it."""


def _arrays():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((2, 3, 4))
    return {
        "float32": base.astype(np.float32),
        "float64 view": np.moveaxis(base, 0, -1),               # non-contiguous
        "int32": rng.integers(-5, 5, (2, 3, 4)).astype(np.int32),
        "uint8": rng.integers(0, 9, (2, 3, 4)).astype(np.uint8),
        "bool": base > 0,
        "0-d": np.asarray(np.float32(1.5)),
        "empty": np.zeros((0, 3, 4), np.float32),
        "subclass": base.view(_Sub),
    }


def _same(got, expected):
    got_array, expected_array = np.asarray(got), np.asarray(expected)
    assert type(got) is type(expected)
    assert got_array.dtype == expected_array.dtype and got_array.shape == expected_array.shape
    np.testing.assert_array_equal(got_array, expected_array)
    if isinstance(expected, np.ndarray):
        assert got.strides == expected.strides


def _outcome(fn, *args, **kwargs):
    try:
        return "ok", fn(*args, **kwargs)
    except Exception as exc:       # noqa: BLE001 (the very exception is compared)
        return "raised", (type(exc), str(exc))


def _cases(x):
    shape = x.shape
    yield "reshape", (x, (-1,)), {}
    yield "reshape", (x, shape[::-1] if x.ndim else ()), {}
    yield "reshape", (x, (5, 7)), {}                           # incompatible: the same error
    yield "reshape", (x, (-1,)), {"copy": True}
    yield "permute_dims", (x, tuple(range(x.ndim))[::-1]), {}
    yield "permute_dims", (x, (0,)), {}                        # wrong length: the same error
    yield "matrix_transpose", (x,), {}
    for axis in (None, 0, (0, 2), -1):
        if axis is not None and x.ndim < 3:
            continue
        for keepdims in (False, True):
            yield "sum", (x,), {"axis": axis, "keepdims": keepdims}
            yield "max", (x,), {"axis": axis, "keepdims": keepdims}
            yield "min", (x,), {"axis": axis, "keepdims": keepdims}
    yield "sum", (x,), {"dtype": np.float64}
    for dtype in (np.float32, np.int64, np.bool_):
        yield "astype", (x, dtype), {}
        yield "astype", (x, dtype), {"copy": False}


@pytest.mark.parametrize("name", list(_arrays()))
def test_each_replacement_gives_what_numpy_gives(name):
    x = _arrays()[name]
    for fn_name, args, kwargs in _cases(x):
        ours = _outcome(getattr(fast, fn_name), *args, **kwargs)
        numpys = _outcome(getattr(np, fn_name), *args, **kwargs)
        assert ours[0] == numpys[0], (fn_name, kwargs, ours, numpys)
        if ours[0] == "raised":
            assert ours[1] == numpys[1], (fn_name, kwargs)
        else:
            _same(ours[1], numpys[1])
            if fn_name in ("reshape", "permute_dims", "matrix_transpose") and \
                    not kwargs.get("copy") and isinstance(numpys[1], np.ndarray):
                assert np.shares_memory(ours[1], x) == np.shares_memory(numpys[1], x)
            if fn_name == "astype" and kwargs.get("copy") is False and x.dtype == args[1]:
                assert ours[1] is x                              # no copy, as NumPy


def test_scalars_go_to_numpy():
    for value in (np.float32(2.5), np.int64(3)):
        for fn_name in ("sum", "max", "min"):
            _same(getattr(fast, fn_name)(value), getattr(np, fn_name)(value))
        _same(fast.reshape(value, (1,)), np.reshape(value, (1,)))
        _same(fast.astype(np.asarray(value), np.float64), np.astype(np.asarray(value), np.float64))


def test_isdtype_remembers_numpys_answers_and_errors():
    for dtype in (np.dtype("float32"), np.dtype("int8"), np.dtype("bool"), np.float64):
        for kind in ("real floating", "integral", "bool", ("integral", "bool"), np.float32):
            assert fast.isdtype(dtype, kind) == np.isdtype(dtype, kind)
            assert fast.isdtype(dtype, kind) == np.isdtype(dtype, kind)   # from the memory
    for bad in (["integral"], "no such kind"):
        with pytest.raises(Exception) as ours:
            fast.isdtype(np.dtype("float32"), bad)
        with pytest.raises(Exception) as numpys:
            np.isdtype(np.dtype("float32"), bad)
        assert ours.type is numpys.type and str(ours.value) == str(numpys.value)


def test_the_namespace_is_numpy_elsewhere():
    assert fast.float32 is np.float32 and fast.matmul is np.matmul and fast.exp is np.exp
    assert fast.linalg is np.linalg and fast.fft is np.fft
    public = [k for k in vars(np) if not k.startswith("_")]
    assert all(hasattr(fast, k) for k in public)
    assert fast_numpy.namespace() is fast


def test_the_cpu_device_uses_it():
    major, minor = (int(p) for p in np.__version__.split(".")[:2])
    if (major, minor) < (2, 1) or os.environ.get("XPNET_NUMPY_COMPAT") == "1":
        pytest.skip("this NumPy goes through array-api-compat")
    assert xpnet.device("cpu").xp is fast
    assert backend.backend_of(np.zeros(2)).xp is fast
