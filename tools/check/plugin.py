"""make check's pytest hooks, registered by the root conftest.py only when
`--project` is given: every hook here runs for a project being checked.

Before any test, the project is looked at once (project.py). A project that
cannot be checked at all (its server does not start, starts as Django's
WSGI server, has other versions than the tutorial's, or an ASGI module that
fails alone) gets its verdict at once and no test is collected. Otherwise
every test but those about this repository runs against the project's
runserver, and each failure is diagnosed as it happens (diagnosis.py). The
verdict (verdict.py) is written last, and the folder is left as it was.
"""

import os
import shutil
import subprocess
import traceback
from functools import partial
from pathlib import Path

import pytest

from harness.clients import EXCHANGES
from harness.redis import tutorial_redis
from harness.stages import FIRST_PART_WITH_LAYER, OWN_SETTINGS, Stage
from harness.waiting import GIVE_UP_WATCHERS, SUBPROCESS
from tools.check.diagnosis import describe, known_mistake_logged, startup_problem
from tools.check.project import leave_as_found, look_at_project
from tools.check.state import STATE, CheckState
from tools.check.verdict import write_verdict

# The project's servers turn an un-awaited coroutine's warning into an error,
# so that a channel layer call made without async_to_sync shows in the log
# (Daphne's runserver hides Python's warnings). Only that warning is changed.
UNAWAITED_COROUTINES = "error:coroutine:RuntimeWarning"


def pytest_configure(config):
    project = Path(config.getoption("project")).expanduser().resolve()
    parts = config.getoption("part") or []
    if len(parts) != 1:
        raise pytest.UsageError(
            "--project needs exactly one --part N: the tutorial part your project "
            "has reached, for example `make check PART=2 PROJECT=~/mysite`"
        )
    if config.getoption("layer"):
        raise pytest.UsageError(
            "--layer does not apply to --project: your project runs with its own "
            "CHANNEL_LAYERS"
        )
    if not (project / "manage.py").is_file():
        raise pytest.UsageError(
            f"{project} has no manage.py: give the folder that holds manage.py, "
            "mysite/ and chat/"
        )
    config.option.project = project
    python = config.getoption("python")
    if python is not None:
        config.option.python = python = learners_python(python)
    # The servers inherit these: no __pycache__ is written into the project,
    # and an un-awaited layer call is logged.
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    os.environ["PYTHONWARNINGS"] = ",".join(
        filter(None, [os.environ.get("PYTHONWARNINGS"), UNAWAITED_COROUTINES])
    )
    config.stash[STATE] = CheckState.begin(project, parts[0], python)


def learners_python(given):
    """The learner's interpreter, as a path that runs: a bare name is looked
    up on PATH. A virtual environment's python is a link that must not be
    resolved (its packages are found from where the link lies)."""
    path = given if os.path.dirname(given) else shutil.which(given)
    path = os.path.abspath(os.path.expanduser(path or given))
    try:
        subprocess.run([path, "-c", "import sys"], check=True, timeout=SUBPROCESS)
    except (OSError, subprocess.SubprocessError) as error:
        raise pytest.UsageError(
            f"PYTHON={given} does not run ({error}): give the python of the "
            "environment you run your project with, e.g. ~/code/mysite/venv/bin/python"
        ) from None
    return path


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    """Look at the project and start its runserver once, before any test: a
    project that cannot be checked is told so at once, with the one reason."""
    config, state = session.config, session.config.stash[STATE]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.reportchars = ""  # the verdict replaces pytest's summary
    stage = Stage(state.part, OWN_SETTINGS, state.project, python=state.python)
    log_path = state.report.with_suffix(".runserver.log")
    findings = look_at_project(stage, log_path)
    state.found = findings.found
    state.uses_redis = findings.settings.get("redis", True)
    state.write_report(
        "versions, and runserver's start",
        f"{findings.versions}\n{findings.runserver_output}",
    )
    if findings.asgi_import_error:
        module = findings.settings["asgi_module"]
        state.write_report(f"import {module} alone", findings.asgi_import_error)
    state.startup = startup_problem(findings, state.part)
    if state.startup is None:
        state.server = findings.server
        GIVE_UP_WATCHERS.append(partial(known_mistake_logged, state))
        return
    if findings.server is not None:
        findings.server.stop()
        log_path.unlink()


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session):
    """A project that cannot be checked runs no test, so none is collected."""
    return True if session.config.stash[STATE].startup else None


def pytest_collection_modifyitems(config, items):
    """A learner's project is checked by every test but those about this
    repository (marker `repository`)."""
    about_repository = [item for item in items if item.get_closest_marker("repository")]
    if about_repository:
        config.hook.pytest_deselected(items=about_repository)
        items[:] = [item for item in items if item not in about_repository]


@pytest.fixture(scope="session")
def project_server(request):
    """The project's runserver, started before any test: the suite's `server`."""
    return request.config.stash[STATE].server


@pytest.fixture(scope="session", autouse=True)
def the_tutorials_redis(request, tmp_path_factory):
    """Redis on 127.0.0.1:6379, where the tutorial's CHANNEL_LAYERS expects it,
    for a project that has reached part 2: an existing one, or one started for
    the check and stopped after. A project whose CHANNEL_LAYERS use no Redis
    needs none."""
    state = request.config.stash[STATE]
    if state.part < FIRST_PART_WITH_LAYER or not state.uses_redis:
        yield None
        return
    with tutorial_redis(tmp_path_factory.mktemp("redis")) as redis:
        yield redis


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    state = item.config.stash[STATE]
    state.log_start = len(state.server.log()) if state.server else 0
    EXCHANGES.clear()  # what this check's clients see, for the diagnosis


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    state = item.config.stash[STATE]
    name = item.originalname.removeprefix("test_").replace("_", " ")
    if report.failed and call.excinfo is not None:
        log = state.server_log()
        state.failures.append(describe(name, call.excinfo, log, list(EXCHANGES)))
        state.write_report(
            f"FAILED {item.nodeid} ({call.when})",
            "".join(traceback.format_exception(call.excinfo.value))
            + f"\n--- the server's log during this check ---\n{log}",
        )
    elif report.passed and call.when == "call":
        state.passed.append(name)
    return report


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    if session.config.stash[STATE].startup:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config):
    """Write the verdict last, then leave the folder as it was."""
    state = config.stash.get(STATE, None)
    if state is None:  # the command line was refused
        return
    if state.server is not None:
        state.server.stop()
        state.server.log_path.unlink()
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    write_verdict(reporter.write_line if reporter else print, state)
    leave_as_found(state.project, state.files_before)
