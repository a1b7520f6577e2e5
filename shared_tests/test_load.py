"""Parts 2 to 4 under load: a full room where everyone talks at once."""

import asyncio

import pytest

from shared_tests.load import chat_burst, delivery_problems

pytestmark = pytest.mark.since_part(2)

TIME_LIMIT = 300  # seconds for the whole burst: CHANNEL_EXPIRY in the stages


def test_a_full_room_receives_every_message_once_and_in_order(
    stage, server, server_log, request
):
    clients = request.config.getoption("load_clients")
    messages_each = request.config.getoption("load_messages")
    burst = asyncio.run(
        chat_burst(
            f"ws://127.0.0.1:{server.port}/ws/chat/load/",
            server.base_url,
            clients,
            messages_each,
            timeout=TIME_LIMIT,
        )
    )
    problems = delivery_problems(burst.received, clients, messages_each)
    deliveries = sum(map(len, burst.received))
    print(f"\n{deliveries} deliveries to {clients} clients in {burst.seconds:.1f} s")
    assert not problems, (
        f"{len(problems)} of {clients} clients did not get every message once, "
        f"in order, within {TIME_LIMIT} s; the first: {problems[:3]}. "
        "A full channel drops group messages silently: see CHANNEL_CAPACITY "
        "in mysite/settings.py"
    )
    assert "Traceback" not in server_log()
