"""`--project PATH --part N`: the shared suite's verdict on a learner's own project.

The same tests run against the learner's folder (the one holding `manage.py`,
`mysite/` and `chat/`), started with its own `manage.py runserver` and its own
settings, as the stage part_N would be. Tests about this repository itself
(marker `repository`) are deselected. Nothing is left in the folder: Python writes no
bytecode there, and the empty db.sqlite3 that runserver's migration check
creates when there is none is removed at the end. Failures end in a summary for the learner, with the advice of
TROUBLESHOOTING.md for whatever the failures and the server's log show.
"""

import os
import re
from pathlib import Path

import pytest

from harness.redis import tutorial_redis
from harness.stages import FIRST_PART_WITH_LAYER, REPO
from tools.troubleshooting import GUIDE, diagnose

# Advice for a failure whose server log matched nothing in TROUBLESHOOTING.md.
FALLBACK_ADVICE = (
    (
        r"never opened its WebSocket",
        "the room page never opened its WebSocket to /ws/chat/<room>/: is "
        "'websocket' in your ProtocolTypeRouter, and does the page's script "
        "open ws://<host>/ws/chat/<room>/?",
    ),
    (
        r"Unable to locate element.*#(?P<id>[\w-]+)",
        "the page has no element with id '{id}': compare your template with the "
        "tutorial's (the tests find elements by these ids).",
    ),
    (
        r"did not go to /chat/",
        "the index page did not go to /chat/<room>/: check its script and the "
        "room URL in chat/urls.py.",
    ),
)


def pytest_addoption(parser):
    parser.getgroup("stages").addoption(
        "--project",
        metavar="PATH",
        help="check your own project (the folder holding manage.py) as the part "
        "given by --part, with its own settings",
    )


def checking(config):
    return config.getoption("project") is not None


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
    # The servers inherit this: no __pycache__ is written into the project.
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    config.stash[FAILURES] = []
    config.stash[FILES_BEFORE] = set(project.rglob("*"))


def pytest_unconfigure(config):
    """runserver's migration check opens the database, which creates an empty
    db.sqlite3 if there was none: remove it, to leave the folder as it was."""
    if not checking(config) or FILES_BEFORE not in config.stash:
        return
    for path in (
        set(config.getoption("project").rglob("*")) - config.stash[FILES_BEFORE]
    ):
        if path.suffix == ".sqlite3" and path.stat().st_size == 0:
            path.unlink()


FAILURES = pytest.StashKey[list]()
FILES_BEFORE = pytest.StashKey[set]()


def pytest_collection_modifyitems(config, items):
    """A learner's project is checked by every test but those about this
    repository (marker `repository`)."""
    if not checking(config):
        return
    about_repository = [item for item in items if item.get_closest_marker("repository")]
    if about_repository:
        config.hook.pytest_deselected(items=about_repository)
        items[:] = [item for item in items if item not in about_repository]


@pytest.fixture(scope="session", autouse=True)
def the_tutorials_redis(request, tmp_path_factory):
    """Redis on 127.0.0.1:6379, where the tutorial's CHANNEL_LAYERS expects it,
    for a project that has reached part 2: an existing one, or one started for
    the check and stopped after."""
    config = request.config
    if not checking(config) or config.getoption("part")[0] < FIRST_PART_WITH_LAYER:
        yield None
        return
    with tutorial_redis(tmp_path_factory.mktemp("redis")) as redis:
        yield redis


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if checking(item.config) and report.failed and call.excinfo is not None:
        server = item.funcargs.get("server")
        log = server.log() if server is not None else ""
        text = f"{call.excinfo.exconly()}\n{report.longreprtext}"
        item.config.stash[FAILURES].append(
            (item.originalname, first_line(call.excinfo), advice(text, log))
        )
    return report


def first_line(excinfo):
    message = str(excinfo.value).strip()
    message = re.sub(r"^Message: ", "", message)
    return message.splitlines()[0] if message else excinfo.typename


def advice(text, log):
    found = [
        f"{line} (see TROUBLESHOOTING.md, #{anchor})"
        for anchor, line in diagnose(text, log)
    ]
    if not found:
        for pattern, line in FALLBACK_ADVICE:
            match = re.search(pattern, text)
            if match:
                found.append(line.format(**match.groupdict()))
    return found


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not checking(config):
        return
    write = terminalreporter.write_line
    part = config.getoption("part")[0]
    failures = config.stash[FAILURES]
    checked = len(terminalreporter.stats.get("passed", [])) + len(
        {name for name, _, _ in failures}
    )
    terminalreporter.section(f"your project, checked as part {part}")
    write(f"Project: {config.getoption('project')}")
    seen_messages, all_advice = set(), []
    for name, message, lines in failures:
        if message not in seen_messages:
            seen_messages.add(message)
            write(f"  FAILED {name.removeprefix('test_').replace('_', ' ')}:")
            write(f"         {message}")
        all_advice += [line for line in lines if line not in all_advice]
    if all_advice:
        write("What to look at:")
        for line in all_advice:
            write(f"  - {line}")
    if failures:
        failed = len({name for name, _, _ in failures})
        write(
            f"Verdict: NOT YET. {failed} of {checked} checks of part {part} failed; "
            f"common mistakes and their fixes: {GUIDE.relative_to(REPO)}"
        )
    elif exitstatus == 0 and checked:
        write(
            f"Verdict: PASS. Your project passes all {checked} checks of part {part}."
        )
    else:
        write(
            f"Verdict: NOT YET. The checks did not run to the end (exit {exitstatus})."
        )
