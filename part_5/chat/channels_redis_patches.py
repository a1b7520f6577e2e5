"""Beyond the tutorial: what channels_redis does not offer, set apart here:
a RedisChannelLayer whose sockets each wait on a queue of their own, fed by
one reader for the whole process, switched on by a setting.

What channels_redis lacks. A server process receives for all of its sockets
through one channel in Redis. RedisChannelLayer.receive makes every socket
take part: each waiting socket races for a lock, the winner pops one message
for everyone (four round trips to Redis, and a task to clean up after it) and
hands it out, and every socket starts two new tasks each time it waits again.
In a busy room that is most of the server's work. And when the winner's socket
closes, Channels cancels its receive, and the pop with it: a message Redis had
just popped for another socket is dropped (channels_redis says cancelling
loses nothing, but it backs a message up only once the reply is in). There is
no option to change either; this subclass replaces receive for the process's
own channels.

Written for channels_redis 4.3.0 (requirements.txt pins it). One task, the
reader, takes from Redis everything that waits for the process (up to
POP_AT_ONCE at a time, in one round trip; or waits for the next, as
channels_redis does) and puts each message in the queue of every socket it is
for, channels_redis's own receive_buffer. A socket's receive only waits on its
queue: cancelling it never cancels a pop. The reader runs while some socket
waits; when Redis fails, every waiting socket gets the error, as each would
in turn with channels_redis. What the reader has taken is in the process's
memory, as channels_redis's receive_buffer is: a process that dies loses it
(channels_redis also keeps no copy it could hand to another process).
WRITTEN_AGAINST holds the SHA-256 of the source of every method whose
behaviour or private names it relies on; shared_tests/test_upstream.py fails
once the installed channels_redis differs.

Off (CHAT_REDIS_ONE_READER=off in the environment), settings.py names
channels_redis's own RedisChannelLayer: everything works, a burst is delivered
more slowly (bench/README.md), and a message for one socket is lost, rarely,
when another socket of the same process closes at the moment Redis hands it
over (part 5's README has the figures).

Also here, switched on by CHAT_REDIS_GROUP_SEND_PIPELINED (within this
layer): a group_send in two round trips to Redis instead of four.
channels_redis's group_send awaits each of its steps in turn: it drops the
group's lapsed members, reads the members, drops each channel's expired
messages, then runs its Lua script that adds the message to each channel
within its capacity. Each round trip costs the server a command's work in
redis-py besides the wait; in a room where everyone posts, group_send was
about a sixth of the server's work. The override sends the same commands,
the first two in one pipeline and the last two in another, with the same
messages, capacities and expiry (channels_redis's own
_map_channel_keys_to_connection builds them); it drops a channel's expired
messages on that channel's own connection (channels_redis uses the group's,
the same one with one Redis). Written against channels_redis 4.3.0 (the
source of group_send and _map_channel_keys_to_connection, in
WRITTEN_AGAINST). Off, channels_redis's group_send runs: everything works,
and a message posted costs two more round trips.
"""

import asyncio
import logging
import time

from channels_redis.core import RedisChannelLayer as ChannelsRedisChannelLayer
from django.conf import settings

logger = logging.getLogger("channels_redis.core")  # where its own would log

# The upstream code this module relies on, as it was written against, by the
# SHA-256 of inspect.getsource() (shared_tests/test_upstream.py compares).
WRITTEN_AGAINST = {
    # Replaced below for the process's own channels ("...!..." names); the
    # name is checked only when the channel has no queue (one with a queue was).
    "channels_redis.core.RedisChannelLayer.receive": (
        "158a09895d9a7c8ed3db4aae70514dc7ad3ed81a2af73545f8c65bf4c82b6a57"
    ),
    # Its steps, taken by the reader below: which connection and key, the
    # decoding, and the "__asgi_channel__" that names the message's sockets.
    "channels_redis.core.RedisChannelLayer.receive_single": (
        "5a498bb3a2545bf16417e95dfafba14a39177ebf8f76369ee5caeed838688a5f"
    ),
    # What a pop takes: the oldest message of the channel's sorted set.
    "channels_redis.core.RedisChannelLayer._brpop_with_clean": (
        "363a120edcef61d5ea5d37cd2a55cae6a5e0d2f136c479d32e45ded43bbbcd7d"
    ),
    # receive_buffer: each socket's queue, bounded by the layer's capacity.
    "channels_redis.core.RedisChannelLayer.__init__": (
        "d0550cf4bccb9a907211ca3303554dbb3890b8d1b58f9a8572b4429e32851ef8"
    ),
    "channels_redis.core.RedisChannelLayer.connection": (
        "d975ed8505cf759472d9d7325aba318009df5e151c63b2844a47ddc6cab5a013"
    ),
    # Replaced below by the same commands in two round trips (its Lua script
    # copied as GROUP_SEND_LUA).
    "channels_redis.core.RedisChannelLayer.group_send": (
        "c9623ea6ccfa73085599ef24a8e7c0a5b06ffae0cba6daef8a6a2d7e7a0dfc91"
    ),
    # What it returns: the keys by connection, the message and capacity by key.
    "channels_redis.core.RedisChannelLayer._map_channel_keys_to_connection": (
        "789f9193b4536625caca99079921da89d023e43f69b002eea669898784f91d2d"
    ),
}

# channels_redis's script: the message added to each channel within its capacity.
GROUP_SEND_LUA = """
    local over_capacity = 0
    local current_time = ARGV[#ARGV - 1]
    local expiry = ARGV[#ARGV]
    for i=1,#KEYS do
        if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
            redis.call('ZADD', KEYS[i], current_time, ARGV[i])
            redis.call('EXPIRE', KEYS[i], expiry)
        else
            over_capacity = over_capacity + 1
        end
    end
    return over_capacity
"""

# Messages taken from Redis in one round trip, when that many wait.
POP_AT_ONCE = 100


class RedisChannelLayer(ChannelsRedisChannelLayer):
    """channels_redis's layer, each socket waiting on its own queue."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.waiting = set()  # the process's channels whose socket waits now
        self.reader = None  # the task that takes their messages from Redis

    async def receive(self, channel):
        if "!" not in channel:
            return await super().receive(channel)  # a channel of no process
        if channel not in self.receive_buffer:  # a name with a queue was checked
            assert self.require_valid_channel_name(channel)
        queue = self.receive_buffer[channel]
        if queue.empty():
            self.waiting.add(channel)
            if self.reader is None:
                self.reader = asyncio.ensure_future(
                    self.read(self.non_local_name(channel))
                )
            try:
                message = await queue.get()
            finally:
                self.waiting.discard(channel)
                if queue.empty():  # also when the socket has closed meanwhile
                    self.receive_buffer.pop(channel, None)
        else:
            message = queue.get_nowait()
            if queue.empty():
                del self.receive_buffer[channel]
        if isinstance(message, Exception):
            raise message
        return message

    async def read(self, process_channel):
        """While some socket waits: take what Redis holds for this process,
        and put each message in the queue of every socket it is for."""
        connection = self.connection(self.consistent_hash(process_channel))
        key = self.prefix + process_channel
        try:
            while self.waiting:
                for content in await self.take(connection, key):
                    message = self.deserialize(content)
                    channels = message.pop("__asgi_channel__")
                    for channel in (
                        channels if isinstance(channels, list) else [channels]
                    ):
                        self.receive_buffer[channel].put_nowait(message)
        except Exception as error:
            for channel in self.waiting:
                self.receive_buffer[channel].put_nowait(error)
        finally:
            self.reader = None

    async def take(self, connection, key):
        """Every message waiting (up to POP_AT_ONCE), oldest first; else the
        next to arrive within brpop_timeout; else none."""
        waiting = await connection.zpopmin(key, POP_AT_ONCE)
        if waiting:
            return [content for content, _ in waiting]
        arrived = await connection.bzpopmin(key, timeout=self.brpop_timeout)
        return [arrived[1]] if arrived else []

    async def group_send(self, group, message):
        """channels_redis's group_send, in two round trips instead of four."""
        if not settings.CHAT_REDIS_GROUP_SEND_PIPELINED:
            return await super().group_send(group, message)
        assert self.require_valid_group_name(group), "Group name not valid"
        key = self._group_key(group)
        connection = self.connection(self.consistent_hash(group))
        # The group's lapsed members dropped, and the others read, at once.
        pipe = connection.pipeline(transaction=False)
        pipe.zremrangebyscore(key, min=0, max=int(time.time()) - self.group_expiry)
        pipe.zrange(key, 0, -1)
        _, members = await pipe.execute()
        channel_names = [member.decode("utf8") for member in members]
        (
            connection_to_channel_keys,
            channel_keys_to_message,
            channel_keys_to_capacity,
        ) = self._map_channel_keys_to_connection(channel_names, message)
        for connection_index, channel_redis_keys in connection_to_channel_keys.items():
            # Each channel's expired messages dropped, then the message added.
            pipe = self.connection(connection_index).pipeline(transaction=False)
            for channel_key in channel_redis_keys:
                pipe.zremrangebyscore(
                    channel_key, min=0, max=int(time.time()) - int(self.expiry)
                )
            pipe.eval(
                GROUP_SEND_LUA,
                len(channel_redis_keys),
                *channel_redis_keys,
                *(channel_keys_to_message[k] for k in channel_redis_keys),
                *(channel_keys_to_capacity[k] for k in channel_redis_keys),
                time.time(),
                self.expiry,
            )
            *_, channels_over_capacity = await pipe.execute()
            if channels_over_capacity > 0:
                logger.info(
                    "%s of %s channels over capacity in group %s",
                    channels_over_capacity,
                    len(channel_names),
                    group,
                )
