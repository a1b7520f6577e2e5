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
from shared_tests.environments import python_without
from shared_tests.logs import said
from shared_tests.mistakes import (
    A_ROOM,
    CATALOGUE,
    IN_MEMORY_LAYER,
    broken_copy,
    environment,
)

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
    assert "Run with this repository's " in verdict(output), "the versions it found"
    assert "Channels 4.3.2, Daphne 4.2.3" in said(verdict(output))


# A handshake never answered fails only when the client's wait runs out.
WAITS_FOR_A_TIMEOUT = {"consumer-never-accepts"}


def mistake_case(mistake):
    """A broken copy's case. A copy on the tutorial's Redis layer gets Redis
    on 6379 from `make check`, so its case waits for that port; on the
    in-memory layer it need not."""
    marks = [NEEDS_6379] if mistake.layer == "redis" else []
    if mistake.anchor in WAITS_FOR_A_TIMEOUT:
        marks.append(pytest.mark.waits(7))
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


# A consumer that answers with another key, or with text that is not JSON:
# the server logs nothing wrong and no entry claims it. The verdict says what
# the server sent and what the page or the client expected, in plain words.
ANOTHER_KEY = 'json.dumps({"text": message})'
NOT_JSON = "message"
AFTER_HELLO = 'after a client of room "json" sent {"message": "hello"}: '
NO_ENTRY = [
    pytest.param(
        ANOTHER_KEY,
        A_ROOM,
        'your server sent {"text": "hello"} ' + AFTER_HELLO + "the room page shows the "
        '"message" of each frame (data.message), so it expected {"message": "hello"}.',
        id="another-key",
    ),
    pytest.param(
        NOT_JSON,
        A_ROOM,
        "your server sent the text 'hello' " + AFTER_HELLO + "that is not JSON, and "
        'the room page reads every frame as JSON, so it expected {"message": "hello"}.',
        id="not-json",
    ),
    pytest.param(  # the page waits for a message that never shows
        ANOTHER_KEY,
        "everyone_in_the_room_sees_every_message_in_order",
        "the room page wrote 'undefined' in #chat-log where each message should be: "
        'it shows the "message" of every frame your server sends (data.message), '
        "and your server's frames have none",
        id="another-key-in-the-page",
        marks=pytest.mark.waits(10),
    ),
]


@pytest.mark.parametrize(("sends", "selection", "in_plain_words"), NO_ENTRY)
def test_a_failure_no_entry_matches_is_said_in_plain_words(
    tmp_path, sends, selection, in_plain_words
):
    project = copy_stage(2, tmp_path)
    edit(project, *IN_MEMORY_LAYER)  # no Redis needed to see it
    edit(project, "chat/consumers.py", 'json.dumps({"message": message})', sends)
    code, output = check(project, 2, "-x", "-k", selection)
    assert code == 1, output
    assert linked_anchors(output) == [], output
    assert "No entry of TROUBLESHOOTING.md matches what your server did" in output
    assert f"Why: {in_plain_words}" in said(verdict(output)), output
    assert "assert " not in verdict(output), "never the check's bare exception"
    assert "Expecting value" not in verdict(output)


# `make check PYTHON=`: the learner's own environment, with a package missing
# as a learner leaves it out (shared_tests/environments.py makes it offline).


def test_a_python_without_daphne_is_found_out_before_any_check(tmp_path):
    project = copy_stage(1, tmp_path)
    python = python_without(["daphne"], tmp_path / "venv")
    before = snapshot(project)
    code, output = check(project, 1, f"--python={python}")
    assert code == 1, output
    shown = said(verdict(output))
    assert f"Run with {python} (Python " in shown
    assert "Channels 4.3.2, Daphne not installed" in shown
    assert "Your server did not start, so none of the checks of part 1 ran" in shown
    assert "the Python that runs your project has no daphne" in shown
    assert linked_anchors(output) == ["installed-versions"], output
    assert snapshot(project) == before


@NEEDS_6379  # the tutorial's Redis layer, whose channels_redis is missing
def test_a_python_without_channels_redis_fails_where_the_layer_is_first_used(tmp_path):
    project = copy_stage(2, tmp_path)
    python = python_without(["channels-redis"], tmp_path / "venv")
    code, output = check(project, 2, f"--python={python}", "-x", "-k", A_ROOM)
    assert code == 1, output
    assert "Daphne 4.2.3, channels_redis not installed" in said(verdict(output))
    assert linked_anchors(output) == ["channel-layer-backend-not-importable"] * 2, (
        output
    )


def test_the_check_needs_one_part_and_a_project_folder(tmp_path):
    project = copy_stage(1, tmp_path)
    code, output = check(project, 1, "--part=2")
    assert code == 4
    assert "--project needs exactly one --part N" in output
    code, output = check(tmp_path, 1)
    assert code == 4
    assert "has no manage.py" in output
    code, output = check(project, 1, f"--python={tmp_path / 'no-python'}")
    assert code == 4
    assert "does not run" in output
