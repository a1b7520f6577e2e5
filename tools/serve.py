"""`make serve`: part 5 as it runs in production, on this machine.

nginx on one port (PORT, default 8000) in front of PROCESSES uvicorn processes
of part 5 (default 2), all on one Redis, with DEBUG=False and the static files
served by nginx from collectstatic's folder (harness/serving.py starts them;
part_5/DEPLOY.md explains each piece). TLS=1 serves https, with a certificate
made for 127.0.0.1. SENTINEL=1 makes Redis a primary, a replica and three
Sentinels: kill the primary and watch the chat come back. Ctrl-C stops
everything it started.

    python -m tools.serve --processes 2 --port 8000 [--tls] [--sentinel]
"""

import argparse
import sys
import time

from harness.redis import RedisNotAvailable
from harness.serving import NotAvailable, serve
from harness.stages import REPO
from tools.until_stopped import run_until_stopped

RUN = REPO / ".run" / "serve"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--tls", action="store_true", help="serve https")
    parser.add_argument(
        "--sentinel", action="store_true", help="a Redis that fails over"
    )
    args = parser.parse_args(argv)
    try:
        with serve(
            RUN, args.processes, args.port, args.tls, sentinel=args.sentinel
        ) as served:
            # Until Ctrl-C, or until one of these stops by itself. With
            # Sentinel, a Redis server may die: the Sentinels fail it over.
            if args.sentinel:
                print(served.redis.describe())
                print(
                    "Try a failover: kill -KILL "
                    f"{served.redis.primary.process.pid} (the primary)"
                )
                watched = served.redis.sentinels
            else:
                print(f"Redis on {served.redis.url()}")
                watched = [served.redis]
            for process in served.asgi:
                print(
                    f"{process.name} on port {process.port} (log: {process.log_path})"
                )
            print(f"nginx on {served.base_url} (logs: {RUN}/nginx-*.log)")
            if args.tls:
                print(
                    "The certificate is this machine's own: the browser warns "
                    "once; accept it for 127.0.0.1."
                )
            print(f"Open {served.room_url('lobby')} and chat. Ctrl-C stops everything.")
            sys.stdout.flush()
            while all(
                process.process.poll() is None
                for process in (*served.asgi, served.nginx, *watched)
            ):
                time.sleep(0.5)
            print("A process stopped by itself: see its log. Stopping.")
            return 1
    except (NotAvailable, RedisNotAvailable) as missing:
        print(missing, file=sys.stderr)
        return 1


if __name__ == "__main__":
    run_until_stopped(main)
