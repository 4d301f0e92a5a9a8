"""Doctests of xpnet/ (``python -m pytest`` runs them with the tests): every example runs on
the CPU with ``xpnet`` and ``np`` in scope, from a fixed seed."""
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    import xpnet
    xpnet.manual_seed(0)
    doctest_namespace.update(xpnet=xpnet, np=np)


# xpnet/functional.py replaces itself by xpnet.nn.functional (one module, two names): its
# doctests are collected there
collect_ignore = ["xpnet/functional.py", "xpnet/__main__.py"]


def pytest_terminal_summary(terminalreporter):
    """Skips summarised by reason, one line each with a count (instead of a line per test):
    a green run stays short to read and every reason stays visible."""
    from collections import Counter
    reasons = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    if reasons:
        terminalreporter.section("skipped, by reason")
        for reason, count in reasons.most_common():
            terminalreporter.line(f"{count:5d}  {reason}")
