"""Redis where the tutorial's settings expect it: 127.0.0.1:6379.

    python -m tools.redis                    # `make redis`: run it until Ctrl-C
    python -m tools.redis -- COMMAND ...     # run COMMAND with Redis there
    python -m tools.redis --in part_2 -- python manage.py runserver

A Redis that already answers on 6379 is used as it is. If nothing listens
there, one is started (the system's redis-server, else the one installed with
the requirements) for as long as it is needed, and stopped after. If something
else holds the port, one line says so.
"""

import argparse
import subprocess
import sys
from contextlib import ExitStack

from harness.redis import ExistingRedis, RedisNotAvailable, tutorial_redis
from harness.stages import REPO
from tools.until_stopped import run_until_stopped

DATA = REPO / ".run" / "redis"


def main(argv):
    command = argv[argv.index("--") + 1 :] if "--" in argv else []
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in", dest="folder", help="run COMMAND in this folder")
    options = parser.parse_args(argv[: len(argv) - len(command) - bool(command)])
    with ExitStack() as running:
        try:
            redis = running.enter_context(tutorial_redis(DATA))
        except RedisNotAvailable as problem:
            print(problem, file=sys.stderr)
            return 1
        started = not isinstance(redis, ExistingRedis)
        how = "started for this command" if started else "already running"
        print(f"Redis on {redis.url()} ({how})", flush=True)
        if command:
            return subprocess.call(command, cwd=options.folder)
        if not started:
            return 0  # nothing to keep running: that Redis is not ours
        print("Ctrl-C stops it.", flush=True)
        redis.process.wait()
        return 0


if __name__ == "__main__":
    run_until_stopped(main, sys.argv[1:])
