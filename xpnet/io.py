"""save / load: state dicts and training checkpoints as one ``.npz`` file, never pickle.

Arrays (xpnet Tensors, arrays of any backend, NumPy arrays) are copied to the host and stored
as ``.npy`` members named by their key path (``model/fc.weight``, ``optimizer/state/0/exp_avg``);
the structure and every other value (numbers, strings, bools, None, lists, tuples, dicts with
str or int keys) go into JSON, stored in the same file as the uint8 member ``__xpnet__``.
Files are written to a temporary file in the target folder, flushed and fsynced, then renamed
over the target, so a crash never leaves a half-written file. Loading uses
``allow_pickle=False``: a file holding pickled objects is refused.

>>> import os, tempfile
>>> model = xpnet.nn.Linear(3, 2)
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
>>> xpnet.save({"model": model.state_dict(), "epoch": 3}, path)
>>> state = xpnet.load(path, device="cpu")          # or device="cuda"
>>> state["epoch"], model.load_state_dict(state["model"])
(3, ([], []))
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

from . import backend as _backend
from .autograd import Tensor

__all__ = ["save", "load"]

_META = "__xpnet__"
_FORMAT, _VERSION = "xpnet", 1


def _path_name(path) -> str:
    return "/".join(str(p) for p in path) or "<root>"


class _Encoder:
    """Turns an object into a JSON tree plus a dict of host arrays."""

    def __init__(self):
        self.arrays: dict = {}

    def _add_array(self, host: np.ndarray, path) -> dict:
        if host.dtype.hasobject or host.dtype.kind not in "biufc":
            raise TypeError(f"save: the array at '{_path_name(path)}' has dtype {host.dtype}; "
                            f"only bool, integer, float and complex arrays can be saved")
        base = _path_name(path)
        key, i = base, 1
        while key in self.arrays or key == _META:  # '/' inside a dict key can collide
            key, i = f"{base}#{i}", i + 1
        self.arrays[key] = host
        return {"array": key}

    def encode(self, obj, path=()):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, (int, float)):
            return obj
        if isinstance(obj, np.generic):  # NumPy scalars become Python numbers
            if isinstance(obj, (np.bool_, np.integer, np.floating)):
                return obj.item()
            raise TypeError(f"save: unsupported NumPy scalar {type(obj).__name__} at "
                            f"'{_path_name(path)}'")
        if isinstance(obj, Tensor):
            return self._add_array(obj.numpy(), path)  # a view: written before returning
        if _backend.is_array(obj):
            return self._add_array(_backend.to_numpy(obj), path)
        if isinstance(obj, dict):
            items = []
            for key, value in obj.items():
                if not isinstance(key, (str, int)):
                    raise TypeError(f"save: dict keys must be str or int, got "
                                    f"{type(key).__name__} {key!r} at '{_path_name(path)}'")
                items.append([key, self.encode(value, path + (key,))])
            return {"dict": items}
        if isinstance(obj, (list, tuple)):
            kind = "list" if isinstance(obj, list) else "tuple"
            return {kind: [self.encode(v, path + (i,)) for i, v in enumerate(obj)]}
        raise TypeError(f"save: unsupported object of type {type(obj).__name__} at "
                        f"'{_path_name(path)}'; save Tensors, arrays, numbers, strings, bools, "
                        f"None, and lists / tuples / dicts of them (e.g. model.state_dict())")


def _write_npz(file, members: dict) -> None:
    """What ``np.savez`` writes, without its reserved names ('file', 'allow_pickle') and with
    pickling off."""
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, array in members.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def _file_mode(path) -> int:
    """The mode of the file being replaced, else what ``open()`` would give a new file."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _temporary_prefix(path) -> str:
    """Temporaries are ``.NAME.PID.xxxx.tmp`` beside the target: the pid says whose they are."""
    return f".{os.path.basename(path)}.{os.getpid()}."


def _remove_stale_temporaries(path) -> None:
    """Delete temporaries of ``path`` left by a writer that was killed (kill -9, power loss):
    those whose process is gone. A live writer's (another process saving the same file right
    now) is left alone."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    prefix = f".{os.path.basename(path)}."
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid = name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue
        try:
            os.remove(os.path.join(folder, name))
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:       # it exists but is not ours to signal
        return True
    return True


def save(obj, path) -> None:
    """Write ``obj`` to ``path`` (a ``.npz`` file), atomically.

    Args:
        obj: a Tensor, array, number, string, or a (nested) dict / list / tuple of them, such as
            ``model.state_dict()`` or ``{"model": ..., "optimizer": opt.state_dict(),
            "epoch": 3, "rng": xpnet.get_rng_state()}``. Dict keys must be str or int (int keys
            come back as ints).
        path: the file to write; it is replaced only once the new file is complete.

    Arrays are copied to the host; the live tensors are not moved or changed.
    """
    encoder = _Encoder()
    tree = encoder.encode(obj)
    meta = json.dumps({"format": _FORMAT, "version": _VERSION, "tree": tree})
    members = dict(encoder.arrays)
    members[_META] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    _remove_stale_temporaries(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=_temporary_prefix(path), suffix=".tmp")
    except OSError as exc:
        raise type(exc)(exc.errno, f"save: cannot write {path}: {exc.strerror}") from None
    try:
        os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600 files; keep the usual mode
        with os.fdopen(fd, "wb") as f:
            _write_npz(f, members)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(exc, OSError) and exc.errno is not None:   # name the target, not the temp
            raise type(exc)(exc.errno, f"save: cannot write {path}: {exc.strerror}") from None
        raise
    try:  # make the rename itself durable (POSIX); not possible everywhere
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _looks_like(head: bytes) -> str:
    if head[:6] == b"\x93NUMPY":
        return "is a single .npy array (numpy.save); read it with numpy.load"
    if head[:2] == b"\x1f\x8b":
        return "is gzip-compressed data"
    if head[:1] in (b"\x80",):
        return "looks like a Python pickle, which xpnet never loads"
    try:
        head.decode("utf-8")
        return "looks like text"
    except UnicodeDecodeError:
        return "holds unrecognised bytes"


class _Decoder:
    def __init__(self, npz, path, backend):
        self.npz, self.path, self.backend = npz, path, backend

    def array(self, key):
        if key not in self.npz.files:
            raise ValueError(f"load: {self.path} is damaged: the array '{key}' named in its "
                             f"metadata is missing")
        try:
            host = self.npz[key]
        except ValueError as exc:
            if "pickle" in str(exc):   # allow_pickle=False refuses object arrays
                raise ValueError(f"load: {self.path}: the array '{key}' holds Python objects, "
                                 f"which xpnet never loads") from None
            raise ValueError(f"load: {self.path} is damaged: the array '{key}' cannot be read "
                             f"({type(exc).__name__})") from None
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"load: {self.path} is damaged: the array '{key}' cannot be read "
                             f"({type(exc).__name__})") from None
        return Tensor._wrap(self.backend.asarray(host), self.backend)

    def decode(self, node):
        if not isinstance(node, dict):
            return node
        if "array" in node:
            return self.array(node["array"])
        if "dict" in node:
            return {key: self.decode(value) for key, value in node["dict"]}
        if "list" in node:
            return [self.decode(v) for v in node["list"]]
        if "tuple" in node:
            return tuple(self.decode(v) for v in node["tuple"])
        raise ValueError(f"load: {self.path} is damaged: unknown node {sorted(node)} in its "
                         f"metadata")


def load(path, device=None):
    """Read a file written by :func:`save`; arrays come back as Tensors on ``device``.

    Args:
        path: the file.
        device: where to put the arrays (default ``'cpu'``); the saved dtypes are kept.

    Returns the saved structure: dicts (with their str and int keys), lists, tuples, numbers,
    strings, and xpnet Tensors in place of every array. ``Module.load_state_dict`` and an
    optimizer's ``load_state_dict`` accept what it returns.
    """
    backend = _backend.resolve(device if device is not None else "cpu")
    path = os.fspath(path)
    not_ours = f"load: {path} is not an xpnet file (xpnet.save writes .npz files)"
    with open(path, "rb") as f:       # FileNotFoundError and friends name the path
        head = f.read(6)
    if head[:4] != b"PK\x03\x04":
        raise ValueError(f"{not_ours}; it {_looks_like(head)}")
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"load: {path} is damaged (truncated or corrupted: "
                         f"{type(exc).__name__}); write it again or use an earlier "
                         f"copy") from None
    with npz:
        if _META not in npz.files:
            raise ValueError(f"{not_ours}: the .npz has no '{_META}' metadata (an npz from "
                             f"numpy.savez? read it with numpy.load)")
        try:
            meta = json.loads(bytes(npz[_META]).decode("utf-8"))
        except (ValueError, UnicodeDecodeError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"load: {path} is damaged: its metadata cannot be read "
                             f"({type(exc).__name__})") from None
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise ValueError(f"{not_ours}: unknown metadata format")
        if meta.get("version", 0) > _VERSION:
            raise ValueError(f"load: {path} was written by a newer xpnet (format version "
                             f"{meta['version']}, this one reads {_VERSION}); upgrade xpnet")
        return _Decoder(npz, path, backend).decode(meta["tree"])
