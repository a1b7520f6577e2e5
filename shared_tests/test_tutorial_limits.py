"""The tutorial's known limits, asserted as facts about parts 2 to 4.

Each test is named after the part 5 change that lifts the limit, and part 5's
own test of the same input is in test_input.py, test_load.py or
test_redis.py. These are facts about this repository's stages, not about a
learner's work: `make check` leaves them out (marker `repository`).
"""

from urllib.parse import quote

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from harness.load import (
    burst_over_default_capacity,
    posting_over_the_redis_pool,
)
from harness.waiting import SILENCE, wait_for
from shared_tests.logs import assert_no_traceback

pytestmark = [
    pytest.mark.since_part(2),
    pytest.mark.before_part(5),
    pytest.mark.repository,
]

SERVER_ERROR = 1011  # the close code Daphne sends when a consumer raises


@pytest.mark.any_layer  # the consumer fails before it reaches the layer
@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("hello", "json.decoder.JSONDecodeError"),
        (b'{"message": "hi"}', "TypeError"),
    ],
    ids=["not JSON", "a binary frame"],
)
def test_parse_message_lifts_a_bad_frame_ending_the_connection(
    stage, chat_client, server_log, frame, error
):
    alice = chat_client("bad_frames")
    alice.send_frame(frame)
    with pytest.raises(ConnectionClosed) as closed:
        alice.receive_json()
    assert closed.value.rcvd.code == SERVER_ERROR
    assert "Traceback" in server_log()
    assert error in server_log()


@pytest.mark.any_layer  # every layer refuses such a group name
def test_room_name_rule_lifts_a_non_ascii_room_breaking_the_socket(
    stage, chat_client, server_log
):
    with pytest.raises(InvalidStatus) as refused:
        chat_client(quote("über"))
    assert refused.value.response.status_code == 500
    assert "Group name must be a valid unicode string" in server_log()


@pytest.mark.any_layer  # routing fails before any consumer runs
def test_websocket_denier_lifts_an_unknown_room_path_failing_with_a_traceback(
    stage, chat_client, server_log
):
    with pytest.raises(InvalidStatus) as refused:
        chat_client(quote("two words"))  # \w+ matches no space
    assert refused.value.response.status_code == 500
    assert "No route found for path 'ws/chat/two words/'" in server_log()


def test_blank_check_lifts_blank_messages_being_broadcast(stage, chat_client):
    alice, bob = chat_client("blank"), chat_client("blank")
    alice.send_message(" ")
    assert bob.receive_json() == {"message": " "}


def test_message_length_limit_lifts_huge_messages_being_broadcast(stage, chat_client):
    alice, bob = chat_client("huge"), chat_client("huge")
    alice.send_message("x" * 1_000_000)
    # Alice's copy too: the server is done sending a megabyte to each before
    # they leave. A socket closed while its consumer still sends logs a
    # traceback, which a later test of this shared server would read as its own.
    for client in (bob, alice):
        assert len(client.receive_json()["message"]) == 1_000_000


def test_channel_capacity_lifts_message_loss_in_a_burst(stage, server, server_log):
    problems, log = burst_over_default_capacity(server, server_log)
    assert problems, "every message arrived: the channels held the whole burst"
    assert_no_traceback(log)  # the loss is silent


@pytest.mark.since_part(3)  # asynchronous consumers, each waiting on Redis
@pytest.mark.layer("redis")
def test_max_connections_lifts_the_redis_pool_limit_of_100(
    stage, redis_url, private_server
):
    server = private_server(redis_url)  # the shared one must not be exhausted
    # Those that fail, fail at once: no need to wait long for their replies.
    replies = posting_over_the_redis_pool(server, redis_url, patience=SILENCE)
    assert None in replies, "some clients' consumers failed"
    wait_for(
        lambda: "MaxConnectionsError: Too many connections" in server.log(),
        "over 100 busy consumers should exhaust redis-py's default pool",
    )
