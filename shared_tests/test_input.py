"""Bad input and hostile clients. What the tutorial's own code already gets
right runs against parts 2 to 5; what part 5 adds runs against part 5 (the
tutorial's behaviour for the same input is in test_tutorial_limits.py)."""

from contextlib import suppress
from urllib.error import HTTPError
from urllib.parse import quote
from urllib.request import urlopen

import pytest
import redis
from websockets.exceptions import ConnectionClosed, InvalidStatus

from harness.waiting import wait_for
from shared_tests.logs import assert_no_traceback

pytestmark = pytest.mark.since_part(2)

BAD_FRAMES = {
    "not JSON": "hello",
    "JSON but not an object": '["message", "hi"]',
    "an object without message": '{"text": "hi"}',
    "a message that is not a string": '{"message": 42}',
    "a binary frame": b'{"message": "hi"}',
}
BAD_ROOM_NAMES = {
    "non-ASCII letters": "über",
    "Chinese": "聊天",
    "a space": "two words",
    "punctuation": "what?!",
    # No slash: a slash alone would keep it from any route that takes a name.
    "markup": "<img src=x onerror=window.pwned=1>",
    "quotes": 'it\'s"quoted"',
    "longer than the limit": "a" * 81,
}
TOO_LONG = 1_000_000  # characters: about 1 MiB, under Daphne's 1 MiB frame limit


def assert_only_this_reaches(client, message):
    """`message` was sent after the suspect frame: nothing may come before it."""
    assert client.receive_json() == {"message": message}


# --- what the tutorial's code already does right: parts 2 to 5 ---


@pytest.mark.any_layer  # refused before any channel layer is involved
def test_a_foreign_origin_is_refused(stage, chat_client):
    with pytest.raises(InvalidStatus) as refused:
        chat_client("lobby", origin="http://evil.example")
    assert refused.value.response.status_code == 403


@pytest.mark.any_layer  # refused before any channel layer is involved
def test_a_client_without_origin_header_is_refused(stage, chat_client):
    # AllowedHostsOriginValidator accepts only origins in ALLOWED_HOSTS, and a
    # missing Origin is none of them: non-browser clients must send one.
    with pytest.raises(InvalidStatus) as refused:
        chat_client("lobby", origin=None)
    assert refused.value.response.status_code == 403


HOSTILE_MESSAGES = [
    "<img src=x onerror=window.pwned=1>",
    "</textarea><script>window.pwned=2</script>",
    "<b>not bold</b> & not &amp; an entity",
]


@pytest.mark.any_layer  # the page writes what it receives: the layer is not involved
def test_html_in_messages_is_shown_as_text_and_never_runs(stage, open_window):
    alice, bob = open_window(), open_window()
    alice.open_room("html")
    bob.open_room("html")
    for message in HOSTILE_MESSAGES:
        alice.post(message)
    bob.wait_for_lines(HOSTILE_MESSAGES)
    for window in (alice, bob):
        assert window.script("return window.pwned === undefined")
        assert window.script("return document.images.length") == 0
        assert window.script("return document.querySelectorAll('b').length") == 0


# No slash, so the tutorial's route takes it and the room page renders it: it
# would run if the page wrote the name into its script, or its HTML, as is.
INJECTED_ROOM_NAME = 'x";window.pwned=1;"<img src=x onerror=window.pwned=2>'


@pytest.mark.any_layer  # the page is under test here, not the layer
def test_a_room_name_cannot_inject_script_into_the_room_page(stage, open_window):
    window = open_window()
    window.open_room("lobby")
    # The name reaches the script as JSON data, never as JavaScript source.
    assert window.script("return document.getElementById('room-name').type") == (
        "application/json"
    )
    assert window.script("return roomName") == "lobby"
    window.open_path(f"/chat/{quote(INJECTED_ROOM_NAME)}/")
    assert window.script("return window.pwned === undefined")
    assert window.script("return document.images.length") == 0
    if "Page not found" not in window.title():  # part 5 refuses the name itself
        assert window.script("return roomName") == INJECTED_ROOM_NAME
        # Its socket is refused: wait for that, so the server's log of it
        # (a traceback on parts 2 to 4) belongs to this test.
        window.wait_until(
            lambda: window.script("return chatSocket.readyState") != 0,
            "the room page's socket was neither opened nor refused",
        )


# The in-memory layer keeps its groups inside the server, out of a test's
# sight, and a member that stays behind changes nothing the others see: so
# this is checked where the group can be read, in Redis.
@pytest.mark.layer("redis")
def test_a_client_that_vanishes_leaves_the_room(stage, chat_client, redis_url):
    members = redis.Redis.from_url(redis_url)
    alice, bob = chat_client("vanish"), chat_client("vanish")
    crasher = chat_client("vanish")
    wait_for(lambda: members.zcard("asgi:group:chat_vanish") == 3, "three joined")

    crasher.reset()
    alice.send_message("still here")
    assert_only_this_reaches(bob, "still here")
    wait_for(
        lambda: members.zcard("asgi:group:chat_vanish") == 2,
        "a client that vanished without a close frame should leave the group",
    )


def test_a_frame_over_daphnes_limit_drops_only_that_client(stage, chat_client):
    alice, bob, carol = (chat_client("over_limit") for _ in range(3))
    # Daphne drops the connection once it has read the frame's length: alice
    # may find out while she is still sending the rest, or else at her next read.
    with suppress(ConnectionClosed):
        alice.send_message("x" * (1024 * 1024 + 1))
    with pytest.raises(ConnectionClosed):
        alice.receive_json()
    bob.send_message("the others carry on")
    assert_only_this_reaches(carol, "the others carry on")


# --- what part 5 adds ---


@pytest.mark.since_part(5)
@pytest.mark.parametrize("frame", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_a_bad_frame_gets_an_error_and_reaches_nobody(
    stage, chat_client, server_log, frame
):
    alice, bob = chat_client("bad_frames"), chat_client("bad_frames")
    alice.send_frame(frame)
    error = alice.receive_json()
    assert set(error) == {"error"}, error
    assert error["error"], "the error says what was wrong"

    alice.send_message("still connected")  # the sender stays connected
    assert_only_this_reaches(alice, "still connected")
    assert_only_this_reaches(bob, "still connected")

    refusals = [line for line in server_log().splitlines() if "Refused" in line]
    assert len(refusals) == 1, server_log()
    assert_no_traceback(server_log())


@pytest.mark.since_part(5)
@pytest.mark.parametrize("blank", ["", " ", "\n\t  "])
def test_a_blank_message_is_not_broadcast(stage, chat_client, blank):
    alice, bob = chat_client("blank"), chat_client("blank")
    alice.send_message(blank)
    alice.send_message("not blank")
    assert_only_this_reaches(alice, "not blank")
    assert_only_this_reaches(bob, "not blank")


@pytest.mark.since_part(5)
def test_a_huge_message_is_refused_with_an_error(stage, chat_client, server_log):
    alice, bob = chat_client("huge"), chat_client("huge")
    alice.send_message("x" * TOO_LONG)
    assert "too long" in alice.receive_json()["error"]
    alice.send_message("after the huge one")
    assert_only_this_reaches(bob, "after the huge one")
    assert_no_traceback(server_log())


@pytest.mark.since_part(5)
@pytest.mark.any_layer  # refused before any channel layer is involved
@pytest.mark.parametrize("name", BAD_ROOM_NAMES.values(), ids=BAD_ROOM_NAMES.keys())
def test_a_room_name_the_layer_cannot_take_is_refused_everywhere(
    stage, server, chat_client, server_log, name
):
    with pytest.raises(HTTPError) as page:
        urlopen(server.room_url(quote(name)))
    assert page.value.code == 404

    with pytest.raises(InvalidStatus) as socket:
        chat_client(quote(name))
    assert socket.value.response.status_code == 403
    assert_no_traceback(server_log())


@pytest.mark.since_part(5)
@pytest.mark.any_layer  # refused before any channel layer is involved
@pytest.mark.parametrize("name", list(BAD_ROOM_NAMES.values())[:3])
def test_the_index_page_explains_the_room_name_rule(stage, open_window, name):
    window = open_window()
    window.open_index()
    window.find("#room-name-input").send_keys(name + "\n")
    window.wait_until(
        lambda: "letters" in window.find("#room-name-error").text,
        "the index page should explain which room names are allowed",
    )
    assert window.path() == "/chat/"


@pytest.mark.since_part(5)
def test_the_longest_allowed_room_name_works_and_names_stay_distinct(
    stage, chat_client
):
    longest = "a" * 80
    alice, bob = chat_client(longest), chat_client(longest)
    upper = chat_client(longest.upper())
    alice.send_message("in the longest room")
    assert_only_this_reaches(bob, "in the longest room")
    upper.send_message("in the upper-case room")
    assert_only_this_reaches(upper, "in the upper-case room")
