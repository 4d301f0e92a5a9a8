import math

import numpy as np
import pytest

import xpnet.functional as F
from xpnet.testing import assert_close, gradcheck, random_inputs

MATMUL_SHAPES = {
    "2d": ((2, 3), (3, 4)),
    "batched": ((2, 2, 3), (2, 3, 2)),
    "broadcast_batch": ((2, 1, 2, 3), (3, 3, 2)),
    "matrix_times_batch": ((2, 3), (2, 3, 2)),
}


@pytest.mark.parametrize("name", MATMUL_SHAPES)
def test_matmul_matches_numpy_and_finite_differences(device, name):
    a, b = random_inputs(device, *MATMUL_SHAPES[name], seed=2)
    assert_close(F.matmul(a, b), a.numpy() @ b.numpy(), rtol=1e-12)
    assert_close(a @ b, a.numpy() @ b.numpy(), rtol=1e-12)
    gradcheck(F.matmul, a, b)


def test_matmul_gradient_is_grad_times_transpose(device):
    a, b = random_inputs(device, (2, 3), (3, 4))
    (a @ b).sum().backward()
    assert_close(a.grad, np.ones((2, 4)) @ b.numpy().T, rtol=1e-12)
    assert_close(b.grad, a.numpy().T @ np.ones((2, 4)), rtol=1e-12)


@pytest.mark.parametrize("x_shape", [(2, 3), (2, 2, 3), (3,)], ids=repr)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_numpy_and_finite_differences(device, x_shape, bias):
    x, w, b = random_inputs(device, x_shape, (4, 3), (4,), seed=5)
    b = b if bias else None
    expected = x.numpy() @ w.numpy().T + (b.numpy() if bias else 0.0)
    assert_close(F.linear(x, w, b), expected, rtol=1e-12)
    gradcheck(F.linear, x, w, b)


def test_linear_skips_the_gradient_of_a_constant_input(device):
    x, = random_inputs(device, (2, 3), requires_grad=False)
    w, b = random_inputs(device, (4, 3), (4,))
    F.linear(x, w, b).sum().backward()
    assert x.grad is None
    assert_close(w.grad, np.ones((2, 4)).T @ x.numpy(), rtol=1e-12)
    assert_close(b.grad, np.full(4, 2.0))


def test_matmul_rejects_mismatched_or_1d_operands(device):
    a, b, v = random_inputs(device, (2, 3), (4, 2), (3,))
    with pytest.raises(ValueError, match=r"matmul: a.shape\[-1\] must equal b.shape\[-2\], got "
                                         r"a \(2, 3\) and b \(4, 2\)"):
        F.matmul(a, b)
    with pytest.raises(ValueError, match=r"matmul: both operands must be at least 2-D, got "
                                         r"shapes \(2, 3\) and \(3,\)"):
        F.matmul(a, v)


def test_linear_rejects_mismatched_features_and_bias(device):
    x, w, b = random_inputs(device, (2, 3), (4, 5), (4,))
    with pytest.raises(ValueError, match=r"linear: x.shape\[-1\] must equal weight.shape\[1\] = 5 "
                                         r"\(in_features\), got x \(2, 3\) and weight \(4, 5\)"):
        F.linear(x, w, b)
    w, b = random_inputs(device, (4, 3), (3,))
    with pytest.raises(ValueError, match=r"linear: bias must have shape \(4,\), got \(3,\)"):
        F.linear(x, w, b)


def test_linear_and_matmul_match_torch(device):
    torch = pytest.importorskip("torch")
    x, w, b, m = random_inputs(device, (2, 2, 3), (4, 3), (4,), (4, 2))
    tx, tw, tb, tm = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, w, b, m))
    y = F.matmul(F.linear(x, w, b), m)
    ty = torch.nn.functional.linear(tx, tw, tb) @ tm
    assert_close(y, ty.detach().numpy(), rtol=1e-12)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    for mine, theirs in ((x, tx), (w, tw), (b, tb), (m, tm)):
        assert_close(mine.grad, theirs.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("x_shape,w_shape", [((0, 3), (4, 3)), ((2, 0, 3), (4, 3)),
                                             ((0,), (2, 0)), ((2, 0), (0, 0)), ((3,), (0, 3))],
                         ids=["batch", "inner-batch", "1d-no-features", "no-features-no-out",
                              "1d-no-out"])
def test_linear_on_empty_axes_matches_numpy(device, x_shape, w_shape):
    x, w, b = random_inputs(device, x_shape, w_shape, (w_shape[0],))
    y = F.linear(x, w, b)
    expected = x.numpy() @ w.numpy().T + b.numpy()
    assert y.shape == expected.shape
    assert_close(y, expected, rtol=1e-12)
    y.sum().backward()
    rows = math.prod(x_shape[:-1])
    assert_close(w.grad, np.ones((w_shape[0], rows)) @ x.numpy().reshape(rows, w_shape[1]),
                 rtol=1e-12)
    assert_close(b.grad, np.full(w_shape[0], float(rows)), rtol=1e-12)
    assert_close(x.grad, np.broadcast_to(w.numpy().sum(0), x_shape), rtol=1e-12)


def test_linear_names_a_raw_array_where_a_tensor_belongs(device):
    x, = random_inputs(device, (2, 3))
    with pytest.raises(TypeError, match=r"^linear: weight must be an xpnet Tensor, got "
                                        r"numpy.ndarray; convert it with xpnet.tensor\(...\)$"):
        F.linear(x, np.ones((4, 3)))
