"""fit / evaluate / predict: the training loop, with no host sync inside a step.

Per-batch loss and metric sums stay on the device; they are read back once per ``log_every``
steps (for the progress bar and the NaN check) and once at the end of each epoch.
"""
from __future__ import annotations

import math
import sys
import time

from .. import backend as _backend
from .. import ops
from ..autograd import Tensor, no_grad
from .callbacks import Callback
from .history import History

_LOSSES = {
    "cross_entropy": ops.cross_entropy, "mse": ops.mse_loss, "mse_loss": ops.mse_loss,
    "bce": ops.binary_cross_entropy, "binary_cross_entropy": ops.binary_cross_entropy,
    "bce_with_logits": ops.binary_cross_entropy_with_logits,
    "binary_cross_entropy_with_logits": ops.binary_cross_entropy_with_logits,
    "nll": ops.nll_loss, "nll_loss": ops.nll_loss,
}


def _loss_fn(loss):
    if isinstance(loss, str):
        if loss not in _LOSSES:
            raise ValueError(f"fit: unknown loss {loss!r}; expected one of {sorted(_LOSSES)} or a "
                             f"callable such as nn.CrossEntropyLoss()")
        return _LOSSES[loss]
    if not callable(loss):
        raise TypeError(f"fit: loss must be a name or a callable, got {type(loss).__name__}")
    return loss


def _takes_probabilities(loss) -> bool:
    """Binary accuracy thresholds probabilities at 0.5 and logits at 0."""
    name = loss if isinstance(loss, str) else type(loss).__name__
    return name in ("bce", "binary_cross_entropy", "BCELoss") or loss is ops.binary_cross_entropy


def _accuracy_sum(xp, output, target, threshold):
    """Number of correct predictions in the batch, as a device scalar."""
    if output.ndim == 2 and output.shape[1] > 1:
        hits = xp.argmax(output, axis=1) == xp.astype(xp.reshape(target, (-1,)), xp.int64)
    else:
        predicted = xp.reshape(output, (-1,)) > threshold
        hits = predicted == (xp.reshape(target, (-1,)) > 0.5)
    return xp.sum(xp.astype(hits, output.dtype))


def _mae_sum(xp, output, target, threshold):
    return xp.sum(xp.abs(output - xp.reshape(target, output.shape)))


_METRICS = {"accuracy": _accuracy_sum, "acc": _accuracy_sum, "mae": _mae_sum}


def _metric_fns(metrics):
    fns = {}
    for m in metrics or ():
        if m not in _METRICS:
            raise ValueError(f"fit: unknown metric {m!r}; expected one of {sorted(_METRICS)}")
        fns["accuracy" if m == "acc" else m] = _METRICS[m]
    return fns


def _as_loader(data, batch_size, shuffle, device, seed=None):
    from ..data import ArrayDataset, DataLoader
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return DataLoader(ArrayDataset(*data), batch_size=batch_size, shuffle=shuffle,
                          device=device, seed=seed)
    raise TypeError(f"fit: data must be a DataLoader or an (inputs, targets) pair, got "
                    f"{type(data).__name__}")


class _Trainer:
    """What callbacks see: the model, optimizer, scheduler, history and the stop flag."""

    def __init__(self, model, optimizer, scheduler, history):
        self.model, self.optimizer, self.scheduler, self.history = (model, optimizer, scheduler,
                                                                    history)
        self.stop_training = False
        self.epoch = 0


class _Sums:
    """Running sums of loss and metrics on the device; read back only on request."""

    def __init__(self, metric_fns, threshold):
        self.metric_fns, self.threshold = metric_fns, threshold
        self.loss = None
        self.metrics = {}
        self.count = 0

    def add(self, xp, loss_value, output, target, n):
        term = loss_value * n
        self.loss = term if self.loss is None else self.loss + term
        for name, fn in self.metric_fns.items():
            value = fn(xp, output, target, self.threshold)
            old = self.metrics.get(name)
            self.metrics[name] = value if old is None else old + value
        self.count += n

    def read(self, prefix="") -> dict:
        """Host values (this is the sync point)."""
        if not self.count:
            return {}
        out = {f"{prefix}loss": float(_backend.to_numpy(self.loss)) / self.count}
        for name, value in self.metrics.items():
            out[f"{prefix}{name}"] = float(_backend.to_numpy(value)) / self.count
        return out


def _show_bar(verbose):
    if verbose == "auto":
        return sys.stderr.isatty()
    return verbose in (True, 1)


def fit(model, train, *, loss, optimizer, epochs: int = 1, val=None, metrics=("accuracy",),
        callbacks=(), batch_size: int = 32, shuffle: bool = True, scheduler=None,
        schedule_per: str = "epoch", seed=None,
        initial_epoch: int = 0, history: History | None = None, log_every: int = 50,
        verbose="auto") -> History:
    """Train ``model`` and return a :class:`History` of per-epoch Python floats.

    Args:
        train: a DataLoader, or an ``(inputs, targets)`` pair of arrays (batched with
            ``batch_size``, shuffled with ``seed``, on the model's device).
        loss: a callable ``loss(output, target)`` (e.g. ``nn.CrossEntropyLoss()``) or a name
            ('cross_entropy', 'mse', 'bce', 'bce_with_logits', 'nll').
        optimizer: an ``xpnet.optim`` optimizer over ``model.parameters()``.
        val: validation data, as ``train``; adds ``val_loss`` and ``val_<metric>``.
        metrics: names among 'accuracy', 'mae'.
        callbacks: ``EarlyStopping``, ``ModelCheckpoint`` or any :class:`Callback`.
        scheduler: an LR scheduler, stepped once per epoch (ReduceLROnPlateau gets val_loss)
            or, with ``schedule_per="step"``, after every optimizer step.
        initial_epoch: epochs already done (when resuming); training runs to ``epochs``.
        log_every: steps between reads of the loss (progress bar and NaN check).
        verbose: 'auto' (a tqdm bar on a terminal, a line per epoch otherwise), 1, 2 or 0.

    A non-finite loss stops training with a message in ``history.stop_reason``; the epoch is
    not checkpointed, so the last good checkpoint stays intact.

    >>> history = fit(model, (X, y), loss="cross_entropy", optimizer=opt, epochs=5)  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    if schedule_per not in ("epoch", "step"):
        raise ValueError(f"fit: schedule_per must be 'epoch' or 'step', got {schedule_per!r}")
    per_step = scheduler if schedule_per == "step" else None
    loss_fn = _loss_fn(loss)
    metric_fns = _metric_fns(metrics)
    threshold = 0.5 if _takes_probabilities(loss) else 0.0
    device = model.device
    train_loader = _as_loader(train, batch_size, shuffle, device, seed)
    val_loader = _as_loader(val, max(batch_size, 256), False, device) if val is not None else None
    history = history if history is not None else History()
    trainer = _Trainer(model, optimizer, scheduler, history)
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"fit: callbacks must be Callback instances, got {type(cb).__name__}")
        cb.set_trainer(trainer)
        cb.on_train_begin()
    bar = _show_bar(verbose)
    quiet = verbose in (0, False)

    for epoch in range(initial_epoch + 1, epochs + 1):
        trainer.epoch = epoch
        for cb in callbacks:
            cb.on_epoch_begin(epoch)
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(epoch - 1)  # the shuffle of a resumed run continues exactly
        model.train()
        sums = _Sums(metric_fns, threshold)
        started = time.perf_counter()
        progress = tqdm(total=len(train_loader), desc=f"epoch {epoch}/{epochs}", unit="batch",
                        disable=not bar, leave=True, dynamic_ncols=True)
        finite = True
        for step, (x, y) in enumerate(train_loader, start=1):
            output = model(x)
            value = loss_fn(output, y)
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
            if per_step is not None:
                per_step.step()
            with no_grad():
                sums.add(output.xp, value.data, output.data, y.data, x.shape[0])
            progress.update(1)
            if step % log_every == 0:
                logs = sums.read()  # the only sync inside the epoch
                finite = math.isfinite(logs["loss"])
                if not finite:
                    break
                if bar:
                    rate = sums.count / (time.perf_counter() - started)
                    progress.set_postfix({**{k: f"{v:.4f}" for k, v in logs.items()},
                                          "samples/s": f"{rate:,.0f}"})
        logs = sums.read()
        elapsed = time.perf_counter() - started
        finite = finite and math.isfinite(logs.get("loss", math.nan))
        logs["samples_per_s"] = sums.count / elapsed if elapsed > 0 else math.nan
        logs["time"] = elapsed
        if optimizer.param_groups:
            logs["lr"] = float(optimizer.param_groups[0]["lr"])
        if finite and val_loader is not None:
            logs.update(_run_eval(model, val_loader, loss_fn, metric_fns, threshold, "val_"))
        if bar:
            progress.set_postfix({k: f"{v:.4f}" for k, v in logs.items()
                                  if k not in ("time", "samples_per_s", "lr")})
        progress.close()
        history.append(epoch, logs)
        if not finite:
            history.stop_reason = (f"the loss became {logs.get('loss')} in epoch {epoch}; "
                                   f"training stopped (lower the learning rate, check the "
                                   f"inputs); the last checkpoint saved before it is intact")
            print(f"xpnet.fit: {history.stop_reason}", file=sys.stderr)
            break
        if not bar and not quiet:
            print(f"epoch {epoch}/{epochs} " + " ".join(
                f"{k}={v:.4f}" for k, v in logs.items() if k not in ("time", "lr"))
                + f" time={elapsed:.1f}s", file=sys.stderr)
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        if scheduler is not None and per_step is None:
            if type(scheduler).__name__ == "ReduceLROnPlateau":
                scheduler.step(logs.get("val_loss", logs["loss"]))
            else:
                scheduler.step()
        if trainer.stop_training:
            break
    for cb in callbacks:
        cb.on_train_end()
    if history.stop_reason and not quiet and history.stop_reason.startswith("early"):
        print(f"xpnet.fit: {history.stop_reason}", file=sys.stderr)
    return history


def _run_eval(model, loader, loss_fn, metric_fns, threshold, prefix=""):
    was_training = model.training
    model.eval()
    sums = _Sums(metric_fns, threshold)
    try:
        with no_grad():
            for x, y in loader:
                output = model(x)
                value = loss_fn(output, y) if loss_fn is not None else None
                if value is None:
                    value = Tensor._wrap(output.xp.zeros((), dtype=output.data.dtype,
                                                         device=output.data.device),
                                         output.backend)
                sums.add(output.xp, value.data, output.data, y.data, x.shape[0])
    finally:
        model.train(was_training)
    logs = sums.read(prefix)
    if loss_fn is None:
        logs.pop(f"{prefix}loss", None)
    return logs


def evaluate(model, data, loss=None, metrics=("accuracy",), batch_size: int = 256) -> dict:
    """Loss (if given) and metrics over ``data`` in eval mode, without gradients.

    >>> evaluate(model, test_loader, loss="cross_entropy")    # doctest: +SKIP
    {'loss': 0.031, 'accuracy': 0.9905}
    """
    loader = _as_loader(data, batch_size, False, model.device)
    loss_fn = _loss_fn(loss) if loss is not None else None
    threshold = 0.5 if loss is not None and _takes_probabilities(loss) else 0.0
    return _run_eval(model, loader, loss_fn, _metric_fns(metrics), threshold)


def predict(model, data, batch_size: int = 256) -> Tensor:
    """Model outputs for ``data`` (a Tensor, an array, or a DataLoader), in eval mode.

    The outputs are concatenated on the model's device.
    """
    from ..data import DataLoader
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with no_grad():
            if isinstance(data, DataLoader):
                for batch in data:
                    outputs.append(model(batch[0]))
            else:
                x = data if isinstance(data, Tensor) else Tensor(data, device=model.device)
                n = x.shape[0]
                for start in range(0, n, batch_size):
                    outputs.append(model(x[start:min(start + batch_size, n)]))
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("predict: no inputs were given (empty data)")
    return ops.concat(outputs, axis=0) if len(outputs) > 1 else outputs[0]
