"""A client that lags behind what it is sent when its connection is closed
(a busy machine, a slow link): one scenario for the two servers part 5 runs
on, runserver's Daphne (test_hostile.py) and uvicorn as `make serve` runs it
(test_serving.py). It must still get every message, then the reason."""

import asyncio
import json
import socket
from urllib.parse import urlsplit

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from harness.load import open_room, read_messages
from harness.waiting import WAIT, wait_for

# A frame part 5 closes its sender for (chat/validation.py): a number longer
# than Python converts. The close code, as HTTP 400 (chat/consumers.py).
LONG_INTEGER = '{"message": "hi", "n": ' + "7" * 5000 + "}"
UNREADABLE_CODE = 4400
# The backlog: what 3 others sent, 60 messages of 1,000 characters each
# (180 kB), more than the lagging client's socket buffer holds, so that the
# end of it, then the close, wait on the server's side. Daphne's WebSocket
# library aborts a connection whose client has not answered a close within
# about a second, and with it all still to be sent; the client reads nothing
# for LAG seconds. The backlog must also fit in the server's socket buffer
# (on loopback, Linux grows it to megabytes): past it, part 5's flow control
# would stop reading the client, and never see the frame that closes it.
SENDERS, EACH, LENGTH = 3, 60, 1_000
LAG = 2  # seconds: that one second, and as long again
# The lagging client's socket buffer, fixed: left to Linux, on loopback it
# grows to hold the whole backlog on the client's side, some runs and not
# others, and the server has nothing left to send when it closes.
CLIENT_BUFFER = 16 * 1024  # bytes; Linux doubles it, and keeps it


def lagging_connect(url, origin):
    """A WebSocket client whose socket buffers at most CLIENT_BUFFER."""
    address = urlsplit(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_BUFFER)
    sock.connect((address.hostname, address.port))
    return connect(url, origin=origin, sock=sock)


async def closed_while_lagging(server, logs):
    """What a client gets after it lagged LAG seconds behind its backlog when
    its connection was closed: how many messages, the last error, the close
    frame (None: none came). `logs()` is the servers' log."""
    url = server.socket_url("lag")
    # websockets' default max_queue: past 16 frames unread, it stops reading.
    async with lagging_connect(url, server.origin) as lagging:
        talkers = await open_room(url, server.origin, SENDERS)
        try:
            for talker in talkers:
                for _ in range(EACH):
                    await talker.send(json.dumps({"message": "x" * LENGTH}))
            for talker in talkers:  # each got them all: so was the lagging one sent
                await read_messages(talker, SENDERS * EACH)
            await lagging.send(LONG_INTEGER)
            await asyncio.to_thread(
                wait_for,
                lambda: "Closed a WebSocket in room lag" in logs(),
                "the server should close the lagging client (unless its flow "
                "control stopped reading it: the backlog outgrew the buffers)",
            )
            await asyncio.sleep(LAG)  # the lag itself, not a wait for a result
            messages, error = 0, None
            try:
                while True:
                    data = json.loads(await asyncio.wait_for(lagging.recv(), WAIT))
                    messages += "message" in data
                    error = data.get("error", error)
            except ConnectionClosed as closed:
                return messages, error, closed.rcvd
        finally:
            await asyncio.gather(*(talker.close() for talker in talkers))


def assert_told_after_all(messages, error, closed):
    assert closed, f"closed without a close frame, after {messages} messages"
    assert (messages, closed.code) == (SENDERS * EACH, UNREADABLE_CODE)
    assert error, "the client should be told why in a message"
    assert closed.reason, "and in its close frame"
