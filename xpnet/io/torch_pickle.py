"""PyTorch's ``.pt`` / ``.pth`` files (``torch.save``), read and written without torch; reading
runs no code from the file.

``torch.save`` writes a zip: ``<archive>/data.pkl`` (a pickle of the structure), one member
``<archive>/data/<key>`` of raw bytes per storage, ``<archive>/byteorder`` and ``version``.
The pickle is read by a restricted unpickler that knows only what a state dict needs: the
tensor and parameter rebuild functions, the storage types, ``collections.OrderedDict`` and plain
containers. Any other global, the one way a pickle runs code, is refused before it is looked up.
A tensor becomes a NumPy array: its view of the storage (offset, shape, strides) is taken with
``as_strided``, checked to lie inside the storage, and copied. bfloat16 storages are widened
to float32, exactly. The legacy (pre-1.6) non-zip format is refused with a hint.

:func:`write` makes the same zip for ``torch.load`` (``weights_only=True`` included): the pickle
is emitted opcode by opcode (protocol 2), naming only ``torch._utils._rebuild_tensor_v2``, the
storage types and ``collections.OrderedDict``, so writing needs no torch. Tensors that share an
array (tied weights) share one storage, so PyTorch loads them tied.
"""
from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

from ._files import bfloat16_bits, file_name, from_bfloat16_bits, host_array, key_path

__all__ = ["read", "write", "is_torch_zip"]

_STORAGES = {"DoubleStorage": "f8", "FloatStorage": "f4", "HalfStorage": "f2",
             "BFloat16Storage": "bfloat16", "LongStorage": "i8", "IntStorage": "i4",
             "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
             "ComplexFloatStorage": "c8", "ComplexDoubleStorage": "c16",
             "UntypedStorage": "u1"}


def is_torch_zip(names) -> bool:
    return any(n.endswith("/data.pkl") and n.count("/") == 1 for n in names)


class _StorageType:
    """Stands for ``torch.FloatStorage`` and friends inside the pickle."""

    def __init__(self, name: str):
        self.name, self.code = name, _STORAGES[name]

    def dtype(self, byteorder: str) -> np.dtype:
        code = "u2" if self.code == "bfloat16" else self.code
        return np.dtype(code).newbyteorder("<" if byteorder == "little" else ">")


class _Storage:
    """One storage's bytes as a flat array of its dtype."""

    def __init__(self, array: np.ndarray, kind: _StorageType):
        self.array, self.kind = array, kind


def _refusal(module: str, name: str, file: str) -> ValueError:
    return ValueError(f"refusing to load {module}.{name} from {file}: only tensors, storages "
                      f"and plain containers are allowed (a whole pickled module? save "
                      f"model.state_dict() instead)")


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, zf: zipfile.ZipFile, archive: str, byteorder: str,
                 name: str):
        super().__init__(io.BytesIO(data))
        self.zf, self.archive, self.byteorder, self.name = zf, archive, byteorder, name
        self.storages: dict = {}

    def damaged(self, what: str) -> ValueError:
        return ValueError(f"load: {self.name} is a damaged PyTorch file: {what}")

    # -- the only globals a state dict needs ------------------------------------------------
    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return self.rebuild_tensor
        if module == "torch._utils" and name in ("_rebuild_parameter",
                                                 "_rebuild_parameter_with_state"):
            return self.rebuild_parameter
        if module in ("torch", "torch.storage") and name in _STORAGES:
            return _StorageType(name)
        if module == "torch" and name == "Size":
            return tuple
        if module == "builtins" and name in ("set", "frozenset"):
            return {"set": set, "frozenset": frozenset}[name]
        if module == "_codecs" and name == "encode":   # how protocol 2 writes bytes
            return self.encode
        raise _refusal(module, name, self.name)

    @staticmethod
    def encode(text, encoding="latin1"):
        if not isinstance(text, str) or encoding != "latin1":
            raise ValueError("load: _codecs.encode may only rebuild latin1 bytes")
        return text.encode("latin1")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and type(pid[4]) is int):
            raise self.damaged(f"unknown persistent id {pid!r:.100}; expected ('storage', "
                               f"storage type, key, location, size)")
        _, kind, key, _location, numel = pid
        if key not in self.storages:
            member = f"{self.archive}/data/{key}"
            try:
                raw = self.zf.read(member)
            except KeyError:
                raise self.damaged(f"the storage '{member}' is missing") from None
            dtype = kind.dtype(self.byteorder)
            if len(raw) != numel * dtype.itemsize:
                raise self.damaged(f"the storage '{member}' holds {len(raw)} bytes, its "
                                   f"{kind.name} of {numel} elements needs "
                                   f"{numel * dtype.itemsize}")
            self.storages[key] = _Storage(np.frombuffer(raw, dtype), kind)
        return self.storages[key]

    def rebuild_tensor(self, storage, offset, size, stride, requires_grad=False, hooks=None,
                       metadata=None):
        if not isinstance(storage, _Storage):
            raise self.damaged(f"a tensor must be rebuilt from a storage, got "
                               f"{type(storage).__name__}")
        if not (type(offset) is int and offset >= 0 and isinstance(size, tuple)
                and isinstance(stride, tuple) and len(size) == len(stride)
                and all(type(n) is int and n >= 0 for n in size)
                and all(type(n) is int and n >= 0 for n in stride)):
            raise self.damaged(f"a tensor's offset, size and stride must be non-negative ints "
                               f"(size and stride of one length), got {offset!r}, {size!r}, "
                               f"{stride!r}")
        if hooks:
            raise self.damaged("a tensor carries backward hooks, which are code")
        flat = storage.array
        if 0 in size:
            array = np.empty(size, flat.dtype)
        else:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= flat.size:
                raise self.damaged(f"a tensor of size {size}, stride {stride} at offset "
                                   f"{offset} reaches element {last} of a storage of "
                                   f"{flat.size}")
            array = np.lib.stride_tricks.as_strided(
                flat[offset:], size, tuple(s * flat.itemsize for s in stride)).copy()
        if storage.kind.code == "bfloat16":   # widened exactly: bfloat16 is a float32's top half
            array = from_bfloat16_bits(array)
        return array.astype(array.dtype.newbyteorder("="), copy=False)

    def rebuild_parameter(self, data, requires_grad=False, hooks=None, state=None):
        if not isinstance(data, np.ndarray):
            raise self.damaged(f"a parameter must wrap a tensor, got {type(data).__name__}")
        return data


def read(file, name: str | None = None):
    """The structure ``torch.save`` wrote to ``file`` (a path or open binary file), with a NumPy
    array for every tensor; ValueError naming the file for anything else."""
    name = name or file_name(file)
    try:
        zf = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"load: {name} is a damaged PyTorch file (truncated or corrupted: "
                         f"{type(exc).__name__})") from None
    with zf:
        names = zf.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pickles:
            what = ("a TorchScript archive (torch.jit.save); save model.state_dict() with "
                    "torch.save instead" if any(n.endswith("/constants.pkl") for n in names)
                    else "a zip without <archive>/data.pkl")
            raise ValueError(f"load: {name} is not a PyTorch state dict file: it is {what}")
        archive = pickles[0].split("/")[0]
        try:
            data = zf.read(pickles[0])
            byteorder = zf.read(f"{archive}/byteorder").decode("ascii").strip() \
                if f"{archive}/byteorder" in names else "little"
            if byteorder not in ("little", "big"):
                raise ValueError(f"byteorder {byteorder!r}")
            return _Unpickler(data, zf, archive, byteorder, name).load()
        except ValueError as exc:
            if str(exc).startswith(("refusing", "load:")):
                raise
            raise ValueError(f"load: {name} is a damaged PyTorch file: {exc}") from None
        except (pickle.UnpicklingError, EOFError, TypeError, AttributeError, IndexError,
                KeyError, OSError, zipfile.BadZipFile, RecursionError) as exc:
            raise ValueError(f"load: {name} is a damaged PyTorch file ({type(exc).__name__}: "
                             f"{exc})") from None


# -- writing ------------------------------------------------------------------------------------

_STORAGE_OF = {"float64": "DoubleStorage", "float32": "FloatStorage", "float16": "HalfStorage",
               "int64": "LongStorage", "int32": "IntStorage", "int16": "ShortStorage",
               "int8": "CharStorage", "uint8": "ByteStorage", "bool": "BoolStorage",
               "complex64": "ComplexFloatStorage", "complex128": "ComplexDoubleStorage"}


class _Writer:
    """Protocol-2 pickle opcodes for a structure of containers, scalars and arrays; each array
    becomes a ``_rebuild_tensor_v2`` of a storage written as ``data/<key>``."""

    def __init__(self, unsupported):
        self.out, self.storages, self.keys = io.BytesIO(), [], {}
        self.unsupported = unsupported

    def op(self, code: bytes, payload: bytes = b""):
        self.out.write(code + payload)

    def glob(self, module: str, name: str):
        self.op(b"c", f"{module}\n{name}\n".encode("ascii"))

    def text(self, value: str):
        raw = value.encode("utf-8")
        self.op(b"X", struct.pack("<I", len(raw)) + raw)

    def integer(self, value: int):
        if -2 ** 31 <= value < 2 ** 31:
            self.op(b"J", struct.pack("<i", value))
        else:
            raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
            self.op(b"\x8a", bytes([len(raw)]) + raw)

    def ints(self, values):
        self.op(b"(")
        for v in values:
            self.integer(int(v))
        self.op(b"t")

    def ordered_dict(self):
        self.glob("collections", "OrderedDict")
        self.op(b")R")

    def value(self, node, path):
        from ..autograd.tensor import Tensor
        from .. import backend as _backend
        if isinstance(node, Tensor) or _backend.is_array(node):
            array = node.array if isinstance(node, Tensor) else node
            self.tensor(array, path)
        elif node is None:
            self.op(b"N")
        elif isinstance(node, bool):
            self.op(b"\x88" if node else b"\x89")
        elif isinstance(node, (int, np.integer)):
            self.integer(int(node))
        elif isinstance(node, (float, np.floating)):
            self.op(b"G", struct.pack(">d", float(node)))
        elif isinstance(node, str):
            self.text(node)
        elif isinstance(node, dict):
            self.ordered_dict() if isinstance(node, collections.OrderedDict) else self.op(b"}")
            if node:
                self.op(b"(")
                for k, v in node.items():
                    if not isinstance(k, (str, int)) or isinstance(k, bool):
                        raise TypeError(f"save: dict keys must be str or int, got "
                                        f"{type(k).__name__} {k!r} at '{key_path(path)}'")
                    self.value(k, path)
                    self.value(v, path + (k,))
                self.op(b"u")
        elif isinstance(node, list):
            self.op(b"]")
            if node:
                self.op(b"(")
                for i, v in enumerate(node):
                    self.value(v, path + (i,))
                self.op(b"e")
        elif isinstance(node, tuple):
            self.op(b"(")
            for i, v in enumerate(node):
                self.value(v, path + (i,))
            self.op(b"t")
        else:
            raise TypeError(self.unsupported(node, path))

    def tensor(self, array, path):
        key = self.keys.get(id(array))
        host, bfloat16 = host_array(array, key_path(path))
        host = np.ascontiguousarray(host)
        name = "BFloat16Storage" if bfloat16 else _STORAGE_OF.get(host.dtype.name)
        if name is None:
            raise TypeError(f"save: a PyTorch file cannot hold dtype {host.dtype} (at "
                            f"'{key_path(path)}')")
        if bfloat16:   # float32 that holds bfloat16 values exactly: its top halves
            host = bfloat16_bits(host)
        if key is None:   # the same array under two names (tied weights): one storage
            key = self.keys[id(array)] = str(len(self.storages))
            self.storages.append(host.astype(host.dtype.newbyteorder("<"), copy=False))
        self.glob("torch._utils", "_rebuild_tensor_v2")
        self.op(b"(")
        self.op(b"(")                         # the persistent id of the storage
        self.text("storage")
        self.glob("torch", name)
        self.text(key)
        self.text("cpu")
        self.integer(host.size)
        self.op(b"tQ")
        self.integer(0)                       # storage offset
        self.ints(host.shape)
        self.ints(np.array(host.strides, dtype=np.int64) // max(1, host.itemsize)
                  if host.size else [0] * host.ndim)
        self.op(b"\x89")                      # requires_grad
        self.ordered_dict()                   # backward hooks: none
        self.op(b"tR")


def write(f, obj, unsupported) -> None:
    """Write ``obj`` (containers of tensors, arrays, numbers and strings) to the binary file
    ``f`` in ``torch.save``'s zip format. ``unsupported(node, path)`` is the message for a value
    it cannot hold."""
    writer = _Writer(unsupported)
    writer.op(b"\x80\x02")
    writer.value(obj, ())
    writer.op(b".")
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", writer.out.getvalue())
        zf.writestr("archive/byteorder", "little")
        for key, host in enumerate(writer.storages):
            zf.writestr(f"archive/data/{key}", host.tobytes())
        zf.writestr("archive/version", "3\n")
