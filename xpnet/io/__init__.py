"""save / load: state dicts and training checkpoints, never pickle.

Three formats, told apart by their contents when loading (not by their names):

* xpnet's ``.npz`` (the default for :func:`save`): arrays as ``.npy`` members, everything else
  (numbers, strings, nested dicts / lists / tuples) as JSON; holds whole checkpoints.
* ``.safetensors``: a flat dict of tensors (written when the name ends in ``.safetensors``);
  what ``safetensors.torch.load_file`` / ``save_file`` read and write.
* PyTorch's ``.pt`` / ``.pth`` (``torch.save``'s zip format), written and read without torch;
  read through an unpickler that rebuilds tensors and plain containers and refuses everything
  else.

Files are written to a temporary file in the target folder, flushed and fsynced, then renamed
over the target, so a crash never leaves a half-written file; an open binary file is written in
place. Arrays are copied to the host on saving (the live model is not moved) and onto
``device`` on loading.

>>> import os, tempfile
>>> model = xpnet.nn.Linear(3, 2)
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
>>> xpnet.save({"model": model.state_dict(), "epoch": 3}, path)
>>> state = xpnet.load(path, device="cpu")          # or device="cuda"
>>> state["epoch"], model.load_state_dict(state["model"])
(3, IncompatibleKeys(missing_keys=[], unexpected_keys=[]))
>>> xpnet.save(model.state_dict(), path.replace(".npz", ".safetensors"))
>>> list(xpnet.io.load_state_dict(path.replace(".npz", ".safetensors")))
['weight', 'bias']
"""
from __future__ import annotations

import io as _stdio
import os
import zipfile
from collections import OrderedDict

import numpy as np

from .. import backend as _backend
from ..autograd import Tensor
from . import npz as _npz, safetensors as _safetensors, torch_pickle as _torch_pickle
from ._files import file_name, looks_like, write_atomically

__all__ = ["save", "load", "load_state_dict"]

FORMATS = ("npz", "safetensors", "pt")


def _is_path(file) -> bool:
    return isinstance(file, (str, bytes, os.PathLike))


def _format_for(file, format) -> str:
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f"save: format must be one of {FORMATS}, got {format!r}")
        return format
    name = file if _is_path(file) else getattr(file, "name", "")   # an open file: its name
    suffix = os.path.splitext(os.fsdecode(name))[1].lower() if isinstance(
        name, (str, bytes, os.PathLike)) else ""
    if suffix in (".pt", ".pth"):
        return "pt"
    return "safetensors" if suffix == ".safetensors" else "npz"


def save(obj, file, *, format=None, metadata=None) -> None:
    """Write ``obj`` to ``file``, atomically when ``file`` is a path.

    Args:
        obj: a Tensor, array, number, string, or a (nested) dict / list / tuple of them, such as
            ``model.state_dict()`` or ``{"model": ..., "optimizer": opt.state_dict(),
            "epoch": 3, "rng": xpnet.get_rng_state()}``. Dict keys must be str or int (int keys
            come back as ints). A whole Module is refused: save its ``state_dict()``.
        file: a path (replaced only once the new file is complete) or an open binary file.
        format: ``"npz"``, ``"safetensors"`` or ``"pt"``; by default from the name (a path's,
            or an open file's): ``"safetensors"`` for ``.safetensors`` (``obj`` then must be a
            flat dict of tensors), ``"pt"`` for ``.pt`` / ``.pth`` (``torch.save``'s zip
            format, which ``torch.load`` reads, ``weights_only=True`` included), else
            ``"npz"``.
        metadata: a dict of str -> str stored in a safetensors header.

    Arrays are copied to the host; the live tensors are not moved or changed.
    """
    format = _format_for(file, format)
    if metadata is not None and format != "safetensors":
        raise TypeError("save: metadata= is stored only in .safetensors files")
    if format == "safetensors":
        if hasattr(obj, "state_dict") and callable(obj.state_dict):
            raise TypeError(_npz.unsupported(obj, ()))

        def write(f):
            _safetensors.write(f, obj, metadata)
    elif format == "pt":
        def write(f):
            _torch_pickle.write(f, obj, _npz.unsupported)
    else:
        def write(f):
            _npz.write(f, obj)
    if _is_path(file):
        write_atomically(file, write)
    else:
        write(file)


def _readable(file):
    """``(binary file to read, name, close)``: a path is opened; a file object must be binary
    and seekable (one that is not is read into memory)."""
    if _is_path(file):
        return open(file, "rb"), file_name(file), True   # FileNotFoundError names the path
    if not hasattr(file, "read"):
        raise TypeError(f"load: expected a path or an open binary file, got "
                        f"{type(file).__name__}")
    name = file_name(file)
    if not (hasattr(file, "seek") and getattr(file, "seekable", lambda: True)()):
        file = _stdio.BytesIO(file.read())
    return file, name, False


def _host_tree(file, name: str):
    """The structure in ``file`` with NumPy arrays, whatever its format."""
    start = file.tell()
    head = file.read(9)
    if isinstance(head, str):
        raise TypeError(f"load: {name} is open in text mode; open it with 'rb'")
    file.seek(start)
    if head[:4] == b"PK\x03\x04":
        try:
            names = zipfile.ZipFile(file).namelist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise ValueError(f"load: {name} is damaged (truncated or corrupted: "
                             f"{type(exc).__name__}); write it again or use an earlier "
                             f"copy") from None
        file.seek(start)
        if _torch_pickle.is_torch_zip(names):
            return _torch_pickle.read(file, name)
        return _npz.read(file, name)
    if head[:4] == b"\x80\x02\x8a\x0a":   # the magic number legacy torch.save files begin with
        raise ValueError(f"load: {name} {looks_like(head)}")
    if _safetensors.looks_like(head) or name.endswith(".safetensors"):
        arrays, _ = _safetensors.read(file, name)
        return arrays
    raise ValueError(f"load: {name} is not an xpnet file (xpnet reads .npz files from "
                     f"xpnet.save, .safetensors, and PyTorch .pt files); it {looks_like(head)}")


class _Placer:
    """Puts every host array of a tree on the device; dicts become OrderedDicts that remember
    the file (``Module.load_state_dict`` names it in its errors)."""

    def __init__(self, backend, name):
        self.backend, self.name = backend, name

    def __call__(self, node):
        if isinstance(node, np.ndarray):
            return Tensor.from_array(self.backend.asarray(node), device=self.backend)
        if isinstance(node, dict):
            out = OrderedDict((k, self(v)) for k, v in node.items())
            out._xpnet_file = self.name
            return out
        if isinstance(node, (list, tuple, set, frozenset)):
            return type(node)(self(v) for v in node)
        return node


def _device_of(map_location):
    """PyTorch's ``map_location`` as a device: a device or its name; a dict or function that
    sends every storage to one place (``lambda storage, loc: storage`` keeps them on the CPU)."""
    if isinstance(map_location, dict):
        targets = set(map(str, map_location.values()))
        if len(targets) == 1:
            return targets.pop()
    elif callable(map_location) and not isinstance(map_location, (str, _backend.Backend)):
        marker = object()
        try:
            kept = map_location(marker, "cpu") is marker
        except Exception:
            kept = False
        if kept:
            return "cpu"
    else:
        return map_location
    raise ValueError(f"load: map_location must name one device (e.g. 'cpu', 'cuda'), got "
                     f"{map_location!r}; xpnet puts every array on one device")


def load(file, device=None, *, map_location=None, weights_only=None, mmap=None):
    """Read a file written by :func:`save`, a ``.safetensors`` file or a PyTorch ``.pt`` file;
    arrays come back as Tensors on ``device``.

    Args:
        file: a path or an open binary file.
        device: where to put the arrays (default ``'cpu'``); the saved dtypes are kept, but
            bfloat16 (which NumPy lacks) comes back as float32, exactly. ``map_location`` is
            PyTorch's name for it (a device, or a dict or function that maps every storage to
            one device).
        weights_only, mmap: PyTorch's; accepted and without effect: xpnet never unpickles code
            (every load is weights-only) and reads files into memory.

    Returns the saved structure: dicts (with their str and int keys), lists, tuples, numbers,
    strings, and xpnet Tensors in place of every array. ``Module.load_state_dict`` and an
    optimizer's ``load_state_dict`` accept what it returns.
    """
    if map_location is not None:
        if device is not None:
            raise TypeError("load: give device or map_location, not both")
        device = _device_of(map_location)
    elif device is not None and not isinstance(device, (str, _backend.Backend)):
        device = _device_of(device)      # torch.load(f, map_location) passes it second
    backend = _backend.resolve(device if device is not None else "cpu")
    f, name, close = _readable(file)
    try:
        tree = _host_tree(f, name)
    finally:
        if close:
            f.close()
    return _Placer(backend, name)(tree)


def load_state_dict(file, device=None) -> "OrderedDict[str, Tensor]":
    """The state dict in ``file`` (xpnet ``.npz``, ``.safetensors`` or PyTorch ``.pt``): a flat
    dict of name -> Tensor, for ``model.load_state_dict(...)``.

    A file that holds something else (a whole checkpoint, say) is refused with the keys it
    holds, so the caller can pick the state dict out of ``load(file)``.
    """
    state = load(file, device)
    if isinstance(state, dict) and all(
            isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()):
        return state
    name = file_name(file)
    if isinstance(state, dict):
        nested = [k for k, v in state.items() if isinstance(v, dict)]
        hint = f"; pick it out: xpnet.load(...)[{nested[0]!r}]" if nested else ""
        raise ValueError(f"load_state_dict: {name} must hold a flat dict of name -> tensor, "
                         f"but it holds a dict with keys {list(state)[:8]}{hint}")
    raise ValueError(f"load_state_dict: {name} must hold a flat dict of name -> tensor, got "
                     f"{type(state).__name__}")
