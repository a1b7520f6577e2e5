"""TROUBLESHOOTING.md, reproduced: each mistake made in a copy of a stage, and
the symptom the guide describes asserted, so that the guide stays true.

Every section of the guide has an `<a id="...">` and a source (the report it
comes from); the test for it is named `test_` plus that id with underscores.
The symptom it asserts is recognised by harness/troubleshooting.py as that
section and no other, which is how `make check` points a learner to it.
A mistake in a learner's copy is made as shared_tests/mistakes.py writes it,
as shared_tests/test_check.py makes it for `make check`.
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

import django
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as websocket_connect

from harness.clients import room_connection
from harness.load import (
    burst_over_default_capacity,
    posting_over_the_redis_pool,
)
from harness.projects import copy_stage, edit
from harness.redis import (
    REDIS_PY_REPLY_TIMEOUT,
    RedisNotAvailable,
    nowhere,
    start_redis,
)
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
from harness.waiting import PROMPT, SILENCE, SUBPROCESS, WAIT, wait_for
from shared_tests.logs import assert_no_traceback
from shared_tests.mistakes import (
    BY_ANCHOR,
    CATALOGUE,
    CONSUMERS,
    ROUTING,
    SETTINGS,
    broken_copy,
    environment,
)

pytestmark = pytest.mark.repository


def start(part, tmp_path, folder=None, redis_url=None, name="runserver"):
    """Run part N (or a copy of it, with a mistake) on the in-memory layer, or
    on Redis at redis_url, as the suite runs the stage itself."""
    stage = Stage(part, "redis" if redis_url else "memory", copy=folder)
    return start_stage(stage, tmp_path / f"{name}.log", redis_url)


def broken(anchor, tmp_path):
    """A copy with the catalogue's mistake of that anchor made
    (shared_tests/mistakes.py), as `make check` looks at a learner's project:
    with its own settings, CHANNEL_LAYERS included."""
    mistake = BY_ANCHOR[anchor]
    return Stage(mistake.part, OWN_SETTINGS, broken_copy(mistake, tmp_path))


def start_as_is(stage, tmp_path, name="runserver"):
    """Run a broken copy's runserver, as `make check` does."""
    return start_stage(stage, tmp_path / f"{name}.log")


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

# The catalogue's mistakes in part 3's chat/consumers.py or its route in
# chat/routing.py, on the in-memory layer.
CONSUMER_MISTAKES = [
    mistake
    for mistake in CATALOGUE
    if mistake.part == 3
    and mistake.layer == "memory"
    and {change.file for change in mistake.edits} <= {CONSUMERS, ROUTING}
]


@pytest.fixture(scope="module")
def consumers_server(tmp_path_factory):
    """One runserver of a copy of part 3 whose chat/routing.py keeps the
    tutorial's route and adds one per consumer mistake, ws/<anchor>/<room>/,
    to a copy of the tutorial's consumer (chat/<anchor>.py): the mistake's
    edits of chat/consumers.py made in that copy, those of chat/routing.py in
    its route. One server start for all of them."""
    tmp = tmp_path_factory.mktemp("consumer-mistakes")
    project = copy_stage(3, tmp)
    modules, routes = [], []
    for mistake in CONSUMER_MISTAKES:
        module = mistake.anchor.replace("-", "_")
        shutil.copy(project / CONSUMERS, project / f"chat/{module}.py")
        pattern = f'r"ws/{mistake.anchor}/(?P<room_name>\\w+)/$"'
        route = f"    re_path({pattern}, {module}.ChatConsumer.as_asgi()),\n"
        for change in mistake.edits:
            if change.file == CONSUMERS:
                edit(project, f"chat/{module}.py", change.old, change.new)
            else:
                assert route.count(change.old) == 1, f"{change} fits no route"
                route = route.replace(change.old, change.new)
        modules.append(module)
        routes.append(route)
    edit(
        project,
        ROUTING,
        "from . import consumers\n",
        f"from . import consumers, {', '.join(modules)}\n",
    )
    edit(project, ROUTING, "as_asgi()),\n]", "as_asgi()),\n" + "".join(routes) + "]")
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


def django_runserver_start():
    """What Django's own runserver says as it starts, on the Django installed."""
    if django.VERSION >= (6, 1):
        return "Starting WSGI development server at"
    return "Starting development server at"


def quoted_in_the_guide(text):
    """Does TROUBLESHOOTING.md quote text (its lines wrapped anywhere)?"""
    return text in " ".join(GUIDE.read_text().split())


def runserver_refuses_to_start(stage):
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
        cwd=stage.folder,
        env=stage.environment(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS,
    )
    assert result.returncode != 0, "runserver should have refused to start"
    return result.stdout + result.stderr


def daphne_refuses_to_start(stage):
    """`daphne mysite.asgi:application`, as a deployment runs it: it must stop
    by itself; its error output."""
    daphne = [sys.executable, "-m", "daphne", "-p", str(free_port())]
    result = subprocess.run(
        [*daphne, "mysite.asgi:application"],
        cwd=stage.folder,
        env=stage.environment(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS,
    )
    assert result.returncode != 0, "daphne should have refused to start"
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
    unknown = [m.anchor for m in CATALOGUE if m.anchor not in sections]
    assert not unknown, f"mistakes.py names sections the guide lacks: {unknown}"
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
    with start_as_is(broken("daphne-not-installed", tmp_path), tmp_path) as server:
        with pytest.raises(InvalidStatus) as refused, connect(server):
            pass
        log = wait_for_log(server, '"GET /ws/chat/lobby/ HTTP/1.1" 404')
    assert refused.value.response.status_code == 404
    assert f"{django_runserver_start()} http://127.0.0.1:" in log
    assert quoted_in_the_guide(django_runserver_start())
    assert "ASGI/Daphne" not in log
    assert "Not Found: /ws/chat/lobby/" in log
    assert anchors(log) == ["daphne-not-installed"]


def test_daphne_after_staticfiles(tmp_path):
    output = runserver_refuses_to_start(broken("daphne-after-staticfiles", tmp_path))
    assert (
        "SystemCheckError: System check identified some issues:\n\nERRORS:\n"
        "?: (daphne.E001) Daphne must be listed before django.contrib.staticfiles "
        "in INSTALLED_APPS." in output
    )
    assert anchors(output) == ["daphne-after-staticfiles"]


def test_daphne_anywhere_above_staticfiles_is_enough(tmp_path):
    # Not an entry: the guide once said daphne must come first. It need not.
    project = copy_stage(2, tmp_path)
    edit(
        project,
        "mysite/settings.py",
        '    "daphne",\n    "chat",\n',
        '    "chat",\n    "daphne",\n',
    )
    with start(2, tmp_path, project) as server, connect(server) as alice:
        alice.send_message("hello")
        assert alice.receive_json() == {"message": "hello"}
    assert "Starting ASGI/Daphne" in server.log()


def test_installed_versions(tmp_path):
    # The copy's environment carries Channels 3's metadata ahead of the real
    # packages (harness/projects.py says why).
    mistake = BY_ANCHOR["installed-versions"]
    project = broken_copy(mistake, tmp_path)
    evidence = installed_versions(environment(mistake, project), cwd=project)
    installed = (
        f"Installed: django {django.__version__}, channels 3.0.5, daphne 3.0.2, "
        "channels-redis 4.3.0"
    )
    assert installed in evidence
    assert quoted_in_the_guide(installed)
    assert (
        "Versions differ from the tutorial's: channels 3.0.5 and daphne 3.0.2"
        in evidence
    )
    assert anchors(evidence) == ["installed-versions"]
    # With the pinned versions nothing is said.
    pinned = Stage(mistake.part, OWN_SETTINGS, project).environment()
    assert anchors(installed_versions(pinned)) == []


def test_asgi_application_missing(tmp_path):
    output = runserver_refuses_to_start(broken("asgi-application-missing", tmp_path))
    assert (
        "CommandError: You have not set ASGI_APPLICATION, which is needed to run "
        "the server." in output
    )
    assert anchors(output) == ["asgi-application-missing"]


def test_asgi_application_not_importable(tmp_path):
    stage = broken("asgi-application-not-importable", tmp_path)
    output = runserver_refuses_to_start(stage)
    assert "ModuleNotFoundError: No module named 'mysite.routing'" in output
    assert (
        "django.core.exceptions.ImproperlyConfigured: Cannot import "
        "ASGI_APPLICATION module 'mysite.routing'" in output
    )
    assert anchors(output) == ["asgi-application-not-importable"]


def test_settings_not_configured(tmp_path):
    # runserver has its settings already; an ASGI server has only asgi.py.
    output = daphne_refuses_to_start(broken("settings-not-configured", tmp_path))
    assert (
        "django.core.exceptions.ImproperlyConfigured: Requested setting "
        "LOGGING_CONFIG, but settings are not configured. You must either define "
        "the environment variable DJANGO_SETTINGS_MODULE or call "
        "settings.configure() before accessing settings." in output
    )
    assert anchors(output) == ["settings-not-configured"]


def test_asgi_application_is_wsgi(tmp_path):
    with start_as_is(broken("asgi-application-is-wsgi", tmp_path), tmp_path) as server:
        status, log = refused_handshake(server)
        assert page_status(server) == 500, "pages fail too"
    assert status == 500
    assert (
        "TypeError: WSGIHandler.__call__() takes 3 positional arguments but 4 "
        "were given" in log
    )
    assert anchors(log) == ["asgi-application-is-wsgi"]


def test_plain_django_asgi(tmp_path):
    with start_as_is(broken("plain-django-asgi", tmp_path), tmp_path) as server:
        status, log = refused_handshake(server)
        assert page_status(server) == 200, "pages work"
    assert status == 500
    assert (
        "ValueError: Django can only handle ASGI/HTTP connections, not websocket."
        in log
    )
    assert anchors(log) == ["plain-django-asgi"]


def test_no_websocket_router(tmp_path):
    with start_as_is(broken("no-websocket-router", tmp_path), tmp_path) as server:
        status, log = refused_handshake(server)
    assert status == 500
    assert "No application configured for scope type 'websocket'" in log
    assert anchors(log) == ["no-websocket-router"]


def test_no_route_found(tmp_path):
    with start_as_is(broken("no-route-found", tmp_path), tmp_path) as server:
        status, log = refused_handshake(server)
    assert status == 500
    assert "ValueError: No route found for path 'ws/chat/lobby/'." in log
    assert anchors(log) == ["no-route-found"]


def test_redis_not_running(tmp_path):
    with (
        nowhere() as down,
        start(3, tmp_path, redis_url=down.url()) as server,
    ):
        status, log = refused_handshake(server)
    assert status == 500
    assert "Starting ASGI/Daphne" in log, "the server starts as if nothing were wrong"
    assert (
        f"ConnectionError: Error 111 connecting to {down.address}. "
        "Connect call failed" in log
    )
    assert anchors(log) == ["redis-not-running"]


def test_sync_consumer_without_async_to_sync(tmp_path, monkeypatch):
    stage = broken("sync-consumer-without-async-to-sync", tmp_path)
    # As the learner runs it: the socket opens, the message goes nowhere, and
    # the log says nothing (Daphne sends Python's warnings to its silenced log).
    with start_as_is(stage, tmp_path) as server, connect(server) as alice:
        alice.send_message("hello")
        with pytest.raises(TimeoutError):
            alice.receive_json(timeout=SILENCE)
        log = server.log()
    assert "WebSocket CONNECT /ws/chat/lobby/" in log
    assert "never awaited" not in log
    # With warnings turned into errors, Python names the call.
    monkeypatch.setenv("PYTHONWARNINGS", "error::RuntimeWarning")
    with (
        start_as_is(stage, tmp_path, name="warnings") as server,
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
    stage = broken("apps-not-loaded", tmp_path)
    # runserver sets Django up before it imports asgi.py: it hides the mistake.
    with start_as_is(stage, tmp_path) as server, connect(server) as alice:
        alice.send_message("hello")
        assert alice.receive_json() == {"message": "hello"}
    # Any other ASGI server imports asgi.py first, and fails.
    output = daphne_refuses_to_start(stage)
    assert (
        "django.core.exceptions.AppRegistryNotReady: Apps aren't loaded yet." in output
    )
    assert anchors(output) == ["apps-not-loaded"]


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
        problems, log = burst_over_default_capacity(server, server.log)
    assert problems, "a burst over the default capacity loses messages"
    assert_no_traceback(log)  # and says nothing
    assert "ChannelFull" not in log


def test_too_many_redis_connections(tmp_path, redis_server):
    # The tutorial's own code, with redis-py's default pool of 100 connections.
    with start(3, tmp_path, redis_url=redis_server.url()) as server:
        posting_over_the_redis_pool(server, redis_server.url(), patience=SILENCE)
        log = wait_for_log(server, "MaxConnectionsError")
    assert "MaxConnectionsError: Too many connections" in log
    assert anchors(log) == ["too-many-redis-connections"]


@pytest.mark.waits(8)
def test_quiet_socket_closes_after_5_s(tmp_path, redis_server):
    # Part 3 as a learner has it, its CHANNEL_LAYERS pointed at this run's
    # Redis, and a copy with the entry's fix, both quiet from the start.
    def on_this_redis(name, host):
        project = copy_stage(3, tmp_path / name)
        edit(project, SETTINGS, '("127.0.0.1", 6379)', host)
        return Stage(3, OWN_SETTINGS, project)

    url = repr(redis_server.url())
    tutorial = on_this_redis("tutorial", url)
    fixed = on_this_redis("fixed", f'{{"address": {url}, "socket_timeout": 10}}')
    with (
        start_as_is(tutorial, tmp_path, "tutorial") as server,
        start_as_is(fixed, tmp_path, "fixed") as fixed_server,
        connect(server) as alice,
        connect(fixed_server) as carol,
    ):
        with pytest.raises(TimeoutError):  # nothing comes, nothing closes
            carol.receive_json(timeout=REDIS_PY_REPLY_TIMEOUT + PROMPT)
        with pytest.raises(ConnectionClosed) as closed:
            alice.receive_json(timeout=WAIT)
        carol.send_message("still here")
        assert carol.receive_json() == {"message": "still here"}
        log = wait_for_log(server, "TimeoutError: Timeout reading from")
    assert closed.value.rcvd.code == 1011  # the server failed
    assert anchors(log) == ["quiet-socket-closes-after-5-s"]
    assert "Timeout reading" not in fixed_server.log()


def test_auth_middleware_without_session(tmp_path):
    stage = broken("auth-middleware-without-session", tmp_path)
    with start_as_is(stage, tmp_path) as server:
        status, log = refused_handshake(server)
    assert status == 500
    assert (
        "ValueError: AuthMiddleware cannot find session in scope. "
        "SessionMiddleware must be above it." in log
    )
    assert anchors(log) == ["auth-middleware-without-session"]


def test_channel_layers_missing(tmp_path):
    with start_as_is(broken("channel-layers-missing", tmp_path), tmp_path) as server:
        status, log = refused_handshake(server)
    assert status == 500
    assert "AttributeError: 'NoneType' object has no attribute 'group_add'" in log
    assert anchors(log) == ["channel-layers-missing"]


def test_channel_layer_backend_not_importable(tmp_path):
    stage = broken("channel-layer-backend-not-importable", tmp_path)
    with start_as_is(stage, tmp_path) as server:
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
    with start_as_is(broken("origin-not-allowed", tmp_path), tmp_path) as server:
        status, log = refused_handshake(server)
    assert status == 403
    assert "WebSocket REJECT /ws/chat/lobby/" in log
    assert_no_traceback(log)
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
    assert_no_traceback(log)  # and not a word of why
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
