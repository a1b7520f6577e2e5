"""`make check`: the suite's verdict on a learner's project, tried on copies of
the stages, whole and broken. Each run is a narrow selection (-k, -x) in a
pytest of its own, so the whole file takes seconds."""

import subprocess
import sys

import pytest

from shared_tests.servers import stage_environment
from shared_tests.stages import REPO
from shared_tests.variants import copy_stage, edit, snapshot


def check(project, part, selection, *options):
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-x", "--tb=no",
            "-p", "no:cacheprovider", f"--part={part}", f"--project={project}",
            "-k", selection, *options,
        ],
        cwd=REPO,
        env=stage_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def test_a_copy_of_a_stage_passes_and_is_left_as_it_was(tmp_path):
    project = copy_stage(2, tmp_path)
    before = snapshot(project)
    code, output = check(
        project, 2, "asgi_daphne or room_page_opens or no_stage_imports_another"
    )
    assert code == 0, output
    assert "Verdict: PASS. Your project passes all 2 checks of part 2." in output
    assert "deselected" in output, "tests about this repository do not run"
    assert snapshot(project) == before, "the check wrote into the project"


@pytest.mark.parametrize(
    ("mistake", "selection", "failure", "advice"),
    [
        (
            ("mysite/asgi.py", '        "websocket": ', '        "wbsocket": '),
            "room_page_opens",
            "the room page at /chat/lobby/ never opened its WebSocket",
            "the ProtocolTypeRouter in mysite/asgi.py has no 'websocket' entry",
        ),
        (
            ("mysite/settings.py", '    "daphne",\n', ""),
            "asgi_daphne",
            "runserver did not start the ASGI/Daphne development server",
            "put 'daphne' first in INSTALLED_APPS",
        ),
    ],
    ids=["no-websocket-router", "daphne-not-installed"],
)
def test_a_broken_copy_fails_with_advice(tmp_path, mistake, selection, failure, advice):
    project = copy_stage(2, tmp_path)
    edit(project, *mistake)
    code, output = check(project, 2, selection)
    assert code == 1, output
    assert failure in output
    assert advice in output
    assert "Verdict: NOT YET. 1 of 1 checks of part 2 failed" in output


def test_the_check_needs_one_part_and_a_project_folder(tmp_path):
    project = copy_stage(1, tmp_path)
    code, output = check(project, 1, "nothing", "--part=2")
    assert code == 4 and "--project needs exactly one --part N" in output
    code, output = check(tmp_path, 1, "nothing")
    assert code == 4 and "has no manage.py" in output
