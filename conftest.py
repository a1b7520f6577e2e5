"""Loaded first, from the repository root, whatever the command line says: so
`pytest --part 2` knows its options before it has found shared_tests/.
The suite's fixtures are in shared_tests/conftest.py. `--project PATH` runs
the same tests against a learner's own project: `make check`, whose plugin
(tools/check/) is registered only then."""

import os

import pytest

from harness.stages import LAYERS, PARTS
from harness.waiting import TEST_TIMEOUT


def pytest_addoption(parser):
    group = parser.getgroup("stages")
    group.addoption(
        "--part",
        type=int,
        action="append",
        choices=PARTS,
        help="run against this stage only (repeatable; default: all five)",
    )
    group.addoption(
        "--layer",
        action="append",
        choices=LAYERS,
        help="run parts 2-5 on this channel layer only (default: both)",
    )
    group.addoption(
        "--project",
        metavar="PATH",
        help="check your own project (the folder holding manage.py) as the part "
        "given by --part, with its own settings",
    )
    group.addoption(
        "--python",
        metavar="PATH",
        help="with --project: run your project with this Python and its packages "
        "(default: this repository's)",
    )


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: two workers more than there are cores. The tests that wait
    on a clock are spread over the two extra ones first (shared_tests/
    conftest.py's waits_groups), so the cores stay busy with the others
    meanwhile; a test also spends much of its time waiting on a server,
    Redis or the browser, and one more worker runs another test then (make
    test on 2 cores, one morning: 108 to 121 s with 4 workers, after 148 to
    161 s with 3)."""
    return (os.cpu_count() or 1) + 2


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """A test that hangs fails after TEST_TIMEOUT, with its name (pytest-timeout)."""
    if config.getoption("timeout", None) is None:
        config.option.timeout = TEST_TIMEOUT
    if config.getoption("project") is not None:
        config.pluginmanager.import_plugin("tools.check.plugin")
    elif config.getoption("python") is not None:
        raise pytest.UsageError(
            "--python is for --project: the Python your project runs with"
        )
