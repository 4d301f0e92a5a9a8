"""Optimizer base: parameter groups, per-parameter state, state dicts, device moves."""
from __future__ import annotations

import functools
import inspect
import numbers

from .. import backend as _backend
from ..autograd import Tensor, enable_grad
from ..checks import describe, number


def _check(name, cond, message):
    """A ValueError ``"<name>: <message>"`` unless ``cond`` (what the optimizers' ``validate``
    use for the relations between settings; single values go through :mod:`xpnet.checks`)."""
    if not cond:
        raise ValueError(f"{name}: {message}")


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@functools.lru_cache(maxsize=None)
def _signature_defaults(cls) -> dict:
    """The defaults of an optimizer class's constructor (``self.defaults`` holds what the user
    passed, so it cannot say what type a setting should have)."""
    return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


# The contract of every update kernel: ``step(xp, p, g, *state, *coefficients, decay)``
# updates ``p`` and the state arrays IN PLACE and returns nothing (a fused CuPy kernel then writes
# them straight to memory, with no output copy); ``g`` is never written to (autograd may share it).
# The last argument is the weight decay term, read only by the ``with_l2`` / decoupled variants
# that an optimizer picks when its weight_decay is not 0; every coefficient is a Python float
# computed on the host (no arithmetic between two numbers inside a kernel: CuPy would type it
# float16).


def with_l2(step):
    """``step`` taken on ``g + decay·p`` (PyTorch's ``weight_decay``: an L2 penalty folded into
    the gradient, read before ``p`` changes); fused with the step, it costs no extra launch."""
    def update(xp, p, grad, *rest):
        step(xp, p, grad + rest[-1] * p, *rest)
    update.__name__ = update.__qualname__ = f"{step.__name__}_l2"
    return update


class Optimizer:
    """Base class, shaped like PyTorch's.

    Args:
        params: an iterable of Parameters, or of dicts ``{"params": [...], "lr": ...}``
            (parameter groups with their own hyperparameters).
        defaults: hyperparameters used where a group gives none.

    Per-parameter state (momentum buffers, Adam moments) lives on the parameter's device as raw
    arrays; if a parameter moves (``model.to(...)``), its state follows at the next ``step()``.
    ``step()`` never reads a value back to the host.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict[int, dict] = {}   # keyed by id(parameter)
        if isinstance(params, Tensor) or not hasattr(params, "__iter__"):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Parameters or "
                            f"of dicts (parameter groups), got {type(params).__name__}; pass "
                            f"model.parameters() or [tensor]")
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list; pass "
                             f"model.parameters()")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    @property
    def name(self):
        return type(self).__name__

    def add_param_group(self, group: dict):
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{self.name}: a parameter group must be a dict with 'params', got "
                            f"{type(group).__name__}")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{self.name}: parameters must be Tensors (model.parameters()), "
                                f"got {type(p).__name__}")
            # frozen parameters are accepted (their grad stays None, so step() skips them)
            if not p.is_leaf:
                raise ValueError(f"{self.name}: can't optimize a non-leaf Tensor (the result of "
                                 f"an op); optimize the leaves it was computed from")
            if id(p) in seen:
                raise ValueError(f"{self.name}: optimizer got a parameter twice")
            seen.add(id(p))
        full = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}}
        self.validate(full)
        full["params"] = params
        self.param_groups.append(full)

    def validate(self, group: dict):
        """Check a group's hyperparameters (subclasses extend, after calling this).

        Every setting whose default in the constructor's signature is a number must be a number,
        and one whose default is a tuple of numbers (Adam's ``betas``) a tuple of as many
        numbers, so that a subclass compares numbers only; ``lr``, ``weight_decay`` and ``eps``
        must be >= 0."""
        for key in ("lr", "weight_decay", "eps"):
            if key in group or key == "lr":
                number(self.name, key, group.get(key), minimum=0)
        for key, default in _signature_defaults(type(self)).items():
            if key not in group:
                continue
            value = group[key]
            if _is_number(default):
                number(self.name, key, value)
            elif isinstance(default, tuple) and default and all(map(_is_number, default)) and \
                    not (isinstance(value, tuple) and len(value) == len(default)
                         and all(map(_is_number, value))):
                raise TypeError(f"{self.name}: {key} must be a tuple of {len(default)} numbers, "
                                f"got {describe(value)}")

    # -- the update ---------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True):
        """Drop every gradient (``p.grad = None``), so the next backward starts afresh.

        ``set_to_none=False`` puts new zero arrays there instead (never zeroing in place: one
        gradient array may be shared by several parameters)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None or set_to_none:
                    p.grad = None
                else:
                    p.grad = Tensor.from_array(p.xp.zeros_like(p.grad.array),
                                               device=p.grad.backend)

    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` (optional) re-evaluates the
        model and returns the loss, which is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.get(id(p))
                with p.backend.scope():
                    if state is None:
                        state = self.state[id(p)] = {"step": 0, "_backend": p.backend}
                        self.init_state(p, state, group)
                    elif state["_backend"] is not p.backend:   # model.to(...) since last step
                        self._move_state(state, p.backend)
                    state["step"] += 1
                    self.update(p, p.grad.array, state, group)
        return loss

    def init_state(self, p, state, group):
        """Create the per-parameter buffers (zeros on p's device)."""

    def update(self, p, grad, state, group):
        """Update ``p.array`` and the state arrays in place with one fused kernel call (the
        contract above); ``grad`` is read only. Must not read values back to the host."""
        raise NotImplementedError

    # -- state dicts and devices ----------------------------------------------------------------
    def _all_params(self):
        return [p for g in self.param_groups for p in g["params"]]

    @staticmethod
    def _move_state(state, backend):
        for key, value in state.items():
            if _backend.is_array(value):
                state[key] = backend.asarray(_backend.to_numpy(value))
        state["_backend"] = backend

    def to(self, device):
        """Move every state buffer to ``device`` (``step()`` also does this lazily)."""
        backend = _backend.resolve(device)
        for state in self.state.values():
            self._move_state(state, backend)
        return self

    def state_dict(self) -> dict:
        """``{"state": {index: {name: Tensor | number}}, "param_groups": [...]}`` as PyTorch,
        parameters numbered over all groups in order."""
        index = {id(p): i for i, p in enumerate(self._all_params())}
        state = {}
        for pid, s in self.state.items():
            if pid not in index:
                continue
            state[index[pid]] = {k: (Tensor.from_array(v) if _backend.is_array(v) else v)
                                 for k, v in s.items() if not k.startswith("_")}
        groups = []
        for g in self.param_groups:
            entry = {k: v for k, v in g.items() if k != "params"}
            entry["params"] = [index[id(p)] for p in g["params"]]
            groups.append(entry)
        return {"state": state, "param_groups": groups}

    def state_names(self, group: dict) -> tuple:
        """The per-parameter buffers a step keeps under ``group``'s settings (checked on load)."""
        return ()

    def load_state_dict(self, state_dict: dict):
        """Restore hyperparameters and buffers; arrays go to each parameter's device.

        Everything is checked before anything changes: the groups, that the settings are this
        optimizer's (an SGD state does not load into Adam), and each buffer's name and shape.
        """
        name = f"{self.name}.load_state_dict"
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError(f"{name}: expected a dict with 'state' and 'param_groups' (what "
                             f"optimizer.state_dict() returns), got {type(state_dict).__name__}")
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
            raise ValueError(f"{name}: the saved parameter groups "
                             f"({[len(g['params']) for g in groups]} parameters) do not match "
                             f"this optimizer's ({[len(g['params']) for g in self.param_groups]})")
        ours = set(self.defaults)
        for saved in groups:
            theirs = set(saved) - {"params", "initial_lr"}
            if theirs != ours:
                raise ValueError(f"{name}: the saved settings {sorted(theirs)} are not "
                                 f"{self.name}'s {sorted(ours)}; was the state saved from "
                                 f"another optimizer?")
        params = self._all_params()
        new_state = {}
        for key, saved in state_dict["state"].items():
            if not 0 <= int(key) < len(params):
                raise ValueError(f"{name}: the saved state names parameter {key}, but there are "
                                 f"{len(params)}")
            p = params[int(key)]
            group = next(g for g in groups if int(key) in [int(i) for i in g["params"]])
            expected = set(self.state_names({**self.defaults, **group}))
            buffers = {k for k, v in saved.items() if isinstance(v, Tensor) or
                       _backend.is_array(v)}
            if not expected <= buffers:
                raise ValueError(f"{name}: the saved state of parameter {key} holds "
                                 f"{sorted(buffers)}, not {self.name}'s {sorted(expected)}; was "
                                 f"it saved from another optimizer?")
            state = {}
            for buffer, value in saved.items():
                if buffer in buffers:
                    host = value.numpy() if isinstance(value, Tensor) else _backend.to_numpy(value)
                    if tuple(host.shape) != p.shape and tuple(host.shape) != ():
                        raise ValueError(f"{name}: state {buffer!r} of parameter {key} has shape "
                                         f"{tuple(host.shape)}, expected {p.shape}")
                    # asarray copies: the state is updated in place, which must not reach the source
                    value = p.backend.asarray(host, _backend.dtype_name(p.dtype))
                state[buffer] = value
            state["step"] = int(state.get("step", 0))
            state["_backend"] = p.backend
            new_state[id(p)] = state
        for saved, group in zip(groups, self.param_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state = new_state

    def __repr__(self):
        lines = [f"{self.name} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in g.items() if k != "params"]
        return "\n".join(lines) + "\n)"
