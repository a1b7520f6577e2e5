# chat/routing.py
from channels.security.websocket import WebsocketDenier
from django.urls import re_path

from . import consumers

# Beyond the tutorial: the room names the channel layer can take (validation.py).
from .validation import ROOM_NAME_PATTERN

websocket_urlpatterns = [
    # Beyond the tutorial: ROOM_NAME_PATTERN instead of \w+, which matches "über".
    re_path(
        rf"ws/chat/(?P<room_name>{ROOM_NAME_PATTERN})/$",
        consumers.ChatConsumer.as_asgi(),
    ),
    # Beyond the tutorial: refuse any other name, or any other path, cleanly
    # (403), not with a traceback.
    re_path(r"", WebsocketDenier.as_asgi()),
]
