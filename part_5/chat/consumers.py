# chat/consumers.py
# Beyond the tutorial: asyncio, settings and Channels' helpers, for the
# consumer's life below (leaving, renewing, closing) and its faster dispatch.
import asyncio
import json
import logging

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

# Beyond the tutorial: what one client may send (chat/limits.py).
from .limits import REFUSED_PER_SECOND, RateLimit

# Beyond the tutorial: what the chat accepts from a client (chat/validation.py).
from .validation import InvalidMessage, UnreadableFrame, parse_message

logger = logging.getLogger(__name__)  # Beyond the tutorial: refusals are logged.

# Beyond the tutorial: what a server that stops tells its sockets. RFC 6455's
# code is 1001, "going away", but Daphne's WebSocket library (autobahn) lets a
# server send only 1000 or 3000-4999; 4503 is what chat/layer_errors.py sends
# too: the service is unavailable for now, the page reconnects.
SERVER_STOPPING_CODE = 4503
SERVER_STOPPING = "The chat server is stopping. The page reconnects when it is back."
# Beyond the tutorial: a frame no page sends, built to make the parser fail.
UNREADABLE_CODE = 4400  # as HTTP 400: a bad request
# Beyond the tutorial: what a client past its rate limit reads for each message.
RATE_LIMITED = (
    "Too many messages: at most {burst} at once, then {rate} a second. "
    "This one was not sent."
)


class ChatConsumer(AsyncWebsocketConsumer):
    # Beyond the tutorial: the consumer's whole life, so that whatever ends it
    # (a close, an error, the server stopping) it leaves its room, and a server
    # that stops says so. Daphne cancels every consumer on SIGTERM and then
    # drops the connections: without the close below, the page sees 1006.
    # (uvicorn closes every socket itself, with 1012, before it stops.)
    #
    # Channels' own __call__ waits on the client and the channel layer through
    # await_many_dispatch, which makes a new task for every event: one per
    # delivery, N for each message in a room of N. Here each source has a
    # loop of its own, in a task of its own, that takes its events in turn,
    # and the consumer ends when either loop ends.
    async def __call__(self, scope, receive, send):
        self.in_room = asyncio.Event()  # set once it has joined and accepted
        self.scope = scope
        self.base_send = send
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        limit = settings.CHAT_RATE_LIMIT
        self.rate_limit = RateLimit(*limit) if limit else None
        self.over_limit = False
        loops = [
            asyncio.create_task(self.client_events(self.receive_or_renew(receive))),
            asyncio.create_task(self.group_events()),
        ]
        try:
            done, _ = await asyncio.wait(loops, return_when=asyncio.FIRST_COMPLETED)
            for loop in done:
                loop.result()  # what ended it, if it failed, fails the consumer
        except asyncio.CancelledError:
            if self.in_room.is_set():
                await self.send(text_data=json.dumps({"error": SERVER_STOPPING}))
                await self.close(code=SERVER_STOPPING_CODE)
            raise
        finally:
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self.leave_room()

    async def client_events(self, receive):
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.receive" and not self.may_send():
                    await self.refuse_over_limit()
                    await asyncio.sleep(1 / REFUSED_PER_SECOND)
                else:
                    await self.dispatch(message)
        except StopConsumer:  # the client left: the consumer ends cleanly
            pass

    async def group_events(self):
        # A message can reach the channel between group_add and accept: it
        # waits until the socket is accepted, as in Channels' single loop.
        await self.in_room.wait()
        while True:
            await self.dispatch(await self.channel_layer.receive(self.channel_name))

    # Beyond the tutorial: one client cannot flood a room. Every frame counts,
    # and one past the limit is answered with an error (and one log line for
    # the connection), before any work is spent on it; the next one is read
    # no sooner than 1/REFUSED_PER_SECOND s later.
    def may_send(self):
        return self.rate_limit is None or self.rate_limit.allows()

    async def refuse_over_limit(self):
        rate, burst = settings.CHAT_RATE_LIMIT
        if not self.over_limit:  # once for each connection
            logger.warning("Rate limit: refusing messages in room %s", self.room_name)
            self.over_limit = True
        error = RATE_LIMITED.format(rate=rate, burst=burst)
        await self.send(text_data=json.dumps({"error": error}))

    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"

        # Join room group
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)

        await self.accept()
        self.in_room.set()  # Beyond the tutorial: see __call__ and group_events.

    # Beyond the tutorial: no disconnect(); __call__ leaves the room group on
    # every way out, a close among them.
    async def leave_room(self):
        if not hasattr(self, "room_group_name"):
            return  # refused before it joined
        self.in_room.clear()
        try:
            await self.channel_layer.group_discard(
                self.room_group_name, self.channel_name
            )
        except Exception as error:  # the layer may be what failed: it is reported
            logger.debug("Could not leave %s: %r", self.room_group_name, error)

    # Beyond the tutorial: a membership is renewed every CHAT_GROUP_RENEWAL
    # seconds, because the layer can lose it: a Redis that restarts forgets
    # every group, and both layers drop a member after group_expiry (a day).
    # Channels waits on two sources, the client and the channel layer; the
    # renewal rides on the first as a timer, so it is dispatched like any
    # event, and a renewal that fails ends the consumer as a failing handler
    # does (chat/layer_errors.py then closes the socket with 4503).
    def receive_or_renew(self, receive):
        loop = asyncio.get_running_loop()
        renew_at = loop.time() + settings.CHAT_GROUP_RENEWAL

        async def next_event():
            nonlocal renew_at
            try:
                return await asyncio.wait_for(receive(), renew_at - loop.time())
            except TimeoutError:
                renew_at = loop.time() + settings.CHAT_GROUP_RENEWAL
                return {"type": "room.renew"}

        return next_event

    async def room_renew(self, event):
        if self.in_room.is_set():
            await self.channel_layer.group_add(self.room_group_name, self.channel_name)

    # Beyond the tutorial: Channels' dispatch hops to a worker thread before
    # every handler, to close stale database connections as Django does around
    # a request. Only the client's events (websocket.*) keep that hop: the
    # group's events and renewals never touch the database, and they are most
    # of the work (N deliveries for each message received). Safe as long as
    # chat_message and room_renew stay free of the ORM; a handler that uses
    # it must come through the hop.
    async def dispatch(self, message):
        if message["type"].startswith("websocket."):
            await super().dispatch(message)
        else:
            await getattr(self, get_handler_name(message))(message)

    # Receive message from WebSocket
    # Beyond the tutorial: bytes_data too, so that a binary frame can be refused.
    async def receive(self, text_data=None, bytes_data=None):
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
