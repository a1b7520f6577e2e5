"""The room page in a browser: what part 2 adds, and its absence in part 1."""

import urllib.error
import urllib.request

import pytest
from websockets.exceptions import InvalidStatus

from harness.clients import room_connection


@pytest.mark.before_part(2)
def test_room_url_is_not_found_yet(stage, server):
    with pytest.raises(urllib.error.HTTPError) as response:
        urllib.request.urlopen(server.room_url("lobby"))
    assert response.value.code == 404, "part 1 has no room page: /chat/lobby/ is a 404"


@pytest.mark.before_part(2)
def test_no_websocket_route_yet(stage, server):
    with pytest.raises(InvalidStatus), room_connection(server, "lobby"):
        pass


@pytest.mark.since_part(2)
@pytest.mark.any_layer  # the page and its socket; the layer is tested below
def test_room_page_opens_its_websocket(stage, open_window):
    window = open_window()
    window.enter_room("lobby")
    window.wait_until_connected()
    assert window.focused_id() == "chat-message-input", "the message input has focus"


@pytest.mark.since_part(2)
def test_everyone_in_the_room_sees_every_message_in_order(stage, open_window):
    alice, bob = open_window(), open_window()
    alice.open_room("everyone")
    bob.open_room("everyone")

    # A conversation: each answers what it has seen. (Two people who post at
    # the same moment have no order between them, in this chat or any other.)
    alice.post("hello")
    bob.wait_for_lines(["hello"], who="bob")
    bob.post("hi alice")
    alice.wait_for_lines(["hello", "hi alice"], who="alice")
    alice.post("how are you?")

    expected = ["hello", "hi alice", "how are you?"]
    alice.wait_for_lines(expected, who="the sender's own window")
    bob.wait_for_lines(expected, who="another window in the same room")


@pytest.mark.since_part(2)
@pytest.mark.any_layer  # the page; rooms apart on each layer: test_websocket.py
def test_another_room_sees_none_of_the_messages(stage, open_window):
    alice, carol = open_window(), open_window()
    alice.open_room("room_1")
    carol.open_room("room_2")

    alice.post("only for room 1")
    alice.wait_for_lines(["only for room 1"])
    # Carol's own message comes after Alice's through the layer: once Carol
    # sees hers, Alice's would already have arrived if it leaked.
    carol.post("only for room 2")
    carol.wait_for_lines(["only for room 2"], who="a window in another room")


@pytest.mark.since_part(2)
@pytest.mark.any_layer  # the page's input and button; delivery is tested above
@pytest.mark.parametrize("press", ["enter", "click"])
def test_enter_and_send_button_both_send_and_clear_the_input(stage, open_window, press):
    window = open_window()
    window.open_room("buttons")
    window.post(f"sent with {press}", press=press)
    window.wait_for_lines([f"sent with {press}"])
    assert window.find("#chat-message-input").get_property("value") == ""


@pytest.mark.since_part(2)
@pytest.mark.any_layer  # the page; a new socket joins on each layer: test_websocket.py
def test_room_survives_a_reload(stage, open_window):
    alice, bob = open_window(), open_window()
    alice.open_room("reload")
    bob.open_room("reload")
    bob.post("before the reload")
    alice.wait_for_lines(["before the reload"])

    alice.reload()
    bob.post("after the reload")
    alice.wait_for_lines(["after the reload"], who="the reloaded window")
    bob.wait_for_lines(["before the reload", "after the reload"])
