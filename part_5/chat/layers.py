"""Beyond the tutorial: Channels' two channel layers, each with one flaw fixed.

Channels writes its in-memory layer for tests, and it shows under load: every
send and receive first scans every channel and every group for expired
messages, a group_send starts one task per member and deep-copies the message
for each, and every call builds a new queue that it throws away unless the
channel had none. In a room of N, that is O(N) work for each of N deliveries.
This layer keeps the same behaviour (capacity, expiry, groups, a message to a
full channel silently lost) and does each delivery in constant time. It holds
in one process only, as the original does: across processes, use Redis.

channels_redis's layer can lose a message when a socket closes: see
RedisChannelLayer below.
"""

import asyncio
import logging
import time
from contextlib import suppress
from functools import partial

from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer
from channels_redis.core import RedisChannelLayer as ChannelsRedisChannelLayer
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

CLEAN_EVERY = 1.0  # seconds between two scans for expired messages


class InMemoryChannelLayer(ChannelsInMemoryChannelLayer):
    cleaned_at = 0.0

    def _clean_expired(self):
        """Channels' scan, at most once every CLEAN_EVERY seconds."""
        now = time.monotonic()
        if now - self.cleaned_at >= CLEAN_EVERY:
            self.cleaned_at = now
            super()._clean_expired()

    def queue(self, channel):
        queue = self.channels.get(channel)
        if queue is None:
            queue = asyncio.Queue(maxsize=self.get_capacity(channel))
            self.channels[channel] = queue
        return queue

    async def receive(self, channel):
        self.require_valid_channel_name(channel)
        self._clean_expired()
        queue = self.queue(channel)
        try:
            _, message = await queue.get()
        finally:
            if queue.empty():
                self.channels.pop(channel, None)
        return message

    async def group_send(self, group, message):
        """Put the message in every member's channel at once. Each gets a copy
        of the message's dictionary: the chat's events hold only strings."""
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        expires = time.time() + self.expiry
        for channel in list(self.groups.get(group, ())):
            with suppress(asyncio.QueueFull):  # as in Channels: the message is lost
                self.queue(channel).put_nowait((expires, dict(message)))


# What channels_redis does before each pop: the messages that a receive backed
# up, and never handed over, go back to the head of their channel, in order.
RESTORE_BACKUP = """
local backed_up = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = 1, #backed_up, 2 do
    redis.call('ZADD', KEYS[1], backed_up[i + 1], backed_up[i])
end
redis.call('DEL', KEYS[2])
"""


class RedisChannelLayer(ChannelsRedisChannelLayer):
    """channels_redis's layer, without losing a message when a socket closes.

    A server process receives for all of its sockets through one BZPOPMIN at a
    time, issued by whichever consumer asked first. When that consumer's
    socket closes, Channels cancels its receive, and the BZPOPMIN with it: if
    Redis had just popped a message for another socket, the reply is dropped
    and the message is gone. channels_redis says that cancelling loses nothing,
    but its backup holds a message only once the reply is in.

    Here the BZPOPMIN runs to its end whatever happens to the receive, and a
    message it brings once its receive is gone goes straight back to the head
    of its channel, never through the backup, which the next receive is
    already using. This replaces channels_redis 4.3's _brpop_with_clean, step
    for step but for that (requirements.txt pins the version).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.giving_back = set()  # asyncio holds only weak references to tasks

    async def _brpop_with_clean(self, index, channel, timeout):
        connection = self.connection(index)
        backup = self._backup_channel_name(channel)
        await connection.eval(RESTORE_BACKUP, 2, channel, backup)
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
