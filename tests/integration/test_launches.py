"""What a training step costs on a GPU, counted on the CPU: no host synchronisation inside a
step, and the launch budgets of the recurrent layers, the optimizers and GELU
(``xpnet.testing.count_calls`` on array-api-strict; ``benchmarks/launches.py`` prints the counts)."""
import pytest

import xpnet
import xpnet.functional as F
from xpnet import models, nn, optim
from xpnet.testing import count_calls


def _step(model, x, y, optimizer):
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def _counted_step(model, x, y, optimizer):
    _step(model, x, y, optimizer)             # the first step creates the optimizer state
    with count_calls() as calls:
        _step(model, x, y, optimizer)
    return calls


RECIPE_MODELS = {
    "mnist-cnn": (models.mnist_cnn, (8, 1, 28, 28)),
    "mnist-seed-cnn": (models.mnist_seed_cnn, (1, 1, 28, 28)),
    "mnist-mlp": (models.mnist_mlp, (8, 1, 28, 28)),
    "mnist-lstm": (models.mnist_lstm, (8, 28, 28)),
    "gru": (lambda device: models.SequenceClassifier(28, 16, 10, "gru", device=device),
            (8, 28, 28)),
    "rnn": (lambda device: models.SequenceClassifier(28, 16, 10, "rnn", device=device),
            (8, 28, 28)),
}


@pytest.mark.parametrize("name", sorted(RECIPE_MODELS))
def test_a_training_step_never_waits_for_the_host(name):
    build, shape = RECIPE_MODELS[name]
    model = build(device="strict")
    x = xpnet.randn(*shape, device="strict")
    y = xpnet.tensor([k % 10 for k in range(shape[0])], device="strict")
    calls = _counted_step(model, x, y, optim.Adam(model.parameters()))
    assert calls.total > 0 and dict(calls.syncs) == {}


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_a_recurrent_time_step_costs_at_most_four_launches(cell):
    """Forward and backward together: the recurrent matmul and one fused cell each way (for the
    float32 LSTM and GRU, the step kernel on whole gate blocks of xpnet.cuda.loops)."""
    counts = {}
    for steps in (4, 12):
        model = models.SequenceClassifier(5, 8, 3, cell, device="strict")
        x = xpnet.randn(6, steps, 5, device="strict")
        y = xpnet.tensor([0, 1, 2, 0, 1, 2], device="strict")
        counts[steps] = _counted_step(model, x, y, optim.SGD(model.parameters(), lr=0.1))
    per_step = (counts[12].total - counts[4].total) / 8
    assert per_step <= 4, f"{cell}: {per_step} launches per time step"
    if cell != "rnn":
        by_name = counts[12].by_name
        assert (by_name[f"loops:_{cell}_step_loops"],
                by_name[f"loops:_{cell}_step_backward_loops"]) == (12, 12)


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                                  lambda p: optim.Adam(p, weight_decay=0.1),
                                  lambda p: optim.AdamW(p, amsgrad=True),
                                  lambda p: optim.RMSprop(p, centered=True, momentum=0.5)])
def test_an_optimizer_step_is_one_fused_call_per_parameter(make):
    model = models.mnist_mlp(device="strict")
    optimizer = make(model.parameters())
    model(xpnet.randn(2, 784, device="strict")).sum().backward()
    optimizer.step()
    with count_calls() as calls:
        optimizer.step()
    fused = sum(n for name, n in calls.by_name.items() if name.startswith("fused:"))
    assert fused == calls.total == len(list(model.parameters()))


def test_gelu_is_two_launches_forward_and_one_backward():
    x = xpnet.randn(4, 5, device="strict", requires_grad=True)
    with count_calls() as forward:
        y = F.gelu(x)
    with count_calls() as backward:
        y.backward(xpnet.ones(4, 5, device="strict"))
    assert forward.total == 2
    assert backward.by_name.get("fused:gelu_grad") == 1


def test_cross_entropy_launches_its_reductions_and_three_fused_kernels():
    """On a GPU the loss is the log-softmax's reductions and three fused kernels (its compiled
    loop nest is NumPy's): 17 launches forward, the backward one fused kernel, and no sync."""
    x = xpnet.randn(8, 10, device="strict", requires_grad=True)
    labels = xpnet.tensor([1, 2, 3, 4, 5, 6, 7, -100], device="strict")
    with count_calls() as forward:
        loss = F.cross_entropy(x, labels, label_smoothing=0.1)
    with count_calls() as backward:
        loss.backward()
    assert forward.total <= 17 and not forward.syncs
    assert backward.by_name.get("fused:_softmax_minus_target") == 1
    assert backward.total <= 4 and not backward.syncs

def test_the_counter_sees_host_reads_and_compat_functions_that_sync_on_cupy():
    x = xpnet.randn(3, device="strict")
    with count_calls() as calls:
        float(x.sum().array)
        x.xp.clip(x.array, -1.0, 1.0)
    assert calls.syncs["__float__"] == 1 and calls.syncs["clip"] == 1


def test_a_layer_error_inside_counting_is_not_swallowed():
    with count_calls():
        with pytest.raises(ValueError, match=r"Linear\(in_features=3"):
            nn.Linear(3, 2, device="strict")(xpnet.randn(2, 4, device="strict"))


def test_a_convolution_step_launches_im2col_and_col2im_once_each_per_layer():
    """mnist-cnn's two conv layers: each window copy and each col2im is one CUDA kernel
    (xpnet.cuda.loops), not KH·KW strided copies; the whole step stays under 70 launches (99
    when im2col ran as array calls)."""
    build, shape = RECIPE_MODELS["mnist-cnn"]
    model = build(device="strict")
    x = xpnet.randn(*shape, device="strict")
    y = xpnet.tensor([k % 10 for k in range(shape[0])], device="strict")
    calls = _counted_step(model, x, y, optim.Adam(model.parameters()))
    assert calls.by_name["loops:_gather_columns_loops"] == 2     # forward, both layers
    assert calls.by_name["loops:_add_columns_loops"] == 1        # backward, the second layer
    assert calls.total <= 70, calls.total
