"""Image grids (of digits, samples, reconstructions): as a NumPy array, and as a PNG
(matplotlib)."""
from __future__ import annotations

import numpy as np

from ..autograd import Tensor


def image_grid(images, nrow: int = 10, padding: int = 2) -> np.ndarray:
    """Images (N, 1, H, W) in [0, 1] tiled row by row into one 2-D array (gaps of 0).

    >>> image_grid(np.ones((5, 1, 28, 28)), nrow=4).shape     # 2 rows of 4, 2-pixel gaps
    (62, 122)
    """
    images = images.numpy() if isinstance(images, Tensor) else np.asarray(images)
    n, _, h, w = images.shape
    rows = -(-n // nrow)
    grid = np.zeros((rows * (h + padding) + padding, nrow * (w + padding) + padding))
    for k in range(n):
        r, c = divmod(k, nrow)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[top:top + h, left:left + w] = images[k, 0]
    return grid


def save_image_grid(images, path, nrow: int = 10, title: str | None = None) -> str:
    """Write :func:`image_grid` of ``images`` as a grey-scale PNG (needs matplotlib)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    grid = image_grid(images, nrow)
    fig, ax = plt.subplots(figsize=(grid.shape[1] / 40, grid.shape[0] / 40 + (0.4 if title
                                                                              else 0)))
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
