"""One fixture, every backend: tests that take ``device`` run on cpu, strict, strict:device1,
cuda and torch.

``strict:device1`` is array-api-strict's second device, which xpnet treats as device memory
(``Backend.on_host`` is False, no implicit conversion to NumPy): every test runs the GPU's code
paths there, on the CPU."""
import numpy as np
import pytest

import xpnet
from xpnet.backend import discard_deferred_checks, resolve_or_skip

DEVICES = ["cpu", "strict", "strict:device1", pytest.param("cuda", marks=pytest.mark.gpu),
           "torch"]


@pytest.fixture(params=DEVICES)
def device(request):
    """A device flag; skipped with the reason when its library or GPU is missing."""
    return resolve_or_skip(request.param).name


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same seed, so failures reproduce; checks a device deferred
    and the test never read back are forgotten, so that no test reports another's."""
    xpnet.manual_seed(0)
    yield
    discard_deferred_checks()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
