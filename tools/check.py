"""`--project=PATH --part=N`: the shared suite's verdict on a learner's own project.

The same tests run against the learner's folder (the one holding `manage.py`,
`mysite/` and `chat/`), started with its own `manage.py runserver` and its own
settings, as the stage part_N would be. Tests about this repository itself
(marker `repository`) are deselected. Nothing is left in the folder: Python
writes no bytecode there, and the empty db.sqlite3 that runserver's migration
check creates when there is none is removed at the end.

Before any test, the check reads the versions the project's Python has,
starts the project's runserver once, and imports its ASGI module alone as
daphne or uvicorn would. A server that does not start (a system check error
such as daphne.E001, a missing or unimportable ASGI_APPLICATION), that starts
as the wrong server (Django's WSGI one), an ASGI module that fails on its own,
or a Python whose Channels and Daphne are not the tutorial's, ends the check
at once with that one diagnosis. Otherwise every test runs, and each failure
is matched, by what the server did during it (the exception in its log, the
HTTP status or close code the client got), to one entry of TROUBLESHOOTING.md
(harness/troubleshooting.py), or to none, which is said.

The output ends with the verdict a learner reads: the part, the checks that
passed, each failure with one sentence and the entry's link. Tracebacks and
the server's log go to a file under .run/check/, whose path it prints.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from harness.redis import tutorial_redis
from harness.servers import start_stage
from harness.stages import FIRST_PART_WITH_LAYER, OWN_SETTINGS, REPO, Stage
from harness.troubleshooting import first_problem, installed_versions
from harness.waiting import GIVE_UP_WATCHERS, SUBPROCESS, wait_for

REPORTS = REPO / ".run" / "check"
# The project's servers turn an un-awaited coroutine's warning into an error,
# so that a channel layer call made without async_to_sync shows in the log
# (Daphne's runserver hides Python's warnings). Only that warning is changed.
UNAWAITED_COROUTINES = "error:coroutine:RuntimeWarning"

# A failure that no entry matches is still said in the learner's terms when
# the check's own message is about the page.
PAGE_FAILURES = (
    (
        r"never opened its WebSocket",
        "the room page never opened its WebSocket to /ws/chat/<room>/: does "
        "its script open ws://<host>/ws/chat/<room>/?",
    ),
    (
        r"Unable to locate element.*#(?P<id>[\w-]+)",
        "the page has no element with id '{id}': compare your template with "
        "the tutorial's (the checks find elements by these ids).",
    ),
    (
        r"did not go to /chat/",
        "the index page did not go to /chat/<room>/: check its script and the "
        "room URL in chat/urls.py.",
    ),
)


@dataclass
class Failure:
    name: str  # the check, in words
    message: str  # the failure's first line
    anchor: str | None  # the entry of TROUBLESHOOTING.md it matches, if any
    sentence: str  # one sentence for the learner


def pytest_addoption(parser):
    parser.getgroup("stages").addoption(
        "--project",
        metavar="PATH",
        help="check your own project (the folder holding manage.py) as the part "
        "given by --part, with its own settings",
    )


def checking(config):
    return config.getoption("project") is not None


FAILURES = pytest.StashKey[list]()
PASSED = pytest.StashKey[list]()
FILES_BEFORE = pytest.StashKey[set]()
REPORT = pytest.StashKey[Path]()
STARTUP = pytest.StashKey[tuple]()
LOG_START = pytest.StashKey[int]()  # a check's own part of the log: after its setup
USES_REDIS = pytest.StashKey[bool]()
SERVER = pytest.StashKey[object]()
CHECK_LOG_START = pytest.StashKey[int]()  # the server's log, as a check began
SERVER_FAILED = re.compile(r"^Traceback|was never awaited", re.MULTILINE)
DAPHNE_LOOKS_EVERY = 1.0  # seconds: Daphne's application_checker


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "repository: about this repository itself, not run with --project"
    )
    if not checking(config):
        return
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
    # The servers inherit these: no __pycache__ is written into the project,
    # and an un-awaited layer call is logged.
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    os.environ["PYTHONWARNINGS"] = ",".join(
        filter(None, [os.environ.get("PYTHONWARNINGS"), UNAWAITED_COROUTINES])
    )
    config.stash[FAILURES] = []
    config.stash[PASSED] = []
    config.stash[FILES_BEFORE] = set(project.rglob("*"))
    REPORTS.mkdir(parents=True, exist_ok=True)
    report = REPORTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    report.write_text(f"make check PART={parts[0]} PROJECT={project}\n")
    config.stash[REPORT] = report


def write_report(config, title, text):
    with open(config.stash[REPORT], "a") as report:
        report.write(f"\n===== {title} =====\n{text.rstrip()}\n")


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    """Start the project's runserver once, before any test: a project whose
    server cannot be checked is told so at once, with the one reason. A server
    that starts well is the one the checks then use."""
    config = session.config
    if not checking(config):
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.reportchars = ""  # the verdict replaces pytest's summary
    part = config.getoption("part")[0]
    stage = Stage(part, OWN_SETTINGS, config.option.project)
    log_path = config.stash[REPORT].with_suffix(".runserver.log")
    # Independent looks at the project, side by side: each is a Python
    # process that imports Django, and the check starts when all have answered.
    with ThreadPoolExecutor(3) as pool:
        versions = pool.submit(installed_versions, stage.environment(), stage.folder)
        looked = pool.submit(look_at, stage)
        started = pool.submit(start, stage, log_path)
        versions, (facts, imported), server = (
            versions.result(),
            looked.result(),
            started.result(),
        )
    config.stash[USES_REDIS] = facts.get("redis", True)
    output = log_path.read_text(errors="replace")
    write_report(config, "versions, and runserver's start", f"{versions}\n{output}")
    found = first_problem(versions, output)
    if server is None:
        headline = (
            f"Your server did not start, so none of the checks of part {part} ran."
        )
    else:
        headline = (
            f"Your server started, but not as part {part} needs, so no check ran."
        )
    if server is not None and not found and imported:
        write_report(config, f"import {facts['asgi_module']} alone", imported)
        found = first_problem(imported)
        headline = (
            "runserver starts, but mysite/asgi.py fails when an ASGI server "
            "imports it on its own, so no check ran."
        )
    if found or server is None:
        # No test is collected (see pytest_collection): the verdict says why.
        config.stash[STARTUP] = (found, headline, last_lines(output))
        if server is not None:
            server.stop()
        log_path.unlink()
    else:
        config.stash[SERVER] = server
        GIVE_UP_WATCHERS.append(partial(known_mistake_logged, config))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    server = item.config.stash.get(SERVER, None)
    if server is not None:
        item.config.stash[CHECK_LOG_START] = len(server.log())


def known_mistake_logged(config):
    """For a check's wait for a message: once the server has failed since the
    check began (a traceback, a coroutine never awaited) in a way
    TROUBLESHOOTING.md knows, the message is not coming, and the check fails
    about a second later rather than after a whole wait. A refusal the server
    logs, as a hostile client's check provokes, is not a failure and ends
    nothing."""
    server, start = config.stash[SERVER], config.stash[CHECK_LOG_START]

    def reason():
        logged = server.log()[start:]
        found = SERVER_FAILED.search(logged) and first_problem(logged)
        if not found:
            return None
        # The failure's whole story first: the diagnosis reads the log once the
        # check has failed, and Daphne logs a consumer's exception up to a
        # second after it, on its next look at the application instances.
        with suppress(TimeoutError):
            wait_for(log_quiet_for(server, DAPHNE_LOOKS_EVERY), "a quiet log")
        return f"the server failed: {found[0].anchor}"

    return reason


def log_quiet_for(server, seconds):
    """A condition: true once the server's log has not grown for `seconds`."""
    last = {"size": None, "at": 0.0}

    def quiet():
        size, now = len(server.log()), time.monotonic()
        if size != last["size"]:
            last.update(size=size, at=now)
        return now - last["at"] >= seconds

    return quiet


def start(stage, log_path):
    """The project's runserver, listening; None when it does not start."""
    try:
        return start_stage(stage, log_path)
    except (RuntimeError, TimeoutError):
        return None


def started_server(config):
    """The server `make check` started for the project, for the `server`
    fixture: None when no project is checked."""
    return config.stash.get(SERVER, None)


LOOK_SCRIPT = """
import importlib, json, os, sys
try:
    settings = importlib.import_module(
        os.environ.get("DJANGO_SETTINGS_MODULE", "mysite.settings")
    )
except Exception:
    print("{}")  # runserver's start will say why
    sys.exit(0)
layers = json.dumps(getattr(settings, "CHANNEL_LAYERS", {}), default=str)
asgi = (getattr(settings, "ASGI_APPLICATION", None) or "").rpartition(".")[0]
print(json.dumps({"redis": "redis" in layers.lower(), "asgi_module": asgi}), flush=True)
if asgi:
    importlib.import_module(asgi)  # as daphne or uvicorn do, Django not set up
"""


def look_at(stage):
    """One Python process reads the project's settings module (does its
    CHANNEL_LAYERS use Redis? which is its ASGI module?), then imports that
    ASGI module alone, as an ASGI server does: those facts ({} when the
    settings do not import), and the import's error output ("" when it
    imports)."""
    result = subprocess.run(
        [sys.executable, "-c", LOOK_SCRIPT],
        cwd=stage.folder,
        env=stage.environment(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS,
    )
    try:
        facts = json.loads(result.stdout.strip().splitlines()[0])
    except (IndexError, ValueError):
        facts = {}
    failed = result.returncode and facts.get("asgi_module")
    return facts, result.stderr if failed else ""


def last_lines(text, count=3):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-count:]


def pytest_unconfigure(config):
    """Write the verdict last; then leave the folder as it was: runserver's
    migration check creates an empty db.sqlite3 when there is none."""
    if not checking(config) or FILES_BEFORE not in config.stash:
        return
    if SERVER in config.stash:
        config.stash[SERVER].stop()
        config.stash[SERVER].log_path.unlink()
    write_verdict(config)
    for path in (
        set(config.getoption("project").rglob("*")) - config.stash[FILES_BEFORE]
    ):
        if path.suffix == ".sqlite3" and path.stat().st_size == 0:
            path.unlink()


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session):
    """A project whose server cannot be checked runs no test, so none is
    collected: its verdict comes at once."""
    if checking(session.config) and STARTUP in session.config.stash:
        return True
    return None


def pytest_collection_modifyitems(config, items):
    """A learner's project is checked by every test but those about this
    repository (marker `repository`)."""
    if not checking(config):
        return
    about_repository = [item for item in items if item.get_closest_marker("repository")]
    if about_repository:
        config.hook.pytest_deselected(items=about_repository)
        items[:] = [item for item in items if item not in about_repository]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    if checking(session.config) and STARTUP in session.config.stash:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session", autouse=True)
def the_tutorials_redis(request, tmp_path_factory):
    """Redis on 127.0.0.1:6379, where the tutorial's CHANNEL_LAYERS expects it,
    for a project that has reached part 2: an existing one, or one started for
    the check and stopped after. A project whose CHANNEL_LAYERS use no Redis
    needs none."""
    config = request.config
    if (
        not checking(config)
        or config.getoption("part")[0] < FIRST_PART_WITH_LAYER
        or not config.stash.get(USES_REDIS, True)
    ):
        yield None
        return
    with tutorial_redis(tmp_path_factory.mktemp("redis")) as redis:
        yield redis


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if not checking(item.config):
        return report
    server = item.funcargs.get("server")
    log = server.log() if server is not None else ""
    if call.when == "setup":
        item.stash[LOG_START] = len(log)
    log = log[item.stash.get(LOG_START, 0) :]
    name = item.originalname.removeprefix("test_").replace("_", " ")
    if report.failed and call.excinfo is not None:
        failure = describe(name, call.excinfo, log)
        item.config.stash[FAILURES].append(failure)
        write_report(
            item.config,
            f"FAILED {item.nodeid} ({call.when})",
            "".join(traceback.format_exception(call.excinfo.value))
            + f"\n--- the server's log during this check ---\n{log}",
        )
    elif report.passed and call.when == "call":
        item.config.stash[PASSED].append(name)
    return report


def describe(name, excinfo, log):
    """The failure in the learner's terms: the entry its evidence matches, or
    what the check saw when none does."""
    message = first_line(excinfo)
    found = first_problem(f"{excinfo.exconly()}\n{message}", log)
    if found:
        problem, sentence = found
        return Failure(name, message, problem.anchor, sentence)
    for pattern, sentence in PAGE_FAILURES:
        match = re.search(pattern, str(excinfo.value))
        if match:
            return Failure(name, message, None, sentence.format(**match.groupdict()))
    return Failure(name, message, None, sentence_of(message))


def first_line(excinfo):
    message = str(excinfo.value).strip()
    message = re.sub(r"^Message: ", "", message)
    return message.splitlines()[0] if message else excinfo.typename


def sentence_of(message):
    return message if message.endswith(".") else f"{message}."


def link(anchor):
    return f"TROUBLESHOOTING.md#{anchor}"


def write_verdict(config):
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    write = reporter.write_line if reporter is not None else print
    part = config.getoption("part")[0]
    report = config.stash[REPORT]
    shown = report.relative_to(REPO) if report.is_relative_to(REPO) else report
    write("")
    write(f"Your project, checked as part {part}: {config.getoption('project')}")
    if STARTUP in config.stash:
        startup_verdict(write, config.stash[STARTUP], shown)
        return
    failures, passed = config.stash[FAILURES], config.stash[PASSED]
    failed_names = list(dict.fromkeys(failure.name for failure in failures))
    passed_names = [name for name in dict.fromkeys(passed) if name not in failed_names]
    checked = len(failed_names) + len(passed_names)
    if not checked:
        write("No check ran to the end.")
        write(f"Details: {shown}")
        write("Verdict: NOT YET. The checks did not run.")
        return
    write(
        wrap(
            f"Passed {len(passed_names)} of {checked} checks"
            + (": " + "; ".join(passed_names) + "." if passed_names else ".")
        )
    )
    if failures:
        write(f"Failed {len(failed_names)}:")
        for (anchor, sentence), names in group(failures).items():
            write(wrap("; ".join(names), "  x "))
            write(wrap(sentence, "    Why: "))
            write(
                f"    Fix: {link(anchor)}"
                if anchor
                else "    No entry of TROUBLESHOOTING.md matches what your server "
                "did; see the details below."
            )
        write(f"Tracebacks and your server's log: {shown}")
        first = next((f.anchor for f in failures if f.anchor), None)
        write(
            f"Verdict: NOT YET. {len(failed_names)} of {checked} checks of part "
            f"{part} failed" + (f"; start with {link(first)}." if first else ".")
        )
    else:
        write(
            f"Verdict: PASS. Your project passes all {checked} checks of part {part}."
        )


def group(failures):
    """Failures with the same diagnosis together, in the order they came."""
    groups = {}
    for failure in failures:
        names = groups.setdefault((failure.anchor, failure.sentence), [])
        if failure.name not in names:
            names.append(failure.name)
    return groups


def startup_verdict(write, startup, shown):
    found, headline, output = startup
    write(headline)
    if found:
        problem, sentence = found
        write(wrap(sentence, "  x Why: "))
        write(f"    Fix: {link(problem.anchor)}")
    else:
        write("  x No entry of TROUBLESHOOTING.md matches; runserver's last words:")
        for line in output:
            write(f"      {line}")
    write(f"runserver's output: {shown}")
    write("Verdict: NOT YET. Fix this first, then run make check again.")


def wrap(text, prefix=""):
    return textwrap.fill(
        text, width=100, initial_indent=prefix, subsequent_indent=" " * len(prefix)
    )
