import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet.autograd import Function
from xpnet.testing import GradcheckError, assert_close, gradcheck, gradgradcheck, random_inputs


class SquareWithAWrongGradient(Function):
    """y = x²; backward adds 1 wherever x > 0.5, so the gradient is wrong there only."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, grad_y):
        xp = self.xp
        bump = xp.astype(self.x > 0.5, grad_y.dtype)
        return grad_y * 2.0 * self.x + bump


def test_gradcheck_passes_on_a_correct_op_with_several_inputs_and_outputs(device):
    a, b = random_inputs(device, (2, 3), (3,))
    assert gradcheck(lambda a, b: (F.tanh(a) * b, F.sum(a * a)), a, b) is True
    assert a.grad is None and b.grad is None  # gradcheck leaves no gradients behind


def test_gradcheck_names_the_input_and_its_worst_element(device):
    x = xpnet.tensor([0.1, 0.7, -0.3], device=device, dtype="float64", requires_grad=True)
    with pytest.raises(GradcheckError, match=r"gradcheck: gradient of input 0 \(shape \(3,\)\) "
                                             r"is wrong at \(1,\): autograd .*, finite "
                                             r"differences .*, \|diff\| 1 "):
        gradcheck(lambda x: SquareWithAWrongGradient()(x), x)


def test_gradcheck_reports_the_index_of_the_wrong_input(device):
    a, b = random_inputs(device, (2,), (2, 2))
    b.array = b.backend.asarray(np.array([[0.1, 0.2], [0.3, 0.9]]))
    with pytest.raises(GradcheckError, match=r"input 1 \(shape \(2, 2\)\) is wrong at \(1, 1\)"):
        gradcheck(lambda a, b: a * SquareWithAWrongGradient()(b), a, b)


def test_gradcheck_error_is_an_assertion_error():
    assert issubclass(GradcheckError, AssertionError)


def test_gradcheck_rejects_float32_inputs(device):
    x, = random_inputs(device, (3,), dtype="float32")
    with pytest.raises(TypeError, match="gradcheck: input 0 must be float64 for finite "
                                        "differences, got float32"):
        gradcheck(F.tanh, x)


def test_gradcheck_needs_an_input_that_requires_grad(device):
    x, = random_inputs(device, (3,), requires_grad=False)
    with pytest.raises(ValueError, match="gradcheck: no input requires grad"):
        gradcheck(F.tanh, x)


def test_assert_close_accepts_close_values_and_rejects_others(device):
    x = xpnet.tensor([1.0, 2.0], device=device, dtype="float64")
    assert_close(x, np.array([1.0, 2.0 + 1e-9]))
    assert_close(x, x)
    with pytest.raises(AssertionError, match="Mismatched elements: 1 / 2"):
        assert_close(x, [1.0, 2.1])


def test_assert_close_rejects_a_shape_mismatch(device):
    x = xpnet.tensor([1.0, 2.0], device=device)
    with pytest.raises(AssertionError, match=r"assert_close: shapes differ, got \(2,\) and "
                                             r"expected \(1, 2\); weights"):
        assert_close(x, [[1.0, 2.0]], msg="weights")


def test_random_inputs_are_seeded_float64_leaves_in_range(device):
    a, b = random_inputs(device, (2, 3), (4,), low=0.5, high=2.0, seed=3)
    again, = random_inputs(device, (2, 3), low=0.5, high=2.0, seed=3)
    assert a.shape == (2, 3) and b.shape == (4,) and a.device == device
    assert xpnet.backend.dtype_name(a.dtype) == "float64" and a.requires_grad and a.is_leaf
    assert np.array_equal(a.numpy(), again.numpy())
    assert ((a.numpy() >= 0.5) & (a.numpy() < 2.0)).all()
    c, = random_inputs(device, (2,), dtype="float32", requires_grad=False)
    assert xpnet.backend.dtype_name(c.dtype) == "float32" and not c.requires_grad


class _CubeWithWrongSecondDerivative(Function):
    """x³ with the right first derivative, written so that its own derivative is half of it:
    3·x·detach(x) instead of 3·x·x under create_graph."""

    def forward(self, x):
        self.x = x
        return x * x * x

    def backward(self, grad_y):
        x = self.x
        if isinstance(x, xpnet.Tensor):      # create_graph: the tensor namespace
            return grad_y * 3.0 * x * x.detach()
        return grad_y * 3.0 * x * x


def test_gradgradcheck_passes_on_second_derivatives_and_names_a_wrong_one(device):
    x, y = random_inputs(device, (3,), (3,))
    assert gradgradcheck(lambda a, b: (a * a * b).sum(), x, y)
    assert gradgradcheck(lambda a: a + 1.0, x)       # zero second derivative: checked as zero
    with pytest.raises(GradcheckError, match=r"gradcheck: gradient of input 0 \(shape \(3,\)\) "
                                             r"is wrong"):
        gradgradcheck(lambda a: _CubeWithWrongSecondDerivative()(a), x)


def test_gradgradcheck_needs_an_input_that_requires_grad(device):
    x = random_inputs(device, (3,), requires_grad=False)[0]
    with pytest.raises(ValueError, match="gradgradcheck: no input requires grad"):
        gradgradcheck(lambda a: a * a, x)


@pytest.mark.parametrize("fast", [False, True])
def test_gradgradcheck_in_either_mode_finds_a_wrong_second_derivative(device, fast):
    x, = random_inputs(device, (4, 3))
    assert gradgradcheck(lambda a: (a * a * a).sum(), x, fast=fast)
    with pytest.raises(GradcheckError, match=r"gradcheck: gradient of input 0 \(shape \(4, 3\)\) "
                                             r"is wrong" + (" along a random direction" if fast
                                                            else " at")):
        gradgradcheck(lambda a: _CubeWithWrongSecondDerivative()(a), x, fast=fast)


class _SquareWithWrongGradient(Function):
    """x² whose backward gives x instead of 2x."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, grad_y):
        return grad_y * self.x


def test_gradcheck_along_random_directions_finds_a_wrong_gradient(device):
    x, = random_inputs(device, (5,))
    assert gradcheck(lambda a: a * a, x, directions=3)
    with pytest.raises(GradcheckError, match=r"wrong along a random direction: autograd"):
        gradcheck(lambda a: _SquareWithWrongGradient()(a), x, directions=3)
