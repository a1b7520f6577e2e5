"""Beyond the tutorial: what Channels does not offer publicly, set apart here:
handlers that skip Channels' database hop, switched on by a setting.

What Channels lacks. Since Channels 4.2, AsyncConsumer.dispatch awaits
aclose_old_connections() before every handler: a hop to a worker thread that
closes stale database connections, as Django does around a request. A handler
that never touches the ORM pays it anyway, and in a room of N each message is
N group events, each with its hop. Channels has no public way to leave the hop
out for such handlers; SkipDatabaseHop does it by replacing dispatch.

Written for Channels 4.3.2 (4.2 and 4.3 have the same dispatch): it calls the
handler exactly as AsyncConsumer.dispatch does, minus the hop, for the
handlers a consumer names in `handlers_without_orm`, and leaves every other
event to Channels. WRITTEN_AGAINST holds the SHA-256 of the source it copies;
shared_tests/test_upstream.py fails once the installed Channels differs.

Off (CHAT_SKIP_DB_HOP_FOR_GROUP_EVENTS = False), every event goes through
Channels' own dispatch: nothing breaks, and the chat delivers a burst more
slowly (part 5's README has the figures). On, a handler named in
`handlers_without_orm` must never use the ORM, not even through
database_sync_to_async: its stale connections would not be closed.
"""

from channels.consumer import get_handler_name
from django.conf import settings

# The upstream code this module copies, as it was written against, by the
# SHA-256 of inspect.getsource() (shared_tests/test_upstream.py compares).
WRITTEN_AGAINST = {
    "channels.consumer.AsyncConsumer.dispatch": (
        "39f34e7d4fb0f6552de4ade665b943fe78137379702af6b58c79a14c49a75520"
    ),
}


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
