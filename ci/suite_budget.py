"""A pytest plugin: a time budget for the whole session, so that a run that cannot finish in
time still ends by itself, with its summary, its failure list and its junit file; and a failure
list written as the failures happen, which even a killed run leaves behind.

    PYTHONPATH=ci:. python -m pytest -p suite_budget --suite-budget 200 \
        --suite-failures /tmp/failures.txt ...

Once the budget is spent, every test not yet started is skipped (before its fixtures are set
up, so the rest of the session takes a second or so) with the reason "suite budget spent"; the
terminal summary says how many. The deadline is absolute and shared through the environment
(``XPNET_SUITE_DEADLINE``, seconds since the epoch), so pytest-xdist's workers keep the same one.
``--suite-failures FILE`` gets one line per failing test (``FAILED id`` for the test itself,
``ERROR id (setup)`` for its setup or teardown), appended and flushed at once by the process
that reports (the main one under xdist).
A test that hangs is not stopped by this: ``ci/gpu-all.sh`` keeps ``timeout -s INT`` around
pytest for that (SIGINT makes pytest stop and still write both).
"""
from __future__ import annotations

import os
import time

import pytest

ENV = "XPNET_SUITE_DEADLINE"
REASON = "suite budget spent"


def pytest_addoption(parser):
    parser.addoption("--suite-budget", type=float, default=None, metavar="SECONDS",
                     help="skip the tests not started once this many seconds have passed "
                          f"since the session began (shared with xdist workers through {ENV})")


    parser.addoption("--suite-failures", default=None, metavar="FILE",
                     help="append each failing test's id to FILE as soon as it fails")


def pytest_configure(config):
    global _FAILURES
    path = config.getoption("suite_failures")
    if path and not hasattr(config, "workerinput"):     # not in an xdist worker
        _FAILURES = path
    budget = config.getoption("suite_budget")
    if os.environ.get(ENV):
        config._suite_deadline = float(os.environ[ENV])      # a worker, or set by the caller
    elif budget is not None:
        if budget < 0:
            raise pytest.UsageError(f"--suite-budget must be at least 0 seconds, got {budget}")
        config._suite_deadline = time.time() + budget
        os.environ[ENV] = repr(config._suite_deadline)       # xdist workers start later
    else:
        config._suite_deadline = None


_FAILURES = None


def pytest_runtest_logreport(report):
    if _FAILURES and report.failed:
        line = (f"FAILED {report.nodeid}" if report.when == "call"
                else f"ERROR {report.nodeid} ({report.when})")
        with open(_FAILURES, "a") as f:
            f.write(line + "\n")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    deadline = item.config._suite_deadline
    if deadline is not None and time.time() > deadline:
        pytest.skip(REASON)


def pytest_terminal_summary(terminalreporter, config):
    if config._suite_deadline is None:
        return
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if REASON in str(getattr(r, "longrepr", ""))]
    if skipped:
        terminalreporter.write_line(f"suite budget: {len(skipped)} tests not run, the time "
                                    f"budget was spent (XPNET_SUITE_DEADLINE)")
