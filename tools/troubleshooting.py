"""The mistakes of TROUBLESHOOTING.md, as the text by which each one shows itself.

Each entry names its section of TROUBLESHOOTING.md (the `<a id>` before its
heading), the pattern that gives it away in a server log or a failing check,
and one line of advice. `make check` prints the advice for whatever its failing
checks and the learner's server log match; test_troubleshooting.py reproduces
every entry and asserts that its symptom is recognised here.
"""

import re
from dataclasses import dataclass

from harness.stages import REPO

GUIDE = REPO / "TROUBLESHOOTING.md"


@dataclass(frozen=True)
class Problem:
    anchor: str
    symptom: str  # a regular expression, searched line by line
    advice: str  # may use the pattern's named groups

    def advise(self, text):
        match = re.search(self.symptom, text, re.MULTILINE)
        if match:
            return self.advice.format(**match.groupdict())
        return None


PROBLEMS = (
    Problem(
        "daphne-not-installed",
        r"^Starting development server at",
        "runserver started Django's plain WSGI server, not ASGI/Daphne, so every "
        "WebSocket gets a 404: put 'daphne' first in INSTALLED_APPS.",
    ),
    Problem(
        "no-websocket-router",
        r"No application configured for scope type 'websocket'",
        "the ProtocolTypeRouter in mysite/asgi.py has no 'websocket' entry.",
    ),
    Problem(
        "no-route-found",
        r"No route found for path (?P<path>'[^']*')",
        "no pattern in chat/routing.py matches the path {path}: the tutorial's is "
        r"r'ws/chat/(?P<room_name>\w+)/$' (no leading slash, a slash before the $).",
    ),
    Problem(
        "redis-not-running",
        r"Error \d+ connecting to (?P<address>[\w.:-]+?)\.",
        "nothing answers at {address}, where CHANNEL_LAYERS expects Redis: "
        "start Redis there, or use the in-memory layer.",
    ),
    Problem(
        "room-name-not-ascii",
        r"Group name must be a valid unicode string",
        "the room name became a group name the channel layer refuses: only ASCII "
        "letters, digits, hyphens, underscores and periods, under 100 characters.",
    ),
    Problem(
        "sync-consumer-without-async-to-sync",
        r"coroutine '\w+\.group_\w+' was never awaited|received nothing",
        "a message sent to the room never came back: in a synchronous consumer "
        "every channel_layer call needs async_to_sync(...); then check that "
        "receive() sends to the group and chat_message() to the socket.",
    ),
    Problem(
        "live-server-in-memory-database",
        r"can not be used with in memory databases",
        "ChannelsLiveServerTestCase needs a test database in a file: give "
        "DATABASES['default'] a 'TEST': {{'NAME': ...}}.",
    ),
    Problem(
        "apps-not-loaded",
        r"AppRegistryNotReady: Apps aren't loaded yet",
        "mysite/asgi.py imports app code before get_asgi_application() has run.",
    ),
    Problem(
        "too-many-redis-connections",
        r"MaxConnectionsError|Too many connections",
        "more consumers than the Redis connection pool allows (100 by default): "
        "raise max_connections for the channel layer's host.",
    ),
)


def diagnose(*texts):
    """(anchor, advice) for every problem whose symptom appears in the texts."""
    text = "\n".join(texts)
    found = []
    for problem in PROBLEMS:
        advice = problem.advise(text)
        if advice:
            found.append((problem.anchor, advice))
    return found


def anchors(*texts):
    return [anchor for anchor, _ in diagnose(*texts)]
