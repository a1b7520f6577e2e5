"""Part 5 served as `make serve` serves it: nginx on one port, in front of two
uvicorn processes on one Redis, with DEBUG=False (harness/serving.py).

These tests are about that arrangement, this repository's own (part_5's
nginx.conf and production settings, and the tool that runs them), so they run
with `make test` only: starting nginx, uvicorn processes and Redis for them
costs about a fifth of what `make test-part-5` would take. A learner's project,
which `make check` tests, has none of it."""

import inspect
import re
import subprocess
import sys
import urllib.request
from urllib.error import HTTPError

import pytest
import uvicorn
from websockets.exceptions import ConnectionClosed

from harness.clients import room_connection
from harness.servers import StageUrls
from harness.serving import (
    nginx_binary,
    production_environment,
    serve,
    uvicorn_command,
)
from harness.stages import BEYOND_PART, stage_folder
from harness.waiting import SCALE, SUBPROCESS, WAIT, wait_for
from shared_tests.logs import assert_no_traceback
from shared_tests.malformed import INVALID_DATA, MALFORMED_FRAMES, send_malformed_frame

pytestmark = pytest.mark.repository

# nginx's proxy_read_timeout for sockets, shortened from an hour so that a test
# can stay quiet for longer; the uvicorn processes ping well within it.
READ_TIMEOUT = 1 * SCALE
PING_INTERVAL = READ_TIMEOUT / 4


def serve_for_tests(folder, **options):
    if not nginx_binary():
        pytest.skip("needs nginx: `make test` installs it, or apt-get install nginx")
    return serve(
        folder,
        ws_read_timeout=f"{int(READ_TIMEOUT * 1000)}ms",
        ws_ping_interval=PING_INTERVAL,
        **options,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with serve_for_tests(tmp_path_factory.mktemp("served")) as arrangement:
        yield arrangement


def fetch(url):
    with urllib.request.urlopen(url, timeout=WAIT) as response:
        return response.headers["Content-Type"], response.read().decode()


def test_two_browsers_chat_through_nginx_each_served_by_its_own_process(
    served, open_window_on
):
    room = "served_by_two"
    alice = open_window_on(served)
    alice.open_room(room)
    wait_for(lambda: served.processes_serving(room), "no process logged alice's socket")
    bob = open_window_on(served)
    bob.open_room(room)
    serving = wait_for(
        lambda: (
            len(served.processes_serving(room)) == 2 and served.processes_serving(room)
        ),
        "the processes' logs did not show two sockets accepted",
    )
    assert set(serving) == set(served.asgi), (
        "nginx should give bob's socket to the process alice's does not hold "
        f"(least_conn); sockets accepted by: {[process.name for process in serving]}"
    )
    alice.post("Hello from process one")
    bob.wait_for_lines(["Hello from process one"], "bob")
    bob.post("Hello from process two")
    for window, who in ((alice, "alice"), (bob, "bob")):
        window.wait_for_lines(["Hello from process one", "Hello from process two"], who)


def test_static_files_load_from_nginx_with_debug_off(served):
    content_type, login_page = fetch(served.page_url("/admin/login/"))
    stylesheets = re.findall(
        r'<link rel="stylesheet" href="(/static/[^"]+)"', login_page
    )
    assert stylesheets, "the admin's login page links its stylesheets"
    for path in stylesheets:
        content_type, css = fetch(served.page_url(path))
        assert content_type == "text/css", path
        assert css, path
    # The ASGI process itself serves none (DEBUG=False): nginx did.
    process = StageUrls(served.asgi[0].port)
    with pytest.raises(HTTPError) as not_found:
        fetch(process.page_url(stylesheets[0]))
    assert not_found.value.code == 404
    assert "DEBUG = True" not in not_found.value.read().decode(), (
        "Django's technical 404 page: the processes run with DEBUG=True"
    )


def test_a_quiet_socket_outlives_the_proxys_read_timeout(served):
    quiet = 2 * READ_TIMEOUT
    with room_connection(served, "quiet") as client:
        try:
            client.socket.recv(timeout=quiet)
        except TimeoutError:
            pass  # nothing came, and the socket is still open
        except ConnectionClosed:
            pytest.fail(
                f"nginx closed a socket quiet for {quiet:g} s (proxy_read_timeout "
                f"{READ_TIMEOUT:g} s): the server's pings should have kept it open"
            )
        client.send_message("still here")
        assert client.receive_messages(1) == ["still here"]


@pytest.mark.slow
def test_a_killed_process_sends_its_clients_to_the_other_and_nobody_loses_a_message(
    tmp_path, open_window_on
):
    room = "survivors"
    with serve_for_tests(tmp_path) as served:
        alice = open_window_on(served)
        alice.open_room(room)
        (alices_process,) = wait_for(
            lambda: served.processes_serving(room), "no process logged alice's socket"
        )
        bob = open_window_on(served)
        bob.open_room(room)
        wait_for(
            lambda: len(served.processes_serving(room)) == 2,
            "no process logged bob's socket",
        )
        (bobs_process,) = set(served.asgi) - {alices_process}
        alice.post("before")
        bob.wait_for_lines(["before"], "bob")

        alices_process.kill()  # a crash: no close frame, nginx drops her socket
        bob.post("while alice is away")
        # Her page says so only until it reconnects, half a second later: what
        # it says is test_the_page_reconnects_when_the_server_is_back's to show.
        wait_for(
            lambda: served.processes_serving(room).count(bobs_process) == 2,
            f"alice's page did not reconnect through nginx to {bobs_process.name}:\n"
            + alice.find("#chat-status").text,
        )
        alice.wait_until_connected()
        alice.post("back")
        bob.wait_for_lines(["before", "while alice is away", "back"], "bob")
        bob.post("welcome back")
        alice.wait_until(
            lambda: alice.chat_lines()[-2:] == ["back", "welcome back"],
            f"alice, reconnected, shows {alice.chat_lines()}",
        )
        assert bob.find("#chat-status").text == "", "bob's socket never closed"


# Where uvicorn answers otherwise than runserver. websockets 17.4, whose
# protocol uvicorn runs, fails a connection whose close frame comes between
# the fragments of a message ("incomplete fragmented message", 1002), where
# RFC 6455 allows it (5.4) and Daphne echoes the client's code, as is usual
# (5.5.1); either way the close is answered and nothing is logged.
UVICORN_ANSWERS = {"a close in the middle of a fragmented message": 1002}
# What part 5 logs instead of uvicorn's traceback (chat/uvicorn_logs.py).
INVALID_UTF8_LINE = "Invalid UTF-8 sequence received from client ("


@pytest.mark.parametrize("name", MALFORMED_FRAMES)
def test_a_malformed_frame_gets_the_close_code_rfc_6455_asks_for_under_uvicorn(
    served, name
):
    """The frames of test_hostile.py's test of the same name, through nginx to
    the uvicorn processes as `make serve` runs them."""
    build, code = MALFORMED_FRAMES[name]
    starts = {process: len(process.log()) for process in served.asgi}
    closed, still_chatting = send_malformed_frame(served, build)
    logs = "".join(process.log()[start:] for process, start in starts.items())
    assert_no_traceback(logs)
    assert still_chatting, "the others in the room should chat on"
    assert closed, "the offender should get a close frame"
    assert closed[0] == UVICORN_ANSWERS.get(name, code)
    if code == INVALID_DATA:  # said in one line, so the filter is still needed
        assert INVALID_UTF8_LINE in logs, logs


@pytest.fixture(scope="module")
def served_over_https(tmp_path_factory):
    # One ASGI process: what is tested here is TLS, in nginx and in the page.
    https = tmp_path_factory.mktemp("https")
    with serve_for_tests(https, tls=True, processes=1) as arrangement:
        yield arrangement


@pytest.mark.browser
def test_a_browser_chats_over_wss_when_the_page_is_https(
    served_over_https, open_window_on
):
    room = "over_tls"
    alice = open_window_on(served_over_https)
    bob = open_window_on(served_over_https)
    for window in alice, bob:
        window.open_room(room)
        assert window.script("return chatSocket.url") == (
            served_over_https.socket_url(room)
        ), "the https page should open its socket with wss://"
    assert served_over_https.socket_url(room).startswith("wss://")
    alice.post("Over TLS")
    bob.wait_for_lines(["Over TLS"], "bob")


def test_check_deploy_leaves_only_what_the_domain_owner_decides(tmp_path):
    """With make serve TLS=1's settings, `check --deploy` asks only about HSTS
    for subdomains and browsers' preload list: choices about a real domain."""
    env = production_environment("https://127.0.0.1", {}, tmp_path, tls=True)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=stage_folder(BEYOND_PART),
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS,
    )
    assert result.returncode == 0, result.stderr
    warnings = set(re.findall(r"\((security\.W\d+)\)", result.stdout + result.stderr))
    assert warnings == {"security.W005", "security.W021"}, result.stderr


def options(command):
    """A command line's options after the application, by name (True for a flag)."""
    words = command[command.index("mysite.asgi:application") + 1 :]
    found = {}
    for word, following in zip(words, [*words[1:], "--"], strict=True):
        if word.startswith("--"):
            found[word] = following if not following.startswith("--") else True
    return found


def test_deploy_md_runs_uvicorn_as_make_serve_does():
    """DEPLOY.md's systemd line passes the options make serve passes: its own
    port aside, and the ping interval, uvicorn's default, which make serve
    passes because the tests shorten it."""
    deploy = (stage_folder(BEYOND_PART) / "DEPLOY.md").read_text()
    (line,) = re.findall(r"^ExecStart=\S+/uvicorn (.+)$", deploy, re.MULTILINE)
    documented, served = options(line.split()), options(uvicorn_command(8001))
    assert documented.pop("--port") == "%i"
    assert served.pop("--port") == "8001"
    uvicorns_own = inspect.signature(uvicorn.Config).parameters["ws_ping_interval"]
    assert float(served.pop("--ws-ping-interval")) == uvicorns_own.default
    assert documented == served
