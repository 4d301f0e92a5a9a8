"""What every format shares: naming a file in messages, host copies of arrays, atomic writes,
and telling what an unknown file looks like."""
from __future__ import annotations

import os
import tempfile

import numpy as np

from .. import backend as _backend
from ..autograd import Tensor

# what an array read from a file may hold: bool, signed / unsigned int, float, complex
NUMERIC_KINDS = "biufc"


def file_name(file) -> str:
    """How a path or an open file is named in messages."""
    if isinstance(file, (str, bytes, os.PathLike)):
        return os.fsdecode(file)
    name = getattr(file, "name", None)
    return name if isinstance(name, str) else f"<{type(file).__name__}>"


def key_path(path) -> str:
    return "/".join(str(p) for p in path) or "<root>"


def host_array(value, where: str):
    """``(host NumPy array, is_bfloat16)`` for a Tensor or an array of any backend.

    NumPy has no bfloat16: a bfloat16 tensor (torch device) comes back as float32, which holds
    every bfloat16 value exactly, flagged so that a safetensors file can store it as BF16 again.
    """
    data = value.array if isinstance(value, Tensor) else value
    bfloat16 = _backend.dtype_name(data.dtype) == "bfloat16"
    host = _backend.to_numpy(data)             # bfloat16 comes back as float32, exactly
    if host.dtype.hasobject or host.dtype.kind not in NUMERIC_KINDS:
        raise TypeError(f"save: the array at '{where}' has dtype {host.dtype}; only bool, "
                        f"integer, float and complex arrays can be saved")
    return host, bfloat16


def bfloat16_bits(host: np.ndarray) -> np.ndarray:
    """float32 values that are bfloat16 ones (:func:`host_array`'s) as the bfloat16 bits a file
    stores: each float32's top half, little-endian uint16."""
    return (np.ascontiguousarray(host, "<f4").view("<u4") >> 16).astype("<u2")


def from_bfloat16_bits(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bits (uint16) widened exactly to float32 (little-endian): a float32's top half."""
    return (bits.astype("<u4") << 16).view("<f4")


def looks_like(head: bytes) -> str:
    if not head:
        return "is empty"
    if head[:6] == b"\x93NUMPY":
        return "is a single .npy array (numpy.save); read it with numpy.load"
    if head[:2] == b"\x1f\x8b":
        return "is gzip-compressed data"
    if head[:4] == b"\x80\x02\x8a\x0a":
        return ("is a PyTorch file in the legacy (pre-1.6, non-zip) format, which xpnet does not "
                "read; in PyTorch, torch.save(torch.load(f), f) rewrites it in the zip format")
    if head[:1] == b"\x80":
        return "looks like a Python pickle, which xpnet never loads"
    try:
        head.decode("utf-8")
        return "looks like text"
    except UnicodeDecodeError:
        return "holds unrecognised bytes"


# -- atomic writes ----------------------------------------------------------------------------

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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:       # it exists but is not ours to signal
        return True
    return True


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


def write_atomically(path, write) -> None:
    """Call ``write(binary_file)`` on a temporary beside ``path``, fsync it, rename it over
    ``path``: a crash never leaves a half-written file, and errors name ``path``."""
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
            write(f)
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


def numeric_or_refuse(host: np.ndarray, name: str, key: str) -> np.ndarray:
    """``host`` if it holds numbers; else a clear error naming the file and the key."""
    if host.dtype.hasobject or host.dtype.kind not in NUMERIC_KINDS:
        raise ValueError(f"load: {name}: the array '{key}' has dtype {host.dtype}; xpnet reads "
                         f"only bool, integer, float and complex arrays")
    return host
