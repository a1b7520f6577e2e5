"""Part 5 under load: a full room where everyone talks at once loses nothing.
(The tutorial's parts lose messages in a far smaller burst: see
test_channel_capacity_lifts_message_loss_in_a_burst.)"""

import asyncio

import pytest

from harness.load import chat_burst, delivery_problems

pytestmark = pytest.mark.since_part(5)

# 200 clients: over redis-py's default pool of 100 connections, which is the
# point on the Redis layer; one message each is 40,000 deliveries.
CLIENTS, MESSAGES_EACH = 200, 1
TIME_LIMIT = 120  # seconds for the whole burst; it takes a few


def test_a_full_room_receives_every_message_once_and_in_order(
    stage, server, server_log
):
    burst = asyncio.run(
        chat_burst(
            server.socket_url("load"),
            server.origin,
            CLIENTS,
            MESSAGES_EACH,
            timeout=TIME_LIMIT,
        )
    )
    problems = delivery_problems(burst.received, CLIENTS, MESSAGES_EACH)
    deliveries = sum(map(len, burst.received))
    print(f"\n{deliveries} deliveries to {CLIENTS} clients in {burst.seconds:.1f} s")
    assert not problems, (
        f"{len(problems)} of {CLIENTS} clients did not get every message once, "
        f"in order, within {TIME_LIMIT} s; the first: {problems[:3]}. "
        "A full channel drops group messages silently: see CHANNEL_CAPACITY "
        "in mysite/settings.py"
    )
    assert "Traceback" not in server_log()
