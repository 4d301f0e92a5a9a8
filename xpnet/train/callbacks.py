"""Callbacks for ``fit`` (Keras' names and arguments): the progress display, early stopping,
checkpointing, and callbacks from plain functions."""
from __future__ import annotations

import math
import os
import sys
import time

from ..checks import non_negative_int


class Callback:
    """Hooks called by ``fit``. ``self.trainer`` has ``model``, ``optimizer``, ``scheduler``,
    ``history``, ``epoch``, ``epochs``, ``steps_per_epoch`` and ``stop_training`` (set it to
    True to end training after this epoch). ``logs`` are Python floats."""

    trainer = None

    def set_trainer(self, trainer):
        self.trainer = trainer

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_batch_end(self, step, logs=None):
        """After each training step; ``logs`` hold the running means only at a log interval
        (the one time the loss is read back from the device), else they are None."""

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


def _format(logs, skip=("time", "lr", "samples_per_s")):
    return " ".join(f"{k}={v:.4f}" for k, v in logs.items() if k not in skip)


class ProgbarLogger(Callback):
    """The progress display, as Keras' ``ProgbarLogger``.

    On a terminal, a tqdm bar per epoch with the running loss and speed. Otherwise (a log file,
    CI, a pipe) plain lines, ``lines_per_epoch`` times per epoch at log intervals and one per
    epoch, so a long epoch is never silent. ``fit`` adds one unless ``verbose=0``.
    """

    def __init__(self, bar: bool | None = None, lines_per_epoch: int = 4, stream=None):
        self.stream = stream or sys.stderr
        self.bar = self.stream.isatty() if bar is None else bar
        self.lines_per_epoch = lines_per_epoch

    def on_epoch_begin(self, epoch, logs=None):
        t = self.trainer
        self.started, self.last_line = time.perf_counter(), 0
        self.progress = None
        if self.bar:
            from tqdm.auto import tqdm
            self.progress = tqdm(total=t.steps_per_epoch, desc=f"epoch {epoch}/{t.epochs}",
                                 unit="batch", leave=True, dynamic_ncols=True, file=self.stream)

    def on_batch_end(self, step, logs=None):
        if self.progress is not None:
            self.progress.update(1)
        if logs is None:
            return
        rate = self.trainer.samples_seen / max(time.perf_counter() - self.started, 1e-9)
        if self.progress is not None:
            self.progress.set_postfix({**{k: f"{v:.4f}" for k, v in logs.items()},
                                       "samples/s": f"{rate:,.0f}"})
            return
        every = max(1, self.trainer.steps_per_epoch // max(self.lines_per_epoch, 1))
        if step - self.last_line >= every and step < self.trainer.steps_per_epoch:
            self.last_line = step
            t = self.trainer
            print(f"epoch {t.epoch}/{t.epochs} step {step}/{t.steps_per_epoch} {_format(logs)} "
                  f"({rate:,.0f} samples/s)", file=self.stream, flush=True)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.progress is not None:
            self.progress.set_postfix({k: f"{v:.4f}" for k, v in logs.items()
                                       if k not in ("time", "samples_per_s", "lr")})
            self.progress.close()
            return
        print(f"epoch {epoch}/{self.trainer.epochs} {_format(logs)} "
              f"time={logs.get('time', math.nan):.1f}s", file=self.stream, flush=True)

    def on_train_end(self, logs=None):
        reason = self.trainer.history.stop_reason
        if reason:
            print(f"xpnet.fit: {reason}", file=self.stream, flush=True)


def _mode(owner, mode, monitor):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.endswith("accuracy")) else "min"
    return mode


def _needs_validation(owner, key, trainer):
    if key.startswith("val_") and not trainer.has_validation:
        raise ValueError(f"{owner}: {key!r} is only logged with validation data; pass val= to "
                         f"fit, or monitor {key[4:]!r}")


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights`` the model gets the weights of its best epoch back at the end.
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto",
                 restore_best_weights=False):
        patience = non_negative_int("EarlyStopping", "patience", patience)
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(min_delta)
        self.mode = _mode("EarlyStopping", mode, monitor)
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, logs=None):
        _needs_validation("EarlyStopping", self.monitor, self.trainer)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait, self.best_epoch, self.best_state, self.stopped_epoch = 0, None, None, None

    def _improved(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise KeyError(f"EarlyStopping: monitor {self.monitor!r} is not among the logs "
                           f"{sorted(logs or {})}")
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_state = {k: v.numpy().copy()
                                   for k, v in self.trainer.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait > self.patience:
            self.trainer.stop_training = True
            self.stopped_epoch = epoch
            self.trainer.history.stop_reason = (
                f"early stopping: {self.monitor} did not improve for {self.patience + 1} epochs "
                f"(best {self.best:.4g} at epoch {self.best_epoch})")

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_state is not None:
            self.trainer.model.load_state_dict(self.best_state)


class ModelCheckpoint(Callback):
    """Save a full checkpoint (model, optimizer, scheduler after its step, epoch, every random
    state, history) at the end of epochs.

    ``path`` may contain ``{epoch}`` and log keys (``"ckpt-{epoch:02d}-{val_loss:.3f}.npz"``).
    With ``save_best_only`` a file is written only when ``monitor`` improves. A checkpoint is
    never written for an epoch whose loss is not finite, so the last good one stays intact.
    ``last_saved`` and ``last_epoch`` say what was written last (None before the first);
    ``extra`` (plain data, or a function returning it, called at each save) is stored in every
    file, e.g. the settings of the run, or a second optimizer's state.
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto", extra=None):
        self.path, self.monitor, self.save_best_only = os.fspath(path), monitor, save_best_only
        self.mode = _mode("ModelCheckpoint", mode, monitor)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.extra = extra if callable(extra) else dict(extra or {})
        self.last_saved = self.last_epoch = None

    def on_train_begin(self, logs=None):
        if self.save_best_only:
            _needs_validation("ModelCheckpoint", self.monitor, self.trainer)
        # a path that names log keys fit will never log fails now, not after the first epoch
        import string
        for _, field, _, _ in string.Formatter().parse(self.path):
            if field and field != "epoch":
                _needs_validation("ModelCheckpoint", field.split(".")[0].split("[")[0],
                                  self.trainer)

    def on_epoch_end(self, epoch, logs=None):
        from .checkpoint import save_checkpoint
        from .metrics import is_finite
        logs = logs or {}
        if not is_finite(logs) or not self.trainer.is_main_process:
            return
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                raise KeyError(f"ModelCheckpoint: monitor {self.monitor!r} is not among the logs "
                               f"{sorted(logs)}")
            better = value < self.best if self.mode == "min" else value > self.best
            if not better:
                return
            self.best = value
        try:
            path = self.path.format(epoch=epoch, **logs)
        except KeyError as exc:
            raise KeyError(f"ModelCheckpoint: the path {self.path!r} names {exc}, which is not "
                           f"among the logs {sorted(logs)}") from None
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        t = self.trainer
        extra = self.extra() if callable(self.extra) else self.extra
        save_checkpoint(path, t.model, t.optimizer, epoch=epoch, history=t.history,
                        scheduler=t.scheduler, **extra)
        self.last_saved, self.last_epoch = path, epoch


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda e, logs: ...)``."""

    def __init__(self, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_batch_end=None):
        self._epoch_end, self._begin, self._end = on_epoch_end, on_train_begin, on_train_end
        self._batch_end = on_batch_end

    def on_train_begin(self, logs=None):
        if self._begin:
            self._begin(logs)

    def on_batch_end(self, step, logs=None):
        if self._batch_end:
            self._batch_end(step, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self._epoch_end:
            self._epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        if self._end:
            self._end(logs)
