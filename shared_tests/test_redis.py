"""Parts 2 to 4 on Redis: several server processes share one chat, and Redis
trouble reaches the learner as a clear message, never a hang or a traceback."""

import re
import signal
import socket
import subprocess
import sys
from contextlib import ExitStack, contextmanager
from urllib.request import urlopen

import pytest
import redis
from websockets.exceptions import ConnectionClosed

from shared_tests.clients import room_connection
from shared_tests.servers import free_port, start_redis, start_stage
from shared_tests.stages import REPO
from shared_tests.waiting import WAIT

pytestmark = [pytest.mark.since_part(2), pytest.mark.layer("redis")]

UNREACHABLE_CLOSE_CODE = 4503  # chat/layer_errors.py


@pytest.fixture(scope="session")
def second_server(stage, redis_url, tmp_path_factory):
    """Another server process of the same stage, on the same Redis."""
    log_path = tmp_path_factory.mktemp(f"{stage}-second") / "runserver.log"
    with start_stage(stage.folder, log_path, redis_url) as running:
        yield running


def test_two_server_processes_share_one_chat(stage, server, second_server):
    with ExitStack() as clients:
        alice = clients.enter_context(room_connection(server.port, "shared"))
        bob = clients.enter_context(room_connection(second_server.port, "shared"))
        carol = clients.enter_context(room_connection(second_server.port, "elsewhere"))

        alice.send_message("from process 1")
        bob.send_message("from process 2")
        for client in (alice, bob):
            assert sorted(client.receive_messages(2)) == [
                "from process 1",
                "from process 2",
            ]
        carol.send_message("only elsewhere")
        assert carol.receive_messages(1) == ["only elsewhere"]


@pytest.fixture
def private_stage(stage, tmp_path):
    """Start this stage on a Redis of its own: `(server, redis) = private_stage(...)`."""
    with ExitStack() as running:

        def start(redis_url):
            return running.enter_context(
                start_stage(stage.folder, tmp_path / "runserver.log", redis_url)
            )

        yield start


def test_redis_down_at_start_gives_a_clear_message(
    stage, private_stage, open_window_on
):
    dead_port = free_port()  # nothing listens there
    server = private_stage(f"redis://127.0.0.1:{dead_port}/0")
    assert urlopen(f"{server.base_url}/chat/").status == 200  # pages need no Redis

    with room_connection(server.port, "lobby") as client:
        assert "cannot reach" in client.receive_json()["error"]
        with pytest.raises(ConnectionClosed) as closed:
            client.receive_json()
    assert closed.value.rcvd.code == UNREACHABLE_CLOSE_CODE

    window = open_window_on(server.base_url)
    window.open_path("/chat/lobby/")
    window.wait_until(
        lambda: (
            "cannot reach" in window.find("#chat-status").text
            and "Disconnected" in window.find("#chat-status").text
        ),
        "the room page should say that the chat server cannot reach Redis",
    )
    log = server.log()
    assert "Traceback" not in log
    refusals = [line for line in log.splitlines() if "the channel layer failed" in line]
    assert refusals and all(f"127.0.0.1:{dead_port}" in line for line in refusals)


@contextmanager
def redis_with_password(data_dir, port=None):
    with start_redis(data_dir, port=port, password="s3cret") as server:
        yield server, f"redis://:s3cret@127.0.0.1:{server.port}/2"


def test_redis_restart_closes_sockets_then_new_ones_chat(
    stage, private_stage, tmp_path
):
    with redis_with_password(tmp_path / "redis") as (redis_server, redis_url):
        server = private_stage(redis_url)
        with (
            room_connection(server.port, "restart") as alice,
            room_connection(server.port, "restart") as bob,
        ):
            alice.send_message("before")
            for client in (alice, bob):
                assert client.receive_messages(1) == ["before"]
            # The URL's password and database number were used.
            assert redis.Redis.from_url(redis_url).exists("asgi:group:chat_restart")

            redis_server.stop()
            for client in (alice, bob):  # an error, then a close: never a hang
                assert "cannot reach" in client.receive_json(timeout=WAIT)["error"]
                with pytest.raises(ConnectionClosed):
                    client.receive_json(timeout=WAIT)

    port = redis_server.port
    with redis_with_password(tmp_path / "redis", port=port):
        with (
            room_connection(server.port, "restart") as alice,
            room_connection(server.port, "restart") as bob,
        ):
            alice.send_message("after")
            assert bob.receive_messages(1) == ["after"]
    assert "Traceback" not in server.log()


def test_make_run_cluster_serves_one_chat_from_two_processes(tmp_path):
    command = [sys.executable, "-m", "shared_tests.cluster", "--part", "3"]
    cluster = subprocess.Popen(
        [*command, "--port", "0"], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        ports = []
        for line in cluster.stdout:  # the cluster prints one URL per process
            ports += re.findall(r"http://127\.0\.0\.1:(\d+)/chat/", line)
            if line.startswith("Open the room"):
                break
        assert len(ports) == 2, f"expected two server URLs, got {ports}"
        with room_connection(int(ports[0]), "cluster") as alice:
            with room_connection(int(ports[1]), "cluster") as bob:
                alice.send_message("across processes")
                assert bob.receive_messages(1) == ["across processes"]
    finally:
        cluster.send_signal(signal.SIGINT)  # what Ctrl-C does
        cluster.wait(timeout=WAIT * 2)
    for port in ports:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", int(port)), timeout=1)
