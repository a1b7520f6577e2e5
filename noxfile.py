"""`make test-matrix`: the whole suite on each Django a learner may have.

Each session is a virtual environment of its own under .nox/, built from its
own requirements file, in which `make test` runs (preflight, then pytest):

- django52: Django 5.2 LTS on Python 3.11, from requirements.txt, the
  environment `make test` itself uses;
- django61: Django 6.1 on the newest Python 3.12 to 3.15 this machine has
  (Django 6 needs 3.12), from requirements-django61.txt. Without one, the
  session says so in one line and is skipped.

    python -m nox                     # both sessions
    python -m nox --session django61  # one; arguments after -- go to pytest
"""

import os
import shutil
import subprocess
from pathlib import Path

import nox

# Never a Python downloaded at run time, and the virtual environments kept
# between runs (pip brings each one to its pins in seconds).
nox.options.download_python = "never"
nox.options.reuse_venv = "yes"
# Selenium Manager stays off the network, as in CI.
OFFLINE = {"SE_OFFLINE": "true", "SE_AVOID_STATS": "true"}

DJANGO_61_PYTHONS = ("3.15", "3.14", "3.13", "3.12")
PYENV_VERSIONS = (
    Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser() / "versions"
)


def works(python: str) -> bool:
    """Does this interpreter run? (A pyenv shim on PATH exists for every
    version pyenv has, but fails for those not selected.)"""
    try:
        subprocess.run([python, "-c", ""], capture_output=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def newest_python(versions) -> str | None:
    """The first of versions found, on PATH or among pyenv's, that runs."""
    for version in versions:
        name = f"python{version}"
        candidates = [shutil.which(name), *sorted(PYENV_VERSIONS.glob(f"*/bin/{name}"))]
        for candidate in filter(None, candidates):
            if works(str(candidate)):
                return str(candidate)
    return None


# Each session: its interpreter and its requirements file.
MATRIX = {
    "django52": ("3.11", "requirements.txt"),
    "django61": (newest_python(DJANGO_61_PYTHONS), "requirements-django61.txt"),
}


def run_the_suite(session, requirements):
    session.install("--quiet", "-r", requirements)
    session.run("python", "-m", "tools.preflight", env=OFFLINE)
    session.run("python", "-m", "pytest", *session.posargs, env=OFFLINE)


@nox.session(python=MATRIX["django52"][0])
def django52(session):
    """Django 5.2 LTS on Python 3.11 (requirements.txt)."""
    run_the_suite(session, MATRIX["django52"][1])


@nox.session(
    python=MATRIX["django61"][0],
    # No interpreter: no virtual environment to make, only the skip to say.
    venv_backend="virtualenv" if MATRIX["django61"][0] else "none",
)
def django61(session):
    """Django 6.1 on the newest Python 3.12-3.15 (requirements-django61.txt)."""
    if MATRIX["django61"][0] is None:
        session.skip(
            f"no Python {DJANGO_61_PYTHONS[-1]} to {DJANGO_61_PYTHONS[0]} on PATH "
            f"or in {PYENV_VERSIONS}, so Django 6.1 is not tested here"
        )
    run_the_suite(session, MATRIX["django61"][1])
