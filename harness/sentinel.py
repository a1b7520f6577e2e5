"""A Redis that fails over: a primary, one replica and three Sentinels.

`make serve SENTINEL=1` (harness/serving.py) and the failover test in
shared_tests/test_serving.py run this, every server on 127.0.0.1 on a free
port:

    primary :a ──copies everything to──> replica :b
         ^  Sentinels :c :d :e watch both; when two agree that the primary
            is down, one of them makes the replica the primary

Part 5 finds the primary by asking the Sentinels (REDIS_SENTINELS and
REDIS_SENTINEL_MASTER, part_5/README.md), never by its address.
"""

import shutil
from contextlib import ExitStack, contextmanager
from pathlib import Path

import redis

from harness.redis import redis_server_binary, start_redis
from harness.servers import HOST, ServerProcess, on_a_free_port
from harness.waiting import SERVER_START, wait_for

MASTER_NAME = "chat"  # what the Sentinels call the primary they watch
SENTINELS = 3
QUORUM = 2  # Sentinels that must find the primary down before a failover
# How long the primary must not answer before a Sentinel finds it down. A
# dead primary's chat is back 1.3 s after that (the Sentinels agree, elect one
# of them, which promotes the replica; part_5/DEPLOY.md): 5 s would leave it
# down for about 6.5, close to the 10 s part 5 promises. 2 s still outlasts
# what stalls a Redis that keeps nothing on disk (no fork for a snapshot) on
# a busy machine, which would otherwise fail over for nothing.
DOWN_AFTER_MS = 2000
# How soon a Sentinel tries again if a failover fails (twice this), e.g.
# when the Sentinels' votes are split: 3 minutes by default.
FAILOVER_TIMEOUT_MS = 3000

SENTINEL_CONFIG = """\
# Written by harness/sentinel.py. Sentinel rewrites this file as it learns.
bind {host}
port {port}
dir {dir}
sentinel monitor {name} {host} {primary} {quorum}
sentinel down-after-milliseconds {name} {down_after}
sentinel failover-timeout {name} {failover_timeout}
"""


def sentinel_command(config: Path) -> list[str]:
    """Debian's redis-sentinel, else the Redis server in Sentinel mode (the
    same program: Valkey's and Homebrew's servers have it too)."""
    sentinel = shutil.which("redis-sentinel")
    if sentinel:
        return [sentinel, str(config)]
    return [redis_server_binary(), str(config), "--sentinel"]


def start_sentinel(data_dir: Path, primary_port, port=None) -> ServerProcess:
    """One Sentinel on a free port, watching the primary on primary_port."""
    if port is None:
        return on_a_free_port(lambda free: start_sentinel(data_dir, primary_port, free))
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "sentinel.conf"
    config.write_text(
        SENTINEL_CONFIG.format(
            host=HOST,
            port=port,
            dir=data_dir,
            name=MASTER_NAME,
            primary=primary_port,
            quorum=QUORUM,
            down_after=DOWN_AFTER_MS,
            failover_timeout=FAILOVER_TIMEOUT_MS,
        )
    )
    return ServerProcess(
        "redis-sentinel", sentinel_command(config), port, data_dir / "sentinel.log"
    )


class SentinelGroup:
    """The primary, its replica and the Sentinels, as started: after a
    failover, `primary` is the server that was the primary."""

    def __init__(self, primary, replica, sentinels):
        self.primary = primary
        self.replica = replica
        self.sentinels = sentinels

    @property
    def processes(self) -> list[ServerProcess]:
        return [self.primary, self.replica, *self.sentinels]

    def environment(self) -> dict:
        """What part 5 reads to reach Redis through the Sentinels."""
        return {
            "REDIS_SENTINELS": ",".join(
                f"{HOST}:{each.port}" for each in self.sentinels
            ),
            "REDIS_SENTINEL_MASTER": MASTER_NAME,
        }

    def describe(self) -> str:
        return (
            f"Redis primary on {HOST}:{self.primary.port} (pid {self.primary.process.pid}), "
            f"replica on {HOST}:{self.replica.port}, Sentinels on "
            + ", ".join(str(each.port) for each in self.sentinels)
        )

    def views(self) -> list[dict]:
        """What each Sentinel knows of the primary (SENTINEL MASTER)."""
        return [
            redis.Redis(HOST, each.port, socket_timeout=1).sentinel_master(MASTER_NAME)
            for each in self.sentinels
        ]

    def primary_port(self) -> int | None:
        """The primary's port, if every Sentinel names the same one."""
        ports = {view["port"] for view in self.views() if view["is_master"]}
        return ports.pop() if len(ports) == 1 else None

    def is_ready(self) -> bool:
        """Can it fail over? Each Sentinel knows the replica and the others
        (they find each other through the primary, within seconds)."""
        return all(
            view["num-slaves"] == 1 and view["num-other-sentinels"] == SENTINELS - 1
            for view in self.views()
        )

    def wait_until_ready(self):
        wait_for(
            self.is_ready,
            f"the Sentinels did not find the replica and each other: {self.views()}",
            timeout=SERVER_START,
        )


def replica_in_sync(replica) -> bool:
    info = redis.Redis(HOST, replica.port, socket_timeout=1).info("replication")
    return info.get("master_link_status") == "up"


@contextmanager
def start_sentinel_group(data_dir: Path):
    """Primary, replica and Sentinels, started: they can fail over once
    wait_until_ready() returns, two seconds later (meanwhile, whoever needs
    their addresses can start). All stopped on the way out, whichever of them
    a test killed meanwhile."""
    with ExitStack() as running:
        primary = running.enter_context(start_redis(data_dir / "primary"))
        replica = running.enter_context(
            start_redis(data_dir / "replica", replica_of=primary.port)
        )
        # Before the Sentinels start: the first look they take at the primary
        # then lists the replica (the next one would come 10 s later).
        wait_for(
            lambda: replica_in_sync(replica),
            f"the replica did not get the primary's data:\n{replica.log()}",
            timeout=SERVER_START,
        )
        sentinels = [
            running.enter_context(
                start_sentinel(data_dir / f"sentinel-{n}", primary.port)
            )
            for n in range(1, SENTINELS + 1)
        ]
        yield SentinelGroup(primary, replica, sentinels)
