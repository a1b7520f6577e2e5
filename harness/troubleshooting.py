"""The mistakes of TROUBLESHOOTING.md, as the evidence by which each one shows.

Each problem names its section of TROUBLESHOOTING.md (the `<a id>` before its
heading), the signature that gives it away, and one sentence of advice in the
learner's terms. A signature is a regular expression searched, line by line,
in what a server actually did: its log (an exception's message, `WebSocket
REJECT`, a system check id such as `daphne.E001`), the client's side of it
(an HTTP status, a close code, a handshake with no answer) and the lines
that `installed_versions` and `origin_evidence` below write.

The order of PROBLEMS is the order of precedence: `first_problem` names the
first one whose signature matches, and None when none does (`make check` then
says that no entry matches, rather than guessing). Two entries have no
signature, because nothing in a log shows them (two processes on the
in-memory layer, and messages dropped at capacity): the guide describes them,
`make check` cannot name them. shared_tests/test_troubleshooting.py reproduces every
entry and asserts that its symptom is recognised here, and by nothing else.
"""

import json
import re
import subprocess
import sys
from dataclasses import dataclass

from harness.stages import REPO

GUIDE = REPO / "TROUBLESHOOTING.md"

# What the tutorial is written for: Channels 4 with Daphne 4 (runserver lives
# in Daphne since 4.0), on Django 4.2 or later.
TUTORIAL_MAJORS = {"channels": 4, "daphne": 4}
VERSIONS_DIFFER = "Versions differ from the tutorial's:"
NO_ORIGIN = "The client sent no Origin header."


@dataclass(frozen=True)
class Problem:
    anchor: str
    symptom: str  # a regular expression, searched line by line
    advice: str  # one sentence; may use the symptom's named groups
    also: str | None = None  # a regular expression that must match too
    unless: str | None = None  # a regular expression that rules it out

    def advise(self, text):
        match = re.search(self.symptom, text, re.MULTILINE)
        if not match:
            return None
        if self.also and not re.search(self.also, text, re.MULTILINE):
            return None
        if self.unless and re.search(self.unless, text, re.MULTILINE):
            return None
        return self.advice.format(**match.groupdict())

    @property
    def link(self):
        return f"TROUBLESHOOTING.md#{self.anchor}"


PROBLEMS = (
    # --- before the server serves anything ---
    Problem(
        "installed-versions",
        rf"^{VERSIONS_DIFFER} (?P<found>.+)$",
        "the Python that runs your project has {found}, but the tutorial is "
        "written for Channels 4 with Daphne 4.",
    ),
    Problem(
        "daphne-after-staticfiles",
        r"\(daphne\.E001\)",
        "runserver refuses to start because 'daphne' comes after "
        "'django.contrib.staticfiles' in INSTALLED_APPS: move it above.",
    ),
    Problem(
        "asgi-application-missing",
        r"You have not set ASGI_APPLICATION",
        "runserver refuses to start because settings.py has no "
        "ASGI_APPLICATION = 'mysite.asgi.application'.",
    ),
    Problem(
        "asgi-application-not-importable",
        r"Cannot import ASGI_APPLICATION module (?P<module>'[^']*')",
        "runserver stops because ASGI_APPLICATION names the module {module}, "
        "which does not import: Channels 4 uses 'mysite.asgi.application'.",
    ),
    Problem(
        "settings-not-configured",
        r"Requested setting \w+, but settings are not configured",
        "the ASGI server imported Django code before DJANGO_SETTINGS_MODULE was "
        "set: keep os.environ.setdefault(...) at the top of mysite/asgi.py.",
    ),
    Problem(
        "daphne-not-installed",
        # Django's own runserver: "Starting WSGI development server" from 6.1 on.
        r"^Starting (?:WSGI )?development server at",
        "runserver started Django's plain WSGI server, not ASGI/Daphne, so every "
        "WebSocket gets a 404: put 'daphne' in INSTALLED_APPS, above "
        "django.contrib.staticfiles.",
    ),
    Problem(
        "apps-not-loaded",
        r"AppRegistryNotReady: Apps aren't loaded yet",
        "mysite/asgi.py imports app code before get_asgi_application() has run.",
    ),
    # --- what mysite/asgi.py hands the socket to ---
    Problem(
        "asgi-application-is-wsgi",
        r"WSGIHandler\.__call__\(\) takes 3 positional arguments",
        "ASGI_APPLICATION points at the WSGI application "
        "(mysite.wsgi.application); it must be mysite.asgi.application.",
    ),
    Problem(
        "plain-django-asgi",
        r"Django can only handle ASGI/HTTP connections, not websocket",
        "mysite/asgi.py still hands every connection to Django's "
        "get_asgi_application(): application must be the ProtocolTypeRouter.",
    ),
    Problem(
        "no-websocket-router",
        r"No application configured for scope type 'websocket'",
        "the ProtocolTypeRouter in mysite/asgi.py has no 'websocket' entry.",
    ),
    Problem(
        "auth-middleware-without-session",
        r"AuthMiddleware cannot find session in scope",
        "mysite/asgi.py wraps the router in AuthMiddleware alone: use "
        "AuthMiddlewareStack, which adds the cookies and session it needs.",
    ),
    Problem(
        "no-route-found",
        r"No route found for path (?P<path>'[^']*')",
        "no pattern in chat/routing.py matches the path {path}: the tutorial's is "
        r"r'ws/chat/(?P<room_name>\w+)/$' (no leading slash, a slash before the $).",
    ),
    Problem(
        "as-asgi-forgotten",
        r"object (?!NoneType\b)\w+ can't be used in 'await' expression"
        r"|__call__\(\) missing 1 required positional argument: 'send'",
        "chat/routing.py routes to the consumer class itself: Channels 4 needs "
        "consumers.ChatConsumer.as_asgi().",
    ),
    # --- inside the consumer ---
    Problem(
        "async-to-sync-in-async-consumer",
        r"You cannot use AsyncToSync in the same thread as an async event loop",
        "the asynchronous consumer still wraps a call in async_to_sync(...): "
        "in an AsyncWebsocketConsumer, await the call instead.",
    ),
    Problem(
        "handler-not-async",
        r"object NoneType can't be used in 'await' expression",
        "a method of the AsyncWebsocketConsumer is a plain def: make every "
        "handler async def and await self.send(...) inside it.",
    ),
    Problem(
        "synchronous-only-operation",
        r"SynchronousOnlyOperation: You cannot call this from an async context",
        "the asynchronous consumer uses the database directly: wrap the query "
        "in database_sync_to_async (or sync_to_async).",
    ),
    Problem(
        "channel-layers-missing",
        r"'NoneType' object has no attribute '(?P<method>group_\w+|send)'",
        "the consumer has no channel layer (self.channel_layer is None): "
        "settings.py lacks CHANNEL_LAYERS, or spells it differently.",
    ),
    Problem(
        "channel-layer-backend-not-importable",
        r"Cannot import BACKEND (?P<backend>'[^']*')",
        "CHANNEL_LAYERS names the BACKEND {backend}, which does not import: "
        "check its spelling, and that channels-redis is installed in the Python "
        "that runs your project.",
    ),
    Problem(
        "redis-not-running",
        r"Error \d+ connecting to (?P<address>[\w.:-]+?)\.",
        "nothing answers at {address}, where CHANNEL_LAYERS expects Redis: "
        "start Redis there, or use the in-memory layer.",
    ),
    Problem(
        "redis-password-required",
        r"AuthenticationError: (?:Authentication required"
        r"|HELLO must be called with the client already authenticated)",
        "your Redis wants a password that CHANNEL_LAYERS does not give: put it "
        "in the host's URL, redis://:password@host:6379.",
    ),
    Problem(
        "room-name-not-ascii",
        r"Group name must be a valid unicode string",
        "the room name became a group name the channel layer refuses: only ASCII "
        "letters, digits, hyphens, underscores and periods, under 100 characters.",
    ),
    Problem(
        "no-handler-for-message-type",
        r"No handler for message type (?P<type>[\w.]+)",
        "a group message has type '{type}' and the consumer has no method of "
        "that name (dots become underscores: chat.message calls chat_message).",
    ),
    Problem(
        "sync-consumer-without-async-to-sync",
        r"coroutine '\w+\.(?:group_\w+|send)' was never awaited",
        "a synchronous consumer calls the channel layer without "
        "async_to_sync(...), so the call never happens.",
    ),
    Problem(
        "too-many-redis-connections",
        r"MaxConnectionsError|Too many connections",
        "more consumers than the Redis connection pool allows (100 by default): "
        "raise max_connections for the channel layer's host.",
    ),
    Problem(
        "quiet-socket-closes-after-5-s",
        r"TimeoutError: Timeout reading from",
        "redis-py gave up waiting for Redis after 5 s, as long as the channel "
        "layer waits for a message: give the layer's host a socket_timeout of "
        "10.",
    ),
    # --- the handshake, seen from the client ---
    Problem(
        "consumer-never-accepts",
        r"did not receive a valid HTTP response"
        r"|timed out (?:during opening handshake|while waiting for handshake response)",
        "the socket's handshake was never answered: the consumer's connect() "
        "must call self.accept() (await it in an async consumer).",
    ),
    Problem(
        "client-sends-no-origin",
        rf"^{re.escape(NO_ORIGIN)}$",
        "the client sent no Origin header, and AllowedHostsOriginValidator "
        "refuses such clients: send one whose host is in ALLOWED_HOSTS.",
        also=r"^WebSocket REJECT ",
    ),
    Problem(
        "origin-not-allowed",
        r"^WebSocket REJECT ",
        "the server refused the socket (WebSocket REJECT, HTTP 403): the page's "
        "host is not in ALLOWED_HOSTS, so AllowedHostsOriginValidator says no.",
        unless=rf"^{re.escape(NO_ORIGIN)}$",
    ),
    # --- part 4's own tests ---
    Problem(
        "live-server-in-memory-database",
        r"can not be used with in memory databases",
        "ChannelsLiveServerTestCase needs a test database in a file: give "
        "DATABASES['default'] a 'TEST': {{'NAME': ...}}.",
    ),
)

BY_ANCHOR = {problem.anchor: problem for problem in PROBLEMS}


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


def first_problem(*texts):
    """(Problem, advice) of the first problem the texts show, or None."""
    found = diagnose(*texts)
    if not found:
        return None
    anchor, advice = found[0]
    return BY_ANCHOR[anchor], advice


def origin_evidence(origin):
    """What a client's handshake said about its Origin, for the diagnosis."""
    return NO_ORIGIN if origin is None else f"The client sent Origin: {origin}"


PACKAGES = ("django", "channels", "daphne", "channels-redis")
VERSIONS_SCRIPT = f"""
import json, platform
from importlib.metadata import PackageNotFoundError, version
found = {{"python": platform.python_version()}}
for name in {PACKAGES!r}:
    try:
        found[name] = version(name)
    except PackageNotFoundError:
        found[name] = None
print(json.dumps(found))
"""


def find_versions(env=None, cwd=None, python=sys.executable):
    """{"python": "3.11.2", "django": "5.2.19", ...} as the project's Python
    finds them (None: not installed); {"unknown": why} if it cannot say."""
    try:
        output = subprocess.run(
            [python, "-c", VERSIONS_SCRIPT],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        return json.loads(output)
    except (OSError, subprocess.SubprocessError, ValueError) as error:
        return {"unknown": str(error)}


def installed_versions(env=None, cwd=None, python=sys.executable):
    """The versions the project's Python finds, as evidence lines."""
    return versions_evidence(find_versions(env, cwd, python))


def versions_evidence(found):
    """One line naming the versions found, and one more when they are not
    the tutorial's."""
    if "unknown" in found:
        return f"Installed: unknown ({found['unknown']})"
    named = ", ".join(f"{name} {found[name] or '(not installed)'}" for name in PACKAGES)
    lines = [f"Installed: {named}"]
    wrong = [
        f"{name} {found[name]}" if found[name] else f"no {name}"
        for name, major in TUTORIAL_MAJORS.items()
        if major_version(found[name]) != major
    ]
    if wrong:
        lines.append(f"{VERSIONS_DIFFER} {' and '.join(wrong)}")
    return "\n".join(lines)


def major_version(version):
    match = re.match(r"\d+", version or "")
    return int(match.group()) if match else None
