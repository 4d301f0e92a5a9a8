"""Elementwise arithmetic and math. Broadcasting is undone by Function, not here.

Derivatives of the elementary functions: d exp(x) = exp(x), d log(x) = 1/x,
d log1p(x) = 1/(1 + x), d sqrt(x) = 1/(2 sqrt(x)), d sin(x) = cos(x), d cos(x) = -sin(x).
"""
from __future__ import annotations

import math
import numbers

from ..autograd import Function, Tensor
from .. import backend as _backend


def _check_operands(op, a, b):
    if not isinstance(a, (Tensor, numbers.Number)) or not isinstance(b, (Tensor, numbers.Number)):
        bad = a if not isinstance(a, (Tensor, numbers.Number)) else b
        raise TypeError(f"{op}: operands must be Tensors or Python numbers, got "
                        f"{type(bad).__name__}; wrap arrays with xpnet.tensor(...)")
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a.backend is b.backend and a.ndim and b.ndim:
            _check_broadcast(op, a.shape, b.shape)


def _check_broadcast(op, sa, sb):
    for m, n in zip(reversed(sa), reversed(sb)):
        if m != n and m != 1 and n != 1:
            raise ValueError(f"{op}: shapes {sa} and {sb} cannot be broadcast together")


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, grad_y):
        return grad_y, grad_y


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, grad_y):
        return grad_y, -grad_y


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, grad_y):
        return grad_y * self.b, grad_y * self.a


class Div(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, grad_y):
        # needs_input_grad, not isinstance(Number): NumPy's 0-d results are np.float64 scalars,
        # which are Numbers too
        grad_a = grad_y / self.b
        if not self.needs_input_grad[1]:
            return grad_a, None
        return grad_a, -grad_a * self.a / self.b


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, grad_y):
        return -grad_y


class Pow(Function):
    """y = base ** exponent; either may be a constant."""

    def forward(self, base, exponent):
        self.base, self.exponent = base, exponent
        self.y = base ** exponent
        return self.y

    def backward(self, grad_y):
        xp, base, exponent = self.xp, self.base, self.exponent
        grad_base = grad_exponent = None
        need_base, need_exponent = self.needs_input_grad  # (see Div for why not isinstance)
        if need_base:
            grad_base = grad_y * exponent * base ** (exponent - 1)
        if need_exponent:
            log_base = math.log(base) if isinstance(base, numbers.Number) else xp.log(base)
            grad_exponent = grad_y * self.y * log_base
        return grad_base, grad_exponent


class Exp(Function):
    floating_inputs = {0: "x"}
    def forward(self, x):
        self.y = self.xp.exp(x)
        return self.y

    def backward(self, grad_y):
        return grad_y * self.y


class Log(Function):
    floating_inputs = {0: "x"}
    def forward(self, x):
        self.x = x
        return self.xp.log(x)

    def backward(self, grad_y):
        return grad_y / self.x


class Log1p(Function):
    """y = log(1 + x), accurate for small x; gradient 1/(1 + x)."""

    floating_inputs = {0: "x"}
    def forward(self, x):
        self.x = x
        return self.xp.log1p(x)

    def backward(self, grad_y):
        return grad_y / (1.0 + self.x)


class Sin(Function):
    floating_inputs = {0: "x"}
    def forward(self, x):
        self.x = x
        return self.xp.sin(x)

    def backward(self, grad_y):
        return grad_y * self.xp.cos(self.x)


class Cos(Function):
    floating_inputs = {0: "x"}
    def forward(self, x):
        self.x = x
        return self.xp.cos(x)

    def backward(self, grad_y):
        return -grad_y * self.xp.sin(self.x)


class Sqrt(Function):
    floating_inputs = {0: "x"}
    def forward(self, x):
        self.y = self.xp.sqrt(x)
        return self.y

    def backward(self, grad_y):
        return grad_y / (2 * self.y)


class Step(Function):
    """floor, ceil, round, trunc or sign: piecewise constant, so the gradient is 0 (PyTorch's
    choice at the jumps too)."""

    def __init__(self, fn):
        self.fn = self.name = fn

    def forward(self, x):
        xp = self.xp
        if self.fn == "sign":    # comparisons, not xp.sign (array-api-compat's syncs on CuPy)
            return xp.astype(x > 0, x.dtype) - xp.astype(x < 0, x.dtype)
        if not xp.isdtype(x.dtype, "real floating"):
            return xp.asarray(x, copy=True)       # an integer is its own floor
        return getattr(xp, self.fn)(x)

    def backward(self, grad_y):
        return self.xp.zeros_like(grad_y)


class Abs(Function):
    def forward(self, x):
        self.x = x
        return self.xp.abs(x)

    def backward(self, grad_y):
        # sign(x) without xp.sign (array-api-compat's syncs on CuPy): 0 at x = 0, as PyTorch
        xp, x = self.xp, self.x
        return grad_y * (xp.astype(x > 0, grad_y.dtype) - xp.astype(x < 0, grad_y.dtype))


class Clip(Function):
    """y = min(max(x, lo), hi); gradient 1 inside [lo, hi], 0 outside."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        xp = self.xp
        y = x
        inside = None
        if self.lo is not None:
            inside = x >= self.lo
            y = xp.where(inside, y, xp.asarray(self.lo, dtype=x.dtype, device=x.device))
        if self.hi is not None:
            below = x <= self.hi
            inside = below if inside is None else xp.logical_and(inside, below)
            y = xp.where(below, y, xp.asarray(self.hi, dtype=x.dtype, device=x.device))
        self.inside = inside
        return y

    def backward(self, grad_y):
        if self.inside is None:
            return grad_y
        return self.xp.where(self.inside, grad_y, self.xp.zeros_like(grad_y))


class Maximum(Function):
    """Elementwise maximum; ties send the gradient to the first input."""

    def forward(self, a, b):
        self.a_wins = a >= b
        return self.xp.where(self.a_wins, a, b)

    def backward(self, grad_y):
        zero = self.xp.zeros_like(grad_y)
        return (self.xp.where(self.a_wins, grad_y, zero), self.xp.where(self.a_wins, zero, grad_y))


class Minimum(Function):
    """Elementwise minimum; ties send the gradient to the first input."""

    def forward(self, a, b):
        self.a_wins = a <= b
        return self.xp.where(self.a_wins, a, b)

    def backward(self, grad_y):
        zero = self.xp.zeros_like(grad_y)
        return (self.xp.where(self.a_wins, grad_y, zero), self.xp.where(self.a_wins, zero, grad_y))


class Where(Function):
    def forward(self, condition, a, b):
        self.condition = condition
        return self.xp.where(condition, a, b)

    def backward(self, grad_y):
        zero = self.xp.zeros_like(grad_y)
        return None, self.xp.where(self.condition, grad_y, zero), \
            self.xp.where(self.condition, zero, grad_y)


class AsType(Function):
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.in_dtype = x.dtype
        return self.xp.astype(x, self.backend.dtype(self.dtype))

    def backward(self, grad_y):
        return self.xp.astype(grad_y, self.in_dtype)


def _binary(cls, op, a, b):
    _check_operands(op, a, b)
    return cls()(a, b)


def add(a, b) -> Tensor:
    """a + b with broadcasting. >>> add(tensor([1.0]), 2.0).tolist() -> [3.0]"""
    return _binary(Add, "add", a, b)


def sub(a, b) -> Tensor:
    """a - b with broadcasting."""
    return _binary(Sub, "sub", a, b)


def mul(a, b) -> Tensor:
    """a * b with broadcasting."""
    return _binary(Mul, "mul", a, b)


def div(a, b) -> Tensor:
    """a / b with broadcasting."""
    return _binary(Div, "div", a, b)


def neg(x: Tensor) -> Tensor:
    """-x."""
    return Neg()(x)


def pow(base, exponent) -> Tensor:  # noqa: A001  (the op's name)
    """base ** exponent; d/d base = exponent·base^(exponent−1), d/d exponent = y·log(base)."""
    return _binary(Pow, "pow", base, exponent)


def exp(x: Tensor) -> Tensor:
    """e**x; its gradient is itself."""
    return Exp()(x)


def log(x: Tensor) -> Tensor:
    """Natural logarithm; gradient 1/x."""
    return Log()(x)


def log1p(x: Tensor) -> Tensor:
    """log(1 + x), exact for small x; gradient 1/(1 + x)."""
    return Log1p()(x)


def sin(x: Tensor) -> Tensor:
    """Sine (radians); gradient cos(x).

    >>> sin(xpnet.tensor([0.0])).tolist()
    [0.0]
    """
    return Sin()(x)


def cos(x: Tensor) -> Tensor:
    """Cosine (radians); gradient -sin(x)."""
    return Cos()(x)


def sqrt(x: Tensor) -> Tensor:
    """Square root; gradient 1/(2·sqrt(x))."""
    return Sqrt()(x)


def floor(x: Tensor) -> Tensor:
    """The largest integer <= x (same dtype); gradient 0."""
    return Step("floor")(x)


def ceil(x: Tensor) -> Tensor:
    """The smallest integer >= x (same dtype); gradient 0."""
    return Step("ceil")(x)


def trunc(x: Tensor) -> Tensor:
    """x rounded toward zero (same dtype); gradient 0."""
    return Step("trunc")(x)


def round(x: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001
    """x rounded half to even, to ``decimals`` places, as ``torch.round``; gradient 0.

    >>> round(xpnet.tensor([0.5, 1.5, 2.25]), decimals=0).tolist()
    [0.0, 2.0, 2.0]
    """
    if isinstance(decimals, bool) or not isinstance(decimals, int):
        raise TypeError(f"round: decimals must be an int, got {decimals!r}")
    if decimals == 0:
        return Step("round")(x)
    scale = 10.0 ** decimals
    return Step("round")(x * scale) / scale


def sign(x: Tensor) -> Tensor:
    """-1, 0 or 1 by the sign of x (same dtype); gradient 0."""
    return Step("sign")(x)


def abs(x: Tensor) -> Tensor:  # noqa: A001
    """|x|; gradient sign(x) (0 at 0)."""
    return Abs()(x)


def clip(x: Tensor, min=None, max=None) -> Tensor:  # noqa: A002
    """Clamp x to [min, max] (either bound may be None); gradient 1 inside, 0 outside."""
    if min is not None and max is not None and min > max:
        raise ValueError(f"clip: min must be <= max, got min={min}, max={max}")
    return Clip(min, max)(x)


def maximum(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise maximum of two tensors."""
    return _binary(Maximum, "maximum", a, b)


def minimum(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise minimum of two tensors."""
    return _binary(Minimum, "minimum", a, b)


def where(condition: Tensor, a, b) -> Tensor:
    """``a`` where ``condition`` holds, else ``b``; the condition carries no gradient."""
    if not isinstance(condition, Tensor):
        raise TypeError(f"where: condition must be a boolean Tensor, got {type(condition).__name__}")
    return Where()(condition, a, b)


def astype(x: Tensor, dtype) -> Tensor:
    """Cast to ``dtype`` ('float32', 'float64', ...); the gradient is cast back."""
    return AsType(_backend.dtype_name(dtype))(x)
