"""Tiny Shakespeare, the character-level text of the char-transformer recipe: found in
``root``, then ``data/tinyshakespeare`` in the working directory (the repository ships it),
then ``$XPNET_DATA/tinyshakespeare``, then the cache, else downloaded from char-rnn's copy and
checked against its SHA-256."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["tiny_shakespeare", "TINY_SHAKESPEARE_SHA256"]

TINY_SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"


def _folders(root):
    folders = []
    if root is not None:
        root = Path(root)
        if root.is_file():
            return [root]
        folders += [root, root / "tinyshakespeare"]
    folders.append(Path("data") / "tinyshakespeare")
    if os.environ.get("XPNET_DATA"):
        folders.append(Path(os.environ["XPNET_DATA"]) / "tinyshakespeare")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folders.append(Path(base) / "xpnet" / "tinyshakespeare")
    return folders


def tiny_shakespeare(root=None, download: bool = True) -> str:
    """The 1,115,394 characters of Tiny Shakespeare (40,000 lines of the plays; public domain).

    >>> text = tiny_shakespeare()
    >>> len(text), text[:14]
    (1115394, 'First Citizen:')
    """
    candidates = [f if f.suffix == ".txt" else f / "input.txt" for f in _folders(root)]
    for path in candidates:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    searched = ", ".join(str(p) for p in candidates)
    if not download:
        raise FileNotFoundError(f"tiny_shakespeare: input.txt was not found in {searched}")
    import urllib.request
    target = candidates[-1]
    try:
        with urllib.request.urlopen(URL, timeout=60) as response:
            raw = response.read()
    except Exception as exc:  # no network
        raise RuntimeError(f"tiny_shakespeare: input.txt was not found in {searched}, and "
                           f"downloading it failed ({exc}); put the file in one of them") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != TINY_SHAKESPEARE_SHA256:
        raise ValueError(f"tiny_shakespeare: the download has SHA-256 {digest}, expected "
                         f"{TINY_SHAKESPEARE_SHA256}; it was discarded, retry")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(raw)
    return raw.decode("utf-8")
