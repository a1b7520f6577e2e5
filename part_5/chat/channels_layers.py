"""Beyond the tutorial: what Channels' in-memory layer does not offer
publicly, set apart here: constant-time deliveries, switched on by a setting.

What Channels lacks. Channels writes its InMemoryChannelLayer for tests, and
it shows under load: every send and receive first scans every channel and
every group for expired messages (_clean_expired), a group_send starts one
task per member and deep-copies the message for each, and every call builds
a new queue that it throws away unless the channel had none. In a room of N,
that is O(N) work for each of N deliveries. Channels has no option to scan
less often or to deliver without a task per member; this subclass does both by
overriding the private _clean_expired and reading the layer's private
`channels` (channel name: asyncio.Queue of (expires, message)) and `groups`
(group: {channel name: joined at}).

Written for Channels 4.3.2. It keeps the original's behaviour (capacity,
expiry, groups, a group message to a full channel silently lost) and holds in
one process only, as the original does: across processes, use Redis.
WRITTEN_AGAINST holds the SHA-256 of the source of every method whose
behaviour or private attributes it relies on; shared_tests/test_upstream.py
fails once the installed Channels differs.

Off (CHAT_FAST_IN_MEMORY_LAYER=off in the environment), settings.py names
Channels' own InMemoryChannelLayer: nothing breaks, and a burst in a big room
is delivered more slowly, the more so the bigger the room (part 5's README).
"""

import asyncio
import time
from contextlib import suppress

from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer

# The upstream code this module relies on, as it was written against, by the
# SHA-256 of inspect.getsource() (shared_tests/test_upstream.py compares).
WRITTEN_AGAINST = {
    # The shape of self.channels and self.groups.
    "channels.layers.InMemoryChannelLayer.__init__": (
        "a868dc26b1c1947d5072afd95fce95928052a872e04505ed1afd5911a35d30ae"
    ),
    # What a queue holds: (expires, message).
    "channels.layers.InMemoryChannelLayer.send": (
        "a4dab1cd8aff886ec3763192f62126736e59801b4a3661f20db47e92651323e1"
    ),
    # Replaced below, step for step but for the queue it builds, and the name
    # checked only when the channel has no queue (one with a queue was).
    "channels.layers.InMemoryChannelLayer.receive": (
        "e615f8ae40b60e128f833fd812180fb01587cb5067705cb46fdfedae55851c03"
    ),
    # Called less often below.
    "channels.layers.InMemoryChannelLayer._clean_expired": (
        "604032dae1cc01d27a51d5b8faf45286c8881a14ce6f0abab7438087568ba6b6"
    ),
    # What a group holds: {channel name: joined at}.
    "channels.layers.InMemoryChannelLayer.group_add": (
        "7c4f2ffd2d8f7a9165b97c127cf29837ac57adac771b1813f6fb50f080ac47f4"
    ),
    # Replaced below: the same deliveries, without a task for each.
    "channels.layers.InMemoryChannelLayer.group_send": (
        "693c3172deb6431bc7f4995484071ccc24a03eaf0f6c783fe3e0349fe2a7c6d7"
    ),
}

CLEAN_EVERY = 1.0  # seconds between two scans for expired messages


class InMemoryChannelLayer(ChannelsInMemoryChannelLayer):
    """Channels' in-memory layer, each delivery in constant time."""

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
        if channel not in self.channels:  # a name with a queue was checked
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
