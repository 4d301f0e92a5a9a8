"""Boolean settings that are stored and type-checked but change nothing (see
:mod:`xpnet.backends`)."""
from __future__ import annotations

import types


class Knobs(types.ModuleType):
    """A module whose boolean settings (``_KNOBS``) only accept bools."""

    def __setattr__(self, name, value):
        if name in self.__dict__.get("_KNOBS", ()) and not isinstance(value, bool):
            raise TypeError(f"{self.__name__}.{name} must be True "
                            f"or False, got {type(value).__name__} {value!r}")
        super().__setattr__(name, value)


class Flags:
    """An object of boolean settings (``torch.backends.cuda.matmul``)."""

    def __init__(self, path: str, **knobs):
        object.__setattr__(self, "_path", path)
        for name, value in knobs.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        if name in self.__dict__ and not isinstance(value, bool):
            raise TypeError(f"{self._path}.{name} must be True or False, got "
                            f"{type(value).__name__} {value!r}")
        object.__setattr__(self, name, value)

    def __repr__(self):
        knobs = ", ".join(f"{k}={v}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"<{self._path}: {knobs}>"
