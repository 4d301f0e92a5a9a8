"""MNIST: IDX parsing with validation, lookup in local folders, download with MD5 checks.

Lookup order for the four files (``.gz`` or uncompressed):

1. ``root`` (and ``root/mnist``) when given,
2. ``data/mnist`` in the working directory (torchvision's ``data/`` root convention; the
   repository ships the four files there, so a fresh clone trains offline),
3. ``$XPNET_DATA/mnist``,
4. the cache, ``$XDG_CACHE_HOME/xpnet/mnist`` or ``~/.cache/xpnet/mnist``,

then, with ``download=True``, HTTPS from known mirrors into the cache, checked against the
published MD5s. Files are parsed on the host with NumPy; a :class:`~xpnet.data.DataLoader`
puts the whole set on the device once.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from .dataset import ArrayDataset

__all__ = ["MNIST", "MNISTRows", "mnist_rows", "read_idx_images", "read_idx_labels",
           "mnist_folders"]

MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
           "https://storage.googleapis.com/cvdf-datasets/mnist/")

_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049
MEAN, STD = 0.1307, 0.3081  # the usual normalisation of MNIST pixels in [0, 1]
CLASSES = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
           "7 - seven", "8 - eight", "9 - nine"]


# -- IDX parsing ------------------------------------------------------------------------------

def _read_bytes(path: Path) -> bytes:
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip, whatever the file is called
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, gzip.BadGzipFile) as exc:
            raise ValueError(f"MNIST: {path} is truncated or not a valid gzip file ({exc}); "
                             f"delete it and download it again") from None
    return raw


def _header(path, data, magic, n_dims):
    size = 4 + 4 * n_dims
    if len(data) < size:
        raise ValueError(f"MNIST: {path} is truncated: the IDX header needs {size} bytes, "
                         f"got {len(data)}")
    found = struct.unpack(">I", data[:4])[0]
    if found != magic:
        kind = "image" if magic == _IMAGES_MAGIC else "label"
        raise ValueError(f"MNIST: {path} has magic number {found}, expected {magic} (an IDX "
                         f"{kind} file); the file is corrupt or not MNIST")
    return struct.unpack(f">{n_dims}I", data[4:size]), size


def _body(path, data, offset, shape, what):
    expected = int(np.prod(shape, dtype=np.int64))
    found = len(data) - offset
    if found < expected:
        raise ValueError(f"MNIST: {path} is truncated: the header announces {shape[0]} {what} "
                         f"({expected} bytes), the file holds {found} bytes")
    if found > expected:
        raise ValueError(f"MNIST: {path} has {found - expected} bytes more than its header "
                         f"announces ({shape[0]} {what}); the file is corrupt")
    return np.frombuffer(data, dtype=np.uint8, count=expected, offset=offset).reshape(shape)


def read_idx_images(path) -> np.ndarray:
    """uint8 images (N, rows, cols) from an IDX3 file (gzip or raw), validated."""
    data = _read_bytes(path)
    (n, rows, cols), offset = _header(path, data, _IMAGES_MAGIC, 3)
    return _body(path, data, offset, (n, rows, cols), "images")


def read_idx_labels(path) -> np.ndarray:
    """uint8 labels (N,) from an IDX1 file (gzip or raw), validated."""
    data = _read_bytes(path)
    (n,), offset = _header(path, data, _LABELS_MAGIC, 1)
    labels = _body(path, data, offset, (n,), "labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"MNIST: {path} holds label {int(labels.max())}; MNIST labels must be "
                         f"0..9")
    return labels


# -- finding and downloading the files --------------------------------------------------------

def _names(train: bool):
    prefix = "train" if train else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xpnet" / "mnist"


def mnist_folders(root=None) -> list:
    """The folders searched for the MNIST files, in order."""
    folders = []
    if root is not None:
        folders += [Path(root), Path(root) / "mnist"]
    folders.append(Path("data") / "mnist")
    if os.environ.get("XPNET_DATA"):
        folders.append(Path(os.environ["XPNET_DATA"]) / "mnist")
    folders.append(cache_folder())
    return folders


def _find(folder: Path, name: str):
    for candidate in (folder / (name + ".gz"), folder / name):
        if candidate.is_file():
            return candidate
    return None


def _md5(path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_md5(path: Path, what: str):
    expected = _MD5.get(path.name)
    if expected is None:  # an uncompressed file: the published sums are of the .gz files
        return
    found = _md5(path)
    if found != expected:
        raise ValueError(f"MNIST: {what} has MD5 {found}, expected {expected}; the download is "
                         f"corrupt, delete it and retry")


def _download(url: str, dest: Path) -> None:
    """Fetch ``url`` into ``dest`` (tests replace this to run without a network)."""
    with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as f:
        while True:
            chunk = response.read(1 << 20)
            if not chunk:
                break
            f.write(chunk)


def _fetch(name: str, folder: Path) -> Path:
    """Download ``name`` into ``folder`` from the first mirror that works, MD5 checked;
    written to a temporary file and renamed, so a failed download leaves nothing behind."""
    folder.mkdir(parents=True, exist_ok=True)
    errors = []
    for mirror in MIRRORS:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
        os.close(fd)
        try:
            _download(mirror + name, Path(tmp))
            found, expected = _md5(tmp), _MD5[name]
            if found != expected:
                raise ValueError(f"MNIST: {name} from {mirror} has MD5 {found}, expected "
                                 f"{expected}; the download is corrupt (it was discarded), "
                                 f"retry")
            final = folder / name
            os.replace(tmp, final)
            return final
        except ValueError as exc:
            errors.append(exc)
        except Exception as exc:  # no network, HTTP errors, timeouts
            errors.append(OSError(f"{mirror + name}: {exc}"))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    md5_errors = [e for e in errors if isinstance(e, ValueError)]
    if md5_errors:
        raise md5_errors[0]
    raise OSError("; ".join(str(e) for e in errors))


def _locate(root, train: bool, download: bool):
    """Paths of the images and labels files for one split."""
    names = _names(train)
    folders = mnist_folders(root)
    cache = cache_folder()
    for folder in folders:
        paths = [_find(folder, name) for name in names]
        if all(paths):
            if folder == cache:  # files in the cache were downloaded by us: check them
                for p in paths:
                    _check_md5(p, str(p))
            return paths
    searched = ", ".join(str(f) for f in folders)
    where = (f"put the four files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
             f"t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, or uncompressed) in one "
             f"of them, e.g. $XPNET_DATA/mnist or {cache}, or pass root=FOLDER")
    if not download:
        raise FileNotFoundError(f"MNIST: {names[0]} and {names[1]} were not found in {searched} "
                                f"(download=False); {where}")
    paths = []
    for name in names:
        existing = _find(cache, name)
        if existing is not None:
            _check_md5(existing, str(existing))
            paths.append(existing)
            continue
        try:
            paths.append(_fetch(name + ".gz", cache))
        except OSError as exc:
            raise RuntimeError(f"MNIST: {name} was not found in {searched}, and downloading "
                               f"it failed ({exc}); without a network, {where}") from None
    return paths


def _load(root, train, download):
    images_path, labels_path = _locate(root, train, download)
    images = read_idx_images(images_path)
    labels = read_idx_labels(labels_path)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"MNIST: {images_path} holds {images.shape[0]} images but "
                         f"{labels_path} holds {labels.shape[0]} labels; the counts must match")
    return images, labels, images_path.parent


# -- the datasets -----------------------------------------------------------------------------

class MNIST(ArrayDataset):
    """The MNIST digits: images float32 (N, 1, 28, 28) in [0, 1], labels int64 (N,).

    Args:
        root: a folder holding the four files (``.gz`` or uncompressed); searched first.
        train: the 60,000 training images (True) or the 10,000 test images (False).
        download: fetch missing files from known mirrors into the cache (MD5 checked).
        normalize: apply ``(x - 0.1307) / 0.3081``, the usual normalisation.

    Attributes: ``images``, ``labels`` (NumPy arrays, also ``.arrays``), ``classes``, ``folder``
    (where the files were found).

    >>> test = MNIST(train=False)       # from data/mnist, shipped with the repository
    >>> test.images.shape, test.labels[:5].tolist()
    ((10000, 1, 28, 28), [7, 2, 1, 0, 4])
    """

    classes = CLASSES

    def __init__(self, root=None, train: bool = True, download: bool = True,
                 normalize: bool = False):
        raw_images, labels, folder = _load(root, train, download)
        images = raw_images.astype(np.float32)
        images /= 255.0
        if normalize:
            images -= MEAN
            images /= STD
        self.train, self.normalize, self.folder = bool(train), bool(normalize), folder
        super().__init__(self._layout(images), labels.astype(np.int64))

    @staticmethod
    def _layout(images):
        return images[:, None, :, :]

    @property
    def images(self) -> np.ndarray:
        return self.arrays[0]

    @property
    def labels(self) -> np.ndarray:
        return self.arrays[1]

    def __repr__(self):
        split = "train" if self.train else "test"
        return (f"{type(self).__name__}({split}, {len(self)} images {tuple(self.images.shape[1:])}"
                f", normalize={self.normalize}, folder='{self.folder}')")


class MNISTRows(MNIST):
    """MNIST images as sequences of rows, (N, 28, 28): 28 steps of 28 pixels, for recurrent
    networks (``batch_first``). Same arguments as :class:`MNIST`."""

    @staticmethod
    def _layout(images):
        return images


def mnist_rows(root=None, train: bool = True, download: bool = True,
               normalize: bool = False) -> MNISTRows:
    """MNIST as 28-step sequences of rows: images (N, 28, 28), labels (N,)."""
    return MNISTRows(root=root, train=train, download=download, normalize=normalize)
