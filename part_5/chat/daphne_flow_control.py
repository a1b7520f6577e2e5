"""Beyond the tutorial: flow control for Daphne's WebSockets, which Daphne
does not have, set apart here because it reaches into Daphne's, autobahn's
and Twisted's own objects. Switched on by CHAT_DAPHNE_FLOW_CONTROL (settings).

What Daphne lacks. A frame a client sends is parsed and queued for the
consumer however many are waiting, and a frame the consumer sends is added to
the connection's write buffer however much of it the client has not read. A
client that stops reading, or that sends faster than its consumer works,
grows the server without bound. Daphne also answers every ping, drops the
reason of a close the application sends, and drops the TCP connection
without a close frame on a frame too big (1009) or not UTF-8 (1007). And it
gives a client about a second to answer a close, then aborts the connection,
throwing away all it had not sent yet: a client a second behind (a busy
machine, a slow link) loses the end of what it was sent, the reason and the
close frame itself, and sees 1006.

What this module does, around the WebSocket routes (mysite/asgi.py): it stops
reading a client whose frames pile up (MAX_QUEUED_FRAMES, or
CHAT_CLIENT_BUFFER bytes) or who does not read what it is sent, and closes,
with 4413 and the reason, one that has not read the last CHAT_CLIENT_BUFFER
bytes; it closes a ping flood with 4429; it sends the reason of a close; it
sends a close frame before autobahn drops a connection; and it gives a client
CLOSE_TIMEOUT seconds to answer any close the server sends (a second still,
for a client closed for reading nothing or flooding). That is what
uvicorn's websockets implementation has built in (max_queue, write limits,
a close timeout of ten seconds). Under any other server it does nothing.

Written for Daphne 4.2.3 on autobahn 26.11 and Twisted 26.10. It relies on
Daphne handing each application `partial(Server.handle_reply, protocol)` as
its send and `asyncio.Queue.get` as its receive, on the queue being filled by
put_nowait, on autobahn's ping, close and failure paths, and on autobahn
reading closeHandshakeTimeout from the connection as it sends a close (a
protocol option that Daphne leaves at autobahn's one second): WRITTEN_AGAINST
records the SHA-256 of each of their sources, and shared_tests/test_upstream.py
fails once the installed code differs.

Off, Daphne serves as it does for the tutorial: nothing breaks, but a client
that never reads, or that floods, costs the server memory without bound, a
ping flood is answered in full, a close loses its reason, and a client more
than a second behind loses the end of its messages when it is closed.

Also here, switched on by CHAT_DAPHNE_LEAN_SEND (and only where the flow
control above is on, since it is the flow control's connection that does
it): each frame written without autobahn's debug line. For every frame it
writes, autobahn's WebSocketProtocol.sendData formats the arguments of a
log.debug call (the method's qualified name, the peer, the length, each
coloured through click when click is installed, as it is beside uvicorn),
whether or not debug is logged: about a tenth of what a delivery costs under
Daphne. The connection's sendData is replaced by the same write, and the
same count of octets, without that line; a write that autobahn would queue,
chop or log goes to autobahn's own. Written against autobahn 26.11 (the
source of WebSocketProtocol.sendData, in WRITTEN_AGAINST). Off, autobahn
writes every frame itself: nothing breaks, and a delivery costs a little
more.
"""

import functools
import logging

from autobahn.exception import Disconnected
from django.conf import settings

from .limits import RateLimit

logger = logging.getLogger(__name__)

# The upstream code this module relies on, by the SHA-256 of
# inspect.getsource() when it was written (shared_tests/test_upstream.py).
WRITTEN_AGAINST = {
    "daphne.server.Server.create_application": (
        "f1e300b4ecf636c85e1a66250e32af2ebb67728f01919678d43e80c794a79a87"
    ),
    "daphne.server.Server.handle_reply": (
        "9d9dbaea6de0657aab6d5eaa7e38781b5fd80924c5ddf334bada16aebed09413"
    ),
    "daphne.ws_protocol.WebSocketProtocol.onMessage": (
        "826cc86d0e2aeef037a1cf6448a02cc79565e485f39dbff3cbfc019141fee0a8"
    ),
    "daphne.ws_protocol.WebSocketProtocol.handle_reply": (
        "5331423b1cf2016a7e68e20c357a9a81576a9a808ba8d5909bd103e2000f918e"
    ),
    "daphne.ws_protocol.WebSocketProtocol.serverClose": (
        "8302150efac698d62de45c277e79a177c67ae5ea3c4f437064000bbdb6545a7b"
    ),
    "autobahn.twisted.websocket.WebSocketAdapterProtocol._onPing": (
        "e5ee46991171c6730a6833ed0c8c9fbc5ee41d8ee99b357cf48da5fab61dcc28"
    ),
    "autobahn.websocket.protocol.WebSocketProtocol.onPing": (
        "d283f6ebda586764a90ffa75512ecb7e4c6043da9f99be13b359a71758c417fb"
    ),
    "autobahn.websocket.protocol.WebSocketProtocol._fail_connection": (
        "00c349e066d658bfd98e56f8405c9ec8160f065573ac64c1e497b6e12fd912eb"
    ),
    "autobahn.websocket.protocol.WebSocketProtocol._protocol_violation": (
        "a3520e15ba70c0ec3ae83bf9f2224afdeeba18e9b6dfcfa9fd78824e7cc46df7"
    ),
    "autobahn.websocket.protocol.WebSocketProtocol._invalid_payload": (
        "1784316d7af3d95d3d20c8f1394bac146f660958bf00063fd86af612b2b5d067"
    ),
    "autobahn.websocket.protocol.WebSocketProtocol.sendCloseFrame": (
        "a511406d6b0d711e81f5067e322de0f628437b9f9dac0c74a001bc19c482b9fc"
    ),
    "autobahn.websocket.protocol.WebSocketProtocol.onCloseHandshakeTimeout": (
        "b64c7e3125c7d0d21ed15bbe27c11d251447f74096166008d53b841ba500e7de"
    ),
    "twisted.internet.tcp.Connection.doRead": (
        "20ac74ffecd6b7f28df457b1ca62b92e0368c6531de958ce9e24e9309b5d92ef"
    ),
    # BoundedConnection.send_data is its plain write, without the debug line.
    "autobahn.websocket.protocol.WebSocketProtocol.sendData": (
        "5dcca425b048b07eb27d56a625a790d7a8e48fbe958753074cb1e55e174b2423"
    ),
}

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
# Bytes read from a connection at a time; also the write buffer past which
# Twisted tells that the client is not reading.
READ_SIZE = 16 * 1024
# Pings one connection may send: browsers send none, libraries one in seconds.
PING_RATE, PING_BURST = 1, 20
# Seconds a client has to answer a close the server sends, before the
# connection is aborted with what was still to be sent to it: as long as
# uvicorn gives, for a client that lags behind and still reads. One closed for
# reading nothing, or for a ping flood, has autobahn's own second.
CLOSE_TIMEOUT = 10
NOT_READING_CLOSE_TIMEOUT = 1


def with_daphne_flow_control(app):
    """The WebSocket application, within ServerBuffers while the setting is on."""
    return ServerBuffers(app) if settings.CHAT_DAPHNE_FLOW_CONTROL else app


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
        # A client behind when it is closed reads the rest, then the close.
        protocol.closeHandshakeTimeout = CLOSE_TIMEOUT
        if settings.CHAT_DAPHNE_LEAN_SEND:
            self.autobahn_send_data = protocol.sendData
            protocol.sendData = self.send_data

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

    def send_data(self, data, sync=False, chopsize=None):
        """autobahn's sendData for a frame written at once, without the
        arguments of its debug line; anything else is autobahn's to write."""
        protocol = self.protocol
        if (
            sync
            or chopsize
            or protocol.send_queue
            or protocol.logOctets
            or protocol.state != protocol.STATE_OPEN
        ):
            self.autobahn_send_data(data, sync, chopsize)
            return
        self.transport.write(data)
        protocol.trafficStats.outgoingOctetsWireLevel += len(data)

    def close(self, code, reason):
        """Close with a reason; the WebSocket library drops the connection if
        the client does not answer within a second, freeing its buffer."""
        self.closing = True
        logger.warning("Closed a WebSocket of %s: %s", self.path, reason)
        self.protocol.closeHandshakeTimeout = NOT_READING_CLOSE_TIMEOUT
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
