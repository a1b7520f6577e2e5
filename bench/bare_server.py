"""The ceiling: the chat's fan-out with the websockets library alone, one process.

Same protocol as the stages: `{"message": ...}` in, the same to every socket of
the room (the sender included) out. No Django, no channel layer, no validation.
"""

import argparse
import asyncio
import json
from collections import defaultdict

from websockets.asyncio.server import broadcast, serve

rooms = defaultdict(set)


async def chat(websocket):
    room = rooms[websocket.request.path]
    room.add(websocket)
    try:
        async for frame in websocket:
            message = json.loads(frame)["message"]
            broadcast(room, json.dumps({"message": message}))
    finally:
        room.discard(websocket)


async def main(port):
    async with serve(chat, "127.0.0.1", port, max_queue=None) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
