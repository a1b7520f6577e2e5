"""Frames that break RFC 6455, and what a server must answer to each: one
catalogue for the two servers part 5 runs on, runserver's Daphne
(test_hostile.py) and uvicorn as `make serve` runs it (test_serving.py)."""

import struct
from contextlib import suppress

from harness.clients import room_connection
from harness.hostile import (
    CLOSE,
    CONTINUATION,
    PING,
    RSV1,
    RSV2,
    RSV3,
    TEXT,
    RawWebSocket,
    close_code,
    frame,
)

# RFC 6455 7.4.1: 1002 for a protocol error, 1007 for data that is not what
# its frame says (text that is not UTF-8).
PROTOCOL_ERROR, INVALID_DATA = 1002, 1007
RESERVED_DATA_OPCODE, RESERVED_CONTROL_OPCODE = 0x3, 0xB
HELLO = b'{"message": "hello"}'

MALFORMED_FRAMES = {
    # What the offender sends (built when the test runs), and the code of the
    # server's close frame that RFC 6455 asks for.
    "invalid UTF-8 in a text frame": (
        lambda: frame(TEXT, b'{"message": "\xff\xfe"}'),
        INVALID_DATA,
    ),
    "invalid UTF-8 across the fragments of a text message": (
        # A two-byte character begun in one fragment and not ended in the next.
        lambda: (
            frame(TEXT, b'{"message": "caf\xc3', fin=False)
            + frame(CONTINUATION, b'("}')
        ),
        INVALID_DATA,
    ),
    "a text message that ends inside a UTF-8 character": (
        lambda: frame(TEXT, b'{"message": "caf\xc3'),
        INVALID_DATA,
    ),
    "a reserved data opcode (0x3)": (
        lambda: frame(RESERVED_DATA_OPCODE, HELLO),
        PROTOCOL_ERROR,
    ),
    "a reserved control opcode (0xB)": (
        lambda: frame(RESERVED_CONTROL_OPCODE, b""),
        PROTOCOL_ERROR,
    ),
    # No extension was negotiated, so no reserved bit may be set (5.2).
    "RSV1 set": (lambda: frame(TEXT, HELLO, rsv=RSV1), PROTOCOL_ERROR),
    "RSV2 set": (lambda: frame(TEXT, HELLO, rsv=RSV2), PROTOCOL_ERROR),
    "RSV3 set": (lambda: frame(TEXT, HELLO, rsv=RSV3), PROTOCOL_ERROR),
    "a continuation frame with nothing to continue": (
        lambda: frame(CONTINUATION, HELLO),
        PROTOCOL_ERROR,
    ),
    "a new text frame in the middle of a fragmented message": (
        lambda: frame(TEXT, b'{"message": ', fin=False) + frame(TEXT, HELLO),
        PROTOCOL_ERROR,
    ),
    # Control frames may come between fragments (5.4), a close among them:
    # the server answers it with the client's code, as for any close (5.5.1).
    "a close in the middle of a fragmented message": (
        lambda: (
            frame(TEXT, b'{"message": ', fin=False)
            + frame(CLOSE, struct.pack("!H", 1000) + b"bye")
        ),
        1000,
    ),
    "a ping of 126 bytes (a control frame holds at most 125)": (
        lambda: frame(PING, b"x" * 126),
        PROTOCOL_ERROR,
    ),
    "a fragmented ping": (lambda: frame(PING, b"are you", fin=False), PROTOCOL_ERROR),
    "an unmasked frame from the client": (
        lambda: frame(TEXT, HELLO, masked=False),
        PROTOCOL_ERROR,
    ),
}


def send_malformed_frame(server, build, room="malformed"):
    """Send a malformed frame beside two clients of the same room: the
    server's close frame (code, reason) or None, and whether the other two
    still chat afterwards."""
    with (
        room_connection(server, room) as alice,
        room_connection(server, room) as bob,
    ):
        offender = RawWebSocket(server, f"/ws/chat/{room}/", server.origin)
        try:
            assert offender.status == 101, f"handshake answered {offender.status}"
            with suppress(OSError):  # closed before it had sent it all
                offender.send(build())
            frames = offender.frames()
        finally:
            offender.close()
        alice.send_message("still chatting")
        still_chatting = bob.receive_json() == {"message": "still chatting"}
    return close_code(frames), still_chatting
