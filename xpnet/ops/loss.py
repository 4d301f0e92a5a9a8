"""Losses, per element or per row, then reduced by a mean or a sum (or not at all)::

    mse_loss:            (x - t)²                                  grad  2·(x - t)
    smooth_l1_loss:      ½d²/β if |d| < β else |d| - ½β, d = x - t  grad  clamp(d/β, -1, 1)
                         (β = 0: |d|, grad sign(d))
    binary_cross_entropy: -(t·log p + (1 - t)·log(1 - p))           grad  (p - t) / (p·(1 - p))
    ..._with_logits:     max(x, 0) - x·t + log(1 + e^-|x|)         grad  σ(x) - t
    cross_entropy:       -Σ_j t_j·log_softmax(x)_j                 grad  softmax(x) - t
                         (t the one-hot label, smoothed: (1 - s)·one_hot + s/C)
    nll_loss:            -log_p[y]                                 grad  -one_hot(y)

Cross-entropy with integer labels is the hot path of every classifier: its textbook form is
:func:`cross_entropy_reference`; the op runs the same math as a few fused kernels (GPU,
strict) or one compiled pass over the rows (CPU), both tested against it.
"""
from __future__ import annotations

import math

from .. import backend as _backend, kernels
from ..autograd import Function, Tensor
from ..checks import check_index_range, defer_index_check, is_half
from .activation import logistic

_REDUCTIONS = ("mean", "sum", "none")
_TINY = 1e-44  # below e^-100 (also once rounded to float32), so the clip at -100 decides


def _check_reduction(op, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


class _Loss(Function):
    """Elementwise loss with a reduction; subclasses give ``loss`` and ``grad`` per element.
    Settings of a subclass (``beta``, ``log_target``) are given by name and kept as attributes."""

    def __init__(self, reduction, **settings):
        self.reduction = reduction
        for name, value in settings.items():
            setattr(self, name, value)

    def check_same_shape(self, x, target):
        if tuple(x.shape) != tuple(target.shape):
            raise ValueError(f"{self.op_name}: input and target must have the same shape, got "
                             f"input {tuple(x.shape)} and target {tuple(target.shape)}")

    def reduce(self, elementwise):
        self.count = math.prod(elementwise.shape)  # not .size: a method on torch tensors
        if self.reduction == "mean":
            return self.xp.mean(elementwise)
        if self.reduction == "sum":
            return self.xp.sum(elementwise)
        return elementwise

    def scale(self, grad_y):
        # times 1/count, a Python float: a count past float16's 65504 would round to inf
        return grad_y * (1.0 / self.count) if self.reduction == "mean" else grad_y


class MSELoss(_Loss):
    name = "mse_loss"
    floating_inputs = {0: "input", 1: "target"}

    def forward(self, x, target):
        self.check_same_shape(x, target)
        self.diff = x - target
        return self.reduce(self.diff * self.diff)

    def backward(self, grad_y):
        g = 2.0 * self.diff * self.scale(grad_y)
        return g, -g


class SmoothL1Loss(_Loss):
    """Quadratic near zero, linear beyond ``beta`` (the Huber loss divided by beta)."""
    name = "smooth_l1_loss"
    floating_inputs = {0: "input", 1: "target"}

    def forward(self, x, target):
        self.check_same_shape(x, target)
        xp, beta = self.xp, self.beta
        self.diff = d = x - target
        size = xp.abs(d)
        if beta == 0.0:
            return self.reduce(size)
        return self.reduce(xp.where(size < beta, (0.5 / beta) * (d * d), size - 0.5 * beta))

    def backward(self, grad_y):
        xp, d = self.xp, self.diff
        if self.beta == 0.0:   # sign(d), 0 at 0 (no xp.sign: see CONTRIBUTING)
            slope = xp.astype(d > 0, d.dtype) - xp.astype(d < 0, d.dtype)
        else:
            slope = xp.minimum(xp.maximum(d * (1.0 / self.beta), -1.0), 1.0)
        g = slope * self.scale(grad_y)
        return g, -g


class BCELoss(_Loss):
    """-(t·log p + (1 - t)·log(1 - p)), logs clamped at -100 as in PyTorch."""

    name = "binary_cross_entropy"
    floating_inputs = {0: "input", 1: "target"}

    def forward(self, p, target):
        self.check_same_shape(p, target)
        xp = self.xp
        if math.prod(p.shape):
            _check_probabilities(self.backend, p)
        self.p, self.target = p, target
        # floor at _TINY before the log: the same result, without log(0)'s warning
        log_p = xp.maximum(xp.log(xp.maximum(p, _TINY)), -100.0)
        log_1mp = xp.maximum(xp.log(xp.maximum(1.0 - p, _TINY)), -100.0)
        return self.reduce(-(target * log_p + (1.0 - target) * log_1mp))

    def backward(self, grad_y):
        p, t = self.p, self.target
        eps = 1e-12
        denom = self.xp.maximum(p * (1.0 - p), eps)
        return self.scale(grad_y) * (p - t) / denom, None


class BCEWithLogitsLoss(_Loss):
    """max(x, 0) - x·t + log(1 + e^-|x|); gradient sigmoid(x) - t."""

    name = "binary_cross_entropy_with_logits"
    floating_inputs = {0: "input", 1: "target"}

    def forward(self, x, target):
        self.check_same_shape(x, target)
        xp = self.xp
        self.x, self.target = x, target
        loss = xp.maximum(x, 0.0) - x * target + xp.log1p(xp.exp(-xp.abs(x)))
        return self.reduce(loss)

    def backward(self, grad_y):
        sig = logistic(self.xp, self.x)
        return self.scale(grad_y) * (sig - self.target), None


def _rows(xp, x):
    """Class scores (N, C, d1, ..., dk) as rows (N·d1·...·dk, C): the class axis moved last."""
    if x.ndim > 2:
        x = xp.permute_dims(x, (0,) + tuple(range(2, x.ndim)) + (1,))
    return xp.reshape(x, (-1, x.shape[-1]))


def _unrows(xp, rows, shape):
    """The inverse of :func:`_rows` for a gradient of the rows."""
    if len(shape) <= 2:
        return xp.reshape(rows, shape)
    moved = xp.reshape(rows, (shape[0],) + tuple(shape[2:]) + (shape[1],))
    return xp.permute_dims(moved, (0, len(shape) - 1) + tuple(range(1, len(shape) - 1)))


class _ClassLoss(Function):
    """Shared by cross_entropy and nll_loss: (N, C) or (N, C, d1, ..., dk) scores with labels
    (N, d1, ..., dk) (or probabilities of the scores' shape), ``ignore_index``, reductions."""

    def __init__(self, reduction, ignore_index):
        self.reduction, self.ignore_index = reduction, ignore_index

    def scores_and_labels(self, scores, target, allow_probabilities, labels_only=False):
        """Rows (M, C) of scores and, for integer labels, their one-hot rows (M, C) (with
        ``self.valid``, ``self.count``), or the labels (M, 1) as they are (``labels_only``);
        for probabilities, their rows."""
        xp, op = self.xp, self.op_name
        if scores.ndim == 0:
            raise ValueError(f"{op}: input must be (C,), (N, C) or (N, C, d1, ...), got a 0-d "
                             f"tensor")
        unbatched = scores.ndim == 1
        if unbatched:
            if xp.isdtype(target.dtype, "integral") and target.ndim != 0:
                raise ValueError(f"{op}: for an unbatched input of shape {tuple(scores.shape)} "
                                 f"the integer label must be a 0-d tensor, got shape "
                                 f"{tuple(target.shape)}")
            scores, target = xp.reshape(scores, (1, -1)), xp.reshape(target, (1,) + tuple(target.shape))
        self.shape, self.unbatched = tuple(scores.shape), unbatched
        c = scores.shape[1]
        label_shape = (scores.shape[0],) + tuple(scores.shape[2:])
        rows = _rows(xp, scores)
        self.valid = None
        if xp.isdtype(target.dtype, "integral"):
            if tuple(target.shape) != label_shape:
                raise ValueError(f"{op}: integer labels must have shape {label_shape} to match "
                                 f"input {self.shape}, got {tuple(target.shape)}")
            labels = xp.reshape(target, (-1, 1))
            if labels_only:
                return rows, labels
            _check_label_range(op, self.backend, labels, c, self.ignore_index)
            classes = xp.arange(c, dtype=target.dtype, device=target.device)
            one_hot = xp.astype(labels == classes, rows.dtype)   # ignored labels: zero rows
            valid = labels != self.ignore_index
            self.valid = xp.astype(valid, rows.dtype)
            self.count = xp.sum(self.valid)        # on the device: no sync for the mean
            return rows, one_hot
        if not allow_probabilities:
            raise TypeError(f"{op}: labels must be integers, got dtype "
                            f"{_backend.dtype_name(target.dtype)}")
        if not xp.isdtype(target.dtype, "real floating"):
            raise TypeError(f"{op}: target must hold integer labels or float probabilities, got "
                            f"dtype {_backend.dtype_name(target.dtype)}")
        if tuple(target.shape) != self.shape:
            raise ValueError(f"{op}: probability targets must have the input's shape "
                             f"{self.shape}, got {tuple(target.shape)}")
        self.count = rows.shape[0]
        return rows, _rows(xp, target)

    def reduce(self, loss_rows):
        xp = self.xp
        if self.reduction == "mean":
            return xp.sum(loss_rows) / self.count
        if self.reduction == "sum":
            return xp.sum(loss_rows)
        if self.unbatched:
            return xp.reshape(loss_rows, ())
        return xp.reshape(loss_rows, (self.shape[0],) + self.shape[2:])

    def grad_rows(self, grad_y):
        """The upstream gradient per row, shaped (M, 1)."""
        xp = self.xp
        if self.reduction == "mean":
            return grad_y / self.count
        if self.reduction == "sum":
            return grad_y
        return xp.reshape(grad_y, (-1, 1))

    def to_input(self, grad):
        shape = (self.shape[1],) if self.unbatched else self.shape
        return _unrows(self.xp, grad, shape)


class CrossEntropy(_ClassLoss):
    """Fused log-softmax + negative log-likelihood over classes (axis 1).

    Forward: loss_i = logsumexp(x_i) - x_i[y_i]. Backward: (softmax(x) - one_hot(y)) · grad.
    Integer labels (N, d1, ...) or class probabilities (N, C, d1, ...) as the target; labels
    equal to ``ignore_index`` add nothing and are not counted in the mean.
    """

    name = "cross_entropy"
    floating_inputs = {0: "input"}

    def __init__(self, reduction, label_smoothing, ignore_index):
        super().__init__(reduction, ignore_index)
        self.label_smoothing = label_smoothing

    def forward(self, logits, target):
        xp = self.xp
        self.labels = None
        if xp.isdtype(target.dtype, "integral"):
            return self.forward_labels(logits, target)
        rows, target = self.scores_and_labels(logits, target, allow_probabilities=True)
        c = rows.shape[1]
        if self.label_smoothing:
            target = target * (1.0 - self.label_smoothing) + self.label_smoothing / c
        shifted = rows - xp.max(rows, axis=1, keepdims=True)
        log_z = xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
        log_p = shifted - log_z
        self.log_p, self.target = log_p, target
        if self.reduction == "mean":       # one sum over everything instead of one per row
            return xp.sum(target * log_p) / (-self.count)
        return self.reduce(-xp.sum(target * log_p, axis=1))

    def forward_labels(self, logits, target):
        """Integer labels: log-softmax, the loss per row and the sums in one pass
        (:func:`log_softmax_nll`), the labels' range checked by the same pass."""
        xp = self.xp
        rows, labels = self.scores_and_labels(logits, target, allow_probabilities=False,
                                              labels_only=True)
        m, c = rows.shape
        if c == 0:
            raise ValueError(f"cross_entropy: input must have at least one class, got shape "
                             f"{self.shape}")
        labels = xp.reshape(labels, (m,))
        log_p = xp.empty((m, c), dtype=rows.dtype, device=rows.device)
        loss = xp.empty((m,), dtype=rows.dtype, device=rows.device)
        # the sums in float32 for half inputs (as PyTorch): 70 000 rows overflow float16
        half = is_half(rows.dtype)
        totals = xp.empty((3,), dtype=xp.float32 if half else rows.dtype, device=rows.device)
        log_softmax_nll(xp, log_p, loss, totals, rows, labels, self.ignore_index,
                        self.label_smoothing)
        # out-of-range labels are counted by the pass: in host memory the count is read here;
        # on a device it is read at the next host read (no stall, and no launch more)
        if not self.backend.on_host:
            defer_index_check(self.op_name, "labels", self.backend, totals[2], labels, c,
                              self.ignore_index)
        elif float(totals[2]):
            _check_label_range(self.op_name, self.backend, labels, c, self.ignore_index)
        self.log_p, self.labels, self.count = log_p, labels, totals[1]
        if self.reduction == "mean":
            result = totals[0] / totals[1]
        elif self.reduction == "sum":
            result = totals[0]
        else:
            return self.reduce(loss)
        return xp.astype(result, rows.dtype) if half else result

    def backward(self, grad_y):
        xp = self.xp
        if self.labels is not None:
            scale = xp.reshape(self.grad_rows(grad_y), (-1,))     # (1,) or one per row
            grad = xp.empty(self.log_p.shape, dtype=self.log_p.dtype, device=self.log_p.device)
            cross_entropy_grad(xp, grad, self.log_p, self.labels, scale, self.ignore_index,
                               self.label_smoothing)
            return self.to_input(grad), None
        # probability targets: each row sums to 1
        weight = xp.sum(self.target, axis=1, keepdims=True)
        grad = xp.exp(self.log_p) * weight - self.target
        return self.to_input(grad * self.grad_rows(grad_y)), None


    def backward_on_tensors(self, grads):
        """create_graph: with integer labels, the fused kernels write into buffers, so the
        gradient is :func:`cross_entropy_reference`'s on the tensor namespace (the same math)."""
        if self.labels is None:
            return super().backward_on_tensors(grads)
        from ..autograd.tensor_namespace import namespace_for
        ns, (grad_y,) = namespace_for(self.backend), grads
        logits = self.inputs[0]
        rows = _rows(ns, ns.reshape(logits, (1, -1)) if self.unbatched else logits)
        labels = Tensor.from_array(self.labels, False, self.backend)
        _, grad = cross_entropy_reference(ns, rows, labels, self.ignore_index,
                                          self.label_smoothing)
        if self.reduction == "mean":
            scale = grad_y / Tensor.from_array(self.count, False, self.backend)
        elif self.reduction == "sum":
            scale = grad_y
        else:
            scale = ns.reshape(grad_y, (-1, 1))
        shape = (self.shape[1],) if self.unbatched else self.shape
        return _unrows(ns, grad * scale, shape), None


def cross_entropy_reference(xp, rows, labels, ignore_index=-100, smoothing=0.0):
    """Cross-entropy with integer labels, the textbook form: what :func:`log_softmax_nll` and
    :func:`cross_entropy_grad` compute (in fused kernels or one compiled pass), step by step.

    For row i with scores x_i and label y_i, the target is t_i = (1 - s)·one_hot(y_i) + s/C::

        log_p_i = x_i - log Σ_j exp(x_ij)      (shifted by max_j x_ij first, for stability)
        loss_i  = -Σ_j t_ij · log_p_ij
        dloss_i/dx_i = softmax(x_i) - t_i

    Rows whose label is ``ignore_index`` have loss 0 and gradient 0. Returns (loss (M,),
    gradient (M, C)); the tests hold both fast forms to it.
    """
    m, c = rows.shape
    shifted = rows - xp.max(rows, axis=1, keepdims=True)
    log_p = shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
    column = xp.reshape(labels, (m, 1))
    one_hot = xp.astype(column == xp.arange(c, dtype=labels.dtype, device=labels.device),
                        rows.dtype)
    target = (1.0 - smoothing) * one_hot + smoothing / c
    counted = xp.astype(column != ignore_index, rows.dtype)
    loss = -xp.sum(target * log_p, axis=1) * xp.reshape(counted, (m,))
    grad = (xp.exp(log_p) - target) * counted
    return loss, grad


def _log_softmax_nll_loops(log_p, loss, totals, rows, labels, ignore_index, smoothing):
    m, c = rows.shape
    total, count, bad = 0.0, 0.0, 0.0
    for i in range(m):
        top = rows[i, 0]
        for j in range(1, c):
            if rows[i, j] > top:
                top = rows[i, j]
        z = 0.0
        for j in range(c):
            z += math.exp(rows[i, j] - top)
        log_z = math.log(z)
        row_sum = 0.0
        for j in range(c):
            value = (rows[i, j] - top) - log_z
            log_p[i, j] = value
            row_sum += value
        label = labels[i]
        loss[i] = 0.0
        if label == ignore_index:
            continue
        if label < 0 or label >= c:
            bad += 1.0
            continue
        value = -((1.0 - smoothing) * log_p[i, label] + smoothing / c * row_sum)
        loss[i] = value
        total += value
        count += 1.0
    totals[0] = total
    totals[1] = count
    totals[2] = bad


@kernels.loops(_log_softmax_nll_loops)
def log_softmax_nll(xp, log_p, loss, totals, rows, labels, ignore_index, smoothing):
    """Cross-entropy's forward for integer labels: log_p (M, C) = log_softmax(rows), loss (M,)
    = -((1 - s)·log_p[i, y_i] + s/C·Σ_j log_p[i, j]) (0 for a label equal to ``ignore_index``
    or out of [0, C)), totals = (Σ loss, how many labels counted, how many out of range).
    As array calls: the reductions and two fused kernels (about as many launches as the loss
    needs at all, which matters on a GPU); with the CPU compiler, one pass over the rows."""
    c = rows.shape[1]
    shifted = rows - xp.max(rows, axis=1, keepdims=True)
    log_z = xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
    column = xp.reshape(labels, (-1, 1))
    classes = xp.arange(c, dtype=labels.dtype, device=labels.device)
    terms = xp.empty(rows.shape, dtype=rows.dtype, device=rows.device)
    _log_softmax_terms(xp, shifted, log_z, column, classes, ignore_index, c, 1.0 - smoothing,
                       smoothing / c, log_p, terms)
    counted = xp.empty(column.shape, dtype=rows.dtype, device=rows.device)
    outside = xp.empty(column.shape, dtype=rows.dtype, device=rows.device)
    _label_counts(xp, column, ignore_index, c, counted, outside)
    loss[...] = -xp.sum(terms, axis=1)
    totals[...] = xp.stack([xp.sum(loss, dtype=totals.dtype), xp.sum(counted, dtype=totals.dtype),
                            xp.sum(outside, dtype=totals.dtype)])


@kernels.fuse
def _log_softmax_terms(xp, shifted, log_z, column, classes, ignore_index, c, hit, off, log_p,
                       terms):
    # log_p = shifted - log Σ exp; terms = each counted row's target · log_p, with the target
    # (1 - s)·one_hot + s/C (hit = 1 - s, off = s/C); rows not counted give 0 even where their
    # scores are not finite (as the loops skip them)
    value = shifted - log_z
    log_p[...] = value
    weight = _target(xp, column, classes, hit, off, terms.dtype)
    terms[...] = xp.where(_counted(column, ignore_index, c), weight * value, 0.0)


@kernels.fuse
def _label_counts(xp, column, ignore_index, c, counted, outside):
    # 1 where the label is counted / where it is out of [0, C) (and not ignore_index)
    counted[...] = xp.astype(_counted(column, ignore_index, c), counted.dtype)
    outside[...] = xp.astype((column != ignore_index) & xp.logical_not(_inside(column, c)),
                             outside.dtype)


# helpers of the fused kernels above and below (traced into them)

def _inside(column, c):
    return (column >= 0) & (column < c)


def _counted(column, ignore_index, c):
    """Labels that count: in [0, C) and not ``ignore_index``."""
    return (column != ignore_index) & _inside(column, c)


def _target(xp, column, classes, hit, off, dtype):
    """The smoothed one-hot target (1 - s)·one_hot + s/C, as hit·one_hot + off."""
    return xp.astype(column == classes, dtype) * hit + off


def _cross_entropy_grad_loops(grad, log_p, labels, scale, ignore_index, smoothing):
    m, c = log_p.shape
    per_row = scale.shape[0] == m and m != 1
    offset = smoothing / c
    for i in range(m):
        s = scale[i] if per_row else scale[0]
        label = labels[i]
        if label == ignore_index or label < 0 or label >= c:
            for j in range(c):
                grad[i, j] = 0.0
            continue
        for j in range(c):
            grad[i, j] = (math.exp(log_p[i, j]) - offset) * s
        grad[i, label] -= (1.0 - smoothing) * s


@kernels.loops(_cross_entropy_grad_loops)
def cross_entropy_grad(xp, grad, log_p, labels, scale, ignore_index, smoothing):
    """Cross-entropy's backward for integer labels: grad (M, C) = (softmax - smoothed one-hot)
    · scale (one per row, or one for all), zero rows where the label was not counted. As array
    calls, one fused kernel."""
    c = log_p.shape[1]
    classes = xp.arange(c, dtype=labels.dtype, device=labels.device)
    _softmax_minus_target(xp, log_p, xp.reshape(labels, (-1, 1)), classes, ignore_index, c,
                          1.0 - smoothing, smoothing / c, xp.reshape(scale, (-1, 1)), grad)


@kernels.fuse
def _softmax_minus_target(xp, log_p, column, classes, ignore_index, c, hit, off, scale, grad):
    weight = _target(xp, column, classes, hit, off, log_p.dtype)
    grad[...] = xp.where(_counted(column, ignore_index, c), (xp.exp(log_p) - weight) * scale,
                         0.0)


class NLLLoss(_ClassLoss):
    """-log_probs[i, y_i] over (N, C) or (N, C, d1, ...) log-probabilities, averaged or summed."""

    name = "nll_loss"
    floating_inputs = {0: "input"}

    def forward(self, log_probs, target):
        rows, self.one_hot = self.scores_and_labels(log_probs, target, allow_probabilities=False)
        return self.reduce(-self.xp.sum(self.one_hot * rows, axis=1))

    def backward(self, grad_y):
        return self.to_input(-self.one_hot * self.grad_rows(grad_y)), None


def _check_label_range(op, backend, labels, num_classes, ignore_index):
    """An IndexError naming the op when a label is outside [0, C) (ignore_index excepted), as
    PyTorch raises for its targets: here in host memory, at the next host read on a device
    (see :func:`xpnet.checks.check_index_range`). Under ``create_graph`` the forward runs
    again on Tensors: the check reads their arrays."""
    if isinstance(labels, Tensor):
        labels = labels.array
    check_index_range(op, "labels", backend, labels, num_classes, ignore_index)


def _check_probabilities(backend, p):
    """binary_cross_entropy's input ``p`` (an array, or a Tensor when ``create_graph`` runs the
    forward again) must lie in [0, 1]: its two extremes are read here in host memory, and at the
    next host read on a device, as PyTorch's device-side assert (reading them now would stall
    the step)."""
    p = p.array if isinstance(p, Tensor) else p
    low, high = backend.xp.min(p), backend.xp.max(p)

    def verdict(low, high):
        low, high = float(low), float(high)
        if 0.0 <= low and high <= 1.0:
            return None
        where = "" if backend.on_host else (f" (checked on device {backend.name}, raised at "
                                            f"the first host read after the op)")
        return ValueError(f"binary_cross_entropy: input must hold probabilities in [0, 1], got "
                          f"values from {low:.4g} to {high:.4g}; for logits use "
                          f"binary_cross_entropy_with_logits{where}")

    if not backend.on_host:
        backend.defer_check((low, high), verdict)
        return
    error = verdict(low, high)
    if error is not None:
        raise error


def _as_target(op, target) -> Tensor:
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: target must be a Tensor, got {type(target).__name__}")
    return target


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error ``mean((input - target)**2)``."""
    _check_reduction("mse_loss", reduction)
    return MSELoss(reduction)(input, _as_target("mse_loss", target))


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,  # noqa: A002
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Smooth L1 (PyTorch's): ``0.5·d²/beta`` where ``|d| < beta``, else ``|d| - 0.5·beta``,
    with ``d = input - target``; ``beta = 0`` is the L1 loss. ``size_average`` and ``reduce``
    are PyTorch's deprecated spellings of ``reduction`` and must stay None.

    >>> import xpnet
    >>> smooth_l1_loss(xpnet.tensor([0.5, 3.0]), xpnet.tensor([0.0, 0.0])).item()
    1.3125
    """
    _legacy("smooth_l1_loss", size_average, reduce, reduction)
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0:
        raise ValueError(f"smooth_l1_loss: beta must be a number >= 0, got {beta!r}")
    return SmoothL1Loss(reduction, beta=float(beta))(input, _as_target("smooth_l1_loss", target))


def _legacy(op, size_average, reduce, reduction):
    """PyTorch's deprecated ``size_average`` / ``reduce`` must stay None; ``reduction`` is
    checked."""
    if size_average is not None or reduce is not None:
        raise ValueError(f"{op}: size_average and reduce are deprecated in PyTorch and not "
                         f"supported; use reduction='mean', 'sum' or 'none'")
    _check_reduction(op, reduction)


def _weigh(terms, weight, reduction):
    """The elementwise ``terms`` times ``weight`` (a Tensor that broadcasts to them), reduced:
    PyTorch's ``weight=`` of the binary losses (a mean over elements, not over weights)."""
    from .reduction import mean, sum as total
    if weight is not None:
        terms = terms * weight
    return mean(terms) if reduction == "mean" else total(terms) if reduction == "sum" else terms


def _check_weight(op, weight):
    """PyTorch's third argument of the binary losses is ``weight``: a reduction given there by
    position is named as such rather than taken for a weight."""
    if weight is not None and not isinstance(weight, Tensor):
        hint = (" (the third argument is weight, as in PyTorch: pass reduction= by keyword)"
                if isinstance(weight, str) else "")
        raise TypeError(f"{op}: weight must be a Tensor, got {type(weight).__name__} "
                        f"{weight!r}{hint}")


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Log loss on probabilities in (0, 1): -(t·log p + (1-t)·log(1-p)), each element times
    ``weight`` when given (PyTorch's signature)."""
    op = "binary_cross_entropy"
    _check_weight(op, weight)
    _legacy(op, size_average, reduce, reduction)
    target = _as_target(op, target)
    if weight is None:
        return BCELoss(reduction)(input, target)
    return _weigh(BCELoss("none")(input, target), weight, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,  # noqa: A002
                                     weight: Tensor | None = None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Log loss on logits, stable for any magnitude; gradient sigmoid(x) - t (PyTorch's
    signature). ``pos_weight`` (broadcast along the last axis: one per class) weighs the
    positive term: -(pw·t·log σ(x) + (1-t)·log(1-σ(x))) = (1-t)·x + (1 + (pw-1)·t)·softplus(-x);
    ``weight`` multiplies each element's loss."""
    op = "binary_cross_entropy_with_logits"
    _check_weight(op, weight)
    _legacy(op, size_average, reduce, reduction)
    target = _as_target(op, target)
    if weight is None and pos_weight is None:
        return BCEWithLogitsLoss(reduction)(input, target)
    if pos_weight is None:
        terms = BCEWithLogitsLoss("none")(input, target)
    else:
        if not isinstance(pos_weight, Tensor):
            raise TypeError(f"{op}: pos_weight must be a Tensor, got "
                            f"{type(pos_weight).__name__}")
        from .elementwise import abs as absolute, exp, log1p, maximum
        if not isinstance(input, Tensor):
            raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
        if input.shape != target.shape:
            raise ValueError(f"{op}: input and target must have the same shape, got input "
                             f"{input.shape} and target {target.shape}")
        softplus_neg = maximum(-input, 0.0) + log1p(exp(-absolute(input)))
        terms = (1.0 - target) * input + (1.0 + (pos_weight - 1.0) * target) * softplus_neg
    return _weigh(terms, weight, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,  # noqa: A002
            reduction: str = "mean") -> Tensor:
    """Mean absolute error ``mean(|input - target|)`` (smooth L1 with beta 0)."""
    _legacy("l1_loss", size_average, reduce, reduction)
    return SmoothL1Loss(reduction, beta=0.0)(input, _as_target("l1_loss", target))


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",  # noqa: A002
               delta: float = 1.0) -> Tensor:
    """Huber: ``0.5·d²`` where ``|d| < delta``, else ``delta·(|d| - 0.5·delta)``; it is
    ``delta`` times the smooth L1 loss with ``beta = delta``."""
    _check_reduction("huber_loss", reduction)
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not delta > 0:
        raise ValueError(f"huber_loss: delta must be a number > 0, got {delta!r}")
    return SmoothL1Loss(reduction, beta=float(delta))(
        input, _as_target("huber_loss", target)) * float(delta)


def _check_ignore_index(op, ignore_index):
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"{op}: ignore_index must be an int, got {ignore_index!r}")
    return ignore_index


def cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean",  # noqa: A002
                  label_smoothing: float = 0.0, ignore_index: int = -100) -> Tensor:
    """Softmax cross-entropy on logits (N, C) or (N, C, d1, ...) with integer labels (N,) /
    (N, d1, ...) or probabilities of the logits' shape, as ``torch.nn.functional.cross_entropy``.

    One fused op: its gradient is ``(softmax(input) - one_hot(target)) / N``. Labels equal to
    ``ignore_index`` (padding in sequence models) contribute nothing; the mean is over the rest.

    >>> logits = xpnet.tensor([[2.0, 0.0], [0.0, 2.0]])
    >>> round(cross_entropy(logits, xpnet.tensor([0, 1])).item(), 4)
    0.1269
    """
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    return CrossEntropy(reduction, float(label_smoothing),
                        _check_ignore_index("cross_entropy", ignore_index))(
        input, _as_target("cross_entropy", target))


def nll_loss(input: Tensor, target: Tensor, reduction: str = "mean",  # noqa: A002
             ignore_index: int = -100) -> Tensor:
    """Negative log-likelihood of integer labels under log-probabilities (N, C) or
    (N, C, d1, ...); labels equal to ``ignore_index`` are skipped."""
    _check_reduction("nll_loss", reduction)
    return NLLLoss(reduction, _check_ignore_index("nll_loss", ignore_index))(
        input, _as_target("nll_loss", target))
