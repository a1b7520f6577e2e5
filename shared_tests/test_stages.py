"""The stage folders as a learner reads them: each a project of its own, each
one tutorial step away from the one before."""

import ast
import subprocess
import sys

import pytest

from shared_tests.servers import stage_environment
from shared_tests.stages import PARTS, REPO

# The files each part adds to or changes in the part before it.
TUTORIAL_STEPS = {
    2: {
        "README.md",
        "chat/consumers.py",
        "chat/layer_errors.py",  # a dead Redis closes the socket cleanly
        "chat/routing.py",
        "chat/templates/chat/index.html",  # checks room names (validation.py)
        "chat/templates/chat/room.html",
        "chat/validation.py",
        "chat/urls.py",
        "chat/views.py",
        "mysite/asgi.py",
        "mysite/settings.py",
    },
    3: {"README.md", "chat/consumers.py"},
    4: {"README.md", "chat/tests.py", "mysite/settings.py"},
}


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
        name.removeprefix(folder + "/"): (REPO / name).read_bytes()
        for name in git_files(folder)
    }


@pytest.mark.parametrize("part", sorted(TUTORIAL_STEPS))
def test_each_stage_changes_only_the_files_of_its_tutorial_step(part):
    before, after = stage_files(part - 1), stage_files(part)
    changed = {
        name
        for name in before.keys() | after.keys()
        if before.get(name) != after.get(name)
    }
    assert changed == TUTORIAL_STEPS[part], (
        f"part_{part - 1} -> part_{part} should change exactly "
        f"{sorted(TUTORIAL_STEPS[part])}; unexpected: "
        f"{sorted(changed - TUTORIAL_STEPS[part])}, "
        f"missing: {sorted(TUTORIAL_STEPS[part] - changed)}"
    )


def consumer_class(part):
    tree = ast.parse((REPO / f"part_{part}/chat/consumers.py").read_text())
    return next(
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == "ChatConsumer"
    ), tree


@pytest.mark.parametrize(
    ("part", "base", "handler_type"),
    [
        (2, "WebsocketConsumer", ast.FunctionDef),
        (3, "AsyncWebsocketConsumer", ast.AsyncFunctionDef),
        (4, "AsyncWebsocketConsumer", ast.AsyncFunctionDef),
    ],
)
def test_consumer_is_sync_in_part_2_and_async_from_part_3(part, base, handler_type):
    consumer, tree = consumer_class(part)
    assert [ast.unparse(b) for b in consumer.bases] == [base]
    for method in consumer.body:
        if isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef):
            assert isinstance(method, handler_type), (
                f"part_{part}: {method.name} should be {handler_type.__name__}"
            )
    uses_async_to_sync = "async_to_sync" in {
        node.id for node in ast.walk(tree) if isinstance(node, ast.Name)
    }
    assert uses_async_to_sync == (base == "WebsocketConsumer")


@pytest.mark.parametrize("part", PARTS)
def test_no_stage_imports_another_stage_or_the_tests(part):
    for path in (REPO / f"part_{part}").rglob("*.py"):
        source = path.read_text()
        for other in ("shared_tests", *(f"part_{p}" for p in PARTS)):
            assert other not in source, f"{path} mentions {other}"


def test_no_database_cache_or_venv_is_tracked():
    assert not [
        name
        for name in git_files(".")
        if name.endswith(".sqlite3") or "__pycache__/" in name or "venv/" in name
    ]


def manage_py(stage, redis_url, *arguments):
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=stage.folder,
        env=stage_environment(redis_url),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_manage_py_check_is_clean(stage, redis_url):
    result = manage_py(stage, redis_url, "check")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.browser
@pytest.mark.since_part(4)
def test_part_4_own_selenium_tests_pass(stage, redis_url):
    result = manage_py(stage, redis_url, "test", "chat.tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Ran 2 tests" in result.stderr and "OK" in result.stderr
