"""Callbacks for ``fit``: early stopping and checkpointing (Keras' names and arguments)."""
from __future__ import annotations

import math
import os


class Callback:
    """Hooks called by ``fit``. ``self.trainer`` has ``model``, ``optimizer``, ``history``,
    ``epoch`` and ``stop_training`` (set it to True to end training after this epoch)."""

    trainer = None

    def set_trainer(self, trainer):
        self.trainer = trainer

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


def _better(mode, monitor):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.endswith("accuracy")) else "min"
    return mode


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights`` the model gets the weights of its best epoch back at the end.
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto",
                 restore_best_weights=False):
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(min_delta)
        self.mode = _better(mode, monitor)
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, logs=None):
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
                           f"{sorted(logs or {})}; pass val= to fit or monitor 'loss'")
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
    """Save a full checkpoint (model, optimizer, epoch, RNG, history) at the end of epochs.

    ``path`` may contain ``{epoch}`` and log keys (``"ckpt-{epoch:02d}-{val_loss:.3f}.npz"``).
    With ``save_best_only`` a file is written only when ``monitor`` improves. A checkpoint is
    never written for an epoch whose loss is not finite, so the last good one stays intact.
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto"):
        self.path, self.monitor, self.save_best_only = str(path), monitor, save_best_only
        self.mode = _better(mode, monitor)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.last_saved = None

    def on_epoch_end(self, epoch, logs=None):
        from .checkpoint import save_checkpoint
        logs = logs or {}
        if not all(math.isfinite(v) for k, v in logs.items() if k.endswith("loss")):
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
        path = self.path.format(epoch=epoch, **logs)
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        t = self.trainer
        save_checkpoint(path, t.model, t.optimizer, epoch=epoch, history=t.history,
                        scheduler=t.scheduler)
        self.last_saved = path


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda e, logs: ...)``."""

    def __init__(self, on_epoch_end=None, on_train_begin=None, on_train_end=None):
        self._epoch_end, self._begin, self._end = on_epoch_end, on_train_begin, on_train_end

    def on_train_begin(self, logs=None):
        if self._begin:
            self._begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        if self._epoch_end:
            self._epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        if self._end:
            self._end(logs)
