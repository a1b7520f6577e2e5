"""`make run-cluster`: one stage as several server processes sharing one Redis.

Starts a Redis server (the system's redis-server, else the one installed with
the requirements) with its data under .run/, then PROCESSES servers of the
stage on consecutive ports from PORT, all on the Redis channel layer. Open a
room on each port: every message reaches every window, whichever process
serves it. Ctrl-C stops them all.
"""

import argparse
import sys
import time
from contextlib import ExitStack

from harness.redis import start_redis
from harness.servers import start_stage
from harness.stages import REPO, Stage
from tools.until_stopped import run_until_stopped

RUN = REPO / ".run" / "cluster"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", type=int, choices=(2, 3, 4, 5), default=5)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--port", type=int, default=8000, help="the first port (0: any free ones)"
    )
    parser.add_argument("--redis-port", type=int, help="default: a free one")
    args = parser.parse_args()
    stage = Stage(args.part, "redis")

    with ExitStack() as running:
        redis = running.enter_context(start_redis(RUN / "redis", args.redis_port))
        print(f"Redis on {redis.url()} (log: {redis.log_path.relative_to(REPO)})")
        servers = []
        for number in range(args.processes):
            port = args.port + number if args.port else None  # None: a free one
            log_path = RUN / f"part_{args.part}-process{number + 1}.log"
            server = running.enter_context(
                start_stage(stage, log_path, redis.url(), port)
            )
            servers.append(server)
            print(
                f"part_{args.part} process {number + 1}: {server.room_url('lobby')} "
                f"(log: {log_path.relative_to(REPO)})"
            )
        print("Open the room on each port and chat. Ctrl-C stops everything.")
        sys.stdout.flush()
        # Until Ctrl-C (or a kill); a short sleep is what Ctrl-C can interrupt
        # on every system, Windows included.
        while all(server.process.poll() is None for server in servers):
            time.sleep(0.5)
        print("A server process stopped by itself: see its log. Stopping.")
        return 1


if __name__ == "__main__":
    run_until_stopped(main)
