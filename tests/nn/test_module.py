import numpy as np
import pytest

import xpnet
from xpnet import nn
from xpnet.testing import assert_close


class Block(nn.Module):
    """A module with a nested Sequential, a ModuleList, a shared weight and buffers."""

    def __init__(self, device):
        self.body = nn.Sequential(nn.Linear(3, 4, device=device), nn.ReLU(),
                                  nn.Linear(4, 4, device=device))
        self.heads = nn.ModuleList([nn.Linear(4, 2, device=device),
                                    nn.Linear(4, 2, bias=False, device=device)])
        self.tied = self.body[0].weight  # the same Parameter under a second name
        self.scale = nn.Parameter(xpnet.ones(2, device=device))
        self.running_mean = nn.Buffer(xpnet.zeros(4, device=device))
        self.steps = nn.Buffer(xpnet.tensor([0], dtype="int64", device=device))

    def forward(self, x):
        h = self.body(x)
        return (self.heads[0](h) + self.heads[1](h)) * self.scale


def numpy_state(module):
    return {k: v.numpy().copy() for k, v in module.state_dict().items()}


BLOCK_NAMES = ["tied", "scale", "body.0.bias", "body.2.weight", "body.2.bias", "heads.0.weight",
               "heads.0.bias", "heads.1.weight"]


def test_named_parameters_list_own_tensors_then_children_in_assignment_order(device):
    model = Block(device)
    names = [name for name, _ in model.named_parameters()]
    assert names == BLOCK_NAMES  # a shared tensor keeps its first name, as in PyTorch
    assert all(p is q for p, (_, q) in zip(model.parameters(), model.named_parameters()))
    assert model.tied is model.body[0].weight
    assert all(p.requires_grad and p.device == device for p in model.parameters())


BLOCK_STATE = ["tied", "scale", "running_mean", "steps", "body.0.weight", "body.0.bias",
               "body.2.weight", "body.2.bias", "heads.0.weight", "heads.0.bias", "heads.1.weight"]


def torch_block(torch):
    class TorchBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
                                            torch.nn.Linear(4, 4))
            self.heads = torch.nn.ModuleList([torch.nn.Linear(4, 2),
                                              torch.nn.Linear(4, 2, bias=False)])
            self.tied = self.body[0].weight
            self.scale = torch.nn.Parameter(torch.ones(2))
            self.register_buffer("running_mean", torch.zeros(4))
            self.register_buffer("steps", torch.zeros(1, dtype=torch.int64))

    return TorchBlock()


def test_parameter_and_state_dict_names_and_order_match_pytorch():
    torch = pytest.importorskip("torch")
    block = torch_block(torch)
    assert [n for n, _ in block.named_parameters()] == BLOCK_NAMES
    assert list(block.state_dict()) == BLOCK_STATE


def test_a_shared_parameter_is_counted_once(device):
    model = Block(device)
    params = list(model.parameters())
    assert len(params) == len({id(p) for p in params}) == 8
    assert model.num_parameters() == (3 * 4 + 4) + (4 * 4 + 4) + (4 * 2 + 2) + 4 * 2 + 2


def test_a_module_used_twice_is_walked_once_but_saved_under_both_names(device):
    layer = nn.Linear(2, 2, device=device)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert [n for n, _ in model.named_modules()] == ["", "0", "1"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # as PyTorch


def test_buffers_are_found_and_are_not_parameters(device):
    model = Block(device)
    assert [n for n, _ in model.named_buffers()] == ["running_mean", "steps"]
    assert not any(b.requires_grad for b in model.buffers())


def test_state_dict_lists_each_modules_parameters_then_buffers_then_children_under_every_name(
        device):
    model = Block(device)
    state = model.state_dict()
    assert list(state) == BLOCK_STATE     # PyTorch's keys, the tied weight under both names
    assert state["tied"] is state["body.0.weight"] is model.body[0].weight


def test_state_dict_round_trips_through_tensors_and_numpy_onto_another_device(device):
    source = Block("cpu")
    source.running_mean.array = source.running_mean.xp.asarray([1.0, 2.0, 3.0, 4.0],
                                                              dtype=source.running_mean.dtype)
    expected = numpy_state(source)
    for state in (source.state_dict(), expected):  # Tensors, then plain NumPy arrays
        xpnet.manual_seed(1)
        target = Block(device)
        assert not np.allclose(target.body[0].weight.numpy(), expected["tied"])
        missing, unexpected = target.load_state_dict(state)
        assert missing == [] and unexpected == []
        for key, tensor in target.state_dict().items():
            assert tensor.device == device
            assert tensor.numpy().dtype == expected[key].dtype
            np.testing.assert_array_equal(tensor.numpy(), expected[key])
    x = xpnet.tensor(np.ones((2, 3), np.float32), device=device)
    assert_close(target(x), source(xpnet.tensor(np.ones((2, 3), np.float32))), rtol=1e-6)


def test_load_state_dict_casts_values_to_each_tensors_own_dtype(device):
    layer = nn.Linear(2, 3, device=device)
    state = {k: v.numpy().astype(np.float64) + 1.0 for k, v in layer.state_dict().items()}
    layer.load_state_dict(state)
    assert str(layer.weight.numpy().dtype) == "float32"
    assert_close(layer.weight, state["weight"].astype(np.float32))


def test_strict_load_names_the_missing_and_unexpected_keys_and_changes_nothing(device):
    layer = nn.Linear(2, 3, device=device)
    before = numpy_state(layer)
    state = {"weight": np.zeros((3, 2)), "bais": np.zeros(3)}
    with pytest.raises(KeyError) as info:
        layer.load_state_dict(state)
    assert str(info.value) == ("Linear.load_state_dict: keys do not match; missing ['bias'], "
                               "unexpected ['bais']")
    np.testing.assert_array_equal(layer.weight.numpy(), before["weight"])


def test_non_strict_load_copies_what_matches_and_reports_the_rest(device):
    layer = nn.Linear(2, 3, device=device)
    bias = layer.bias.numpy().copy()
    missing, unexpected = layer.load_state_dict({"weight": np.ones((3, 2)), "extra": 1.0},
                                                strict=False)
    assert (missing, unexpected) == (["bias"], ["extra"])
    assert_close(layer.weight, np.ones((3, 2), np.float32))
    assert_close(layer.bias, bias)


def test_shape_mismatch_names_the_key_and_changes_nothing(device):
    model = nn.Sequential(nn.Linear(2, 3, device=device), nn.Linear(3, 1, device=device))
    before = numpy_state(model)
    state = {k: np.zeros(v.shape) for k, v in before.items()}
    state["1.weight"] = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"Sequential.load_state_dict: 1.weight must have shape "
                                         r"\(1, 3\), got \(2, 3\)"):
        model.load_state_dict(state)
    for key, value in numpy_state(model).items():  # 0.weight was not half-loaded
        np.testing.assert_array_equal(value, before[key])


class TiedLM(nn.Module):
    """A language model whose output head shares the embedding's weight (GPT-2's tying)."""

    def __init__(self, device=None):
        self.emb = nn.Embedding(5, 3, device=device)
        self.norm = nn.LayerNorm(3, device=device)
        self.head = nn.Linear(3, 5, bias=False, device=device)
        self.head.weight = self.emb.weight

    def forward(self, idx):
        return self.head(self.norm(self.emb(idx)))


TIED_STATE = ["emb.weight", "norm.weight", "norm.bias", "head.weight"]


def test_a_tied_weight_is_in_the_state_dict_under_both_names_and_a_parameter_once(device):
    model = TiedLM(device)
    state = model.state_dict()
    assert list(state) == TIED_STATE
    assert state["head.weight"] is state["emb.weight"]
    assert [n for n, _ in model.named_parameters()] == ["emb.weight", "norm.weight", "norm.bias"]
    assert model.num_parameters() == 5 * 3 + 3 + 3


def test_tied_weight_names_match_pytorch():
    torch = pytest.importorskip("torch")

    class TorchTiedLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(5, 3)
            self.norm = torch.nn.LayerNorm(3)
            self.head = torch.nn.Linear(3, 5, bias=False)
            self.head.weight = self.emb.weight

    model = TorchTiedLM()
    assert list(model.state_dict()) == TIED_STATE
    assert [n for n, _ in model.named_parameters()] == ["emb.weight", "norm.weight", "norm.bias"]


def test_loading_a_state_dict_keeps_a_tied_weight_tied(device):
    source = TiedLM("cpu")
    expected = numpy_state(source)
    xpnet.manual_seed(1)
    model = TiedLM(device)
    shared = model.emb.weight
    assert model.load_state_dict(expected) == ([], [])
    assert model.head.weight is model.emb.weight is shared      # written in place, still one
    assert len(list(model.parameters())) == 3
    assert_close(model.head.weight, expected["emb.weight"], rtol=0, atol=0)
    idx = xpnet.tensor(np.array([[0, 4, 2]]), device=device)
    assert_close(model(idx), source(xpnet.tensor(np.array([[0, 4, 2]]))), rtol=1e-6, atol=1e-6)


def test_a_state_dict_naming_a_tied_weight_once_still_loads_strictly(device):
    expected = numpy_state(TiedLM("cpu"))
    del expected["head.weight"]            # what a checkpoint listing each tensor once holds
    model = TiedLM(device)
    assert model.load_state_dict(expected) == ([], [])
    assert_close(model.head.weight, expected["emb.weight"], rtol=0, atol=0)
    del expected["emb.weight"]
    with pytest.raises(KeyError, match=r"missing \['emb.weight', 'head.weight'\]"):
        model.load_state_dict(expected)


def test_different_values_for_one_tied_weight_are_refused_and_nothing_changes(device):
    model = TiedLM(device)
    before = numpy_state(model)
    state = dict(before)
    state["head.weight"] = before["emb.weight"] + 1.0
    with pytest.raises(ValueError, match=r"TiedLM.load_state_dict: emb.weight and head.weight "
                                         r"are one tied weight in this TiedLM, but the state "
                                         r"dict holds different values for them"):
        model.load_state_dict(state)
    for key, value in numpy_state(model).items():
        np.testing.assert_array_equal(value, before[key])


def test_a_pytorch_gpt_style_state_dict_loads_strictly_and_gives_the_same_outputs():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    emb, norm = torch.nn.Embedding(5, 3), torch.nn.LayerNorm(3)
    head = torch.nn.Linear(3, 5, bias=False)
    head.weight = emb.weight
    torch_model = torch.nn.ModuleDict({"emb": emb, "norm": norm, "head": head})
    state = {k: v.detach().numpy() for k, v in torch_model.state_dict().items()}
    model = TiedLM("cpu")
    assert model.load_state_dict(state) == ([], [])
    idx = np.array([[1, 3, 0, 4]])
    with torch.no_grad():
        expected = head(norm(emb(torch.from_numpy(idx)))).numpy()
    assert_close(model(xpnet.tensor(idx)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("value, error, message", [
    (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), TypeError,
     r"Linear.load_state_dict: weight must hold real numbers to fill a float32 tensor, got an "
     r"array of dtype <U1"),
    (np.ones((3, 2), dtype=np.complex64), TypeError, r"weight must hold real numbers .*complex64"),
    (np.array([None] * 6).reshape(3, 2), TypeError, r"weight must hold real numbers .*object"),
    ({"data": [1.0]}, TypeError, r"weight must be a tensor or an array, got dict"),
    ("0.5", TypeError, r"weight must be a tensor or an array, got str"),
    (np.zeros((2, 3)), ValueError, r"weight must have shape \(3, 2\), got \(2, 3\)"),
    ([[1.0, 2.0]], ValueError, r"weight must have shape \(3, 2\), got \(1, 2\)"),
])
def test_a_value_that_cannot_fill_a_tensor_is_refused_with_its_key(device, value, error,
                                                                     message):
    layer = nn.Linear(2, 3, device=device)
    before = numpy_state(layer)
    state = {"weight": value, "bias": np.zeros(3)}
    with pytest.raises(error, match=message):
        layer.load_state_dict(state)
    for key, array in numpy_state(layer).items():
        np.testing.assert_array_equal(array, before[key])


def test_errors_on_a_loaded_state_dict_name_its_file(tmp_path):
    path = tmp_path / "small.npz"
    xpnet.save(nn.Linear(2, 4).state_dict(), path)
    with pytest.raises(ValueError, match=rf"weight must have shape \(3, 2\) \(in {path}\), got "
                                         r"\(4, 2\)"):
        nn.Linear(2, 3).load_state_dict(xpnet.load(path))
    no_bias = tmp_path / "no_bias.npz"
    xpnet.save(nn.Linear(2, 4, bias=False).state_dict(), no_bias)
    with pytest.raises(KeyError, match=rf"keys do not match \(in {no_bias}\); missing \['bias'\]"):
        nn.Linear(2, 4).load_state_dict(xpnet.load(no_bias))


def test_train_and_eval_reach_every_nested_module(device):
    model = nn.Sequential(nn.Linear(2, 2, device=device),
                          nn.Sequential(nn.Dropout(0.5), nn.ModuleList([nn.ReLU()])))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert len(list(model.modules())) == 6 and not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model[1].eval()
    assert model.training and not model[1][0].training and not model[1][1][0].training


def test_to_moves_parameters_gradients_and_buffers_and_keeps_values(device):
    model = Block("cpu")
    x = xpnet.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3))
    model(x).sum().backward()
    values, grads = numpy_state(model), {n: p.grad.numpy().copy()
                                         for n, p in model.named_parameters()}
    assert model.to(device) is model
    assert model.device == device
    for name, t in model.state_dict().items():
        assert t.device == device
        np.testing.assert_array_equal(t.numpy(), values[name])
    for name, p in model.named_parameters():
        assert p.grad.device == device
        np.testing.assert_array_equal(p.grad.numpy(), grads[name])
    assert model.tied is model.body[0].weight  # still shared after the move
    y = model(xpnet.tensor(x.numpy(), device=device))
    assert y.device == device
    model.to("cpu")
    for name, t in model.state_dict().items():
        assert t.device == "cpu"
        np.testing.assert_array_equal(t.numpy(), values[name])


def test_double_casts_parameters_gradients_and_float_buffers_only(device):
    model = Block(device)
    model(xpnet.ones(2, 3, device=device)).sum().backward()
    weight = model.body[0].weight.numpy().copy()
    assert model.double() is model
    for p in model.parameters():
        assert str(p.numpy().dtype) == "float64" and str(p.grad.numpy().dtype) == "float64"
    assert str(model.running_mean.numpy().dtype) == "float64"
    assert str(model.steps.numpy().dtype) == "int64"
    np.testing.assert_array_equal(model.body[0].weight.numpy(), weight.astype(np.float64))
    y = model(xpnet.ones(2, 3, device=device, dtype="float64"))
    assert str(y.numpy().dtype) == "float64"
    model.float()
    assert str(model.body[0].weight.numpy().dtype) == "float32"


def test_repr_of_a_small_sequential_reads_like_pytorch():
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Sequential(nn.Dropout(0.25),
                                                                    nn.Linear(8, 1, bias=False)))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=8, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Dropout(p=0.25, inplace=False)\n"
        "    (1): Linear(in_features=8, out_features=1, bias=False)\n"
        "  )\n"
        ")")


def test_parameter_repr_says_what_it_is():
    p = nn.Parameter(xpnet.tensor([1.0, 2.0]))
    assert repr(p) == "Parameter containing:\nTensor([1., 2.], dtype=float32, requires_grad=True)"


def test_zero_grad_clears_every_gradient(device):
    model = Block(device)
    model(xpnet.ones(1, 3, device=device)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_requires_grad_off_freezes_every_parameter(device):
    model = nn.Linear(2, 2, device=device).requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())
    assert not model(xpnet.ones(1, 2, device=device)).requires_grad


def test_parameter_made_from_a_tensor_stays_on_its_device(device):
    xpnet.set_default_device("strict" if device != "strict" else "cpu")
    try:
        p = nn.Parameter(xpnet.zeros(2, device=device))
        b = nn.Buffer(xpnet.zeros(2, device=device))
        layer = nn.Linear(2, 3, device=device)
    finally:
        xpnet.set_default_device(None)
    assert p.device == b.device == layer.weight.device == layer.bias.device == device


def test_sequential_indexing_slicing_len_and_iteration(device):
    layers = [nn.Linear(2, 3, device=device), nn.Tanh(), nn.Linear(3, 1, device=device)]
    model = nn.Sequential(*layers)
    assert len(model) == 3 and list(model) == layers
    assert model[0] is layers[0] and model[-1] is layers[2]
    head = model[:2]
    assert isinstance(head, nn.Sequential) and list(head) == layers[:2]
    assert [n for n, _ in head.named_parameters()] == ["0.weight", "0.bias"]
    x = xpnet.ones(4, 2, device=device)
    assert_close(model(x), layers[2](layers[1](layers[0](x))))
    assert list(nn.Sequential(layers)) == layers  # a list is accepted too
    model.append(nn.Sigmoid())
    assert len(model) == 4 and model(x).shape == (4, 1)


def test_sequential_rejects_a_non_module():
    with pytest.raises(TypeError, match="Sequential: argument 1 must be a Module, got function"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_module_list_registers_its_modules(device):
    blocks = nn.ModuleList([nn.Linear(2, 2, device=device) for _ in range(3)])
    blocks.append(nn.Linear(2, 1, device=device))
    assert len(blocks) == 4 and blocks[3].out_features == 1
    assert [n for n, _ in blocks.named_parameters()][-2:] == ["3.weight", "3.bias"]
    assert blocks.num_parameters() == 3 * 6 + 3


def test_forward_must_be_implemented():
    with pytest.raises(NotImplementedError, match="Module: forward"):
        nn.Module()(1)


# -- PyTorch's walking API: generators, apply ----------------------------------------------------

def test_parameters_buffers_children_and_modules_are_generators_as_in_pytorch(device):
    model = Block(device)
    for walk in (model.parameters(), model.named_parameters(), model.buffers(),
                 model.named_buffers(), model.children(), model.modules()):
        assert iter(walk) is walk   # an iterator: consumed once, no len()
    assert next(model.parameters()) is model.tied
    assert next(model.children()) is model.body
    assert next(model.modules()) is model
    assert [n for n, _ in model.named_parameters(recurse=False)] == ["tied", "scale"]
    assert [n for n, _ in model.named_buffers(prefix="m")] == ["m.running_mean", "m.steps"]


def test_parameters_are_a_generator_in_pytorch_too():
    torch = pytest.importorskip("torch")
    block = torch_block(torch)
    assert type(block.parameters()).__name__ == type(Block("cpu").parameters()).__name__ \
        == "generator"


def test_apply_visits_children_before_their_parent_in_pytorchs_order():
    visited = []
    model = Block("cpu")
    assert model.apply(lambda m: visited.append(type(m).__name__)) is model
    assert visited == ["Linear", "ReLU", "Linear", "Sequential", "Linear", "Linear",
                       "ModuleList", "Block"]
    torch = pytest.importorskip("torch")
    theirs = []
    torch_block(torch).apply(lambda m: theirs.append(type(m).__name__))
    assert theirs[:-1] == visited[:-1] and theirs[-1] == "TorchBlock"


def test_apply_initialises_every_linear_layer(device):
    def init(m):
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.weight, 0.5)
    model = nn.Sequential(nn.Linear(2, 3, device=device), nn.Tanh(),
                          nn.Linear(3, 1, device=device)).apply(init)
    assert all(np.all(layer.weight.numpy() == 0.5) for layer in (model[0], model[2]))


# -- register_buffer ---------------------------------------------------------------------------

class Normalise(nn.Module):
    def __init__(self, device):
        self.register_buffer("mean", xpnet.tensor([1.0, 2.0], device=device))
        self.register_buffer("cache", xpnet.zeros(2, device=device), persistent=False)
        self.register_buffer("unset", None)
        self.linear = nn.Linear(2, 2, device=device)

    def forward(self, x):
        return self.linear(x - self.mean)


def torch_normalise(torch):
    class TorchNormalise(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.tensor([1.0, 2.0]))
            self.register_buffer("cache", torch.zeros(2), persistent=False)
            self.register_buffer("unset", None)
            self.linear = torch.nn.Linear(2, 2)
    return TorchNormalise()


def test_registered_buffers_are_listed_and_saved_unless_not_persistent(device):
    model = Normalise(device)
    assert [n for n, _ in model.named_buffers()] == ["mean", "cache"]
    assert list(model.state_dict()) == ["mean", "linear.weight", "linear.bias"]
    assert [n for n, _ in model.named_parameters()] == ["linear.weight", "linear.bias"]
    assert model.unset is None


def test_registered_buffer_names_match_pytorch():
    torch = pytest.importorskip("torch")
    theirs = torch_normalise(torch)
    mine = Normalise("cpu")
    assert [n for n, _ in mine.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert list(mine.state_dict()) == list(theirs.state_dict())


def test_a_registered_buffer_keeps_the_tensor_and_stays_a_buffer_when_reassigned(device):
    model = Normalise(device)
    t = xpnet.tensor([5.0, 6.0], device=device)
    model.register_buffer("mean", t)
    assert model.mean is t
    model.mean = model.mean * 2.0   # a new Tensor under a buffer's name is still the buffer
    assert list(model.state_dict()) == ["mean", "linear.weight", "linear.bias"]
    assert model.state_dict()["mean"].tolist() == [10.0, 12.0]


def test_registered_buffers_move_with_to_and_load_from_a_state_dict(device):
    model = Normalise("cpu").to(device)
    assert model.mean.device == device and model.cache.device == device
    other = Normalise(device)
    other.mean = xpnet.tensor([7.0, 8.0], device=device)
    model.load_state_dict(other.state_dict())
    assert model.mean.tolist() == [7.0, 8.0] and model.mean.device == device


def test_register_buffer_refuses_a_bad_name_or_value():
    model = Normalise("cpu")
    with pytest.raises(KeyError, match="already exists"):
        model.register_buffer("linear", xpnet.zeros(1))
    with pytest.raises(KeyError, match="without '.'"):
        model.register_buffer("a.b", xpnet.zeros(1))
    with pytest.raises(TypeError, match="cannot assign ndarray to buffer 'x'"):
        model.register_buffer("x", np.zeros(1))
    with pytest.raises(TypeError, match="cannot assign int to buffer 'mean'"):
        model.mean = 3


def test_load_state_dict_returns_the_missing_and_unexpected_keys_by_name(device):
    model = Normalise(device)
    result = model.load_state_dict({"mean": np.zeros(2), "extra": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["linear.weight", "linear.bias"]
    assert result.unexpected_keys == ["extra"]
    missing, unexpected = result   # still a pair, as before
    assert unexpected == ["extra"]


def test_to_takes_a_dtype_alone_as_in_pytorch(device):
    model = Normalise(device).to(xpnet.float64)
    assert model.linear.weight.dtype == xpnet.float64 and model.mean.dtype == xpnet.float64
    assert model.to(device, non_blocking=True) is model


def test_zero_grad_can_keep_zero_gradients(device):
    model = nn.Linear(2, 1, device=device)
    model(xpnet.ones(1, 2, device=device)).sum().backward()
    model.zero_grad(set_to_none=False)
    assert model.weight.grad.tolist() == [[0.0, 0.0]]


# -- forward hooks -----------------------------------------------------------------------------

def run_hook_program(nn_module, make_input):
    """The same hook program on xpnet or PyTorch: the events it records, in order."""
    events = []

    class Doubler(nn_module.Module):
        def forward(self, x):
            events.append("forward")
            return x * 2

    layer = Doubler()
    first = layer.register_forward_pre_hook(lambda m, args: events.append("pre1"))
    layer.register_forward_pre_hook(lambda m, args: (args[0] + 1,))
    layer.register_forward_pre_hook(lambda m, args: events.append("pre0"), prepend=True)
    layer.register_forward_hook(lambda m, args, out: events.append(("post", args[0].tolist())))
    layer.register_forward_hook(lambda m, args, out: out * 10)
    out = layer(make_input([1.0]))
    events.append(("out", out.tolist()))
    first.remove()
    first.remove()   # a second remove does nothing
    with layer.register_forward_hook(lambda m, args, out: events.append("scoped")):
        layer(make_input([0.0]))
    layer(make_input([0.0]))
    return events


EXPECTED_HOOK_EVENTS = ["pre0", "pre1", "forward", ("post", [2.0]), ("out", [40.0]),
                        "pre0", "forward", ("post", [1.0]), "scoped",
                        "pre0", "forward", ("post", [1.0])]


def test_forward_hooks_run_in_pytorchs_order_and_replace_args_and_output(device):
    events = run_hook_program(nn, lambda v: xpnet.tensor(v, device=device))
    assert events == EXPECTED_HOOK_EVENTS


def test_the_hook_program_gives_the_same_events_under_pytorch():
    torch = pytest.importorskip("torch")
    assert run_hook_program(torch.nn, torch.tensor) == EXPECTED_HOOK_EVENTS


def test_hooks_with_kwargs_see_and_replace_keyword_arguments():
    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    layer = Scale()
    layer.register_forward_pre_hook(lambda m, args, kwargs: (args, {"factor": 3.0}),
                                    with_kwargs=True)
    seen = []
    layer.register_forward_hook(lambda m, args, kwargs, out: seen.append(kwargs),
                                with_kwargs=True)
    assert layer(xpnet.tensor([2.0]), factor=5.0).tolist() == [6.0]
    assert seen == [{"factor": 3.0}]


def test_a_forward_hook_must_be_callable():
    with pytest.raises(TypeError, match="register_forward_hook: hook must be callable, got int"):
        nn.Linear(1, 1).register_forward_hook(3)


# -- full backward hooks ------------------------------------------------------------------------

def test_a_full_backward_hook_sees_the_gradients_of_inputs_and_outputs(device):
    xpnet.manual_seed(0)
    layer = nn.Linear(3, 2, device=device, dtype="float64")
    x = xpnet.randn(4, 3, device=device, dtype="float64", requires_grad=True)
    weight_out = xpnet.randn(4, 2, device=device, dtype="float64")
    seen = []
    layer.register_full_backward_hook(lambda m, gi, go: seen.append((m, gi, go)))
    (layer(x) * weight_out).sum().backward()
    (module, grad_input, grad_output), = seen
    assert module is layer and len(grad_input) == 1 and len(grad_output) == 1
    assert_close(grad_output[0], weight_out.numpy(), rtol=1e-12)
    expected = weight_out.numpy() @ layer.weight.numpy()
    assert_close(grad_input[0], expected, rtol=1e-12)
    assert_close(x.grad, expected, rtol=1e-12)


def test_a_full_backward_hook_may_replace_the_input_gradient_and_be_removed():
    layer = nn.Linear(3, 2)
    x = xpnet.randn(4, 3, requires_grad=True)
    calls = []
    first = layer.register_full_backward_hook(lambda m, gi, go: calls.append("first") or
                                              (gi[0] * 2.0,))
    layer.register_full_backward_hook(lambda m, gi, go: calls.append("second"))
    layer(x).sum().backward()
    assert calls == ["first", "second"]
    doubled = x.grad.numpy().copy()
    first.remove()
    x.grad = None
    calls.clear()
    layer(x).sum().backward()
    assert calls == ["second"]
    np.testing.assert_allclose(doubled, 2.0 * x.grad.numpy(), rtol=1e-6)


def test_full_backward_hooks_run_in_backward_order_and_give_none_for_inputs_without_grad():
    first, second = nn.Linear(3, 3), nn.Linear(3, 1)
    order = []
    first.register_full_backward_hook(lambda m, gi, go: order.append(("first", gi)))
    second.register_full_backward_hook(lambda m, gi, go: order.append(("second", gi)))
    second(first(xpnet.randn(2, 3))).sum().backward()      # the data takes no gradient
    assert [name for name, _ in order] == ["second", "first"]
    assert order[1][1] == (None,) and order[0][1][0].shape == (2, 3)


def test_full_backward_hooks_equal_pytorchs():
    torch = pytest.importorskip("torch")
    xpnet.manual_seed(1)
    layer = nn.Linear(3, 2, dtype="float64")
    ref = torch.nn.Linear(3, 2).double()
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in layer.state_dict().items()})
    x = np.random.default_rng(2).standard_normal((5, 3))
    mine, theirs = [], []
    layer.register_full_backward_hook(lambda m, gi, go: mine.append((gi, go)))
    ref.register_full_backward_hook(lambda m, gi, go: theirs.append((gi, go)))
    (layer(xpnet.tensor(x, requires_grad=True)) ** 2).sum().backward()
    (ref(torch.tensor(x, requires_grad=True)) ** 2).sum().backward()
    for got, want in zip(mine[0], theirs[0]):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert_close(g, w.numpy(), rtol=1e-12)


def test_a_module_whose_hooks_are_all_removed_takes_the_plain_path_again():
    layer = nn.Linear(2, 2)
    layer.register_forward_hook(lambda m, a, o: None).remove()
    layer.register_full_backward_hook(lambda m, gi, go: None).remove()
    x = xpnet.randn(1, 2, requires_grad=True)
    y = layer(x)
    assert y.creator is not None and type(y.creator).__name__ == "Linear"    # no hook point


def test_named_sequential_and_module_dict_have_pytorchs_names_reprs_and_weights(device):
    torch = pytest.importorskip("torch")
    from collections import OrderedDict

    def build(lib):
        lib.manual_seed(0)
        body = lib.nn.Sequential(OrderedDict([("conv1", lib.nn.Conv2d(1, 2, 3)),
                                              ("act", lib.nn.ReLU()),
                                              ("flat", lib.nn.Flatten())]))
        heads = lib.nn.ModuleDict({"digit": lib.nn.Linear(8, 10), "odd": lib.nn.Linear(8, 1)})
        return body, heads

    (body, heads), (tbody, theads) = build(xpnet), build(torch)
    for ours, theirs in ((body, tbody), (heads, theads), (body[1:], tbody[1:])):
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
    body.load_state_dict({k: v.numpy() for k, v in tbody.state_dict().items()})
    heads.load_state_dict({k: v.detach().numpy() for k, v in theads.state_dict().items()})
    body.to(device), heads.to(device)
    x = np.random.default_rng(0).standard_normal((2, 1, 4, 4)).astype(np.float32)
    features = body(xpnet.tensor(x, device=device))
    assert body.conv1 is body[0] and list(heads) == ["digit", "odd"] and "odd" in heads
    with torch.no_grad():
        expected = theads["digit"](tbody(torch.tensor(x)))
    assert_close(heads["digit"](features), expected.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make, message", [
    (lambda: nn.ModuleList([nn.ReLU(), 3]), r"ModuleList: element 1 must be a Module, got int"),
    (lambda: nn.ModuleList().append("x"), r"ModuleList.append: the argument must be a Module"),
    (lambda: nn.ModuleDict({"a": 3}), r"ModuleDict: the value of 'a' must be a Module, got int"),
    (lambda: nn.Sequential(nn.ReLU(), 3), r"Sequential: argument 1 must be a Module, got int"),
])
def test_containers_refuse_what_is_not_a_module(make, message):
    with pytest.raises(TypeError, match=message):
        make()
