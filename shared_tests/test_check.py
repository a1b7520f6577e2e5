"""`make check`: the suite's verdict on a learner's project, tried on copies of
the stages, whole and broken, the way pytest plugins are tested: a pytest run
in a subprocess, its exit code and output asserted.

A copy of each stage is what a learner who typed the tutorial correctly has,
so each must pass, with its own settings. A copy with one of the mistakes of
TROUBLESHOOTING.md must fail, and name that mistake's entry before any other.
A mistake that stops the server is diagnosed before any test runs; for the
others one check is selected (`-x -k`), as a learner's full run would fail
the same way on every check that opens a room.
"""

import re
import subprocess
import sys

import pytest

from harness.projects import copy_stage, edit, old_channels_metadata, snapshot
from harness.stages import (
    FIRST_PART_WITH_LAYER,
    OWN_SETTINGS,
    PARTS,
    REPO,
    TUTORIAL_PARTS,
    Stage,
)
from harness.waiting import SUBPROCESS

# A check of a project whose layer is the tutorial's Redis provides Redis on
# 6379, as shared_tests/test_tools.py's do: one worker at a time may hold that port.
pytestmark = pytest.mark.repository
NEEDS_6379 = pytest.mark.xdist_group("port-6379")

# The check a learner's full run fails first, for a mistake the server only
# shows when a room's socket is used: no browser needed.
A_ROOM = "a_message_reaches_every_client"


def check(project, part, *options, env=None):
    """`make check` as the Makefile runs it, on project as part N.

    Its Python may write the bytecode of this repository's own modules, as a
    learner's does: the first check compiles the suite and the others reuse
    it (the check keeps the project itself free of bytecode)."""
    env = dict(env or Stage(part, OWN_SETTINGS, project).environment())
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "--tb=no", "-p", "no:cacheprovider",
            "-n", "0",
            f"--part={part}", f"--project={project}", *options,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # in the order a terminal shows them
        text=True,
        timeout=SUBPROCESS,
    )  # fmt: skip
    return result.returncode, result.stdout


def linked_anchors(output):
    return re.findall(r"TROUBLESHOOTING\.md#([\w-]+)", output)


def verdict(output):
    """The output from the verdict's first line on."""
    return output[output.index("Your project, checked as part") :]


# The stages' own tests prove each stage passes every check; here the check
# itself is under test on a copy of each, with its own settings (the
# tutorial's Redis on 6379 for parts 2 to 4): the check that the server
# starts, and one over a socket. Part 4, the end of the tutorial, also gets
# one in the browser, the way a learner's `make check` runs those. The
# tutorial's limits match too (each is named "..._lifts_..."): as tests about
# this repository, the check must leave them out.
SOME_CHECKS = (
    "runserver_starts_the_asgi_daphne_server or a_message_reaches_every_client or lifts"
)
IN_THE_BROWSER = {4: "everyone_in_the_room_sees_every_message_in_order"}


def copy_case(part):
    on_6379 = part in TUTORIAL_PARTS and part >= FIRST_PART_WITH_LAYER
    selection = " or ".join(filter(None, [SOME_CHECKS, IN_THE_BROWSER.get(part)]))
    marks = [NEEDS_6379] if on_6379 else []  # part 5 without REDIS_URL: in memory
    return pytest.param(part, selection, id=str(part), marks=marks)


COPIES = [copy_case(part) for part in PARTS]


@pytest.mark.parametrize(("part", "selection"), COPIES)
def test_a_copy_of_each_stage_passes_and_is_left_as_it_was(tmp_path, part, selection):
    project = copy_stage(part, tmp_path)
    before = snapshot(project)
    code, output = check(project, part, "-k", selection)
    assert code == 0, output
    assert "Verdict: PASS. Your project passes all" in output, output
    assert f"checks of part {part}." in output
    assert output.rstrip().splitlines()[-1].startswith("Verdict: PASS."), (
        "the verdict is the last line"
    )
    assert "lifts" not in verdict(output), "tests about this repository do not run"
    assert snapshot(project) == before, "the check wrote into the project"


SETTINGS = "mysite/settings.py"
DAPHNE = '    "daphne",\n'
STATICFILES = '    "django.contrib.staticfiles",\n'
REDIS_LAYER = (
    '"BACKEND": "channels_redis.core.RedisChannelLayer",\n'
    '        "CONFIG": {\n'
    '            "hosts": [("127.0.0.1", 6379)],\n'
    "        },\n"
)
MEMORY_LAYER = '"BACKEND": "channels.layers.InMemoryChannelLayer",\n'
ASGI_ORDER = "from chat.routing import websocket_urlpatterns\n"


def mistake(anchor, part, *edits, selection=None, layer="memory"):
    """A broken copy's case. A mistake the server shows only when a room's
    socket is used selects one check; the others stop the check before any.
    The copy keeps the tutorial's Redis layer only where the mistake is about
    it: on the in-memory layer `make check` needs no Redis, so the case need
    not wait for port 6379."""
    marks = [NEEDS_6379] if layer == "redis" else []
    return pytest.param(anchor, part, edits, selection, layer, id=anchor, marks=marks)


# The ten mistakes issue 12 names first, then every other entry whose mistake
# a learner's project can hold and `make check` can see.
MISTAKES = [
    mistake("as-asgi-forgotten", 2, ("chat/routing.py", "ChatConsumer.as_asgi()", "ChatConsumer"), selection=A_ROOM),
    mistake("channel-layers-missing", 2, (SETTINGS, "CHANNEL_LAYERS = {", "CHANNEL_LAYER = {"), selection=A_ROOM),
    mistake(
        "async-to-sync-in-async-consumer", 3,
        ("chat/consumers.py", "import json\n", "import json\n\nfrom asgiref.sync import async_to_sync\n"),
        ("chat/consumers.py", "await self.channel_layer.group_add(", "async_to_sync(self.channel_layer.group_add)("),
        selection=A_ROOM,
    ),
    mistake(
        "handler-not-async", 3,
        ("chat/consumers.py", "    async def chat_message(", "    def chat_message("),
        ("chat/consumers.py", "await self.send(", "self.send("),
        selection=A_ROOM,
    ),
    mistake("no-handler-for-message-type", 3, ("chat/consumers.py", '"type": "chat.message"', '"type": "chat.msg"'), selection=A_ROOM),
    mistake("asgi-application-missing", 2, (SETTINGS, 'ASGI_APPLICATION = "mysite.asgi.application"\n', "")),
    mistake("asgi-application-not-importable", 2, (SETTINGS, '"mysite.asgi.application"', '"mysite.routing.application"')),
    mistake("plain-django-asgi", 2, ("mysite/asgi.py", "application = ProtocolTypeRouter(", "application = django_asgi_app\nrouter = ProtocolTypeRouter("), selection=A_ROOM),
    mistake("daphne-after-staticfiles", 2, (SETTINGS, DAPHNE, ""), (SETTINGS, STATICFILES, STATICFILES + DAPHNE)),
    mistake("origin-not-allowed", 2, (SETTINGS, "ALLOWED_HOSTS = []", 'ALLOWED_HOSTS = ["chat.example.com"]'), selection=A_ROOM),
    mistake("installed-versions", 2),
    # Beyond the ten.
    mistake("daphne-not-installed", 2, (SETTINGS, DAPHNE, "")),
    mistake("settings-not-configured", 2, ("mysite/asgi.py", 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\n', "")),
    mistake(
        "apps-not-loaded", 2,
        ("mysite/asgi.py", "\n" + ASGI_ORDER, ""),
        ("mysite/asgi.py", "django_asgi_app = get_asgi_application()\n", ASGI_ORDER + "django_asgi_app = get_asgi_application()\n"),
        ("chat/consumers.py", "import json\n", "import json\n\nfrom django.contrib.auth.models import User  # noqa: F401\n"),
    ),
    mistake("asgi-application-is-wsgi", 2, (SETTINGS, '"mysite.asgi.application"', '"mysite.wsgi.application"'), selection=A_ROOM),
    mistake("no-websocket-router", 2, ("mysite/asgi.py", '        "websocket": ', '        "wbsocket": '), selection=A_ROOM),
    mistake(
        "auth-middleware-without-session", 2,
        ("mysite/asgi.py", "import AuthMiddlewareStack", "import AuthMiddleware"),
        ("mysite/asgi.py", "AuthMiddlewareStack(URLRouter", "AuthMiddleware(URLRouter"),
        selection=A_ROOM,
    ),
    mistake("no-route-found", 2, ("chat/routing.py", 're_path(r"ws/chat/', 're_path(r"/ws/chat/'), selection=A_ROOM),
    mistake("channel-layer-backend-not-importable", 2, (SETTINGS, "layers.InMemoryChannelLayer", "layers.InMemoryChannelLayers"), selection=A_ROOM),
    mistake("redis-not-running", 2, (SETTINGS, '("127.0.0.1", 6379)', '("127.0.0.1", 6390)'), selection=A_ROOM, layer="redis"),
    mistake(
        "sync-consumer-without-async-to-sync", 2,
        ("chat/consumers.py", "async_to_sync(self.channel_layer.group_send)(", "self.channel_layer.group_send("),
        selection=A_ROOM,
    ),
    mistake(
        "synchronous-only-operation", 3,
        (
            "chat/consumers.py",
            "        await self.accept()\n",
            "        from django.contrib.auth.models import User\n\n"
            "        User.objects.filter(username=self.room_name).exists()\n"
            "        await self.accept()\n",
        ),
        selection=A_ROOM,
    ),
    mistake("consumer-never-accepts", 3, ("chat/consumers.py", "        await self.accept()\n", ""), selection=A_ROOM),
]  # fmt: skip


@pytest.mark.parametrize(("anchor", "part", "edits", "selection", "layer"), MISTAKES)
def test_a_broken_copy_fails_and_names_its_entry_first(
    tmp_path, anchor, part, edits, selection, layer
):
    project = copy_stage(part, tmp_path)
    if layer == "memory":
        edit(project, SETTINGS, REDIS_LAYER, MEMORY_LAYER)
    for change in edits:
        edit(project, *change)
    env = Stage(part, OWN_SETTINGS, project).environment()
    if anchor == "installed-versions":
        env["PYTHONPATH"] = str(old_channels_metadata(tmp_path / "old-packages"))
    options = ["-x", "-k", selection] if selection else []
    code, output = check(project, part, *options, env=env)
    assert code == 1, output
    assert linked_anchors(output)[:1] == [anchor], output
    assert len(set(linked_anchors(output))) == 1, "one mistake, one entry"
    shown = verdict(output)
    assert shown.rstrip().splitlines()[-1].startswith("Verdict: NOT YET."), shown
    assert len(shown.splitlines()) < 40, shown
    assert "Traceback (most recent call last)" not in output, "they go to a file"
    details = re.search(
        r"(?:Tracebacks and your server's log|runserver's output): (\S+)", shown
    )
    assert details, shown
    assert (REPO / details.group(1)).is_file()
    if selection is None:
        assert "no check ran" in shown or "none of the checks" in shown, shown


def test_a_failure_no_entry_matches_is_said_so(tmp_path):
    # The consumer answers with another key: the room gets the wrong JSON, the
    # server logs nothing wrong, and no entry claims it.
    project = copy_stage(2, tmp_path)
    edit(
        project,
        "chat/consumers.py",
        'json.dumps({"message": message})',
        'json.dumps({"text": message})',
    )
    code, output = check(project, 2, "-x", "-k", A_ROOM)
    assert code == 1, output
    assert linked_anchors(output) == [], output
    assert "No entry of TROUBLESHOOTING.md matches what your server did" in output


def test_the_check_needs_one_part_and_a_project_folder(tmp_path):
    project = copy_stage(1, tmp_path)
    code, output = check(project, 1, "--part=2")
    assert code == 4
    assert "--project needs exactly one --part N" in output
    code, output = check(tmp_path, 1)
    assert code == 4
    assert "has no manage.py" in output
