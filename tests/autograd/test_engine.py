import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet.testing import assert_close, gradcheck, random_inputs


def test_gradients_accumulate_when_a_tensor_feeds_several_ops(device):
    x = xpnet.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    y = (x * x).sum() + (3.0 * x).sum() + x[1:].sum()
    y.backward()
    assert_close(x.grad, np.array([2 + 3, 4 + 3 + 1, 6 + 3 + 1], dtype=np.float32))


def test_broadcasting_is_undone_in_backward(device):
    a, b = random_inputs(device, (4, 3), (3,))
    gradcheck(lambda a, b: a * b + b, a, b)
    (a + b).sum().backward()
    assert_close(b.grad, np.full(3, 4.0))


def test_backward_twice_raises_unless_graph_is_retained(device):
    x = xpnet.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert_close(x.grad, np.array([4.0, 8.0], dtype=np.float32))
    with pytest.raises(RuntimeError, match="graph was already released"):
        y.backward()


def test_no_grad_records_nothing(device):
    x = xpnet.tensor([1.0], device=device, requires_grad=True)
    with xpnet.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.creator is None
    z = x * 2.0
    assert z.requires_grad and z.creator is not None


def test_detach_cuts_the_graph(device):
    x = xpnet.tensor([3.0], device=device, requires_grad=True)
    y = x * x.detach()
    y.backward()
    assert_close(x.grad, np.array([3.0], dtype=np.float32))


def test_backward_of_non_scalar_needs_a_grad_argument(device):
    x = xpnet.tensor([1.0, 2.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="gradient can be omitted only for a one-element tensor"):
        (x * 2.0).backward()
    (x * 2.0).backward(xpnet.tensor([1.0, 10.0], device=device))
    assert_close(x.grad, np.array([2.0, 20.0], dtype=np.float32))


def test_retain_grad_keeps_the_gradient_of_an_intermediate(device):
    x = xpnet.tensor([1.0, 2.0], device=device, requires_grad=True)
    h = (x * 3.0).retain_grad()
    (h * h).sum().backward()
    assert_close(h.grad, np.array([6.0, 12.0], dtype=np.float32))


def test_ops_on_different_devices_raise_a_clear_error(device):
    if device == "cpu":
        pytest.skip("needs a second device")
    a = xpnet.tensor([1.0], device=device)
    b = xpnet.tensor([1.0], device="cpu")
    with pytest.raises((TypeError, ValueError), match=r"add: inputs are on different .*\.to\(\.\.\.\)"):
        _ = a + b
