"""Looking at the learner's project before any check: which versions its
Python has (this repository's, or the learner's own: `make check PYTHON=`), what its settings say, whether its ASGI module imports on its own
(as daphne or uvicorn import it), and its runserver, started once."""

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from harness.servers import start_stage
from harness.troubleshooting import find_versions, versions_evidence
from harness.waiting import SUBPROCESS

LOOK_SCRIPT = """
import importlib, json, os, sys
try:
    settings = importlib.import_module(
        os.environ.get("DJANGO_SETTINGS_MODULE", "mysite.settings")
    )
except Exception:
    print("{}")  # runserver's start will say why
    sys.exit(0)
layers = json.dumps(getattr(settings, "CHANNEL_LAYERS", {}), default=str)
asgi = (getattr(settings, "ASGI_APPLICATION", None) or "").rpartition(".")[0]
print(json.dumps({"redis": "redis" in layers.lower(), "asgi_module": asgi}), flush=True)
if asgi:
    importlib.import_module(asgi)  # as daphne or uvicorn do, Django not set up
"""


@dataclass
class Findings:
    found: dict  # find_versions': {"python": ..., "django": ..., ...}
    versions: str  # the same as evidence lines (versions_evidence)
    settings: dict  # {"redis": ..., "asgi_module": ...}; {} if they do not import
    asgi_import_error: str  # "" when the ASGI module imports on its own
    server: object  # the runserver, listening; None when it did not start
    runserver_output: str  # what runserver printed as it started


def look_at_project(stage, log_path) -> Findings:
    """Every look at once: each is a Python process that imports Django, and
    the check starts when all have answered."""
    with ThreadPoolExecutor(3) as pool:
        versions = pool.submit(
            find_versions, stage.environment(), stage.folder, stage.interpreter
        )
        settings = pool.submit(read_settings, stage)
        server = pool.submit(start_runserver, stage, log_path)
        (facts, import_error) = settings.result()
        return Findings(
            versions.result(),
            versions_evidence(versions.result()),
            facts,
            import_error,
            server.result(),
            log_path.read_text(errors="replace"),
        )


def read_settings(stage):
    """One Python process reads the project's settings module (does its
    CHANNEL_LAYERS use Redis? which is its ASGI module?), then imports that
    ASGI module alone: those facts, and the import's error output."""
    result = subprocess.run(
        [stage.interpreter, "-c", LOOK_SCRIPT],
        cwd=stage.folder,
        env=stage.environment(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS,
    )
    try:
        facts = json.loads(result.stdout.strip().splitlines()[0])
    except (IndexError, ValueError):
        facts = {}
    failed = result.returncode and facts.get("asgi_module")
    return facts, result.stderr if failed else ""


def start_runserver(stage, log_path):
    """The project's runserver, listening; None when it does not start."""
    try:
        return start_stage(stage, log_path)
    except (RuntimeError, TimeoutError):
        return None


def leave_as_found(project, files_before):
    """runserver's migration check creates an empty db.sqlite3 where there
    is none: remove what the check created."""
    for path in set(project.rglob("*")) - files_before:
        if path.suffix == ".sqlite3" and path.stat().st_size == 0:
            path.unlink()
