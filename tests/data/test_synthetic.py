import math

import numpy as np
import pytest

from xpnet.data import make_blobs, make_circles, make_moons, spirals

GENERATORS = [make_circles, make_moons, make_blobs, spirals]


@pytest.mark.parametrize("make", GENERATORS)
def test_generators_return_float32_points_and_int64_labels(make):
    X, y = make(101, seed=0)
    assert X.shape == (101, 2) and X.dtype == np.float32
    assert y.shape == (101,) and y.dtype == np.int64


@pytest.mark.parametrize("make", GENERATORS)
def test_one_seed_gives_the_same_data_and_another_seed_differs(make):
    kwargs = {} if make is make_blobs else {"noise": 0.1}
    a, b, c = make(50, seed=1, **kwargs), make(50, seed=1, **kwargs), make(50, seed=2, **kwargs)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_circles_lie_on_radius_one_and_factor():
    X, y = make_circles(200, factor=0.3, seed=0)
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(radius[y == 1], 0.3, rtol=1e-6)
    assert np.bincount(y).tolist() == [100, 100]


def test_circles_reject_a_factor_outside_zero_one():
    with pytest.raises(ValueError, match=r"factor must be in \[0, 1\), got 1.5"):
        make_circles(10, factor=1.5)


def test_moons_are_two_half_circles():
    X, y = make_moons(100, seed=0)
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, rtol=1e-6)
    assert upper[:, 1].min() >= -1e-6 and lower[:, 1].max() <= 0.5 + 1e-6


def test_blobs_gather_around_given_centers_with_even_counts():
    centers = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]])
    X, y = make_blobs(3001, centers=centers, cluster_std=0.5, seed=0)
    assert np.bincount(y).tolist() == [1001, 1000, 1000]
    for k in range(3):
        np.testing.assert_allclose(X[y == k].mean(axis=0), centers[k], atol=0.1)
        np.testing.assert_allclose(X[y == k].std(axis=0), 0.5, atol=0.05)


def test_blobs_with_more_features():
    X, y = make_blobs(40, centers=4, n_features=5, seed=0)
    assert X.shape == (40, 5) and sorted(set(y.tolist())) == [0, 1, 2, 3]


def test_spiral_arms_are_rotated_copies_one_per_class():
    X, y = spirals(300, n_classes=3, seed=0)
    assert np.bincount(y).tolist() == [100, 100, 100]
    r = np.hypot(X[:, 0], X[:, 1])
    far = r > 0.05
    angle = np.arctan2(X[:, 1], X[:, 0])
    # angle = 2 pi (k / n_classes + 1.5 r): subtracting the twist leaves the class offset
    offset = (angle - 2 * math.pi * 1.5 * r) / (2 * math.pi) * 3
    residual = (offset[far] - y[far] + 0.5) % 3 - 0.5
    np.testing.assert_allclose(residual, 0.0, atol=1e-4)


def test_noise_moves_points_off_the_curves():
    X, y = make_circles(400, noise=0.1, factor=0.5, seed=0)
    radius = np.hypot(X[:, 0], X[:, 1])
    assert 0.05 < np.std(radius[y == 0] - 1.0) < 0.15


@pytest.mark.parametrize("call, error, message", [
    (lambda: make_moons(0), ValueError, r"^make_moons: n_samples must be a positive int, got 0$"),
    (lambda: make_moons("10"), TypeError,
     r"^make_moons: n_samples must be a positive int, got '10' \(str\)$"),
    (lambda: spirals(10, noise=-1.0), ValueError, r"^spirals: noise must be >= 0, got -1.0$"),
    (lambda: spirals(10, n_classes=0), ValueError,
     r"^spirals: n_classes must be a positive int, got 0$"),
    (lambda: make_circles(10, factor=1.0), ValueError,
     r"^make_circles: factor must be in \[0, 1\), got 1.0$"),
    (lambda: make_blobs(10, centers=0), ValueError,
     r"^make_blobs: centers must be a positive int, got 0$"),
])
def test_bad_arguments_are_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
