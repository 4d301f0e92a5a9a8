"""Handles for registered hooks (PyTorch's ``torch.utils.hooks.RemovableHandle``)."""
from __future__ import annotations

import itertools
import weakref

__all__ = ["RemovableHandle"]

_ids = itertools.count()


class RemovableHandle:
    """What registering a hook returns: ``handle.remove()`` unregisters it.

    Also a context manager, so a hook can be active for one block only::

        with model.register_forward_hook(record):
            model(x)
    """

    __slots__ = ("id", "_table", "__weakref__")

    def __init__(self, table):
        """``table``: the OrderedDict the hook was put in, under ``handle.id``."""
        self.id = next(_ids)
        # weak: a handle kept by the user must not keep a deleted module's hooks alive
        self._table = weakref.ref(table)

    def remove(self) -> None:
        """Unregister the hook (a second call does nothing)."""
        table = self._table()
        if table is not None:
            table.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def __repr__(self):
        return f"RemovableHandle(id={self.id})"

