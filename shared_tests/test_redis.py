"""On Redis: several server processes share one chat (parts 2 to 5), and in
part 5 Redis trouble reaches the learner as a clear message, never a hang or a
traceback, and a socket that closes costs no other socket a message. The
tutorial's parts fail instead: facts asserted here too, each named after the
part 5 change that lifts it."""

from contextlib import ExitStack
from urllib.request import urlopen

import pytest
import redis
from websockets.exceptions import ConnectionClosed, InvalidStatus

from harness.clients import room_connection
from harness.closing_receiver import closing_receiver_delivers
from harness.redis import REDIS_PY_REPLY_TIMEOUT, nowhere, start_redis
from harness.servers import start_stage
from harness.waiting import PROMPT, SILENCE, WAIT, wait_for
from shared_tests.logs import assert_no_traceback

pytestmark = [pytest.mark.since_part(2), pytest.mark.layer("redis")]

UNREACHABLE_CLOSE_CODE = 4503  # part_5/chat/layer_errors.py


@pytest.fixture(scope="session")
def second_server(stage, redis_url, tmp_path_factory):
    """Another server process of the same stage, on the same Redis."""
    log_path = tmp_path_factory.mktemp(f"{stage}-second") / "runserver.log"
    with start_stage(stage, log_path, redis_url) as running:
        yield running


def test_two_server_processes_share_one_chat(stage, server, second_server):
    with ExitStack() as clients:
        alice = clients.enter_context(room_connection(server, "shared"))
        bob = clients.enter_context(room_connection(second_server, "shared"))
        carol = clients.enter_context(room_connection(second_server, "elsewhere"))

        alice.send_message("from process 1")
        bob.send_message("from process 2")
        for client in (alice, bob):
            assert sorted(client.receive_messages(2)) == [
                "from process 1",
                "from process 2",
            ]
        carol.send_message("only elsewhere")
        assert carol.receive_messages(1) == ["only elsewhere"]


@pytest.mark.before_part(5)
@pytest.mark.repository
def test_layer_errors_lifts_a_dead_redis_failing_with_a_traceback(private_server):
    with nowhere() as down:
        server = private_server(down.url())
        assert urlopen(server.page_url()).status == 200  # pages need no Redis
        with (
            pytest.raises(InvalidStatus) as refused,
            room_connection(server, "lobby"),
        ):
            pass
    assert refused.value.response.status_code == 500
    assert "Traceback" in server.log()
    assert "ConnectionError" in server.log()


@pytest.mark.since_part(5)
def test_redis_down_at_start_gives_a_clear_message(
    stage, private_server, open_window_on
):
    with nowhere() as down:
        server = private_server(down.url())
        assert urlopen(server.page_url()).status == 200  # pages need no Redis

        with room_connection(server, "lobby") as client:
            assert "cannot reach" in client.receive_json()["error"]
            with pytest.raises(ConnectionClosed) as closed:
                client.receive_json()
        assert closed.value.rcvd.code == UNREACHABLE_CLOSE_CODE

        window = open_window_on(server)
        window.open_path("/chat/lobby/")
        window.wait_until(
            lambda: (
                "cannot reach" in window.find("#chat-status").text
                and "Disconnected" in window.find("#chat-status").text
            ),
            "the room page should say that the chat server cannot reach Redis",
        )
    log = server.log()
    assert_no_traceback(log)
    refusals = [line for line in log.splitlines() if "the channel layer failed" in line]
    assert refusals
    assert all(down.address in line for line in refusals)


@pytest.mark.since_part(5)
def test_redis_restart_closes_sockets_then_new_ones_chat(
    stage, private_server, tmp_path
):
    with start_redis(tmp_path / "redis", password="s3cret") as redis_server:
        redis_url = redis_server.url(db=2)
        server = private_server(redis_url)
        with (
            room_connection(server, "restart") as alice,
            room_connection(server, "restart") as bob,
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

    with (
        start_redis(tmp_path / "redis", port=redis_server.port, password="s3cret"),
        room_connection(server, "restart") as alice,
        room_connection(server, "restart") as bob,
    ):
        alice.send_message("after")
        assert bob.receive_messages(1) == ["after"]
    assert_no_traceback(server.log())


@pytest.mark.before_part(5)
@pytest.mark.repository
def test_one_reader_lifts_a_closing_socket_losing_anothers_message(stage, tmp_path):
    with start_redis(tmp_path / "redis") as redis_server:
        assert not closing_receiver_delivers(stage, redis_server, within=SILENCE)


@pytest.mark.since_part(5)
@pytest.mark.patched("CHAT_REDIS_ONE_READER")
def test_a_socket_closing_mid_receive_loses_no_message(stage, tmp_path):
    with start_redis(tmp_path / "redis") as redis_server:
        assert closing_receiver_delivers(stage, redis_server, within=PROMPT)


@pytest.mark.waits(7)
@pytest.mark.before_part(5)
@pytest.mark.repository
def test_reply_timeout_lifts_a_quiet_room_closing_after_5_s(
    stage, private_server, tmp_path
):
    with start_redis(tmp_path / "redis") as redis_server:
        server = private_server(redis_server.url())
        with (
            room_connection(server, "quiet") as alice,
            pytest.raises(ConnectionClosed) as closed,
        ):
            alice.receive_json(timeout=REDIS_PY_REPLY_TIMEOUT + WAIT)
    assert closed.value.rcvd.code == 1011  # the server failed
    assert "TimeoutError: Timeout reading from" in server.log()


def server_connections(probe) -> dict:
    """{id: last command} of every client of Redis but the probe itself."""
    own = str(probe.client_id())  # CLIENT LIST's ids are strings
    return {
        client["id"]: client["cmd"]
        for client in probe.client_list()
        if client["id"] != own
    }


@pytest.mark.waits(8)
@pytest.mark.since_part(5)
def test_a_quiet_room_keeps_its_connections_to_redis(stage, private_server, tmp_path):
    """In part 5 too, the read that waits for a message timed out after 5 s
    and its connection was dropped; after 3 retries, 20 s, the sockets were
    closed with 4503. One dropped connection tells. A server process of its
    own, so that nothing else is said through it."""
    with start_redis(tmp_path / "redis") as redis_server:
        server = private_server(redis_server.url())
        probe = redis.Redis.from_url(redis_server.url(), single_connection_client=True)
        with room_connection(server, "quiet") as alice:
            before = wait_for(
                lambda: (
                    "bzpopmin" in server_connections(probe).values()
                    and server_connections(probe)
                ),
                "the server should be waiting for messages in Redis",
            )
            with pytest.raises(TimeoutError):  # nothing comes, nothing closes
                alice.receive_json(timeout=REDIS_PY_REPLY_TIMEOUT + PROMPT)
            dropped = set(before) - set(server_connections(probe))
            assert not dropped, f"connections dropped in a quiet room: {before}"
            with room_connection(server, "quiet") as bob:
                bob.send_message("still here")
                assert alice.receive_messages(1) == ["still here"]
    assert "the channel layer failed" not in server.log()
