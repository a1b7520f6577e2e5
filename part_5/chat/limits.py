"""Beyond the tutorial: what one client may cost the server, and no more.

A rate limit on what a client sends (RateLimit, used by chat/consumers.py), and
a bound on what the server holds for one connection (ServerBuffers, around the
WebSocket routes in mysite/asgi.py).

Daphne, which `runserver` runs, has no flow control of its own: a frame a
client sends is parsed and queued for the consumer however many are waiting,
and a frame the consumer sends is added to the connection's write buffer
however much of it the client has not read. A client that stops reading, or
that sends faster than its consumer works, grows the server without bound.
ServerBuffers gives Daphne's connections what uvicorn's websockets
implementation has built in: it stops reading a client whose frames pile up,
or who does not read what it is sent; past CHAT_CLIENT_BUFFER bytes it has not
read, it closes the connection. Under any other ASGI server it does nothing.
"""

import functools
import logging
import time

from autobahn.exception import Disconnected
from django.conf import settings

logger = logging.getLogger(__name__)

# Close codes of the chat's own (4000-4999 are the application's; Daphne's
# WebSocket library lets a server send no code of RFC 6455 but 1000).
SLOW_READER_CODE = 4413  # as HTTP 413: what waits for the client is too large
SLOW_READER = (
    "Closed: this connection read nothing of the last {limit:,} bytes sent to it."
)
PING_FLOOD_CODE = 4429  # as HTTP 429: too many requests
PING_FLOOD = "Closed: more than {burst} pings at once."
# Frames parsed but not yet taken by the consumer, past which Daphne stops
# reading the connection (as uvicorn's websockets does past 32, ws_max_queue).
MAX_QUEUED_FRAMES = 32
# Frames refused per second, at most, to one client over its rate limit: the
# rest wait, unread, so that a flood costs the server little.
REFUSED_PER_SECOND = 100
# Bytes read from a connection at a time; also the write buffer past which
# Twisted tells that the client is not reading.
READ_SIZE = 16 * 1024
# Pings one connection may send: browsers send none, libraries one in seconds.
PING_RATE, PING_BURST = 1, 20


class RateLimit:
    """A token bucket: `burst` at once, then `rate` a second on average."""

    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.last = time.monotonic()

    def allows(self):
        """Take one token if there is one; False if the limit is reached."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def frame_size(message):
    return len(message.get("text") or message.get("bytes") or "")


def daphne_protocol(send):
    """The Daphne connection behind an ASGI `send`, or None under another
    server. Daphne hands each application `partial(Server.handle_reply,
    protocol)`; that is the only way to reach its connection."""
    try:
        from daphne.server import Server
    except ImportError:
        return None
    if isinstance(send, functools.partial) and isinstance(
        getattr(send.func, "__self__", None), Server
    ):
        return send.args[0]
    return None


class ServerBuffers:
    """ASGI middleware: a bound on what Daphne holds for each WebSocket."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        protocol = daphne_protocol(send)
        if protocol is None:
            return await self.app(scope, receive, send)
        connection = BoundedConnection(protocol, receive, send, scope["path"])
        return await self.app(scope, connection.receive, connection.send)


class BoundedConnection:
    """One Daphne WebSocket, read and written within CHAT_CLIENT_BUFFER.

    Twisted calls pauseProducing when the connection's write buffer is full
    (READ_SIZE that the kernel could not send, the kernel's own buffer being
    full) and resumeProducing once it has drained: the client is reading
    again. In between, what the application sends is counted, and the
    connection is closed past the limit.
    """

    def __init__(self, protocol, receive, send, path):
        self.protocol = protocol
        self.transport = protocol.transport
        self.daphne_send = send
        self.path = path
        self.limit = settings.CHAT_CLIENT_BUFFER
        self.unread = 0  # bytes sent while the client was not reading
        self.queued = 0  # bytes of the frames parsed and not yet received
        self.closing = False
        self.paused_for = set()  # why reading is paused: "input", "output"
        self.pings = RateLimit(PING_RATE, PING_BURST)
        # Twisted reads 64 KiB at a time, and Daphne's WebSocket library
        # parses all of it before anything else runs: 2,000 small frames of a
        # flood. READ_SIZE is as much as it needs for a frame of the chat.
        self.transport.bufferSize = READ_SIZE
        # Twisted's HTTP channel registered itself as the producer that
        # writes on this transport; the WebSocket replaces it.
        self.transport.unregisterProducer()
        self.transport.registerProducer(self, True)
        # Daphne's queue of frames for the application: count what it holds.
        self.queue = receive.__self__
        self.queue_put = self.queue.put_nowait
        self.queue.put_nowait = self.put
        protocol.onPing = self.on_ping
        # A frame too big (1009) or not UTF-8 (1007): Daphne's WebSocket
        # library drops the TCP connection at once; this sends the close
        # frame, with the reason, first.
        protocol.failByDrop = False

    # --- what the client sends ---

    def put(self, message):
        self.queue_put(message)
        self.queued += frame_size(message)
        if self.queued > self.limit or self.queue.qsize() > MAX_QUEUED_FRAMES:
            self.pause_reading("input")

    async def receive(self):
        message = await self.queue.get()
        self.queued -= frame_size(message)
        if (
            "input" in self.paused_for
            and self.queue.qsize() <= MAX_QUEUED_FRAMES // 2
            and self.queued <= self.limit // 2
        ):
            self.resume_reading("input")
        return message

    def on_ping(self, payload):
        if self.closing:
            return
        if not self.pings.allows():
            self.close(PING_FLOOD_CODE, PING_FLOOD.format(burst=PING_BURST))
            return
        self.protocol.sendPong(payload)

    # --- what the client is sent ---

    async def send(self, message):
        if self.closing:
            return  # the connection is going: nothing more to hold for it
        if message["type"] == "websocket.send" and "output" in self.paused_for:
            self.unread += frame_size(message)
            if self.unread > self.limit:
                self.close(SLOW_READER_CODE, SLOW_READER.format(limit=self.limit))
                return
        if (
            message["type"] == "websocket.close"
            and message.get("reason")
            and self.protocol.state == self.protocol.STATE_OPEN
        ):
            # Daphne sends the code of a close, and drops its reason.
            self.closing = True
            self.protocol.sendClose(
                code=message.get("code", 1000), reason=message["reason"]
            )
            return
        try:
            await self.daphne_send(message)
        except Disconnected as gone:
            # Daphne's word for a send to a client that has gone; the ASGI
            # specification asks for an OSError, which chat/layer_errors.py
            # takes as "the client is gone" and ends the consumer quietly.
            raise ConnectionResetError(str(gone)) from gone

    def close(self, code, reason):
        """Close with a reason; the WebSocket library drops the connection if
        the client does not answer within a second, freeing its buffer."""
        self.closing = True
        logger.warning("Closed a WebSocket of %s: %s", self.path, reason)
        self.protocol.sendClose(code=code, reason=reason)

    # --- Twisted's producer interface, for the transport's write buffer ---

    def pauseProducing(self):  # Twisted calls these three
        self.pause_reading("output")

    def resumeProducing(self):
        self.unread = 0
        self.resume_reading("output")

    def stopProducing(self):
        self.paused_for.clear()

    def pause_reading(self, reason):
        # A client that does not read what it is sent is not read either: its
        # pings would only add pongs to what it does not read.
        if not self.paused_for:
            self.transport.pauseProducing()
        self.paused_for.add(reason)

    def resume_reading(self, reason):
        self.paused_for.discard(reason)
        if not self.paused_for and not self.closing:
            self.transport.resumeProducing()
