"""Beyond the tutorial: under uvicorn, a client that sends text that is not
UTF-8 costs the log one line, not a traceback.

uvicorn's WebSocket implementation (websockets-sansio, its default) decodes
each text message itself: websockets' sans-I/O protocol checks frames but
leaves text undecoded. When decoding fails, uvicorn closes the connection
with 1007, as RFC 6455 asks, and logs "Invalid UTF-8 sequence received from
client." with logger.exception: a traceback at ERROR for every such message,
though nothing failed in the server (uvicorn 0.54.0's
uvicorn/protocols/websockets/websockets_sansio_impl.py,
send_receive_event_to_app). Daphne logs nothing.

InvalidUTF8InOneLine, a filter on the `uvicorn.error` logger (LOGGING in
mysite/settings.py), keeps that record as one warning that says what was
wrong and drops its traceback. It uses no uvicorn code, only its logger's
name and the message; under Daphne it sees nothing. Written for uvicorn
0.54.0 with websockets 17.4. Without it, the close code is the same, and the
log fills with tracebacks that look like a server fault:
shared_tests/test_serving.py sends such frames and finds none.
"""

import logging

# What uvicorn logs, word for word.
INVALID_UTF8 = "Invalid UTF-8 sequence received from client."
INVALID_DATA_CODE = 1007  # RFC 6455: data not consistent with its frame type


class InvalidUTF8InOneLine(logging.Filter):
    """uvicorn's record for a text message that is not UTF-8: a warning in one
    line, with where the bytes went wrong, and no traceback."""

    def filter(self, record):
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, UnicodeDecodeError) and record.msg == INVALID_UTF8:
            record.msg = "%s (%s at byte %d): closed with %d."
            record.args = (
                INVALID_UTF8.rstrip("."),
                error.reason,
                error.start,
                INVALID_DATA_CODE,
            )
            record.exc_info = record.exc_text = None
            # The client's mistake, not the server's.
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
