"""`make bench`: what the asynchronous consumer buys, measured.

For every configuration (bench/servers.py) and room size N, a fresh server
starts on 127.0.0.1, N clients join one room and each sends M messages at once
(harness/load.py, the load test's own generator). Every configuration runs
in turn, then the whole round again: REPEATS rounds, interleaved, so that a
noisy moment of the machine hurts all of them alike. The report quotes
medians, and deliveries/s as a ratio to the bare websockets server of the
same run.
"""

import argparse
import json
import os
import statistics
from contextlib import ExitStack
from functools import partial
from pathlib import Path

from bench.measure import measure_burst
from bench.served import (
    SERVED,
    measure_room,
    measure_served,
    print_room,
    print_split,
    summarise_room,
)
from bench.servers import BARE, CONFIGS, REDIS_CEILING
from harness.redis import start_redis
from harness.servers import StageUrls
from harness.stages import REPO

# Room size N -> messages each client sends (M): every run stays well under 30 s.
# Then, served, a room where one message at a time goes to everyone.
FULL = {
    "sizes": {10: 100, 50: 10, 200: 1},
    "repeats": 5,  # why five: bench/README.md, "How far a figure moves"
    "room": {"clients": 1000, "messages": 10, "repeats": 3},
}
QUICK = {
    "sizes": {10: 20, 50: 2},
    "repeats": 1,
    "room": {"clients": 100, "messages": 3, "repeats": 1},
}
RUN = REPO / ".run" / "bench"


def measure(config, clients, messages_each, redis_url):
    with config.start(RUN, redis_url) as server:
        return measure_burst(
            StageUrls(server.port), [server.process.pid], clients, messages_each
        )


def summarise(runs, config, clients, messages_each):
    """Medians over the repeats; lost and duplicated: the worst run."""
    record = {"config": config, "clients": clients, "messages_each": messages_each}
    for key in ("deliveries_per_s", "p50_ms", "p99_ms", "peak_rss_mb"):
        record[key] = round(statistics.median(run[key] for run in runs), 1)
    for key in ("lost", "duplicated"):
        record[key] = max(run[key] for run in runs)
    if "sockets_per_process" in runs[0]:
        record["sockets_per_process"] = [run["sockets_per_process"] for run in runs]
    return record


def print_table(records):
    bare = {r["clients"]: r["deliveries_per_s"] for r in records if r["config"] == BARE}
    header = (
        f"{'configuration':24} {'N':>4} {'M':>4} {'deliveries/s':>12} {'x bare':>7} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'lost':>6} {'dup':>4} {'RSS MB':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in records:
        ratio = r["deliveries_per_s"] / bare[r["clients"]] if bare else float("nan")
        print(
            f"{r['config']:24} {r['clients']:>4} {r['messages_each']:>4} "
            f"{r['deliveries_per_s']:>12,.0f} {ratio:>7.2f} {r['p50_ms']:>8.1f} "
            f"{r['p99_ms']:>8.1f} {r['lost']:>6} {r['duplicated']:>4} "
            f"{r['peak_rss_mb']:>7.1f}"
        )


# What part 5 is measured against, on the same layer and server.
PART_5_VERSUS = {
    "part_5 daphne memory": "part_3 daphne memory",
    "part_5 daphne redis": "part_3 daphne redis",
    "part_5 uvicorn memory": "part_3 uvicorn memory",
    "part_5 uvicorn redis": "part_3 uvicorn redis",
}


def print_part_5_ratios(records):
    """Part 5 against part 3 and the bare server, run by run of this table."""
    by_key = {(r["config"], r["clients"]): r for r in records}
    lines = []
    for (config, clients), record in by_key.items():
        part_3 = by_key.get((PART_5_VERSUS.get(config), clients))
        bare = by_key.get((BARE, clients))
        if not part_3 or not bare:
            continue
        ceiling = by_key.get((REDIS_CEILING, clients)) if "redis" in config else None
        lines.append(
            f"{config:24} {clients:>4} "
            f"{record['deliveries_per_s'] / part_3['deliveries_per_s']:>9.1f}x "
            f"{record['deliveries_per_s'] / bare['deliveries_per_s']:>7.2f} "
            + (
                f"{record['deliveries_per_s'] / ceiling['deliveries_per_s']:>13.2f} "
                if ceiling
                else f"{'':>13} "
            )
            + f"{record['p99_ms'] / part_3['p99_ms']:>11.2f} {record['lost']:>6}"
        )
    if lines:
        header = (
            f"{'part 5':24} {'N':>4} {'x part 3':>10} {'x bare':>7} "
            f"{'x bare redis':>13} {'p99/part 3':>11} {'lost':>6}"
        )
        print(f"\n{header}\n{'-' * len(header)}")
        print("\n".join(lines))


def draw_chart(records, path):
    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(10, 5))
    colours = pyplot.get_cmap("tab20").colors
    configs = dict.fromkeys(r["config"] for r in records)
    for number, config in enumerate(configs):
        points = [r for r in records if r["config"] == config]
        axes.plot(
            [r["clients"] for r in points],
            [r["deliveries_per_s"] for r in points],
            marker="o",
            color=colours[2 * number % 20 + 2 * number // 20],
            linestyle="-" if config.startswith(("part_5", "bare")) else "--",
            label=config,
        )
    axes.set(
        xscale="log",
        yscale="log",
        xlabel="clients in the room (N)",
        ylabel="deliveries per second (median)",
        title="One chat room, everyone posting at once (2-core machine)",
    )
    axes.set_xticks([r["clients"] for r in records], minor=False)
    axes.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.02, 0.5))
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run, < 60 s")
    parser.add_argument("--json", help="where to write the results as JSON")
    parser.add_argument("--chart", help="where to draw the PNG chart")
    parser.add_argument(
        "--report",
        metavar="JSON",
        help="print the tables of a previous run's JSON, and run nothing",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="run only the configurations whose name contains TEXT (repeatable)",
    )
    args = parser.parse_args()
    if args.report:
        with open(args.report) as saved:
            records = json.load(saved)
        room_path = room_json(args.report)
        room = json.loads(room_path.read_text()) if room_path.exists() else None
        report(records, room)
        if args.chart:
            draw_chart(records, args.chart)
        return
    plan = QUICK if args.quick else FULL
    name = "quick" if args.quick else "results"
    json_path = args.json or (
        RUN / f"{name}.json" if args.quick else REPO / "bench/results.json"
    )
    chart_path = args.chart or (
        RUN / f"{name}.png" if args.quick else REPO / "bench/results.png"
    )

    # Every client posts M messages at once, more than part 5's rate limit lets
    # one client send (its README): the benchmark measures throughput, so the
    # servers it starts run without that limit.
    os.environ["CHAT_RATE_LIMIT"] = "off"
    measurements = {config.name: partial(measure, config) for config in CONFIGS}
    measurements[SERVED] = partial(measure_served, RUN / "served")
    measurements = {
        name: run
        for name, run in measurements.items()
        if not args.only or any(text in name for text in args.only)
    }
    runs = {}
    with ExitStack() as running:
        redis = running.enter_context(start_redis(RUN / "redis"))
        redis_url = redis.url()
        for repeat in range(plan["repeats"]):
            for clients, messages_each in plan["sizes"].items():
                for config, run in measurements.items():
                    print(
                        f"round {repeat + 1}/{plan['repeats']}: {config}, "
                        f"N={clients}, M={messages_each}",
                        flush=True,
                    )
                    result = run(clients, messages_each, redis_url)
                    runs.setdefault((config, clients, messages_each), []).append(result)
    room = None
    if SERVED in measurements:
        rounds = []
        for repeat in range(plan["room"]["repeats"]):
            print(
                f"room round {repeat + 1}/{plan['room']['repeats']}: "
                f"{plan['room']['clients']} clients, served",
                flush=True,
            )
            rounds.append(
                measure_room(
                    RUN / "served", plan["room"]["clients"], plan["room"]["messages"]
                )
            )
        room = summarise_room(rounds)
    records = [summarise(results, *key) for key, results in runs.items()]
    records.sort(key=lambda r: (r["clients"], r["config"]))
    print()
    report(records, room)
    RUN.mkdir(parents=True, exist_ok=True)
    with open(json_path, "w") as output:
        json.dump(records, output, indent=2)
    if room:
        room_json(json_path).write_text(json.dumps(room, indent=2))
    draw_chart(records, chart_path)
    print(f"\nJSON: {json_path}\nchart: {chart_path}")


def room_json(json_path) -> Path:
    """Where the room of 1,000 is saved, beside the table's JSON."""
    return Path(json_path).with_suffix(".room.json")


def report(records, room):
    print_table(records)
    print_part_5_ratios(records)
    print_split(records)
    if room:
        print_room(room)


if __name__ == "__main__":
    main()
