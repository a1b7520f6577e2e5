"""A WebSocket client that speaks the chat's JSON, as the room page does."""

import json
from contextlib import contextmanager

from websockets.sync.client import connect

from shared_tests.browser import WAIT


@contextmanager
def chat_connection(ws_url, origin):
    """Open a WebSocket with the given Origin header; close it on the way out."""
    with connect(ws_url, origin=origin, open_timeout=WAIT) as socket:
        yield ChatClient(socket)


class ChatClient:
    def __init__(self, socket):
        self.socket = socket

    def send_message(self, text):
        self.send_json({"message": text})

    def send_json(self, data):
        self.socket.send(json.dumps(data))

    def receive_json(self, timeout=WAIT):
        return json.loads(self.socket.recv(timeout=timeout))

    def receive_messages(self, count):
        return [self.receive_json()["message"] for _ in range(count)]
