"""Beyond the tutorial: what redis-py does not offer, set apart here: after a
Sentinel failover, a command that is retried goes to the new primary, switched
on by a setting.

What redis-py lacks. Through Sentinel, a connection asks the Sentinels where
the primary is when the pool first connects it (SentinelManagedConnection's
connect). But when a command fails and redis-py retries it (the `retry` in
settings.py), the connection reconnects by itself (send_packed_command calls
connect_check_health) to the address it had: the old primary. A primary that
died is refused at once and the command fails quickly; one that hangs (frozen,
or cut off by the network) still accepts the connection and never answers, so
each retry waits out the whole socket_timeout again: 4 times 6 s, 24 s during
which the sockets are open and hear nothing, where Sentinel had promoted the
replica in about 3. redis-py knows (issue 3874, a fix proposed, not released).
This module's SentinelManagedConnection asks the Sentinels again before every
connection it makes; settings.py hands it to redis-py's SentinelConnectionPool
through channels_redis's host entry (`connection_class`, a public parameter).

Written for redis-py 8.1.0 (requirements.txt pins it). WRITTEN_AGAINST holds
the SHA-256 of the source of every method whose behaviour or names it relies
on; shared_tests/test_upstream.py fails once the installed redis-py differs.

Off (CHAT_SENTINEL_RECONNECT=off in the environment), settings.py leaves
redis-py's own connection: a failover of a primary that died is survived the
same, one that hangs keeps the chat deaf for 24 s (part 5's DEPLOY.md). Plain
TCP only: with TLS to Redis, redis-py's own SSL connection would be replaced.
"""

from redis.asyncio import sentinel

# The upstream code this module relies on, as it was written against, by the
# SHA-256 of inspect.getsource() (shared_tests/test_upstream.py compares).
WRITTEN_AGAINST = {
    # Extended below: connects to self.host and self.port as they are.
    "redis.asyncio.connection.AbstractConnection.connect_check_health": (
        "5cfa2c49e83e3645daf1b4938e68664781d3a87fbf73731517b2d2e7b94a3e09"
    ),
    # What reconnects a connection for a retried command, without Sentinel.
    "redis.asyncio.connection.AbstractConnection.send_packed_command": (
        "baaeabd916209157db40455f034a0bac6fb3e2db902271313e0702bcbc678321"
    ),
    # What asks the Sentinels on the pool's own connect, and then connects.
    "redis.asyncio.sentinel.SentinelManagedConnection.connect": (
        "1ba5ea04207af629bf50630312105d6c6b561c83d0dbc7bc025a403faa5a1a46"
    ),
    "redis.asyncio.sentinel.SentinelManagedConnection._connect_retry": (
        "62b751ba11735f9d4c64f558a2eb601a59b0af757ca73e4788edd5a220b385f5"
    ),
    "redis.asyncio.sentinel.SentinelManagedConnection.connect_to": (
        "cfd2d5d8a18d71cbb66c85b9e95b3f58fd9f905d72d97208d9c84558797cdbbb"
    ),
    # Where the primary is now, by asking the Sentinels.
    "redis.asyncio.sentinel.SentinelConnectionPool.get_master_address": (
        "1fa6d36ea8f70aa38dc6b6272074909f04b916c0295fda29cb09ebcaafa18ef7"
    ),
}


class SentinelManagedConnection(sentinel.SentinelManagedConnection):
    """redis-py's connection to a primary that Sentinels watch, which asks
    them where the primary is before it connects, a reconnection included."""

    async def connect_check_health(self, check_health=True, retry_socket_connect=True):
        if not self.is_connected and self.connection_pool.is_master:
            # On the pool's own connect, connect_to has just asked too: a
            # second question to the Sentinels, for each new connection.
            self.host, self.port = await self.connection_pool.get_master_address()
        await super().connect_check_health(
            check_health=check_health, retry_socket_connect=retry_socket_connect
        )
