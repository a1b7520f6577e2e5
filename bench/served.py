"""Part 5 as `make serve` runs it, in the benchmark: nginx in front of two
uvicorn processes on one Redis (harness/serving.py), the clients spread over
both processes by nginx. Two measurements: the table's burst, and a room of
1,000 where one message at a time goes out to everyone."""

import asyncio
import json
import statistics
import time
from collections import Counter

import psutil

from bench.measure import ROOM, measure_burst, percentile
from harness.hostile import raise_open_file_limit
from harness.load import QUIET, inbox_faults, open_room
from harness.serving import serve

SERVED = "part_5 served redis"
PROCESSES = 2  # as `make serve` starts them


def server_pids(served) -> list[int]:
    """nginx and the uvicorn processes (served.redis is Redis, left out as for
    the other configurations)."""
    return [process.process.pid for process in (*served.asgi, served.nginx)]


def sockets_per_process(served, room) -> list[int]:
    """How many of the room's sockets each uvicorn process accepted (their
    logs), in nginx's upstream order."""
    accepted = Counter(process.name for process in served.processes_serving(room))
    return [accepted[process.name] for process in served.asgi]


def cpu_seconds(served) -> dict:
    """CPU time used so far by each process of the arrangement, and by this
    one, which runs the clients: where a 2-core machine's time goes."""
    processes = {p.name: p.process.pid for p in (*served.asgi, served.nginx)}
    processes["redis"] = served.redis.process.pid
    processes["clients"] = None  # this process
    seconds = {}
    for name, pid in processes.items():
        process = psutil.Process(pid)
        family = (process, *(() if pid is None else process.children(True)))
        # nginx's master does no work: its worker, a child, does.
        seconds[name] = sum(sum(member.cpu_times()[:2]) for member in family)
    return seconds


def room_file_limit(clients):
    """Open files for this process and the servers it starts: a client's
    socket here, and through nginx two more (its side and uvicorn's) and
    uvicorn's own; with room to spare."""
    raise_open_file_limit(4 * clients + 1000)


def measure_served(run_dir, clients, messages_each, _redis_url=None) -> dict:
    """The table's burst through nginx, with how the room was split. The
    bench's Redis goes unused: the arrangement starts its own, as `make serve`
    does."""
    room_file_limit(clients)
    with serve(run_dir, PROCESSES) as served:
        figures = measure_burst(served, server_pids(served), clients, messages_each)
        figures["sockets_per_process"] = sockets_per_process(served, ROOM)
    return figures


async def fan_out(ws_url, origin, clients, messages, meter, quiet=QUIET):
    """`clients` in one room; `messages` times, one of them (a different one
    each time) posts a message, and the next waits until every member has it,
    or until `quiet` seconds have passed: what has not arrived then is lost.
    Returns every client's inbox, (sender, number, latency in seconds), for
    each message the time until its last delivery, and what meter() (a dict
    of figures) grew by while the messages went out, the joining left out."""
    sockets = await open_room(ws_url, origin, clients)
    inboxes = [[] for _ in sockets]
    loop = asyncio.get_running_loop()
    arrived = Counter()
    everyone = asyncio.Event()
    current = None

    async def listen(inbox, socket):
        async for frame in socket:
            sender, number, sent_at = json.loads(frame)["message"].split(":")
            inbox.append((int(sender), int(number), loop.time() - float(sent_at)))
            arrived[int(number)] += 1
            if int(number) == current and arrived[current] == clients:
                everyone.set()

    listeners = [
        asyncio.create_task(listen(inbox, socket))
        for inbox, socket in zip(inboxes, sockets, strict=True)
    ]
    fan_out_seconds = []
    before = meter()
    try:
        for number in range(messages):
            sender = number * clients // messages  # spread over the room
            current, sent_at = number, loop.time()
            everyone.clear()
            message = f"{sender}:{number}:{sent_at}"
            await sockets[sender].send(json.dumps({"message": message}))
            try:
                await asyncio.wait_for(everyone.wait(), quiet)
                fan_out_seconds.append(loop.time() - sent_at)
            except TimeoutError:
                pass  # counted as lost below
        after = meter()
    finally:
        for listener in listeners:
            listener.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
        await asyncio.gather(*(socket.close() for socket in sockets))
    grew = {name: after[name] - before[name] for name in before}
    return inboxes, fan_out_seconds, grew


def measure_room(run_dir, clients, messages) -> dict:
    """One round of the room: a fresh `make serve` arrangement, `clients`
    sockets through nginx, `messages` posted one after the other."""
    room_file_limit(clients)
    with serve(run_dir, PROCESSES) as served:
        inboxes, fan_out_seconds, cpu = asyncio.run(
            fan_out(
                served.socket_url(ROOM),
                served.origin,
                clients,
                messages,
                meter=lambda: {"wall": time.monotonic(), **cpu_seconds(served)},
            )
        )
        split = sockets_per_process(served, ROOM)
    latencies = sorted(latency for inbox in inboxes for *_, latency in inbox)
    faults = [inbox_faults(inbox, messages) for inbox in inboxes]
    return {
        "clients": clients,
        "messages": messages,
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        # The slowest member of each message, median over the messages that
        # reached everyone.
        "all_in_ms": 1000 * statistics.median(fan_out_seconds or [0]),
        "lost": sum(lost for lost, _, _ in faults),
        "duplicated": sum(duplicated for _, duplicated, _ in faults),
        "sockets_per_process": split,
        # While the messages went out, the joining left out.
        "cpu_seconds": {name: round(used, 2) for name, used in cpu.items()},
    }


def summarise_room(rounds) -> dict:
    """Medians over the rounds; lost and duplicated: the worst round."""
    record = {key: rounds[0][key] for key in ("clients", "messages")}
    for key in ("p50_ms", "p99_ms", "all_in_ms"):
        record[key] = round(statistics.median(r[key] for r in rounds), 1)
    for key in ("lost", "duplicated"):
        record[key] = max(r[key] for r in rounds)
    record["rounds"] = len(rounds)
    record["sockets_per_process"] = [r["sockets_per_process"] for r in rounds]
    record["cpu_seconds"] = {
        name: round(statistics.median(r["cpu_seconds"][name] for r in rounds), 2)
        for name in rounds[0]["cpu_seconds"]
    }
    return record


def print_split(records):
    """How nginx spread each served run's room over the uvicorn processes."""
    for record in records:
        if "sockets_per_process" in record:
            splits = ", ".join(
                "/".join(map(str, split)) for split in record["sockets_per_process"]
            )
            print(
                f"{record['config']}, N={record['clients']}: sockets per "
                f"uvicorn process, round by round: {splits}"
            )


def print_room(room):
    print(
        f"\nA room of {room['clients']:,} served (nginx, {PROCESSES} uvicorn "
        f"processes, Redis): {room['messages']} messages, one at a time, "
        f"each to everyone; {room['rounds']} rounds, medians"
    )
    header = (
        f"{'members':>8} {'p50 ms':>8} {'p99 ms':>8} {'all in ms':>10} "
        f"{'lost':>6} {'dup':>4}  sockets per process"
    )
    print(f"{header}\n{'-' * len(header)}")
    splits = ", ".join(
        "/".join(map(str, split)) for split in room["sockets_per_process"]
    )
    print(
        f"{room['clients']:>8,} {room['p50_ms']:>8.1f} {room['p99_ms']:>8.1f} "
        f"{room['all_in_ms']:>10.1f} {room['lost']:>6} {room['duplicated']:>4}  "
        f"{splits}"
    )
    if "cpu_seconds" in room:
        print(
            "Seconds while the messages of a round went out (median), wall "
            "clock and each process's CPU: "
            + ", ".join(f"{name} {used}" for name, used in room["cpu_seconds"].items())
        )
