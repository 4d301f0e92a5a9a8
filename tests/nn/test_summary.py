"""summary(model, input_size): output shapes, parameter counts, totals and memory, by hand."""
import importlib

import numpy as np
import pytest

import xpnet
from xpnet import nn
from xpnet.nn.summary import summary

# the module itself, even where a package exports the function under the same name
summary_module = importlib.import_module("xpnet.nn.summary")


def small_cnn(device=None):
    """Conv 1→4 3×3 (36 + 4 = 40 parameters), ReLU, MaxPool 2, Flatten, Linear 36→5 (185)."""
    return nn.Sequential(nn.Conv2d(1, 4, 3, device=device), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(36, 5, device=device))


class Net(nn.Module):
    """A module holding a Sequential and a Linear, for depth."""

    def __init__(self):
        self.features = small_cnn()
        self.head = nn.Linear(5, 2)

    def forward(self, x):
        return self.head(self.features(x))


def test_a_small_cnn_against_hand_counts(device):
    s = summary(small_cnn(device), input_size=(2, 1, 8, 8), device=device)
    assert [(r.name, r.kind, r.depth) for r in s.rows] == [
        ("", "Sequential", 0), ("0", "Conv2d", 1), ("1", "ReLU", 1), ("2", "MaxPool2d", 1),
        ("3", "Flatten", 1), ("4", "Linear", 1)]
    assert [r.output_shapes for r in s.rows] == [
        ((2, 5),), ((2, 4, 6, 6),), ((2, 4, 6, 6),), ((2, 4, 3, 3),), ((2, 36),), ((2, 5),)]
    assert [r.num_params for r in s.rows] == [225, 40, 0, 0, 0, 185]
    assert (s.total_params, s.trainable_params, s.non_trainable_params) == (225, 225, 0)
    assert s.input_shapes == [(2, 1, 8, 8)]
    assert s.input_bytes == 2 * 64 * 4
    assert s.param_bytes == 225 * 4
    # the leaf layers' outputs: 288 + 288 + 72 + 72 + 10 float32 values
    assert s.activation_bytes == (288 + 288 + 72 + 72 + 10) * 4
    assert s.total_bytes == s.input_bytes + s.activation_bytes + s.param_bytes


def test_the_table_lists_each_layer_and_the_totals():
    text = str(summary(small_cnn(), input_size=(2, 1, 8, 8)))
    lines = text.splitlines()
    assert lines[0].split() == ["Layer", "(type)", "Output", "shape", "Param", "#"]
    assert lines[2].split() == ["Sequential", "(2,", "5)", "--"]
    assert lines[3].split() == ["0:", "Conv2d", "(2,", "4,", "6,", "6)", "40"]
    assert lines[4].split() == ["1:", "ReLU", "(2,", "4,", "6,", "6)", "--"]
    assert lines[7].split() == ["4:", "Linear", "(2,", "5)", "185"]
    assert "Total params: 225" in lines
    assert "Trainable params: 225" in lines and "Non-trainable params: 0" in lines
    assert f"Forward/backward pass size (MB): {730 * 4 / 2 ** 20:.2f}" in lines
    assert repr(summary(small_cnn(), input_size=(2, 1, 8, 8))) == text


def test_depth_limits_the_table_and_not_the_totals():
    model = Net()
    deep = summary(model, input_size=(3, 1, 8, 8))
    assert [(r.name, r.depth) for r in deep.rows][:3] == [("", 0), ("features", 1),
                                                           ("features.0", 2)]
    assert deep.rows[-1].name == "head" and deep.rows[-1].output_shapes == ((3, 2),)
    shallow = summary(model, input_size=(3, 1, 8, 8), depth=1)
    lines = str(shallow).splitlines()
    assert [line.split()[:2] for line in lines[2:5]] == [
        ["Net", "(3,"], ["features:", "Sequential"], ["head:", "Linear"]]
    assert lines[3].split()[-1] == "225"       # at the depth limit: its sub-modules' parameters
    assert lines[4].split()[-1] == "12"
    assert shallow.total_params == deep.total_params == 225 + 12
    assert "Conv2d" not in str(shallow) and "0: Conv2d" in str(deep)


def test_frozen_parameters_are_not_trainable():
    model = small_cnn()
    model[0].requires_grad_(False)
    s = summary(model, input_size=(1, 1, 8, 8))
    assert (s.total_params, s.trainable_params, s.non_trainable_params) == (225, 185, 40)
    assert s.rows[1].trainable_params == 0 and s.rows[5].trainable_params == 185


def test_counts_match_torch_numel():
    torch = pytest.importorskip("torch")
    ours = summary(xpnet.models.mnist_cnn(), input_size=(2, 1, 28, 28))
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(9216, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))
    assert ours.total_params == sum(p.numel() for p in theirs.parameters()) == 1_199_882
    assert [r.num_params for r in ours.rows[1:]] == [
        sum(p.numel() for p in layer.parameters()) for layer in theirs]
    x = torch.zeros(2, 1, 28, 28)
    shapes = []
    for layer in theirs:
        x = layer(x)
        shapes.append((tuple(x.shape),))
    assert [r.output_shapes for r in ours.rows[1:]] == shapes


def test_input_data_keyword_inputs_and_integer_dtypes():
    emb = nn.Embedding(10, 3)
    s = summary(emb, input_size=(2, 5), dtypes=["int64"])
    assert s.rows[0].output_shapes == ((2, 5, 3),) and s.total_params == 30
    assert s.input_bytes == 2 * 5 * 8

    class Pair(nn.Module):
        def __init__(self):
            self.a, self.b = nn.Linear(3, 2), nn.Linear(4, 2)

        def forward(self, x, y=None):
            return self.a(x), self.b(y)

    s = summary(Pair(), input_data={"x": xpnet.zeros(1, 3), "y": xpnet.zeros(1, 4)})
    assert s.rows[0].output_shapes == ((1, 2), (1, 2))
    assert s.input_shapes == [(1, 3), (1, 4)]
    s = summary(Pair(), input_data=[xpnet.zeros(1, 3), xpnet.zeros(1, 4)])
    assert [r.name for r in s.rows] == ["", "a", "b"]


def test_a_recurrent_layer_reports_every_returned_tensor():
    s = summary(nn.LSTM(3, 4, batch_first=True), input_size=(2, 5, 3))
    assert s.rows[0].output_shapes == ((2, 5, 4), (1, 2, 4), (1, 2, 4))
    assert s.total_params == 4 * 4 * (3 + 4) + 2 * 4 * 4


def test_modes_parameters_and_the_random_state_are_left_as_they_were():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout(0.5))
    model.train()
    mean = model[1].running_mean.numpy().copy()
    xpnet.manual_seed(3)
    summary(model, input_size=(4, 1, 5, 5))
    after = xpnet.randn(3).numpy()
    xpnet.manual_seed(3)
    assert np.array_equal(after, xpnet.randn(3).numpy())      # the summary drew nothing
    assert all(m.training for m in model.modules())
    assert np.array_equal(model[1].running_mean.numpy(), mean)  # ran in eval mode
    assert model(xpnet.zeros(1, 1, 5, 5)).shape == (1, 2, 3, 3)


def test_the_model_keeps_no_trace_of_the_summary():
    model = Net()
    before = [dict(vars(m)) for m in model.modules()]
    summary(model, input_size=(2, 1, 8, 8))
    assert [set(vars(m)) for m in model.modules()] == [set(b) for b in before]


def test_the_forward_wrapping_fallback_gives_the_same_rows_and_restores_forward(monkeypatch):
    hooked = summary(Net(), input_size=(2, 1, 8, 8))
    monkeypatch.setattr(summary_module, "_has_hooks", lambda: False)
    model = Net()
    wrapped = summary(model, input_size=(2, 1, 8, 8))
    assert wrapped.rows == hooked.rows
    assert all("forward" not in vars(m) for m in model.modules())
    with pytest.raises(ValueError):
        summary(model, input_size=(2, 3, 8, 8))
    assert all("forward" not in vars(m) for m in model.modules())   # restored after an error


@pytest.mark.parametrize("bad", [(2, 0, 8, 8), (2, -1), (), "2x1x8x8", (2.0, 1, 8, 8),
                                 [(2, 1, 8, 8), (3, "a")], (True, 1, 8, 8)])
def test_a_bad_input_size_gets_a_clear_error(bad):
    with pytest.raises(ValueError, match=r"summary: input_size must be a shape with the batch "
                                         r"first .* got " + repr(bad).replace("(", r"\(")
                                         .replace(")", r"\)").replace("[", r"\[")):
        summary(small_cnn(), input_size=bad)


def test_other_bad_arguments_get_clear_errors():
    with pytest.raises(ValueError, match="summary: give exactly one of input_size"):
        summary(small_cnn())
    with pytest.raises(ValueError, match="summary: give exactly one of input_size"):
        summary(small_cnn(), input_size=(1, 1, 8, 8), input_data=xpnet.zeros(1, 1, 8, 8))
    with pytest.raises(TypeError, match="summary: model must be an xpnet.nn.Module, got str"):
        summary("model", input_size=(1, 2))
    with pytest.raises(TypeError, match="summary: input_data must be a Tensor, a list"):
        summary(small_cnn(), input_data=np.zeros((1, 1, 8, 8)))
    with pytest.raises(ValueError, match=r"summary: dtypes must give one dtype per input \(1\), "
                                         r"got 2"):
        summary(small_cnn(), input_size=(1, 1, 8, 8), dtypes=["float32", "float32"])
    with pytest.raises(ValueError, match="summary: depth must be a non-negative int"):
        summary(small_cnn(), input_size=(1, 1, 8, 8), depth=-1)
    with pytest.raises(ValueError, match=r"summary: the model's forward failed on inputs of "
                                         r"shape \[\(1, 3, 8, 8\)\]: .*Conv2d"):
        summary(small_cnn(), input_size=(1, 3, 8, 8))
