"""Beyond the tutorial: Channels' in-memory layer, without its per-message waste.

Channels writes its in-memory layer for tests, and it shows under load: every
send and receive first scans every channel and every group for expired
messages, a group_send starts one task per member and deep-copies the message
for each, and every call builds a new queue that it throws away unless the
channel had none. In a room of N, that is O(N) work for each of N deliveries.
This layer keeps the same behaviour (capacity, expiry, groups, a message to a
full channel silently lost) and does each delivery in constant time. It holds
in one process only, as the original does: across processes, use Redis.
"""

import asyncio
import time
from contextlib import suppress

from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer

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
