"""Loaded first, from the repository root, whatever the command line says: so
`pytest --part 2` knows its options before it has found shared_tests/.
The suite's fixtures are in shared_tests/conftest.py."""

from shared_tests.stages import LAYERS, PARTS

# `--project PATH`: the same tests, run against a learner's own project.
pytest_plugins = ("shared_tests.check",)


def pytest_addoption(parser):
    group = parser.getgroup("stages")
    group.addoption(
        "--part",
        type=int,
        action="append",
        choices=PARTS,
        help="run against this stage only (repeatable; default: all four)",
    )
    group.addoption(
        "--layer",
        action="append",
        choices=LAYERS,
        help="run parts 2-4 on this channel layer only (default: both)",
    )
    group.addoption(
        "--load-clients",
        type=int,
        default=200,
        help="clients in the load test's room (default: 200)",
    )
    group.addoption(
        "--load-messages",
        type=int,
        default=1,
        help="messages each load-test client sends at once (default: 1; "
        "`make test-load` sends 10)",
    )
