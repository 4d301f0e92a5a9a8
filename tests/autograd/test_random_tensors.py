"""Random tensors drawn on the device: randint, *_like, normal, bernoulli, in-place fills."""
import numpy as np
import pytest

import xpnet
from xpnet.autograd import random_tensors as creation
from xpnet.backend import dtype_name

DRAWS = {
    "randn": lambda d: xpnet.randn(3, 4, device=d),
    "rand": lambda d: xpnet.rand((3, 4), device=d, dtype="float64"),
    "randint": lambda d: xpnet.randint(-2, 5, (3, 4), device=d),
    "randint_high_size": lambda d: xpnet.randint(5, size=(3, 4), device=d),
    "randperm": lambda d: xpnet.randperm(12, device=d).reshape(3, 4),
    "multinomial": lambda d: xpnet.multinomial(xpnet.ones(3, 9, device=d), 4),
    "randn_like": lambda d: xpnet.randn_like(xpnet.zeros(3, 4, device=d)),
    "rand_like": lambda d: xpnet.rand_like(xpnet.zeros(3, 4, device=d)),
    "randint_like": lambda d: xpnet.randint_like(xpnet.zeros(3, 4, device=d, dtype="int32"), 9),
    "normal": lambda d: xpnet.normal(xpnet.zeros(3, 1, device=d), xpnet.ones(1, 4, device=d)),
    "normal_numbers": lambda d: xpnet.normal(1.0, 2.0, (3, 4), device=d),
    "bernoulli": lambda d: xpnet.bernoulli(xpnet.full((3, 4), 0.5, device=d)),
}

EXPECTED_DTYPES = {"rand": "float64", "randint": "int64", "randint_like": "int32",
                   "randint_high_size": "int64", "randperm": "int64", "multinomial": "int64"}


@pytest.mark.parametrize("name", DRAWS)
def test_random_tensors_have_the_shape_dtype_and_device_asked_for(device, name):
    t = DRAWS[name](device)
    assert t.shape == (3, 4) and t.device == device and not t.requires_grad
    assert dtype_name(t.dtype) == EXPECTED_DTYPES.get(name, "float32")


@pytest.mark.parametrize("name", DRAWS)
def test_random_tensors_repeat_after_manual_seed_and_differ_between_draws(device, name):
    xpnet.manual_seed(7)
    first, second = DRAWS[name](device).numpy(), DRAWS[name](device).numpy()
    xpnet.manual_seed(7)
    np.testing.assert_array_equal(DRAWS[name](device).numpy(), first)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("name", DRAWS)
def test_rng_state_around_a_draw_reproduces_it(device, name):
    DRAWS[name](device)                         # the device's generator exists and has moved
    state = xpnet.get_rng_state()
    drawn = DRAWS[name](device).numpy()
    DRAWS[name](device)
    xpnet.set_rng_state(state)
    np.testing.assert_array_equal(DRAWS[name](device).numpy(), drawn)


def test_draws_on_a_torch_device_copy_nothing_from_the_host(monkeypatch):
    """On a device with its own generator (PyTorch here, CuPy alike) a draw is made there."""
    pytest.importorskip("torch")
    backend = xpnet.device("torch")
    probabilities = xpnet.full((3, 4), 0.5, device="torch")
    like = xpnet.zeros(3, 4, device="torch")

    def refuse(*args, **kwargs):
        raise AssertionError("a host-to-device copy")

    monkeypatch.setattr(type(backend), "asarray", refuse)
    for draw in (lambda: xpnet.randn(3, 4, device="torch"), lambda: xpnet.randn_like(like),
                 lambda: xpnet.randint(0, 5, (3,), device="torch"),
                 lambda: xpnet.randint(0, 5, (3,), device="torch", dtype="float32"),
                 lambda: xpnet.normal(like, 2.0), lambda: xpnet.bernoulli(probabilities),
                 lambda: creation.normal_(like), lambda: creation.bernoulli_(like, 0.3)):
        assert type(draw().array).__module__.startswith("torch")


def test_random_tensors_have_the_right_statistics(device):
    n = 40_000
    z = xpnet.randn(n, device=device, dtype="float64").numpy()
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    u = xpnet.rand(n, device=device, dtype="float64").numpy()
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
    assert abs(u.std() - 1 / np.sqrt(12)) < 0.01
    k = xpnet.randint(3, 8, (n,), device=device).numpy()
    assert k.min() == 3 and k.max() == 7
    np.testing.assert_allclose(np.bincount(k - 3) / n, np.full(5, 0.2), atol=0.01)
    mean = xpnet.tensor(np.array([[[-3.0], [5.0]]]), device=device)              # (1, 2, 1)
    std = xpnet.tensor(np.broadcast_to([[[0.5, 2.0]]], (4000, 1, 2)), device=device)
    samples = xpnet.normal(mean, std).numpy()                                    # (4000, 2, 2)
    np.testing.assert_allclose(samples.mean(axis=0), [[-3, -3], [5, 5]], atol=0.1)
    np.testing.assert_allclose(samples.std(axis=0), [[0.5, 2.0], [0.5, 2.0]], rtol=0.05)
    p = xpnet.tensor(np.broadcast_to([0.0, 0.1, 0.5, 0.9, 1.0], (4000, 5)), device=device)
    hits = xpnet.bernoulli(p).numpy()
    assert set(np.unique(hits)) <= {0.0, 1.0}
    np.testing.assert_allclose(hits.mean(axis=0), [0, 0.1, 0.5, 0.9, 1], atol=0.025)


def test_randint_takes_pytorch_call_forms_and_float_dtypes(device):
    t = xpnet.randint(4, (1000,), device=device)
    assert t.numpy().min() == 0 and t.numpy().max() == 3
    f = xpnet.randint(0, 2, (6,), device=device, dtype="float32")
    assert dtype_name(f.dtype) == "float32" and set(f.numpy()) <= {0.0, 1.0}
    like = xpnet.randint_like(xpnet.zeros(5, device=device), 2, 4)
    assert dtype_name(like.dtype) == "float32" and set(like.numpy()) <= {2.0, 3.0}


def test_normal_with_numbers_shifts_and_scales(device):
    x = xpnet.normal(10.0, 0.0, (4,), device=device, dtype="float64")
    np.testing.assert_array_equal(x.numpy(), np.full(4, 10.0))
    assert dtype_name(xpnet.normal(xpnet.zeros(2, dtype="float64", device=device),
                                   1.0).dtype) == "float64"


def test_in_place_fills_draw_on_the_tensors_device(device):
    t = xpnet.zeros(20_000, device=device, dtype="float64")
    assert creation.normal_(t, 3.0, 0.5) is t and t.device == device
    assert abs(t.numpy().mean() - 3) < 0.02 and abs(t.numpy().std() - 0.5) < 0.02
    creation.uniform_(t, -2.0, 4.0)
    assert t.numpy().min() >= -2 and t.numpy().max() < 4 and abs(t.numpy().mean() - 1) < 0.05
    creation.bernoulli_(t, 0.25)
    assert set(np.unique(t.numpy())) <= {0.0, 1.0} and abs(t.numpy().mean() - 0.25) < 0.02
    rows = xpnet.zeros(2, 5000, device=device)
    creation.bernoulli_(rows, xpnet.tensor(np.array([[0.0], [1.0]]), device=device))
    np.testing.assert_array_equal(rows.numpy(), np.repeat([[0.0], [1.0]], 5000, axis=1))


@pytest.mark.parametrize("call, error, message", [
    (lambda d: xpnet.randn(2, dtype="int64", device=d), TypeError,
     r"^randn: dtype must be a floating dtype \(float16, bfloat16, float32 or float64\), "
     r"got int64$"),
    (lambda d: xpnet.randint(0, 3, (2, -1), device=d), ValueError,
     r"^randint: sizes must be >= 0, got \(2, -1\)$"),
    (lambda d: xpnet.normal(0.0, 1.0, (2.5,), device=d), TypeError,
     r"^normal: sizes must be ints, got \(2.5,\)$"),
    (lambda d: xpnet.randint(5, 5, (2,), device=d), ValueError,
     r"^randint: high must be greater than low, got low=5 and high=5$"),
    (lambda d: xpnet.randint(0, 300, (2,), device=d, dtype="uint8"), ValueError,
     r"^randint: \[low, high\) must fit in uint8, got \[0, 300\)$"),
    (lambda d: xpnet.randint(0.5, 3, (2,), device=d), TypeError,
     r"^randint: low must be an int, got 0.5 \(float\)$"),
    (lambda d: xpnet.randint(3, device=d), TypeError, r"^randint: expected randint\(high, size\)"),
    (lambda d: xpnet.randint(0, 3, (2,), device=d, dtype="bool"), TypeError,
     r"^randint: dtype must be an integer or floating dtype, got bool$"),
    (lambda d: xpnet.randn_like([1.0]), TypeError,
     r"^randn_like: input must be a Tensor, got list$"),
    (lambda d: xpnet.rand_like(xpnet.zeros(2, device=d, dtype="int64")), TypeError,
     r"^rand_like: dtype must be a floating dtype \(float16, bfloat16, float32 or "
     r"float64\), got int64$"),
    (lambda d: xpnet.normal(0.0, -1.0, (2,), device=d), ValueError,
     r"^normal: std must be non-negative, got -1.0$"),
    (lambda d: xpnet.normal(0.0, 1.0), TypeError, r"^normal: with a number for both mean and std, "
                                                  r"size must be given$"),
    (lambda d: xpnet.normal(xpnet.zeros(2, device=d), 1.0, (2,)), TypeError,
     r"^normal: size is only taken when mean and std are both numbers$"),
    (lambda d: xpnet.normal(xpnet.zeros(2, device=d), xpnet.ones(3, device=d)), ValueError,
     r"^normal: mean and std must broadcast together, got shapes \[\(2,\), \(3,\)\]$"),
    (lambda d: xpnet.normal("0", 1.0, (2,)), TypeError, r"^normal: mean must be a Tensor or a "
                                                        r"number, got str$"),
    (lambda d: xpnet.bernoulli(xpnet.zeros(2, device=d, dtype="int64")), TypeError,
     r"^bernoulli: input must be floating-point, got dtype int64; convert it with "
     r"\.float\(\)$"),
    (lambda d: xpnet.bernoulli(xpnet.zeros(2, device=d), p=1.5), ValueError,
     r"^bernoulli: p must be in \[0, 1\], got 1.5$"),
    (lambda d: creation.bernoulli_(xpnet.zeros(2, device=d), 2), ValueError,
     r"^bernoulli_: p must be a number in \[0, 1\] or a Tensor, got 2$"),
    (lambda d: creation.normal_(xpnet.zeros(2, device=d), 0.0, -2.0), ValueError,
     r"^normal_: std must be non-negative, got -2.0$"),
])
def test_random_tensors_reject_bad_input(device, call, error, message):
    with pytest.raises(error, match=message):
        call(device)


def test_bernoulli_and_normal_check_tensor_values_where_they_live_on_the_host(device):
    if not xpnet.device(device).on_host:
        pytest.skip("values on a GPU are not read back (that would stall the step)")
    with pytest.raises(ValueError, match=r"^bernoulli: probabilities must be in \[0, 1\], got "
                                         r"values from -0.5 to 0.5$"):
        xpnet.bernoulli(xpnet.tensor([-0.5, 0.5], device=device))
    with pytest.raises(ValueError, match=r"^normal: std must be non-negative, got a minimum of "
                                         r"-1.0$"):
        xpnet.normal(0.0, xpnet.tensor([-1.0, 1.0], device=device))


def test_in_place_fills_are_tensor_methods_as_in_pytorch(device):
    t = xpnet.zeros(2000, device=device)
    assert t.normal_(1.0, 0.5) is t and abs(float(t.mean().item()) - 1.0) < 0.05
    assert t.uniform_(-1.0, 1.0) is t and -1.0 <= float(t.min().item()) < float(t.max().item()) < 1.0
    assert t.bernoulli_(0.25) is t and abs(float(t.mean().item()) - 0.25) < 0.05


def test_in_place_fills_follow_the_in_place_rules(device):
    w = xpnet.zeros(50, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="uniform_: a leaf tensor that requires grad"):
        w.uniform_(-1.0, 1.0)
    alias = w.detach()
    with xpnet.no_grad():
        w.normal_(0.0, 1.0)
    assert w.requires_grad and float(w.abs().sum().item()) > 0
    np.testing.assert_array_equal(alias.numpy(), w.numpy())   # written into the shared array
