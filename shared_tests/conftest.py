"""The shared suite's fixtures: which stage runs, its server, Redis, the browser.

`pytest` runs every test against every stage it applies to, on both channel
layers; `--part N` and `--layer NAME` narrow that down. A test says which
stages it is about with a marker:

- `since_part(n)`: behaviour that part n adds; runs against part n and later.
- `before_part(n)`: the same behaviour checked absent; runs against earlier parts.
- `layer(name)`: about one channel layer only ("redis" or "memory").
- `any_layer`: does not involve the channel layer; runs once per part.
"""

import re
from contextlib import ExitStack
from pathlib import Path

import pytest

from shared_tests.browser import ChatWindow, new_profile_dir, start_chromium
from shared_tests.clients import PAGE_ORIGIN, room_connection
from shared_tests.servers import start_redis, start_stage
from shared_tests.stages import LAYERS, PARTS, REPO, stages

ARTIFACTS = REPO / "test-artifacts"


def pytest_configure(config):
    for line in (
        "since_part(n): behaviour that part n adds; runs against part n and later",
        "before_part(n): behaviour that part n adds, checked absent before part n",
        "layer(name): about one channel layer only; runs on that layer alone",
        "any_layer: does not involve the channel layer; runs once per part",
        "browser: drives headless Chromium (deselect with -m 'not browser')",
    ):
        config.addinivalue_line("markers", line)


def pytest_generate_tests(metafunc):
    """Run each test that takes `stage` against every stage its markers allow."""
    if "stage" not in metafunc.fixturenames:
        return
    config = metafunc.config
    parts = config.getoption("part") or PARTS
    since = metafunc.definition.get_closest_marker("since_part")
    before = metafunc.definition.get_closest_marker("before_part")
    if since:
        parts = [part for part in parts if part >= since.args[0]]
    if before:
        parts = [part for part in parts if part < before.args[0]]
    layers = config.getoption("layer") or LAYERS
    selected = list(stages(parts, layers, config.getoption("project")))
    if metafunc.definition.get_closest_marker("any_layer"):
        # Once per part is enough: on the first layer asked for (in-memory by
        # default), or on whatever a learner's own project configures.
        first_of_part = {}
        for stage in selected:
            first_of_part.setdefault(stage.part, stage)
        selected = list(first_of_part.values())
    only = metafunc.definition.get_closest_marker("layer")
    if only:  # part 1, which has no layer yet, counts as "memory"
        selected = [stage for stage in selected if stage.layer == only.args[0]]
    metafunc.parametrize("stage", selected, ids=str, scope="session")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
    # A test about other parts than those asked for (--part) has no stage to
    # run against: deselect it rather than report it as skipped.
    elsewhere = [
        item
        for item in items
        if "empty parameter set" in str(item.get_closest_marker("skip"))
    ]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if item not in elsewhere]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test, for the failure artifacts below."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def failed(request) -> bool:
    report = getattr(request.node, "report_call", None)
    return report is None or report.failed


def artifact_path(request, suffix) -> Path:
    name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{name}{suffix}"


# --- servers ---


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real Redis server, started for this test run on a free local port."""
    with start_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(stage, request):
    """The REDIS_URL the stage runs with: None means the in-memory layer."""
    if stage.layer != "redis":
        return None
    redis = request.getfixturevalue("redis_server")
    return f"redis://127.0.0.1:{redis.port}/0"


@pytest.fixture(scope="session")
def server(stage, redis_url, tmp_path_factory):
    """The stage's own server, started once for all the tests of that stage."""
    log_path = tmp_path_factory.mktemp(str(stage)) / "runserver.log"
    with start_stage(stage.folder, log_path, redis_url) as running:
        yield running


@pytest.fixture
def server_log(server, request):
    """The part of the server's log written during this test, printed on failure."""
    start = len(server.log())
    yield lambda: server.log()[start:]
    if failed(request):
        print(f"\n--- {server.name} log during this test ---\n{server.log()[start:]}")


# --- the browser ---


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run; each test opens its own windows."""
    with new_profile_dir() as profile_dir:
        driver = start_chromium(profile_dir)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture
def open_window_on(browser, request):
    """Open a new browser window on any server: `open_window_on(base_url)`."""
    windows = []

    def open_new(base_url):
        window = ChatWindow(browser, base_url)
        windows.append(window)
        return window

    yield open_new
    if failed(request):
        save_browser_artifacts(browser, windows, request)
    for window in windows:
        window.close()
    browser.switch_to.window(browser.window_handles[0])


@pytest.fixture
def open_window(open_window_on, server, server_log):
    """Open a new browser window on the stage: `alice = open_window()`."""
    return lambda: open_window_on(server.base_url)


def save_browser_artifacts(browser, windows, request):
    for number, window in enumerate(windows, start=1):
        browser.switch_to.window(window.handle)
        screenshot = artifact_path(request, f"-window{number}.png")
        browser.save_screenshot(str(screenshot))
        console = artifact_path(request, f"-window{number}-console.log")
        console.write_text(
            "\n".join(
                f"{entry['level']} {entry['message']}"
                for entry in browser.get_log("browser")
            )
        )
        print(f"\nwindow {number}: screenshot {screenshot}, console log {console}")


# --- WebSocket clients ---


@pytest.fixture
def chat_client(server, server_log):
    """Connect a WebSocket client to a room, with the page's own Origin."""
    with ExitStack() as open_clients:

        def connect_to(room_name, origin=PAGE_ORIGIN):
            connection = room_connection(server.port, room_name, origin)
            return open_clients.enter_context(connection)

        yield connect_to
