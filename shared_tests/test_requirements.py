"""The version matrix (noxfile.py, `make test-matrix`) and the requirements
files it installs: they agree with each other, and a learner's install holds
nothing that only the benchmark needs."""

import ast
import re

import pytest
from packaging.requirements import Requirement

from harness.stages import PARTS, REPO

pytestmark = pytest.mark.repository

LEARNERS_INSTALL = REPO / "requirements.txt"
BENCH_REQUIREMENTS = REPO / "bench/requirements.txt"


def pins(path):
    """{project name: requirement} of a requirements file, comments aside."""
    lines = path.read_text().splitlines()
    requirements = [
        Requirement(line) for line in lines if line.strip() and not line.startswith("#")
    ]
    return {requirement.name.lower(): requirement for requirement in requirements}


def django_version(path):
    (specifier,) = pins(path)["django"].specifier
    assert specifier.operator == "==", f"{path.name} pins Django exactly"
    return specifier.version


def nox_sessions():
    """noxfile.MATRIX, imported only by the tests that need it: importing it
    tries the interpreters it may use, which no other run should wait for."""
    import noxfile

    return noxfile.MATRIX


def test_each_session_installs_the_django_its_name_says():
    for session, (_, requirements) in nox_sessions().items():
        major, minor = re.fullmatch(r"django(\d)(\d)", session).groups()
        assert django_version(REPO / requirements).startswith(f"{major}.{minor}."), (
            f"session {session} installs {requirements}"
        )


def test_the_first_session_is_make_tests_and_every_requirements_file_has_one():
    sessions = list(nox_sessions().values())
    assert sessions[0] == ("3.11", LEARNERS_INSTALL.name)
    assert f"-r {LEARNERS_INSTALL.name}" in (REPO / "Makefile").read_text()
    installed = {requirements for _, requirements in sessions}
    assert installed == {path.name for path in REPO.glob("requirements*.txt")}


def test_the_other_sessions_pin_what_requirements_txt_pins_django_aside():
    learners = pins(LEARNERS_INSTALL)
    learners.pop("django")
    for session, (_, requirements) in list(nox_sessions().items())[1:]:
        own = pins(REPO / requirements)
        own.pop("django")
        assert {name: str(pin) for name, pin in own.items()} == {
            name: str(pin) for name, pin in learners.items()
        }, f"session {session}: {requirements} and {LEARNERS_INSTALL.name} differ"


def imported_modules(folder):
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                yield from (alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                yield node.module.split(".")[0]


def test_only_the_benchmark_needs_what_bench_requirements_adds():
    benchmark_only = set(pins(BENCH_REQUIREMENTS))
    assert not benchmark_only & set(pins(LEARNERS_INSTALL))
    folders = ["harness", "shared_tests", "tools", *(f"part_{p}" for p in PARTS)]
    imported = {module for f in folders for module in imported_modules(REPO / f)}
    assert not imported & benchmark_only
    assert benchmark_only <= set(imported_modules(REPO / "bench"))
