"""Beyond the tutorial: a server that stops closes each open WebSocket with a
reason, so that the page says so and reconnects, instead of seeing 1006.

Daphne cancels every consumer on SIGTERM and then drops the connections
(chat/daphne_shutdown.py makes sure it does, even within a second of a new
connection, when Daphne's own shutdown fails).
(uvicorn closes every socket itself, with 1012, before it stops.)
"""

import asyncio
import json
from contextlib import suppress

# RFC 6455's code is 1001, "going away", but Daphne's WebSocket library
# (autobahn) lets a server send only 1000 or 3000-4999; 4503 is what
# chat/layer_errors.py sends too: unavailable for now, the page reconnects.
SERVER_STOPPING_CODE = 4503
SERVER_STOPPING = "The chat server is stopping. The page reconnects when it is back."


class CloseWhenServerStops:
    """ASGI middleware around the WebSocket routes: an application cancelled
    while its socket is open sends the reason and closes it, then ends."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        is_open = False  # accepted, and neither side has closed it since

        async def receive_and_remember():
            nonlocal is_open
            message = await receive()
            if message["type"] == "websocket.disconnect":
                is_open = False
            return message

        async def send_and_remember(message):
            nonlocal is_open
            if message["type"] in ("websocket.accept", "websocket.close"):
                is_open = message["type"] == "websocket.accept"
            await send(message)

        try:
            await self.app(scope, receive_and_remember, send_and_remember)
        except asyncio.CancelledError:
            if is_open:
                error = json.dumps({"error": SERVER_STOPPING})
                with suppress(OSError):  # the client may have gone meanwhile
                    await send({"type": "websocket.send", "text": error})
                    await send(
                        {"type": "websocket.close", "code": SERVER_STOPPING_CODE}
                    )
            raise
