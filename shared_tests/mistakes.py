"""The learner mistakes of TROUBLESHOOTING.md, each written once.

An entry says how to make the mistake in a copy of a stage (its part, the
channel layer the copy needs, and the edits) and where it shows: the check
that a learner's `make check` fails first, or None when the server's start
shows it and no check runs. Two test files use the catalogue:
shared_tests/test_check.py runs `make check` on a broken copy of every entry,
and shared_tests/test_troubleshooting.py makes each mistake the same way to
reproduce the symptom its entry quotes (all but redis-not-running, which it
makes with the suite's own layer pointed at a port where nothing
listens).

Each mistake is made the way a learner makes it: a line left out, a name
misspelt, a step of the tutorial skipped. The entries that are no mistake in
a learner's copy (the tutorial's own limits, a client, a Redis with a
password, part 4's own tests) are reproduced in test_troubleshooting.py alone.
"""

from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import NamedTuple

from harness.projects import copy_stage, edit, old_channels_metadata
from harness.stages import FIRST_PART_WITH_LAYER, OWN_SETTINGS, TUTORIAL_PARTS, Stage

# The check a learner's full run fails first, for a mistake the server shows
# only once a room's socket is used (no browser needed).
A_ROOM = "a_message_reaches_every_client"

SETTINGS = "mysite/settings.py"
ASGI = "mysite/asgi.py"
CONSUMERS = "chat/consumers.py"
ROUTING = "chat/routing.py"


class Edit(NamedTuple):
    """Replace old, which the file holds exactly once, with new (old None: the
    whole file becomes new)."""

    file: str
    old: str | None
    new: str


@dataclass(frozen=True)
class Mistake:
    """One entry of the catalogue: how to make the mistake, and where it shows."""

    anchor: str  # its entry in TROUBLESHOOTING.md: <a id="anchor">
    _: KW_ONLY
    part: int  # the stage it is made in
    shows_in: str | None  # the check `make check` fails first; None: no check runs
    edits: list[Edit] = field(default_factory=list)
    # "memory": the copy's CHANNEL_LAYERS become the in-memory layer, which
    # needs no Redis; "redis": the tutorial's Redis on 127.0.0.1:6379 stays,
    # which `make check` provides.
    layer: str = "memory"
    # Channels 3 and Daphne 3 installed: their package metadata first on
    # PYTHONPATH (harness/projects.py's old_channels_metadata says why).
    channels_3: bool = False


DAPHNE = '    "daphne",\n'
STATICFILES = '    "django.contrib.staticfiles",\n'
ROUTES_IMPORT = "from chat.routing import websocket_urlpatterns\n"
GET_ASGI_APPLICATION = "django_asgi_app = get_asgi_application()\n"
# mysite/asgi.py as `django-admin startproject mysite` (Django 5.2) writes it,
# before part 1 of the tutorial replaces it.
STARTPROJECT_ASGI = '''"""
ASGI config for mysite project.

It exposes the ASGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/asgi/
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')

application = get_asgi_application()
'''
WEBSOCKET_ENTRY = (
    '        "websocket": AllowedHostsOriginValidator(\n'
    "            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))\n"
    "        ),\n"
)
TUTORIAL_LAYER = (
    '"BACKEND": "channels_redis.core.RedisChannelLayer",\n'
    '        "CONFIG": {\n'
    '            "hosts": [("127.0.0.1", 6379)],\n'
    "        },\n"
)
IN_MEMORY_LAYER = Edit(
    SETTINGS, TUTORIAL_LAYER, '"BACKEND": "channels.layers.InMemoryChannelLayer",\n'
)

# In the order of TROUBLESHOOTING.md: what stops runserver or makes it the
# wrong server, mysite/asgi.py and chat/routing.py, the consumer and its
# channel layer, the handshake.
CATALOGUE = [
    Mistake("installed-versions", part=1, shows_in=None, channels_3=True),
    Mistake(
        "daphne-not-installed",
        part=2,
        shows_in=None,
        edits=[Edit(SETTINGS, DAPHNE, "")],
    ),
    # Appended at the end of INSTALLED_APPS.
    Mistake(
        "daphne-after-staticfiles",
        part=2,
        shows_in=None,
        edits=[
            Edit(SETTINGS, DAPHNE, ""),
            Edit(SETTINGS, STATICFILES, STATICFILES + DAPHNE),
        ],
    ),
    Mistake(
        "asgi-application-missing",
        part=2,
        shows_in=None,
        edits=[Edit(SETTINGS, 'ASGI_APPLICATION = "mysite.asgi.application"\n', "")],
    ),
    # Channels 2's setting, from posts written before Channels 3.
    Mistake(
        "asgi-application-not-importable",
        part=2,
        shows_in=None,
        edits=[
            Edit(SETTINGS, '"mysite.asgi.application"', '"mysite.routing.application"')
        ],
    ),
    Mistake(
        "settings-not-configured",
        part=2,
        shows_in=None,
        edits=[
            Edit(
                ASGI,
                'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\n',
                "",
            )
        ],
    ),
    # The routes imported with the other imports, above get_asgi_application():
    # harmless until app code imports a model, as a consumer soon does.
    Mistake(
        "apps-not-loaded",
        part=2,
        shows_in=None,
        edits=[
            Edit(ASGI, "\n" + ROUTES_IMPORT, ""),
            Edit(ASGI, GET_ASGI_APPLICATION, ROUTES_IMPORT + GET_ASGI_APPLICATION),
            Edit(
                CONSUMERS,
                "import json\n",
                "import json\n\n"
                "from django.contrib.auth.models import User  # noqa: F401\n",
            ),
        ],
    ),
    Mistake(
        "asgi-application-is-wsgi",
        part=2,
        shows_in=A_ROOM,
        edits=[
            Edit(SETTINGS, '"mysite.asgi.application"', '"mysite.wsgi.application"')
        ],
    ),
    # mysite/asgi.py as startproject wrote it, untouched by parts 1 and 2.
    Mistake(
        "plain-django-asgi",
        part=2,
        shows_in=A_ROOM,
        edits=[Edit(ASGI, None, STARTPROJECT_ASGI)],
    ),
    # The router as part 1 left it: the "websocket" entry of part 2 never added.
    Mistake(
        "no-websocket-router",
        part=2,
        shows_in=A_ROOM,
        edits=[Edit(ASGI, WEBSOCKET_ENTRY, "")],
    ),
    Mistake(
        "auth-middleware-without-session",
        part=2,
        shows_in=A_ROOM,
        edits=[
            Edit(ASGI, "import AuthMiddlewareStack", "import AuthMiddleware"),
            Edit(ASGI, "AuthMiddlewareStack(URLRouter", "AuthMiddleware(URLRouter"),
        ],
    ),
    # A leading slash, as in the page's URL: routes match the path without it.
    Mistake(
        "no-route-found",
        part=2,
        shows_in=A_ROOM,
        edits=[Edit(ROUTING, 're_path(r"ws/chat/', 're_path(r"/ws/chat/')],
    ),
    # The route to the class itself, as in Channels 2.
    Mistake(
        "as-asgi-forgotten",
        part=3,
        shows_in=A_ROOM,
        edits=[Edit(ROUTING, "ChatConsumer.as_asgi()", "ChatConsumer")],
    ),
    # Misspelt: Channels reads CHANNEL_LAYERS only.
    Mistake(
        "channel-layers-missing",
        part=2,
        shows_in=A_ROOM,
        edits=[Edit(SETTINGS, "CHANNEL_LAYERS = {", "CHANNEL_LAYER = {")],
    ),
    Mistake(
        "channel-layer-backend-not-importable",
        part=2,
        shows_in=A_ROOM,
        layer="redis",
        edits=[
            Edit(
                SETTINGS,
                '"channels_redis.core.RedisChannelLayer"',
                '"channels_redis.core.RedisChannelLayers"',
            )
        ],
    ),
    # CHANNEL_LAYERS point where no Redis runs (make check provides one on 6379).
    Mistake(
        "redis-not-running",
        part=2,
        shows_in=A_ROOM,
        layer="redis",
        edits=[Edit(SETTINGS, '("127.0.0.1", 6379)', '("127.0.0.1", 6390)')],
    ),
    # Part 2's consumer with every call of the channel layer made directly.
    Mistake(
        "sync-consumer-without-async-to-sync",
        part=2,
        shows_in=A_ROOM,
        edits=[
            Edit(
                CONSUMERS,
                f"async_to_sync(self.channel_layer.{call})(",
                f"self.channel_layer.{call}(",
            )
            for call in ("group_add", "group_discard", "group_send")
        ],
    ),
    # Part 3's rewrite, with one call of part 2 left as it was.
    Mistake(
        "async-to-sync-in-async-consumer",
        part=3,
        shows_in=A_ROOM,
        edits=[
            Edit(
                CONSUMERS,
                "import json\n",
                "import json\n\nfrom asgiref.sync import async_to_sync\n",
            ),
            Edit(
                CONSUMERS,
                "await self.channel_layer.group_add(",
                "async_to_sync(self.channel_layer.group_add)(",
            ),
        ],
    ),
    # Part 3's rewrite with one handler left synchronous, as in part 2.
    Mistake(
        "handler-not-async",
        part=3,
        shows_in=A_ROOM,
        edits=[
            Edit(CONSUMERS, "    async def chat_message(", "    def chat_message("),
            Edit(CONSUMERS, "await self.send(", "self.send("),
        ],
    ),
    # An asynchronous consumer that asks the database something directly.
    Mistake(
        "synchronous-only-operation",
        part=3,
        shows_in=A_ROOM,
        edits=[
            Edit(
                CONSUMERS,
                "        await self.accept()\n",
                "        from django.contrib.auth.models import User\n\n"
                "        User.objects.filter(username=self.room_name).exists()\n"
                "        await self.accept()\n",
            )
        ],
    ),
    Mistake(
        "no-handler-for-message-type",
        part=3,
        shows_in=A_ROOM,
        edits=[Edit(CONSUMERS, '"type": "chat.message"', '"type": "chat.msg"')],
    ),
    Mistake(
        "consumer-never-accepts",
        part=3,
        shows_in=A_ROOM,
        edits=[Edit(CONSUMERS, "        await self.accept()\n", "")],
    ),
    # ALLOWED_HOSTS set for a deployment, the page opened on another host.
    Mistake(
        "origin-not-allowed",
        part=2,
        shows_in=A_ROOM,
        edits=[
            Edit(SETTINGS, "ALLOWED_HOSTS = []", 'ALLOWED_HOSTS = ["chat.example.com"]')
        ],
    ),
]
BY_ANCHOR = {mistake.anchor: mistake for mistake in CATALOGUE}


def broken_copy(mistake: Mistake, destination: Path) -> Path:
    """A copy of the mistake's part in destination/mysite, on its layer, with
    its edits made: a learner's project with that one mistake."""
    project = copy_stage(mistake.part, destination)
    edits = mistake.edits
    if mistake.layer == "memory" and has_tutorial_layer(mistake.part):
        edits = [IN_MEMORY_LAYER, *edits]
    for change in edits:
        if change.old is None:
            (project / change.file).write_text(change.new)
        else:
            edit(project, *change)
    return project


def has_tutorial_layer(part):
    """Do its settings name the tutorial's Redis layer (parts 2 to 4)?"""
    return part in TUTORIAL_PARTS and part >= FIRST_PART_WITH_LAYER


def environment(mistake: Mistake, project: Path) -> dict:
    """What the broken copy runs in, as `make check` runs a learner's project:
    its own settings, and the packages the mistake is about."""
    env = Stage(mistake.part, OWN_SETTINGS, project).environment()
    if mistake.channels_3:
        env["PYTHONPATH"] = str(old_channels_metadata(project.parent / "channels-3"))
    return env
