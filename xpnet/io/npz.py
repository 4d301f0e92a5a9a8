"""xpnet's own format: one ``.npz`` holding the arrays and a JSON description of the rest.

Arrays are stored as ``.npy`` members named by their key path (``model/fc.weight``,
``optimizer/state/0/exp_avg``); the structure and every other value (numbers, strings, bools,
None, lists, tuples, dicts with str or int keys) go into JSON, stored in the same file as the
uint8 member ``__xpnet__``. Reading uses ``allow_pickle=False``, and every node of the JSON is
checked before it is used: a damaged file gets an error naming the file and the key path.
"""
from __future__ import annotations

import json
import zipfile
from collections import OrderedDict

import numpy as np

from ..autograd import Tensor
from .. import backend as _backend
from ._files import host_array, key_path, numeric_or_refuse

META = "__xpnet__"
FORMAT, VERSION = "xpnet", 1


class Encoder:
    """Turns an object into a JSON tree plus a dict of host arrays."""

    def __init__(self):
        self.arrays: dict = {}

    def _add_array(self, value, path) -> dict:
        host, bfloat16 = host_array(value, key_path(path))
        if bfloat16:
            raise TypeError(f"save: the array at '{key_path(path)}' is bfloat16, which .npz "
                            f"cannot hold; save a .safetensors file, or cast it with .float()")
        base = key_path(path)
        key, i = base, 1
        while key in self.arrays or key == META:  # '/' inside a dict key can collide
            key, i = f"{base}#{i}", i + 1
        self.arrays[key] = host
        return {"array": key}

    def encode(self, obj, path=()):
        if obj is None or isinstance(obj, (bool, str, int, float)):
            return obj
        if isinstance(obj, np.generic):  # NumPy scalars become Python numbers
            if isinstance(obj, (np.bool_, np.integer, np.floating)):
                return obj.item()
            raise TypeError(f"save: unsupported NumPy scalar {type(obj).__name__} at "
                            f"'{key_path(path)}'")
        if isinstance(obj, Tensor) or _backend.is_array(obj):
            return self._add_array(obj, path)
        if isinstance(obj, dict):
            items = []
            for key, value in obj.items():
                if isinstance(key, bool) or not isinstance(key, (str, int)):
                    raise TypeError(f"save: dict keys must be str or int, got "
                                    f"{type(key).__name__} {key!r} at '{key_path(path)}'")
                items.append([key, self.encode(value, path + (key,))])
            return {"dict": items}
        if isinstance(obj, (list, tuple)):
            kind = "list" if isinstance(obj, list) else "tuple"
            return {kind: [self.encode(v, path + (i,)) for i, v in enumerate(obj)]}
        raise TypeError(unsupported(obj, path))


def unsupported(obj, path) -> str:
    """The message for an object xpnet does not save; a module or an optimizer is pointed to
    its ``state_dict()`` (xpnet never pickles code)."""
    kind = type(obj).__name__
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        return (f"save: got a whole {kind} at '{key_path(path)}'; xpnet saves no code, only "
                f"weights and state: save obj.state_dict() (xpnet.save(model.state_dict(), "
                f"path)) and build the {kind} in code before loading it")
    return (f"save: unsupported object of type {kind} at '{key_path(path)}'; save Tensors, "
            f"arrays, numbers, strings, bools, None, and lists / tuples / dicts of them "
            f"(e.g. model.state_dict())")


def write(file, obj) -> None:
    """Write ``obj`` as an xpnet ``.npz`` to the open binary ``file``."""
    encoder = Encoder()
    tree = encoder.encode(obj)
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})
    members = dict(encoder.arrays)
    members[META] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
    write_members(file, members)


def write_members(file, members: dict) -> None:
    """What ``np.savez`` writes, without its reserved names ('file', 'allow_pickle') and with
    pickling off."""
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, array in members.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def _kind(value) -> str:
    return "null" if value is None else type(value).__name__


class Decoder:
    """Rebuilds the saved structure with host arrays, checking every node."""

    def __init__(self, npz, name):
        self.npz, self.name = npz, name

    def damaged(self, what: str, path=()) -> ValueError:
        at = f" at '{key_path(path)}'" if path else ""
        return ValueError(f"load: {self.name} is damaged: {what}{at}")

    def array(self, key, path):
        if not isinstance(key, str):
            raise self.damaged(f"an array reference must be a member name, got "
                               f"{_kind(key)} {key!r}", path)
        if key not in self.npz.files:
            raise self.damaged(f"the array '{key}' named in its metadata is missing")
        try:
            host = self.npz[key]
        except ValueError as exc:
            if "pickle" in str(exc):   # allow_pickle=False refuses object arrays
                raise ValueError(f"load: {self.name}: the array '{key}' holds Python objects, "
                                 f"which xpnet never loads") from None
            raise self.damaged(f"the array '{key}' cannot be read ({type(exc).__name__})") \
                from None
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise self.damaged(f"the array '{key}' cannot be read ({type(exc).__name__})") \
                from None
        return numeric_or_refuse(host, self.name, key)

    def decode(self, node, path=()):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or len(node) != 1:
            raise self.damaged(f"a metadata node must be a value or a one-key object "
                               f"('array', 'dict', 'list' or 'tuple'), got "
                               f"{json.dumps(node)[:80]}", path)
        (kind, body), = node.items()
        if kind == "array":
            return self.array(body, path)
        if kind not in ("dict", "list", "tuple"):
            raise self.damaged(f"unknown metadata node '{kind}'", path)
        if not isinstance(body, list):
            raise self.damaged(f"a '{kind}' node must hold a list, got {_kind(body)}", path)
        if kind == "list":
            return [self.decode(v, path + (i,)) for i, v in enumerate(body)]
        if kind == "tuple":
            return tuple(self.decode(v, path + (i,)) for i, v in enumerate(body))
        out = OrderedDict()
        for item in body:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], (str, int))
                    and not isinstance(item[0], bool)):
                raise self.damaged(f"a 'dict' node must hold [key, value] pairs with str or int "
                                   f"keys, got {json.dumps(item)[:80]}", path)
            out[item[0]] = self.decode(item[1], path + (item[0],))
        return out


def read(file, name: str):
    """The structure in an xpnet ``.npz`` (``file``: path or open binary file), with NumPy
    arrays; ValueError naming ``name`` for anything damaged or not ours."""
    not_ours = f"load: {name} is not an xpnet file (xpnet.save writes .npz files)"
    try:
        npz = np.load(file, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"load: {name} is damaged (truncated or corrupted: "
                         f"{type(exc).__name__}); write it again or use an earlier "
                         f"copy") from None
    with npz:
        if META not in npz.files:
            raise ValueError(f"{not_ours}: the .npz has no '{META}' metadata (an npz from "
                             f"numpy.savez? read it with numpy.load)")
        try:
            meta = json.loads(bytes(npz[META]).decode("utf-8"))
        except (ValueError, UnicodeDecodeError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"load: {name} is damaged: its metadata cannot be read "
                             f"({type(exc).__name__})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"{not_ours}: unknown metadata format")
        version = meta.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or "tree" not in meta:
            raise ValueError(f"load: {name} is damaged: its metadata must hold an int 'version' "
                             f"and a 'tree', got version {version!r} and keys {sorted(meta)}")
        if version > VERSION:
            raise ValueError(f"load: {name} was written by a newer xpnet (format version "
                             f"{version}, this one reads {VERSION}); upgrade xpnet")
        return Decoder(npz, name).decode(meta["tree"])
