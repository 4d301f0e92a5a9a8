"""Full training checkpoints: model, optimizer, epoch, RNG state and history in one file."""
from __future__ import annotations

from ..random import get_rng_state, set_rng_state


def save_checkpoint(path, model, optimizer=None, epoch: int = 0, history=None, scheduler=None,
                    **extra):
    """Write everything needed to resume training exactly (atomic: temp file, then rename).

    Arrays are copied to the host; the live model and optimizer are not moved.
    """
    from .. import io
    state = {"format": "xpnet-checkpoint", "version": 1, "epoch": int(epoch),
             "model": model.state_dict(), "rng": get_rng_state()}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    if history is not None:
        state["history"] = history.to_dict()
    if extra:
        state["extra"] = extra
    io.save(state, path)
    return path


def load_checkpoint(path, model, optimizer=None, scheduler=None, device=None) -> dict:
    """Restore a checkpoint into ``model`` (and ``optimizer``) on their own devices.

    Returns the rest: ``{"epoch": ..., "history": History or None, "extra": {...}}``; the RNG
    state is restored too, so shuffling and dropout continue as if never interrupted.
    """
    from .. import io
    from .history import History
    state = io.load(path, device=device or model.device)
    if state.get("format") != "xpnet-checkpoint":
        raise ValueError(f"load_checkpoint: {path} is not an xpnet training checkpoint "
                         f"(use xpnet.load for a plain state dict)")
    model.load_state_dict(state["model"])
    if optimizer is not None:
        if "optimizer" not in state:
            raise KeyError(f"load_checkpoint: {path} holds no optimizer state")
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and "scheduler" in state:
        scheduler.load_state_dict(state["scheduler"])
    if "rng" in state:
        set_rng_state(state["rng"])
    history = History.from_dict(state["history"]) if "history" in state else None
    return {"epoch": int(state["epoch"]), "history": history, "extra": state.get("extra", {})}
