"""A probe of bad inputs through the public API, as a new user makes them: each is refused with
a message that names the op, layer or argument, says what was expected and what was received.
(The CLI's own cases are in tests/test_cli.py, files in tests/io/, the fuzzing in
test_fuzz.py beside this file.)

Errors follow one rule: a value of the wrong type is a TypeError quoting it with its type, a value
out of its range a ValueError, an index outside its axis an IndexError."""
import numpy as np
import pytest

import xpnet
import xpnet.nn.functional as F
from xpnet import nn, optim
from xpnet.data import ArrayDataset, DataLoader
from xpnet.train import ModelCheckpoint, evaluate, fit


def _ints(*shape):
    return xpnet.tensor(np.arange(int(np.prod(shape))).reshape(shape) % 3, dtype="int64")


def _floats(*shape):
    return xpnet.randn(*shape)


def _model():
    return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))


def _fit(**overrides):
    model = _model()
    kwargs = dict(loss="cross_entropy", optimizer=optim.SGD(model.parameters(), lr=0.1),
                  epochs=1, verbose=0)
    kwargs.update(overrides)
    return fit(model, (np.zeros((4, 2), np.float32), np.array([0, 1, 0, 1])), **kwargs)


CASES = {
    # integer input where floating input is needed: the layer, the dtype and the fix
    "lstm-int-input": (lambda: nn.LSTM(3, 4)(_ints(5, 2, 3)), TypeError,
                       r"LSTM\(3, 4\): lstm: x must be floating-point, got dtype int64; convert "
                       r"it with .float\(\)"),
    "gru-uint8-input": (lambda: nn.GRU(28, 8, batch_first=True)(
        xpnet.tensor(np.zeros((2, 28, 28), np.uint8))), TypeError,
        r"gru: x must be floating-point, got dtype uint8"),
    "rnn-int-input": (lambda: nn.RNN(3, 4)(_ints(5, 2, 3)), TypeError, r"rnn: x must be floating"),
    "linear-int-input": (lambda: nn.Linear(3, 2)(_ints(4, 3)), TypeError,
                         r"Linear\(.*\): linear: x must be floating-point, got dtype int64"),
    "softmax-int": (lambda: F.softmax(_ints(2, 3), dim=1), TypeError, r"softmax: x must be float"),
    "layer-norm-int": (lambda: nn.LayerNorm(3)(_ints(2, 3)), TypeError,
                       r"layer_norm: x must be floating-point"),
    "batch-norm-int": (lambda: nn.BatchNorm1d(3)(_ints(4, 3)), TypeError,
                       r"batch_norm: x must be floating-point"),
    "dropout-int": (lambda: F.dropout(_ints(4, 3), 0.5), TypeError, r"dropout: x must be float"),
    "mse-int-target": (lambda: F.mse_loss(_floats(3), _ints(3)), TypeError,
                       r"mse_loss: target must be floating-point, got dtype int64"),
    "cross-entropy-int-logits": (lambda: F.cross_entropy(_ints(3, 4), _ints(3)), TypeError,
                                 r"cross_entropy: input must be floating-point"),
    "max-pool-int": (lambda: F.max_pool2d(_ints(1, 1, 4, 4), 2), TypeError,
                     r"max_pool2d: x must be floating-point"),
    # values a loss cannot take
    "bce-outside-0-1": (lambda: F.binary_cross_entropy(xpnet.tensor([0.5, 1.5]),
                                                       xpnet.tensor([1.0, 0.0])), ValueError,
                        r"binary_cross_entropy: input must hold probabilities in \[0, 1\], got "
                        r"values from 0.5 to 1.5; for logits use binary_cross_entropy_with_logits"),
    "bce-negative": (lambda: nn.BCELoss()(xpnet.tensor([-0.1]), xpnet.tensor([0.0])), ValueError,
                     r"BCELoss\(reduction='mean'\): binary_cross_entropy: input must hold"),
    "cross-entropy-label-range": (lambda: F.cross_entropy(_floats(2, 3), xpnet.tensor([0, 3])),
                                  IndexError, r"cross_entropy: labels must be in \[0, 3\)"),
    # raw arrays and other objects where a Tensor goes
    "linear-numpy-weight": (lambda: F.linear(_floats(2, 3), np.ones((4, 3))), TypeError,
                            r"linear: weight must be an xpnet Tensor, got numpy.ndarray; convert it "
                            r"with xpnet.tensor\(...\)"),
    "add-string": (lambda: _floats(2) + "1", TypeError,
                   r"add: operands must be Tensors or Python numbers, got str"),
    "matmul-list": (lambda: F.matmul(_floats(2, 2), [[1.0, 0.0], [0.0, 1.0]]), TypeError,
                    r"matmul: other must be an xpnet Tensor, got list"),
    "tensor-of-strings": (lambda: xpnet.tensor(["a", "b"]), TypeError,
                          r"tensor: data must be numbers \(bool, int, float\), got list of dtype"),
    "tensor-ragged": (lambda: xpnet.tensor([[1, 2], [3]]), ValueError,
                      r"tensor: nested lists must be rectangular"),
    "tensor-unknown-dtype": (lambda: xpnet.tensor([1.0], dtype="float8"), TypeError,
                             r"unknown dtype 'float8'; expected one of bool, int8, .*float32"),
    "int-requires-grad": (lambda: xpnet.tensor([1, 2], requires_grad=True), TypeError,
                          r"only floating-point tensors can require gradients, got dtype int64"),
    # creation functions
    "zeros-negative": (lambda: xpnet.zeros(-1, 3), ValueError,
                       r"zeros: sizes must be >= 0, got \(-1, 3\)"),
    "ones-float-size": (lambda: xpnet.ones(2.5), TypeError, r"ones: sizes must be ints"),
    "randn-int-dtype": (lambda: xpnet.randn(2, dtype="int64"), TypeError,
                        r"randn: dtype must be a floating dtype \(float16, bfloat16, float32 or float64\), "
                        r"got int64"),
    "full-string": (lambda: xpnet.full((2,), "x"), TypeError, r"full: fill_value must be a number"),
    "seed-float": (lambda: xpnet.manual_seed(1.5), TypeError, r"manual_seed: seed must be an int"),
    # constructors: sizes, probabilities
    "lstm-negative-layers": (lambda: nn.LSTM(3, 4, num_layers=-1), ValueError,
                             r"LSTM: num_layers must be a positive int, got -1"),
    "gru-dropout-one": (lambda: nn.GRU(3, 4, dropout=1.0), ValueError,
                        r"GRU: dropout must be in \[0, 1\), got 1.0"),
    "batchnorm-float": (lambda: nn.BatchNorm2d(3.0), TypeError,
                        r"BatchNorm2d: num_features must be a positive int, got 3.0 \(float\)"),
    "loss-reduction": (lambda: nn.MSELoss(reduction="avg"), ValueError,
                       r"MSELoss: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    "plain-list-of-layers": (lambda: type("Net", (nn.Module,), {"__init__": lambda self: setattr(
        self, "blocks", [nn.Linear(2, 2)])})(), TypeError, r"Net: attribute 'blocks' is a plain "
        r"list .*use nn.ModuleList"),
    # state dicts and gradients
    "load-state-dict-path": (lambda: _model().load_state_dict("weights.npz"), TypeError,
                             r"Sequential.load_state_dict: expected a dict of tensors \(a "
                             r"state_dict\), got str; read the file first"),
    "load-state-dict-shape": (lambda: nn.Linear(2, 3).load_state_dict(
        {"weight": np.zeros((3, 3)), "bias": np.zeros(3)}), ValueError,
        r"Linear.load_state_dict: weight must have shape \(3, 2\), got \(3, 3\)"),
    "backward-gradient-shape": (lambda: (_floats(3).requires_grad_() * 2.0).backward(
        xpnet.ones(4)), ValueError,
        r"backward: gradient must have the tensor's shape \(3,\), got \(4,\)"),
    "backward-non-scalar": (lambda: (_floats(3).requires_grad_() * 2.0).backward(), RuntimeError,
                            r"backward: gradient can be omitted only for a one-element tensor"),
    "size-dim": (lambda: _floats(2, 3).size(2), IndexError, r"size: dim must be an int in"),
    # fit, evaluate, optimizers, callbacks
    "fit-epochs-negative": (lambda: _fit(epochs=-1), ValueError,
                            r"fit: epochs must be a positive int, got -1"),
    "fit-foreign-optimizer": (lambda: _fit(optimizer=optim.Adam(_model().parameters())),
                              ValueError, r"fit: the optimizer holds none of the model's "
                                          r"parameters"),
    "fit-log-every-zero": (lambda: _fit(log_every=0), ValueError,
                           r"fit: log_every must be a positive int, got 0"),
    "fit-verbose": (lambda: _fit(verbose="loud"), ValueError, r"fit: verbose must be"),
    "fit-checkpoint-needs-val": (lambda: _fit(callbacks=[ModelCheckpoint("c-{val_loss:.2f}.npz")]),
                                 ValueError, r"ModelCheckpoint: 'val_loss' is only logged with "
                                             r"validation data; pass val= to fit"),
    "fit-early-stopping-needs-val": (lambda: _fit(callbacks=[
        xpnet.train.EarlyStopping(monitor="val_accuracy")]), ValueError,
        r"EarlyStopping: 'val_accuracy' is only logged with validation data"),
    "evaluate-empty": (lambda: evaluate(_model(), (np.zeros((0, 2), np.float32),
                                                   np.zeros(0, np.int64))), ValueError,
                       r"evaluate: the data holds no samples"),
    "optimizer-empty": (lambda: optim.SGD([], lr=0.1), ValueError,
                        r"SGD: got an empty parameter list"),
    "optimizer-negative-lr": (lambda: optim.Adam(_model().parameters(), lr=-1), ValueError,
                              r"Adam: lr must be >= 0, got -1"),
    "embedding-id-out-of-range": (lambda: nn.Embedding(5, 2)(xpnet.tensor([[0, 5]])), IndexError,
                                  r"embedding: indices must be in \[0, 5\), got values from 0 "
                                  r"to 5"),
    "dataset-index-out-of-range": (lambda: ArrayDataset(np.zeros(3))[3], IndexError,
                                   r"ArrayDataset: index must be in \[-3, 3\), got 3"),
    "dataloader-batch-zero": (lambda: DataLoader(ArrayDataset(np.zeros(3)), batch_size=0),
                              ValueError, r"DataLoader: batch_size must be a positive int, got 0"),
    "device-unknown": (lambda: xpnet.zeros(2, device="tpu"), ValueError,
                       r"unknown device 'tpu'; expected 'cpu', 'strict', 'cuda'"),
    "mixed-devices": (lambda: xpnet.ones(2) + xpnet.ones(2, device="strict"), TypeError,
                      r"add: inputs are on different array libraries \['cpu', 'strict'\]; move "
                      r"the model and the batch with .to\(...\)"),
}


def _params():
    return _model().parameters()


# constructor arguments, one family per row group: zero, negative and a string where a size,
# probability or setting belongs; (call, exception, message) as in CASES
ARGUMENT_CASES = [
    (lambda: nn.Conv2d(1, 4, 0), ValueError, r"^Conv2d: kernel_size must be positive, got \(0, 0\)$"),
    (lambda: nn.Conv2d(1, 4, -1), ValueError,
     r"^Conv2d: kernel_size must be positive, got \(-1, -1\)$"),
    (lambda: nn.Conv2d(1, 4, "3"), TypeError,
     r"^Conv2d: kernel_size must be an int or a pair of ints, got '3'$"),
    (lambda: nn.Conv2d(1, 0, 3), ValueError, r"^Conv2d: out_channels must be a positive int, got 0$"),
    (lambda: nn.Conv2d("1", 4, 3), TypeError,
     r"^Conv2d: in_channels must be a positive int, got '1' \(str\)$"),
    (lambda: nn.MaxPool2d(0), ValueError, r"^MaxPool2d: kernel_size must be positive, got \(0, 0\)$"),
    (lambda: nn.MaxPool2d(-2), ValueError,
     r"^MaxPool2d: kernel_size must be positive, got \(-2, -2\)$"),
    (lambda: nn.MaxPool2d("2"), TypeError,
     r"^MaxPool2d: kernel_size must be an int or a pair of ints, got '2'$"),
    (lambda: nn.Linear(0, 4), ValueError, r"^Linear: in_features must be a positive int, got 0$"),
    (lambda: nn.Linear(3, -4), ValueError, r"^Linear: out_features must be a positive int, got -4$"),
    (lambda: nn.Linear("3", 4), TypeError,
     r"^Linear: in_features must be a positive int, got '3' \(str\)$"),
    (lambda: nn.Linear(2.5, 3), TypeError,
     r"^Linear: in_features must be a positive int, got 2.5 \(float\)$"),
    (lambda: nn.Embedding(0, 3), ValueError,
     r"^Embedding: num_embeddings must be a positive int, got 0$"),
    (lambda: nn.Embedding(10, -3), ValueError,
     r"^Embedding: embedding_dim must be a positive int, got -3$"),
    (lambda: nn.Embedding("10", 3), TypeError,
     r"^Embedding: num_embeddings must be a positive int, got '10' \(str\)$"),
    (lambda: nn.LSTM(3, 0), ValueError, r"^LSTM: hidden_size must be a positive int, got 0$"),
    (lambda: nn.LSTM(3, -4), ValueError, r"^LSTM: hidden_size must be a positive int, got -4$"),
    (lambda: nn.LSTM(3, "4"), TypeError,
     r"^LSTM: hidden_size must be a positive int, got '4' \(str\)$"),
    (lambda: nn.Dropout(1.0), ValueError, r"^Dropout: p must be in \[0, 1\), got 1.0$"),
    (lambda: nn.Dropout(-0.1), ValueError, r"^Dropout: p must be in \[0, 1\), got -0.1$"),
    (lambda: nn.Dropout("0.5"), TypeError,
     r"^Dropout: p must be a number in \[0, 1\), got '0.5' \(str\)$"),
    (lambda: optim.SGD(_params(), lr="0.1"), TypeError,
     r"^SGD: lr must be a number >= 0, got '0.1' \(str\)$"),
    (lambda: optim.SGD(_params(), lr=0.1, momentum="0.9"), TypeError,
     r"^SGD: momentum must be a number, got '0.9' \(str\)$"),
    (lambda: optim.SGD(_params(), lr=0.1, momentum=-0.9), ValueError,
     r"^SGD: momentum must be >= 0, got -0.9$"),
    (lambda: optim.Adam(_params(), lr="1e-3"), TypeError,
     r"^Adam: lr must be a number >= 0, got '1e-3' \(str\)$"),
    (lambda: optim.Adam(_params(), betas=("0.9", 0.999)), TypeError,
     r"^Adam: betas must be a tuple of 2 numbers, got \('0.9', 0.999\) \(tuple\)$"),
    (lambda: optim.RMSprop(_params(), momentum="0"), TypeError,
     r"^RMSprop: momentum must be a number, got '0' \(str\)$"),
    (lambda: DataLoader(ArrayDataset(np.zeros(3)), batch_size="8"), TypeError,
     r"^DataLoader: batch_size must be a positive int, got '8' \(str\)$"),
    (lambda: DataLoader(ArrayDataset(np.zeros(3)), num_workers=-1), ValueError,
     r"^DataLoader: num_workers must be a non-negative int, got -1$"),
    (lambda: DataLoader(ArrayDataset(np.zeros(3)), seed="1"), TypeError,
     r"^DataLoader: seed must be an int, got '1' \(str\)$"),
    (lambda: DataLoader(ArrayDataset(np.zeros(3)), collate_fn=list), NotImplementedError,
     r"^DataLoader: collate_fn is not supported: batches are the stacked rows"),
    (lambda: xpnet.arange(0, 5, 0), ValueError, r"^arange: step must be nonzero, got 0$"),
    (lambda: xpnet.arange("5"), TypeError, r"^arange: end must be a number, got '5' \(str\)$"),
    (lambda: xpnet.randn(2, 3)[xpnet.ones(3, dtype="bool")], IndexError,
     r"^getitem: a boolean mask of shape \(3,\) must match the shape \(2,\) of the axes 0..0"),
    (lambda: F.cross_entropy(xpnet.randn(4), xpnet.tensor([1])), ValueError,
     r"^cross_entropy: for an unbatched input of shape \(4,\) the integer label must be a 0-d "
     r"tensor, got shape \(1,\)$"),
    (lambda: xpnet.autograd.grad(3, [xpnet.ones(2, requires_grad=True)]), TypeError,
     r"^xpnet.autograd.grad: outputs must be Tensors, got int at 0$"),
    (lambda: DataLoader(None, batch_size=2), TypeError,
     r"^DataLoader: dataset must be a map-style dataset \(with __len__ and __getitem__: an "
     r"ArrayDataset, a TensorDataset, a list\), got NoneType$"),
    (lambda: DataLoader(iter([1, 2]), batch_size=2), TypeError,
     r"^DataLoader: dataset must be a map-style dataset .*got list_iterator$"),
    (lambda: DataLoader(ArrayDataset(np.zeros(3)), generator=3), TypeError,
     r"^DataLoader: generator must have initial_seed\(\) \(as a torch.Generator\), got int$"),
    # data that holds no numbers, or nothing at all
    (lambda: ArrayDataset(np.array(["a", "b"]), np.arange(2)), TypeError,
     r"^data: arrays must hold numbers \(bool, int or float\), got dtype <U1 \(strings\)$"),
    (lambda: ArrayDataset(np.array([1 + 2j])), TypeError,
     r"^data: arrays must hold numbers \(bool, int or float\), got dtype complex128 "
     r"\(complex numbers\)$"),
    (lambda: _fit_on(np.zeros((0, 2), np.float32), np.zeros(0, np.int64)), ValueError,
     r"^fit: the training data holds no samples$"),
]


def _fit_on(x, y):
    model = _model()
    return fit(model, (x, y), loss="cross_entropy", epochs=2, verbose=0,
               optimizer=optim.SGD(model.parameters(), lr=0.1))


@pytest.mark.parametrize("call, kind, message", ARGUMENT_CASES)
def test_a_bad_constructor_argument_is_refused_clearly(call, kind, message):
    with pytest.raises(kind, match=message):
        call()


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_bad_input_is_refused_clearly(name):
    call, kind, message = CASES[name]
    with pytest.raises(kind, match=message):
        call()


def test_a_negative_seed_is_accepted_as_in_pytorch():
    xpnet.manual_seed(-7)
    a = xpnet.rand(3)
    xpnet.manual_seed(-7)
    assert a.tolist() == xpnet.rand(3).tolist() and xpnet.initial_seed() == -7


def test_a_negative_seed_orders_a_loader_as_any_other_seed():
    data = ArrayDataset(np.arange(10.0).reshape(10, 1))
    orders = [[b.numpy().ravel().tolist() for b, in DataLoader(data, 4, True, seed=-3)]
              for _ in range(2)]
    assert orders[0] == orders[1] and sorted(sum(orders[0], [])) == list(range(10))
    other = [b.numpy().ravel().tolist() for b, in DataLoader(data, 4, True, seed=3)]
    assert other != orders[0]
