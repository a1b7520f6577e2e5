"""Every stage: the server a learner starts, and the page that asks for a room."""

import pytest

# Nothing here involves the channel layer: once per stage is enough.
pytestmark = pytest.mark.any_layer


def test_runserver_starts_the_asgi_daphne_server(stage, server):
    # With daphne in INSTALLED_APPS above django.contrib.staticfiles (the
    # tutorial lists it first), runserver serves ASGI, not plain WSGI.
    assert "Starting ASGI/Daphne" in server.log(), (
        "runserver did not start the ASGI/Daphne development server: "
        "is 'daphne' in INSTALLED_APPS, above 'django.contrib.staticfiles'?"
    )


def test_index_page_asks_for_a_room_with_the_input_focused(stage, open_window):
    window = open_window()
    window.open_index()
    assert window.find("#room-name-input").is_displayed()
    assert window.find("#room-name-submit").get_attribute("value") == "Enter"
    assert window.focused_id() == "room-name-input", "the room name input has focus"


@pytest.mark.parametrize("press", ["enter", "click"])
def test_room_name_then_enter_or_click_goes_to_the_room_url(stage, open_window, press):
    window = open_window()
    window.enter_room("lobby", press=press)
    assert window.path() == "/chat/lobby/"
