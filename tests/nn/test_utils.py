import numpy as np
import pytest

import xpnet
from xpnet import nn
from xpnet.nn.utils import (clip_grad_norm_, clip_grad_value_, parameters_to_vector,
                            vector_to_parameters)
from xpnet.optim import clip


def test_clipping_is_the_optimizers_one_implementation():
    assert clip_grad_norm_ is clip.clip_grad_norm_ and clip_grad_value_ is clip.clip_grad_value_


def test_parameters_round_trip_through_one_vector(device):
    model = nn.Linear(3, 2, device=device)
    vec = parameters_to_vector(model.parameters())
    assert vec.shape == (8,) and vec.device == device
    expected = np.concatenate([model.weight.numpy().ravel(), model.bias.numpy()])
    np.testing.assert_array_equal(vec.numpy(), expected)
    vector_to_parameters(vec * 2.0, model.parameters())
    np.testing.assert_allclose(model.weight.numpy().ravel(), 2 * expected[:6])
    vec.sum().backward()   # differentiable, as in PyTorch: gradient 1 for every parameter
    assert model.bias.grad.tolist() == [1.0, 1.0]


def test_parameters_to_vector_matches_torch():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Linear(3, 2)
    mine = nn.Linear(3, 2)
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_array_equal(parameters_to_vector(mine.parameters()).numpy(),
                                  torch.nn.utils.parameters_to_vector(theirs.parameters())
                                  .detach().numpy())


def test_vector_to_parameters_refuses_a_wrong_length():
    with pytest.raises(ValueError, match="vector_to_parameters: vec has 3 elements, the "
                                         "parameters 8"):
        vector_to_parameters(xpnet.zeros(3), nn.Linear(3, 2).parameters())
