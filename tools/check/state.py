"""What `make check` knows of the project it checks: one object, kept in
pytest's stash under STATE from the start of the run to its verdict."""

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.stages import REPO

# Each check's details (tracebacks, the server's log) go to a file of its own.
REPORTS = REPO / ".run" / "check"


@dataclass
class Failure:
    name: str  # the check, in words
    message: str  # the failure's first line
    anchor: str | None  # the entry of TROUBLESHOOTING.md it matches, if any
    sentence: str  # one sentence for the learner
    kind: str  # what failures told once share: the entry, or what the server did


@dataclass
class Startup:
    """Why no check ran: the problem found (or None), a headline, and
    runserver's last lines."""

    found: tuple | None
    headline: str
    last_lines: list[str]


@dataclass
class CheckState:
    project: Path
    part: int
    python: str | None  # the learner's interpreter (PYTHON=), None: this repository's
    report: Path  # the details file the verdict names
    files_before: set[Path]  # the project's files, to leave it as it was
    found: dict = field(default_factory=dict)  # the versions its Python has
    server: object = None  # the project's runserver, once it started well
    startup: Startup | None = None  # set when the project cannot be checked
    uses_redis: bool = True  # do its CHANNEL_LAYERS name Redis?
    log_start: int = 0  # the server's log as the current check began
    failures: list[Failure] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)

    @classmethod
    def begin(cls, project: Path, part: int, python: str | None) -> "CheckState":
        REPORTS.mkdir(parents=True, exist_ok=True)
        report = REPORTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        command = f"make check PART={part} PROJECT={project}"
        report.write_text(command + (f" PYTHON={python}\n" if python else "\n"))
        return cls(project, part, python, report, set(project.rglob("*")))

    def write_report(self, title: str, text: str):
        with open(self.report, "a") as report:
            report.write(f"\n===== {title} =====\n{text.rstrip()}\n")

    def server_log(self) -> str:
        """The server's log since the current check began."""
        return self.server.log()[self.log_start :] if self.server else ""


STATE = pytest.StashKey[CheckState]()
