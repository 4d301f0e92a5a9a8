"""The recipes behind ``xpnet train RECIPE``: a registry, the run settings every recipe gets,
and the shared ending of a run (checkpoint, history.json, curves.png, a final line).

A recipe is a :class:`Recipe`: its name, a line about it, its defaults (epochs, batch size,
learning rate, schedule) and a ``train(run)`` function. ``run`` is a :class:`Run`: the checked
command-line settings, the output folder, and the resume plan. A recipe builds the model (from
:mod:`xpnet.models`), its data and optimizer, and trains with ``xpnet.fit`` through
:func:`fit_recipe` (a GAN with its own step, ``fit(..., step=...)``).
"""
from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Recipe", "Run", "Outcome", "RECIPES", "register", "fit_recipe", "cosine_schedule"]


@dataclass(frozen=True)
class Recipe:
    name: str
    about: str
    train: Callable              # train(run: Run) -> Outcome
    epochs: int
    batch_size: int
    lr: float
    schedule: str = "cosine"     # 'cosine' (to 0 at the last step) or 'constant'
    data: str = "mnist"          # the data set, for --data's help and the lookup message


@dataclass
class Run:
    """What a recipe is told: the settings after checks, where to write, how to resume."""

    recipe: Recipe
    device: str
    epochs: int
    batch_size: int
    lr: float
    schedule: str
    seed: int
    log_every: int
    quiet: bool
    data: str | None
    out: str
    limit: int | None = None
    resume: dict | None = None          # the loaded checkpoint, when resuming
    restart_schedule: bool = False      # extending a finished run: anneal again from lr
    world_size: int = 1                 # processes under mpiexec (--batch-size is per process)
    is_main_process: bool = True        # rank 0 prints and writes files
    saved_epoch: int | None = None      # the last epoch checkpointed in this run
    written: list = field(default_factory=list)

    @property
    def checkpoint(self) -> str:
        return os.path.join(self.out, "checkpoint.npz")

    @property
    def epochs_done(self) -> int:
        return int(self.resume["epoch"]) if self.resume else 0

    def settings(self) -> dict:
        """Recorded in every checkpoint, so that a resumed run can check it continues the same
        training (another recipe, lr, schedule, batch size or seed is refused)."""
        return {"recipe": self.recipe.name, "lr": self.lr, "schedule": self.schedule,
                "batch_size": self.batch_size, "seed": self.seed, "epochs": self.epochs,
                "limit": self.limit, "world_size": self.world_size}

    def say(self, message: str):
        if self.is_main_process:
            print(message, file=sys.stderr, flush=True)


@dataclass
class Outcome:
    line: str                            # the final summary line (stdout)
    code: int = 0                        # 0, or 1 when training stopped on a non-finite loss
    metrics: dict = field(default_factory=dict)


RECIPES: dict = {}


def register(recipe: Recipe) -> Recipe:
    RECIPES[recipe.name] = recipe
    return recipe


def cosine_schedule(run: Run, optimizer, steps_per_epoch: int):
    """The recipes' learning rate over the run: cosine annealing, step by step, from the lr to 0
    at the last step (the late, small steps settle the weights: with a constant lr the last
    epoch's noise costs mnist-cnn about 0.3% and the one-sample-per-step seed-cnn about 2% of
    test accuracy), or None for a constant lr.

    Resuming continues the saved schedule exactly; extending a finished run (``--epochs`` above
    what the checkpoint holds) anneals again from the lr to 0 over the added epochs (a warm
    restart), and :func:`xpnet.cli` says so before training.
    """
    from ..optim import CosineAnnealingLR
    if run.schedule != "cosine":
        return None
    remaining = run.epochs - (run.epochs_done if run.restart_schedule else 0)
    return CosineAnnealingLR(optimizer, T_max=max(1, remaining * steps_per_epoch))


def restore(run: Run, model, optimizer=None, scheduler=None):
    """Put the resumed checkpoint into the model (and optimizer and schedule, unless it
    restarts); the random state comes back too. Returns the History so far."""
    from ..random import set_rng_state
    from ..train import History
    state = run.resume
    if state is None:
        return History()
    model.load_state_dict(state["model"])
    if optimizer is not None and "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and "scheduler" in state and not run.restart_schedule:
        scheduler.load_state_dict(state["scheduler"])
    if run.restart_schedule:
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] = run.lr
    set_rng_state(state["rng"])
    return History.from_dict(state["history"]) if "history" in state else History()


def _saved_epochs(run: Run, checkpoint):
    """A callback noting the last epoch the checkpoint was written (for the final line and for
    Ctrl-C's message)."""
    from ..train import Callback

    class SavedEpochs(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if checkpoint.last_saved is not None and checkpoint.last_epoch == epoch:
                run.saved_epoch = epoch
    return SavedEpochs()


def fit_recipe(run: Run, model, optimizer, train, val, loss="cross_entropy",
               metrics=("accuracy",), scheduler=None, schedule_per="step", final=None,
               clip_grad_norm=None, step=None, checkpoint_extra=None, callbacks=()):
    """Train a recipe: resume, fit with a checkpoint per epoch, write history.json and
    curves.png, evaluate, and build the final line (``final(history) -> (line, metrics)`` may
    replace the accuracy line). ``step`` is fit's custom step; ``checkpoint_extra()`` returns
    more state for every checkpoint (a second optimizer's); ``callbacks`` run after the
    checkpoint's."""
    from ..train import ModelCheckpoint, evaluate, fit
    history = restore(run, model, optimizer, scheduler)
    epochs_before = len(history)
    settings = run.settings()
    extra = settings if checkpoint_extra is None else \
        (lambda: {**settings, **checkpoint_extra()})
    checkpoint = ModelCheckpoint(run.checkpoint, monitor="loss", extra=extra)
    history = fit(model, train, loss=loss, optimizer=optimizer, epochs=run.epochs, val=val,
                  metrics=metrics,
                  callbacks=[checkpoint, _saved_epochs(run, checkpoint), *callbacks],
                  scheduler=scheduler, schedule_per=schedule_per,
                  initial_epoch=run.epochs_done, history=history,
                  verbose=0 if run.quiet else "auto", log_every=run.log_every,
                  clip_grad_norm=clip_grad_norm, step=step)
    write_history(run, history, f"xpnet {run.recipe.name} on {run.device}")
    if history.stop_reason and not history.stop_reason.startswith("early"):
        return Outcome(f"training stopped: {history.stop_reason}; {written_note(run)}", 1)
    if final is not None:
        line, values = final(history)
    else:
        # the last epoch's validation is this model on this data: not evaluated a second time
        values = _last_validation(history, metrics) if len(history) > epochs_before else None
        if values is None:
            values = evaluate(model, val, loss=loss, metrics=metrics)
        per_epoch = history["time"][-1] if "time" in history and len(history) else math.nan
        line = (f"test accuracy {values['accuracy'] * 100:.2f}%  test loss {values['loss']:.4f}"
                f"  ({per_epoch:.1f}s per epoch on {run.device})")
    return Outcome(f"{line}; {written_note(run)}", 0, values)


def _last_validation(history, metrics) -> dict | None:
    """``{"loss": .., metric: ..}`` from the history's last epoch when it holds every one of
    them, measured on the validation data (what ``evaluate`` would give the same model), else
    None. Only for a run that ended normally: an early stop may have restored other weights."""
    if history.stop_reason or not all(isinstance(name, str) for name in metrics):
        return None
    values = {name: history.last("val_" + name) for name in ("loss", *metrics)}
    return None if any(math.isnan(v) for v in values.values()) else values


def write_history(run: Run, history, title: str):
    if not run.is_main_process:
        return
    path = os.path.join(run.out, "history.json")
    history.save(path)
    run.written.append("history.json")
    try:
        history.plot(os.path.join(run.out, "curves.png"), title=title)
        run.written.append("curves.png")
    except ImportError as exc:
        run.say(f"(no plot: {exc})")


def written_note(run: Run) -> str:
    """What the run really wrote, for the final line (never a checkpoint it did not write)."""
    parts = []
    if run.saved_epoch is not None:
        parts.append(f"checkpoint.npz (epoch {run.saved_epoch})")
    elif run.resume is not None:
        parts.append(f"no new checkpoint (the resumed one, epoch {run.epochs_done}, is kept)")
    else:
        parts.append("no checkpoint (no epoch finished with a finite loss)")
    parts += dict.fromkeys(run.written)   # a file rewritten (history.json, the plot) once
    return f"wrote {run.out}/: " + ", ".join(parts)


# the recipes register themselves on import
from . import mnist  # noqa: E402,F401
from . import char_transformer  # noqa: E402,F401
from . import generative  # noqa: E402,F401
