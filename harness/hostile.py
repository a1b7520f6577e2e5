"""Clients that a well-behaved library would never be: they never read, send
frames no library builds, or open connections and say nothing."""

import os
import socket
import struct
import sys
import time
from base64 import b64encode

import psutil

from harness.servers import HOST
from harness.waiting import WAIT

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
RSV1, RSV2, RSV3 = 0x40, 0x20, 0x10  # reserved bits of a frame's first byte


def raise_open_file_limit(wanted):
    """Let this process (and the servers it starts) hold `wanted` sockets."""
    if sys.platform == "win32":
        return  # no per-process descriptor limit of this kind on Windows
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))


def rss_mb(pid):
    """Resident memory of a process and its children, in MB."""
    process = psutil.Process(pid)
    family = [process, *process.children(recursive=True)]
    return sum(member.memory_info().rss for member in family) / 2**20


def frame(opcode, payload, fin=True, length=None, rsv=0, masked=True):
    """A client frame, masked as RFC 6455 requires unless `masked` is False;
    `length` may lie, and `rsv` sets reserved bits (RSV1 | RSV2 | RSV3)."""
    length = len(payload) if length is None else length
    header = bytes([(0x80 if fin else 0) | rsv | opcode])
    mask_bit = 0x80 if masked else 0
    if length < 126:
        header += bytes([mask_bit | length])
    elif length < 2**16:
        header += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        header += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not masked:
        return header + payload
    mask = os.urandom(4)
    stream = (mask * (len(payload) // 4 + 1))[: len(payload)]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")
    return header + mask + masked.to_bytes(len(payload), "big")


class RawWebSocket:
    """A WebSocket spoken by hand over a plain socket. It reads only when
    asked to: until then, what the server sends piles up on the server."""

    def __init__(self, server, path, origin, receive_buffer=None):
        self.sock = socket.socket()
        if receive_buffer:  # a small window: the server's kernel holds less
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(WAIT)
        self.sock.connect((HOST, server.port))
        key = b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        )
        if origin is not None:
            request += f"Origin: {origin}\r\n"
        self.sock.sendall((request + "\r\n").encode("latin-1"))
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1]) if head else None

    def send(self, data):
        self.sock.sendall(data)

    def send_text(self, text):
        self.send(frame(TEXT, text.encode()))

    def frames(self, timeout=WAIT):
        """Read every frame until the server closes the connection (its close
        frame is the last one returned) or `timeout` seconds have passed."""
        deadline = time.monotonic() + timeout
        received = []
        while time.monotonic() < deadline:
            parsed = self._parse()
            if parsed is not None:
                received.append(parsed)
                if parsed[0] == CLOSE:
                    break
                continue
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(2**16)
            except TimeoutError:
                break
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break
            self.buffer += chunk
        return received

    def _parse(self):
        if len(self.buffer) < 2:
            return None
        opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
        start = 2
        if length == 126:
            (length,), start = struct.unpack("!H", self.buffer[2:4]), 4
        elif length == 127:
            (length,), start = struct.unpack("!Q", self.buffer[2:10]), 10
        if len(self.buffer) < start + length:
            return None
        payload = self.buffer[start : start + length]
        self.buffer = self.buffer[start + length :]
        return opcode, payload

    def close(self):
        self.sock.close()


def close_code(frames):
    """The code and reason of the close frame that ends `frames`, or None."""
    if frames and frames[-1][0] == CLOSE and len(frames[-1][1]) >= 2:
        payload = frames[-1][1]
        return struct.unpack("!H", payload[:2])[0], payload[2:].decode()
    return None


def half_open_connections(port, count):
    """TCP connections that never send a byte of their handshake."""
    sockets = []
    for _ in range(count):
        sockets.append(socket.create_connection((HOST, port), timeout=WAIT))
    return sockets


def flood(ws_url, origin, clients, frames, burst, through, results):
    """In a process of its own (so that the flood does not slow the test's own
    clients): `clients` connections each send `frames` messages as fast as
    they can, and read what comes back until every one is answered, by its
    echo or by an error. Puts (echoes, errors, still open, seconds from its
    first send to its last answer) for each client on `results`. `through`
    is set once every one of them has received the `burst` messages of each
    that the rate limit lets through at once."""
    import asyncio
    import json

    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async def flooder(number, socket, ready):
        echoes = errors = received = 0
        mine = f"flood {number} "

        async def read():
            nonlocal echoes, errors, received
            while echoes + errors < frames:
                data = json.loads(await socket.recv())
                errors += "error" in data
                echoes += data.get("message", "").startswith(mine)
                received += "message" in data
                if received == clients * burst:
                    ready.set()

        reader = asyncio.create_task(read())
        started = asyncio.get_running_loop().time()
        try:
            for sent in range(frames):
                await socket.send(json.dumps({"message": f"{mine}{sent}"}))
                if sent % 20 == 0:
                    await asyncio.sleep(0)  # let the reader in
            await asyncio.wait_for(reader, 30)
            still_open = True
        except (ConnectionClosed, TimeoutError):
            still_open = False
        reader.cancel()
        seconds = asyncio.get_running_loop().time() - started
        return echoes, errors, still_open, round(seconds, 2)

    async def main():
        sockets = [
            await connect(ws_url, origin=origin, max_queue=None) for _ in range(clients)
        ]
        readies = [asyncio.Event() for _ in sockets]
        tasks = [
            asyncio.create_task(flooder(number, socket, ready))
            for number, (socket, ready) in enumerate(zip(sockets, readies, strict=True))
        ]
        await asyncio.gather(*(ready.wait() for ready in readies))
        through.set()
        for outcome in await asyncio.gather(*tasks):
            results.put(outcome)
        await asyncio.gather(*(socket.close() for socket in sockets))

    asyncio.run(main())
