"""One fixture, every backend: tests that take ``device`` run on cpu, strict, cuda and torch."""
import numpy as np
import pytest

import xpnet
from xpnet.backend import resolve_or_skip

DEVICES = ["cpu", "strict", pytest.param("cuda", marks=pytest.mark.gpu), "torch"]


@pytest.fixture(params=DEVICES)
def device(request):
    """A device flag; skipped with the reason when its library or GPU is missing."""
    return resolve_or_skip(request.param).name


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same seed, so failures reproduce."""
    xpnet.manual_seed(0)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
