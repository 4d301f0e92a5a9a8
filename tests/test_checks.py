"""xpnet.checks: each check returns the canonical value or raises one message shape,
``"<owner>: <name> must <expectation>, got <received>"``."""
import math
import re

import numpy as np
import pytest

import xpnet
from xpnet import checks


@pytest.mark.parametrize("call, expected", [
    (lambda: checks.positive_int("L", "size", 3), 3),
    (lambda: checks.positive_int("L", "size", np.int64(4)), 4),
    (lambda: checks.non_negative_int("L", "patience", 0), 0),
    (lambda: checks.integer("L", "diagonal", -2), -2),
    (lambda: checks.integer("L", "max_len", 5, minimum=4), 5),
    (lambda: checks.number("L", "lr", 1, minimum=0), 1.0),
    (lambda: checks.number("L", "lr", np.float32(0.5), minimum=0), 0.5),
    (lambda: checks.number("L", "factor", 1.0, 0, 1, min_open=True), 1.0),
    (lambda: checks.probability("L", "p", 0.0), 0.0),
    (lambda: checks.probability("L", "p", 1, allow_one=True), 1.0),
    (lambda: checks.pair("L", "stride", 2), (2, 2)),
    (lambda: checks.pair("L", "stride", [1, 3], minimum=1), (1, 3)),
    (lambda: checks.pair("L", "padding", (0, 0), minimum=0), (0, 0)),
], ids=lambda v: "" if callable(v) else repr(v))
def test_a_good_value_comes_back_in_its_canonical_form(call, expected):
    got = call()
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("call, error, message", [
    # ints: the type first (quoted, with its type), then the range
    (lambda: checks.positive_int("Linear", "in_features", 0), ValueError,
     r"^Linear: in_features must be a positive int, got 0$"),
    (lambda: checks.positive_int("Linear", "in_features", -3), ValueError,
     r"^Linear: in_features must be a positive int, got -3$"),
    (lambda: checks.positive_int("Linear", "in_features", "3"), TypeError,
     r"^Linear: in_features must be a positive int, got '3' \(str\)$"),
    (lambda: checks.positive_int("Linear", "in_features", 3.0), TypeError,
     r"^Linear: in_features must be a positive int, got 3.0 \(float\)$"),
    (lambda: checks.positive_int("Linear", "in_features", True), TypeError,
     r"^Linear: in_features must be a positive int, got True \(bool\)$"),
    (lambda: checks.non_negative_int("Sched", "patience", -1), ValueError,
     r"^Sched: patience must be a non-negative int, got -1$"),
    (lambda: checks.integer("seq", "max_len", 3, minimum=4), ValueError,
     r"^seq: max_len must be an int >= 4, got 3$"),
    (lambda: checks.integer("triu", "diagonal", None), TypeError,
     r"^triu: diagonal must be an int, got None \(NoneType\)$"),
    # numbers: a string is never shown as if it were a number
    (lambda: checks.number("SGD", "lr", "0.1", minimum=0), TypeError,
     r"^SGD: lr must be a number >= 0, got '0.1' \(str\)$"),
    (lambda: checks.number("SGD", "lr", -0.1, minimum=0), ValueError,
     r"^SGD: lr must be >= 0, got -0.1$"),
    (lambda: checks.number("SGD", "lr", math.nan, minimum=0), ValueError,
     r"^SGD: lr must be >= 0, got nan$"),
    (lambda: checks.number("clip", "norm_type", 0, minimum=0, min_open=True), ValueError,
     r"^clip: norm_type must be > 0, got 0$"),
    (lambda: checks.number("L", "slope", [1.0]), TypeError,
     r"^L: slope must be a number, got \[1.0\] \(list\)$"),
    (lambda: checks.number("L", "x", False), TypeError,
     r"^L: x must be a number, got False \(bool\)$"),
    (lambda: checks.number("LR", "factor", 1.0, 0, 1, min_open=True, max_open=True), ValueError,
     r"^LR: factor must be in \(0, 1\), got 1.0$"),
    (lambda: checks.number("L", "cap", 5, maximum=4), ValueError, r"^L: cap must be <= 4, got 5$"),
    (lambda: checks.probability("Dropout", "p", 1.0), ValueError,
     r"^Dropout: p must be in \[0, 1\), got 1.0$"),
    (lambda: checks.probability("Dropout", "p", -0.5), ValueError,
     r"^Dropout: p must be in \[0, 1\), got -0.5$"),
    (lambda: checks.probability("Dropout", "p", "0.5"), TypeError,
     r"^Dropout: p must be a number in \[0, 1\), got '0.5' \(str\)$"),
    (lambda: checks.probability("bernoulli", "p", 1.5, allow_one=True), ValueError,
     r"^bernoulli: p must be in \[0, 1\], got 1.5$"),
    # pairs
    (lambda: checks.pair("Conv2d", "kernel_size", 0, minimum=1), ValueError,
     r"^Conv2d: kernel_size must be positive, got \(0, 0\)$"),
    (lambda: checks.pair("Conv2d", "kernel_size", (3, -1), minimum=1), ValueError,
     r"^Conv2d: kernel_size must be positive, got \(3, -1\)$"),
    (lambda: checks.pair("Conv2d", "padding", -1, minimum=0), ValueError,
     r"^Conv2d: padding must be non-negative, got \(-1, -1\)$"),
    (lambda: checks.pair("Conv2d", "kernel_size", (1, 2, 3)), TypeError,
     r"^Conv2d: kernel_size must be an int or a pair of ints, got \(1, 2, 3\)$"),
    (lambda: checks.pair("Conv2d", "kernel_size", "3"), TypeError,
     r"^Conv2d: kernel_size must be an int or a pair of ints, got '3'$"),
    (lambda: checks.pair("Conv2d", "stride", (1.0, 2)), TypeError,
     r"^Conv2d: stride must be an int or a pair of ints, got \(1.0, 2\)$"),
    # dtypes
    (lambda: checks.require_floating("lstm", "x", "int64"), TypeError,
     r"^lstm: x must be floating-point, got dtype int64; convert it with \.float\(\)$"),
    (lambda: checks.require_floating("linear", "weight", np.dtype("bool")), TypeError,
     r"^linear: weight must be floating-point, got dtype bool"),
])
def test_a_bad_value_is_refused_with_owner_expectation_and_what_was_received(call, error,
                                                                             message):
    with pytest.raises(error, match=message):
        call()


def test_a_long_value_is_cut_in_the_message():
    with pytest.raises(TypeError, match=r"got '(x){56}\.\.\. \(str\)$"):
        checks.number("L", "lr", "x" * 500)


@pytest.mark.parametrize("dtype, floating", [
    ("float32", True), ("float64", True), ("float16", True), ("bfloat16", True),
    ("int64", False), ("bool", False), ("uint8", False), ("complex64", False),
    (np.float32, True), (np.dtype("int32"), False), (xpnet.float64, True), (xpnet.int8, False),
])
def test_is_floating_reads_every_spelling_of_a_dtype(dtype, floating):
    assert checks.is_floating(dtype) is floating


def test_is_floating_reads_each_device_dtype(device):
    assert checks.is_floating(xpnet.zeros(2, device=device).array.dtype)
    assert not checks.is_floating(xpnet.zeros(2, device=device, dtype="int64").array.dtype)


@pytest.mark.parametrize("args, kwargs, message", [
    (("embedding", "indices", 10, (0, 12)), {},
     r"^embedding: indices must be in \[0, 10\), got values from 0 to 12$"),
    (("ArrayDataset", "index", 3, 5), dict(negative=True),
     r"^ArrayDataset: index must be in \[-3, 3\), got 5$"),
    (("cross_entropy", "labels", 4, (-1, 2)), dict(note=" (or ignore_index=-100)"),
     r"^cross_entropy: labels must be in \[0, 4\) \(or ignore_index=-100\), got values from -1 "
     r"to 2$"),
])
def test_out_of_range_is_one_index_error_message(args, kwargs, message):
    error = checks.out_of_range(*args, **kwargs)
    assert type(error) is IndexError
    with pytest.raises(IndexError, match=message):
        raise error


@pytest.mark.parametrize("values, size, ignore_index, message", [
    ([0, 3, 1], 3, None, r"^op: ids must be in \[0, 3\), got values from 0 to 3$"),
    ([-1, 2], 3, None, r"^op: ids must be in \[0, 3\), got values from -1 to 2$"),
    ([-100, 5], 3, -100, r"^op: ids must be in \[0, 3\) \(or ignore_index=-100\), got values "
                         r"from 5 to 5$"),
])
def test_check_index_range_refuses_indices_outside_the_axis(device, values, size, ignore_index,
                                                            message):
    """In host memory the check raises; on a device it raises at the next host read."""
    indices = xpnet.tensor(values, device=device, dtype="int64")
    if not indices.backend.on_host:
        message = message[:-1] + rf" \(checked on device {indices.device}, raised at the " \
                                  r"first host read after the op\)$"
    with pytest.raises(IndexError, match=message):
        checks.check_index_range("op", "ids", indices.backend, indices.array, size, ignore_index)
        indices.backend.synchronize()


@pytest.mark.parametrize("values, ignore_index", [([0, 2, 1], None), ([], None),
                                                  ([-100, 2, -100], -100), ([-100], -100)])
def test_check_index_range_passes_indices_inside_the_axis(device, values, ignore_index):
    indices = xpnet.tensor(np.array(values, dtype=np.int64), device=device)
    assert checks.check_index_range("op", "ids", indices.backend, indices.array, 3,
                                    ignore_index) is None
    indices.backend.synchronize()       # on a device: the deferred check passes too


@pytest.mark.parametrize("values, ignore_index, expected", [
    ([0, 2, 1], None, None), ([], None, None), ([-100, -100], -100, None),
    ([0, 3, -100], -100, r"got values from 0 to 3"), ([-2, 1], None, r"got values from -2 to 1"),
])
def test_index_range_error_is_the_error_or_none(values, ignore_index, expected):
    error = checks.index_range_error("op", "ids", np.array(values, dtype=np.int64), 3,
                                     ignore_index)
    if expected is None:
        assert error is None
    else:
        assert type(error) is IndexError and re.search(expected, str(error))


def test_defer_index_check_reads_the_indices_only_when_the_count_says_so(device):
    """``defer_index_check`` is for ops that counted their bad indices on the device already
    (cross-entropy's pass): a zero count passes without reading the indices back."""
    backend = xpnet.device(device)
    indices = xpnet.tensor([0, 5, 1], device=device).array
    zero, one = (backend.asarray(np.array(n, dtype=np.float32)) for n in (0, 1))
    checks.defer_index_check("op", "ids", backend, zero, indices, 3)   # a wrong count: trusted
    backend.synchronize()
    checks.defer_index_check("op", "ids", backend, one, indices, 3)
    with pytest.raises(IndexError, match=r"op: ids must be in \[0, 3\), got values from 0 to 5 "
                                         rf"\(checked on device {backend.name}"):
        backend.synchronize()
