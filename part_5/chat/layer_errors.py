"""Beyond the tutorial: when the channel layer cannot be reached (Redis down,
or restarting), close the WebSocket with an explanation instead of letting the
consumer die with a traceback and leaving the page with a dead socket."""

import json
import logging

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

CHANNEL_LAYER_ERRORS = (OSError, RedisConnectionError, RedisTimeoutError)
# Codes 4000-4999 are the application's own; 503 as in HTTP's Service Unavailable.
LAYER_UNREACHABLE_CODE = 4503
UNREACHABLE = (
    "The chat server cannot reach its channel layer (Redis). "
    "The page reconnects once it can."
)


def log_closed(path, error):
    """One line, no traceback: the address that failed is in the error."""
    logger.error(
        "WebSocket %s closed, the channel layer failed: %s: %s",
        path,
        type(error).__name__,
        error,
    )


class CloseOnChannelLayerError:
    """ASGI middleware around the WebSocket routes."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        state = {"websocket.accept": False, "websocket.close": False, "gone": False}

        async def send_and_remember(message):
            state[message["type"]] = True
            try:
                await send(message)
            except OSError:
                # Beyond the tutorial: what an ASGI server raises on a send to
                # a client that has gone (uvicorn); not the layer's failure.
                state["gone"] = True
                raise

        try:
            await self.app(scope, receive, send_and_remember)
        except CHANNEL_LAYER_ERRORS as error:
            if state["gone"]:
                logger.debug("WebSocket %s: the client is gone", scope["path"])
                return
            log_closed(scope["path"], error)
            if state["websocket.close"]:
                return
            if not state["websocket.accept"]:
                await send({"type": "websocket.accept"})
            await send(
                {"type": "websocket.send", "text": json.dumps({"error": UNREACHABLE})}
            )
            await send({"type": "websocket.close", "code": LAYER_UNREACHABLE_CODE})


class LayerErrorsInOneLine(logging.Filter):
    """channels_redis also talks to Redis from background tasks of its own;
    while Redis is down they fail, and asyncio logs each failure with a
    traceback ("Task exception was never retrieved"). The consumers already
    say what happened (above): such a record keeps one line and no traceback."""

    def filter(self, record):
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, CHANNEL_LAYER_ERRORS):
            record.msg = f"{record.getMessage().splitlines()[0]}: {error}"
            record.args = ()
            record.exc_info = None
        return True
