"""Part 5 under load: a room where everyone talks at once loses nothing, and
more clients than redis-py's default pool posting at once each get their
message. Each is the counterpart of a limit of the tutorial's code, sized to
show it (shared_tests/test_tutorial_limits.py)."""

import asyncio

import pytest

from harness.load import (
    OVER_DEFAULT_CAPACITY,
    OVER_REDIS_POOL,
    chat_burst,
    delivery_problems,
    posting_over_the_redis_pool,
)
from shared_tests.logs import assert_no_traceback

pytestmark = pytest.mark.since_part(5)

TIME_LIMIT = 60  # seconds for the whole burst; it takes a few


def test_the_burst_the_tutorials_channels_cannot_hold_arrives_whole(
    stage, server, server_log
):
    clients = OVER_DEFAULT_CAPACITY["clients"]
    burst = asyncio.run(
        chat_burst(
            server.socket_url("load"),
            server.origin,
            **OVER_DEFAULT_CAPACITY,
            timeout=TIME_LIMIT,
        )
    )
    problems = delivery_problems(burst.received, **OVER_DEFAULT_CAPACITY)
    deliveries = sum(map(len, burst.received))
    print(f"\n{deliveries} deliveries to {clients} clients in {burst.seconds:.1f} s")
    assert not problems, (
        f"{len(problems)} of {clients} clients did not get every message once, "
        f"in order, within {TIME_LIMIT} s; the first: {problems[:3]}. "
        "A full channel drops group messages silently: see CHANNEL_CAPACITY "
        "in mysite/settings.py"
    )
    assert_no_traceback(server_log())


@pytest.mark.layer("redis")
def test_clients_over_the_redis_pool_of_100_posting_at_once_each_get_theirs(
    stage, server, redis_url, server_log
):
    replies = posting_over_the_redis_pool(server, redis_url)
    assert replies == [{"message": "hello"}] * OVER_REDIS_POOL
    assert "MaxConnectionsError" not in server_log()
