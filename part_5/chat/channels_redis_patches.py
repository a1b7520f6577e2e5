"""Beyond the tutorial: what channels_redis does not offer, set apart here:
a RedisChannelLayer that loses no message when a socket closes, switched on by
a setting.

What channels_redis lacks. A server process receives for all of its sockets
through one BZPOPMIN at a time (RedisChannelLayer.receive), issued by
whichever consumer asked first. When that consumer's socket closes, Channels
cancels its receive, and the BZPOPMIN with it: if Redis had just popped a
message for another socket, the reply is dropped and the message is gone.
channels_redis says that cancelling loses nothing, but _brpop_with_clean backs
a message up only once the reply is in. There is no option to change that;
this subclass replaces the private _brpop_with_clean.

Written for channels_redis 4.3.0 (requirements.txt pins it): the replacement
is channels_redis's _brpop_with_clean step for step, but that the BZPOPMIN
runs to its end whatever happens to the receive, and a message it brings once
its receive is gone goes straight back to the head of its channel, never
through the backup, which the next receive is already using. (Such a message
can reach its socket after one sent a moment later: late and out of order,
where channels_redis loses it.) WRITTEN_AGAINST holds the SHA-256 of the
source of every method whose behaviour or private names it relies on;
shared_tests/test_upstream.py fails once the installed channels_redis differs.

Off (CHAT_REDIS_PUT_BACK=off in the environment), settings.py names
channels_redis's own RedisChannelLayer: everything works, and a message for
one socket is lost, rarely, when another socket of the same process closes
at the moment Redis hands it over (part 5's README has the figures).
"""

import asyncio
import logging
from functools import partial

from channels_redis.core import RedisChannelLayer as ChannelsRedisChannelLayer
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# The upstream code this module relies on, as it was written against, by the
# SHA-256 of inspect.getsource() (shared_tests/test_upstream.py compares).
WRITTEN_AGAINST = {
    # Replaced below.
    "channels_redis.core.RedisChannelLayer._brpop_with_clean": (
        "363a120edcef61d5ea5d37cd2a55cae6a5e0d2f136c479d32e45ded43bbbcd7d"
    ),
    # Its caller, which then drops the backed-up copy (_clean_receive_backup).
    "channels_redis.core.RedisChannelLayer.receive_single": (
        "5a498bb3a2545bf16417e95dfafba14a39177ebf8f76369ee5caeed838688a5f"
    ),
    "channels_redis.core.RedisChannelLayer._clean_receive_backup": (
        "7142822d70070e399f09c84c1cafac698dee21f70e0d2df6cf684e66bee84929"
    ),
    # One pop at a time for the whole process, cancelled with its receive.
    "channels_redis.core.RedisChannelLayer.receive": (
        "158a09895d9a7c8ed3db4aae70514dc7ad3ed81a2af73545f8c65bf4c82b6a57"
    ),
    # The names used below: the backup's key and a shard's connection.
    "channels_redis.core.RedisChannelLayer._backup_channel_name": (
        "3add6e0ef708a9deb493be62e1ff7f21e1045288d9f75b69fcf6529fe14e1af0"
    ),
    "channels_redis.core.RedisChannelLayer.connection": (
        "d975ed8505cf759472d9d7325aba318009df5e151c63b2844a47ddc6cab5a013"
    ),
}

# What channels_redis does before each pop: the messages that a receive backed
# up, and never handed over, go back to the head of their channel, in order.
RESTORE_BACKUP = """
local backed_up = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = 1, #backed_up, 2 do
    redis.call('ZADD', KEYS[1], backed_up[i + 1], backed_up[i])
end
redis.call('DEL', KEYS[2])
"""


def stop_if_cancelled():
    """Raise CancelledError if this task was cancelled and runs on anyway.

    With a socket_timeout (settings.py), redis-py sends each command through
    asyncio.wait_for, which in Python 3.11 returns the command's result to a
    task cancelled just as the command completed, instead of raising (fixed
    in 3.12). A receive cancelled so, because its socket closed, popped on for
    the others forever, and its consumer waited for it forever: the socket's
    handshake was never answered (seen in a Redis failover, when many sockets
    close at once). The task still counts the request: cancelling()."""
    if asyncio.current_task().cancelling():
        raise asyncio.CancelledError


class RedisChannelLayer(ChannelsRedisChannelLayer):
    """channels_redis's layer, without losing a message when a socket closes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.giving_back = set()  # asyncio holds only weak references to tasks

    async def _brpop_with_clean(self, index, channel, timeout):
        stop_if_cancelled()  # between two pops of receive's loop
        connection = self.connection(index)
        backup = self._backup_channel_name(channel)
        await connection.eval(RESTORE_BACKUP, 2, channel, backup)
        stop_if_cancelled()  # before a pop that may wait for seconds
        pop = asyncio.ensure_future(connection.bzpopmin(channel, timeout=timeout))
        try:
            popped = await asyncio.shield(pop)
            if popped is None:
                return None
            _, message, sent_at = popped
            await connection.zadd(backup, {message: sent_at})
            return message
        except asyncio.CancelledError:
            pop.add_done_callback(partial(self._give_back, connection, channel))
            raise

    def _give_back(self, connection, channel, pop):
        if pop.cancelled() or pop.exception() or pop.result() is None:
            return  # nothing popped, or Redis failed: nothing to give back
        _, message, sent_at = pop.result()
        task = asyncio.ensure_future(
            self._put_back(connection, channel, message, sent_at)
        )
        self.giving_back.add(task)
        task.add_done_callback(self.giving_back.discard)

    async def _put_back(self, connection, channel, message, sent_at):
        """Back at the head of the channel (and out of the backup, in case the
        receive was cancelled just as it backed the message up)."""
        try:
            async with connection.pipeline(transaction=True) as both:
                both.zadd(channel, {message: sent_at})
                both.zrem(self._backup_channel_name(channel), message)
                await both.execute()
        except RedisError as error:
            logger.warning("A message for %s was lost with Redis: %s", channel, error)
