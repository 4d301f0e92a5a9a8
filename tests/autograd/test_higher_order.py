"""Higher-order gradients: xpnet.autograd.grad, backward(create_graph=True), gradgradcheck of
every op that has a double backward (on every device), PyTorch's double backward for layers,
the errors, and tensor hooks."""
import numpy as np
import pytest

import xpnet
import xpnet.nn as nn
import xpnet.nn.functional as F
from xpnet.autograd import grad
from xpnet.ops.loss import smooth_l1_loss
from xpnet.testing import GradcheckError, assert_close, gradgradcheck, random_inputs


def _labels(device):
    return xpnet.tensor(np.array([0, 3, 1]), device=device)


# name -> (function, which inputs: 'x' (3, 4) in [-1, 1], 'y' (3, 4), 'pos' (3, 4) in [0.5, 2],
#          'm' (4, 2), 'w' (5, 4), 'b' (5,))
CASES = {
    "add": (lambda a, b: a + b, "xy"),
    "sub": (lambda a, b: a - b, "xy"),
    "mul": (lambda a, b: a * b, "xy"),
    "div": (lambda a, b: a / b, ("x", "pos")),
    "neg": (lambda a: -a * a, "x"),
    "pow_constant": (lambda a: a ** 3, "x"),
    "pow_tensor": (lambda a, b: a ** b, ("pos", "y")),
    "exp": (lambda a: xpnet.exp(a), "x"),
    "log": (lambda a: xpnet.log(a), ("pos",)),
    "sqrt": (lambda a: xpnet.sqrt(a), ("pos",)),
    "abs": (lambda a: xpnet.abs(a) * a, "x"),
    "clip": (lambda a: xpnet.clip(a, -0.5, 0.5) * a, "x"),
    "maximum": (lambda a, b: xpnet.maximum(a, b) ** 2, "xy"),
    "minimum": (lambda a, b: xpnet.minimum(a, b) ** 2, "xy"),
    "where": (lambda a, b: xpnet.where(a > 0, a * a, b * a), "xy"),
    "tanh": (F.tanh, "x"),
    "sigmoid": (F.sigmoid, "x"),
    "relu": (lambda a: F.relu(a) * a, "x"),
    "leaky_relu": (lambda a: F.leaky_relu(a, 0.1) * a, "x"),
    "gelu": (lambda a: F.gelu(a), "x"),
    "gelu_tanh": (lambda a: F.gelu(a, approximate="tanh"), "x"),
    "softmax": (lambda a: F.softmax(a, dim=1), "x"),
    "log_softmax": (lambda a: F.log_softmax(a, dim=1), "x"),
    "sum": (lambda a: (a * a).sum(1), "x"),
    "mean": (lambda a: (a * a).mean(), "x"),
    "amax": (lambda a: xpnet.amax(a * a, 1), "x"),
    "max_dim": (lambda a: xpnet.max(a * a, 1)[0], "x"),
    "reshape": (lambda a: (a * a).reshape(2, 6), "x"),
    "transpose": (lambda a: (a * a).T, "x"),
    "getitem": (lambda a: (a * a)[1:, ::2], "x"),
    "cat": (lambda a, b: xpnet.cat([a * b, a], 0), "xy"),
    "stack": (lambda a, b: xpnet.stack([a * b, a], 1), "xy"),
    "matmul": (lambda a, m: (a @ m) * (a @ m), "xm"),
    "linear": (lambda a, w, b: F.linear(a, w, b) ** 2, "xwb"),
    "mse_loss": (F.mse_loss, "xy"),
    "bce_with_logits": (lambda a: F.binary_cross_entropy_with_logits(
        a, xpnet.ones_like(a) * 0.3), "x"),
    "cross_entropy": (lambda a: F.cross_entropy(a, _labels(a.device)), "x"),
    "cross_entropy_smoothed": (lambda a: F.cross_entropy(a, _labels(a.device),
                                                         label_smoothing=0.1), "x"),
    "cross_entropy_sum": (lambda a: F.cross_entropy(a, _labels(a.device), reduction="sum"), "x"),
    "cross_entropy_probs": (lambda a: F.cross_entropy(a, xpnet.ones_like(a) * 0.25),
                            "x"),
}


def _inputs(device, spec):
    shapes = {"x": (3, 4), "y": (3, 4), "pos": (3, 4), "m": (4, 2), "w": (5, 4), "b": (5,)}
    out = []
    for i, name in enumerate(spec):
        low, high = (0.5, 2.0) if name == "pos" else (-1.0, 1.0)
        out.append(random_inputs(device, shapes[name], seed=i, low=low, high=high)[0])
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradgradcheck_of_each_op(device, name):
    fn, spec = CASES[name]
    assert gradgradcheck(fn, *_inputs(device, spec), atol=1e-4)


def test_gradgradcheck_of_astype(device):
    # float32 in the middle: wider steps, exact for a polynomial of degree 3
    x = random_inputs(device, (3, 4))[0]
    assert gradgradcheck(lambda a: (a * a).astype("float32").astype("float64") * a, x,
                         eps=1e-2, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("name,fn,shapes", [
    ("layer_norm", lambda x, g, b: F.layer_norm(x, (4,), g, b), [(2, 3, 4), (4,), (4,)]),
    ("batch_norm", lambda x: F.batch_norm(x, None, None, training=True), [(4, 3)]),
    ("avg_pool2d", lambda x: F.avg_pool2d(x * x, 2), [(1, 2, 4, 4)]),
    ("avg_pool2d_overlapping", lambda x: F.avg_pool2d(x * x, 3, stride=2, padding=1,
                                                      count_include_pad=False), [(1, 2, 5, 5)]),
    ("max_pool2d", lambda x: F.max_pool2d(x * x, 2), [(1, 2, 4, 5)]),
    ("max_pool2d_overlapping", lambda x: F.max_pool2d(x, 3, stride=2, padding=1),
     [(2, 2, 5, 5)]),
    ("embedding", lambda e: F.embedding(
        xpnet.tensor(np.array([[0, 2], [4, 2]]), device=e.device), e) ** 2, [(5, 3)]),
    ("interpolate", lambda x: F.interpolate(x * x, scale_factor=2), [(1, 1, 3, 3)]),
    ("bce", lambda p: F.binary_cross_entropy(F.sigmoid(p), xpnet.ones_like(p) * 0.25), [(3, 4)]),
    ("bilinear", lambda x: F.interpolate(x * x, scale_factor=2, mode="bilinear",
                                         align_corners=False), [(1, 2, 3, 3)]),
    ("nll_loss", lambda a: F.nll_loss(F.log_softmax(a, dim=1), _labels(a.device)), [(3, 4)]),
    ("smooth_l1_loss", lambda a, b: smooth_l1_loss(a, b, beta=0.5), [(3, 4), (3, 4)]),
    ("kl_div", lambda a: F.kl_div(F.log_softmax(a, dim=-1), xpnet.ones_like(a) * 0.25,
                                  reduction="batchmean"), [(3, 4)]),
    ("gaussian_kl", lambda m, lv: xpnet.ops.gaussian_kl(m, lv), [(3, 4), (3, 4)]),
    ("masked_fill", lambda a: xpnet.ops.masked_fill(
        a * a, _labels(a.device).reshape(3, 1) > 0, 0.5), [(3, 4)]),
    ("tril", lambda a: xpnet.ops.tril(a * a), [(3, 4)]),
    ("amin", lambda a: xpnet.amin(a * a, 1), [(3, 4)]),
    ("min_dim", lambda a: xpnet.min(a * a, 1)[0], [(3, 4)]),
    ("squeeze_unsqueeze", lambda a: xpnet.ops.squeeze(xpnet.ops.unsqueeze(a * a, 0)), [(3, 4)]),
])
def test_gradgradcheck_of_layers_ops(device, name, fn, shapes):
    assert gradgradcheck(fn, *random_inputs(device, *shapes), atol=1e-4)


def test_batch_norm_running_statistics_are_updated_once(device):
    x = random_inputs(device, (6, 3))[0]
    mean, var = xpnet.zeros(3, device=device, dtype="float64"), xpnet.ones(3, device=device,
                                                                            dtype="float64")
    y = F.batch_norm(x, mean, var, training=True, momentum=0.5)
    expected = mean.numpy().copy()
    (g,) = grad((y * y * y).sum(), x, create_graph=True)
    g.sum().backward()
    assert_close(mean, expected)
    assert_close(mean, 0.5 * x.numpy().mean(axis=0))


def test_dropout_keeps_its_mask_in_the_second_derivative(device):
    xpnet.manual_seed(0)
    x = random_inputs(device, (50,))[0]
    y = F.dropout(x, 0.5)
    kept = y.numpy() != 0
    (g,) = grad((y ** 3).sum(), x, create_graph=True)
    (h,) = grad(g.sum(), x)
    scale = 2.0
    assert_close(h, np.where(kept, 6.0 * scale ** 3 * x.numpy(), 0.0))


def test_third_order_of_x_to_the_fourth(device):
    x = xpnet.tensor([1.5, -2.0], device=device, dtype="float64", requires_grad=True)
    (d1,) = grad((x ** 4).sum(), x, create_graph=True)
    (d2,) = grad(d1.sum(), x, create_graph=True)
    (d3,) = grad(d2.sum(), x, create_graph=True)
    (d4,) = grad(d3.sum(), x)
    v = x.numpy()
    assert_close(d1, 4 * v ** 3)
    assert_close(d2, 12 * v ** 2)
    assert_close(d3, 24 * v)
    assert_close(d4, np.full(2, 24.0))


def test_backward_create_graph_leaves_a_differentiable_grad(device):
    x = xpnet.tensor(3.0, device=device, requires_grad=True)
    (x ** 3).backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.item() == pytest.approx(27.0)
    first = x.grad
    x.grad = None
    first.backward()
    assert x.grad.item() == pytest.approx(18.0)


def test_grad_leaves_dot_grad_alone_and_takes_non_leaf_inputs(device):
    x = xpnet.tensor([1.0, 2.0], device=device, requires_grad=True)
    h = x * 3.0
    y = (h * h).sum()
    gx, gh = grad(y, [x, h])
    assert x.grad is None
    assert gh.tolist() == [6.0, 12.0]
    assert gx.tolist() == [18.0, 36.0]


def test_grad_outputs_and_several_outputs(device):
    x = xpnet.tensor([1.0, 2.0], device=device, requires_grad=True)
    a, b = x * 2.0, x * x
    (g,) = grad([a, b], x, grad_outputs=[xpnet.ones(2, device=device),
                                         xpnet.tensor([1.0, 0.5], device=device)])
    assert g.tolist() == [4.0, 4.0]


def test_errors_name_xpnet_and_match_pytorch(device):
    x = xpnet.tensor([1.0, 2.0], device=device, requires_grad=True)
    z = xpnet.tensor(1.0, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"xpnet.autograd.grad: gradient can be omitted only "
                                           r"for a one-element tensor"):
        grad(x * 2.0, x)
    with pytest.raises(RuntimeError, match=r"xpnet.autograd.grad: input 1 .* was not used to "
                                           r"compute the outputs; pass allow_unused=True"):
        grad((x * 2.0).sum(), [x, z])
    gx, gz = grad((x * 2.0).sum(), [x, z], allow_unused=True)
    assert gz is None and gx.tolist() == [2.0, 2.0]
    (gz,) = grad((x * 2.0).sum(), z, allow_unused=True, materialize_grads=True)
    assert gz.item() == 0.0
    y = (x * x).sum()
    grad(y, x)
    with pytest.raises(RuntimeError, match=r"xpnet.autograd.grad: the graph was already "
                                           r"released.*retain_graph=True"):
        grad(y, x)
    with pytest.raises(RuntimeError, match=r"xpnet.autograd.grad: input 0 does not require "
                                           r"grad"):
        grad((x * 2.0).sum(), xpnet.ones(2, device=device))
    with xpnet.no_grad():
        w = x * 2.0
    with pytest.raises(RuntimeError, match=r"xpnet.autograd.grad: output 0 does not require "
                                           r"grad"):
        grad(w.sum(), x)


def test_create_graph_under_no_grad_records_as_pytorch_does(device):
    x = xpnet.tensor(2.0, device=device, requires_grad=True)
    y = x ** 3
    with xpnet.no_grad():
        (g,) = grad(y, x, create_graph=True)
    assert g.requires_grad and g.item() == pytest.approx(12.0)
    (h,) = grad(g, x)
    assert h.item() == pytest.approx(12.0)
    assert xpnet.is_grad_enabled()


def test_an_op_without_double_backward_refuses_create_graph(device):
    class Opaque(xpnet.autograd.Function):
        supports_create_graph = False

        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, grad_y):
            return 2.0 * grad_y * self.x

    x = random_inputs(device, (3,))[0]
    with pytest.raises(NotImplementedError, match="xpnet: opaque has no double backward yet"):
        grad(Opaque()(x).sum(), x, create_graph=True)
    assert_close(grad(Opaque()(x).sum(), x)[0], 2.0 * x.numpy())   # first order still works


def test_gradgradcheck_catches_a_wrong_second_derivative():
    class Cube(xpnet.autograd.Function):
        def forward(self, x):
            self.x = x
            return x * x * x

        def backward(self, grad_y):
            return grad_y * 3.0 * self.x * self.x * 1.1 ** (1 - 1)   # right first derivative

    class WrongCube(Cube):
        def backward(self, grad_y):
            x = self.x
            return grad_y * 3.0 * x * (x + 0.0 * x) if isinstance(x, np.ndarray) else \
                grad_y * 3.0 * x * x.detach()            # second derivative half of the truth

    x = random_inputs("cpu", (3,))[0]
    assert gradgradcheck(lambda t: Cube()(t), x)
    with pytest.raises(GradcheckError, match="gradient of input 0"):
        gradgradcheck(lambda t: WrongCube()(t), x)


# -- PyTorch's double backward, same weights --------------------------------------------------

def _torch():
    return pytest.importorskip("torch")


def _assert_hvp_matches_pytorch(torch, model, tmodel, loss_of, vs):
    """The Hessian-vector product ∇(⟨∇L, v⟩) over the parameters, with ``L = loss_of(lib,
    module)`` for xpnet's module and PyTorch's (same weights), equal to 1e-6."""
    found = []
    for lib, module, grad_fn in ((xpnet, model, grad), (torch, tmodel, torch.autograd.grad)):
        params = list(module.parameters())
        grads = grad_fn(loss_of(lib, module), params, create_graph=True)
        found.append(grad_fn(sum((g * lib.tensor(v)).sum() for g, v in zip(grads, vs)), params))
    for a, b in zip(*found):
        assert_close(a, b.numpy(), rtol=1e-6, atol=1e-9)


def _mse_loss_of(xs, ts):
    return lambda lib, m: lib.nn.functional.mse_loss(m(lib.tensor(xs)), lib.tensor(ts))


@pytest.mark.parametrize("kind", ["linear", "mlp", "layernorm"])
def test_hessian_vector_products_match_pytorch(kind):
    torch = _torch()
    xpnet.manual_seed(0)
    if kind == "linear":
        model = nn.Linear(4, 3)
    elif kind == "mlp":
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    else:
        model = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3), nn.Tanh())
    model = model.to(dtype="float64") if hasattr(model, "to") else model
    tmodel = {"linear": lambda: torch.nn.Linear(4, 3),
              "mlp": lambda: torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                                                 torch.nn.Linear(8, 3)),
              "layernorm": lambda: torch.nn.Sequential(torch.nn.Linear(4, 3),
                                                       torch.nn.LayerNorm(3),
                                                       torch.nn.Tanh())}[kind]().double()
    tmodel.load_state_dict({k: torch.tensor(np.asarray(v.numpy(), dtype=np.float64))
                            for k, v in model.state_dict().items()})
    rng = np.random.default_rng(0)
    xs, ts = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    vs = [rng.standard_normal(p.shape) for p in model.parameters()]
    _assert_hvp_matches_pytorch(torch, model, tmodel, _mse_loss_of(xs, ts), vs)


# -- tensor hooks -------------------------------------------------------------------------------

def test_hooks_run_in_order_and_may_replace_the_gradient(device):
    calls = []
    a = xpnet.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = a * 2.0
    b.retain_grad()
    b.register_hook(lambda g: calls.append(("h1", g.tolist())) or g * 10.0)
    b.register_hook(lambda g: calls.append(("h2", g.tolist())))
    a.register_hook(lambda g: calls.append(("leaf", g.tolist())))
    b.sum().backward()
    assert calls == [("h1", [1.0, 1.0]), ("h2", [10.0, 10.0]), ("leaf", [20.0, 20.0])]
    assert b.grad.tolist() == [10.0, 10.0]       # retain_grad keeps the hooked gradient
    assert a.grad.tolist() == [20.0, 20.0]


def test_a_removed_hook_is_not_called(device):
    calls = []
    a = xpnet.tensor([1.0], device=device, requires_grad=True)
    handle = a.register_hook(lambda g: calls.append(1))
    (a * 3.0).sum().backward()
    handle.remove()
    handle.remove()      # a second remove does nothing
    (a * 3.0).sum().backward()
    assert calls == [1] and a.grad.tolist() == [6.0]
    with a.register_hook(lambda g: g * 0.0):
        (a * 3.0).sum().backward()
    assert a.grad.tolist() == [6.0]


def test_hooks_see_gradients_under_grad_and_create_graph(device):
    seen = []
    x = xpnet.tensor(2.0, device=device, requires_grad=True)
    h = x * x
    h.register_hook(lambda g: seen.append(g.requires_grad))
    (g,) = grad(h * x, x, create_graph=True)        # d(x^3)/dx = 3x^2
    assert g.item() == pytest.approx(12.0) and seen == [True]


def test_register_hook_errors():
    x = xpnet.tensor([1.0])
    with pytest.raises(RuntimeError, match="register_hook: cannot register a hook on a tensor "
                                           "that does not require grad"):
        x.register_hook(lambda g: g)
    y = xpnet.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="register_hook: hook must be callable"):
        y.register_hook(3)
    y.register_hook(lambda g: xpnet.ones(3))
    with pytest.raises(ValueError, match=r"a tensor hook returned a gradient of shape \(3,\), "
                                         r"expected \(1,\)"):
        (y * 2.0).sum().backward()


# -- convolutions: their double backward is written as convolutions -----------------------------

@pytest.mark.parametrize("options", [{}, {"stride": 2, "padding": 1}, {"dilation": 2},
                                     {"groups": 2}, {"stride": 2, "dilation": 2, "padding": 2}])
def test_gradgradcheck_of_conv2d(device, options):
    groups = options.get("groups", 1)
    x, w, b = random_inputs(device, (2, 4, 7, 6), (4, 4 // groups, 3, 3), (4,))
    assert gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, **options) ** 2, x, w, b, atol=1e-4)


@pytest.mark.parametrize("options", [{}, {"stride": 2, "padding": 1, "output_padding": 1},
                                     {"dilation": 2}, {"groups": 2}])
def test_gradgradcheck_of_conv_transpose2d(device, options):
    groups = options.get("groups", 1)
    x, w, b = random_inputs(device, (2, 4, 4, 3), (4, 6 // groups, 3, 3), (6,))
    assert gradgradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, **options) ** 2, x, w, b,
                         atol=1e-4)


def test_conv2d_third_order_is_recorded_too(device):
    x, w = random_inputs(device, (1, 2, 5, 5), (3, 2, 3, 3))
    assert gradgradcheck(lambda w: grad((F.conv2d(x, w) ** 3).sum(), w, create_graph=True)[0],
                         w, atol=1e-4)


def _load_same(model, tmodel, torch):
    tmodel.load_state_dict({k: torch.tensor(np.asarray(v.numpy(), dtype=np.float64))
                            for k, v in model.state_dict().items()})


def test_cnn_with_max_pooling_hessian_vector_product_matches_pytorch():
    torch = _torch()
    xpnet.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2),
                          nn.Conv2d(3, 4, 2), nn.Tanh(), nn.AvgPool2d(2),
                          nn.Flatten(), nn.Linear(4, 4)).to(dtype="float64")
    tmodel = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.Tanh(),
                                 torch.nn.MaxPool2d(2), torch.nn.Conv2d(3, 4, 2),
                                 torch.nn.Tanh(), torch.nn.AvgPool2d(2), torch.nn.Flatten(),
                                 torch.nn.Linear(4, 4)).double()
    _load_same(model, tmodel, torch)
    rng = np.random.default_rng(1)
    xs, ts = rng.standard_normal((3, 2, 6, 6)), rng.standard_normal((3, 4))
    vs = [rng.standard_normal(p.shape) for p in model.parameters()]
    _assert_hvp_matches_pytorch(torch, model, tmodel, _mse_loss_of(xs, ts), vs)


# -- attention: its double backward goes through the same math in differentiable ops ----------

@pytest.mark.parametrize("options", [{}, {"is_causal": True}])
def test_gradgradcheck_of_scaled_dot_product_attention(device, options):
    q, k, v = random_inputs(device, (2, 3, 4), (2, 3, 4), (2, 3, 4), seed=6)
    assert gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **options),
                         q, k, v, atol=1e-4)


def test_gradgradcheck_of_attention_with_a_boolean_mask(device):
    q, k, v = random_inputs(device, (2, 3, 4), (2, 5, 4), (2, 5, 4), seed=6)
    mask = xpnet.tensor(np.array([[True, False, True, True, False]] * 3), device=device)
    assert gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
                         q, k, v, atol=1e-4)


def test_multihead_attention_hessian_vector_product_matches_pytorch():
    torch = _torch()
    xpnet.manual_seed(0)
    model = nn.MultiheadAttention(4, 2, batch_first=True).to(dtype="float64")
    tmodel = torch.nn.MultiheadAttention(4, 2, batch_first=True).double()
    _load_same(model, tmodel, torch)
    rng = np.random.default_rng(2)
    xs = rng.standard_normal((2, 3, 4))
    vs = [rng.standard_normal(p.shape) for p in model.parameters()]

    def loss_of(lib, m):
        x = lib.tensor(xs)
        out = m(x, x, x)[0]
        return (out * out).sum()
    _assert_hvp_matches_pytorch(torch, model, tmodel, loss_of, vs)


# -- recurrent ops: the recurrence cell by cell in differentiable ops ---------------------------

def _recurrent_inputs(device, gates):
    x, h0, c0 = random_inputs(device, (3, 2, 3), (2, 4), (2, 4))
    w_ih, w_hh, b_ih, b_hh = random_inputs(device, (gates * 4, 3), (gates * 4, 4), (gates * 4,),
                                           (gates * 4,), seed=1)
    return x, h0, c0, w_ih, w_hh, b_ih, b_hh


@pytest.mark.parametrize("options", [{}, {"nonlinearity": "relu", "reverse": True}])
def test_gradgradcheck_of_rnn(device, options):
    x, h0, _, w_ih, w_hh, b_ih, _ = _recurrent_inputs(device, 1)
    assert gradgradcheck(lambda x, h0, w_ih, w_hh, b_ih: xpnet.ops.rnn(x, h0, w_ih, w_hh, b_ih,
                                                                       **options),
                         x, h0, w_ih, w_hh, b_ih, atol=1e-4)


@pytest.mark.parametrize("options", [{}, {"reverse": True}])
def test_gradgradcheck_of_lstm(device, options):
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _recurrent_inputs(device, 4)
    assert gradgradcheck(lambda *a: xpnet.ops.lstm(*a, **options),
                         x, h0, c0, w_ih, w_hh, b_ih, b_hh, atol=1e-4)


def test_gradgradcheck_of_gru(device):
    x, h0, _, w_ih, w_hh, b_ih, b_hh = _recurrent_inputs(device, 3)
    assert gradgradcheck(lambda *a: xpnet.ops.gru(*a), x, h0, w_ih, w_hh, b_ih, b_hh, atol=1e-4)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_recurrent_layer_hessian_vector_product_matches_pytorch(kind):
    torch = _torch()
    xpnet.manual_seed(0)
    model = getattr(nn, kind)(3, 4, num_layers=2, batch_first=True).to(dtype="float64")
    tmodel = getattr(torch.nn, kind)(3, 4, num_layers=2, batch_first=True).double()
    _load_same(model, tmodel, torch)
    rng = np.random.default_rng(3)
    xs = rng.standard_normal((2, 5, 3))
    vs = [rng.standard_normal(p.shape) for p in model.parameters()]

    def loss_of(lib, m):
        out = m(lib.tensor(xs))[0]
        return (out * out).sum()
    _assert_hvp_matches_pytorch(torch, model, tmodel, loss_of, vs)
