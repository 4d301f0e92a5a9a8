import numpy as np
import pytest

import xpnet
from xpnet import nn, optim
from xpnet.testing import assert_close

from ._problem import W0, loss, parameter, steps


def test_parameters_without_gradients_are_skipped(device):
    a = nn.Parameter(xpnet.tensor([1.0, 2.0], device=device))
    b = nn.Parameter(xpnet.tensor([3.0], device=device))
    opt = optim.SGD([a, b], lr=0.5, momentum=0.9)
    (a * a).sum().backward()
    opt.step()
    assert_close(a, np.array([0.0, 0.0], np.float32))
    assert_close(b, np.array([3.0], np.float32))
    assert id(b) not in opt.state


def test_frozen_parameters_are_accepted_and_left_alone(device):
    model = nn.Linear(3, 2, device=device)
    model.bias.requires_grad = False
    before = model.bias.numpy().copy()
    opt = optim.Adam(model.parameters(), lr=0.1)
    model(xpnet.randn(4, 3, device=device)).sum().backward()
    opt.step()
    assert_close(model.bias, before)
    assert not np.allclose(model.weight.numpy(), 0.0)


def test_param_groups_take_their_own_hyperparameters(device):
    a = nn.Parameter(xpnet.tensor([1.0], device=device))
    b = nn.Parameter(xpnet.tensor([1.0], device=device))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5, "weight_decay": 1.0}], lr=0.1)
    (a + b).sum().backward()
    opt.step()
    assert_close(a, np.array([0.9], np.float32))
    assert_close(b, np.array([0.0], np.float32))           # 1 - 0.5·(1 + 1·1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["momentum"] == 0.0            # defaults fill the rest


def test_zero_grad_drops_the_gradients(device):
    w = parameter(device)
    opt = optim.SGD([w], lr=0.1)
    loss(w).backward()
    opt.zero_grad()
    assert w.grad is None


def test_step_never_changes_a_gradient_array_shared_by_two_parameters(device):
    a, b = parameter(device), parameter(device)
    shared = xpnet.tensor(np.ones_like(W0), dtype="float64", device=device)
    a.grad = b.grad = shared
    opt = optim.Adam([a, b], lr=0.1, weight_decay=0.5)
    opt.step()
    assert_close(shared, np.ones_like(W0))
    assert_close(a, b.numpy())


def test_step_calls_the_closure_and_returns_its_loss(device):
    w = parameter(device)
    opt = optim.SGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        value = loss(w)
        value.backward()
        return value
    first = opt.step(closure)
    assert float(first) == pytest.approx(float(loss(parameter(device))))
    assert float(loss(w)) < float(first)


def test_state_dict_numbers_parameters_over_all_groups_in_order(device):
    a, b, c = (parameter(device) for _ in range(3))
    opt = optim.SGD([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1, momentum=0.9)
    for p in (a, c):
        loss(p).backward()
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["momentum"] == 0.9
    assert sorted(sd["state"]) == [0, 2]
    assert isinstance(sd["state"][2]["momentum_buffer"], xpnet.Tensor)
    assert sd["state"][2]["step"] == 1


def test_load_state_dict_places_state_on_each_parameters_device(device):
    w = parameter("cpu")
    opt = optim.Adam([w], lr=0.1)
    steps(opt, w, 2)
    w2 = parameter(device)
    opt2 = optim.Adam([w2], lr=0.5)
    opt2.load_state_dict(opt.state_dict())
    state = opt2.state[id(w2)]
    assert xpnet.backend.backend_of(state["exp_avg"]).name == device
    assert state["step"] == 2 and opt2.param_groups[0]["lr"] == 0.1
    assert_close(xpnet.to_numpy(state["exp_avg_sq"]), xpnet.to_numpy(opt.state[id(w)]["exp_avg_sq"]))


def test_load_state_dict_rejects_a_different_parameter_layout():
    opt = optim.SGD([parameter("cpu"), parameter("cpu")], lr=0.1)
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: the saved parameter groups"):
        optim.SGD([parameter("cpu")], lr=0.1).load_state_dict(opt.state_dict())


def test_optimizer_state_follows_the_model_to_another_device():
    model = nn.Linear(3, 2)
    opt = optim.Adam(model.parameters(), lr=0.01)
    x = xpnet.randn(4, 3)
    model(x).sum().backward()
    opt.step()
    model.to("strict")
    opt.zero_grad()
    model(x.to("strict")).sum().backward()
    opt.step()
    for p in model.parameters():
        state = opt.state[id(p)]
        assert xpnet.backend.backend_of(state["exp_avg"]).name == "strict"
        assert xpnet.backend.backend_of(p.array).name == "strict"
        assert state["step"] == 2
    opt.to("cpu")
    assert all(xpnet.backend.backend_of(s["exp_avg"]).name == "cpu" for s in opt.state.values())


def test_a_move_midway_gives_the_same_trajectory_as_staying():
    stay, move = parameter("cpu"), parameter("cpu")
    opt_stay = optim.SGD([stay], lr=0.1, momentum=0.9)
    opt_move = optim.SGD([move], lr=0.1, momentum=0.9)
    steps(opt_stay, stay, 4)
    steps(opt_move, move, 2)
    move.array, move.backend = xpnet.backend.resolve("strict").asarray(move.numpy()), \
        xpnet.backend.resolve("strict")
    steps(opt_move, move, 2)
    assert_close(move, stay.numpy(), rtol=1e-14)


@pytest.mark.parametrize("make, error, message", [
    (lambda: optim.SGD([], lr=0.1), ValueError, r"^SGD: got an empty parameter list"),
    (lambda: optim.SGD(iter([]), lr=0.1), ValueError, r"^SGD: got an empty parameter list"),
    (lambda: optim.SGD(2 * [parameter("cpu")], lr=0.1), ValueError,
     r"^SGD: optimizer got a parameter twice$"),
    (lambda: optim.Adam([np.zeros(3)]), TypeError,
     r"^Adam: parameters must be Tensors \(model.parameters\(\)\), got ndarray$"),
    (lambda: optim.Adam([[1.0, 2.0]]), TypeError, r"^Adam: parameters must be Tensors .*got list$"),
    (lambda: optim.SGD(parameter("cpu"), lr=0.1), TypeError,
     r"^SGD: params must be an iterable of Parameters or of dicts .*got Parameter"),
    (lambda: optim.SGD([parameter("cpu") * 2.0], lr=0.1), ValueError,
     r"^SGD: can't optimize a non-leaf Tensor"),
])
def test_bad_parameter_lists_are_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_repr_lists_the_groups_and_hyperparameters():
    text = repr(optim.SGD([parameter("cpu")], lr=0.1, momentum=0.9))
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "momentum: 0.9" in text


def test_another_optimizers_state_is_refused_at_load_time(device):
    p = parameter(device)
    sgd = optim.SGD([p], lr=0.1, momentum=0.9)
    loss(p).backward()
    sgd.step()
    adam = optim.Adam([parameter(device)])
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: the saved settings \[.*'momentum'"
                                         r".*\] are not Adam's \[.*'betas'.*\]; was the state saved "
                                         r"from another optimizer\?"):
        adam.load_state_dict(sgd.state_dict())
    assert adam.state == {} and adam.param_groups[0]["lr"] == 1e-3     # nothing changed
    broken = sgd.state_dict()
    broken["state"][0] = {"step": 1, "exp_avg": broken["state"][0]["momentum_buffer"]}
    with pytest.raises(ValueError, match=r"the saved state of parameter 0 holds \['exp_avg'\], "
                                         r"not SGD's \['momentum_buffer'\]"):
        optim.SGD([parameter(device)], lr=0.1, momentum=0.9).load_state_dict(broken)
    with pytest.raises(ValueError, match=r"expected a dict with 'state' and 'param_groups'"):
        adam.load_state_dict({"exp_avg": 1})
