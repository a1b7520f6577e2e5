"""TROUBLESHOOTING.md, reproduced: each mistake made in a copy of a stage, and
the symptom the guide describes asserted, so that the guide stays true.

Every section of the guide has an `<a id="...">`; the test for it is named
`test_` plus that id with underscores, and the symptom it asserts is one that
tools/troubleshooting.py recognises, which is how `make check` points a
learner to the right section.
"""

import re
import subprocess
import sys
from contextlib import ExitStack

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from harness.clients import room_connection
from harness.projects import copy_stage, edit
from harness.redis import nowhere
from harness.servers import free_port, start_stage
from harness.stages import Stage
from harness.waiting import SILENCE, SUBPROCESS, wait_for
from tools.troubleshooting import GUIDE, PROBLEMS, anchors

pytestmark = pytest.mark.repository


def start(part, tmp_path, folder=None, redis_url=None, name="runserver"):
    """Run part N (or a copy of it, with a mistake) on the in-memory layer, or
    on Redis at redis_url, as the suite runs the stage itself."""
    stage = Stage(part, "redis" if redis_url else "memory", copy=folder)
    return start_stage(stage, tmp_path / f"{name}.log", redis_url)


def connect(server, room="lobby"):
    return room_connection(server, room)


def wait_for_log(server, text):
    """Wait until the server's log shows text; return the log."""
    wait_for(lambda: text in server.log(), f"{server.name} never logged {text!r}")
    return server.log()


def refused_handshake(server, room="lobby"):
    """Open a socket that the server refuses: its HTTP status, and the log once
    the server has finished with it (and said why)."""
    with pytest.raises(InvalidStatus) as refused, connect(server, room):
        pass
    return refused.value.response.status_code, wait_for_log(
        server, "WebSocket DISCONNECT"
    )


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


def test_every_section_of_the_guide_has_a_test_and_a_known_symptom():
    sections = re.findall(r'<a id="([\w-]+)"></a>', GUIDE.read_text())
    tests = {name for name in globals() if name.startswith("test_")}
    untested = [a for a in sections if f"test_{a.replace('-', '_')}" not in tests]
    assert not untested, f"TROUBLESHOOTING.md sections without a test: {untested}"
    unknown = [p.anchor for p in PROBLEMS if p.anchor not in sections]
    assert not unknown, f"troubleshooting.py names sections the guide lacks: {unknown}"


def test_daphne_not_installed(tmp_path):
    project = copy_stage(2, tmp_path)
    edit(project, "mysite/settings.py", '    "daphne",\n', "")
    with start(2, tmp_path, project) as server:
        with pytest.raises(InvalidStatus) as refused, connect(server):
            pass
        log = wait_for_log(server, '"GET /ws/chat/lobby/ HTTP/1.1" 404')
    assert refused.value.response.status_code == 404
    assert "Starting development server at" in log
    assert "ASGI/Daphne" not in log
    assert anchors(log) == ["daphne-not-installed"]


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


def test_room_name_not_ascii(tmp_path):
    # The tutorial's own code: its route \w+ matches any letter.
    with start(3, tmp_path) as server:
        status, log = refused_handshake(server, room="über")
    assert status == 500
    assert (
        "TypeError: Group name must be a valid unicode string with length < 100 "
        "containing only ASCII alphanumerics, hyphens, underscores, or periods" in log
    )
    assert anchors(log) == ["room-name-not-ascii"]


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
    clients_count, messages_each = 30, 20
    with start(3, tmp_path) as server, ExitStack() as stack:
        clients = [
            stack.enter_context(connect(server, "burst")) for _ in range(clients_count)
        ]
        for number in range(messages_each):
            for client in clients:
                client.send_message(f"message {number}")
        received = receive_all(clients, expected=clients_count * messages_each)
        log = server.log()
    lost = clients_count * clients_count * messages_each - sum(received)
    assert lost > 0, "a burst over the default capacity loses messages"
    assert "Traceback" not in log, "and says nothing"
    assert "ChannelFull" not in log


def test_too_many_redis_connections(tmp_path, redis_server):
    # The tutorial's own code, with redis-py's default pool of 100 connections.
    # The server stops first, so that the clients need no closing handshake.
    with (
        ExitStack() as stack,
        start(3, tmp_path, redis_url=redis_server.url()) as server,
    ):
        # Each in a room of its own: 120 consumers, each waiting on Redis.
        crowd = [
            stack.enter_context(connect(server, f"crowd{number}"))
            for number in range(120)
        ]
        for client in crowd:
            client.send_message("hello")
        log = wait_for_log(server, "MaxConnectionsError")
    assert "MaxConnectionsError: Too many connections" in log
    assert anchors(log) == ["too-many-redis-connections"]
