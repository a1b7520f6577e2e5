"""Does a message survive another socket of the same server process closing?

A server process receives for all of its sockets through one BZPOPMIN, which
channels_redis issues for whichever socket asked first
(part_5/chat/channels_redis_patches.py says why that can lose a message).
This probe makes a socket close at the one moment that matters, with the
stage's own channel layer on a real Redis:

1. two receivers in one process, "leaving" and "staying"; leaving asks first,
   so its BZPOPMIN is the one waiting in Redis;
2. the link to Redis holds Redis's replies on that BZPOPMIN's connection (a
   TCP relay that stops passing them on, as a congested network does);
3. a message for "staying" is sent, straight to Redis: Redis pops it for
   leaving's BZPOPMIN, and the reply waits in the link;
4. leaving's socket closes (its receive is cancelled); once staying waits
   (with channels_redis's layer, in a BZPOPMIN of its own), the held reply
   flows.

Run by `closing_receiver_delivers()` in the stage's folder, with the stage's
settings, so the layer is exactly the one its server would use.
"""

import asyncio
import json
import os
import subprocess
import sys
from contextlib import asynccontextmanager, suppress

from harness.servers import HOST, free_port
from harness.stages import REPO
from harness.waiting import POLL, SILENCE, SUBPROCESS, WAIT


def closing_receiver_delivers(stage, redis, within) -> bool:
    """Does "staying" get its message within `within` seconds? `redis`: a
    Redis server of this test's own (the probe takes an empty database as the
    sign that Redis popped the message)."""
    link_port = free_port()
    env = stage.environment(redis_url=f"redis://{HOST}:{link_port}/0")
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO), env.get("PYTHONPATH")])
    )
    done = subprocess.run(
        [sys.executable, "-m", "harness.closing_receiver"]
        + [str(link_port), str(redis.port), str(within)],
        cwd=stage.folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS,
    )
    if done.returncode != 0:
        raise RuntimeError(f"The probe failed:\n{done.stdout}{done.stderr}")
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["error"] is None, f"staying's receive failed: {result['error']}"
    return result["delivered"]


class Link:
    """A TCP relay to Redis. For each BZPOPMIN that passes through it, it
    hands out the gate of that command's connection: clear the gate, and
    Redis's replies on that connection wait in the relay until it is set."""

    def __init__(self, redis_port):
        self.redis_port = redis_port
        self.bzpopmin_gates = asyncio.Queue()

    async def serve(self, port):
        return await asyncio.start_server(self.connect, HOST, port)

    async def connect(self, client_reader, client_writer):
        redis_reader, redis_writer = await asyncio.open_connection(
            HOST, self.redis_port
        )
        gate = asyncio.Event()
        gate.set()
        asyncio.ensure_future(self.commands(client_reader, redis_writer, gate))
        asyncio.ensure_future(self.replies(redis_reader, client_writer, gate))

    async def commands(self, reader, writer, gate):
        async with self.passing(writer):
            while data := await reader.read(65536):
                if b"BZPOPMIN" in data.upper():
                    self.bzpopmin_gates.put_nowait(gate)
                writer.write(data)

    async def replies(self, reader, writer, gate):
        async with self.passing(writer):
            while data := await reader.read(65536):
                await gate.wait()
                writer.write(data)

    @asynccontextmanager
    async def passing(self, writer):
        try:
            yield
        except ConnectionError:
            pass
        finally:
            writer.close()


async def probe(link_port, redis_port, within):
    # Imported here, in the stage's process: the tests import this module too.
    import redis.asyncio as redis
    from channels.layers import get_channel_layer
    from channels_redis.core import RedisChannelLayer

    link = Link(redis_port)
    await link.serve(link_port)
    layer = get_channel_layer()  # the stage's, through the link
    direct_url = f"redis://{HOST}:{redis_port}/0"
    sender = RedisChannelLayer(hosts=[direct_url])  # straight to Redis
    direct = redis.Redis.from_url(direct_url)

    leaving = await layer.new_channel()
    staying = await layer.new_channel()
    leaving_receive = asyncio.ensure_future(layer.receive(leaving))
    leaving_gate = await asyncio.wait_for(link.bzpopmin_gates.get(), WAIT)
    leaving_gate.clear()
    staying_receive = asyncio.ensure_future(layer.receive(staying))
    await sender.send(staying, {"type": "chat.message", "message": "hi"})
    # This Redis holds nothing else: an empty database means Redis popped the
    # message, for leaving's BZPOPMIN, whose reply is held.
    async with asyncio.timeout(WAIT):
        while await direct.dbsize():
            await asyncio.sleep(POLL)
    leaving_receive.cancel()  # leaving's socket closes
    await asyncio.wait([leaving_receive])
    # channels_redis's own layer now pops again, for staying; a layer whose
    # pop outlives the receive that started it (part 5's) has none to send.
    with suppress(TimeoutError):
        await asyncio.wait_for(link.bzpopmin_gates.get(), SILENCE)
    leaving_gate.set()
    done, _ = await asyncio.wait([staying_receive], timeout=within)
    error = done and staying_receive.exception()
    print(
        json.dumps({"delivered": bool(done), "error": repr(error) if error else None})
    )


def main():
    link_port, redis_port, within = sys.argv[1:]
    sys.path.insert(0, os.getcwd())  # the stage's folder: its mysite package
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    import django

    django.setup()
    asyncio.run(probe(int(link_port), int(redis_port), float(within)))


if __name__ == "__main__":
    main()
