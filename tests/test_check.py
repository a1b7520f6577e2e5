"""`make check`: the suite's verdict on a learner's project, tried on copies of
the stages, whole and broken. A copy of each stage is what a learner who typed
the tutorial correctly has, so each must pass, with its own settings."""

import subprocess
import sys

import pytest

from harness.projects import copy_stage, edit, snapshot
from harness.stages import PARTS, REPO, Stage
from harness.waiting import SUBPROCESS

# The checks of parts 2 to 4 provide Redis on 6379, as tests/test_tools.py's
# do: one worker at a time may hold that port.
pytestmark = [pytest.mark.repository, pytest.mark.xdist_group("port-6379")]


def check(project, part, *options):
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "--tb=no", "-p", "no:cacheprovider",
            "-n", "0",
            f"--part={part}", f"--project={project}", *options,
        ],
        cwd=REPO,
        env=Stage(part, project=project).environment(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("part", PARTS)
def test_a_copy_of_each_stage_passes_and_is_left_as_it_was(tmp_path, part):
    project = copy_stage(part, tmp_path)
    before = snapshot(project)
    code, output = check(project, part)
    assert code == 0, output
    assert "Verdict: PASS. Your project passes all" in output, output
    assert f"checks of part {part}." in output
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
    code, output = check(project, 2, "-x", "-k", selection)
    assert code == 1, output
    assert failure in output
    assert advice in output
    assert "Verdict: NOT YET. 1 of 1 checks of part 2 failed" in output


def test_the_check_needs_one_part_and_a_project_folder(tmp_path):
    project = copy_stage(1, tmp_path)
    code, output = check(project, 1, "--part=2")
    assert code == 4
    assert "--project needs exactly one --part N" in output
    code, output = check(tmp_path, 1)
    assert code == 4
    assert "has no manage.py" in output
