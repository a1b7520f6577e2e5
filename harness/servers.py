"""Start and stop the servers the tests drive: a stage's runserver, and others.

Every server listens on 127.0.0.1 on a free port, writes its output to a log
file, and runs in its own process group, so that stopping it stops everything
it started.
"""

import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil

from harness.waiting import SERVER_START, SERVER_STOP, wait_for

HOST = "127.0.0.1"


# Below every system's range of ephemeral ports (Linux's starts at 32768,
# macOS's and Windows' at 49152), which the system hands to each client
# socket as its own port, and to bind(0). The suite opens clients by the
# hundred: a port found free in that range could be a client's a moment
# later, before the server binds it (chromedriver then exits with status 1).
LISTENING_PORTS = range(20000, 32768)


def free_port() -> int:
    """A port nothing listens on or uses now, that no client socket is given."""
    while True:
        port = random.choice(LISTENING_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return port


class PortTaken(RuntimeError):
    """Another program took the port between free_port() and the server's start."""


def on_a_free_port(start, tries=3):
    """start(port) on a free port, and on another if the first is taken meanwhile
    (each of the suite's workers picks its servers' ports on its own)."""
    for attempt in range(1, tries + 1):
        try:
            return start(free_port())
        except PortTaken:
            if attempt == tries:
                raise


def is_listening(port, host=HOST) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def new_process_group() -> dict:
    """Popen arguments that put a child in a process group of its own."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


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
                **new_process_group(),
            )
        try:
            wait_for(
                self._listening,
                f"{name} did not listen on port {port}:\n{self.log()}",
                timeout=SERVER_START,
            )
        except BaseException:
            self.stop()
            raise

    def _listening(self):
        if self.process.poll() is not None:
            log = self.log()
            error = (
                PortTaken if "address already in use" in log.lower() else RuntimeError
            )
            raise error(
                f"{self.name} exited with code {self.process.returncode} before "
                f"listening on port {self.port}:\n{log}"
            )
        return is_listening(self.port) and self._holds_port()

    def _holds_port(self) -> bool:
        """Is what listens on the port this server? If another program took
        the port first, this one is about to exit, failing to listen."""
        try:
            sockets = psutil.Process(self.process.pid).net_connections("tcp")
        except psutil.Error:
            return True  # a system that does not tell: the port answers
        return any(
            sock.status == psutil.CONN_LISTEN and sock.laddr.port == self.port
            for sock in sockets
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum):
        """Send a signal to the server's whole process group."""
        if sys.platform == "win32":
            self.process.send_signal(signum)
        else:
            os.killpg(self.process.pid, signum)

    def stop(self):
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
            if hasattr(signal, "SIGCONT"):  # one a test froze (SIGSTOP) too
                self.signal(signal.SIGCONT)
            try:
                self.process.wait(timeout=SERVER_STOP)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self):
        """Stop at once, with no chance to clean up (SIGKILL)."""
        if sys.platform == "win32":
            self.process.kill()
        else:
            self.signal(signal.SIGKILL)
        self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()


class StageUrls:
    """The addresses of a stage served on a port: its pages and room sockets."""

    def __init__(self, port):
        self.port = port

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def page_url(self, path="/chat/") -> str:
        return self.base_url + path

    def room_url(self, room) -> str:
        return self.page_url(f"/chat/{room}/")

    def socket_url(self, room) -> str:
        return f"ws://{HOST}:{self.port}/ws/chat/{room}/"

    @property
    def origin(self) -> str:
        """The Origin header a browser sends for this server's own pages."""
        return self.base_url


class StageServer(ServerProcess, StageUrls):
    """A stage's own `manage.py runserver`, started by the suite."""


def start_stage(stage, log_path: Path, redis_url=None, port=None) -> StageServer:
    """Run a stage as a learner does, with its own manage.py runserver."""
    if port is None:
        return on_a_free_port(
            lambda free: start_stage(stage, log_path, redis_url, free)
        )
    # --noreload: one process, so stopping it leaves no child behind.
    python, address = stage.interpreter, f"{HOST}:{port}"
    command = [python, "manage.py", "runserver", address, "--noreload"]
    return StageServer(
        f"{stage.folder.name} (runserver)",
        command,
        port,
        log_path,
        cwd=stage.folder,
        env=stage.environment(redis_url),
    )
