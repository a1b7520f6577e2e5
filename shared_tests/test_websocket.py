"""Parts 2 to 5 without a browser: the JSON the room page exchanges with the server."""

import pytest

pytestmark = pytest.mark.since_part(2)


def test_a_message_reaches_every_client_of_the_room_as_json(stage, chat_client):
    alice, bob = chat_client("json"), chat_client("json")
    alice.send_message("hello")
    assert alice.receive_json() == {"message": "hello"}
    assert bob.receive_json() == {"message": "hello"}


def test_messages_arrive_in_the_order_they_were_sent(stage, chat_client):
    alice, bob = chat_client("order"), chat_client("order")
    sent = [f"message {number}" for number in range(20)]
    for text in sent:
        alice.send_message(text)
    assert bob.receive_messages(len(sent)) == sent
    assert alice.receive_messages(len(sent)) == sent


def test_a_client_of_another_room_receives_nothing(stage, chat_client):
    alice, carol = chat_client("here"), chat_client("there")
    alice.send_message("for here only")
    assert alice.receive_json() == {"message": "for here only"}
    # Carol's own message is queued behind any leak from Alice's room.
    carol.send_message("for there only")
    assert carol.receive_json() == {"message": "for there only"}
