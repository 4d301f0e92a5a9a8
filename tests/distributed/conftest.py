import sys

import pytest

from xpnet.distributed import world


@pytest.fixture(autouse=True)
def _fresh_world():
    """Each test starts from an uninitialised world and leaves none (nor its excepthook)."""
    hook = sys.excepthook
    world._reset()
    yield
    world._reset()
    sys.excepthook = hook
