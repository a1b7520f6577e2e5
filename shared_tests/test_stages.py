"""The stage folders as a learner reads them: parts 1 to 4 the tutorial's code,
each one step from the one before, part 5 everything beyond it, marked."""

import ast
import difflib
import subprocess
import sys

import pytest

from harness.browser import headless_shell_environment
from harness.projects import copy_stage, edit
from harness.stages import (
    BEYOND_PART,
    PARTS,
    REPO,
    TUTORIAL_PARTS,
    Stage,
    stage_folder,
)
from harness.tutorial import (
    DEPARTURES,
    EDITED_IN_PLACE,
    SETTINGS,
    WRITTEN_WHOLE,
    section_at,
)
from harness.waiting import SUBPROCESS
from shared_tests.learner_projects import STARTPROJECT, docstring, removed

MARK = "Beyond the tutorial"

# The files each part adds to or changes in the part before it.
STEPS = {
    2: {
        "README.md",
        "chat/consumers.py",
        "chat/routing.py",
        "chat/templates/chat/room.html",
        "chat/urls.py",
        "chat/views.py",
        "mysite/asgi.py",
        "mysite/settings.py",
    },
    3: {"README.md", "chat/consumers.py"},
    4: {"README.md", "chat/tests.py", "mysite/settings.py"},
    5: {
        "DEPLOY.md",
        "README.md",
        "chat/channels_layers.py",
        "chat/channels_patches.py",
        "chat/channels_redis_patches.py",
        "chat/consumers.py",
        "chat/daphne_flow_control.py",
        "chat/daphne_shutdown.py",
        "chat/layer_errors.py",
        "chat/limits.py",
        "chat/redis_py_patches.py",
        "chat/routing.py",
        "chat/stopping.py",
        "chat/templates/chat/index.html",
        "chat/templates/chat/room.html",
        "chat/urls.py",
        "chat/uvicorn_logs.py",
        "chat/validation.py",
        "chat/views.py",
        "mysite/asgi.py",
        "mysite/settings.py",
        "nginx.conf",
    },
}
# Where part 4 departs from the tutorial, as its README lists: the browser it
# starts and the test database's file name, one marked place each.
PART_4_DEVIATIONS = {departure.file: 1 for departure in DEPARTURES}
# What Django 5.2's startproject and startapp write (the version pinned).
DJANGO_5_2 = next(
    files for version, files in STARTPROJECT.items() if version.startswith("5.2.")
)


def git_files(*paths):
    """The files git tracks or would track: what a learner's clone holds."""
    command = ["git", "ls-files", "--cached", "--others", "--exclude-standard"]
    listing = subprocess.run(
        [*command, "--", *paths], cwd=REPO, capture_output=True, text=True, check=True
    )
    return [name for name in listing.stdout.splitlines() if (REPO / name).exists()]


def stage_files(part):
    folder = f"part_{part}"
    return {
        name.removeprefix(folder + "/"): (REPO / name).read_text()
        for name in git_files(folder)
    }


pytestmark = pytest.mark.repository


@pytest.mark.parametrize("part", sorted(STEPS))
def test_each_stage_changes_only_the_files_of_its_step(part):
    before, after = stage_files(part - 1), stage_files(part)
    changed = {
        name
        for name in before.keys() | after.keys()
        if before.get(name) != after.get(name)
    }
    assert changed == STEPS[part], (
        f"part_{part - 1} -> part_{part} should change exactly "
        f"{sorted(STEPS[part])}; unexpected: {sorted(changed - STEPS[part])}, "
        f"missing: {sorted(STEPS[part] - changed)}"
    )


@pytest.mark.parametrize("part", TUTORIAL_PARTS)
def test_the_tutorial_stages_mark_only_part_4s_allowed_deviations(part):
    marked = {
        name: text.count(MARK)
        for name, text in stage_files(part).items()
        if MARK in text and name != "README.md"
    }
    assert marked == (PART_4_DEVIATIONS if part == 4 else {})


def test_each_departure_is_in_part_4_once():
    for departure in DEPARTURES:
        assert stage_files(4)[departure.file].count(departure.stage) == 1, departure


def ruff_format(source):
    return subprocess.run(
        [sys.executable, "-m", "ruff", "format", "-"],
        input=source,
        capture_output=True,
        text=True,
        check=True,
        timeout=SUBPROCESS,
    ).stdout


@pytest.mark.parametrize("part", TUTORIAL_PARTS)
def test_every_file_comes_from_the_tutorial_or_from_django_5_2s_startproject(part):
    """Each file is one the tutorial gives by that part (harness/tutorial.py
    names its section), one it has the learner edit, keeping what
    startproject wrote around the edit (the module docstring), or one it
    never touches, as startproject or startapp wrote it (formatted)."""
    for name, text in stage_files(part).items():
        if name == "README.md" or name == SETTINGS:
            continue
        if name in WRITTEN_WHOLE:
            assert section_at(part, WRITTEN_WHOLE[name]), (
                f"part_{part}/{name} comes later"
            )
        elif name in EDITED_IN_PLACE:
            assert text.startswith(ruff_format(docstring(DJANGO_5_2[name]))), name
        else:
            assert not removed(name), f"part 1 has the learner delete {name}"
            assert text == ruff_format(DJANGO_5_2[name]), f"part_{part}/{name}"


def test_every_change_part_5_makes_is_marked():
    """Each hunk of `make diff-part-5` says why, in a `Beyond the tutorial` line
    (the documentation aside: README.md, DEPLOY.md)."""
    before, after = stage_files(4), stage_files(BEYOND_PART)
    unmarked = []
    code = {name for name in STEPS[BEYOND_PART] if not name.endswith(".md")}
    for name in sorted(code):
        old, new = before.get(name, "").splitlines(), after[name].splitlines()
        if not old:  # a file of its own: its first lines say why it exists
            if MARK not in "\n".join(new[:3]):
                unmarked.append(f"{name} (new file)")
            continue
        matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
        for group in matcher.get_grouped_opcodes(n=2):
            hunk = [line for *_, j1, j2 in group for line in new[j1:j2]]
            if MARK not in "\n".join(hunk):
                unmarked.append(f"{name}: {group[0][3] + 1}")
    assert not unmarked, f"changes from part 4 without a '{MARK}' comment: {unmarked}"


# The consumer's methods as the tutorial writes them (part 5 adds helpers of its own).
TUTORIAL_HANDLERS = {"connect", "disconnect", "receive", "chat_message"}


def consumer_class(part):
    tree = ast.parse((stage_folder(part) / "chat/consumers.py").read_text())
    consumer = next(
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == "ChatConsumer"
    )
    return consumer, tree


# Part 5's mixins, set apart for Channels (chat/channels_patches.py).
MIXINS = {5: ["SkipDatabaseHop", "ShareDatabaseHop", "ReadersPerSource"]}


@pytest.mark.parametrize(
    ("part", "base", "handler_type"),
    [
        (2, "WebsocketConsumer", ast.FunctionDef),
        (3, "AsyncWebsocketConsumer", ast.AsyncFunctionDef),
        (4, "AsyncWebsocketConsumer", ast.AsyncFunctionDef),
        (5, "AsyncWebsocketConsumer", ast.AsyncFunctionDef),
    ],
)
def test_consumer_is_sync_in_part_2_and_async_from_part_3(part, base, handler_type):
    consumer, tree = consumer_class(part)
    assert [ast.unparse(b) for b in consumer.bases] == [*MIXINS.get(part, []), base]
    for method in consumer.body:
        if getattr(method, "name", None) in TUTORIAL_HANDLERS:
            assert isinstance(method, handler_type), (
                f"part_{part}: {method.name} should be {handler_type.__name__}"
            )
    uses_async_to_sync = "async_to_sync" in {
        node.id for node in ast.walk(tree) if isinstance(node, ast.Name)
    }
    assert uses_async_to_sync == (base == "WebsocketConsumer")


def test_part_5s_consumer_is_written_with_channels_handlers_alone():
    """connect, disconnect, receive, chat_message and helpers of its own: no
    __call__ or dispatch of its own (what Channels does not offer publicly is
    set apart, in chat/channels_patches.py)."""
    consumer, _ = consumer_class(BEYOND_PART)
    methods = {
        node.name
        for node in consumer.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    assert methods >= TUTORIAL_HANDLERS
    assert not methods & {"__call__", "dispatch"}


@pytest.mark.parametrize("part", PARTS)
def test_no_stage_imports_another_stage_or_the_repository(part):
    others = ("harness", "shared_tests", "tools", *(f"part_{p}" for p in PARTS))
    for path in stage_folder(part).rglob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {
            name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for name in (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
            )
        }
        assert not imported & set(others), f"{path} imports {imported & set(others)}"


def test_no_database_cache_or_venv_is_tracked():
    assert not [
        name
        for name in git_files(".")
        if name.endswith(".sqlite3") or "__pycache__/" in name or "venv/" in name
    ]


def python(stage, redis_url, *arguments, cwd=None):
    """`python ARGUMENTS` in the stage's folder (or cwd), in its environment,
    whose browser is the suite's (harness/browser.py)."""
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=cwd or stage.folder,
        env={**stage.environment(redis_url), **headless_shell_environment()},
        capture_output=True,
        text=True,
        timeout=SUBPROCESS,
    )


def manage_py(stage, redis_url, *arguments, cwd=None):
    return python(stage, redis_url, "manage.py", *arguments, cwd=cwd)


def own_tests_in_a_copy(stage, redis_url, tmp_path, *command):
    """`python COMMAND` run on the stage's own chat/tests.py, in a copy of the
    stage that holds a learner's development database: the copy, the result."""
    project = copy_stage(stage.part, tmp_path)
    (project / "db.sqlite3").write_bytes(b"")  # the learner's development data
    return project, python(stage, redis_url, *command, cwd=project)


@pytest.mark.any_layer  # Django's system checks do not look at CHANNEL_LAYERS
def test_manage_py_check_is_clean(stage, redis_url):
    result = manage_py(stage, redis_url, "check")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.since_part(4)
@pytest.mark.layer("redis")  # the tutorial's own layer
def test_part_4_own_selenium_tests_pass_and_keep_the_development_database(
    stage, redis_url, tmp_path
):
    project, result = own_tests_in_a_copy(
        stage, redis_url, tmp_path, "manage.py", "test", "chat.tests"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Ran 2 tests" in result.stderr
    assert "OK" in result.stderr
    assert (project / "db.sqlite3").exists()


# A learner's pytest.ini for pytest-django, kept outside the stage.
PYTEST_DJANGO_INI = REPO / "shared_tests" / "pytest-django.ini"


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.since_part(4)
@pytest.mark.before_part(5)  # part 5's chat/tests.py is part 4's, run above
@pytest.mark.layer("redis")  # the tutorial's own layer
def test_part_4_own_selenium_tests_pass_under_pytest_django_too(
    stage, redis_url, tmp_path
):
    """`pytest` in the stage's folder, as a learner who prefers it runs the
    tutorial's tests: pytest-django sets Django up from DJANGO_SETTINGS_MODULE
    (the suite's layer settings, as for manage.py above) and runs the
    tutorial's TestCase as it is. The copy is outside this repository, so
    only the ini given and the copy's own files configure the run."""
    project, result = own_tests_in_a_copy(
        stage, redis_url, tmp_path,
        "-m", "pytest", "-c", str(PYTEST_DJANGO_INI), "--rootdir=.",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "django: version" in result.stdout  # pytest-django set Django up
    assert "2 passed" in result.stdout
    assert (project / "db.sqlite3").exists()


@pytest.mark.browser
def test_a_test_database_of_its_own_lifts_the_tutorial_deleting_the_development_one(
    tmp_path,
):
    project = copy_stage(4, tmp_path)
    (departure,) = [each for each in DEPARTURES if each.file == SETTINGS]
    # The test database's name as the tutorial has it.
    edit(project, SETTINGS, departure.stage, departure.tutorial)
    (project / "db.sqlite3").write_bytes(b"")
    # One of the tutorial's two tests is enough to create the test database,
    # and to delete it.
    one_test = "chat.tests.ChatTests.test_when_chat_message_posted_then_seen_by_everyone_in_same_room"
    result = manage_py(Stage(4), None, "test", one_test, "--noinput", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (project / "db.sqlite3").exists(), "the tutorial's TEST NAME keeps it"
