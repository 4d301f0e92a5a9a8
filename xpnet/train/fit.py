"""fit / evaluate / predict: Keras' entry points over the Trainer loop (``trainer.py``)."""
from __future__ import annotations

import numbers

from .. import ops
from ..autograd import Tensor, no_grad
from ..nn import Module
from ..optim import Optimizer
from ..optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from .callbacks import Callback, ProgbarLogger
from .history import History
from .metrics import concat_outputs, metric_functions
from .trainer import Trainer, run_evaluation
from ..checks import named_or_callable, non_negative_int, positive_int
from .world import _several_processes, training_world, world_loader

_LOSSES = {
    "cross_entropy": ops.cross_entropy, "mse": ops.mse_loss, "mse_loss": ops.mse_loss,
    "bce": ops.binary_cross_entropy, "binary_cross_entropy": ops.binary_cross_entropy,
    "bce_with_logits": ops.binary_cross_entropy_with_logits,
    "binary_cross_entropy_with_logits": ops.binary_cross_entropy_with_logits,
    "nll": ops.nll_loss, "nll_loss": ops.nll_loss,
}


def _loss_fn(owner, loss):
    return named_or_callable(owner, "loss", loss, _LOSSES)


def _threshold(loss) -> float:
    """Binary accuracy thresholds probabilities at 0.5 and logits at 0."""
    name = loss if isinstance(loss, str) else type(loss).__name__
    probabilities = name in ("bce", "binary_cross_entropy", "BCELoss") or \
        loss is ops.binary_cross_entropy
    return 0.5 if probabilities else 0.0


def _is_loader(data) -> bool:
    """Anything that iterates over (inputs, targets) batches and has a length (a wrapper of a
    DataLoader, for instance): not an array, a Tensor, a pair or a string."""
    from ..backend import is_array
    return (hasattr(data, "__iter__") and hasattr(data, "__len__") and not is_array(data)
            and not isinstance(data, (Tensor, tuple, list, str, bytes, dict)))


def _as_loader(owner, data, batch_size, shuffle, device, seed=None, evaluation=False):
    from ..data import ArrayDataset, DataLoader
    if isinstance(data, DataLoader) or _is_loader(data):
        if _several_processes() and getattr(data, "sampler", None) is None:
            import warnings
            warnings.warn(f"{owner}: every process iterates the whole DataLoader; give it a "
                          f"sampler=DistributedSampler(...) (training) or shard(...) "
                          f"(evaluation) to split the data", RuntimeWarning, stacklevel=3)
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return world_loader(ArrayDataset(*data), batch_size, shuffle=shuffle, seed=seed,
                            device=device, evaluation=evaluation)
    raise TypeError(f"{owner}: data must be a DataLoader or an (inputs, targets) pair, got "
                    f"{type(data).__name__}")


def _check_optimizer(model, optimizer, scheduler):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"fit: optimizer must be an xpnet.optim optimizer, got "
                        f"{type(optimizer).__name__}")
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if not any(id(p) in held for p in model.parameters()):
        raise ValueError("fit: the optimizer holds none of the model's parameters; build it "
                         "from this model, e.g. optim.Adam(model.parameters())")
    if scheduler is not None:
        if not isinstance(scheduler, (LRScheduler, ReduceLROnPlateau)):
            raise TypeError(f"fit: scheduler must be an xpnet.optim.lr_scheduler scheduler, got "
                            f"{type(scheduler).__name__}")
        if scheduler.optimizer is not optimizer:
            raise ValueError("fit: the scheduler drives another optimizer than the one given")


def fit(model, train, *, loss=None, optimizer, epochs: int = 1, val=None, metrics=("accuracy",),
        callbacks=(), batch_size: int = 32, shuffle: bool = True, scheduler=None,
        schedule_per: str = "epoch", seed=None, initial_epoch: int = 0,
        history: History | None = None, log_every: int = 50, clip_grad_norm: float | None = None,
        verbose="auto", step=None) -> History:
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
        scheduler: an LR scheduler, stepped once per epoch before the epoch's callbacks
            (ReduceLROnPlateau gets val_loss, else loss) or, with ``schedule_per="step"``, after
            every optimizer step.
        initial_epoch: epochs already done (when resuming); training runs to ``epochs``.
        log_every: steps between reads of the loss (progress display and NaN check).
        clip_grad_norm: rescale the gradients to this global 2-norm before each update.
        verbose: 'auto' (a tqdm bar on a terminal, a few plain lines per epoch otherwise), 1 or
            2 (likewise), 0 (silent).
        step: a custom update for models that are not trained by forward, loss, backward and
            one optimizer step (a GAN): ``step(trainer, x, y)`` makes the update and returns a
            1-D device Tensor of statistics named by ``step.names``; their per-step means are
            the training logs (``loss`` and ``metrics`` then serve ``val`` only). See
            :class:`~xpnet.train.Trainer`.

    A non-finite loss stops training with a message in ``history.stop_reason``; that epoch is
    not checkpointed, so the last good checkpoint stays intact. Under ``mpiexec`` with
    ``xpnet.distributed`` initialised, each process trains on its shard and the gradients are
    averaged (see :mod:`xpnet.distributed`).

    >>> X, y = xpnet.data.make_circles(64, seed=0)
    >>> model = xpnet.nn.Sequential(xpnet.nn.Linear(2, 8), xpnet.nn.Tanh(), xpnet.nn.Linear(8, 2))
    >>> history = fit(model, (X, y), loss="cross_entropy", epochs=2, verbose=0,
    ...               optimizer=xpnet.optim.Adam(model.parameters(), lr=0.01))
    >>> history.epochs
    [1, 2]
    """
    if not isinstance(model, Module):
        raise TypeError(f"fit: model must be an xpnet.nn.Module, got {type(model).__name__}")
    epochs = positive_int("fit", "epochs", epochs)
    initial_epoch = non_negative_int("fit", "initial_epoch", initial_epoch)
    log_every = positive_int("fit", "log_every", log_every)
    if schedule_per not in ("epoch", "step"):
        raise ValueError(f"fit: schedule_per must be 'epoch' or 'step', got {schedule_per!r}")
    if verbose not in ("auto", 0, 1, 2, True, False):
        raise ValueError(f"fit: verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    if clip_grad_norm is not None and not (isinstance(clip_grad_norm, numbers.Real)
                                           and clip_grad_norm > 0):
        raise ValueError(f"fit: clip_grad_norm must be a positive number, got {clip_grad_norm!r}")
    _check_optimizer(model, optimizer, scheduler)
    if step is None and loss is None:
        raise TypeError("fit: loss must be given (a name such as 'cross_entropy' or a callable), "
                        "or a step= that makes the whole update")
    if step is not None:
        _check_step(step)
    loss_fn = _loss_fn("fit", loss) if loss is not None else None
    metric_fns = metric_functions("fit", metrics)
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"fit: callbacks must be Callback instances, got {type(cb).__name__}")
    world = training_world()
    device = model.device
    train_loader = _as_loader("fit", train, batch_size, shuffle, device, seed)
    if len(train_loader.dataset) == 0:
        raise ValueError("fit: the training data holds no samples")
    val_loader = _as_loader("fit", val, max(batch_size, 256), False, device, evaluation=True) \
        if val is not None else None
    if verbose not in (0, False) and world.is_main_process and not any(
            isinstance(cb, ProgbarLogger) for cb in callbacks):
        callbacks.insert(0, ProgbarLogger(bar=None if verbose == "auto" else False))
    trainer = Trainer(model, optimizer, loss_fn, train_loader, val_loader, metric_fns,
                      _threshold(loss), epochs, initial_epoch, history, scheduler, schedule_per,
                      log_every, clip_grad_norm, callbacks, world, step)
    for cb in callbacks:
        cb.set_trainer(trainer)
    return trainer.run()


def _check_step(step):
    names = getattr(step, "names", None)
    if not callable(step) or not names or not all(isinstance(n, str) for n in names):
        raise TypeError(f"fit: step must be a callable step(trainer, x, y) with a non-empty "
                        f"'names' (the statistics it returns), got {type(step).__name__}")


def evaluate(model, data, loss=None, metrics=("accuracy",), batch_size: int = 256) -> dict:
    """Loss (if given) and metrics over ``data`` in eval mode, without gradients.

    >>> X, y = xpnet.data.make_circles(32, seed=0)
    >>> model = xpnet.nn.Linear(2, 2)
    >>> sorted(evaluate(model, (X, y), loss="cross_entropy"))
    ['accuracy', 'loss']
    """
    loader = _as_loader("evaluate", data, batch_size, False, model.device, evaluation=True)
    if len(loader.dataset) == 0:
        raise ValueError("evaluate: the data holds no samples")
    loss_fn = _loss_fn("evaluate", loss) if loss is not None else None
    threshold = _threshold(loss) if loss is not None else 0.0
    return run_evaluation(model, loader, loss_fn, metric_functions("evaluate", metrics),
                          threshold, reduce=training_world().reduce)


def predict(model, data, batch_size: int = 256) -> Tensor:
    """Model outputs for ``data`` (a Tensor, an array, or a DataLoader), in eval mode,
    concatenated on the model's device.

    >>> predict(xpnet.nn.Linear(2, 3), xpnet.zeros(5, 2)).shape
    (5, 3)
    """
    from ..data import DataLoader
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with no_grad():
            if isinstance(data, DataLoader):
                for batch in data:
                    outputs.append(model(batch[0] if isinstance(batch, tuple) else batch))
            else:
                x = data if isinstance(data, Tensor) else Tensor(data, device=model.device)
                n = x.shape[0]
                for start in range(0, n, batch_size):
                    outputs.append(model(x[start:min(start + batch_size, n)]))
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("predict: no inputs were given (empty data)")
    return concat_outputs(outputs)
