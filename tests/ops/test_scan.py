"""cumsum: values and dtypes against NumPy and PyTorch, gradients to second order, bad input."""
import numpy as np
import pytest

import xpnet
import xpnet.nn.functional as F
from xpnet.testing import assert_close, gradcheck, gradgradcheck, random_inputs


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum_matches_numpy_and_finite_differences_to_second_order(device, dim):
    x, = random_inputs(device, (3, 4))
    assert_close(F.cumsum(x, dim), np.cumsum(x.numpy(), axis=dim), rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda t: F.cumsum(t, dim), x)
    assert gradgradcheck(lambda t: F.cumsum(t, dim) ** 2, x)


def test_cumsum_gradient_is_the_reversed_running_sum(device):
    x = xpnet.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    (x.cumsum(0) * xpnet.tensor([1.0, 10.0, 100.0], device=device)).sum().backward()
    assert x.grad.tolist() == [111.0, 110.0, 100.0]


def test_cumsum_dtypes_follow_pytorch(device):
    torch = pytest.importorskip("torch")
    a = np.array([[1, 0, 3], [2, 2, 0]])
    for dtype, kwargs in (("bool", {}), ("int32", {}), ("int64", {}), ("float32", {}),
                          ("float32", {"dtype": "float64"}), ("int32", {"dtype": "float32"})):
        ours = xpnet.cumsum(xpnet.tensor(a, device=device).to(dtype), 1, **kwargs)
        theirs = torch.cumsum(torch.tensor(a).to(getattr(torch, dtype)), 1,
                              **{k: getattr(torch, v) for k, v in kwargs.items()})
        assert ours.dtype == str(theirs.dtype).replace("torch.", "")
        assert_close(ours, theirs.numpy(), rtol=0, atol=0)
    assert xpnet.cumsum(xpnet.tensor(2.5, device=device), 0).tolist() == 2.5


def test_cumsum_rejects_a_bad_dim(device):
    x, = random_inputs(device, (3, 4))
    with pytest.raises(IndexError, match=r"cumsum: dim must be an int in \[-2, 2\) for a 2-D "
                                         r"tensor, got 2"):
        F.cumsum(x, 2)
    with pytest.raises(TypeError, match="cumsum: input must be a Tensor, got list"):
        F.cumsum([1.0], 0)
