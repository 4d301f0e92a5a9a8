"""``torch.backends.mps``: xpnet has no Apple-GPU device, so both answers are False."""


def is_available() -> bool:
    """False: xpnet runs on NumPy (cpu) and CuPy (cuda), not on Apple's Metal."""
    return False


def is_built() -> bool:
    """False: xpnet has no MPS device."""
    return False
