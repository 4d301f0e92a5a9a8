"""PyTorch's ``torch.utils`` paths: :mod:`xpnet.utils.data` (datasets, samplers, the
DataLoader) and :mod:`xpnet.utils.hooks` (``RemovableHandle``).

The submodules load on first use, so importing :mod:`xpnet.utils.hooks` from the module
layer does not pull in the data layer.
"""
import importlib

__all__ = ["data", "hooks"]


def __getattr__(name):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'xpnet.utils' has no attribute {name!r}")
