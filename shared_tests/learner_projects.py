"""Learner projects made the way a learner makes them, to hold `make compare`
to them: what `startproject` and `startapp` wrote on some Django version, then
the tutorial's steps up to the end of a part (harness/tutorial.py says how
each file reaches the learner).

The generated files come from shared_tests/startproject.json (one entry per
Django version, made by shared_tests/startproject_json.py), or from this
virtual environment's own Django, run at test time. Where the tutorial gives
a whole file, the learner pastes it: the stage's file, with the tutorial's
own lines where the stage departs from it. Where it has the learner edit a
generated file, the generated text stays around the edit: its docstring above
mysite/urls.py's and mysite/asgi.py's code (or, pasted over, the block alone,
from its first line naming the file), Django's quotes and other settings
around the ones the tutorial adds.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

from harness.stages import stage_folder
from harness.tutorial import (
    EDITED_IN_PLACE,
    REMOVED_FROM_THE_APP,
    SETTINGS,
    SETTINGS_EDITED,
    WRITTEN_WHOLE,
    as_the_tutorial_writes,
)
from harness.waiting import SUBPROCESS

STARTPROJECT = json.loads((Path(__file__).parent / "startproject.json").read_text())


def generated_here(folder: Path) -> dict:
    """What this virtual environment's Django generates, file by file."""
    django_admin = [sys.executable, "-m", "django"]
    run = {"check": True, "capture_output": True, "timeout": SUBPROCESS}
    subprocess.run([*django_admin, "startproject", "mysite"], cwd=folder, **run)
    project = folder / "mysite"
    subprocess.run(
        [sys.executable, "-B", "manage.py", "startapp", "chat"], cwd=project, **run
    )
    return {
        path.relative_to(project).as_posix(): path.read_text()
        for path in project.rglob("*")
        if path.is_file()
    }


def learner_project(
    generated: dict, part: int, destination: Path, docstrings=True
) -> Path:
    """destination/mysite: the generated files, then the tutorial up to the end
    of `part`. docstrings=False: mysite/urls.py and mysite/asgi.py pasted over
    with the tutorial's blocks instead of edited."""
    stage = stage_folder(part)
    files = {name: text for name, text in generated.items() if not removed(name)}
    for name in WRITTEN_WHOLE:
        if (stage / name).is_file():
            files[name] = as_the_tutorial_writes(name, (stage / name).read_text())
    for name in EDITED_IN_PLACE:
        above = docstring(generated[name]) if docstrings else f"# {name}\n"
        files[name] = above + below_docstring((stage / name).read_text())
    files[SETTINGS] = with_the_tutorials_settings(
        generated[SETTINGS],
        as_the_tutorial_writes(SETTINGS, (stage / SETTINGS).read_text()),
    )
    project = destination / "mysite"
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    return project


def removed(name):
    """Part 1 has the learner delete what startapp wrote, but two files."""
    return any(
        name == gone or name.startswith(gone + "/") for gone in REMOVED_FROM_THE_APP
    )


def docstring(source):
    """The module's docstring as written, with the blank line after it."""
    first = ast.parse(source).body[0]
    return "\n".join(source.splitlines()[: first.end_lineno]) + "\n\n"


def below_docstring(source):
    first = ast.parse(source).body[0]
    return "\n".join(source.splitlines()[first.end_lineno :]).lstrip("\n") + "\n"


def with_the_tutorials_settings(generated, stage):
    """The generated settings.py, each setting the tutorial edits replaced by
    the stage's, or added at the bottom when Django did not write it."""
    lines = generated.splitlines()
    added = []
    for name, statement in statements(stage).items():
        if name not in SETTINGS_EDITED:
            continue
        written = statements(generated).get(name)
        text = ast.get_source_segment(stage, statement)
        if written is None:
            added.append(text)
        else:
            lines[written.lineno - 1 : written.end_lineno] = [text] + [None] * (
                written.end_lineno - written.lineno
            )
    kept = [line for line in lines if line is not None]
    return "\n".join(kept + [""] + added) + "\n"


def statements(source):
    """{name: statement} of the module's top-level assignments."""
    return {
        statement.targets[0].id: statement
        for statement in ast.parse(source).body
        if isinstance(statement, ast.Assign)
        and isinstance(statement.targets[0], ast.Name)
    }
