"""TROUBLESHOOTING.md, reproduced: each mistake made in a copy of a stage, and
the symptom the guide describes asserted, so that the guide stays true.

Every section of the guide has an `<a id="...">` and a source (the report it
comes from); the test for it is named `test_` plus that id with underscores.
The symptom it asserts is recognised by harness/troubleshooting.py as that
section and no other, which is how `make check` points a learner to it.
Each reproduction is as cheap as its symptom allows: `manage.py runserver`
refusing to start needs no client; most others need one server and one
handshake.
"""

import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from urllib.parse import quote, urlparse

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as websocket_connect

from harness.clients import room_connection
from harness.load import (
    burst_over_default_capacity,
    posting_over_the_redis_pool,
)
from harness.projects import copy_stage, edit, old_channels_metadata
from harness.redis import RedisNotAvailable, nowhere, start_redis
from harness.servers import HOST, free_port, start_stage
from harness.stages import OWN_SETTINGS, Stage
from harness.troubleshooting import (
    GUIDE,
    NO_ORIGIN,
    PROBLEMS,
    anchors,
    installed_versions,
    origin_evidence,
)
from harness.waiting import SILENCE, SUBPROCESS, wait_for

pytestmark = pytest.mark.repository


def start(part, tmp_path, folder=None, redis_url=None, name="runserver"):
    """Run part N (or a copy of it, with a mistake) on the in-memory layer, or
    on Redis at redis_url, as the suite runs the stage itself."""
    stage = Stage(part, "redis" if redis_url else "memory", copy=folder)
    return start_stage(stage, tmp_path / f"{name}.log", redis_url)


def start_as_is(part, tmp_path, folder):
    """Run a copy with its own settings, CHANNEL_LAYERS included, as `make
    check` runs a learner's project."""
    return start_stage(Stage(part, OWN_SETTINGS, folder), tmp_path / "runserver.log")


def broken(part, tmp_path, *edits):
    """A copy of part N with each (file, old, new) edit made."""
    project = copy_stage(part, tmp_path)
    for change in edits:
        edit(project, *change)
    return project


def connect(server, room="lobby", **origin):
    """A room's socket; origin=None sends no Origin header, as a script may."""
    return room_connection(server, room, **origin)


def wait_for_log(server, text):
    """Wait until the server's log shows text; return the log."""
    wait_for(lambda: text in server.log(), f"{server.name} never logged {text!r}")
    return server.log()


def disconnected(server, room="lobby"):
    """The log line that ends a socket of this room on this server."""
    return f"WebSocket DISCONNECT {quote(urlparse(server.socket_url(room)).path)}"


def refused_handshake(server, room="lobby", **origin):
    """Open a socket that the server refuses: its HTTP status, and the log once
    the server has finished with it (and said why)."""
    with pytest.raises(InvalidStatus) as refused, connect(server, room, **origin):
        pass
    return refused.value.response.status_code, wait_for_log(
        server, disconnected(server, room)
    )


def closed_on_first_message(server):
    """Open a socket, post one message: the close code the server answers
    with, and the log once the server has said why."""
    with connect(server) as alice:
        alice.send_message("hello")
        with pytest.raises(ConnectionClosed) as closed:
            alice.receive_json()
    return closed.value.rcvd.code, wait_for_log(server, disconnected(server))


# --- mistakes inside the consumer: one server for all of them ---

# Each is part 3's chat/consumers.py with one mistake made, as (old, new)
# edits; None is a mistake in chat/routing.py's line instead.
CONSUMER_MISTAKES = {
    "as-asgi-forgotten": None,
    # Part 3's rewrite, with one call of part 2 left as it was.
    "async-to-sync-in-async-consumer": [
        ("import json\n", "import json\n\nfrom asgiref.sync import async_to_sync\n"),
        (
            "await self.channel_layer.group_add(",
            "async_to_sync(self.channel_layer.group_add)(",
        ),
    ],
    # Part 3's rewrite with one handler left synchronous, as in part 2.
    "handler-not-async": [
        ("    async def chat_message(", "    def chat_message("),
        ("await self.send(", "self.send("),
    ],
    # An asynchronous consumer that asks the database something directly.
    "synchronous-only-operation": [
        (
            "        await self.accept()\n",
            "        from django.contrib.auth.models import User\n\n"
            "        User.objects.filter(username=self.room_name).exists()\n"
            "        await self.accept()\n",
        )
    ],
    "no-handler-for-message-type": [('"type": "chat.message"', '"type": "chat.msg"')],
    "consumer-never-accepts": [("        await self.accept()\n", "")],
}


@pytest.fixture(scope="module")
def consumers_server(tmp_path_factory):
    """One runserver of a copy of part 3 whose chat/routing.py keeps the
    tutorial's route and adds one per consumer mistake, ws/<anchor>/<room>/,
    to a copy of the tutorial's consumer with that mistake made
    (chat/<anchor>.py): one server start for all of them."""
    tmp = tmp_path_factory.mktemp("consumer-mistakes")
    project = copy_stage(3, tmp)
    routes = []
    for anchor, edits in CONSUMER_MISTAKES.items():
        module = anchor.replace("-", "_")
        pattern = f'r"ws/{anchor}/(?P<room_name>\\w+)/$"'
        if edits is None:  # the route to the class itself
            routes.append(f"    re_path({pattern}, consumers.ChatConsumer),\n")
            continue
        shutil.copy(project / "chat/consumers.py", project / f"chat/{module}.py")
        for old, new in edits:
            edit(project, f"chat/{module}.py", old, new)
        routes.append(f"    re_path({pattern}, {module}.ChatConsumer.as_asgi()),\n")
    modules = [a.replace("-", "_") for a, edits in CONSUMER_MISTAKES.items() if edits]
    edit(
        project,
        "chat/routing.py",
        "from . import consumers\n",
        f"from . import consumers, {', '.join(modules)}\n",
    )
    edit(
        project,
        "chat/routing.py",
        "as_asgi()),\n]",
        "as_asgi()),\n" + "".join(routes) + "]",
    )
    with start(3, tmp, project) as server:
        yield server


class Route:
    """The shared server seen through one mistake's route, with the part of
    its log written since: what a server with that one mistake would show."""

    def __init__(self, server, prefix="chat"):
        self.server, self.prefix = server, prefix
        self.name, self.port, self.origin = server.name, server.port, server.origin
        self.start = len(server.log())

    def socket_url(self, room):
        return f"ws://{HOST}:{self.port}/ws/{self.prefix}/{room}/"

    def log(self):
        return self.server.log()[self.start :]


def page_status(server):
    """The HTTP status of the room page."""
    try:
        with urllib.request.urlopen(server.room_url("lobby")) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def runserver_refuses_to_start(part, project):
    """Run the copy's `manage.py runserver`: it must stop by itself; its whole
    output. (--noreload: with its reloader, runserver prints the same error,
    then waits for a file to change instead of exiting.)"""
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "runserver",
            f"{HOST}:{free_port()}",
            "--noreload",
        ],
        cwd=project,
        env=Stage(part, OWN_SETTINGS, project).environment(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS,
    )
    assert result.returncode != 0, "runserver should have refused to start"
    return result.stdout + result.stderr


def daphne_command(part, project):
    """`daphne mysite.asgi:application`, as a deployment runs it: its output."""
    result = subprocess.run(
        [sys.executable, "-m", "daphne", "-p", str(free_port()), "mysite.asgi:application"],
        cwd=project,
        env=Stage(part, OWN_SETTINGS, project).environment(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS,
    )  # fmt: skip
    assert result.returncode != 0
    return result.stderr


def receive_all(clients, expected):
    """How many messages each client receives, up to expected, until none arrive.

    Once one client has heard nothing for SILENCE, the server is done sending:
    the others only drain what already reached them.
    """
    received = []
    timeout = SILENCE
    for client in clients:
        count = 0
        while count < expected:
            try:
                client.receive_json(timeout=timeout)
            except TimeoutError:
                timeout = 0.05
                break
            except ConnectionClosed:
                break
            count += 1
        received.append(count)
    return received


def test_every_section_of_the_guide_has_a_source_a_test_and_a_symptom():
    guide = GUIDE.read_text()
    sections = re.findall(r'<a id="([\w-]+)"></a>', guide)
    assert len(sections) == len(set(sections)), "each anchor once"
    tests = {name for name in globals() if name.startswith("test_")}
    untested = [a for a in sections if f"test_{a.replace('-', '_')}" not in tests]
    assert not untested, f"TROUBLESHOOTING.md sections without a test: {untested}"
    unknown = [p.anchor for p in PROBLEMS if p.anchor not in sections]
    assert not unknown, f"troubleshooting.py names sections the guide lacks: {unknown}"
    bodies = re.split(r'<a id="[\w-]+"></a>', guide)[1:]
    unsourced = [
        a for a, body in zip(sections, bodies, strict=True) if "**Source.**" not in body
    ]
    assert not unsourced, f"sections without a source: {unsourced}"


def test_each_piece_of_advice_is_one_sentence():
    for problem in PROBLEMS:
        assert problem.advice.endswith("."), problem.anchor
        assert "\n" not in problem.advice, problem.anchor


def test_daphne_not_installed(tmp_path):
    project = broken(2, tmp_path, ("mysite/settings.py", '    "daphne",\n', ""))
    with start(2, tmp_path, project) as server:
        with pytest.raises(InvalidStatus) as refused, connect(server):
            pass
        log = wait_for_log(server, '"GET /ws/chat/lobby/ HTTP/1.1" 404')
    assert refused.value.response.status_code == 404
    assert "Starting development server at" in log
    assert "ASGI/Daphne" not in log
    assert "Not Found: /ws/chat/lobby/" in log
    assert anchors(log) == ["daphne-not-installed"]


def test_daphne_after_staticfiles(tmp_path):
    project = broken(
        2,
        tmp_path,
        ("mysite/settings.py", '    "daphne",\n', ""),
        (
            "mysite/settings.py",
            '    "django.contrib.staticfiles",\n',
            '    "django.contrib.staticfiles",\n    "daphne",\n',
        ),
    )
    output = runserver_refuses_to_start(2, project)
    assert (
        "SystemCheckError: System check identified some issues:\n\nERRORS:\n"
        "?: (daphne.E001) Daphne must be listed before django.contrib.staticfiles "
        "in INSTALLED_APPS." in output
    )
    assert anchors(output) == ["daphne-after-staticfiles"]


def test_daphne_anywhere_above_staticfiles_is_enough(tmp_path):
    # Not an entry: the guide once said daphne must come first. It need not.
    project = broken(
        2,
        tmp_path,
        (
            "mysite/settings.py",
            '    "daphne",\n    "chat",\n',
            '    "chat",\n    "daphne",\n',
        ),
    )
    with start(2, tmp_path, project) as server, connect(server) as alice:
        alice.send_message("hello")
        assert alice.receive_json() == {"message": "hello"}
    assert "Starting ASGI/Daphne" in server.log()


def test_installed_versions(tmp_path):
    # The copy's environment carries Channels 3's metadata ahead of the real
    # packages (harness/projects.py says why).
    old = old_channels_metadata(tmp_path / "old-packages")
    project = copy_stage(1, tmp_path)
    env = Stage(1, OWN_SETTINGS, project).environment()
    env["PYTHONPATH"] = str(old)
    evidence = installed_versions(env, cwd=project)
    assert (
        "Installed: django 5.2.19, channels 3.0.5, daphne 3.0.2, "
        "channels-redis 4.3.0" in evidence
    )
    assert (
        "Versions differ from the tutorial's: channels 3.0.5 and daphne 3.0.2"
        in evidence
    )
    assert anchors(evidence) == ["installed-versions"]
    # With the pinned versions nothing is said.
    assert (
        anchors(installed_versions(Stage(1, OWN_SETTINGS, project).environment())) == []
    )


def test_asgi_application_missing(tmp_path):
    project = broken(
        2,
        tmp_path,
        ("mysite/settings.py", 'ASGI_APPLICATION = "mysite.asgi.application"\n', ""),
    )
    output = runserver_refuses_to_start(2, project)
    assert (
        "CommandError: You have not set ASGI_APPLICATION, which is needed to run "
        "the server." in output
    )
    assert anchors(output) == ["asgi-application-missing"]


def test_asgi_application_not_importable(tmp_path):
    # Channels 2's setting, from posts written before Channels 3.
    project = broken(
        2,
        tmp_path,
        (
            "mysite/settings.py",
            '"mysite.asgi.application"',
            '"mysite.routing.application"',
        ),
    )
    output = runserver_refuses_to_start(2, project)
    assert "ModuleNotFoundError: No module named 'mysite.routing'" in output
    assert (
        "django.core.exceptions.ImproperlyConfigured: Cannot import "
        "ASGI_APPLICATION module 'mysite.routing'" in output
    )
    assert anchors(output) == ["asgi-application-not-importable"]


def test_settings_not_configured(tmp_path):
    project = broken(
        2,
        tmp_path,
        (
            "mysite/asgi.py",
            'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\n',
            "",
        ),
    )
    # runserver has its settings already; an ASGI server has only asgi.py.
    output = daphne_command(2, project)
    assert (
        "django.core.exceptions.ImproperlyConfigured: Requested setting "
        "LOGGING_CONFIG, but settings are not configured. You must either define "
        "the environment variable DJANGO_SETTINGS_MODULE or call "
        "settings.configure() before accessing settings." in output
    )
    assert anchors(output) == ["settings-not-configured"]


def test_asgi_application_is_wsgi(tmp_path):
    project = broken(
        2,
        tmp_path,
        (
            "mysite/settings.py",
            '"mysite.asgi.application"',
            '"mysite.wsgi.application"',
        ),
    )
    with start(2, tmp_path, project) as server:
        status, log = refused_handshake(server)
        assert page_status(server) == 500, "pages fail too"
    assert status == 500
    assert (
        "TypeError: WSGIHandler.__call__() takes 3 positional arguments but 4 "
        "were given" in log
    )
    assert anchors(log) == ["asgi-application-is-wsgi"]


def test_plain_django_asgi(tmp_path):
    project = copy_stage(2, tmp_path)
    # mysite/asgi.py as startproject wrote it, untouched by parts 1 and 2.
    (project / "mysite/asgi.py").write_text(
        "import os\n\nfrom django.core.asgi import get_asgi_application\n\n"
        'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\n\n'
        "application = get_asgi_application()\n"
    )
    with start(2, tmp_path, project) as server:
        status, log = refused_handshake(server)
        assert page_status(server) == 200, "pages work"
    assert status == 500
    assert (
        "ValueError: Django can only handle ASGI/HTTP connections, not websocket."
        in log
    )
    assert anchors(log) == ["plain-django-asgi"]


def test_no_websocket_router(tmp_path):
    project = copy_stage(2, tmp_path)
    edit(
        project, "mysite/asgi.py", '        "websocket": ', '        "not-websocket": '
    )
    with start(2, tmp_path, project) as server:
        status, log = refused_handshake(server)
    assert status == 500
    assert "No application configured for scope type 'websocket'" in log
    assert anchors(log) == ["no-websocket-router"]


def test_no_route_found(tmp_path):
    project = copy_stage(2, tmp_path)
    # A leading slash, as in the page's URL: routes match the path without it.
    edit(project, "chat/routing.py", 're_path(r"ws/chat/', 're_path(r"/ws/chat/')
    with start(2, tmp_path, project) as server:
        status, log = refused_handshake(server)
    assert status == 500
    assert "ValueError: No route found for path 'ws/chat/lobby/'." in log
    assert anchors(log) == ["no-route-found"]


def test_redis_not_running(tmp_path):
    down = nowhere()
    with start(3, tmp_path, redis_url=down.url()) as server:
        status, log = refused_handshake(server)
    assert status == 500
    assert "Starting ASGI/Daphne" in log, "the server starts as if nothing were wrong"
    assert (
        f"ConnectionError: Error 111 connecting to {down.address}. "
        "Connect call failed" in log
    )
    assert anchors(log) == ["redis-not-running"]


def test_sync_consumer_without_async_to_sync(tmp_path, monkeypatch):
    project = copy_stage(2, tmp_path)
    for call in ("group_add", "group_discard", "group_send"):
        edit(
            project,
            "chat/consumers.py",
            f"async_to_sync(self.channel_layer.{call})(",
            f"self.channel_layer.{call}(",
        )
    # As the learner runs it: the socket opens, the message goes nowhere, and
    # the log says nothing (Daphne sends Python's warnings to its silenced log).
    with start(2, tmp_path, project) as server, connect(server) as alice:
        alice.send_message("hello")
        with pytest.raises(TimeoutError):
            alice.receive_json(timeout=SILENCE)
        log = server.log()
    assert "WebSocket CONNECT /ws/chat/lobby/" in log
    assert "never awaited" not in log
    # With warnings turned into errors, Python names the call.
    monkeypatch.setenv("PYTHONWARNINGS", "error::RuntimeWarning")
    with (
        start(2, tmp_path, project, name="warnings") as server,
        connect(server) as bob,
    ):
        bob.send_message("hello")
        log = wait_for_log(
            server, "RuntimeWarning: coroutine 'InMemoryChannelLayer.group_send'"
        )
    assert "was never awaited" in log
    assert (
        "Exception ignored in: <coroutine object InMemoryChannelLayer.group_send" in log
    )
    assert anchors(log) == ["sync-consumer-without-async-to-sync"]


def test_live_server_in_memory_database(tmp_path):
    project = copy_stage(4, tmp_path)
    settings = (project / "mysite/settings.py").read_text()
    test_block = settings[settings.index('        "TEST": {') :]
    test_block = test_block[: test_block.index("        },\n") + len("        },\n")]
    edit(project, "mysite/settings.py", test_block, "")
    result = subprocess.run(
        [sys.executable, "manage.py", "test", "chat.tests"],
        cwd=project,
        env=Stage(4, copy=project).environment(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS,
    )
    assert result.returncode != 0
    assert (
        "django.core.exceptions.ImproperlyConfigured: ChannelLiveServerTestCase "
        "can not be used with in memory databases" in result.stderr
    )
    assert anchors(result.stderr) == ["live-server-in-memory-database"]


def test_apps_not_loaded(tmp_path):
    project = copy_stage(2, tmp_path)
    routing_import = "from chat.routing import websocket_urlpatterns\n"
    edit(project, "mysite/asgi.py", "\n" + routing_import, "")
    edit(
        project,
        "mysite/asgi.py",
        "django_asgi_app = get_asgi_application()\n",
        routing_import + "django_asgi_app = get_asgi_application()\n",
    )
    # Harmless until app code imports a model, as a consumer soon does.
    edit(
        project,
        "chat/consumers.py",
        "import json\n",
        "import json\n\nfrom django.contrib.auth.models import User  # noqa: F401\n",
    )
    # runserver sets Django up before it imports asgi.py: it hides the mistake.
    with start(2, tmp_path, project) as server, connect(server) as alice:
        alice.send_message("hello")
        assert alice.receive_json() == {"message": "hello"}
    # Any other ASGI server imports asgi.py first, and fails.
    daphne = subprocess.run(
        [
            sys.executable,
            "-m",
            "daphne",
            "-p",
            str(free_port()),
            "mysite.asgi:application",
        ],
        cwd=project,
        env=Stage(2, copy=project).environment(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS,
    )
    assert daphne.returncode != 0
    assert (
        "django.core.exceptions.AppRegistryNotReady: Apps aren't loaded yet."
        in daphne.stderr
    )
    assert anchors(daphne.stderr) == ["apps-not-loaded"]


@pytest.mark.slow
def test_in_memory_layer_across_processes(tmp_path, redis_server):
    def alice_and_bob_on_two_servers(redis_url, name):
        with (
            start(3, tmp_path, redis_url=redis_url, name=f"{name}-1") as first,
            start(3, tmp_path, redis_url=redis_url, name=f"{name}-2") as second,
            connect(first, "across") as alice,
            connect(second, "across") as bob,
        ):
            alice.send_message("hello from server 1")
            assert alice.receive_json() == {"message": "hello from server 1"}
            return receive_all([bob], expected=1)[0]

    # On the in-memory layer each process has a chat of its own.
    assert alice_and_bob_on_two_servers(None, "memory") == 0
    # On Redis the two processes share one.
    assert alice_and_bob_on_two_servers(redis_server.url(), "redis") == 1


def test_channel_capacity(tmp_path):
    # The tutorial's own code, with the default capacity: 100 per channel.
    with start(3, tmp_path) as server:
        problems = burst_over_default_capacity(server)
        log = server.log()
    assert problems, "a burst over the default capacity loses messages"
    assert "Traceback" not in log, "and says nothing"
    assert "ChannelFull" not in log


def test_too_many_redis_connections(tmp_path, redis_server):
    # The tutorial's own code, with redis-py's default pool of 100 connections.
    with start(3, tmp_path, redis_url=redis_server.url()) as server:
        posting_over_the_redis_pool(server, redis_server.url(), patience=SILENCE)
        log = wait_for_log(server, "MaxConnectionsError")
    assert "MaxConnectionsError: Too many connections" in log
    assert anchors(log) == ["too-many-redis-connections"]


def test_auth_middleware_without_session(tmp_path):
    project = broken(
        2,
        tmp_path,
        ("mysite/asgi.py", "import AuthMiddlewareStack", "import AuthMiddleware"),
        ("mysite/asgi.py", "AuthMiddlewareStack(URLRouter", "AuthMiddleware(URLRouter"),
    )
    with start(2, tmp_path, project) as server:
        status, log = refused_handshake(server)
    assert status == 500
    assert (
        "ValueError: AuthMiddleware cannot find session in scope. "
        "SessionMiddleware must be above it." in log
    )
    assert anchors(log) == ["auth-middleware-without-session"]


def test_channel_layers_missing(tmp_path):
    # Misspelt: Channels reads CHANNEL_LAYERS only.
    project = broken(
        2, tmp_path, ("mysite/settings.py", "CHANNEL_LAYERS = {", "CHANNEL_LAYER = {")
    )
    with start_as_is(2, tmp_path, project) as server:
        status, log = refused_handshake(server)
    assert status == 500
    assert "AttributeError: 'NoneType' object has no attribute 'group_add'" in log
    assert anchors(log) == ["channel-layers-missing"]


def test_channel_layer_backend_not_importable(tmp_path):
    project = broken(
        2,
        tmp_path,
        (
            "mysite/settings.py",
            '"channels_redis.core.RedisChannelLayer"',
            '"channels_redis.core.RedisChannelLayers"',
        ),
    )
    with start_as_is(2, tmp_path, project) as server:
        status, log = refused_handshake(server)
    assert status == 500
    assert (
        "channels.exceptions.InvalidChannelLayerError: Cannot import BACKEND "
        "'channels_redis.core.RedisChannelLayers' specified for default" in log
    )
    assert anchors(log) == ["channel-layer-backend-not-importable"]


def test_redis_password_required(tmp_path):
    try:
        locked = start_redis(tmp_path / "redis", password="s3cret")
    except RedisNotAvailable as absent:
        pytest.skip(f"needs a Redis server: {absent}")
    # The layer's URL without the password, as in the tutorial's settings.
    without_password = f"redis://{HOST}:{locked.port}"
    with locked, start(3, tmp_path, redis_url=without_password) as server:
        status, log = refused_handshake(server)
    assert status == 500
    # redis-py 8 opens with HELLO (RESP3), which a locked Redis refuses so
    # (Valkey, the embedded server, writes "HELLO <proto> AUTH" in the middle).
    assert (
        "redis.exceptions.AuthenticationError: HELLO must be called with the "
        "client already authenticated, otherwise the HELLO" in log
    )
    assert (
        "option can be used to authenticate the client and select the RESP "
        "protocol version at the same time" in log
    )
    assert anchors(log) == ["redis-password-required"]


def test_origin_not_allowed(tmp_path):
    # ALLOWED_HOSTS set for a deployment, the page opened on another host.
    project = broken(
        2,
        tmp_path,
        (
            "mysite/settings.py",
            "ALLOWED_HOSTS = []",
            'ALLOWED_HOSTS = ["chat.example.com"]',
        ),
    )
    with start(2, tmp_path, project) as server:
        status, log = refused_handshake(server)
    assert status == 403
    assert "WebSocket REJECT /ws/chat/lobby/" in log
    assert "Traceback" not in log
    assert anchors(log, origin_evidence(server.origin)) == ["origin-not-allowed"]


def test_room_name_not_ascii(consumers_server):
    # The tutorial's own code: its route \w+ matches any letter.
    server = Route(consumers_server)
    status, log = refused_handshake(server, room="über")
    assert status == 500
    assert (
        "TypeError: Group name must be a valid unicode string with length < 100 "
        "containing only ASCII alphanumerics, hyphens, underscores, or periods" in log
    )
    assert anchors(log) == ["room-name-not-ascii"]


def test_client_sends_no_origin(consumers_server):
    # The tutorial's own code, and a client (a script, Postman) with no Origin.
    server = Route(consumers_server)
    status, log = refused_handshake(server, origin=None)
    assert status == 403
    assert f"WebSocket REJECT {urlparse(server.socket_url('lobby')).path}" in log
    assert "Traceback" not in log, "and not a word of why"
    assert anchors(log, origin_evidence(None)) == ["client-sends-no-origin"]
    assert origin_evidence(None) == NO_ORIGIN


def test_as_asgi_forgotten(consumers_server):
    server = Route(consumers_server, "as-asgi-forgotten")
    status, log = refused_handshake(server)
    assert status == 500
    assert "TypeError: object ChatConsumer can't be used in 'await' expression" in log
    assert anchors(log) == ["as-asgi-forgotten"]


def test_async_to_sync_in_async_consumer(consumers_server):
    server = Route(consumers_server, "async-to-sync-in-async-consumer")
    status, log = refused_handshake(server)
    assert status == 500
    assert (
        "RuntimeError: You cannot use AsyncToSync in the same thread as an async "
        "event loop - just await the async function directly." in log
    )
    assert anchors(log) == ["async-to-sync-in-async-consumer"]


def test_handler_not_async(consumers_server):
    server = Route(consumers_server, "handler-not-async")
    code, log = closed_on_first_message(server)
    assert code == 1011, "the socket opens, and closes on the first message"
    assert "WebSocket CONNECT /ws/handler-not-async/lobby/" in log
    assert "TypeError: object NoneType can't be used in 'await' expression" in log
    assert anchors(log) == ["handler-not-async"]


def test_synchronous_only_operation(consumers_server):
    server = Route(consumers_server, "synchronous-only-operation")
    status, log = refused_handshake(server)
    assert status == 500
    assert (
        "django.core.exceptions.SynchronousOnlyOperation: You cannot call this "
        "from an async context - use a thread or sync_to_async." in log
    )
    assert anchors(log) == ["synchronous-only-operation"]


def test_no_handler_for_message_type(consumers_server):
    server = Route(consumers_server, "no-handler-for-message-type")
    with connect(server) as bob:
        code, log = closed_on_first_message(server)
        with pytest.raises(ConnectionClosed) as closed:
            bob.receive_json()
    assert code == 1011
    assert closed.value.rcvd.code == 1011, "every receiver's socket closes"
    assert "ValueError: No handler for message type chat.msg" in log
    assert anchors(log) == ["no-handler-for-message-type"]


def test_consumer_never_accepts(consumers_server):
    server = Route(consumers_server, "consumer-never-accepts")
    # A browser waits for Daphne to give up (5 s); a short wait shows it.
    with (
        pytest.raises(TimeoutError) as unanswered,
        websocket_connect(
            server.socket_url("lobby"), origin=server.origin, open_timeout=1
        ),
    ):
        pass
    log = server.log()
    assert "timed out while waiting for handshake response" in str(unanswered.value)
    assert "WebSocket HANDSHAKING /ws/consumer-never-accepts/lobby/" in log
    assert "WebSocket CONNECT" not in log
    assert "WebSocket REJECT" not in log
    assert anchors(str(unanswered.value), log) == ["consumer-never-accepts"]
