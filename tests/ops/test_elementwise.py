import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet.testing import assert_close, gradcheck, random_inputs

# name -> (op, numpy reference, input range (low, high))
UNARY = {
    "neg": (F.neg, np.negative, (-1.0, 1.0)),
    "exp": (F.exp, np.exp, (-1.0, 1.0)),
    "log": (F.log, np.log, (0.5, 2.0)),
    "sqrt": (F.sqrt, np.sqrt, (0.5, 2.0)),
    "abs": (F.abs, np.abs, (0.1, 1.0)),
    "neg_abs": (F.abs, np.abs, (-1.0, -0.1)),
    "clip": (lambda x: F.clip(x, -0.5, 0.4), lambda x: np.clip(x, -0.5, 0.4), (-1.0, 1.0)),
    "clip_min_only": (lambda x: F.clip(x, min=0.1), lambda x: np.maximum(x, 0.1), (-1.0, 1.0)),
    "clip_max_only": (lambda x: F.clip(x, max=0.1), lambda x: np.minimum(x, 0.1), (-1.0, 1.0)),
    "pow_scalar_exponent": (lambda x: x ** 3, lambda x: x ** 3, (-1.0, 1.0)),
    "pow_fractional_exponent": (lambda x: F.pow(x, 1.5), lambda x: x ** 1.5, (0.5, 2.0)),
    "pow_scalar_base": (lambda x: 2.0 ** x, lambda x: 2.0 ** x, (-1.0, 1.0)),
    "scalar_minus_tensor": (lambda x: 1.0 - x, lambda x: 1.0 - x, (-1.0, 1.0)),
    "scalar_over_tensor": (lambda x: 2.0 / x, lambda x: 2.0 / x, (0.5, 2.0)),
    "tensor_over_scalar": (lambda x: x / 4.0, lambda x: x / 4.0, (-1.0, 1.0)),
    "maximum_scalar": (lambda x: F.maximum(x, 0.2), lambda x: np.maximum(x, 0.2), (-1.0, 1.0)),
    "minimum_scalar": (lambda x: F.minimum(x, 0.2), lambda x: np.minimum(x, 0.2), (-1.0, 1.0)),
}

# name -> (op, numpy reference, shapes (broadcasting), input range)
BINARY = {
    "add": (F.add, np.add, ((2, 3), (3,)), (-1.0, 1.0)),
    "sub": (F.sub, np.subtract, ((2, 1), (1, 3)), (-1.0, 1.0)),
    "mul": (F.mul, np.multiply, ((2, 3), (2, 3)), (-1.0, 1.0)),
    "div": (F.div, np.divide, ((2, 3), (1, 3)), (0.5, 2.0)),
    "pow": (F.pow, np.power, ((2, 3), (3,)), (0.5, 2.0)),
    "maximum": (F.maximum, np.maximum, ((2, 3), (3,)), (-1.0, 1.0)),
    "minimum": (F.minimum, np.minimum, ((2, 3), (2, 1)), (-1.0, 1.0)),
}


@pytest.mark.parametrize("name", UNARY)
def test_unary_op_matches_numpy_and_finite_differences(device, name):
    op, reference, (low, high) = UNARY[name]
    x, = random_inputs(device, (2, 3), low=low, high=high)
    assert_close(op(x), reference(x.numpy()), rtol=1e-12, atol=1e-12)
    gradcheck(op, x)


@pytest.mark.parametrize("name", BINARY)
def test_binary_op_broadcasts_like_numpy_and_matches_finite_differences(device, name):
    op, reference, shapes, (low, high) = BINARY[name]
    a, b = random_inputs(device, *shapes, low=low, high=high, seed=3)
    assert_close(op(a, b), reference(a.numpy(), b.numpy()), rtol=1e-12, atol=1e-12)
    gradcheck(op, a, b)


def test_operators_dispatch_to_the_ops(device):
    a = xpnet.tensor([1.0, 2.0], device=device)
    b = xpnet.tensor([4.0, 8.0], device=device)
    assert_close(a + b, np.array([5.0, 10.0], np.float32))
    assert_close(b - a, np.array([3.0, 6.0], np.float32))
    assert_close(a * b, np.array([4.0, 16.0], np.float32))
    assert_close(b / a, np.array([4.0, 4.0], np.float32))
    assert_close(-a, np.array([-1.0, -2.0], np.float32))
    assert_close(a ** 2, np.array([1.0, 4.0], np.float32))
    assert_close(abs(-b), np.array([4.0, 8.0], np.float32))
    assert_close(3 + a, np.array([4.0, 5.0], np.float32))


def test_abs_has_zero_gradient_at_zero(device):
    x = xpnet.tensor([-2.0, 0.0, 3.0], device=device, requires_grad=True)
    F.abs(x).sum().backward()
    assert_close(x.grad, np.array([-1.0, 0.0, 1.0], np.float32))


def test_clip_passes_gradient_only_inside_the_bounds(device):
    x = xpnet.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], device=device, requires_grad=True)
    y = F.clip(x, -1.0, 1.0)
    y.sum().backward()
    assert_close(y, np.array([-1.0, -0.5, 0.0, 0.5, 1.0], np.float32))
    assert_close(x.grad, np.array([0.0, 1.0, 1.0, 1.0, 0.0], np.float32))


def test_maximum_and_minimum_send_ties_to_the_first_input(device):
    a = xpnet.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    b = xpnet.tensor([2.0, 2.0, 1.0], device=device, requires_grad=True)
    (F.maximum(a, b) + 10.0 * F.minimum(a, b)).sum().backward()
    assert_close(a.grad, np.array([10.0, 11.0, 1.0], np.float32))
    assert_close(b.grad, np.array([1.0, 0.0, 10.0], np.float32))


def test_where_selects_and_routes_the_gradient(device):
    a, b = random_inputs(device, (2, 3), (3,), seed=5)
    condition = a > 0.0
    assert_close(F.where(condition, a, b),
                 np.where(a.numpy() > 0, a.numpy(), b.numpy()), rtol=0, atol=0)
    gradcheck(lambda a, b: F.where(condition, a, b), a, b)
    gradcheck(lambda a: F.where(condition, a, 0.5), a)


def test_astype_casts_forward_and_casts_the_gradient_back(device):
    x = xpnet.tensor(np.array([1.5, -2.25]), device=device, requires_grad=True)
    y = F.astype(x, "float32")
    assert xpnet.backend.dtype_name(y.dtype) == "float32"
    (y * y).sum().backward()
    assert xpnet.backend.dtype_name(x.grad.dtype) == "float64"
    assert_close(x.grad, np.array([3.0, -4.5]))
    gradcheck(lambda x: F.astype(x, "float64") * x, x)  # float32 would drown finite differences


def test_pow_of_two_tensors_differentiates_base_and_exponent(device):
    base, exponent = random_inputs(device, (3,), (3,), low=0.5, high=2.0, seed=7)
    y = F.pow(base, exponent)
    y.sum().backward()
    b, e = base.numpy(), exponent.numpy()
    assert_close(base.grad, e * b ** (e - 1), rtol=1e-12)
    assert_close(exponent.grad, b ** e * np.log(b), rtol=1e-12)


def test_binary_ops_reject_shapes_that_do_not_broadcast(device):
    a, b = random_inputs(device, (2, 3), (4,))
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        F.add(a, b)
    with pytest.raises(ValueError, match=r"mul: shapes .* cannot be broadcast"):
        a * b


def test_binary_ops_reject_raw_arrays(device):
    a, = random_inputs(device, (3,))
    with pytest.raises(TypeError, match=r"add: operands must be Tensors or Python numbers, got "
                                        r"list; wrap arrays with xpnet.tensor"):
        F.add(a, [1.0, 2.0, 3.0])


def test_clip_rejects_min_above_max(device):
    x, = random_inputs(device, (3,))
    with pytest.raises(ValueError, match=r"clip: min must be <= max, got min=1.0, max=0.0"):
        F.clip(x, 1.0, 0.0)


def test_where_rejects_a_condition_that_is_not_a_tensor(device):
    a, b = random_inputs(device, (3,), (3,))
    with pytest.raises(TypeError, match="where: condition must be a boolean Tensor, got list"):
        F.where([True, False, True], a, b)


def test_elementwise_ops_match_torch(device):
    torch = pytest.importorskip("torch")
    a, b = random_inputs(device, (2, 3), (3,), low=0.5, high=2.0)
    ta, tb = (torch.tensor(t.numpy(), requires_grad=True) for t in (a, b))
    y = F.pow(a, b) / F.sqrt(b) + F.log(a) * F.exp(-b)
    ty = torch.pow(ta, tb) / torch.sqrt(tb) + torch.log(ta) * torch.exp(-tb)
    y.sum().backward()
    ty.sum().backward()
    assert_close(y, ty.detach().numpy(), rtol=1e-12)
    assert_close(a.grad, ta.grad.numpy(), rtol=1e-12)
    assert_close(b.grad, tb.grad.numpy(), rtol=1e-12)


def test_zero_dimensional_tensors_differentiate_through_pow_and_div(device):
    # NumPy turns 0-d results into np.float64 scalars, which are also Python Numbers
    w = xpnet.tensor(np.array(2.0), device=device, requires_grad=True)
    h = w * 3.0  # a 0-d result (a NumPy scalar on cpu)
    loss = h ** 2 / h + 1.0 / h + 2.0 ** h
    loss.backward()
    assert_close(loss.numpy().reshape(()), 6.0 + 1 / 6 + 64.0, rtol=1e-14)
    assert_close(w.grad.numpy().reshape(()), 3.0 * (1.0 - 1 / 36 + 64.0 * np.log(2.0)),
                 rtol=1e-14)


TRIGONOMETRY = {
    "sin": (F.sin, np.sin, (-3.0, 3.0)),
    "cos": (F.cos, np.cos, (-3.0, 3.0)),
    "log1p": (F.log1p, np.log1p, (-0.5, 2.0)),
}


def _namespace_has(name):
    from xpnet.autograd.tensor_namespace import TensorNamespace
    return name in vars(TensorNamespace)


@pytest.mark.parametrize("name", TRIGONOMETRY)
def test_sin_cos_log1p_match_numpy_pytorch_and_finite_differences(device, name):
    op, reference, (low, high) = TRIGONOMETRY[name]
    x, = random_inputs(device, (2, 3), low=low, high=high)
    assert_close(op(x), reference(x.numpy()), rtol=1e-12, atol=1e-12)
    assert_close(getattr(x, name)(), reference(x.numpy()), rtol=1e-12, atol=1e-12)
    assert getattr(xpnet, name)(x).dtype == "float64"
    gradcheck(op, x)
    small = xpnet.tensor([1e-10], dtype="float64", device=device)
    if name == "log1p":   # exact where log(1 + x) would round 1 + x
        assert F.log1p(small).item() == pytest.approx(1e-10, rel=1e-12)


@pytest.mark.parametrize("name", TRIGONOMETRY)
def test_sin_cos_log1p_second_derivatives(device, name):
    from xpnet.testing import gradgradcheck
    if not _namespace_has(name):
        pytest.skip(f"the tensor namespace has no differentiable {name} yet, so create_graph "
                    f"through it raises NotImplementedError")
    op, _, (low, high) = TRIGONOMETRY[name]
    x, = random_inputs(device, (2, 3), low=low, high=high)
    assert gradgradcheck(op, x)


def test_sin_cos_log1p_refuse_integer_tensors(device):
    for op in (F.sin, F.cos, F.log1p):
        with pytest.raises(TypeError, match=r"(sin|cos|log1p): x must be floating-point, got "
                                            r"dtype int64; convert it with .float\(\)"):
            op(xpnet.tensor([1, 2], device=device))


def test_steps_match_pytorch_and_have_zero_gradient(device):
    torch = pytest.importorskip("torch")
    a = np.array([-1.5, -0.5, 0.0, 0.5, 1.5, 2.5, 2.26])
    x = xpnet.tensor(a, device=device, requires_grad=True)
    for name, kwargs in (("floor", {}), ("ceil", {}), ("trunc", {}), ("round", {}),
                         ("round", {"decimals": 1}), ("sign", {})):
        ours = getattr(xpnet, name)(x, **kwargs)
        theirs = getattr(torch, name)(torch.tensor(a), **kwargs)
        assert ours.dtype == "float64"
        assert_close(ours, theirs.numpy(), rtol=1e-12, atol=1e-12)
        ours.sum().backward()
        assert x.grad.tolist() == [0.0] * len(a)
    integers = xpnet.tensor([-2, 0, 3], device=device)
    assert xpnet.sign(integers).tolist() == [-1, 0, 1] and xpnet.floor(integers).dtype == "int64"
