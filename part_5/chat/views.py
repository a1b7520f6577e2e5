# chat/views.py
from django.shortcuts import render

# Beyond the tutorial: the index page checks names by the room URL's own rule.
from .validation import ROOM_NAME_PATTERN, ROOM_NAME_RULE


def index(request):
    # Beyond the tutorial: the page is told which room names the server accepts.
    return render(
        request,
        "chat/index.html",
        {"room_name_pattern": ROOM_NAME_PATTERN, "room_name_rule": ROOM_NAME_RULE},
    )


def room(request, room_name):
    return render(request, "chat/room.html", {"room_name": room_name})
