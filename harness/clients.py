"""A WebSocket client that speaks the chat's JSON, as the room page does."""

import json
import socket
import struct
import time
from collections import deque
from contextlib import contextmanager
from typing import NamedTuple

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import connect

from harness.waiting import POLL, WAIT, watch_for_giving_up

PAGE_ORIGIN = "the page's own"


class Exchange(NamedTuple):
    """One thing a client saw: it "sent" a frame, "received" one, the server
    "closed" its socket (data: the close code and reason), "refused" it (data:
    the HTTP status) or left its handshake "unanswered"."""

    room: str
    event: str
    data: str


# What the clients sent and saw lately, oldest first. `make check` tells a
# learner from it what their server did, when a check fails in a way no entry
# of TROUBLESHOOTING.md names (tools/check/plain_words.py). Bounded: some
# tests send thousands of frames.
EXCHANGES = deque(maxlen=50)


def room_connection(server, room, origin=PAGE_ORIGIN):
    """Open the WebSocket of a room on a stage's server. The Origin header is
    the server's own page, as a browser sends it, unless given (None: none)."""
    if origin == PAGE_ORIGIN:
        origin = server.origin
    return chat_connection(server.socket_url(room), origin)


@contextmanager
def chat_connection(ws_url, origin):
    """Open a WebSocket with the given Origin header; close it on the way out."""
    # No limit on frames received and not yet read: with one, a client that
    # stops reading also stops seeing the server's close frame, and its close
    # waits 10 s (websockets' close_timeout).
    try:
        opened = connect(ws_url, origin=origin, open_timeout=WAIT, max_queue=None)
    except InvalidStatus as refusal:
        status = refusal.response.status_code
        EXCHANGES.append(Exchange(room_of(ws_url), "refused", f"HTTP {status}"))
        raise
    except (TimeoutError, InvalidHandshake) as failure:
        EXCHANGES.append(Exchange(room_of(ws_url), "unanswered", str(failure)))
        raise
    with opened as websocket:
        yield ChatClient(websocket, ws_url)


def room_of(ws_url):
    """The room of a socket's URL: ws://host/ws/chat/<room>/."""
    return ws_url.rstrip("/").rpartition("/")[2]


class ChatClient:
    def __init__(self, websocket, ws_url):
        self.socket = websocket
        self.url = ws_url
        self.room = room_of(ws_url)

    def send_message(self, text):
        self.send_json({"message": text})

    def send_json(self, data):
        self.send_frame(json.dumps(data))

    def send_frame(self, data):
        """Send a raw frame: text for str, binary for bytes."""
        EXCHANGES.append(Exchange(self.room, "sent", shortened(data)))
        self.socket.send(data)

    def reset(self):
        """Vanish like a crashed client: a TCP reset, no WebSocket close frame."""
        raw = self.socket.socket
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()

    def receive_json(self, timeout=WAIT):
        """The next frame, decoded; TimeoutError if none comes within timeout
        seconds, or sooner if `make check` gives up (harness/waiting.py)."""
        give_up = watch_for_giving_up()
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = self.socket.recv(timeout=min(left, POLL))
            except ConnectionClosed as closed:
                why = f"{closed.rcvd.code} {closed.rcvd.reason}" if closed.rcvd else ""
                EXCHANGES.append(Exchange(self.room, "closed", why.strip()))
                raise
            except TimeoutError:
                if reason := give_up():
                    raise TimeoutError(
                        f"a client of {self.url} stopped waiting: {reason}"
                    ) from None
                continue
            EXCHANGES.append(Exchange(self.room, "received", shortened(frame)))
            return json.loads(frame)
        raise TimeoutError(
            f"a client of {self.url} waited {timeout} s and received nothing: "
            "the server never sent it the message it should have"
        )

    def receive_messages(self, count):
        return [self.receive_json()["message"] for _ in range(count)]

    def frames_until_closed(self, timeout=WAIT):
        """Every frame the server sends until it closes the socket; a frame
        that takes longer than timeout to come raises TimeoutError."""
        frames = []
        try:
            while True:
                frames.append(self.receive_json(timeout))
        except ConnectionClosed:
            return frames


def shortened(frame, most=120):
    """A frame as a learner can read it in one line."""
    text = frame if isinstance(frame, str) else f"<{len(frame)} bytes>"
    return text if len(text) <= most else f"{text[: most - 1]}…"
