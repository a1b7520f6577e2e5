"""Part 5's chat consumer in this process, through mysite.asgi.application:
the room's route, the Origin check and the consumer, as a server runs them.

Only what a client sees is asserted (frames in, frames out), and the room's
group in the channel layer: part 5's consumer is to be rewritten on Channels'
public API alone, and these tests must hold for the rewrite as they do now.
"""

import asyncio
import json
import threading

import pytest
import pytest_asyncio

from harness.waiting import WAIT

pytestmark = [pytest.mark.in_process(5), pytest.mark.asyncio]

# The page's own Origin: Django's test environment serves "testserver".
ORIGIN = (b"origin", b"http://testserver")


def module_on_and_off(setting, switch, expected=None, on=None, off=None):
    """Run a test with the module of part 5 behind `setting` on (a test of
    what it adds: marked patched, deselected once it is off) and off. The
    test takes `switch` (True, then False) and, if named, `expected` (on, then
    off)."""
    names, with_on, with_off = (switch,), (True,), (False,)
    if expected:
        names, with_on, with_off = (switch, expected), (True, on), (False, off)
    return pytest.mark.parametrize(
        names,
        [
            pytest.param(*with_on, marks=pytest.mark.patched(setting), id="module on"),
            pytest.param(*with_off, id="module off"),
        ],
    )


# Part 5 and Channels are imported inside the fixtures: a run that deselects
# these tests (--part 3, make check) imports neither.


@pytest.fixture(scope="session")
def application():
    """Imported once pytest-django has set up Django's test environment: the
    Origin check reads ALLOWED_HOSTS as the application is built."""
    from mysite.asgi import application

    return application


@pytest_asyncio.fixture
async def channel_layer():
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    yield layer
    await layer.flush()  # the next test starts with no groups


@pytest_asyncio.fixture
async def connect(application, channel_layer):
    """`connected, client = await connect(path)`: a WebSocket client, closed
    after the test as a browser tab would be."""
    from channels.testing import WebsocketCommunicator

    clients = []

    async def connect_to(path):
        client = WebsocketCommunicator(application, path, headers=[ORIGIN])
        clients.append(client)
        connected, _ = await client.connect(timeout=WAIT)
        return connected, client

    yield connect_to
    for client in clients:
        if not client.future.done():  # not ended already by the test
            await client.disconnect(timeout=WAIT)


@pytest.fixture
def join(connect):
    """`alice = await join("lobby")`: a client in that room."""

    async def join_room(room_name):
        connected, client = await connect(f"/ws/chat/{room_name}/")
        assert connected, f"room {room_name!r} was refused"
        return client

    return join_room


async def received(client):
    return await client.receive_json_from(timeout=WAIT)


async def send_frame(client, frame):
    """Any frame, the empty one too (send_to refuses to send that one)."""
    kind = "bytes" if isinstance(frame, bytes) else "text"
    await client.send_input({"type": "websocket.receive", kind: frame})


def members(layer, room_name):
    """The channels in the room's group. The layer's API has no call that
    lists them: the in-memory layer (Channels' own, which part 5's extends)
    keeps them in its `groups` table."""
    return set(layer.groups.get(f"chat_{room_name}", {}))


# --- connecting ---


@pytest.mark.parametrize("room_name", ["lobby", "Room_42", "2024", "a" * 80])
async def test_a_valid_room_name_is_accepted(connect, channel_layer, room_name):
    connected, _ = await connect(f"/ws/chat/{room_name}/")
    assert connected
    assert len(members(channel_layer, room_name)) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/ws/chat/über/",  # \w matches it; the channel layer does not take it
        f"/ws/chat/{'a' * 81}/",
        "/ws/chat/two-words/",
        "/ws/chat/dot.ted/",
        "/ws/chat//",
        "/ws/chat/lobby",
        "/ws/elsewhere/",
    ],
)
async def test_a_room_name_or_path_part_5_does_not_route_is_refused(connect, path):
    connected, _ = await connect(path)
    assert not connected


# --- sending and receiving ---


async def test_a_message_reaches_everyone_in_the_room(join):
    alice, bob = await join("lobby"), await join("lobby")
    await alice.send_json_to({"message": "hello"})
    assert await received(alice) == {"message": "hello"}
    assert await received(bob) == {"message": "hello"}


async def test_another_room_hears_nothing(join):
    alice, carol = await join("lobby"), await join("kitchen")
    await alice.send_json_to({"message": "hello"})
    assert await received(alice) == {"message": "hello"}
    assert await carol.receive_nothing()


# --- refusals: an error to the sender alone, the socket kept open ---


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        pytest.param("hello", "JSON", id="not-json"),
        pytest.param("", "JSON", id="empty-frame"),
        pytest.param('["hello"]', "message", id="a-list"),
        pytest.param('{"text": "hello"}', "message", id="no-message-key"),
        pytest.param('{"message": 42}', "message", id="message-not-text"),
        pytest.param(b'{"message": "hello"}', "binary", id="binary-frame"),
    ],
)
async def test_a_frame_part_5_refuses_gets_an_error_and_the_socket_stays_open(
    join, frame, says
):
    alice, bob = await join("lobby"), await join("lobby")
    await send_frame(alice, frame)
    reply = await received(alice)
    assert list(reply) == ["error"]
    assert says.lower() in reply["error"].lower()
    assert await bob.receive_nothing()
    # Nothing else is lost: the next message goes through.
    await alice.send_json_to({"message": "still here"})
    assert await received(alice) == {"message": "still here"}
    assert await received(bob) == {"message": "still here"}


async def test_a_message_over_the_length_limit_is_refused_one_at_it_is_sent(
    join, settings
):
    limit = settings.CHAT_MESSAGE_MAX_LENGTH
    alice, bob = await join("lobby"), await join("lobby")
    await alice.send_json_to({"message": "x" * (limit + 1)})
    reply = await received(alice)
    assert list(reply) == ["error"]
    assert "long" in reply["error"]
    assert await bob.receive_nothing()
    await alice.send_json_to({"message": "x" * limit})
    assert await received(alice) == {"message": "x" * limit}
    assert await received(bob) == {"message": "x" * limit}


async def test_a_blank_message_is_not_broadcast(join):
    alice, bob = await join("lobby"), await join("lobby")
    await alice.send_json_to({"message": "  \n "})
    assert await bob.receive_nothing()
    assert await alice.receive_nothing()
    await alice.send_json_to({"message": "hi"})
    assert await received(bob) == {"message": "hi"}


async def test_a_frame_built_to_break_the_parser_closes_that_socket_alone(
    join, channel_layer
):
    alice, bob = await join("lobby"), await join("lobby")
    await alice.send_to(text_data="[" * 100_000)  # nested past Python's recursion
    assert list(await received(alice)) == ["error"]
    closed = await alice.receive_output(timeout=WAIT)
    assert (closed["type"], closed["code"]) == ("websocket.close", 4400)
    await alice.disconnect(timeout=WAIT)  # the client's answer to the close
    assert len(members(channel_layer, "lobby")) == 1
    carol = await join("lobby")
    await carol.send_json_to({"message": "hi"})
    assert await received(bob) == {"message": "hi"}


# --- the rate limit (CHAT_RATE_LIMIT = (RATE, BURST)) ---


async def test_frames_past_the_burst_get_an_error_each_and_are_not_sent(join, settings):
    settings.CHAT_RATE_LIMIT = (0.01, 3)  # no token comes back during the test
    alice, bob = await join("lobby"), await join("lobby")
    sent = [f"message {number}" for number in range(5)]
    for message in sent:
        await alice.send_json_to({"message": message})
    # The broadcasts and the errors reach alice by two ways: in either order.
    frames = [await received(alice) for _ in sent]
    assert [frame for frame in frames if "message" in frame] == [
        {"message": message} for message in sent[:3]
    ]
    assert [list(frame) for frame in frames if "message" not in frame] == [
        ["error"],
        ["error"],
    ]
    assert [await received(bob) for _ in range(3)] == [
        {"message": message} for message in sent[:3]
    ]
    assert await bob.receive_nothing()
    # Alice's socket stays open: she still hears the room.
    await bob.send_json_to({"message": "from bob"})
    assert await received(alice) == {"message": "from bob"}


async def test_the_limit_gives_a_frame_back_at_its_rate(join, settings):
    rate, burst = 10, 1
    settings.CHAT_RATE_LIMIT = (rate, burst)
    alice = await join("lobby")
    await alice.send_json_to({"message": "first"})
    assert await received(alice) == {"message": "first"}
    await asyncio.sleep(1.5 / rate)  # more than one token's time
    await alice.send_json_to({"message": "second"})
    assert await received(alice) == {"message": "second"}


# --- leaving the room ---


async def test_a_client_that_disconnects_leaves_the_room(join, channel_layer):
    alice, bob = await join("lobby"), await join("lobby")
    assert len(members(channel_layer, "lobby")) == 2
    await bob.disconnect(timeout=WAIT)
    assert len(members(channel_layer, "lobby")) == 1
    await alice.send_json_to({"message": "still here"})
    assert await received(alice) == {"message": "still here"}
    await alice.disconnect(timeout=WAIT)
    assert members(channel_layer, "lobby") == set()  # a message now reaches nobody


async def test_a_server_that_stops_tells_each_client_and_leaves_the_room(
    join, channel_layer
):
    """A server stopping cancels every consumer (Daphne on SIGTERM)."""
    alice = await join("lobby")
    alice.future.cancel()
    await asyncio.wait([alice.future])
    told = [alice.output_queue.get_nowait() for _ in range(alice.output_queue.qsize())]
    assert [frame["type"] for frame in told] == ["websocket.send", "websocket.close"]
    assert list(json.loads(told[0]["text"])) == ["error"]
    assert told[1]["code"] == 4503  # the page reconnects
    assert members(channel_layer, "lobby") == set()


# --- what chat/channels_patches.py adds ---


@pytest.fixture
def database_hops(monkeypatch):
    """The hops to a worker thread to close stale database connections, one
    item each: those of Channels' dispatch, counted where it calls
    aclose_old_connections, and those shared (ShareDatabaseHop), counted as
    each runs in the worker thread."""
    import channels.consumer

    from chat.channels_patches import DatabaseHop

    hops = []
    channels_hop, shared_hop = channels.consumer.aclose_old_connections, DatabaseHop.run

    async def counted_channels_hop():
        hops.append("hop")
        await channels_hop()

    def counted_shared_hop(database_hop):
        hops.append("hop")
        shared_hop(database_hop)

    monkeypatch.setattr(
        channels.consumer, "aclose_old_connections", counted_channels_hop
    )
    monkeypatch.setattr(DatabaseHop, "run", counted_shared_hop)
    return hops


@pytest.fixture
def hop_doing(monkeypatch):
    """`database_hop = hop_doing(work)`: a DatabaseHop of its own whose hops
    run `work` in the worker thread, where they would close connections."""
    import channels.db

    from chat.channels_patches import DatabaseHop

    def hop_with(work):
        monkeypatch.setattr(channels.db, "close_old_connections", work)
        return DatabaseHop()

    return hop_with


# Alice's frame takes the hop (receive may use the ORM); the two deliveries,
# to alice and bob, skip it while the module is on (chat_message must not).
@module_on_and_off("CHAT_SKIP_DB_HOP_FOR_GROUP_EVENTS", "skip_hop", "hops", 1, 3)
async def test_a_group_message_is_delivered_without_the_database_hop(
    join, database_hops, settings, skip_hop, hops
):
    settings.CHAT_SKIP_DB_HOP_FOR_GROUP_EVENTS = skip_hop
    settings.CHAT_SHARE_DB_HOP = False  # each hop counted, none shared
    alice, bob = await join("hops"), await join("hops")
    before = len(database_hops)
    await send_frame(alice, json.dumps({"message": "hello"}))
    assert await received(alice) == await received(bob) == {"message": "hello"}
    assert len(database_hops) - before == hops


# Five frames handled in the same turn of the event loop, each refused (so
# that no delivery adds a hop): one hop for all five while the module is on.
@module_on_and_off("CHAT_SHARE_DB_HOP", "share_hop", "hops", 1, 5)
async def test_frames_handled_together_share_one_database_hop(
    join, database_hops, settings, share_hop, hops
):
    settings.CHAT_SHARE_DB_HOP = share_hop
    clients = [await join("hops") for _ in range(5)]
    before = len(database_hops)
    for client in clients:
        await send_frame(client, "not JSON")
    for client in clients:
        assert "error" in await received(client)
    assert len(database_hops) - before == hops


@pytest.mark.patched("CHAT_SHARE_DB_HOP")
async def test_a_hop_asked_for_while_one_runs_is_the_next_one(hop_doing):
    """What makes sharing safe: a handler waits for a hop that begins after
    it asked (the one already running may have closed nothing for it yet),
    and shares that one with whoever asks with it."""
    began, release, hops = threading.Event(), threading.Event(), []

    def held_in_thread():
        hops.append("hop")
        began.set()
        release.wait(WAIT)  # the first hop runs until the test lets it end

    database_hop = hop_doing(held_in_thread)
    first = database_hop()
    assert await asyncio.to_thread(began.wait, WAIT), "the first hop never began"
    second, third = database_hop(), database_hop()  # while the first runs
    release.set()
    await first
    await second
    assert len(hops) >= 2, "the second waited only for the hop already running"
    await third
    assert len(hops) == 2, "the third did not share the second's hop"


@pytest.mark.patched("CHAT_SHARE_DB_HOP")
async def test_a_hop_that_fails_fails_the_handler_that_asked_for_it_alone(
    hop_doing,
):
    """With Channels, each handler has a hop of its own, and one that fails
    fails that handler alone: the others that shared it take their own."""
    hops = []

    def fails_first():
        hops.append("hop")
        if len(hops) == 1:
            raise RuntimeError("a connection that cannot be closed")

    database_hop = hop_doing(fails_first)
    asked, shared = database_hop(), database_hop()
    with pytest.raises(RuntimeError):
        await asked
    await shared
    assert len(hops) == 2, "the one that shared it should have made its own"


@pytest.mark.patched("CHAT_SHARE_DB_HOP")
async def test_the_shared_hop_runs_in_the_thread_the_orm_runs_in(hop_doing):
    """Where Django's async ORM runs its queries (sync_to_async, thread
    sensitive), so that the connections the hop closes are the ORM's."""
    from asgiref.sync import sync_to_async

    hop_threads = []
    await hop_doing(lambda: hop_threads.append(threading.get_ident()))()
    assert hop_threads == [await sync_to_async(threading.get_ident)()]


# --- the in-memory layer (chat/channels_layers.py) ---


@pytest.mark.patched("CHAT_FAST_IN_MEMORY_LAYER")
async def test_a_group_message_costs_the_in_memory_layer_no_work_per_member(
    channel_layer, monkeypatch
):
    """Channels' own layer scans every channel and group before each send and
    receive, and sends to each member in a task of its own: for a room of N,
    N + 1 scans and N sends per message. Part 5's makes the same deliveries
    with at most one scan a second and no send."""
    from channels.layers import InMemoryChannelLayer

    scans, sends = [], []
    scan, send = InMemoryChannelLayer._clean_expired, InMemoryChannelLayer.send

    def counted_scan(layer):
        scans.append(layer)
        scan(layer)

    async def counted_send(layer, channel, message):
        sends.append(channel)
        await send(layer, channel, message)

    monkeypatch.setattr(InMemoryChannelLayer, "_clean_expired", counted_scan)
    monkeypatch.setattr(InMemoryChannelLayer, "send", counted_send)
    members = [await channel_layer.new_channel() for _ in range(200)]
    for channel in members:
        await channel_layer.group_add("chat_cost", channel)
    await channel_layer.group_send("chat_cost", {"type": "chat.message", "text": "x"})
    for channel in members:
        message = await asyncio.wait_for(channel_layer.receive(channel), WAIT)
        assert message == {"type": "chat.message", "text": "x"}
    assert not sends, "a send for each member"
    assert len(scans) <= 1, f"{len(scans)} scans for one group message"


# --- the consumer's loop (chat/channels_patches.py, ReadersPerSource) ---


@pytest_asyncio.fixture
async def tasks_started():
    """The coroutine of every task started from here on, by qualified name."""
    loop = asyncio.get_running_loop()
    started = []

    def counted(loop, coro, **kwargs):
        started.append(getattr(coro, "__qualname__", ""))
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counted)
    yield started
    loop.set_task_factory(None)


# Alice posts 20 messages: 40 deliveries. Channels starts a task for the
# channel layer's receive of every one; part 5's consumer reads each source in
# one task for its life.
@module_on_and_off("CHAT_CONSUMER_READERS", "readers", "most", 0, None)
async def test_a_burst_is_read_without_a_task_for_each_event(
    join, settings, tasks_started, readers, most
):
    settings.CHAT_CONSUMER_READERS = readers
    alice, bob = await join("burst"), await join("burst")
    before = len(tasks_started)
    for number in range(20):
        await alice.send_json_to({"message": f"m{number}"})
    for client in (alice, bob):
        for number in range(20):
            assert await received(client) == {"message": f"m{number}"}
    receives = [name for name in tasks_started[before:] if name.endswith(".receive")]
    if most is None:  # Channels: a task for each delivery
        assert len(receives) >= 40
    else:
        assert len(receives) <= most


@pytest.mark.patched("CHAT_CONSUMER_READERS")
async def test_the_consumer_loop_dispatches_each_source_in_order_one_at_a_time():
    from chat.channels_patches import dispatch_in_turn

    client, layer = asyncio.Queue(), asyncio.Queue()
    for number in range(50):
        layer.put_nowait(("layer", number))
    for number in range(5):
        client.put_nowait(("client", number))
    dispatched, running = [], []

    async def dispatch(event):
        running.append(event)
        assert len(running) == 1, "two events dispatched at once"
        await asyncio.sleep(0)
        dispatched.append(event)
        running.remove(event)
        if len(dispatched) == 55:
            raise EOFError  # ends the loop

    with pytest.raises(EOFError):
        await dispatch_in_turn([(client.get, 1), (layer.get, 32)], dispatch)
    for source in ("client", "layer"):
        numbers = [number for name, number in dispatched if name == source]
        assert numbers == sorted(numbers)
    assert len(dispatched) == 55
    assert dispatched[0] == ("client", 0)  # the client is not kept waiting


@pytest.mark.patched("CHAT_CONSUMER_READERS")
async def test_the_consumer_loop_reads_no_further_ahead_than_it_may():
    """The client's frames one at a time, as Channels: the next once the last
    is dispatched; the channel layer's at most `ahead`."""
    from chat.channels_patches import dispatch_in_turn

    read = {"client": 0, "layer": 0}
    blocked = asyncio.Event()

    def source(name):
        async def receive():
            read[name] += 1
            return name

        return receive

    async def dispatch(event):
        await blocked.wait()  # the consumer is busy with the first event

    loop = asyncio.ensure_future(
        dispatch_in_turn([(source("client"), 1), (source("layer"), 8)], dispatch)
    )
    for _ in range(20):
        await asyncio.sleep(0)
    assert read == {"client": 1, "layer": 8}
    loop.cancel()
    await asyncio.wait([loop])


@pytest.mark.patched("CHAT_CONSUMER_READERS")
async def test_the_consumer_loop_raises_a_source_error_in_turn_and_ends_its_readers():
    from chat.channels_patches import dispatch_in_turn

    events = asyncio.Queue()
    for item in ("one", "two", OSError("the layer failed")):
        events.put_nowait(item)
    forever = asyncio.Event()
    waiting = []

    async def layer():
        item = await events.get()
        if isinstance(item, Exception):
            raise item
        return item

    async def client():
        waiting.append(asyncio.current_task())
        await forever.wait()

    dispatched = []

    async def dispatch(event):
        dispatched.append(event)

    with pytest.raises(OSError, match="the layer failed"):
        await dispatch_in_turn([(client, 1), (layer, 32)], dispatch)
    assert dispatched == ["one", "two"]
    assert waiting
    assert all(task.done() for task in waiting), "a reader outlived it"


@pytest.mark.patched("CHAT_CONSUMER_READERS")
async def test_a_cancelled_consumer_loop_ends_its_readers():
    from chat.channels_patches import dispatch_in_turn

    forever = asyncio.Event()
    readers = []

    async def receive():
        readers.append(asyncio.current_task())
        await forever.wait()

    loop = asyncio.ensure_future(
        dispatch_in_turn([(receive, 1), (receive, 32)], lambda event: None)
    )
    for _ in range(5):
        await asyncio.sleep(0)
    loop.cancel()
    await asyncio.wait([loop])
    assert loop.cancelled()
    assert len(readers) == 2
    assert all(reader.cancelled() for reader in readers)


# --- a WebSocket's send (chat/channels_patches.py, AuthMiddlewareStack) ---


@module_on_and_off("CHAT_WEBSOCKET_SEND_UNWRAPPED", "unwrapped")
async def test_a_websocket_sends_through_the_servers_send_with_session_and_user(
    settings, unwrapped
):
    """The application behind the stack still has the session and the user
    in its scope; with the module on, its send is the server's own."""
    from channels.testing import WebsocketCommunicator

    from chat.channels_patches import AuthMiddlewareStack

    settings.CHAT_WEBSOCKET_SEND_UNWRAPPED = unwrapped
    seen = {}

    async def application(scope, receive, send):
        seen.update(scope=scope, send=send)
        await receive()
        await send({"type": "websocket.accept"})
        await receive()

    client = WebsocketCommunicator(AuthMiddlewareStack(application), "/ws/")
    connected, _ = await client.connect(timeout=WAIT)
    assert connected
    await client.disconnect()
    assert seen["scope"]["user"].is_anonymous
    assert seen["scope"]["session"].session_key is None
    server_send = getattr(seen["send"], "__self__", None) is client.output_queue
    assert server_send == unwrapped


# --- channels_redis's group_send (chat/channels_redis_patches.py) ---


# A group message: channels_redis drops lapsed members, reads the members,
# drops expired messages, then adds the message: four round trips to Redis.
@module_on_and_off("CHAT_REDIS_GROUP_SEND_PIPELINED", "pipelined", "round_trips", 2, 4)
async def test_a_group_message_on_redis_takes_two_round_trips(
    redis_server, settings, monkeypatch, pipelined, round_trips
):
    from redis.asyncio.client import Pipeline, Redis

    from chat.channels_redis_patches import RedisChannelLayer

    settings.CHAT_REDIS_GROUP_SEND_PIPELINED = pipelined
    # The suite's Redis: its channels_redis keys are flushed at the end.
    layer = RedisChannelLayer(hosts=[redis_server.url()], capacity=2)
    members = [await layer.new_channel() for _ in range(3)]
    for channel in members:
        await layer.group_add("chat_trips", channel)
    sent = []
    command, execute = Redis.execute_command, Pipeline.execute

    async def counted_command(self, *args, **options):
        sent.append(args[0])
        return await command(self, *args, **options)

    async def counted_execute(self, *args, **options):
        sent.append("pipeline")
        return await execute(self, *args, **options)

    monkeypatch.setattr(Redis, "execute_command", counted_command)
    monkeypatch.setattr(Pipeline, "execute", counted_execute)
    for number in range(3):  # the third is over the capacity of 2: dropped
        await layer.group_send("chat_trips", {"type": "chat.message", "n": number})
    assert len(sent) == 3 * round_trips
    monkeypatch.undo()
    for channel in members:
        for number in range(2):
            message = await asyncio.wait_for(layer.receive(channel), WAIT)
            assert message == {"type": "chat.message", "n": number}
    await layer.flush()
