"""Regenerate one Django version's entry of shared_tests/startproject.json:
what `django-admin startproject mysite` and `python manage.py startapp chat`
write, file by file, as a learner on that version has it before the tutorial.

The suite builds learner projects from these files (shared_tests/
learner_projects.py) without installing anything: Django 6 needs Python 3.12,
and CI has neither the network nor the time for it. Run by hand, with the
network, when a version is added or Django's templates change:

    venv/bin/python -m shared_tests.startproject_json 6.1.3 /path/to/python3.13

It makes a virtual environment with that Python in a temporary folder,
installs that Django from the package index, generates the project there and
writes its files into the JSON file, keyed by the version.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

STARTPROJECT_JSON = Path(__file__).parent / "startproject.json"


def generated_files(django_version, python):
    with tempfile.TemporaryDirectory(prefix="startproject-") as folder:
        folder = Path(folder)
        venv = folder / "venv"
        subprocess.run([python, "-m", "venv", venv], check=True)
        venv_python = str(venv / "bin" / "python")
        subprocess.run(
            [
                venv_python,
                "-m",
                "pip",
                "install",
                "--quiet",
                f"django=={django_version}",
            ],
            check=True,
        )
        subprocess.run(
            [venv_python, "-m", "django", "startproject", "mysite"],
            cwd=folder,
            check=True,
        )
        project = folder / "mysite"
        subprocess.run(
            [venv_python, "-B", "manage.py", "startapp", "chat"],
            cwd=project,
            check=True,
        )
        return {
            path.relative_to(project).as_posix(): path.read_text()
            for path in sorted(project.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts
        }


def main():
    django_version, python = sys.argv[1:3]
    stored = (
        json.loads(STARTPROJECT_JSON.read_text()) if STARTPROJECT_JSON.exists() else {}
    )
    stored[django_version] = generated_files(django_version, python)
    STARTPROJECT_JSON.write_text(
        json.dumps(dict(sorted(stored.items())), indent=1) + "\n"
    )
    print(
        f"{STARTPROJECT_JSON}: Django {django_version}, {len(stored[django_version])} files"
    )


if __name__ == "__main__":
    main()
