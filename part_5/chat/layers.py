"""Beyond the tutorial: the two channel layers, each without a flaw of its own.

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
import time
from contextlib import suppress
from functools import partial

from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer
from channels_redis.core import RedisChannelLayer as ChannelsRedisChannelLayer

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


# Move one popped message from the backup queue back to the head of its
# channel, with its score (the time it was sent), in one atomic step.
PUT_BACK = """
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if score then
    redis.call('ZREM', KEYS[2], ARGV[1])
    redis.call('ZADD', KEYS[1], score, ARGV[1])
end
"""


class RedisChannelLayer(ChannelsRedisChannelLayer):
    """channels_redis's layer, without losing a message when a socket closes.

    A server process receives for all of its sockets through one BZPOPMIN at a
    time, issued by whichever consumer asked first. When that consumer's
    socket closes, its receive is cancelled, and the BZPOPMIN with it: if Redis
    had just popped a message for another socket, the reply is dropped and the
    message is gone (channels_redis backs a message up only once its reply is
    in). Here the pop runs to its end whatever happens to the receive, and a
    message it brings for nobody goes back to the head of its channel.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.putting_back = set()  # tasks must be referenced until they end

    async def _brpop_with_clean(self, index, channel, timeout):
        pop = asyncio.ensure_future(super()._brpop_with_clean(index, channel, timeout))
        try:
            return await asyncio.shield(pop)
        except asyncio.CancelledError:
            pop.add_done_callback(partial(self._put_back, index, channel))
            raise

    def _put_back(self, index, channel, pop):
        if pop.cancelled() or pop.exception() or pop.result() is None:
            return  # nothing popped (or Redis failed): nothing to put back
        backup = self._backup_channel_name(channel)
        connection = self.connection(index)
        task = asyncio.ensure_future(
            connection.eval(PUT_BACK, 2, channel, backup, pop.result())
        )
        self.putting_back.add(task)
        task.add_done_callback(self.putting_back.discard)
