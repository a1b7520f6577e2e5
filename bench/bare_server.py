"""The ceiling: the chat's fan-out with the websockets library alone, one process.

Same protocol as the stages: `{"message": ...}` in, the same to every socket of
the room (the sender included) out. No Django, no channel layer, no validation.
With --redis, each message goes through Redis pub/sub first, as it would
between processes: the ceiling of a chat whose rooms live in Redis.
"""

import argparse
import asyncio
import json
from collections import defaultdict

import redis.asyncio as redis
from websockets.asyncio.server import broadcast, serve

rooms = defaultdict(set)


def deliver(room, message):
    broadcast(rooms[room], json.dumps({"message": message}))


async def through_redis(url):
    """A function that publishes a room's message; one subscription, to every
    room, delivers what is published."""
    # A pool as big as part 5's: every client may be publishing at once.
    publisher = redis.Redis.from_url(url, max_connections=1000)
    subscriber = redis.Redis.from_url(url)
    subscription = subscriber.pubsub()
    await subscription.psubscribe("room:*")

    async def listen():
        async for event in subscription.listen():
            if event["type"] == "pmessage":
                deliver(event["channel"].decode()[5:], event["data"].decode())

    async def publish(room, message):
        await publisher.publish(f"room:{room}", message)

    publish.listening = asyncio.ensure_future(listen())  # held: tasks are weak
    return publish


async def main(port, redis_url):
    fan_out = await through_redis(redis_url) if redis_url else None

    async def chat(websocket):
        room = websocket.request.path
        rooms[room].add(websocket)
        try:
            async for frame in websocket:
                message = json.loads(frame)["message"]
                if fan_out:
                    await fan_out(room, message)
                else:
                    deliver(room, message)
        finally:
            rooms[room].discard(websocket)

    # No permessage-deflate, as Daphne and `make serve` send: compressing each
    # short frame is work that part 5 does not do, and a ceiling should not.
    serving = serve(chat, "127.0.0.1", port, max_queue=None, compression=None)
    async with serving as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", metavar="URL", help="fan out through Redis")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.port, arguments.redis))
