"""The safetensors format, read and written here (no dependency on the ``safetensors`` package).

A file is an 8-byte little-endian length ``N``, then ``N`` bytes of JSON, then one byte buffer:
``{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
"__metadata__": {"key": "value"}}``, offsets relative to the buffer, data little-endian and
C-ordered, the buffer covered exactly, without gaps or overlaps. Every one of those facts is
checked on reading, and a file that breaks one gets an error naming the file and the tensor.

NumPy has no bfloat16, so ``BF16`` tensors are read as float32 (an exact widening: every
bfloat16 value is a float32 value); a bfloat16 tensor of the torch device is written as ``BF16``.
Tied weights are written once per name, as PyTorch's ``state_dict`` lists them.
"""
from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np

from ._files import bfloat16_bits, from_bfloat16_bits, host_array

__all__ = ["read", "write"]

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
          "I16": "<i2", "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1",
          "BOOL": "?"}
_NAMES = {np.dtype(code): name for name, code in DTYPES.items() if name != "BF16"}
MAX_HEADER = 100_000_000   # the safetensors package's own limit


def looks_like(head: bytes) -> bool:
    """Whether the first 9 bytes read like a safetensors header."""
    return len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") \
        <= MAX_HEADER


def write(file, tensors, metadata=None) -> None:
    """Write ``tensors`` (a dict of name -> Tensor or array) to the open binary ``file``."""
    if not hasattr(tensors, "items"):
        raise TypeError(f"save: a .safetensors file holds a flat dict of name -> tensor, got "
                        f"{type(tensors).__name__}")
    if metadata is not None and not (isinstance(metadata, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise TypeError(f"save: safetensors metadata must be a dict of str -> str, got "
                        f"{metadata!r:.80}")
    header, buffers, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(metadata)
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise TypeError(f"save: a .safetensors file names its tensors with strings other "
                            f"than '__metadata__', got {type(name).__name__} {name!r}")
        if not hasattr(value, "shape"):
            raise TypeError(f"save: a .safetensors file holds only tensors, got "
                            f"{type(value).__name__} at '{name}' (nested dicts, numbers and "
                            f"strings need an .npz file)")
        host, bfloat16 = host_array(value, name)
        if bfloat16:
            dtype = "BF16"   # float32 from bfloat16 is exact, so its top half is the bfloat16
            data = bfloat16_bits(host)
        else:
            dtype = _NAMES.get(host.dtype.newbyteorder("<") if host.dtype.byteorder == ">"
                               else host.dtype)
            if dtype is None:
                raise TypeError(f"save: the tensor '{name}' has dtype {host.dtype}, which "
                                f"safetensors cannot hold (it holds {', '.join(DTYPES)})")
            data = np.ascontiguousarray(host, dtype=DTYPES[dtype])
        size = data.nbytes
        header[name] = {"dtype": dtype, "shape": list(host.shape),
                        "data_offsets": [offset, offset + size]}
        buffers.append(data)
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)   # the buffer starts 8-byte aligned, as the package writes it
    file.write(len(raw).to_bytes(8, "little"))
    file.write(raw)
    for data in buffers:
        file.write(data.tobytes())


def _damaged(name: str, what: str) -> ValueError:
    return ValueError(f"load: {name} is not a valid safetensors file: {what}")


def _entry(name: str, key: str, entry):
    """``(dtype code, shape, begin, end)`` of one header entry, every field checked."""
    where = f"tensor '{key}'"
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise _damaged(name, f"{where} must be an object with 'dtype', 'shape' and "
                             f"'data_offsets', got {json.dumps(entry)[:80]}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPES:
        raise _damaged(name, f"{where} has dtype {dtype!r}; xpnet reads {', '.join(DTYPES)}")
    if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
        raise _damaged(name, f"{where}: shape must be a list of non-negative ints, got "
                             f"{json.dumps(shape)[:80]}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(
            type(n) is int for n in offsets) and 0 <= offsets[0] <= offsets[1]):
        raise _damaged(name, f"{where}: data_offsets must be [begin, end] with 0 <= begin <= "
                             f"end, got {json.dumps(offsets)[:80]}")
    begin, end = offsets
    expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(DTYPES[dtype]).itemsize
    if end - begin != expected:
        raise _damaged(name, f"{where} ({dtype}, shape {tuple(shape)}) needs {expected} bytes, "
                             f"its data_offsets [{begin}, {end}] span {end - begin}")
    return dtype, tuple(shape), begin, end


def read(file, name: str):
    """``(OrderedDict name -> NumPy array, metadata dict)`` from the open binary ``file``, in the
    header's order; ``name`` is how messages call the file."""
    head = file.read(8)
    if len(head) < 8:
        raise _damaged(name, f"it holds {len(head)} bytes, fewer than the 8 of the header "
                             f"length (truncated?)")
    size = int.from_bytes(head, "little")
    if size > MAX_HEADER:
        raise _damaged(name, f"its header length is {size} bytes, more than the "
                             f"{MAX_HEADER} allowed (not a safetensors file?)")
    raw = file.read(size)
    if len(raw) < size:
        raise _damaged(name, f"the header should be {size} bytes, the file ends after "
                             f"{len(raw)} (truncated)")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _damaged(name, f"its header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise _damaged(name, f"its header must be a JSON object, got {type(header).__name__}")
    metadata = header.pop("__metadata__", None) or {}
    if not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise _damaged(name, f"'__metadata__' must be an object of str -> str, got "
                             f"{json.dumps(metadata)[:80]}")
    entries = {key: _entry(name, key, entry) for key, entry in header.items()}
    buffer = file.read()
    covered = 0   # the buffer must be covered exactly, in offset order (the format's rule)
    for key, (_, _, begin, end) in sorted(entries.items(), key=lambda kv: kv[1][2:]):
        if begin < covered:
            raise _damaged(name, f"tensor '{key}' (bytes [{begin}, {end})) overlaps the "
                                 f"tensor before it, which ends at byte {covered}")
        if begin > covered:
            raise _damaged(name, f"bytes [{covered}, {begin}) of the data belong to no tensor "
                                 f"(the format allows no gaps)")
        covered = end
    if covered > len(buffer):
        raise _damaged(name, f"the tensors need {covered} bytes of data, the file holds "
                             f"{len(buffer)} (truncated)")
    if covered < len(buffer):
        raise _damaged(name, f"the file holds {len(buffer) - covered} bytes after the last "
                             f"tensor's data")
    arrays = OrderedDict()
    for key, (dtype, shape, begin, end) in entries.items():
        data = np.frombuffer(buffer, DTYPES[dtype], (end - begin) // np.dtype(
            DTYPES[dtype]).itemsize, begin).reshape(shape)
        if dtype == "BF16":   # widened exactly: the bfloat16 bits are a float32's top half
            data = from_bfloat16_bits(data)
        arrays[key] = data.astype(data.dtype.newbyteorder("="))
    return arrays, metadata
