"""TROUBLESHOOTING.md, reproduced: each mistake made in a copy of a stage, and
the symptom the guide describes asserted, so that the guide stays true.

Every section of the guide has an `<a id="...">`; the test for it is named
`test_` plus that id with underscores, and the symptom it asserts is one that
shared_tests/troubleshooting.py recognises, which is how `make check` points a
learner to the right section.
"""

import re
import subprocess
import sys
import time
from contextlib import ExitStack

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from shared_tests.clients import room_connection
from shared_tests.servers import free_port, stage_environment, start_stage
from shared_tests.stages import REPO
from shared_tests.troubleshooting import GUIDE, PROBLEMS, anchors
from shared_tests.variants import copy_stage, edit, edit_pattern

SILENCE = 0.5  # seconds without a message after which a missing one is lost


def start(folder, tmp_path, redis_url=None, name="runserver"):
    return start_stage(folder, tmp_path / f"{name}.log", redis_url)


def connect(server, room="lobby"):
    return room_connection(server.port, room)


def wait_for_log(server, text, timeout=5):
    """Wait until the server's log shows text; return the log."""
    deadline = time.monotonic() + timeout
    while text not in server.log():
        if time.monotonic() > deadline or server.process.poll() is not None:
            raise AssertionError(
                f"{server.name} never logged {text!r}:\n{server.log()}"
            )
        try:  # pause by waiting on the process, as servers.py does
            server.process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            pass
    return server.log()


def refused_handshake(server):
    """Open a socket that the server refuses: its HTTP status, and the log once
    the server has finished with it (and said why)."""
    with pytest.raises(InvalidStatus) as refused:
        with connect(server):
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
    with start(project, tmp_path) as server:
        with pytest.raises(InvalidStatus) as refused:
            with connect(server):
                pass
        log = server.log()
    assert refused.value.response.status_code == 404
    assert "Starting development server at" in log
    assert "ASGI/Daphne" not in log
    assert '"GET /ws/chat/lobby/ HTTP/1.1" 404' in log
    assert anchors(log) == ["daphne-not-installed"]


def test_no_websocket_router(tmp_path):
    project = copy_stage(2, tmp_path)
    edit(
        project, "mysite/asgi.py", '        "websocket": ', '        "not-websocket": '
    )
    with start(project, tmp_path) as server:
        status, log = refused_handshake(server)
    assert status == 500
    assert "No application configured for scope type 'websocket'" in log
    assert anchors(log) == ["no-websocket-router"]


def test_no_route_found(tmp_path):
    project = copy_stage(2, tmp_path)
    # The learner's routing.py: the tutorial's, with a leading slash as in the
    # page's URL (routes match the path without it).
    (project / "chat/routing.py").write_text(
        "from django.urls import re_path\n\nfrom . import consumers\n\n"
        "websocket_urlpatterns = [\n"
        '    re_path(r"/ws/chat/(?P<room_name>\\w+)/$", consumers.ChatConsumer.as_asgi()),\n'
        "]\n"
    )
    with start(project, tmp_path) as server:
        status, log = refused_handshake(server)
    assert status == 500
    assert "ValueError: No route found for path 'ws/chat/lobby/'." in log
    assert anchors(log) == ["no-route-found"]


def test_redis_not_running(tmp_path):
    closed_port = free_port()  # nothing listens there
    redis_url = f"redis://127.0.0.1:{closed_port}/0"
    with start(REPO / "part_3", tmp_path, redis_url) as server:
        with connect(server) as client:
            error = client.receive_json()["error"]
            with pytest.raises(ConnectionClosed):
                client.receive_json()
        log = wait_for_log(server, "WebSocket DISCONNECT")
    assert "cannot reach its channel layer (Redis)" in error
    assert "Starting ASGI/Daphne" in log, "the server starts as if nothing were wrong"
    assert (
        f"the channel layer failed: ConnectionError: Error 111 connecting to "
        f"127.0.0.1:{closed_port}. Connect call failed" in log
    )
    assert "Traceback" not in log
    assert anchors(log) == ["redis-not-running"]


def test_room_name_not_ascii(tmp_path):
    project = copy_stage(3, tmp_path)
    # The tutorial's route, whatever the stage has: \w matches any letter.
    edit_pattern(
        project, "chat/routing.py", r"\(\?P<room_name>.*\)/\$", r"(?P<room_name>\w+)/$"
    )
    with start(project, tmp_path) as server:
        with pytest.raises(InvalidStatus) as refused:
            with connect(server, room="über"):
                pass
        log = wait_for_log(server, "WebSocket DISCONNECT")
    assert refused.value.response.status_code == 500
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
    with start(project, tmp_path) as server, connect(server) as alice:
        alice.send_message("hello")
        with pytest.raises(TimeoutError):
            alice.receive_json(timeout=SILENCE)
        log = server.log()
    assert "WebSocket CONNECT /ws/chat/lobby/" in log
    assert "never awaited" not in log
    # With warnings turned into errors, Python names the call.
    monkeypatch.setenv("PYTHONWARNINGS", "error::RuntimeWarning")
    with start(project, tmp_path, name="warnings") as server, connect(server) as bob:
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
    edit(
        project,
        "mysite/settings.py",
        '        "TEST": {\n            "NAME": BASE_DIR / "db_test.sqlite3",\n        },\n',
        "",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "test", "chat.tests"],
        cwd=project,
        env=stage_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert (
        "django.core.exceptions.ImproperlyConfigured: ChannelLiveServerTestCase "
        "can not be used with in memory databases" in result.stderr
    )
    assert anchors(result.stderr) == ["live-server-in-memory-database"]


def test_apps_not_loaded(tmp_path):
    project = copy_stage(2, tmp_path)
    routing_import = "from chat.routing import websocket_urlpatterns  # noqa: E402\n"
    edit(project, "mysite/asgi.py", routing_import, "")
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
    with start(project, tmp_path) as server, connect(server) as alice:
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
        env=stage_environment(),
        capture_output=True,
        text=True,
        timeout=30,
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
            start(REPO / "part_3", tmp_path, redis_url, name=f"{name}-1") as first,
            start(REPO / "part_3", tmp_path, redis_url, name=f"{name}-2") as second,
            connect(first, "across") as alice,
            connect(second, "across") as bob,
        ):
            alice.send_message("hello from server 1")
            assert alice.receive_json() == {"message": "hello from server 1"}
            return receive_all([bob], expected=1)[0]

    # On the in-memory layer each process has a chat of its own.
    assert alice_and_bob_on_two_servers(None, "memory") == 0
    # On Redis the two processes share one.
    redis_url = f"redis://127.0.0.1:{redis_server.port}/0"
    assert alice_and_bob_on_two_servers(redis_url, "redis") == 1


def test_channel_capacity(tmp_path):
    project = copy_stage(3, tmp_path)
    # The default capacity, whatever the stage sets: 100 messages per channel.
    with open(project / "mysite/settings.py", "a") as settings:
        settings.write(
            '\nCHANNEL_LAYERS["default"]["CONFIG"] = '
            '{**CHANNEL_LAYERS["default"].get("CONFIG", {}), "capacity": 100}\n'
        )
    clients_count, messages_each = 30, 20
    with start(project, tmp_path) as server, ExitStack() as stack:
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
    assert "Traceback" not in log and "ChannelFull" not in log, "and says nothing"


def test_too_many_redis_connections(tmp_path, redis_server):
    project = copy_stage(3, tmp_path)
    # redis-py's default pool, whatever the stage sets: hosts is the bare URL.
    with open(project / "mysite/settings.py", "a") as settings:
        settings.write(
            '\nif REDIS_URL:\n    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = '
            "[REDIS_URL]\n"
        )
    redis_url = f"redis://127.0.0.1:{redis_server.port}/0"
    # The server stops first, so that the clients need no closing handshake.
    with ExitStack() as stack, start(project, tmp_path, redis_url) as server:
        # Each in a room of its own: 120 consumers, each waiting on Redis.
        crowd = [
            stack.enter_context(connect(server, f"crowd{number}"))
            for number in range(120)
        ]
        for client in crowd:
            client.send_message("hello")
        log = wait_for_log(server, "MaxConnectionsError")
    # The stages close such a socket cleanly (chat/layer_errors.py) and log
    # the error in one line; the tutorial's code logs it in a traceback.
    assert "MaxConnectionsError: Too many connections" in log
    assert anchors(log) == ["too-many-redis-connections"]
