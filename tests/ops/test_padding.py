"""F.pad: every mode against PyTorch and NumPy, gradients to second order, bad input."""
import numpy as np
import pytest

import xpnet
import xpnet.nn.functional as F
from xpnet.testing import assert_close, gradcheck, gradgradcheck, random_inputs

# name -> (pad, mode, value); on a (2, 3, 4) input
CASES = {
    "constant_last": ((1, 2), "constant", 0.0),
    "constant_two_axes_value": ((1, 2, 0, 1), "constant", -1.5),
    "constant_crop": ((-1, 2), "constant", 0.0),
    "constant_three_axes": ((0, 0, 1, 1, 2, 0), "constant", 0.0),
    "reflect": ((2, 3), "reflect", None),
    "reflect_two_axes": ((1, 2, 2, 1), "reflect", None),
    "replicate": ((3, 4), "replicate", None),
    "replicate_two_axes": ((1, 2, 3, 0), "replicate", None),
    "circular": ((2, 4), "circular", None),
}


def _pad(x, name):
    pad, mode, value = CASES[name]
    return F.pad(x, pad, mode, value) if value is not None else F.pad(x, pad, mode=mode)


@pytest.mark.parametrize("name", CASES)
def test_pad_matches_pytorch_and_finite_differences_to_second_order(device, name):
    torch = pytest.importorskip("torch")
    pad, mode, value = CASES[name]
    x, = random_inputs(device, (2, 3, 4))
    theirs = torch.nn.functional.pad(torch.tensor(x.numpy()), pad, mode,
                                     **({"value": value} if value is not None else {}))
    ours = _pad(x, name)
    assert ours.shape == tuple(theirs.shape) and ours.dtype == "float64"
    assert_close(ours, theirs.numpy(), rtol=0, atol=0)
    assert gradcheck(lambda t: _pad(t, name), x)
    assert gradgradcheck(lambda t: _pad(t, name) ** 2, x)


def test_constant_pad_matches_numpy_pad(device):
    x = xpnet.tensor(np.arange(6).reshape(2, 3), device=device)
    ours = F.pad(x, (2, 1, 1, 0), value=7)
    assert ours.dtype == "int64"
    assert ours.tolist() == np.pad(np.arange(6).reshape(2, 3), ((1, 0), (2, 1)),
                                   constant_values=7).tolist()


def test_pad_rejects_bad_arguments(device):
    x, = random_inputs(device, (2, 3))
    with pytest.raises(ValueError, match="pad: mode must be one of constant, reflect, replicate, "
                                         "circular, got 'edge'"):
        F.pad(x, (1, 1), mode="edge")
    with pytest.raises(ValueError, match=r"pad: pad must hold an even number of ints, at most 2 "
                                         r"per axis \(4 for a 2-D input\), got 3"):
        F.pad(x, (1, 1, 1))
    with pytest.raises(TypeError, match=r"pad: pad must be a tuple of ints, got \(1.5, 1\)"):
        F.pad(x, (1.5, 1))
    with pytest.raises(ValueError, match=r"pad: reflect padding of axis 1 \(size 3\) must be at "
                                         r"most 2 on each side, got \(3, 0\)"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match=r"pad: the pads \(-2, -2\) crop more than the 3 "
                                         r"entries of axis 1"):
        F.pad(x, (-2, -2))
    with pytest.raises(TypeError, match="pad: value 0.5 does not fit the integer dtype"):
        F.pad(xpnet.tensor([1, 2], device=device), (1, 1), value=0.5)
