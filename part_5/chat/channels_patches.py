"""Beyond the tutorial: what Channels' consumer does not offer publicly, set
apart here, each piece switched on by a setting of its own.

1. SkipDatabaseHop: handlers that skip Channels' database hop
   (CHAT_SKIP_DB_HOP_FOR_GROUP_EVENTS).

What Channels lacks. Since Channels 4.2, AsyncConsumer.dispatch awaits
aclose_old_connections() before every handler: a hop to a worker thread that
closes stale database connections, as Django does around a request. A handler
that never touches the ORM pays it anyway, and in a room of N each message is
N group events, each with its hop. Channels has no public way to leave the hop
out for such handlers; SkipDatabaseHop does it by replacing dispatch.

Written for Channels 4.3.2 (4.2 and 4.3 have the same dispatch): it calls the
handler exactly as AsyncConsumer.dispatch does, minus the hop, for the
handlers a consumer names in `handlers_without_orm`, and leaves every other
event to Channels.

Off (CHAT_SKIP_DB_HOP_FOR_GROUP_EVENTS = False), every event goes through
Channels' own dispatch: nothing breaks, and the chat delivers a burst more
slowly (part 5's README has the figures). On, a handler named in
`handlers_without_orm` must never use the ORM, not even through
database_sync_to_async: its stale connections would not be closed.

2. ShareDatabaseHop: one database hop for the handlers that wait for one
   together (CHAT_SHARE_DB_HOP).

What Channels lacks. The hop is there for the handlers that do use the ORM
(receive, once the chat saves its messages): Django closes stale database
connections around each request, and the hop does it before each event, in
the worker thread where sync_to_async runs the ORM. In a burst, many sockets'
frames are handled in the same turn of the event loop, and each waits for a
hop of its own: a task, and a wake-up of the worker thread and then of the
event loop, for each frame, each doing the same work. In a room of 10 where
everyone posts at once, sharing them made part 5 half as fast again.
Channels has no way to share them; ShareDatabaseHop replaces dispatch with a
copy of AsyncConsumer.dispatch whose hop is shared_database_hop (below): a
handler waits for the next hop if one is asked for and has not begun, else
asks for one. So each handler still runs after close_old_connections() has
begun in the worker thread after it asked, as with Channels' own hop. That
is the same thread for every handler as long as none runs inside an
async_to_sync call or a ThreadSensitiveContext, which no server does for a
consumer (the hop runs in the thread the first to ask would use). A hop that
fails fails the handler that asked for it; the others that shared it take
one of their own, as each would with Channels. websocket_disconnect's own
hop, after disconnect(), is Channels' and not shared.

Written for Channels 4.3.2: WRITTEN_AGAINST holds the SHA-256 of the source
of AsyncConsumer.dispatch, which ShareDatabaseHop copies, and of
channels.db.aclose_old_connections, the hop DatabaseHop makes.

Off (CHAT_SHARE_DB_HOP=off), every handler outside `handlers_without_orm`
takes a hop of its own: nothing breaks, and a burst of frames is handled
more slowly (bench/README.md has the figures).

3. ReadersPerSource: the consumer's events taken by one task per source
   instead of a task per event (CHAT_CONSUMER_READERS).

What Channels lacks. AsyncConsumer.__call__ hands its two sources (the
client's frames, the channel layer's events) to channels.utils'
await_many_dispatch, which starts a new task for every event and waits for it
with asyncio.wait: for each delivery, a task, a future, callbacks, and three
turns of the event loop, each with its own poll of every socket; and since
a consumer dispatches one event per turn, Daphne writes one frame per system
call. In a room of N that is the most of a burst's work after the server's
own. Channels has no option to read events otherwise; ReadersPerSource
replaces __call__ with a copy of it whose loop is dispatch_in_turn (below).

dispatch_in_turn keeps what await_many_dispatch promises: every event is
dispatched in the consumer's own task, one at a time, in the order each
source gave them; an error of a source is raised there, in its turn; and the
readers are cancelled (and awaited) however the consumer ends. Each source
has one reader task for the consumer's life, which hands its events over in
a queue. The client's frames are read one at a time, as Channels does: the
next once the last is dispatched, so that the server's own flow control sees
every frame not yet handled. The channel layer's events are read up to
READ_AHEAD ahead: the consumer then handles several in one turn of the event
loop, and the server writes them to the socket at once. A consumer holds at
most READ_AHEAD events more than its channel's capacity, for as long as it
takes to send them; a consumer that ends drops those, as Channels' drops
what its channel holds.

Written for Channels 4.3.2: WRITTEN_AGAINST holds the SHA-256 of the source
of AsyncConsumer.__call__, which ReadersPerSource copies, and of
await_many_dispatch, whose promises dispatch_in_turn keeps.

Off (CHAT_CONSUMER_READERS=off in the environment), Channels' own __call__
runs: nothing breaks, and a burst is delivered more slowly (bench/README.md
has the figures).

4. AuthMiddlewareStack: Channels' own, but a WebSocket's application sends
   through the server's send, not through the session's wrapper
   (CHAT_WEBSOCKET_SEND_UNWRAPPED).

What Channels lacks. SessionMiddleware hands the application a send of its
own (InstanceSessionWrapper.send), which saves the session and sets its
cookie on "http.response.start", a message a WebSocket never sends. For
every other message it still reads the session's `modified` and
`is_empty()` through Django's lazy object: for a WebSocket, work for every
frame sent, and nothing done. Channels has no option to leave it out. This
stack's SessionMiddleware resolves the session as Channels' does (the scope's
"session", then AuthMiddleware's "user"), and for a WebSocket passes the
server's send on as it is; HTTP keeps Channels' wrapper.

Written for Channels 4.3.2: WRITTEN_AGAINST holds the SHA-256 of the source
of SessionMiddleware.__call__, which it copies, of InstanceSessionWrapper.send,
which does nothing for a WebSocket's messages, and of AuthMiddlewareStack.

Off (CHAT_WEBSOCKET_SEND_UNWRAPPED=off), Channels' own AuthMiddlewareStack
runs: nothing breaks, and every frame sent costs a little more.

shared_tests/test_upstream.py fails once the installed Channels differs from
any source WRITTEN_AGAINST records.
"""

import asyncio
import functools
from collections import deque
from contextlib import suppress

from asgiref.sync import async_to_sync, sync_to_async
from channels import auth, db, sessions
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer
from django.conf import settings

# The upstream code this module copies, as it was written against, by the
# SHA-256 of inspect.getsource() (shared_tests/test_upstream.py compares).
WRITTEN_AGAINST = {
    # SkipDatabaseHop calls a handler as it does; ShareDatabaseHop copies it.
    "channels.consumer.AsyncConsumer.dispatch": (
        "39f34e7d4fb0f6552de4ade665b943fe78137379702af6b58c79a14c49a75520"
    ),
    # The hop DatabaseHop makes: close_old_connections() in sync_to_async's thread.
    "channels.db.aclose_old_connections": (
        "9120822dad6c8e90011cafc1448976dafb0e37d810d925996cd7388bb18c0a3d"
    ),
    # ReadersPerSource.__call__ is a copy of it, but for its loop.
    "channels.consumer.AsyncConsumer.__call__": (
        "e52238720872dbc3f854519bc971aa7eb41553e63c8729081549ce42465ee419"
    ),
    # What dispatch_in_turn replaces, keeping its promises.
    "channels.utils.await_many_dispatch": (
        "30ef889498560da3d72e6a695d2c17cf4a22b4948f2af6d53394343f4aace51d"
    ),
    # SessionMiddleware.__call__ below is a copy of it, but for a WebSocket's send.
    "channels.sessions.SessionMiddleware.__call__": (
        "bc50432963de2e44e17ca1bbd810d9ef6558bf4811064ef014b6d8ee6f47f7ac"
    ),
    # Saves the session, and sets its cookie, on "http.response.start" alone.
    "channels.sessions.InstanceSessionWrapper.send": (
        "e951315e4ef0f195877b12d53081c59edc05d409b04576cebc513eaf611364b5"
    ),
    # AuthMiddlewareStack below is the same stack, with that SessionMiddleware.
    "channels.auth.AuthMiddlewareStack": (
        "ad9e3506efcf551f74d74aa07ddfe17d49f9aa70b0663e694dc2daf125334bee"
    ),
}

# The channel layer's events a consumer takes ahead of the one it handles.
READ_AHEAD = 32


class SkipDatabaseHop:
    """A consumer mixin: the handlers in `handlers_without_orm` are called
    without Channels' database hop, while the setting is on."""

    handlers_without_orm = frozenset()

    async def dispatch(self, message):
        handler_name = get_handler_name(message)
        if (
            handler_name in self.handlers_without_orm
            and settings.CHAT_SKIP_DB_HOP_FOR_GROUP_EVENTS
        ):
            await getattr(self, handler_name)(message)
        else:
            await super().dispatch(message)


class ShareDatabaseHop:
    """A consumer mixin: Channels' AsyncConsumer.dispatch, its database hop
    shared with the handlers that wait for one at the same time, while the
    setting is on."""

    async def dispatch(self, message):
        if not settings.CHAT_SHARE_DB_HOP:
            return await super().dispatch(message)
        # From here on, AsyncConsumer.dispatch but for its hop.
        handler = getattr(self, get_handler_name(message), None)
        if handler:
            await shared_database_hop()
            await handler(message)
        else:
            raise ValueError(f"No handler for message type {message['type']}")


class DatabaseHop:
    """Channels' aclose_old_connections(), shared: close_old_connections() in
    sync_to_async's worker thread, run once for everyone who asked for it
    before it began. One hop serves every consumer because they all use the
    same thread: sync_to_async's single thread, as none runs inside an
    async_to_sync call or a ThreadSensitiveContext (Django's, for a request)."""

    def __init__(self):
        self.next = None  # the hop asked for, until its thread begins it

    def __call__(self):
        """What to await: done once a hop that begins after this call has run."""
        hop = self.next
        if (
            hop is None
            or hop.done()
            or hop.get_loop() is not asyncio.get_running_loop()
        ):
            hop = self.next = asyncio.ensure_future(sync_to_async(self.run)())
            # A handler cancelled (its socket closing) cancels no one else's hop.
            return asyncio.shield(hop)
        return self.share(hop)

    async def share(self, hop):
        """Wait for a hop another handler asked for; if it failed, make one."""
        try:
            await asyncio.shield(hop)
        except Exception:  # its error is its asker's, as with Channels' hops
            await db.aclose_old_connections()

    def run(self):  # in the worker thread
        self.next = None  # from now on, whoever asks needs the hop after this one
        # Django's, by the name Channels' hop calls: Channels' test
        # communicators replace it while they send or receive, so as not to
        # close the test's database connection, and so for a hop run then.
        db.close_old_connections()


shared_database_hop = DatabaseHop()


class ReadersPerSource:
    """A consumer mixin: Channels' AsyncConsumer.__call__, its events read by
    one task per source (dispatch_in_turn), while the setting is on."""

    async def __call__(self, scope, receive, send):
        if not settings.CHAT_CONSUMER_READERS:
            return await super().__call__(scope, receive, send)
        # From here on, AsyncConsumer.__call__ but for its loop.
        self.scope = scope

        # Initialize channel layer
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            self.channel_receive = functools.partial(
                self.channel_layer.receive, self.channel_name
            )
        # Store send function
        if self._sync:
            self.base_send = async_to_sync(send)
        else:
            self.base_send = send
        # Pass messages in from channel layer or client to dispatch method
        try:
            if self.channel_layer is not None:
                await dispatch_in_turn(
                    [(receive, 1), (self.channel_receive, READ_AHEAD)],
                    self.dispatch,
                )
            else:
                await dispatch_in_turn([(receive, 1)], self.dispatch)
        except StopConsumer:
            # Exit cleanly
            pass


async def dispatch_in_turn(sources, dispatch):
    """Dispatch the events of every source in the calling task, one at a
    time, as they come; each source is a (receive, ahead) pair, read by a task
    of its own at most `ahead` events ahead of its last one dispatched."""
    loop = asyncio.get_running_loop()
    ready = deque()  # (source, event, error), in the order they came
    held = [0] * len(sources)  # events of each source read, not yet dispatched
    room = [None] * len(sources)  # what a reader waits on while it holds enough
    arrived = None  # what this task waits on while nothing is ready

    def hand_over(item):
        ready.append(item)
        if arrived is not None and not arrived.done():
            arrived.set_result(None)

    async def read(index, receive, ahead):
        try:
            while True:
                event = await receive()
                held[index] += 1
                hand_over((index, event, None))
                if held[index] >= ahead:
                    room[index] = loop.create_future()
                    await room[index]
        except asyncio.CancelledError as cancelled:
            if asyncio.current_task().cancelling():
                raise  # the consumer ends (below)
            hand_over((index, None, cancelled))  # the source's own: raised in turn
        except Exception as error:
            hand_over((index, None, error))  # raised in its turn, as Channels does

    readers = [
        asyncio.ensure_future(read(index, receive, ahead))
        for index, (receive, ahead) in enumerate(sources)
    ]
    try:
        while True:
            while not ready:
                arrived = loop.create_future()
                await arrived
            index, event, error = ready.popleft()
            if error is not None:
                raise error
            await dispatch(event)
            held[index] -= 1
            if room[index] is not None and held[index] < sources[index][1]:
                room[index].set_result(None)
                room[index] = None
    finally:
        # As await_many_dispatch does: no reader outlives the consumer.
        for reader in readers:
            reader.cancel()
        for reader in readers:
            with suppress(asyncio.CancelledError):
                await reader


class SessionMiddleware(sessions.SessionMiddleware):
    """Channels' SessionMiddleware; a WebSocket's application gets the
    server's send itself, which Channels' wrapper would only pass on."""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await super().__call__(scope, receive, send)
        wrapper = sessions.InstanceSessionWrapper(scope, send)

        await wrapper.resolve_session()

        return await self.inner(wrapper.scope, receive, send)


def AuthMiddlewareStack(inner):
    """Channels' AuthMiddlewareStack, with the SessionMiddleware above while
    the setting is on."""
    if not settings.CHAT_WEBSOCKET_SEND_UNWRAPPED:
        return auth.AuthMiddlewareStack(inner)
    return sessions.CookieMiddleware(SessionMiddleware(auth.AuthMiddleware(inner)))
