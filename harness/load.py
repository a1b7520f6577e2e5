"""A room full of clients that all talk at once: who received what, in what order."""

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass

import redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from harness.waiting import REDIS_HELD, SCALE, SILENCE, WAIT

# A burst that a channel of the default capacity (100 messages) cannot hold:
# each of 5 clients must take 400 messages at once, four times as many, so
# that no consumer, however quick on an idle machine, drains its channel in
# time. (Within part 5's rate limit: bursts of 100 from one client.)
OVER_DEFAULT_CAPACITY = {"clients": 5, "messages_each": 80}
QUIET = 5 * SCALE  # seconds without a message: what has not arrived is lost
# Clients that post at once, each in a room of its own: on Redis, each post a
# group message in flight, over redis-py's default pool of 100 connections.
# Redis holds every write meanwhile (CLIENT PAUSE), as a busy Redis would: each
# post keeps its connection until then, however slowly the server reads them.
OVER_REDIS_POOL = 120  # clients


# Daphne closes a WebSocket whose consumer has not accepted within 5 s: on a
# busy machine, a crowd that all knock at once would not all get in.
OPEN_AT_ONCE = 10


async def open_room(ws_url, origin, count):
    """`count` WebSockets open on one room, OPEN_AT_ONCE handshakes at a time;
    each queues every message it is sent until it is read."""
    sockets = []
    for start in range(0, count, OPEN_AT_ONCE):
        sockets += await asyncio.gather(
            *(
                connect(ws_url, origin=origin, max_queue=None)
                for _ in range(min(OPEN_AT_ONCE, count - start))
            )
        )
    return sockets


async def read_messages(socket, count, timeout=WAIT):
    """The next `count` chat messages on a socket (errors aside)."""
    messages = []
    while len(messages) < count:
        data = json.loads(await asyncio.wait_for(socket.recv(), timeout))
        if "message" in data:
            messages.append(data["message"])
    return messages


@dataclass
class Burst:
    received: list  # per client: (sender, number, latency in seconds), as they came
    seconds: float  # from the first message sent to the last one received


async def chat_burst(
    ws_url, origin, clients, messages_each, timeout, quiet=QUIET, before_leaving=None
) -> Burst:
    """Connect `clients` to one room; each sends `messages_each` as fast as it
    can. Returns what every client received, once
    every client has all it should, or nothing has arrived for `quiet` seconds,
    or `timeout` seconds have passed. before_leaving() is called then, before
    the clients close their sockets."""
    expected = clients * messages_each
    sockets = await open_room(ws_url, origin, clients)
    received = [[] for _ in sockets]

    loop = asyncio.get_running_loop()
    last_arrival = loop.time()

    async def listen(inbox, socket):
        nonlocal last_arrival
        while len(inbox) < expected:
            message = json.loads(await socket.recv())["message"]
            last_arrival = loop.time()
            sender, number, sent_at = message.split(":")
            inbox.append((int(sender), int(number), last_arrival - float(sent_at)))

    async def talk(sender, socket):
        for number in range(messages_each):
            sent_at = loop.time()  # one clock: every client is in this process
            await socket.send(json.dumps({"message": f"{sender}:{number}:{sent_at}"}))

    try:
        listeners = [
            asyncio.create_task(listen(inbox, socket))
            for inbox, socket in zip(received, sockets, strict=True)
        ]
        first_sent = loop.time()
        await asyncio.gather(*(talk(n, socket) for n, socket in enumerate(sockets)))
        deadline = loop.time() + timeout
        pending = listeners
        while pending and loop.time() < deadline:
            if loop.time() - last_arrival > quiet:
                break  # the rest is lost, not late
            _, pending = await asyncio.wait(pending, timeout=1)
        for listener in listeners:
            listener.cancel()
        # A listener whose socket was closed on it ends with an error: that
        # shows as lost messages below.
        await asyncio.gather(*listeners, return_exceptions=True)
        if before_leaving:
            before_leaving()
    finally:
        await asyncio.gather(*(socket.close() for socket in sockets))
    return Burst(received, max(last_arrival - first_sent, 1e-9))


def inbox_faults(inbox, expected):
    """(lost, duplicated, senders out of order) in one client's inbox."""
    delivered = [(sender, number) for sender, number, _ in inbox]
    by_sender = defaultdict(list)
    for sender, number in delivered:
        by_sender[sender].append(number)
    lost = expected - len(set(delivered))
    duplicated = len(delivered) - len(set(delivered))
    reordered = sum(numbers != sorted(numbers) for numbers in by_sender.values())
    return lost, duplicated, reordered


def delivery_problems(received, clients, messages_each):
    """Describe every loss, duplicate and reordering; an empty list means none."""
    problems = []
    for client, inbox in enumerate(received):
        lost, duplicated, reordered = inbox_faults(inbox, clients * messages_each)
        if lost or duplicated or reordered:
            problems.append(
                f"client {client}: {lost} lost, {duplicated} duplicated, "
                f"{reordered} senders out of order"
            )
    return problems


def burst_over_default_capacity(server, read_log) -> tuple[list, str]:
    """OVER_DEFAULT_CAPACITY in the room "burst" of a server, once nothing
    more arrives: what went wrong in its delivery (delivery_problems), and
    read_log() as it stood before the clients left. Once they leave, a
    server still busy delivering the burst may log its sends to their closed
    sockets: that is not the loss."""
    log = []
    burst = asyncio.run(
        chat_burst(
            server.socket_url("burst"),
            server.origin,
            **OVER_DEFAULT_CAPACITY,
            timeout=WAIT,
            quiet=SILENCE,
            before_leaving=lambda: log.append(read_log()),
        )
    )
    return delivery_problems(burst.received, **OVER_DEFAULT_CAPACITY), log[0]


def posting_over_the_redis_pool(server, redis_url, patience=WAIT) -> list:
    """OVER_REDIS_POOL clients in rooms "alone<n>" of a server on the Redis at
    redis_url each post "hello" at once, while Redis holds its writes for
    REDIS_HELD: what each got back, or None if its socket closed or stayed
    silent for `patience` seconds after that."""
    return asyncio.run(_posting_over_the_redis_pool(server, redis_url, patience))


async def _posting_over_the_redis_pool(server, redis_url, patience):
    # One after the other: a handshake, too, needs Redis (to join a group).
    sockets = [
        await connect(server.socket_url(f"alone{number}"), origin=server.origin)
        for number in range(OVER_REDIS_POOL)
    ]
    with redis.Redis.from_url(redis_url) as held:
        held.client_pause(int(REDIS_HELD * 1000), all=False)  # writes only

    async def post_and_read(socket):
        await socket.send(json.dumps({"message": "hello"}))
        try:
            return json.loads(
                await asyncio.wait_for(socket.recv(), REDIS_HELD + patience)
            )
        except (TimeoutError, ConnectionClosed):
            return None

    try:
        return await asyncio.gather(*(post_and_read(socket) for socket in sockets))
    finally:
        await asyncio.gather(*(socket.close() for socket in sockets))
