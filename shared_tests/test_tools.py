"""The learners' tools that start servers: they work, and stop what they start."""

import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest

from harness.browser import headless_shell
from harness.clients import room_connection
from harness.redis import TUTORIAL_PORT, answers_ping
from harness.servers import StageUrls, is_listening
from harness.serving import nginx_binary
from harness.stages import REPO
from harness.waiting import SERVER_STOP, wait_for

pytestmark = pytest.mark.repository


@contextmanager
def running_tool(*arguments, wait=SERVER_STOP * 3):
    """Run `python -m tools.<arguments>` until it prints its "Open ..." line;
    yield what it printed, then stop it as Ctrl-C does and wait for it."""
    command = [sys.executable, "-m", *arguments]
    tool = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        printed = []
        for line in tool.stdout:
            printed.append(line)
            if line.startswith("Open "):
                break
        yield "".join(printed)
    finally:
        tool.send_signal(signal.SIGINT)
        try:
            tool.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            tool.terminate()  # the tools stop what they started on SIGTERM too
            after, _ = tool.communicate(timeout=wait)
            pytest.fail(f"{arguments[0]} still ran {wait:g} s after Ctrl-C: {after!r}")


def test_make_run_cluster_serves_one_chat_from_two_processes():
    with running_tool("tools.cluster", "--part", "5", "--port", "0") as printed:
        # One URL per process.
        ports = [int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)/chat/", printed)]
        assert len(ports) == 2, f"expected two server URLs, got {printed}"
        first, second = (StageUrls(port) for port in ports)
        with (
            room_connection(first, "cluster") as alice,
            room_connection(second, "cluster") as bob,
        ):
            alice.send_message("across processes")
            assert bob.receive_messages(1) == ["across processes"]
    left = [port for port in ports if is_listening(port)]
    assert not left, f"the cluster left servers on {left}"


@pytest.mark.xdist_group("port-6379")  # shared_tests/test_check.py uses it too
def test_the_tutorials_redis_runs_for_a_command_and_stops_after():
    if is_listening(TUTORIAL_PORT):
        pytest.skip("a server already listens on 6379; the tool would reuse it")
    script = "from harness.redis import answers_ping; print(answers_ping(6379))"
    result = subprocess.run(
        [sys.executable, "-m", "tools.redis", "--", sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=SERVER_STOP * 4,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "Redis on redis://127.0.0.1:6379/0 (started for this command)" in result.stdout
    )
    assert result.stdout.rstrip().endswith("True"), "the command saw Redis on 6379"
    wait_for(lambda: not answers_ping(TUTORIAL_PORT), "Redis on 6379 was stopped")


@pytest.mark.xdist_group("port-6379")
def test_something_else_on_6379_is_named_in_one_line():
    if is_listening(TUTORIAL_PORT):
        pytest.skip("a server already listens on 6379")
    with socket.create_server(("127.0.0.1", TUTORIAL_PORT)) as impostor:
        impostor.listen()
        result = subprocess.run(
            [sys.executable, "-m", "tools.redis", "--", "true"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=SERVER_STOP * 4,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Port 6379 is taken by something that is not Redis: stop it, or the "
        "tutorial's CHANNEL_LAYERS cannot reach Redis there."
    ]


@pytest.mark.skipif(sys.platform != "linux", reason="the advice is Debian's")
def test_preflight_names_the_missing_browser_in_one_line_when_it_cannot_install(
    tmp_path,
):
    """A machine where apt-get cannot be run, with no browser where Selenium
    Manager looks: one line that names the install command, well within 5 s."""
    environment = {
        "PATH": str(tmp_path),  # nothing there: no apt-get, no chromedriver
        "HOME": str(tmp_path),
        "SE_BROWSER_PATH": "/nowhere/chromium",
        "SE_OFFLINE": "true",
        "SE_AVOID_STATS": "true",
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "tools.preflight", "--skip", "nginx"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SERVER_STOP * 3,
    )
    assert time.monotonic() - started < 5
    assert result.returncode == 1, result.stderr
    message = result.stderr.strip().splitlines()
    assert len(message) == 1, message
    assert "Install with: sudo apt-get install chromium chromium-driver" in message[0]


def test_make_serve_serves_the_chat_through_nginx_and_ctrl_c_stops_it_all():
    if not nginx_binary():
        pytest.skip("needs nginx: `make test` installs it, or apt-get install nginx")
    with running_tool("tools.serve", "--port", "0") as printed:
        # Redis, two uvicorn processes, then nginx, whose port "Open ..." repeats.
        found = re.findall(r"(?:127\.0\.0\.1:|port )(\d+)", printed)
        ports = [int(port) for port in found]
        entry = StageUrls(ports[-1])
        with (
            room_connection(entry, "served") as alice,
            room_connection(entry, "served") as bob,
        ):
            alice.send_message("through nginx")
            assert bob.receive_messages(1) == ["through nginx"]
    assert len(set(ports)) == 4, f"Redis, two uvicorn and nginx: {ports}"
    left = [port for port in set(ports) if is_listening(port)]
    assert not left, f"make serve left servers on {left}"


@pytest.mark.xdist_group("port-6379")
def test_a_group_of_tests_reaches_pytest_xdist_as_one(request):
    """The suite's groups (one per stage, and port 6379's) hold only if
    pytest-xdist sees them: it marks each grouped test's id with @group."""
    if not hasattr(request.config, "workerinput"):
        pytest.skip("runs on one process: no groups to keep")
    assert request.node.nodeid.endswith("@port-6379"), request.node.nodeid


@pytest.mark.skipif(not headless_shell(), reason="no Chrome headless shell here")
def test_the_suite_drives_chromes_headless_shell_where_there_is_one(browser):
    # A fifth of Chrome's CPU time to start, a seventh to open a tab.
    assert browser.capabilities["browserName"] == "chrome-headless-shell"
