from django.shortcuts import render

from .validation import ROOM_NAME_PATTERN, ROOM_NAME_RULE


def index(request):
    # Beyond the tutorial: the page checks room names by the URL's own rule.
    return render(
        request,
        "chat/index.html",
        {"room_name_pattern": ROOM_NAME_PATTERN, "room_name_rule": ROOM_NAME_RULE},
    )


def room(request, room_name):
    return render(request, "chat/room.html", {"room_name": room_name})
