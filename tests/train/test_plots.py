import numpy as np
import pytest

from xpnet.train import image_grid, save_image_grid


def test_image_grid_tiles_row_by_row_and_saves_a_png(tmp_path):
    images = np.arange(3, dtype=np.float64).reshape(3, 1, 1, 1) / 4 * np.ones((3, 1, 2, 3))
    grid = image_grid(images, nrow=2, padding=1)
    assert grid.shape == (7, 9)
    assert np.all(grid[1:3, 1:4] == 0) and np.all(grid[1:3, 5:8] == 0.25)
    assert np.all(grid[4:6, 1:4] == 0.5) and np.all(grid[4:6, 5:8] == 0)    # an empty slot
    assert np.all(grid[0, :] == 0) and np.all(grid[:, 4] == 0)              # the gaps
    pytest.importorskip("matplotlib")
    import matplotlib.image
    path = save_image_grid(np.zeros((4, 1, 28, 28)), tmp_path / "grid.png", nrow=2)
    assert matplotlib.image.imread(path).ndim == 3
