"""Beyond the tutorial: what the chat accepts from the outside world.

Room names become channel layer group names (`chat_<room_name>`), and the
layer takes only ASCII letters, digits, hyphens, underscores and periods, in
fewer than 100 characters. The tutorial's route `\\w+` also matches `über` or
`聊天`, and the consumer then dies with a traceback. So one rule, used by the
index page, the room URL and the WebSocket route alike: ASCII letters, digits
and underscores (the tutorial's `\\w`, in ASCII), at most 80 of them.
"""

import json

from django.conf import settings

ROOM_NAME_PATTERN = r"[A-Za-z0-9_]{1,80}"
ROOM_NAME_RULE = "1 to 80 letters (a-z, A-Z), digits or underscores"


class RoomNameConverter:
    """Lets `<room_name:...>` in chat/urls.py match only valid room names."""

    regex = ROOM_NAME_PATTERN

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


class InvalidMessage(ValueError):
    """A frame the chat refuses; the text says why, for the sender to read."""


class UnreadableFrame(InvalidMessage):
    """JSON that no page sends, built to make the parser fail: nested deeper
    than Python recurses, or an integer longer than Python converts (4,300
    digits). The sender is disconnected."""


def parse_message(text_data=None, bytes_data=None):
    """The text of a `{"message": "<text>"}` frame, or InvalidMessage."""
    if text_data is None:
        raise InvalidMessage("Binary frames are not accepted: send JSON text.")
    try:
        data = json.loads(text_data)
    except json.JSONDecodeError:
        raise InvalidMessage('A frame must be JSON, like {"message": "hi"}.') from None
    except (RecursionError, ValueError):
        raise UnreadableFrame(
            "A frame nested too deeply or with too long a number: not read."
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("message"), str):
        raise InvalidMessage('A frame must be {"message": "<text>"}, with text.')
    if len(data["message"]) > settings.CHAT_MESSAGE_MAX_LENGTH:
        raise InvalidMessage(
            f"Message too long: at most {settings.CHAT_MESSAGE_MAX_LENGTH} characters."
        )
    return data["message"]
