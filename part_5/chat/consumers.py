# chat/consumers.py
import json
import logging

from channels.generic.websocket import AsyncWebsocketConsumer

# Beyond the tutorial: what the chat accepts from a client (chat/validation.py).
from .validation import InvalidMessage, parse_message

logger = logging.getLogger(__name__)  # Beyond the tutorial: refusals are logged.


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"

        # Join room group
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)

        await self.accept()

    async def disconnect(self, close_code):
        # Leave room group
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    # Receive message from WebSocket
    # Beyond the tutorial: bytes_data too, so that a binary frame can be refused.
    async def receive(self, text_data=None, bytes_data=None):
        # Beyond the tutorial: a frame that is not {"message": "<text>"} gets an
        # error back to its sender alone, instead of ending its connection.
        try:
            message = parse_message(text_data, bytes_data)
        except InvalidMessage as error:
            logger.warning("Refused a frame in room %s: %s", self.room_name, error)
            await self.send(text_data=json.dumps({"error": str(error)}))
            return
        # Beyond the tutorial: a blank message is not worth a broadcast.
        if not message.strip():
            return

        # Send message to room group
        await self.channel_layer.group_send(
            self.room_group_name, {"type": "chat.message", "message": message}
        )

    # Receive message from room group
    async def chat_message(self, event):
        message = event["message"]

        # Send message to WebSocket
        await self.send(text_data=json.dumps({"message": message}))
