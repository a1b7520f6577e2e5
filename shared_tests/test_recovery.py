"""Part 5 recovers: a server that stops says so and the page comes back by
itself; a Redis that restarts, dies for seconds or stalls leaves no socket
open and deaf; a consumer that fails leaves its room."""

import asyncio
import json
import signal
import threading
import time
from collections import Counter
from contextlib import ExitStack

import pytest
import redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from harness.clients import room_connection
from harness.load import open_room
from harness.redis import answers_ping, start_redis
from harness.waiting import WAIT, wait_for
from shared_tests.logs import assert_no_traceback

pytestmark = pytest.mark.since_part(5)

SERVER_STOPPING_CODE = 4503  # part_5/chat/stopping.py
UNREACHABLE_CLOSE_CODE = 4503  # part_5/chat/layer_errors.py
GROUP_RENEWAL = 2  # CHAT_GROUP_RENEWAL in part_5/mysite/settings.py, seconds
GROUP_EXPIRY = 10  # CHANNEL_GROUP_EXPIRY in part_5/mysite/settings.py, seconds


def group_size(redis_url, room):
    return redis.Redis.from_url(redis_url).zcard(f"asgi:group:chat_{room}")


def wait_for_two_renewals(redis_url, room):
    """Until the membership of room's one client has been renewed twice (each
    renewal stamps it with the time): long enough for any renewal still
    running in the server to have run too."""
    layer, stamps = redis.Redis.from_url(redis_url), set()

    def renewed_twice():
        group = layer.zrange(f"asgi:group:chat_{room}", 0, -1, withscores=True)
        stamps.update(stamp for _, stamp in group)
        return len(stamps) >= 3  # joined, then renewed twice

    wait_for(renewed_twice, f"{room} renewed twice", 2 * GROUP_RENEWAL + WAIT)


# Stopped right after the sockets opened, when Daphne's own shutdown cancels
# no consumer (chat/daphne_shutdown.py says why).
@pytest.mark.patched("CHAT_DAPHNE_SHUTDOWN")
@pytest.mark.any_layer
def test_sigterm_closes_every_socket_with_a_reason(stage, private_server):
    server = private_server()
    with ExitStack() as clients:
        sockets = [
            clients.enter_context(room_connection(server, "stopping"))
            for _ in range(10)
        ]
        server.signal(signal.SIGTERM)
        for client in sockets:
            assert "stopping" in client.receive_json()["error"]
            with pytest.raises(ConnectionClosed) as closed:
                client.receive_json()
            assert closed.value.rcvd is not None, "a close frame, not a dropped TCP"
            assert closed.value.rcvd.code == SERVER_STOPPING_CODE
    server.process.wait(timeout=WAIT)
    assert_no_traceback(server.log())


@pytest.mark.any_layer
def test_the_page_reconnects_when_the_server_is_back(
    stage, private_server, open_window_on
):
    server = private_server()
    window = open_window_on(server)
    window.open_room("comeback")
    window.post("before")
    window.wait_for_lines(["before"])

    server.stop()  # SIGTERM
    window.wait_until(
        lambda: "Reconnecting" in window.find("#chat-status").text,
        "the room page should say that it is reconnecting",
    )
    again = private_server(port=server.port)
    window.wait_until_connected()  # the page, never reloaded, opened a new socket
    assert window.find("#chat-status").text == ""
    window.post("after")
    window.wait_for_lines(["before", "after"])
    assert_no_traceback(again.log())


@pytest.mark.waits(4)
@pytest.mark.layer("redis")
def test_a_quick_redis_restart_leaves_no_socket_deaf(stage, private_server, tmp_path):
    redis_server = start_redis(tmp_path / "redis")
    with redis_server, ExitStack() as clients:
        server = private_server(redis_server.url())
        listeners = [
            clients.enter_context(room_connection(server, "quick")) for _ in range(10)
        ]
        down_at = time.monotonic()
        redis_server.kill()
        restarted = start_redis(tmp_path / "redis", port=redis_server.port)
        print(f"\nRedis was down {1000 * (time.monotonic() - down_at):.0f} ms")
        with restarted:
            assert group_size(restarted.url(), "quick") == 0, "Redis forgot the room"
            wait_for(
                lambda: group_size(restarted.url(), "quick") == 10,
                "every socket should join its room again",
                timeout=GROUP_RENEWAL + WAIT,
            )
            with room_connection(server, "quick") as sender:
                for number in range(100):
                    sender.send_message(f"{number}")
                expected = [f"{number}" for number in range(100)]
                for listener in listeners:
                    assert listener.receive_messages(100) == expected
    assert_no_traceback(server.log())


async def fate_of_sockets_in_outage(server, redis_server, data_dir, clients, outage):
    """A burst in one room, Redis killed as it is delivered and back after
    `outage` seconds. For each socket: "closed" (error, then 4503),
    "receiving" (it gets a message sent once Redis is back), "deaf" (open,
    and it does not), or how else it was closed."""
    sockets = await open_room(server.socket_url("outage"), server.origin, clients)
    fates = [None] * clients

    async def watch(number, socket):
        """Read until the socket closes; it must say why first."""
        error = None
        try:
            while True:
                error = json.loads(await socket.recv()).get("error", error)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else 1006
            told = code == UNREACHABLE_CLOSE_CODE and "cannot reach" in (error or "")
            fates[number] = "closed" if told else f"closed with {code} after {error!r}"

    watchers = [asyncio.create_task(watch(*pair)) for pair in enumerate(sockets)]
    try:
        for number, socket in enumerate(sockets):
            for message in range(10):
                await socket.send(json.dumps({"message": f"{number}:{message}"}))
        redis_server.kill()
        await asyncio.sleep(outage)  # the outage itself, not a wait for a result
        with start_redis(data_dir, port=redis_server.port) as restarted:
            # Every socket still open renews its membership by itself; the wait
            # runs in a thread, so that the watchers above go on reading.
            try:
                await asyncio.to_thread(
                    wait_for,
                    lambda: group_size(restarted.url(), "outage") >= fates.count(None),
                    "",
                    GROUP_RENEWAL + WAIT,
                )
            except TimeoutError:
                in_group = group_size(restarted.url(), "outage")
                raise AssertionError(
                    f"the open sockets should have joined their room again: "
                    f"{in_group} in its group; {Counter(fates)} (None: open)"
                ) from None
            async with connect(
                server.socket_url("outage"), origin=server.origin
            ) as new:
                await new.send(json.dumps({"message": "back"}))
                assert json.loads(await new.recv()) == {"message": "back"}
            await asyncio.wait(watchers, timeout=WAIT)
            for number, socket in enumerate(sockets):
                if fates[number] is None:
                    fates[number] = "receiving" if await got_back(socket) else "deaf"
    finally:
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*(socket.close() for socket in sockets))
    return fates


async def got_back(socket):
    """Has this open socket received "back" (and nothing else since)?"""
    try:
        while True:
            if json.loads(await asyncio.wait_for(socket.recv(), WAIT)) == {
                "message": "back"
            }:
                return True
    except (TimeoutError, ConnectionClosed):
        return False


@pytest.mark.waits(7)
@pytest.mark.layer("redis")
def test_a_redis_outage_during_a_burst_leaves_no_socket_deaf(
    stage, private_server, tmp_path
):
    with start_redis(tmp_path / "redis") as redis_server:
        server = private_server(redis_server.url())
        fates = asyncio.run(
            fate_of_sockets_in_outage(
                server, redis_server, tmp_path / "redis", clients=50, outage=5
            )
        )
    counts = Counter(fates)
    print(f"\nafter a 5 s outage during a burst: {dict(counts)}")
    assert set(counts) <= {"closed", "receiving"}, f"deaf or closed untold: {counts}"
    assert_no_traceback(server.log())


@pytest.mark.waits(5)
@pytest.mark.layer("redis")
def test_a_stalled_redis_delays_the_chat_then_it_recovers(
    stage, private_server, tmp_path
):
    with start_redis(tmp_path / "redis", debug_command=True) as redis_server:
        server = private_server(redis_server.url())
        with (
            room_connection(server, "stall") as alice,
            room_connection(server, "stall") as bob,
        ):
            stall = threading.Thread(
                target=redis.Redis.from_url(redis_server.url()).execute_command,
                args=("DEBUG", "SLEEP", "3"),
            )
            stalled_at = time.monotonic()
            stall.start()
            try:
                wait_for(
                    lambda: not answers_ping(redis_server.port), "Redis should stall"
                )
                alice.send_message("during")
                assert bob.receive_messages(1) == ["during"]
                assert time.monotonic() - stalled_at > 2, "Redis did not stall"
            finally:
                stall.join()
            bob.send_message("after")
            assert alice.receive_messages(2) == ["during", "after"]
            assert bob.receive_messages(1) == ["after"]
    assert_no_traceback(server.log())
    assert "the channel layer failed" not in server.log()


@pytest.mark.waits(6)
@pytest.mark.layer("redis")
def test_a_consumer_that_fails_leaves_its_room(stage, private_server, tmp_path):
    with start_redis(tmp_path / "redis") as redis_server:
        server = private_server(redis_server.url())
        with room_connection(server, "full") as alice:
            assert group_size(redis_server.url(), "full") == 1
            # Redis full: every write that adds data fails (OOM), deletes do not.
            redis.Redis.from_url(redis_server.url()).config_set("maxmemory", 1)
            alice.send_message("too much")
            alice.frames_until_closed(timeout=GROUP_RENEWAL + WAIT)
        wait_for(
            lambda: group_size(redis_server.url(), "full") == 0,
            "a consumer that failed should have left its room's group",
        )
        # Redis takes writes again: nothing of the dead consumer (its renewal)
        # may put it back, while a live one's renews as it should.
        redis.Redis.from_url(redis_server.url()).config_set("maxmemory", 0)
        with room_connection(server, "alive"):
            wait_for_two_renewals(redis_server.url(), "alive")
        assert group_size(redis_server.url(), "full") == 0, "a dead channel rejoined"


@pytest.mark.waits(4)
@pytest.mark.layer("redis")
def test_a_renewal_that_fails_closes_its_idle_socket_with_a_reason(
    stage, private_server, tmp_path
):
    """An idle socket whose membership cannot be renewed would soon be deaf
    (its lease lapses): it is told, and closed so that the page reconnects."""
    with start_redis(tmp_path / "redis") as redis_server:
        server = private_server(redis_server.url())
        with room_connection(server, "renewal") as alice:
            # Redis full: a renewal (a write) fails; alice sends nothing.
            redis.Redis.from_url(redis_server.url()).config_set("maxmemory", 1)
            frames = alice.frames_until_closed(timeout=GROUP_RENEWAL + WAIT)
            assert "cannot reach" in frames[-1]["error"]
            assert alice.socket.protocol.close_code == UNREACHABLE_CLOSE_CODE
    assert "Traceback" not in server.log()


@pytest.mark.waits(11)
@pytest.mark.layer("redis")
def test_the_membership_of_a_killed_server_lapses(stage, private_server, tmp_path):
    """A process killed at once (SIGKILL, out of memory) discards nothing:
    each membership is a lease of CHANNEL_GROUP_EXPIRY seconds, renewed only
    while its consumer runs."""
    with start_redis(tmp_path / "redis") as redis_server:
        server = private_server(redis_server.url())
        with room_connection(server, "killed"):
            assert group_size(redis_server.url(), "killed") == 1
            server.kill()
        assert group_size(redis_server.url(), "killed") == 1, "nobody discarded it"
        wait_for(
            lambda: group_size(redis_server.url(), "killed") == 0,
            "the membership of a killed server should lapse",
            timeout=GROUP_EXPIRY + WAIT,
        )
