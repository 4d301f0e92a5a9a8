"""Metrics for ``fit`` / ``evaluate`` (Tensors in, a 0-d Tensor out, computed on the arrays),
and the running sums that stay on the device until a log interval reads them back."""
from __future__ import annotations

import math

import numpy as np

from .. import backend as _backend
from .. import ops
from ..autograd import Tensor, no_grad


# The metrics compute on the arrays: no gradient flows through them, and at batch 1 the
# Function machinery around their half-dozen calls was a third of a training step.

def _total(output: Tensor, value) -> Tensor:
    """A 0-d Tensor of ``value``, a full reduction (NumPy gives a scalar: made a 0-d array)."""
    if isinstance(value, np.generic):
        value = np.asarray(value)
    return Tensor.from_array(value, device=output.backend)


def accuracy(output: Tensor, target: Tensor, threshold: float = 0.0) -> Tensor:
    """How many predictions in the batch are right (a 0-d Tensor on the device): arg-max over
    classes for (N, C) scores, or ``output > threshold`` against ``target > 0.5`` for one score
    per sample (threshold 0 for logits, 0.5 for probabilities)."""
    xp, out, labels = output.xp, output.array, _flat(target)
    if out.ndim == 2 and out.shape[1] > 1:
        hits = xp.argmax(out, axis=1) == xp.astype(labels, xp.int64)
    else:
        hits = (xp.reshape(out, (-1,)) > threshold) == (labels > 0.5)
    return _total(output, xp.sum(xp.astype(hits, out.dtype)))


def mae(output: Tensor, target: Tensor, threshold: float = 0.0) -> Tensor:
    """The sum of absolute errors in the batch (divided by the sample count when read)."""
    xp = output.xp
    return _total(output, xp.sum(xp.abs(output.array - xp.reshape(target.array, output.shape))))


def _flat(target: Tensor):
    """The target's array, flat."""
    return target.xp.reshape(target.array, (-1,))


METRICS = {"accuracy": accuracy, "acc": accuracy, "mae": mae}


def metric_functions(owner: str, names) -> dict:
    functions = {}
    for name in names or ():
        if name not in METRICS:
            raise ValueError(f"{owner}: unknown metric {name!r}; expected one of {sorted(METRICS)}")
        functions["accuracy" if name == "acc" else name] = METRICS[name]
    return functions


class RunningSums:
    """Loss and metric sums over the batches seen, kept on the device; :meth:`read` is the one
    host synchronisation (once per log interval and per epoch)."""

    def __init__(self, metric_functions: dict, threshold: float):
        self.functions, self.threshold = metric_functions, threshold
        self.sums: dict = {}
        self.count = 0

    @no_grad()
    def add(self, loss: Tensor | None, output, target: Tensor, n: int):
        # the sums are raw arrays: adding them up needs no graph
        terms = {} if loss is None else {"loss": loss.array * float(n)}
        if isinstance(output, Tensor):     # models returning tuples (a VAE) get the loss only
            for name, fn in self.functions.items():
                terms[name] = fn(output, target, self.threshold).array
        for name, value in terms.items():
            old = self.sums.get(name)
            self.sums[name] = value if old is None else old + value
        self.count += n

    def totals(self) -> dict:
        """Host sums and the count (what distributed training all-reduces)."""
        values = {name: float(_backend.to_numpy(value)) for name, value in self.sums.items()}
        return {**values, "count": float(self.count)}

    def read(self, prefix: str = "", reduce=None) -> dict:
        """Per-sample means as Python floats; ``reduce`` sums the totals over processes."""
        totals = self.totals()
        if reduce is not None:
            totals = reduce(totals)
        count = totals.pop("count")
        if not count:
            return {}
        return {f"{prefix}{name}": value / count for name, value in totals.items()}


class StepMeans:
    """Named statistics that a custom training step returns as one 1-D device array, summed
    on the device (one addition per step); :meth:`read` gives their means per step.

    ``names`` lists the statistics in order, or maps each name to its index.
    """

    def __init__(self, names):
        self.names = dict(names) if isinstance(names, dict) else \
            {name: i for i, name in enumerate(names)}
        self.total, self.count = None, 0

    def add(self, values):
        data = values.array if isinstance(values, Tensor) else values
        self.total = data if self.total is None else self.total + data
        self.count += 1

    def totals(self) -> dict:
        if self.total is None:
            return {"count": 0.0}
        host = np.asarray(_backend.to_numpy(self.total), dtype=np.float64).reshape(-1)
        if host.shape[0] <= max(self.names.values()):
            raise ValueError(f"fit: the step returned {host.shape[0]} statistics, fewer than "
                             f"its names {list(self.names)} need")
        return {**{name: float(host[i]) for name, i in self.names.items()},
                "count": float(self.count)}

    read = RunningSums.read


def is_finite(logs: dict) -> bool:
    return all(math.isfinite(v) for k, v in logs.items() if k.endswith("loss"))


def concat_outputs(outputs):
    return ops.concat(outputs, axis=0) if len(outputs) > 1 else outputs[0]
