# chat/consumers.py
# Beyond the tutorial: asyncio, to renew the room's membership in a task, and
# settings, for the chat's limits.
import asyncio
import json
import logging
from contextlib import suppress

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

# Beyond the tutorial: group events without Channels' database hop, the other
# events sharing theirs, and events read by a task for each source instead of
# one for each event, set apart because Channels has no public way to do any
# of them (chat/channels_patches.py).
from .channels_patches import ReadersPerSource, ShareDatabaseHop, SkipDatabaseHop

# Beyond the tutorial: what a renewal that fails tells the page, as
# chat/layer_errors.py does for a handler that fails.
from .layer_errors import LAYER_UNREACHABLE_CODE, UNREACHABLE, log_closed

# Beyond the tutorial: what one client may send (chat/limits.py).
from .limits import REFUSED_PER_SECOND, RateLimit

# Beyond the tutorial: what the chat accepts from a client (chat/validation.py).
from .validation import InvalidMessage, UnreadableFrame, parse_message

logger = logging.getLogger(__name__)  # Beyond the tutorial: refusals are logged.

# Beyond the tutorial: a frame no page sends, built to make the parser fail.
UNREADABLE_CODE = 4400  # as HTTP 400: a bad request
# Beyond the tutorial: what a client past its rate limit reads for each message.
RATE_LIMITED = (
    "Too many messages: at most {burst} at once, then {rate} a second. "
    "This one was not sent."
)


# Beyond the tutorial: SkipDatabaseHop, for the handlers named below,
# ShareDatabaseHop, for the others, and ReadersPerSource, for a burst's many
# events.
class ChatConsumer(
    SkipDatabaseHop, ShareDatabaseHop, ReadersPerSource, AsyncWebsocketConsumer
):
    # Beyond the tutorial: the handlers that must never touch the ORM, since
    # they skip Channels' database hop (chat/channels_patches.py): a room of N
    # runs chat_message N times for each message.
    handlers_without_orm = frozenset({"chat_message"})

    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"
        # Beyond the tutorial: this connection's own rate limit (receive).
        limit = settings.CHAT_RATE_LIMIT
        self.rate_limit = RateLimit(*limit) if limit else None
        self.over_limit = False

        # Join room group
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        # Beyond the tutorial: keep the membership, and drop it however this
        # consumer ends (stay_in_room, below).
        self.renewal = asyncio.create_task(self.stay_in_room(asyncio.current_task()))

        await self.accept()

    async def disconnect(self, close_code):
        # Beyond the tutorial: the renewal ends first, so it cannot re-join.
        self.renewal.cancel()
        await asyncio.wait([self.renewal])
        # Leave room group
        # Beyond the tutorial: through leave_room, which a failed layer cannot fail.
        await self.leave_room()

    # Receive message from WebSocket
    # Beyond the tutorial: bytes_data too, so that a binary frame can be refused.
    async def receive(self, text_data=None, bytes_data=None):
        # Beyond the tutorial: one client cannot flood a room. Every frame
        # counts, and is checked first, before it is even parsed.
        if self.rate_limit and not self.rate_limit.allows():
            await self.refuse_over_limit()
            return
        # Beyond the tutorial: a frame that is not {"message": "<text>"} gets an
        # error back to its sender alone, instead of ending its connection.
        try:
            message = parse_message(text_data, bytes_data)
        except UnreadableFrame as error:
            # Beyond the tutorial: built to fail, not a mistake: it ends the
            # connection, with the reason, and one line in the log.
            logger.warning("Closed a WebSocket in room %s: %s", self.room_name, error)
            await self.send(text_data=json.dumps({"error": str(error)}))
            await self.close(code=UNREADABLE_CODE, reason=str(error))
            return
        except InvalidMessage as error:
            logger.warning("Refused a frame in room %s: %s", self.room_name, error)
            await self.send(text_data=json.dumps({"error": str(error)}))
            return
        # Beyond the tutorial: a blank message is not worth a broadcast.
        if not message.strip():
            return

        # Send message to room group
        # Beyond the tutorial: encoded once here, as the frame every member
        # sends, instead of once for each of them in chat_message.
        await self.channel_layer.group_send(
            self.room_group_name,
            {"type": "chat.message", "text": json.dumps({"message": message})},
        )

    # Receive message from room group
    # Beyond the tutorial: the frame as the sender encoded it.
    async def chat_message(self, event):
        # Send message to WebSocket
        await self.send(text_data=event["text"])

    # Beyond the tutorial: a frame past the rate limit gets an error (and the
    # connection one log line); the next frame is read no sooner than
    # 1/REFUSED_PER_SECOND s later, so that a flood costs the server little.
    async def refuse_over_limit(self):
        rate, burst = settings.CHAT_RATE_LIMIT
        if not self.over_limit:
            logger.warning("Rate limit: refusing messages in room %s", self.room_name)
            self.over_limit = True
        error = RATE_LIMITED.format(rate=rate, burst=burst)
        await self.send(text_data=json.dumps({"error": error}))
        await asyncio.sleep(1 / REFUSED_PER_SECOND)

    # Beyond the tutorial: the layer can lose a membership (a Redis that
    # restarts forgets every group), so the consumer re-joins every
    # CHAT_GROUP_RENEWAL seconds while it runs. Whatever ends it without
    # disconnect() (a handler that raised, the server cancelling it), the
    # renewal sees its task end, stops and leaves the room; a membership left
    # anyway (a process killed) lapses after CHANNEL_GROUP_EXPIRY. A renewal
    # that fails closes the socket with the reason: the page reconnects. It
    # also stops once cancelled, even if a group_add swallowed the
    # CancelledError (Python 3.11, chat/channels_redis_patches.py says how):
    # disconnect() waits for it, and it for the consumer, forever otherwise.
    async def stay_in_room(self, consumer):
        try:
            while not consumer.done() and not asyncio.current_task().cancelling():
                await asyncio.wait([consumer], timeout=settings.CHAT_GROUP_RENEWAL)
                if not consumer.done():
                    await self.channel_layer.group_add(
                        self.room_group_name, self.channel_name
                    )
        except Exception as error:
            log_closed(self.scope["path"], error)
            with suppress(OSError):  # unless the client has gone too
                await self.send(text_data=json.dumps({"error": UNREACHABLE}))
                await self.close(code=LAYER_UNREACHABLE_CODE)
            return
        await self.leave_room()

    async def leave_room(self):
        try:
            await self.channel_layer.group_discard(
                self.room_group_name, self.channel_name
            )
        except Exception as error:  # the layer may be what failed: it is reported
            logger.debug("Could not leave %s: %r", self.room_group_name, error)
