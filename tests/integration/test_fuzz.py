"""Fuzzing the ops with random shapes, dtypes and arguments: every call either succeeds with the
NumPy reference's result or raises ValueError/TypeError naming the op: never another exception
type, never a silently wrong result."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import xpnet
import xpnet.nn.functional as F

from ..ops.test_attention import attention_reference
from ..ops.test_conv import conv2d_loops
from ..ops.test_pool import pool_loops
from ..ops.test_recurrent import numpy_reference

EXAMPLES = {"cpu": 60, "strict": 12}
DEVICES = list(EXAMPLES)


def fuzz(device):
    return settings(max_examples=EXAMPLES[device], deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _array(draw, shape, dtype):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    values = rng.uniform(-2, 2, size=shape)
    return values.astype(dtype) if dtype != "int64" else np.rint(values).astype(np.int64)


def _tensor(host, device):
    return xpnet.tensor(host, device=device, dtype=str(host.dtype))


OUTCOMES: dict = {}


def _call(op_name, call, reference, rtol=1e-4, atol=1e-5):
    """Run ``call``; on success compare with ``reference()``, on failure check the error."""
    seen = OUTCOMES.setdefault(op_name.split("_pool2d")[0] if "pool" in op_name else op_name,
                               set())
    try:
        got = call()
    except (ValueError, TypeError, IndexError) as exc:   # IndexError: an index out of its axis
        assert op_name in str(exc), f"the message does not name {op_name}: {exc}"
        seen.add("refused")
        return "refused"
    except Exception as exc:  # noqa: BLE001 - that is exactly what the test looks for
        pytest.fail(f"{op_name} raised {type(exc).__name__}, not a ValueError, TypeError or "
                    f"IndexError: {exc}")
    expected = reference()
    got = got if isinstance(got, tuple) else (got,)
    expected = expected if isinstance(expected, tuple) else (expected,)
    for g, e in zip(got, expected):
        assert g.shape == tuple(np.shape(e)), f"{op_name}: shape {g.shape} != {np.shape(e)}"
        np.testing.assert_allclose(g.numpy().astype(np.float64), e, rtol=rtol, atol=atol)
    seen.add("ok")
    return "ok"


def _both_outcomes(device, *names):
    """The fuzzing reached valid calls and refused ones alike (else it tested little); the
    short strict runs only look for wrong results and wrong exception types."""
    for name in names:
        seen = OUTCOMES.pop(name, set())
        assert device != "cpu" or seen == {"ok", "refused"}, (name, seen)


class _NoGradient:
    """Stands in for grad_y in the loop references when only the output is wanted."""

    def __getitem__(self, index):
        return 0.0


_DTYPES = st.sampled_from(["float64", "float32", "int64"])


@pytest.mark.parametrize("device", DEVICES)
def test_conv2d_is_right_or_refuses_clearly(device):
    @fuzz(device)
    @given(st.data())
    def check(data):
        draw = data.draw
        n, c, h, w = (draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 7)),
                      draw(st.integers(1, 7)))
        groups = draw(st.integers(0, 3))
        o, cg = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        stride = draw(st.one_of(st.integers(-1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
        padding = draw(st.one_of(st.integers(-1, 2), st.sampled_from(["same", "valid", "full"])))
        dilation = draw(st.integers(0, 2))
        dtype = draw(_DTYPES)
        x = _array(draw, (n, c, h, w), dtype)
        weight = _array(draw, (o, cg, kh, kw), "float64" if dtype == "int64" else dtype)
        bias = draw(st.sampled_from([None, (o,), (o + 1,)]))
        b = None if bias is None else _array(draw, bias, weight.dtype.name)
        _call("conv2d",
              lambda: F.conv2d(_tensor(x, device), _tensor(weight, device),
                               None if b is None else _tensor(b, device), stride, padding,
                               dilation, groups),
              lambda: conv2d_loops(x.astype(np.float64), weight.astype(np.float64),
                                   np.zeros(o) if b is None else b.astype(np.float64), stride,
                                   padding, dilation, groups))
    check()


@pytest.mark.parametrize("device", DEVICES)
def test_pools_are_right_or_refuse_clearly(device):
    @fuzz(device)
    @given(st.data())
    def check(data):
        draw = data.draw
        # a valid call, then (half of the time) one of the mistakes users make
        shape = [draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(3, 6)),
                 draw(st.integers(3, 6))]
        kernel = draw(st.integers(1, 3))
        stride = draw(st.one_of(st.none(), st.integers(1, 2)))
        padding = draw(st.integers(0, kernel // 2))
        kind = draw(st.sampled_from(["max", "avg"]))
        dtype = draw(st.sampled_from(["float64", "float32"]))
        mistake = draw(st.sampled_from([None, "3-D", "kernel", "stride", "padding", "int"]))
        if mistake == "3-D":
            shape = shape[1:]
        elif mistake == "kernel":
            kernel = draw(st.sampled_from([0, -1, 9]))
        elif mistake == "stride":
            stride = 0
        elif mistake == "padding":
            padding = draw(st.sampled_from([-1, kernel]))
        elif mistake == "int":
            dtype = "int64"
        x = _array(draw, shape, dtype)
        op = F.max_pool2d if kind == "max" else F.avg_pool2d
        _call(f"{kind}_pool2d", lambda: op(_tensor(x, device), kernel, stride, padding),
              lambda: pool_loops(x.astype(np.float64), kernel, stride, padding, kind,
                                 _NoGradient())[0])
    check()
    _both_outcomes(device, "max", "avg")


@pytest.mark.parametrize("device", DEVICES)
def test_attention_is_right_or_refuses_clearly(device):
    @fuzz(device)
    @given(st.data())
    def check(data):
        draw = data.draw
        lead = tuple(draw(st.lists(st.integers(1, 2), max_size=2)))
        L, S, E, Ev = (draw(st.integers(1, 4)) for _ in range(4))
        q_shape, k_shape, v_shape = lead + (L, E), lead + (S, E), lead + (S, Ev)
        dtype = draw(st.sampled_from(["float64", "float32"]))
        mask, causal, dropout = None, False, 0.0
        mistake = draw(st.sampled_from([None, None, "key width", "value length", "int", "1-D",
                                        "mask shape", "bool mask", "float mask", "causal",
                                        "dropout"]))
        if mistake == "key width":
            k_shape = lead + (S, E + 1)
        elif mistake == "value length":
            v_shape = lead + (S + 1, Ev)
        elif mistake == "1-D":
            q_shape = (E,)
        elif mistake == "mask shape":
            mask = np.ones((L + 1, S), dtype=bool)
        elif mistake == "bool mask":
            mask = _array(draw, (L, S), "float64") > 0
        elif mistake == "float mask":
            mask = _array(draw, (L, S), dtype)
        elif mistake == "causal":
            causal = True
        elif mistake == "dropout":
            dropout = draw(st.sampled_from([-0.1, 1.5]))
        q = _array(draw, q_shape, "int64" if mistake == "int" else dtype)
        k, v = _array(draw, k_shape, dtype), _array(draw, v_shape, dtype)
        as_tensor = None if mask is None else (
            xpnet.tensor(mask, device=device) if mask.dtype == bool else _tensor(mask, device))
        _call("scaled_dot_product_attention",
              lambda: F.scaled_dot_product_attention(
                  _tensor(q, device), _tensor(k, device), _tensor(v, device),
                  attn_mask=as_tensor, dropout_p=dropout, is_causal=causal),
              lambda: attention_reference(q.astype(np.float64), k.astype(np.float64),
                                          v.astype(np.float64), mask, is_causal=causal)[0],
              rtol=1e-3, atol=1e-4)
    check()
    _both_outcomes(device, "scaled_dot_product_attention")


@pytest.mark.parametrize("device", DEVICES)
def test_linear_is_right_or_refuses_clearly(device):
    @fuzz(device)
    @given(st.data())
    def check(data):
        draw = data.draw
        lead = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
        features, out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        x = _array(draw, lead + (draw(st.sampled_from([features, features + 1])),),
                   draw(_DTYPES))
        weight = _array(draw, draw(st.sampled_from([(out, features), (features,),
                                                    (out, features, 1)])), "float64")
        bias = draw(st.sampled_from([None, (out,), (out, 1)]))
        b = None if bias is None else _array(draw, bias, "float64")
        _call("linear", lambda: F.linear(_tensor(x, device), _tensor(weight, device),
                                         None if b is None else _tensor(b, device)),
              lambda: x.astype(np.float64) @ weight.T + (0 if b is None else b))
    check()
    _both_outcomes(device, "linear")


@pytest.mark.parametrize("device", DEVICES)
def test_recurrent_ops_are_right_or_refuse_clearly(device):
    gates = {"rnn": 1, "lstm": 4, "gru": 3}

    @fuzz(device)
    @given(st.data())
    def check(data):
        draw = data.draw
        kind = draw(st.sampled_from(sorted(gates)))
        g = gates[kind]
        steps, batch, features, hidden = (draw(st.integers(0, 3)), draw(st.integers(1, 3)),
                                          draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        x = _array(draw, (steps, batch, draw(st.sampled_from([features, features + 1]))),
                   draw(_DTYPES))
        w_ih = _array(draw, (g * hidden, features), "float64")
        w_hh = _array(draw, draw(st.sampled_from([(g * hidden, hidden), (hidden, hidden)])),
                      "float64")
        b_ih, b_hh = _array(draw, (g * hidden,), "float64"), _array(draw, (g * hidden,), "float64")
        h0 = _array(draw, draw(st.sampled_from([(batch, hidden), (batch + 1, hidden)])),
                    "float64")
        c0 = np.zeros((batch, hidden))
        reverse = draw(st.booleans())
        args = [_tensor(a, device) for a in (x, h0, c0, w_ih, w_hh, b_ih, b_hh)]
        call = {"rnn": lambda: F.rnn(args[0], args[1], *args[3:], reverse=reverse),
                "lstm": lambda: F.lstm(*args, reverse=reverse),
                "gru": lambda: F.gru(args[0], args[1], *args[3:], reverse=reverse)}[kind]
        _call(kind, call, lambda: numpy_reference(kind, x.astype(np.float64), h0, c0, w_ih,
                                                  w_hh, b_ih, b_hh, reverse=reverse))
    check()
    OUTCOMES.clear()


@pytest.mark.parametrize("device", DEVICES)
def test_losses_are_right_or_refuse_clearly(device):
    @fuzz(device)
    @given(st.data())
    def check(data):
        draw = data.draw
        name = draw(st.sampled_from(["cross_entropy", "nll_loss", "mse_loss",
                                     "binary_cross_entropy"]))
        n, c = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        extra = tuple(draw(st.lists(st.integers(1, 2), max_size=1)))
        reduction = draw(st.sampled_from(["mean", "sum", "none", "avg"]))
        scores = _array(draw, (n, c) + extra, draw(_DTYPES))
        if name in ("cross_entropy", "nll_loss"):
            label_shape = draw(st.sampled_from([(n,) + extra, (n + 1,) + extra, (n, c) + extra]))
            rng = np.random.default_rng(draw(st.integers(0, 99)))
            labels = rng.integers(-1, c + 1, size=label_shape).astype(
                draw(st.sampled_from(["int64", "float64"])))
            s, t = scores.astype(np.float64), labels

            def reference():
                rows = np.moveaxis(s, 1, -1).reshape(-1, c)
                if t.dtype.kind == "f":
                    p = np.moveaxis(t, 1, -1).reshape(-1, c)
                    count = rows.shape[0]
                else:
                    p = np.eye(c)[t.reshape(-1)]
                    count = t.size
                log_p = rows - rows.max(1, keepdims=True)
                log_p = log_p - np.log(np.exp(log_p).sum(1, keepdims=True)) \
                    if name == "cross_entropy" else rows
                loss = -(p * log_p).sum(1)
                if reduction == "none":
                    return loss.reshape((n,) + extra)
                return loss.sum() / (count if reduction == "mean" else 1)
        else:
            target = _array(draw, draw(st.sampled_from([scores.shape, (n + 1, c)])),
                            draw(_DTYPES))
            if name == "binary_cross_entropy" and draw(st.booleans()):
                scores, target = np.abs(scores) / 2.5, np.abs(target) / 2.5   # in [0, 1)
            labels, s, t = target, scores.astype(np.float64), target.astype(np.float64)

            def reference():
                if name == "mse_loss":
                    e = (s - t) ** 2
                else:
                    e = -(t * np.maximum(np.log(s), -100) + (1 - t) * np.maximum(np.log(1 - s),
                                                                                -100))
                return e if reduction == "none" else (e.mean() if reduction == "mean"
                                                      else e.sum())
        op = getattr(F, name)
        with np.errstate(divide="ignore", invalid="ignore"):
            _call(name, lambda: op(_tensor(scores, device), _tensor(labels, device),
                                   reduction=reduction), reference, rtol=1e-4, atol=1e-4)
    check()
    OUTCOMES.clear()
