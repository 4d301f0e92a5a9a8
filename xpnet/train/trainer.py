"""The training loop behind ``fit``: one Trainer, a function per epoch, a function per step.

No host synchronisation inside a step: the loss and metric sums stay on the device and are read
back once per ``log_every`` steps (for the display and the NaN guard) and once per epoch.

A model whose update is not forward, loss, backward, step (a GAN's two players) brings its own
step function (``fit(..., step=...)``, see :class:`Trainer`); everything else (epochs,
schedules, logs, the NaN guard, callbacks, checkpoints, the world) stays the Trainer's.
"""
from __future__ import annotations

import math
import time

from ..autograd import no_grad
from ..cpu import memory as host_memory
from ..optim import clip_grad_norm_
from ..optim.lr_scheduler import ReduceLROnPlateau
from .history import History
from .metrics import RunningSums, StepMeans, is_finite


class Trainer:
    """What callbacks see: ``model``, ``optimizer``, ``scheduler``, ``history``, ``epoch``,
    ``epochs``, ``steps_per_epoch``, ``samples_seen``, ``stop_training``, ``has_validation``,
    ``world``.

    ``custom_step``, when given, replaces :meth:`step`: ``custom_step(trainer, x, y)`` makes the
    whole update (its gradients averaged by ``trainer.world.average_gradients``) and returns a
    1-D device Tensor of statistics (per-step means, e.g. losses), which ``custom_step.names``
    names in order (or maps name -> index, so one value may be logged under two names). Their
    means over the steps are the epoch's training logs; the scheduler still steps here.
    """

    def __init__(self, model, optimizer, loss_fn, train_loader, val_loader, metric_fns,
                 threshold, epochs, initial_epoch, history, scheduler, schedule_per, log_every,
                 clip_grad_norm, callbacks, world, custom_step=None):
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.train_loader, self.val_loader = train_loader, val_loader
        self.metric_fns, self.threshold = metric_fns, threshold
        self.epochs, self.initial_epoch = epochs, initial_epoch
        self.history = history if history is not None else History()
        self.scheduler, self.schedule_per, self.log_every = scheduler, schedule_per, log_every
        self.clip_grad_norm, self.callbacks, self.world = clip_grad_norm, callbacks, world
        self.custom_step = custom_step
        self.epoch, self.samples_seen, self.stop_training = initial_epoch, 0, False
        self.steps_per_epoch = len(train_loader)
        self.has_validation = val_loader is not None
        self.is_main_process = world.is_main_process

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> History:
        self.world.start(self.model)
        self._call("on_train_begin")
        for epoch in range(self.initial_epoch + 1, self.epochs + 1):
            self.epoch = epoch
            self._call("on_epoch_begin", epoch)
            logs = self.train_epoch(epoch)
            if logs is None:       # a non-finite loss: stop_reason says why
                break
            self._call("on_epoch_end", epoch, logs)
            self.world.barrier()       # rank 0 has written its checkpoint before others go on
            if self.stop_training:
                break
        self._call("on_train_end")
        self.world.barrier()
        return self.history

    def train_epoch(self, epoch):
        """One pass over the training data, validation, the epoch's scheduler step, history;
        returns the epoch's logs, or None when the loss stopped being finite."""
        if hasattr(self.train_loader, "set_epoch"):
            self.train_loader.set_epoch(epoch - 1)  # the shuffle of a resumed run continues exactly
        self.model.train()
        custom = self.custom_step
        sums = RunningSums(self.metric_fns, self.threshold) if custom is None else \
            StepMeans(custom.names)
        started = time.perf_counter()
        self.samples_seen = 0
        finite = True
        for step, (x, y) in enumerate(self.train_loader, start=1):
            if custom is None:
                output, loss = self.step(x, y)
                sums.add(loss, output, y, x.shape[0])
            else:
                sums.add(custom(self, x, y))
                self.step_scheduler_per_step()
            self.samples_seen += x.shape[0]
            logs = None
            if step % self.log_every == 0:
                logs = sums.read(reduce=self.world.reduce)     # the only sync inside the epoch
                finite = is_finite(logs)
            self._call("on_batch_end", step, logs)
            if not finite:
                break
        logs = sums.read(reduce=self.world.reduce)
        elapsed = time.perf_counter() - started
        logs["samples_per_s"] = self.samples_seen / elapsed if elapsed > 0 else math.nan
        logs["time"] = elapsed
        logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
        if not (finite and is_finite(logs)):
            self.history.append(epoch, logs)
            self.history.stop_reason = (
                f"the loss became {logs.get('loss')} in epoch {epoch}; training stopped (lower "
                f"the learning rate, check the inputs); no checkpoint was written for this epoch")
            return None
        if self.val_loader is not None:
            self.world.synchronize_buffers(self.model)
            logs.update(run_evaluation(self.model, self.val_loader, self.loss_fn,
                                       self.metric_fns, self.threshold, "val_",
                                       self.world.reduce))
        self.step_scheduler_per_epoch(logs)
        self.history.append(epoch, logs)
        return logs

    def step(self, x, y):
        """One training step: forward, loss, backward, (gradient averaging, clipping), update."""
        output = self.model(x)
        loss = self.loss_fn(output, y)
        self.optimizer.zero_grad()
        loss.backward()
        self.world.average_gradients(self.model)
        if self.clip_grad_norm is not None:
            clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        self.optimizer.step()
        self.step_scheduler_per_step()
        return output, loss

    def step_scheduler_per_step(self):
        if self.scheduler is not None and self.schedule_per == "step":
            self.scheduler.step()

    def step_scheduler_per_epoch(self, logs):
        """Before the epoch's callbacks, so that a checkpoint holds the schedule after its step
        and a resumed run continues on time."""
        if self.scheduler is None or self.schedule_per != "epoch":
            return
        if isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step(logs.get("val_loss", logs["loss"]))
        else:
            self.scheduler.step()

    def _call(self, hook, *args):
        for cb in self.callbacks:
            getattr(cb, hook)(*args)


def run_evaluation(model, loader, loss_fn, metric_fns, threshold, prefix="", reduce=None):
    """Loss (when ``loss_fn`` is given) and metrics over ``loader`` in eval mode, no gradients."""
    was_training = model.training
    model.eval()
    sums = RunningSums(metric_fns, threshold)
    host_memory.empty_cache()      # the training step's kept arrays: other shapes than these
    try:
        with no_grad():
            for x, y in loader:
                output = model(x)
                sums.add(loss_fn(output, y) if loss_fn is not None else None, output, y,
                         x.shape[0])
    finally:
        model.train(was_training)
        host_memory.empty_cache()  # this pass's, which training would carry along unused
    return sums.read(prefix, reduce)
