"""The requirements files: a learner's install holds nothing that only the
benchmark needs."""

import ast

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
