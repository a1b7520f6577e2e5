"""`make check`: the suite's verdict on a learner's project, tried on copies of
the stages, whole and broken, the way pytest plugins are tested: a pytest run
in a subprocess, its exit code and output asserted.

A copy of each stage is what a learner who typed the tutorial correctly has,
so each must pass, with its own settings. A copy with one of the mistakes of
TROUBLESHOOTING.md (made as shared_tests/mistakes.py writes it) must fail,
and name that mistake's entry before any other.
A mistake that stops the server is diagnosed before any test runs; for the
others one check is selected (`-x -k`), as a learner's full run would fail
the same way on every check that opens a room.
"""

import re
import subprocess
import sys

import pytest

from harness.projects import copy_stage, edit, snapshot
from harness.stages import (
    FIRST_PART_WITH_LAYER,
    OWN_SETTINGS,
    PARTS,
    REPO,
    TUTORIAL_PARTS,
    Stage,
)
from harness.waiting import SUBPROCESS
from shared_tests.mistakes import A_ROOM, CATALOGUE, broken_copy, environment

# A check of a project whose layer is the tutorial's Redis provides Redis on
# 6379, as shared_tests/test_tools.py's do: one worker at a time may hold that port.
pytestmark = pytest.mark.repository
NEEDS_6379 = pytest.mark.xdist_group("port-6379")

# The Makefile's `check` target after `$(PY)`: pytest, quiet, in one process.
MAKE_CHECK = ["-m", "pytest", "-q", "--tb=no", "-p", "no:cacheprovider", "-n", "0"]


def check(project, part, *options, env=None):
    """`make check` as the Makefile runs it, on project as part N.

    Its Python may write the bytecode of this repository's own modules, as a
    learner's does: the first check compiles the suite and the others reuse
    it (the check keeps the project itself free of bytecode)."""
    env = dict(env or Stage(part, OWN_SETTINGS, project).environment())
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [sys.executable, *MAKE_CHECK, f"--part={part}", f"--project={project}"]
    result = subprocess.run(
        [*command, *options],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # in the order a terminal shows them
        text=True,
        timeout=SUBPROCESS,
    )
    return result.returncode, result.stdout


def linked_anchors(output):
    return re.findall(r"TROUBLESHOOTING\.md#([\w-]+)", output)


def verdict(output):
    """The output from the verdict's first line on."""
    return output[output.index("Your project, checked as part") :]


# The stages' own tests prove each stage passes every check; here the check
# itself is under test on a copy of each, with its own settings (the
# tutorial's Redis on 6379 for parts 2 to 4): the check that the server
# starts, and one over a socket. Part 4, the end of the tutorial, also gets
# one in the browser, the way a learner's `make check` runs those. The
# tutorial's limits match too (each is named "..._lifts_..."): as tests about
# this repository, the check must leave them out.
SOME_CHECKS = (
    "runserver_starts_the_asgi_daphne_server or a_message_reaches_every_client or lifts"
)
IN_THE_BROWSER = {4: "everyone_in_the_room_sees_every_message_in_order"}


def copy_case(part):
    on_6379 = part in TUTORIAL_PARTS and part >= FIRST_PART_WITH_LAYER
    selection = " or ".join(filter(None, [SOME_CHECKS, IN_THE_BROWSER.get(part)]))
    marks = [NEEDS_6379] if on_6379 else []  # part 5 without REDIS_URL: in memory
    return pytest.param(part, selection, id=str(part), marks=marks)


COPIES = [copy_case(part) for part in PARTS]


@pytest.mark.parametrize(("part", "selection"), COPIES)
def test_a_copy_of_each_stage_passes_and_is_left_as_it_was(tmp_path, part, selection):
    project = copy_stage(part, tmp_path)
    before = snapshot(project)
    code, output = check(project, part, "-k", selection)
    assert code == 0, output
    assert "Verdict: PASS. Your project passes all" in output, output
    assert f"checks of part {part}." in output
    assert output.rstrip().splitlines()[-1].startswith("Verdict: PASS."), (
        "the verdict is the last line"
    )
    assert "lifts" not in verdict(output), "tests about this repository do not run"
    assert snapshot(project) == before, "the check wrote into the project"


def mistake_case(mistake):
    """A broken copy's case. A copy on the tutorial's Redis layer gets Redis
    on 6379 from `make check`, so its case waits for that port; on the
    in-memory layer it need not."""
    marks = [NEEDS_6379] if mistake.layer == "redis" else []
    return pytest.param(mistake, id=mistake.anchor, marks=marks)


# Every mistake of the catalogue: each is one a learner's project can hold
# and `make check` can see.
MISTAKE_CASES = [mistake_case(mistake) for mistake in CATALOGUE]


@pytest.mark.parametrize("mistake", MISTAKE_CASES)
def test_a_broken_copy_fails_and_names_its_entry_first(tmp_path, mistake):
    project = broken_copy(mistake, tmp_path)
    options = ["-x", "-k", mistake.shows_in] if mistake.shows_in else []
    env = environment(mistake, project)
    code, output = check(project, mistake.part, *options, env=env)
    assert code == 1, output
    assert linked_anchors(output)[:1] == [mistake.anchor], output
    assert len(set(linked_anchors(output))) == 1, "one mistake, one entry"
    shown = verdict(output)
    assert shown.rstrip().splitlines()[-1].startswith("Verdict: NOT YET."), shown
    assert len(shown.splitlines()) < 40, shown
    assert "Traceback (most recent call last)" not in output, "they go to a file"
    details = re.search(
        r"(?:Tracebacks and your server's log|runserver's output): (\S+)", shown
    )
    assert details, shown
    assert (REPO / details.group(1)).is_file()
    if mistake.shows_in is None:
        assert "no check ran" in shown or "none of the checks" in shown, shown


def test_a_failure_no_entry_matches_is_said_so(tmp_path):
    # The consumer answers with another key: the room gets the wrong JSON, the
    # server logs nothing wrong, and no entry claims it.
    project = copy_stage(2, tmp_path)
    edit(
        project,
        "chat/consumers.py",
        'json.dumps({"message": message})',
        'json.dumps({"text": message})',
    )
    code, output = check(project, 2, "-x", "-k", A_ROOM)
    assert code == 1, output
    assert linked_anchors(output) == [], output
    assert "No entry of TROUBLESHOOTING.md matches what your server did" in output


def test_the_check_needs_one_part_and_a_project_folder(tmp_path):
    project = copy_stage(1, tmp_path)
    code, output = check(project, 1, "--part=2")
    assert code == 4
    assert "--project needs exactly one --part N" in output
    code, output = check(tmp_path, 1)
    assert code == 4
    assert "has no manage.py" in output
