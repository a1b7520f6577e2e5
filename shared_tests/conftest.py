"""The suite's fixtures and its one rule for which test runs against which stage.

A test that takes `stage` is generated once for every stage folder and layer;
its markers say which of them it is about, and the rest are deselected
(reported as deselected, never as skipped):

- `since_part(n)`: behaviour that part n adds; runs against part n and later.
- `before_part(n)`: a fact about the parts before n (part n changes it).
- `layer(name)`: needs the suite's own "redis" (or "memory") layer.
- `any_layer`: does not involve the channel layer; runs once per part.
- `repository`: about this repository, not about a learner's project:
  `make check` leaves these out. A test that takes no `stage` must carry it
  (or `in_process`), and runs only when no `--part` is given (`make test`, not
  `make test-part-N`).
- `in_process(n)`: runs part n's own code in the test's own process, with no
  server and no `stage` (shared_tests/part_5_in_process/): runs with `--part n`
  or no `--part`, as a stage on the in-memory layer does; `make check` leaves
  these out.

`patched(SETTING)` marks a test about what a module of part 5 set apart for
an upstream adds (chat/channels_patches.py, ...): with SETTING=off in the
environment, that module is switched off and the test is deselected.

`slow` marks a test that takes 3 s or more by design (servers of its own, a
flood). Slow tests start first: a worker that began one last would keep the
whole run waiting for it. `waits(seconds)` marks one that spends most of that
time waiting out a clock it is about (a timeout, a lease, a failover): those
start first too, but run one after another on a few workers, so that the
cores stay busy with the other tests meanwhile.
"""

import itertools
import os
import re
from contextlib import ExitStack
from pathlib import Path

import pytest

from harness.browser import ChatWindow, bring_to_front, new_profile_dir, start_chrome
from harness.clients import PAGE_ORIGIN, room_connection
from harness.redis import RedisNotAvailable, start_redis
from harness.servers import start_stage
from harness.stages import LAYERS, PARTS, REPO, Stage, stages

ARTIFACTS = REPO / "test-artifacts"
STAGE_MARKERS = ("since_part", "before_part", "layer", "any_layer")


def pytest_configure(config):
    for line in (
        "since_part(n): behaviour that part n adds; runs against part n and later",
        "before_part(n): a fact about the parts before n; runs against those",
        "layer(name): needs the suite's own channel layer of that name",
        "any_layer: does not involve the channel layer; runs once per part",
        "repository: about this repository itself; make check leaves it out",
        "in_process(n): runs part n's code in this process; with --part n or none",
        "browser: drives headless Chrome (deselect with -m 'not browser')",
        "slow: takes 3 s or more by design; started before the others",
        "waits(seconds): spends about that long on a clock (a timeout, a lease, "
        "a failover); such tests run in turn on a few workers, started first",
        "patched(setting): about what a patch adds; deselected when setting=off",
    ):
        config.addinivalue_line("markers", line)


def pytest_generate_tests(metafunc):
    """Every stage test is generated for every stage; selection comes later."""
    if "stage" in metafunc.fixturenames:
        project = metafunc.config.getoption("project")
        python = metafunc.config.getoption("python")
        every_stage = list(stages(project=project, python=python))
        metafunc.parametrize("stage", every_stage, ids=str, scope="session")


def shared_server_group(item, stage):
    """Servers started once and shared by many tests: the tests that use one
    run on one worker together (an xdist group), which starts it once; any
    other test runs wherever a worker is free."""
    fixtures = getattr(item, "fixturenames", ())
    if "server" in fixtures:
        return str(stage)  # the stage's own runserver
    if "served" in fixtures:
        return "served"  # part 5 behind nginx (shared_tests/test_serving.py)
    return None


def is_about(item, stage) -> bool:
    """Do the test's markers make it about this stage?"""
    since = item.get_closest_marker("since_part")
    before = item.get_closest_marker("before_part")
    only = item.get_closest_marker("layer")
    return (
        (since is None or stage.part >= since.args[0])
        and (before is None or stage.part < before.args[0])
        and (only is None or stage.layer == only.args[0])
    )


def is_switched_off(item) -> bool:
    """Is the patch that the test is about switched off (SETTING=off)?"""
    patched = item.get_closest_marker("patched")
    return bool(patched) and os.environ.get(patched.args[0]) == "off"


def is_selected(item, stage, config) -> bool:
    """Is this stage among those the command line asked for (and the patch
    that the test is about switched on)?"""
    if is_switched_off(item):
        return False
    parts = config.getoption("part") or PARTS
    layers = config.getoption("layer") or LAYERS
    if stage.part not in parts:
        return False
    if stage.project or not stage.has_layer:
        return True
    if item.get_closest_marker("any_layer"):
        return stage.layer == layers[0]  # once per part: the first layer asked for
    return stage.layer in layers


def waits_groups(config, items):
    """The tests marked `waits`, spread over as many xdist groups as there
    are workers beyond the cores, longest first, each to the group with the
    least waiting so far. Waiting tests side by side leave the cores idle;
    one after another on a few workers, they overlap the others' work."""
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    totals = [0] * max(1, workers - (os.cpu_count() or 1))
    waiting = [item for item in items if item.get_closest_marker("waits")]
    groups = {}
    for item in sorted(waiting, key=waiting_time, reverse=True):
        least = totals.index(min(totals))
        totals[least] += waiting_time(item)
        groups[item] = f"waits-{least + 1}"
    return groups


def waiting_time(item):
    return item.get_closest_marker("waits").args[0]


@pytest.hookimpl(wrapper=True)  # around pytest's and xdist's own
def pytest_collection_modifyitems(config, items):
    kept, deselected = [], []
    for item in items:
        stage = getattr(item, "callspec", None) and item.callspec.params.get("stage")
        markers = [name for name in STAGE_MARKERS if item.get_closest_marker(name)]
        if stage is None and markers:
            raise pytest.UsageError(
                f"{item.nodeid} is marked {markers} but takes no `stage`: "
                "stage markers only apply to tests that run against a stage"
            )
        in_process = item.get_closest_marker("in_process")
        if stage is None and not (in_process or item.get_closest_marker("repository")):
            raise pytest.UsageError(
                f"{item.nodeid} takes no `stage`, so it is about the repository "
                "itself: mark it `repository` (or `in_process(n)` if it runs "
                "part n's code in this process)"
            )
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
        group = shared_server_group(item, stage)
        if group and item.get_closest_marker("waits"):
            raise pytest.UsageError(
                f"{item.nodeid} is marked `waits` but shares a server: it "
                "cannot both run on that server's worker and with the waits"
            )
        if group:  # to the worker that has that server running
            item.add_marker(pytest.mark.xdist_group(group))
        if in_process:  # as part n on the in-memory layer; never by make check
            as_stage = Stage(in_process.args[0])
            keep = not config.getoption("project") and is_selected(
                item, as_stage, config
            )
        elif stage is None:  # about no stage: not with --part
            keep = not config.getoption("part") and not is_switched_off(item)
        else:
            keep = is_about(item, stage) and is_selected(item, stage, config)
        if keep:
            kept.append(item)
        else:
            deselected.append(item)
    for item, group in waits_groups(config, kept).items():
        item.add_marker(pytest.mark.xdist_group(group))
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
    yield  # pytest orders the tests by the servers they share; xdist groups them
    # Then the waits first, and slow tests next: xdist hands out its units in
    # this order, so none of them starts last and runs alone at the end. The
    # waits longest first: xdist gives a worker its next unit once two of its
    # tests are left to run, and that unit waits behind them; let those two be
    # a group's shortest, so that it waits least, and is taken when the slow
    # tests are already running elsewhere.
    items.sort(
        key=lambda item: (
            not item.get_closest_marker("waits"),
            -waiting_time(item) if item.get_closest_marker("waits") else 0,
            not item.get_closest_marker("slow"),
        )
    )


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
    try:
        server = start_redis(tmp_path_factory.mktemp("redis"))
    except RedisNotAvailable as absent:
        pytest.skip(f"needs a Redis server: {absent}")
    with server:
        yield server


@pytest.fixture(scope="session")
def redis_url(stage, request):
    """The Redis the stage's layer uses; None for the in-memory layer (and for
    a learner's project, which uses whatever its settings say)."""
    if stage.layer != "redis":
        return None
    # A database of its own for each part: a worker may run several stages on
    # its one Redis, and a room of one must not count members of another.
    return request.getfixturevalue("redis_server").url(db=stage.part)


@pytest.fixture(scope="session")
def server(stage, redis_url, tmp_path_factory, request):
    """The stage's own server, started once for all the tests of that stage;
    `make check` hands over the one it started to look at the project."""
    if request.config.getoption("project"):
        yield request.getfixturevalue("project_server")  # tools/check/plugin.py
        return
    log_path = tmp_path_factory.mktemp(str(stage)) / "runserver.log"
    with start_stage(stage, log_path, redis_url) as running:
        yield running


@pytest.fixture
def private_server(stage, tmp_path, request):
    """A server of the stage for this test alone, for tests that break it or
    its Redis: `server = private_server(redis_url)`; `port=` to start one
    again where a stopped one was. Their logs are printed if the test fails."""
    numbers = itertools.count(1)
    started = []
    with ExitStack() as running:

        def start(redis_url=None, port=None):
            log_path = tmp_path / f"runserver-{next(numbers)}.log"
            started.append(
                running.enter_context(
                    start_stage(stage, log_path, redis_url, port=port)
                )
            )
            return started[-1]

        yield start
    if failed(request):
        for server in started:
            print(f"\n--- {server.name} log ---\n{server.log()[-6000:]}")


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
    """One headless Chrome for the whole run; each test opens its own windows."""
    with new_profile_dir() as profile_dir:
        driver = start_chrome(profile_dir)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="session")
def spare_windows(browser):
    """Handles of windows that earlier tests left on a blank page: loading a
    page in one costs Chrome half of what a new window does."""
    return []


@pytest.fixture
def open_window_on(browser, spare_windows, request):
    """Open a browser window on any server: `open_window_on(server)`."""
    windows = []

    def open_new(on_server):
        spare = spare_windows.pop() if spare_windows else None
        window = ChatWindow(browser, on_server.base_url, spare)
        windows.append(window)
        return window

    yield open_new
    if failed(request):
        save_browser_artifacts(browser, windows, request)
    for window in windows:
        window.blank()
        spare_windows.append(window.handle)


@pytest.fixture
def open_window(open_window_on, server, server_log):
    """Open a new browser window on the stage: `alice = open_window()`."""
    return lambda: open_window_on(server)


def save_browser_artifacts(browser, windows, request):
    for number, window in enumerate(windows, start=1):
        bring_to_front(browser, window.handle)
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
            connection = room_connection(server, room_name, origin)
            return open_clients.enter_context(connection)

        yield connect_to
