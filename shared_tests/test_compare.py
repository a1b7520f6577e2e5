"""`make compare`: a learner's folder against a stage, without the noise.

Learner projects are made as a learner makes them (shared_tests/
learner_projects.py): startproject and startapp of Django 5.2, 6.0 and 6.1
(stored, as those versions write them) or of this virtual environment's own
Django, then the tutorial's edits, with startproject's docstrings kept or the
tutorial's blocks pasted over them. Each must show no difference. A learner's
mistake must show, in its file, with the tutorial's section it belongs to.
"""

import re
import subprocess
import sys

import pytest

from harness.projects import copy_stage, edit, snapshot
from harness.stages import REPO, TUTORIAL_PARTS
from harness.tutorial import SETTINGS
from harness.waiting import SUBPROCESS
from shared_tests.learner_projects import STARTPROJECT, generated_here, learner_project
from shared_tests.logs import said
from shared_tests.mistakes import BY_ANCHOR, CATALOGUE, broken_copy

pytestmark = pytest.mark.repository
NO_DIFFERENCE = "No difference: your folder holds what the tutorial asks you to type"


def compare(project, part):
    """`make compare PART=part PROJECT=project`: its exit status and output."""
    result = subprocess.run(
        [sys.executable, "-m", "tools.compare", "--part", str(part), str(project)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS,
    )
    assert not result.stderr, result.stderr
    return result.returncode, result.stdout


def files_shown(output):
    """The files the output says differ, in its order."""
    return re.findall(r"^(\S+\.(?:py|html))(?::|$)", output, re.MULTILINE)


@pytest.mark.parametrize("docstrings", [True, False], ids=["edited", "pasted-over"])
@pytest.mark.parametrize("part", TUTORIAL_PARTS)
@pytest.mark.parametrize("django", sorted(STARTPROJECT))
def test_a_learner_project_of_any_django_version_shows_no_difference(
    tmp_path, django, part, docstrings
):
    project = learner_project(STARTPROJECT[django], part, tmp_path, docstrings)
    code, output = compare(project, part)
    assert (code, files_shown(output)) == (0, []), output
    assert NO_DIFFERENCE in said(output)
    assert f"Django {django}'s startproject" in said(output), (
        "the version it was made with"
    )
    if part == 4:  # the tutorial's lines where part 4 departs from it
        assert "your chat/tests.py, mysite/settings.py follow the tutorial" in said(
            output
        )


def test_a_learner_project_of_this_environments_django_shows_no_difference(tmp_path):
    generated = generated_here(tmp_path)
    project = learner_project(generated, 4, tmp_path / "learner")
    code, output = compare(project, 4)
    assert (code, files_shown(output)) == (0, []), output


def test_a_mistake_is_shown_in_its_file_with_its_tutorial_section(tmp_path):
    project = learner_project(STARTPROJECT["6.1.3"], 2, tmp_path)
    for change in BY_ANCHOR["no-route-found"].edits:  # a leading slash in the route
        edit(project, *change)
    code, output = compare(project, 2)
    assert code == 1, output
    assert files_shown(output) == ["chat/routing.py"], output
    assert "1 file differs from part_2" in output
    shown = output[output.index("chat/routing.py") :].splitlines()
    assert shown[:3] == [
        "chat/routing.py",
        '  Tutorial Part 2 (Implement a Chat Server), "Write your first consumer"',
        "  https://channels.readthedocs.io/en/stable/tutorial/part_2.html#write-your-first-consumer",
    ]
    assert r'    -     re_path(r"ws/chat/(?P<room_name>\w+)/$", ' in output
    assert r'    +     re_path(r"/ws/chat/(?P<room_name>\w+)/$", ' in output


def mistake_in_files(mistake):
    return pytest.param(mistake, id=mistake.anchor)


# Every mistake of TROUBLESHOOTING.md that a learner types (not an installed version).
TYPED_MISTAKES = [mistake_in_files(mistake) for mistake in CATALOGUE if mistake.edits]


@pytest.mark.parametrize("mistake", TYPED_MISTAKES)
def test_every_typed_mistake_shows_in_the_files_it_is_made_in(tmp_path, mistake):
    project = broken_copy(mistake, tmp_path)
    code, output = compare(project, mistake.part)
    assert code == 1, output
    # broken_copy also puts the copy on the in-memory layer, in settings.py.
    assert set(files_shown(output)) - {SETTINGS} == {
        change.file for change in mistake.edits
    } - {SETTINGS}, output
    for file in files_shown(output):
        place = output[output.index(f"\n{file}\n") :].splitlines()[2]
        assert place.startswith("  Tutorial Part "), (file, output)


def test_settings_the_tutorial_never_touches_are_said_to_be_startprojects(tmp_path):
    project = copy_stage(3, tmp_path)
    edit(project, SETTINGS, 'TIME_ZONE = "UTC"', 'TIME_ZONE = "Europe/Paris"')
    code, output = compare(project, 3)
    assert code == 1
    assert (
        'Tutorial Part 1 (Basic Setup), "Creating a project": what startproject '
        "wrote; the tutorial leaves these lines as they are"
    ) in said(output)


def test_files_missing_kept_or_misnamed_are_named_with_their_section(tmp_path):
    project = copy_stage(2, tmp_path)
    (project / "chat/consumers.py").rename(project / "chat/consumer.py")
    (project / "chat/apps.py").write_text("")  # startapp's, never deleted
    code, output = compare(project, 2)
    assert code == 1
    assert (
        "chat/consumer.py: only in your folder. The tutorial never writes it. Did you "
        "mean chat/consumers.py?"
    ) in said(output)
    assert (
        'chat/apps.py: only in your folder. Tutorial Part 1 (Basic Setup), "Creating '
        'the Chat app" has you delete it.'
    ) in said(output)
    assert (
        "chat/consumers.py: missing from your folder. Tutorial Part 2 (Implement a Chat "
        'Server), "Enable a channel layer" creates it.'
    ) in said(output)


def test_a_file_that_is_not_valid_python_is_compared_line_by_line(tmp_path):
    project = copy_stage(3, tmp_path)
    edit(project, "chat/consumers.py", "async def receive(", "async def receive(:")
    code, output = compare(project, 3)
    assert code == 1
    assert "Your file is not valid Python (line 22" in output, output
    assert "async def receive(:" in output


def test_what_is_not_the_learners_code_is_not_compared_and_nothing_is_written(tmp_path):
    """A virtual environment, a cache or a hidden folder inside the project;
    and the folder is left as it was (formatting happens on copies)."""
    project = learner_project(STARTPROJECT["5.2.19"], 3, tmp_path)
    for folder in ("venv", ".git", "chat/__pycache__"):
        (project / folder).mkdir()
        (project / folder / "stray.py").write_text("x = 1\n")
    (project / "venv/pyvenv.cfg").write_text("home = /usr/bin\n")
    before = snapshot(project)
    code, output = compare(project, 3)
    assert (code, files_shown(output)) == (0, []), output
    assert snapshot(project) == before


def test_part_5s_own_lines_are_said_to_be_beyond_the_tutorial(tmp_path):
    project = copy_stage(4, tmp_path)
    code, output = compare(project, 5)
    assert code == 1
    assert (
        "part_5's own, beyond the tutorial (part_5/README.md says what it is for)"
        in said(output)
    )
    assert "chat/limits.py: missing from your folder. Part_5's own" in said(output)
