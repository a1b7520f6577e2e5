"""The servers the benchmark compares, each started fresh for every run."""

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.servers import HOST, ServerProcess, free_port
from harness.serving import uvicorn_command
from harness.stages import BEYOND_PART, REPO, Stage, stage_folder

# What the "no DB hop" variant appends to a copy of the stage's consumers.py.
# Channels 4.3's AsyncConsumer.dispatch awaits aclose_old_connections(), a hop
# to a worker thread, before every handler; this consumer never uses the
# database, so the variant measures what that hop costs.
NO_DB_HOP = """

from channels.consumer import get_handler_name  # noqa: E402


async def dispatch_without_db_hop(self, message):
    await getattr(self, get_handler_name(message))(message)


ChatConsumer.dispatch = dispatch_without_db_hop
"""


def stage_copy(part, variant, log_dir: Path) -> Path:
    """A copy of the stage's folder with the variant applied."""
    copy = log_dir / f"part_{part}-{variant}"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(
        stage_folder(part), copy, ignore=shutil.ignore_patterns("*.sqlite3")
    )
    with open(copy / "chat/consumers.py", "a") as consumers:
        consumers.write(NO_DB_HOP)
    return copy


@dataclass(frozen=True)
class Config:
    name: str
    part: int | None  # None: the bare websockets server
    server: str  # "daphne" (the stage's runserver), "uvicorn" or "bare"
    layer: str | None  # "memory" or "redis"; for the bare server, None or "redis"
    variant: str | None = None  # "no-db-hop": see NO_DB_HOP

    def start(self, log_dir: Path, redis_url) -> ServerProcess:
        log_path = log_dir / f"{self.name}.log"
        url = redis_url if self.layer == "redis" else None
        if self.part is not None:
            copy = self.variant and stage_copy(self.part, self.variant, log_dir)
            stage = Stage(self.part, self.layer, copy=copy)
            environment = stage.environment(url)
            if self.part != BEYOND_PART:
                environment["DJANGO_SETTINGS_MODULE"] = "bench.layer_settings"
        port = free_port()
        if self.server == "daphne":  # as harness.servers.start_stage runs it
            command = [sys.executable, "manage.py", "runserver", f"{HOST}:{port}"]
            command.append("--noreload")
            folder = stage.folder
        elif self.server == "uvicorn":  # as `make serve` runs it
            command = [sys.executable, "-m", *uvicorn_command(port)]
            command += ["--no-access-log", "--log-level", "warning"]
            folder = stage.folder
        else:
            command = [sys.executable, str(REPO / "bench/bare_server.py")]
            command += ["--port", str(port)]
            if self.layer == "redis":
                command += ["--redis", redis_url]
            folder, environment = REPO, None
        return ServerProcess(self.name, command, port, log_path, folder, environment)


CONFIGS = (
    Config("part_2 daphne memory", 2, "daphne", "memory"),
    Config("part_2 daphne redis", 2, "daphne", "redis"),
    Config("part_3 daphne memory", 3, "daphne", "memory"),
    Config("part_3 daphne redis", 3, "daphne", "redis"),
    Config("part_3 uvicorn memory", 3, "uvicorn", "memory"),
    Config("part_3 uvicorn redis", 3, "uvicorn", "redis"),
    Config("part_3 no DB hop memory", 3, "daphne", "memory", "no-db-hop"),
    Config("part_5 daphne memory", 5, "daphne", "memory"),
    Config("part_5 daphne redis", 5, "daphne", "redis"),
    Config("part_5 uvicorn memory", 5, "uvicorn", "memory"),
    Config("part_5 uvicorn redis", 5, "uvicorn", "redis"),
    Config("bare websockets redis", None, "bare", "redis"),
    Config("bare websockets", None, "bare", None),
)
BARE = CONFIGS[-1].name
REDIS_CEILING = CONFIGS[-2].name
